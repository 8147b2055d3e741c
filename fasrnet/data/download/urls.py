"""Which URL each file of an artefact is fetched from: a mirror from the environment or ``download.mirror``,
else the manifest's. URLs may carry tokens, so none is ever printed or logged; messages name the artefact."""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping

from fasrnet.data.download.manifest import Artefact


def mirror_env_name(name: str) -> str:
    return "FASRNET_MIRROR_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def group_env_name(group: str) -> str:
    return f"FASRNET_{re.sub(r'[^A-Z0-9]', '_', group.upper())}_MIRROR"


def join_base(base: str, file_name: str) -> str:
    """A mirror base URL plus a file name: ``{file}`` in the base is replaced; otherwise ``/<file>`` is appended
    to the path, keeping any query string (a token) at the end."""
    quoted = urllib.parse.quote(file_name)
    if "{file}" in base:
        return base.replace("{file}", quoted)
    parts = urllib.parse.urlsplit(base)
    path = parts.path.rstrip("/") + "/" + quoted
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def resolve_urls(art: Artefact, mirror: str = "", environ: Mapping[str, str] | None = None) -> list[str | None]:
    """One URL per file of ``art``: ``FASRNET_MIRROR_<NAME>`` (a full URL for a single file, a base URL for
    parts), then ``FASRNET_<GROUP>_MIRROR`` for each of its groups, then ``mirror`` (a base URL), then the
    recorded URLs."""
    env = os.environ if environ is None else environ
    files = art.files
    own = env.get(mirror_env_name(art.name), "").strip()
    if own:
        return [own] if not art.multipart else [join_base(own, f.file) for f in files]
    for group in art.mirror_groups:
        base = env.get(group_env_name(group), "").strip()
        if base:
            return [join_base(base, f.file) for f in files]
    if mirror.strip():
        return [join_base(mirror.strip(), f.file) for f in files]
    return [f.url for f in files]


def source_hint(art: Artefact) -> str:
    names = [mirror_env_name(art.name)] + [group_env_name(g) for g in art.mirror_groups]
    return (f"set {' or '.join(names)} to a URL you are entitled to use, or put the file(s) in a directory and "
            f"run `fasrnet download --from DIR`")
