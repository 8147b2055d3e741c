"""Acquire PoseTrack images, labels, detection boxes and HRNet-W48 checkpoints: ``fasrnet download``.

Every artefact is listed in ``manifest.json`` beside this module (URL, size and hash where known, parts, archive
type, where it extracts); ``docs/data.md``, §4 explains it. posetrack.net has been offline since
about 2022 and the DCPose supplementary folder returns 404, so two routes exist:

- **download** over HTTP(S): resume with ``Range`` from a ``.part`` file (a server that ignores ``Range`` means a
  restart from zero), bounded retries with exponential backoff, a progress bar, a size/sha256 (or sha256-prefix)
  check — a file that fails it is deleted and fetched once more, then the run stops with a clear error —,
  multi-part archives streamed in order into one extraction, extraction into a temporary directory that is
  renamed into place, refusing members that are absolute, escape the target, or are links out of it. A verified
  file gets a ``<file>.verified.json`` record (size, mtime, sha256) so a re-run skips it without a request.
  URLs come from the manifest or from a mirror the user supplies (``FASRNET_MIRROR_<NAME>``,
  ``FASRNET_<GROUP>_MIRROR``, ``download.mirror``); they may carry tokens, so **no URL is ever printed or
  logged** — messages name the artefact.
- **``--from DIR``**: adopt a copy the user has (an extracted tree linked or copied in, and/or the archives,
  box files and checkpoints, verified like downloads), then verify the layout: per-split video counts, every
  annotation file read with :func:`~fasrnet.data.posetrack.read_video`, every referenced image present. What
  is missing is listed one line each and the command exits non-zero.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import hashlib
import http.client
import io
import json
import os
import posixpath
import re
import shutil
import socket
import ssl
import stat
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fasrnet import __version__
from fasrnet.errors import FasrnetError, InputFormatError
from fasrnet.io import atomic_path, write_json

MANIFEST_PATH = Path(__file__).with_name("manifest.json")
KINDS = ("images", "labels", "boxes", "weights")
SPLITS = ("train", "val", "test")
VERIFIED_SUFFIX = ".verified.json"
PART_SUFFIX = ".part"
#: HTTP statuses that no retry will fix.
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 406, 410, 411, 451})
#: Layout problems listed per annotation file before the rest are summarised in one line.
MAX_MISSING_PER_VIDEO = 5

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class DownloadError(FasrnetError):
    """A download, verification or extraction failed; the message names the artefact, never its URL."""


class UnsafeArchiveError(DownloadError):
    """An archive member would land outside the extraction directory."""


class LayoutError(FasrnetError):
    """A dataset tree lacks files; the message lists each missing item on its own line."""


# --------------------------------------------------------------------------------------------------------------
# Manifest


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSpec(_Strict):
    """One file to fetch: its name, the recorded URL, and what is known to check it against."""

    file: str
    url: str | None = None
    size: int | None = Field(default=None, ge=0)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    sha256_prefix: str | None = Field(default=None, pattern=r"^[0-9a-f]{4,64}$")

    @property
    def checks(self) -> bool:
        return self.size is not None or bool(self.sha256) or bool(self.sha256_prefix)


class ConvertStep(_Strict):
    """Turn a box file into the pipeline's detection format after install (paths relative to the dataset dir;
    ``in`` = ``@file`` means the downloaded file itself)."""

    from_format: Literal["dcpose", "mmpose"]
    in_: str = Field(alias="in")
    ann: str | None = None
    out: str


class Artefact(_Strict):
    """One manifest entry. A single file (``file``/``url``/``size``/``sha256``) or ``parts`` joined in order."""

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    dataset: str | None
    kind: Literal["images", "labels", "boxes", "weights"]
    default: bool = True
    variant: str | None = None
    file: str | None = None
    url: str | None = None
    page: str | None = None
    size: int | None = Field(default=None, ge=0)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    sha256_prefix: str | None = Field(default=None, pattern=r"^[0-9a-f]{4,64}$")
    approx_size_bytes: int | None = None
    parts: list[FileSpec] | None = None
    archive: Literal["tar", "zip"] | None = None
    extract_to: str = ""
    strip_prefix: str | None = None
    mirror_groups: list[str] = Field(default_factory=list)
    convert: list[ConvertStep] = Field(default_factory=list)
    status: str = ""
    source: str = ""

    @property
    def files(self) -> list[FileSpec]:
        if self.parts:
            return list(self.parts)
        assert self.file is not None
        return [FileSpec(file=self.file, url=self.url, size=self.size, sha256=self.sha256,
                         sha256_prefix=self.sha256_prefix)]

    @property
    def multipart(self) -> bool:
        return bool(self.parts)


class DatasetInfo(_Strict):
    release: str = ""
    annotation_format: Literal[17, 18] = 18
    expected_videos: dict[str, int] = Field(default_factory=dict)
    expected_videos_source: dict[str, str] = Field(default_factory=dict)
    notes: str = ""


class Manifest(_Strict):
    version: int
    about: list[str] = Field(default_factory=list)
    datasets: dict[str, DatasetInfo] = Field(default_factory=dict)
    artefacts: list[Artefact]

    def get(self, name: str) -> Artefact:
        for a in self.artefacts:
            if a.name == name:
                return a
        close = difflib.get_close_matches(name, [a.name for a in self.artefacts], n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise FasrnetError(f"unknown artefact {name!r}{hint} (fasrnet download --list shows them)")


def load_manifest(path: str | Path | None = None) -> Manifest:
    """Read and validate the manifest (the packaged one by default)."""
    path = Path(path) if path is not None else MANIFEST_PATH
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFormatError(path, "", "manifest not found") from None
    except json.JSONDecodeError as exc:
        raise InputFormatError(path, "", f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
    try:
        manifest = Manifest.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        raise InputFormatError(path, where, err["msg"]) from None
    names = [a.name for a in manifest.artefacts]
    for i, a in enumerate(manifest.artefacts):
        if names.count(a.name) > 1:
            raise InputFormatError(path, f"artefacts[{i}].name", f"duplicate artefact name {a.name!r}")
        if (a.file is None) == (not a.parts):
            raise InputFormatError(path, f"artefacts[{i}]", "give exactly one of 'file' or 'parts'")
        if a.multipart and a.archive is None:
            raise InputFormatError(path, f"artefacts[{i}].archive", "a multi-part artefact must be an archive")
    return manifest


def sha256_prefix_from_name(file_name: str) -> str | None:
    """The 8 hex digits mmpose puts in its checkpoint names (``…-c161b7de_20220915.pth`` → ``c161b7de``)."""
    match = re.search(r"-([0-9a-f]{8})(?:_\d{8})?\.pth$", file_name)
    return match.group(1) if match else None


# --------------------------------------------------------------------------------------------------------------
# URLs (never logged)


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


# --------------------------------------------------------------------------------------------------------------
# HTTP fetch with resume


@dataclass
class FetchOptions:
    """Retry and transfer settings (``download.*`` in params.yaml)."""

    retries: int = 5
    backoff_s: float = 2.0
    backoff_max_s: float = 60.0
    timeout_s: float = 60.0
    chunk_bytes: int = 1 << 20
    progress: bool | None = None  # None: a bar only on a terminal (tqdm's rule)


class _Transient(Exception):
    """Worth another attempt (connection lost, 5xx, timeout)."""


class _Permanent(Exception):
    """No retry will help (404, 403, bad URL)."""


def _describe_os_error(exc: BaseException) -> str:
    """A URL-free description of a network error."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        reason = exc.reason
        if isinstance(reason, str):  # urllib puts the URL into some of these strings
            return "invalid or unsupported URL (not shown)"
        return _describe_os_error(reason)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the host up and the port right?)"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(exc, socket.gaierror):
        return "host name could not be resolved"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "TLS certificate verification failed"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({type(exc).__name__})"
    if isinstance(exc, http.client.IncompleteRead):
        return "connection closed before the end of the file"
    if isinstance(exc, http.client.HTTPException):
        return f"HTTP protocol error ({type(exc).__name__})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes 100-199/1000`` → (100, 1000); ``bytes */1000`` → (None, 1000)."""
    if not value:
        return None, None
    match = re.match(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", value)
    if not match:
        return None, None
    start = int(match.group(1)) if match.group(1) is not None else None
    total = int(match.group(2)) if match.group(2) != "*" else None
    return start, total


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": f"fasrnet/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (scheme checked by the caller)


def _check_scheme(url: str, name: str) -> None:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise DownloadError(f"{name}: the URL's scheme must be http or https (URL not shown); for local files use "
                            "--from DIR")


def _fetch_once(url: str, part: Path, name: str, size: int | None, opts: FetchOptions, log: Log) -> None:
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset, opts.timeout_s)
    except urllib.error.HTTPError as exc:
        code = exc.code
        _, total = _content_range(exc.headers.get("Content-Range") if exc.headers else None)
        exc.close()
        if code == 416 and offset:
            if total is not None and total == offset and (size is None or size == offset):
                return  # the .part file is already complete
            part.unlink(missing_ok=True)
            raise _Transient("the server refused the resume point (HTTP 416); restarting from zero") from None
        reason = http.client.responses.get(code, "")
        message = f"HTTP {code} {reason}".strip()
        if code in PERMANENT_STATUSES:
            raise _Permanent(message) from None
        raise _Transient(message) from None
    except ValueError:
        raise _Permanent("invalid URL (not shown)") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, (socket.gaierror, str)):  # unknown host or malformed URL: retrying will not help
            raise _Permanent(_describe_os_error(exc)) from None
        raise _Transient(_describe_os_error(exc)) from None

    with contextlib.closing(response):
        status = response.status
        if status == 206:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != offset:
                part.unlink(missing_ok=True)
                raise _Transient("the server answered a different byte range; restarting from zero")
            mode = "ab"
        elif status == 200:
            if offset:
                log(f"{name}: the server ignored the resume request; restarting from zero")
            offset, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        else:
            raise _Transient(f"unexpected HTTP status {status}")
        if size is not None and total is not None and total != size:
            raise _Permanent(f"the server announces {total} bytes, the manifest says {size}")

        from tqdm import tqdm

        bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                   disable=(None if opts.progress is None else not opts.progress), leave=False, file=sys.stderr)
        try:
            with open(part, mode) as f:
                try:
                    while True:
                        chunk = response.read(opts.chunk_bytes)
                        if not chunk:
                            break
                        f.write(chunk)
                        bar.update(len(chunk))
                except (OSError, http.client.HTTPException) as exc:
                    raise _Transient(_describe_os_error(exc)) from None
        finally:
            bar.close()
    got = part.stat().st_size
    if total is not None and got < total:
        raise _Transient(f"connection closed early ({got} of {total} bytes)")
    if total is not None and got > total:
        part.unlink(missing_ok=True)
        raise _Transient(f"received more bytes than announced ({got} > {total}); restarting from zero")


