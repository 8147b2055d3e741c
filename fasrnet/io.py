"""Atomic output: every stage writes through these helpers so a failed or killed run never leaves a
half-written file in place of an earlier good one (DVC may also hardlink outputs into its cache, so files are
always replaced, never modified in place)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(path: Path) -> None:
    """Persist a rename in ``path`` (best effort: some file systems refuse directory fsync)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` with ``os.replace``.

    On an exception the temporary file is removed and ``path`` is left as it was. ``suffix`` defaults to the
    target's suffix so libraries that infer the format from the name (cv2, matplotlib, torch) still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + ext, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            # A full disk fails in write() with no file name: name the output, so the error says which one
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        if isinstance(exc, OSError) and exc.filename is None:
            # nor an errno: numpy's np.save on a disk that fills up mid-array ("1000000 requested and 99872 written")
            raise OSError(None, f"write failed: {exc} ({_free(path.parent)})", str(path)) from exc
        raise


def _free(folder: Path) -> str:
    """``12.3 MB free on its disk`` (the likeliest reason a write stops short), or what keeps it from being known."""
    from fasrnet.cachesize import human

    try:
        return f"{human(shutil.disk_usage(folder).free)} free on its disk"
    except OSError as exc:
        return f"free space unknown: {exc.strerror or type(exc).__name__}"


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def _canonical(obj: Any) -> Any:
    """A copy of ``obj``'s containers with every string interned. Pickle memoizes by object identity, so equal
    objects built differently (fresh, or loaded from a checkpoint) would pickle to different bytes; after this,
    equal strings are one object and no container is shared. Tensors and arrays are kept as they are."""
    if type(obj) in (dict, OrderedDict):
        return type(obj)((_canonical(k), _canonical(v)) for k, v in obj.items())
    if type(obj) in (list, tuple):
        return type(obj)(_canonical(v) for v in obj)
    if type(obj) is str:
        return sys.intern(obj)
    return obj


def save_torch(path: str | Path, obj: Any) -> None:
    """``torch.save`` ``obj`` to ``path`` atomically and reproducibly: equal objects give equal bytes. Saved to
    memory, since saving to a file names the zip archive's records after that (temporary) file; and through
    :func:`_canonical`, so how the object came about does not change the pickle.

    Checkpoints are data (docs/resume.md): ``obj`` must be tensors in plain containers (dict, list, tuple, str,
    int, float, bool, None), what every reader's ``weights_only`` load accepts. The bytes are loaded back that way
    before they are written: anything else (a numpy array or scalar, an object) is a TypeError, and nothing is
    written."""
    import pickle

    import torch  # the torch stages only

    buf = io.BytesIO()
    torch.save(_canonical(obj), buf)
    try:
        torch.load(io.BytesIO(buf.getvalue()), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        inner = exc.__context__ or exc  # torch's own one-line reason, before its page of advice
        reason = next((line for line in str(inner).splitlines() if line.strip()), type(inner).__name__)
        raise TypeError(f"{path}: not data only, a weights_only load would refuse it: {reason}") from None
    write_bytes(path, buf.getvalue())


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any, indent: int | None = None) -> None:
    """Write ``obj`` as JSON atomically; ``indent=None`` gives the compact form PoseTrack files use."""
    separators = (",", ":") if indent is None else (",", ": ")
    write_text(path, json.dumps(obj, indent=indent, separators=separators) + "\n")


def remove_leftovers_beside(target: Path) -> None:
    """Delete what killed atomic writes and swaps left beside ``target`` (``.<name>.*.tmp*``, ``.<name>.*.old``),
    so they never pile up inside a stage's output directory."""
    if not target.parent.is_dir():
        return
    for pattern in (f".{target.name}.*.tmp*", f".{target.name}.*.old"):
        for path in target.parent.glob(pattern):
            remove_path(path)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a directory in a temporary sibling and swap it in only when the block succeeds.

    The earlier directory (if any) stays intact until the new one is complete; it is then moved aside and
    deleted. On failure the temporary directory is deleted and the earlier one is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers_beside(path)  # of an earlier, killed build of this directory
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    swap_in_dir(tmp, path)


def swap_in_dir(new: Path, path: Path) -> None:
    """Replace directory ``path`` with the complete directory ``new`` (same file system): the earlier one is
    renamed aside, ``new`` renamed in, and only then the earlier one deleted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if path.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
        os.rmdir(old)
        os.replace(path, old)
    os.replace(new, path)
    fsync_dir(path.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_path(path: Path) -> None:
    """Delete a file or a directory tree (leftovers of killed writes); a missing one is fine."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
