"""Verified files: size/sha256 (or sha256-prefix) checks against the manifest and ``<file>.verified.json``
records (size, mtime, sha256), so that a re-run skips a verified file without a request; :func:`ensure_file`
adopts, keeps or fetches a file until it passes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from fasrnet.data.download.base import DownloadError, Log, log_to_stderr
from fasrnet.data.download.manifest import FileSpec
from fasrnet.data.download.transfer import FetchOptions, fetch
from fasrnet.io import atomic_path, write_json

VERIFIED_SUFFIX = ".verified.json"


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
                log: Log = log_to_stderr, source: Path | None = None, link: bool = True, hint: str = "") -> str:
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