def fetch(url: str, path: str | Path, name: str, size: int | None = None, opts: FetchOptions | None = None,
          log: Log = _stderr) -> Path:
    """Download ``url`` to ``path`` through ``path.part``, resuming what an earlier attempt or run left.

    Attempts that make no progress are bounded by ``opts.retries``; between them the wait doubles from
    ``backoff_s`` up to ``backoff_max_s``. Errors name ``name`` and the HTTP status or network problem only.
    """
    opts = opts or FetchOptions()
    path = Path(path)
    _check_scheme(url, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + PART_SUFFIX)
    failures = 0
    while True:
        before = part.stat().st_size if part.exists() else 0
        if size is not None and before > size:
            part.unlink()
            before = 0
        try:
            _fetch_once(url, part, name, size, opts, log)
        except _Permanent as exc:
            raise DownloadError(f"{name}: {exc}") from None
        except _Transient as exc:
            problem = str(exc)
        else:
            os.replace(part, path)
            return path
        after = part.stat().st_size if part.exists() else 0
        failures = 0 if after > before else failures + 1
        if failures > opts.retries:
            raise DownloadError(f"{name}: download failed after {failures} attempts without progress: {problem}")
        delay = min(opts.backoff_max_s, opts.backoff_s * 2 ** max(failures - 1, 0))
        log(f"{name}: {problem}; retrying in {delay:.3g} s")
        time.sleep(delay)


