"""One writer per output: an exclusive lock on each output a stage writes, whichever tool runs it (docs/resume.md).

``fasrnet`` takes these in ``cli.main`` before a stage looks at its outputs, from the paths the subcommand
declares (the resolved outputs, not the words typed), and holds them until the command is done. The lock of
``data/features/syn17`` is the file ``data/features/.syn17.lock``: beside the output and its work directory
(``.syn17.partial``), outside the declared output, so DVC or Snakemake deleting the output never deletes it, and
DVC never hashes it. The parent directory is resolved (symlinks, ``./``), so every spelling of a path and every
clone sharing the directory meet at one file. ``fcntl.flock`` holds it: the kernel releases it when its process
ends, SIGKILL included, so a killed holder never leaves a stale lock; the file itself stays (deleting it would let
a process that already opened it lock a file nobody else sees).

A second writer waits, after printing one line naming the holder, which writes its pid, host, command and start
into the file after taking it. Several outputs are locked in one order (their lock files' paths, sorted), so two
commands sharing outputs never wait for each other in a circle; a lock this process holds already is not taken
again (``fasrnet backbone`` runs ``pretrain-backbone`` inside itself).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

#: Lock files this process holds (resolved path → open descriptor; None: the file system takes no locks).
_HELD: dict[str, int | None] = {}
#: How long a waiter retries reading the holder's record before it names no one (the holder writes it just after
#: taking the lock).
_RECORD_WAIT_S = 1.0


def lock_path(output: str | Path) -> Path:
    """The lock file of ``output``: ``.<name>.lock`` in ``output``'s parent, the parent resolved."""
    out = Path(output)
    return Path(os.path.realpath(out.parent)) / f".{out.name}.lock"


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:  # another user's lock file (a shared directory): lock it without writing a record
        return os.open(path, os.O_RDONLY)


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file ``fd`` holds (not deleted or replaced since it was opened)."""
    try:
        st, now = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino)


def _read_record(fd: int) -> dict[str, Any] | None:
    try:
        record = json.loads(os.pread(fd, 4096, 0) or b"null")
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _alive(record: dict[str, Any]) -> bool:
    """False for a record left by a process of this host that is gone (killed before it cleared its record)."""
    if record.get("host") != socket.gethostname() or not isinstance(record.get("pid"), int):
        return True
    try:
        os.kill(record["pid"], 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass
    return True


def describe_holder(record: dict[str, Any] | None) -> str:
    if not record:
        return "another process"
    return (f"pid {record.get('pid')} on {record.get('host')} ({record.get('command')}, "
            f"since {record.get('since')})")


#: flock's answers on a file system without locks (some network file systems): the command runs unlocked.
_NO_LOCKS = frozenset({errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP})


def _lock_one(output: Path, path: Path, command: str, stream: IO[str]) -> int | None:
    """Take ``path``'s lock for ``output`` (waiting for a holder, named in one line on ``stream``); the descriptor,
    or None where the file system has no locks (said in one warning line)."""
    told = False
    while True:
        fd = _open(path)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # held: say by whom, once, and wait
                record, deadline = _read_record(fd), time.monotonic() + _RECORD_WAIT_S
                while not (record and _alive(record)) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    record = _read_record(fd)
                if not told:
                    print(f"fasrnet: {output} is being written by {describe_holder(record)}; waiting for it to "
                          "finish (docs/resume.md)", file=stream, flush=True)
                    told = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:
                if exc.errno not in _NO_LOCKS:
                    raise
                print(f"warning: {path}: {exc.strerror}: this file system takes no locks; writing {output} without "
                      "one (docs/resume.md)", file=stream, flush=True)
                os.close(fd)
                return None
            if _same_file(fd, path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the file was deleted or replaced while we waited: lock the one the path names now
    record = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
              "since": time.strftime("%Y-%m-%d %H:%M:%S"), "output": str(output)}
    with contextlib.suppress(OSError):  # a read-only descriptor (another user's file): locked, without a record
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode() + b"\n", 0)
    return fd


def _release(fd: int | None) -> None:
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)  # a waiter reading now must not take this record for its next holder's
    os.close(fd)  # closing the last descriptor of the open file releases the flock


@contextlib.contextmanager
def hold(outputs: Iterable[str | Path], command: str, stream: IO[str] | None = None) -> Iterator[None]:
    """Hold the exclusive lock of every output in ``outputs`` for the block; ``command`` goes into each lock file's
    record for whoever waits. A second process locking one of them waits (after one line on ``stream``, default
    stderr) until this block ends."""
    stream = stream if stream is not None else sys.stderr
    wanted = sorted({str(lock_path(o)): Path(o) for o in outputs}.items())
    taken: list[str] = []
    try:
        for key, output in wanted:
            if key not in _HELD:
                _HELD[key] = _lock_one(output, Path(key), command, stream)
                taken.append(key)
        yield
    finally:
        for key in reversed(taken):
            _release(_HELD.pop(key))
