"""One writer per output (fasrnet/locks.py, docs/resume.md): two `fasrnet crops` started on one output, the second
while the first is writing (frozen there by SIGSTOP, so the order is certain), both succeed; the second waits,
naming the first, and then finds the store up to date; the store is whole and byte-equal to a single run's. Before
the second starts, its output is deleted, as DVC and Snakemake delete a stage's outputs before they run it: the
first, which had put a split in place already, must not succeed without it. The same with the real tools:
tests/workflow/test_concurrent_tools.py."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _wait_for(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _holder_pid(lock: Path) -> int | None:
    try:
        return json.loads(lock.read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def test_two_crops_on_one_output_write_one_whole_store(workspace, tmp_path):
    shutil.copy(workspace / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "raw").symlink_to(workspace / "data" / "raw")
    cmd = [sys.executable, "-m", "fasrnet", "crops", "--dataset", "syn17"]
    logs = [tmp_path / "first.err", tmp_path / "second.err"]

    def start(log):
        return subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)

    first = start(logs[0])
    second = None
    try:
        # the lock beside the output names its holder once taken (before the holder looks at its output)
        _wait_for(lambda: _holder_pid(tmp_path / "data/crops/.syn17.lock") == first.pid
                  and (tmp_path / "data/crops/syn17/train").is_dir(), "the first to lock and put a split in place")
        os.kill(first.pid, signal.SIGSTOP)  # the first is now stopped in the middle of its work
        shutil.rmtree(tmp_path / "data/crops/syn17")  # what the second's tool does before it starts the second
        second = start(logs[1])
        _wait_for(lambda: "waiting for it to finish" in logs[1].read_text(), "the second to wait")
        time.sleep(0.5)
        assert second.poll() is None, "the second writer did not wait for the first"
        os.kill(first.pid, signal.SIGCONT)
        out_first, _ = first.communicate(timeout=120)
        out_second, _ = second.communicate(timeout=120)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
    waited = logs[1].read_text().splitlines()
    assert first.returncode == 0 and second.returncode == 0, (logs[0].read_text(), waited)
    assert len(waited) == 1 and f"data/crops/syn17 is being written by pid {first.pid}" in waited[0], waited
    assert "fasrnet crops --dataset syn17" in waited[0]
    # train, val, test: the first left a whole store (it made train again after the deletion), and the second,
    # waiting, never touched the first's work directory
    assert out_second.count("is up to date") == 3, out_second
    assert _tree(tmp_path / "data/crops/syn17") == _tree(workspace / "data/crops/syn17")
    assert not (tmp_path / "data/crops/.syn17.partial").exists()