# --------------------------------------------------------------------------------------------------------------
# Verification records


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + VERIFIED_SUFFIX)


def check_file(spec: FileSpec, sha: str, size: int) -> str | None:
    """What is wrong with a file of this ``sha``/``size`` against ``spec`` (None: it passes)."""
    if spec.size is not None and size != spec.size:
        return f"size {size} bytes, expected {spec.size}"
    if spec.sha256 and sha != spec.sha256:
        return f"sha256 {sha}, expected {spec.sha256}"
    if spec.sha256_prefix and not sha.startswith(spec.sha256_prefix):
        return f"sha256 starts with {sha[:len(spec.sha256_prefix)]}, expected {spec.sha256_prefix}"
    return None


def verified_sha(path: Path, spec: FileSpec) -> str | None:
    """The recorded sha256 when ``path`` is unchanged since it was verified and still satisfies ``spec``."""
    try:
        record = json.loads(_record_path(path).read_text(encoding="utf-8"))
        st = path.stat()
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("size") != st.st_size or record.get("mtime_ns") != st.st_mtime_ns:
        return None
    sha = record.get("sha256")
    if not isinstance(sha, str) or check_file(spec, sha, st.st_size) is not None:
        return None
    return sha


def _write_record(path: Path, sha: str) -> None:
    st = path.stat()
    write_json(_record_path(path), {"file": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                                    "sha256": sha}, indent=1)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    _record_path(path).unlink(missing_ok=True)


