"""Safe extraction: tar or zip archives (multi-part ones streamed in order, never held in memory) are extracted
into a temporary directory that is renamed into place, refusing members that are absolute, escape the target, or
are links out of it."""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fasrnet.data.download.base import DownloadError, UnsafeArchiveError


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


def move_into(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``; directories present on both sides are merged entry by entry (a link at
    ``dst`` is replaced, never followed)."""
    if not os.path.lexists(dst):
        os.replace(src, dst)
        return
    if src.is_dir() and not src.is_symlink() and dst.is_dir() and not dst.is_symlink():
        for child in sorted(os.listdir(src)):
            move_into(src / child, dst / child)
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
            move_into(tmp / entry, target / entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                target.rmdir()
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    return entries
