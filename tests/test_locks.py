"""Output locks (fasrnet/locks.py, docs/resume.md): a second writer of an output waits, after one line naming the
holder, until the holder is done; a SIGKILLed holder leaves no stale lock; the lock file lies beside the output,
so deleting the output does not delete it."""

import io
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from fasrnet.locks import hold, lock_path

HOLDER = """
import sys
from fasrnet.locks import hold
with hold([sys.argv[1]], command="fasrnet extract --dataset syn17"):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes stdin (or kills this process)
"""


@pytest.fixture
def holder(tmp_path):
    """``holder(output)``: a process holding ``output``'s lock until its stdin is closed."""
    procs = []

    def start(output):
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(output)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline() == "held\n"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def _lock_in_thread(output):
    """Take ``output``'s lock in a thread (released at once); the thread, an event set once it had it, its stream."""
    stream, got = io.StringIO(), threading.Event()

    def take():
        with hold([output], command="second", stream=stream):
            got.set()

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    return thread, got, stream


def test_a_second_writer_waits_naming_the_holder_then_proceeds(tmp_path, holder):
    out = tmp_path / "data" / "features" / "syn17"
    first = holder(out)
    thread, got, stream = _lock_in_thread(out)
    assert not got.wait(0.5), "the second writer did not wait"
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert str(out) in lines[0] and f"pid {first.pid} on {socket.gethostname()}" in lines[0]
    assert "fasrnet extract --dataset syn17" in lines[0] and "since " in lines[0]
    first.stdin.close()  # the holder finishes
    assert got.wait(10) and first.wait(10) == 0
    thread.join(5)
    assert len(stream.getvalue().splitlines()) == 1  # one line, not one per retry


def test_a_killed_holder_leaves_no_stale_lock(tmp_path, holder):
    out = tmp_path / "models" / "main_syn17"
    first = holder(out)
    first.send_signal(signal.SIGKILL)
    first.wait()
    thread, got, stream = _lock_in_thread(out)
    assert got.wait(10)
    thread.join(5)
    assert stream.getvalue() == ""  # nobody held it: no waiting, no line


def test_the_lock_file_lies_beside_the_output_and_survives_its_deletion(tmp_path, holder, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "data" / "crops" / "syn17"
    assert lock_path("data/crops/syn17") == lock_path(out) == (tmp_path / "data/crops/.syn17.lock").resolve()
    (tmp_path / "elsewhere").symlink_to(tmp_path / "data")
    assert lock_path("elsewhere/crops/./syn17") == lock_path(out)  # every spelling meets at one file
    first = holder(out)
    out.mkdir()
    (out / "store.json").write_text("{}")
    shutil.rmtree(out)  # what DVC and Snakemake do to a stage's output before they run it
    thread, got, _ = _lock_in_thread(out)
    assert not got.wait(0.3), "deleting the output released the lock"
    first.stdin.close()
    assert got.wait(10)
    thread.join(5)


def test_a_process_holding_a_lock_takes_it_again_without_waiting(tmp_path):
    out = tmp_path / "results" / "tables.md"
    stream = io.StringIO()
    start = time.monotonic()
    with hold([out, tmp_path / "results" / "figures"], command="outer", stream=stream):
        with hold([out], command="inner", stream=stream):
            pass
    assert stream.getvalue() == "" and time.monotonic() - start < 5