def _place(source: Path, dest: Path, link: bool) -> None:
    """Link (absolute symlink) or copy ``source`` to ``dest`` atomically."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        tmp.unlink()
        if link:
            os.symlink(source.resolve(), tmp)
        else:
            shutil.copyfile(source, tmp)


def ensure_file(spec: FileSpec, path: str | Path, url: str | None, name: str, opts: FetchOptions | None = None,
                log: Log = _stderr, source: Path | None = None, link: bool = True, hint: str = "") -> str:
    """Make ``path`` a verified copy of ``spec``; return its sha256.

    Skips (no request) when the verification record matches. An existing unrecorded file is hashed and kept if
    it passes. ``source`` adopts a local file (linked or copied). Otherwise the file is fetched; one that fails
    the check is deleted and fetched once more, then a :class:`DownloadError` says so.
    """
    path = Path(path)
    sha = verified_sha(path, spec)
    if sha is not None:
        log(f"{name}: {spec.file} already verified, skipped")
        return sha
    if path.is_file():
        sha = sha256_file(path)
        problem = check_file(spec, sha, path.stat().st_size)
        if problem is None:
            _write_record(path, sha)
            log(f"{name}: {spec.file} present and verified")
            return sha
        log(f"{name}: {spec.file} present but fails the check ({problem}); deleting it")
    _remove(path)

    if source is not None:
        _place(source, path, link)
        sha = sha256_file(path)
        problem = check_file(spec, sha, path.stat().st_size)
        if problem is not None:
            _remove(path)
            raise DownloadError(f"{name}: {source} fails the check: {problem}")
        _write_record(path, sha)
        log(f"{name}: {spec.file} {'linked' if link else 'copied'} from {source.parent} and verified"
            + ("" if spec.checks else f" (no hash in the manifest; recorded sha256 {sha})"))
        return sha

    if not url:
        raise DownloadError(f"{name}: no download URL for {spec.file}; {hint or 'supply a mirror URL'}")
    problem = ""
    for round_ in (1, 2):
        log(f"{name}: downloading {spec.file}")
        fetch(url, path, name, spec.size, opts, log)
        sha = sha256_file(path)
        problem = check_file(spec, sha, path.stat().st_size) or ""
        if not problem:
            _write_record(path, sha)
            log(f"{name}: {spec.file} verified"
                + ("" if spec.checks else f" (no hash in the manifest; recorded sha256 {sha})"))
            return sha
        _remove(path)
        if round_ == 1:
            log(f"{name}: {spec.file} is corrupt or not the expected file ({problem}); deleted, fetching it again")
    raise DownloadError(f"{name}: {spec.file} failed the check twice ({problem}); the file was deleted — the "
                        "source serves a different or corrupt file")


# --------------------------------------------------------------------------------------------------------------
# Safe extraction


class _Joined(io.RawIOBase):
    """The concatenation of several files, read in order (multi-part archives, never held in memory)."""

    def __init__(self, paths: Iterable[Path]):
        self._paths = list(paths)
        self._index = 0
        self._file: Any = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while True:
            if self._file is None:
                if self._index >= len(self._paths):
                    return 0
                self._file = open(self._paths[self._index], "rb")
                self._index += 1
            n = self._file.readinto(buffer)
            if n:
                return n
            self._file.close()
            self._file = None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        super().close()


def _inside(root_real: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real == root_real or real.startswith(root_real + os.sep)


class _Extractor:
    """Writes archive members under ``root``, refusing any that would land outside it."""

    def __init__(self, root: Path, label: str, strip_prefix: str | None):
        self.root = root
        self.root_real = os.path.realpath(root)
        self.label = label
        self.strip_prefix = strip_prefix

    def refuse(self, member: str, why: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(f"{self.label}: refusing member {member!r}: {why}; nothing was extracted")

    def relpath(self, member: str, name: str | None = None) -> str | None:
        """The member's normalised path below root (None: the root itself, skip)."""
        raw = member if name is None else name
        text = raw.replace("\\", "/")
        if "\x00" in text:
            raise self.refuse(member, "NUL in the name")
        if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
            raise self.refuse(member, "absolute path")
        norm = posixpath.normpath(text) if text else "."
        if norm == ".." or norm.startswith("../"):
            raise self.refuse(member, "path escapes the extraction directory ('..')")
        parts = [] if norm == "." else norm.split("/")
        if self.strip_prefix and parts and parts[0] == self.strip_prefix:
            parts = parts[1:]
        return "/".join(parts) if parts else None

    def target(self, member: str, rel: str) -> Path:
        dest = self.root / rel
        if not _inside(self.root_real, str(dest.parent)):
            raise self.refuse(member, "its parent directory is a link out of the extraction directory")
        return dest

    def _clear(self, member: str, dest: Path) -> None:
        if dest.is_symlink() or dest.is_file():
            dest.unlink()
        elif dest.exists():
            raise self.refuse(member, "a directory of the same name was extracted earlier")

    def directory(self, member: str, rel: str | None) -> None:
        if rel is None:
            return
        dest = self.target(member, rel)
        if dest.is_symlink():
            dest.unlink()
        dest.mkdir(parents=True, exist_ok=True)

    def file(self, member: str, rel: str | None, stream: Any) -> None:
        if rel is None:
            raise self.refuse(member, "a file at the archive root's own name")
        dest = self.target(member, rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        self._clear(member, dest)
        with open(dest, "xb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)

    def symlink(self, member: str, rel: str | None, link: str) -> None:
        if rel is None:
            raise self.refuse(member, "a link at the archive root's own name")
        if link.startswith("/") or re.match(r"^[A-Za-z]:", link):
            raise self.refuse(member, f"symlink to the absolute path {link!r}")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), link))
        if resolved == ".." or resolved.startswith("../"):
            raise self.refuse(member, f"symlink to {link!r} points outside the extraction directory")
        dest = self.target(member, rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not _inside(self.root_real, os.path.join(os.path.realpath(dest.parent), link)):
            raise self.refuse(member, f"symlink to {link!r} resolves outside the extraction directory")
        self._clear(member, dest)
        os.symlink(link, dest)

    def hardlink(self, member: str, rel: str | None, link_member: str) -> None:
        if rel is None:
            raise self.refuse(member, "a link at the archive root's own name")
        try:
            link_rel = self.relpath(link_member)
        except UnsafeArchiveError:
            raise self.refuse(member, f"hard link to {link_member!r} outside the extraction directory") from None
        if link_rel is None:
            raise self.refuse(member, f"hard link to {link_member!r}")
        source = self.root / link_rel
        if not _inside(self.root_real, str(source)) or not source.is_file():
            raise self.refuse(member, f"hard link to {link_member!r}, which is not a file extracted before it")
        dest = self.target(member, rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        self._clear(member, dest)
        try:
            os.link(source, dest)
        except OSError:
            shutil.copyfile(source, dest)


def _extract_tar(stream: Any, ex: _Extractor) -> None:
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                rel = ex.relpath(member.name)
                if member.isdir():
                    ex.directory(member.name, rel)
                elif member.isfile():
                    fobj = tar.extractfile(member)
                    assert fobj is not None
                    ex.file(member.name, rel, fobj)
                elif member.issym():
                    ex.symlink(member.name, rel, member.linkname)
                elif member.islnk():
                    ex.hardlink(member.name, rel, member.linkname)
                else:
                    raise ex.refuse(member.name, "device, FIFO or other special file")
    except tarfile.TarError as exc:
        raise DownloadError(f"{ex.label}: not a valid tar archive or truncated ({type(exc).__name__})") from None
    except EOFError:
        raise DownloadError(f"{ex.label}: the archive ends early (truncated download?)") from None


def _extract_zip(path: Path, ex: _Extractor) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                rel = ex.relpath(info.filename)
                mode = info.external_attr >> 16
                if info.is_dir():
                    ex.directory(info.filename, rel)
                elif stat.S_ISLNK(mode):
                    ex.symlink(info.filename, rel, zf.read(info).decode("utf-8", "replace"))
                elif stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # 0: no type recorded (plain file)
                    raise ex.refuse(info.filename, "device, FIFO or other special file")
                else:
                    with zf.open(info) as src:
                        ex.file(info.filename, rel, src)
    except zipfile.BadZipFile:
        raise DownloadError(f"{ex.label}: not a valid zip archive") from None


def _move_into(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``; directories present on both sides are merged entry by entry (a link at
    ``dst`` is replaced, never followed)."""
    if not os.path.lexists(dst):
        os.replace(src, dst)
        return
    if src.is_dir() and not src.is_symlink() and dst.is_dir() and not dst.is_symlink():
        for child in sorted(os.listdir(src)):
            _move_into(src / child, dst / child)
        return
    if dst.is_dir() and not dst.is_symlink():
        aside = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".old", dir=dst.parent))
        os.rmdir(aside)
        os.replace(dst, aside)
        os.replace(src, dst)
        shutil.rmtree(aside, ignore_errors=True)
        return
    if dst.is_symlink() and src.is_dir():
        dst.unlink()
    os.replace(src, dst)


def extract_archive(sources: list[Path], target: str | Path, archive: str = "tar", strip_prefix: str | None = None,
                    label: str = "archive") -> list[str]:
    """Extract ``sources`` (parts joined in order) into ``target``; return the top-level entries written.

    Everything is first extracted into a hidden temporary directory inside ``target``, checking each member;
    only when the whole archive succeeded are its top-level entries renamed into ``target``. On any error the
    temporary directory is deleted (and ``target`` too if this call created it empty).
    """
    target = Path(target)
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{label}.", suffix=".extracting", dir=target))
    ex = _Extractor(tmp, label, strip_prefix)
    try:
        if archive == "tar":
            with io.BufferedReader(_Joined(sources), buffer_size=1 << 20) as stream:
                _extract_tar(stream, ex)
        elif archive == "zip":
            if len(sources) == 1:
                _extract_zip(sources[0], ex)
            else:
                with tempfile.NamedTemporaryFile(dir=target, prefix=f".{label}.", suffix=".zip") as joined:
                    with _Joined(sources) as stream:
                        shutil.copyfileobj(stream, joined, 1 << 20)
                    joined.flush()
                    _extract_zip(Path(joined.name), ex)
        else:
            raise ValueError(f"unknown archive type {archive!r}")
        entries = sorted(os.listdir(tmp))
        for entry in entries:
            _move_into(tmp / entry, target / entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                target.rmdir()
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    return entries


# --------------------------------------------------------------------------------------------------------------
# Layout verification


@dataclass
class LayoutReport:
    """What :func:`verify_layout` found: per-split video counts and one line per problem."""

    root: Path
    videos: dict[str, int] = field(default_factory=dict)
    frames: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_layout(root: str | Path, expected: Mapping[str, int] | None = None,
                  sources: Mapping[str, str] | None = None, check_boxes: bool = True) -> LayoutReport:
    """Check a dataset tree in the pipeline's layout (``images/<split>/<video>/…``, ``annotations/<split>/
    <video>.json``): video counts against ``expected`` (split → count), every annotation file readable, every
    image it references present; detection files (if any) valid."""
    from fasrnet.data.boxes import read_boxes
    from fasrnet.data.posetrack import read_video

    root = Path(root)
    report = LayoutReport(root=root)
    expected = dict(expected or {})
    sources = dict(sources or {})
    if not root.is_dir():
        report.problems.append(f"{root}: dataset directory missing")
        return report
    present = [s for s in SPLITS if (root / "annotations" / s).is_dir() or (root / "images" / s).is_dir()]
    splits = [s for s in SPLITS if s in expected or s in present]
    splits += sorted(s for s in expected if s not in SPLITS)
    if not splits:
        report.problems.append("annotations/: no split directories (train, val, test) found")
    for split in splits:
        ann_dir, img_dir = root / "annotations" / split, root / "images" / split
        ann = {p.stem: p for p in sorted(ann_dir.glob("*.json"))} if ann_dir.is_dir() else {}
        if not ann_dir.is_dir():
            report.problems.append(f"annotations/{split}/: directory missing")
        if img_dir.is_dir():
            image_videos = {d.name for d in img_dir.iterdir() if d.is_dir() and not d.name.startswith(".")}
            for video in sorted(image_videos - set(ann)):
                report.problems.append(f"{split}/{video}: annotation file missing")
        report.videos[split] = len(ann)
        if split in expected and len(ann) != expected[split]:
            why = f" ({sources[split]})" if split in sources else ""
            report.problems.append(f"{split}: {len(ann)} videos with annotation files, expected {expected[split]}{why}")
        folder_lines = []
        for video, path in ann.items():
            rel_ann = f"annotations/{split}/{path.name}"
            try:
                frames = read_video(path).frames
            except InputFormatError as exc:
                report.problems.append(f"{rel_ann}: unreadable: {exc.field + ': ' if exc.field else ''}{exc.detail}")
                continue
            report.frames += len(frames)
            missing = [f.image for f in frames if not (root / f.image).is_file()]
            if not missing:
                continue
            folders = {posixpath.dirname(m) for m in missing}
            if len(missing) == len(frames) and len(folders) == 1 and not (root / folders.pop()).is_dir():
                folder_lines.append(f"{posixpath.dirname(missing[0])}/: directory missing "
                                    f"({len(missing)} frames referenced by {rel_ann})")
                continue
            for image in missing[:MAX_MISSING_PER_VIDEO]:
                report.problems.append(f"{image} referenced by {rel_ann}: not found")
            if len(missing) > MAX_MISSING_PER_VIDEO:
                report.problems.append(f"… and {len(missing) - MAX_MISSING_PER_VIDEO} more images referenced by "
                                       f"{rel_ann}: not found")
        if len(folder_lines) > 1 and not img_dir.is_dir():
            report.problems.append(f"images/{split}/: directory missing (images of {len(folder_lines)} annotated "
                                   "videos)")
        else:
            report.problems.extend(folder_lines)
    if check_boxes:
        for split in ("val", "test"):
            boxes = root / "detections" / f"{split}_boxes.json"
            if boxes.is_file():
                try:
                    read_boxes(boxes)
                except InputFormatError as exc:
                    where = f"{exc.field}: " if exc.field else ""
                    report.problems.append(f"detections/{boxes.name}: {where}{exc.detail}")
            elif split in splits:
                report.notes.append(f"detections/{split}_boxes.json: not present ({split} crops will need GT boxes "
                                    "or `fasrnet boxes convert`)")
    return report


# --------------------------------------------------------------------------------------------------------------
# Orchestration


@dataclass
class Plan:
    """Where things go."""

    dest: Path  # <data.root>: datasets go to dest/<dataset>
    cache_dir: Path  # downloaded archives and box files: cache_dir/<artefact>/<file>
    weights_dir: Path  # checkpoints: weights_dir/<file>
    mirror: str = ""
    link: bool = True
    opts: FetchOptions = field(default_factory=FetchOptions)
    environ: Mapping[str, str] | None = None


def select_artefacts(manifest: Manifest, datasets: Iterable[str], what: Iterable[str], weights: Iterable[str] = (),
                     boxes_source: str | None = None, names: Iterable[str] = ()) -> list[Artefact]:
    """The artefacts to fetch: explicit ``names``, or the default ones of ``datasets`` whose kind is in
    ``what`` (one box variant per dataset, ``boxes_source`` where the dataset has it) plus the ``weights``."""
    names = list(names)
    if names:
        return [manifest.get(n) for n in names]
    datasets, what, weights = list(datasets), set(what), list(weights)
    chosen = [manifest.get(w) for w in weights] if "weights" in what else []
    for art in manifest.artefacts:
        if art.kind == "weights" or art.kind not in what or art.dataset not in datasets or not art.default:
            continue
        if art.kind == "boxes" and boxes_source:
            variants = {a.variant for a in manifest.artefacts if a.kind == "boxes" and a.dataset == art.dataset}
            if boxes_source in variants and art.variant != boxes_source:
                continue
        chosen.append(art)
    return chosen


def _cache_path(plan: Plan, art: Artefact, spec: FileSpec) -> Path:
    if art.kind == "weights":
        return plan.weights_dir / spec.file
    return plan.cache_dir / art.name / spec.file


def _find_local(from_dir: Path, art: Artefact, spec: FileSpec) -> Path | None:
    candidates = [from_dir]
    if art.dataset:
        candidates[:0] = [from_dir / art.dataset, from_dir / f"{art.dataset}_precomputed_boxes"]
    else:
        candidates += [from_dir / "weights", from_dir / "pretrained_models"]
    for directory in candidates:
        path = directory / spec.file
        if path.is_file():
            return path
    return None


def _locate(base: Path, rel: str, search_under: Path) -> Path:
    """``base/rel``, or the single file of that name under ``search_under`` when the archive's layout differs
    from the recorded one ([inferred] layouts)."""
    path = base / rel
    if path.is_file():
        return path
    found = sorted(search_under.rglob(posixpath.basename(rel))) if search_under.is_dir() else []
    if len(found) == 1:
        return found[0]
    raise DownloadError(f"{rel}: not found after extraction" + (f" ({len(found)} candidates)" if found else ""))


def install(art: Artefact, plan: Plan, files: list[Path], shas: list[str], log: Log = _stderr) -> None:
    """Extract / convert a fetched artefact into its place; skipped when its install record matches."""
    from fasrnet.data import boxes as boxes_mod

    if art.kind == "weights":
        return
    assert art.dataset is not None
    dataset_dir = plan.dest / art.dataset
    record = plan.cache_dir / art.name / ".installed.json"
    state = {"sha256": shas, "target": str(dataset_dir.resolve()), "entries": [], "outputs": []}
    try:
        old = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = None
    if (isinstance(old, dict) and old.get("sha256") == shas and old.get("target") == state["target"]
            and all((dataset_dir / art.extract_to / e).exists() for e in old.get("entries", []))
            and all((dataset_dir / o).exists() for o in old.get("outputs", []))):
        log(f"{art.name}: already installed, skipped")
        return
    if art.archive:
        target = dataset_dir / art.extract_to
        log(f"{art.name}: extracting into {target}")
        state["entries"] = extract_archive(files, target, art.archive, art.strip_prefix, label=art.name)
    for step in art.convert:
        search = dataset_dir / art.extract_to
        in_path = files[0] if step.in_ == "@file" else _locate(dataset_dir, step.in_, search)
        ann = _locate(dataset_dir, step.ann, search) if step.ann else None
        stats = boxes_mod.convert(step.from_format, in_path, dataset_dir / step.out, ann=ann)
        log(f"{art.name}: {stats.written} boxes written to {step.out} ({stats.read} read, "
            f"{stats.dropped_category} with category_id ≠ 1 dropped)")
        state["outputs"].append(step.out)
    write_json(record, state, indent=1)


def acquire(art: Artefact, plan: Plan, from_dir: Path | None = None, log: Log = _stderr) -> bool:
    """Fetch (or adopt from ``from_dir``) and install one artefact. Returns False when ``from_dir`` lacks it."""
    files, shas = [], []
    urls = resolve_urls(art, plan.mirror, plan.environ)
    local = [(_find_local(from_dir, art, spec) if from_dir else None) for spec in art.files]
    if from_dir is not None and any(p is None for p in local):
        have = all(verified_sha(_cache_path(plan, art, s), s) for s in art.files)
        if not have:
            found = sum(p is not None for p in local)
            if found:
                missing = [s.file for s, p in zip(art.files, local) if p is None]
                log(f"{art.name}: only {found} of {len(local)} parts in {from_dir}; missing {', '.join(missing)}")
            return False
    if from_dir is None and "offline" in art.status and urls == [f.url for f in art.files]:
        log(f"{art.name}: note: the recorded host is offline ({art.status.split(';')[0]}); {source_hint(art)}")
    for spec, url, src in zip(art.files, urls, local):
        path = _cache_path(plan, art, spec)
        shas.append(ensure_file(spec, path, url, art.name, plan.opts, log, source=src, link=plan.link,
                                hint=source_hint(art)))
        files.append(path)
    install(art, plan, files, shas, log)
    return True


ADOPTED_ENTRIES = ("images", "images_renamed", "annotations", "detections")


def adopt_tree(source: Path, dataset_dir: Path, link: bool = True, log: Log = _stderr) -> list[str]:
    """Link (or copy) the layout folders of an extracted dataset at ``source`` into ``dataset_dir``."""
    adopted = []
    dataset_dir.mkdir(parents=True, exist_ok=True)
    for entry in ADOPTED_ENTRIES:
        src = source / entry
        if not src.is_dir():
            continue
        dst = dataset_dir / entry
        if src.resolve() == dst.resolve():
            adopted.append(entry)
            continue
        if link and entry != "detections":  # detections are copied: later stages write there
            if dst.exists() and not dst.is_symlink():
                raise FasrnetError(f"{dst}: exists and is not a link; move it away or use --copy")
            tmp = dst.with_name(f".{entry}.link.tmp")
            tmp.unlink(missing_ok=True)
            os.symlink(src.resolve(), tmp, target_is_directory=True)
            os.replace(tmp, dst)
        else:
            tmp = Path(tempfile.mkdtemp(prefix=f".{entry}.", suffix=".tmp", dir=dataset_dir))
            try:
                shutil.copytree(src, tmp / entry, symlinks=False)
                if dst.is_symlink():
                    dst.unlink()
                _move_into(tmp / entry, dst)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        adopted.append(entry)
    if adopted:
        linked = [e for e in adopted if link and e != "detections"]
        copied = [e for e in adopted if e not in linked]
        how = "; ".join(f"{verb} {', '.join(items)}"
                        for verb, items in (("linked", linked), ("copied", copied)) if items)
        log(f"{dataset_dir.name}: {how} from {source}")
    return adopted


def find_tree(from_dir: Path, dataset: str, single: bool) -> Path | None:
    """Where in ``from_dir`` the extracted tree of ``dataset`` is (``DIR/<dataset>``, ``DIR`` itself when one
    dataset is asked for, or ``posetrack_data/`` below either)."""
    candidates = [from_dir / dataset, from_dir / dataset / "posetrack_data"]
    if single:
        candidates += [from_dir, from_dir / "posetrack_data"]
    for c in candidates:
        if (c / "annotations").is_dir() or (c / "images").is_dir():
            return c
    return None


# --------------------------------------------------------------------------------------------------------------
# CLI


def _split_list(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def _parse_expect(values: list[str] | None) -> dict[str, int] | None:
    items = _split_list(values)
    if not items:
        return None
    expect = {}
    for item in items:
        split, sep, count = item.partition("=")
        if not sep or not count.strip().isdigit():
            raise FasrnetError(f"--expect {item!r}: expected SPLIT=COUNT, e.g. val=170")
        expect[split.strip()] = int(count)
    return expect


def _list_manifest(manifest: Manifest) -> None:
    print(f"{'artefact':34} {'kind':8} {'dataset':12} {'url':9} {'size':8} {'hash':7} note")
    for a in manifest.artefacts:
        files = a.files
        url = ("parts" if a.multipart else "recorded") if all(f.url for f in files) else "none"
        size = "known" if all(f.size is not None for f in files) else "unknown"
        h = ("sha256" if all(f.sha256 for f in files) else
             "prefix" if all(f.sha256 or f.sha256_prefix for f in files) else "unknown")
        flag = "" if a.default else " (not fetched by default)"
        print(f"{a.name:34} {a.kind:8} {a.dataset or '-':12} {url:9} {size:8} {h:7} {a.status}{flag}")
    print("\nurl: 'none' means no direct URL is recorded; supply one with FASRNET_MIRROR_<NAME> or use --from DIR.")


def _expected_for(manifest: Manifest, dataset: str,
                  override: dict[str, int] | None) -> tuple[dict[str, int], dict[str, str]]:
    if override is not None:
        return override, {}
    info = manifest.datasets.get(dataset)
    return (dict(info.expected_videos), dict(info.expected_videos_source)) if info else ({}, {})


def cli_download(args: argparse.Namespace, params: Any, log: Log = _stderr) -> int:
    """``fasrnet download`` (its arguments: ``fasrnet.cli``)."""
    p = params.download
    manifest = load_manifest(args.manifest)
    if args.list:
        _list_manifest(manifest)
        return 0
    what = _split_list(args.what) or list(p.what)
    bad = [w for w in what if w not in KINDS]
    if bad:
        raise FasrnetError(f"--what: unknown kind(s) {', '.join(bad)}; choose from {','.join(KINDS)}")
    datasets = _split_list(args.dataset) or list(params.data.datasets)
    known = set(manifest.datasets) | {a.dataset for a in manifest.artefacts if a.dataset}
    if args.from_dir is None and not args.verify_only:
        unknown = [d for d in datasets if d not in known]
        if args.dataset and unknown:
            raise FasrnetError(f"--dataset: nothing to download for {', '.join(unknown)} "
                               f"(known: {', '.join(sorted(known))})")
        datasets = [d for d in datasets if d in known]
    expect = _parse_expect(args.expect)
    plan = Plan(
        dest=Path(args.dest or params.data.root),
        cache_dir=Path(args.cache_dir or p.cache_dir),
        weights_dir=Path(args.weights_dir or p.weights_dir),
        mirror=p.mirror,
        link=p.link and not args.copy,
        opts=FetchOptions(retries=p.retries, backoff_s=p.backoff_s, backoff_max_s=p.backoff_max_s,
                          timeout_s=p.timeout_s),
    )

    if args.verify_only:
        return _report_layouts(manifest, datasets, plan, expect, log)

    if not datasets and not args.artefact and not args.what:
        log("nothing to download: data.datasets lists only synthetic sets (`fasrnet synthesize` makes them); "
            "pass --dataset posetrack18, --artefact NAME or --what weights")
        return 0
    arts = select_artefacts(manifest, [d for d in datasets if d in known], what, p.weights, p.boxes_source,
                            _split_list(args.artefact))

    failures: list[str] = []
    from_dir = Path(args.from_dir) if args.from_dir else None
    if from_dir is not None:
        if not from_dir.is_dir():
            raise FasrnetError(f"--from {from_dir}: no such directory")
        adopted: dict[str, list[str]] = {}
        for dataset in datasets:
            tree = find_tree(from_dir, dataset, single=len(datasets) == 1)
            if tree is not None:
                adopted[dataset] = adopt_tree(tree, plan.dest / dataset, plan.link, log)
            else:
                log(f"{dataset}: no extracted tree (annotations/, images/) in {from_dir}/{dataset}"
                    + ("" if len(datasets) > 1 else f" or {from_dir}")
                    + ("; with several datasets DIR needs one folder per dataset, or pass --dataset"
                       if len(datasets) > 1 else ""))
        skipped = []
        for art in arts:
            entries = adopted.get(art.dataset or "", [])
            if art.kind in ("images", "labels") and art.archive and {"images", "annotations"} & set(entries):
                continue  # the extracted tree was adopted instead of the archive
            try:
                if not acquire(art, plan, from_dir, log):
                    skipped.append(art.name)
            except FasrnetError as exc:
                failures.append(str(exc))
        if skipped:
            log(f"not in {from_dir} (skipped): {', '.join(skipped)}")
        layout_sets = datasets if {"images", "labels"} & set(what) else []
    else:
        for art in arts:
            try:
                acquire(art, plan, None, log)
            except FasrnetError as exc:
                failures.append(str(exc))
        layout_sets = [d for d in datasets if {"images", "labels"} <= set(what) and not args.artefact]
    if layout_sets and (from_dir is not None or not failures):  # after failed downloads the check is noise
        try:
            _report_layouts(manifest, layout_sets, plan, expect, log)
        except LayoutError as exc:
            failures.append(str(exc))
    if failures:
        raise DownloadError("\n".join(failures))
    return 0


def _report_layouts(manifest: Manifest, datasets: list[str], plan: Plan, expect: dict[str, int] | None,
                    log: Log) -> int:
    problems = []
    for dataset in datasets:
        expected, sources = _expected_for(manifest, dataset, expect)
        report = verify_layout(plan.dest / dataset, expected, sources)
        counts = ", ".join(f"{k} {v}" for k, v in report.videos.items()) or "none"
        log(f"{dataset}: videos per split: {counts}; {report.frames} frames listed")
        for note in report.notes:
            log(f"{dataset}: note: {note}")
        problems += [f"{dataset}: {line}" for line in report.problems]
    if problems:
        raise LayoutError(f"{len(problems)} problem(s) in the dataset layout:\n" + "\n".join(problems))
    log("layout OK: " + ", ".join(datasets))
    return 0
