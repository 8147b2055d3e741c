"""Snakemake and DVC on one stage at once never end with success on a broken store (fasrnet/locks.py,
docs/workflow.md): `dvc repro -f -s crops@syn17` starts first; once its command has put a split in place it is
frozen (SIGSTOP), and `snakemake -f data/crops/syn17` starts, deleting the output as it does before a job. Its
command waits for DVC's, naming it, and is frozen in turn, so DVC records its output before Snakemake's command may
repair anything. Whichever tool exits 0 leaves the whole store: DVC's record in dvc.lock is a single run's, and the
store is byte-equal to it. The fast version without the tools: tests/learning/test_concurrent_writers.py
(this one takes half a minute)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from tiny_project import MAIN_ONLY, env, make_project, run  # noqa: E402

STORE = "data/crops/syn17"


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".snakemake_timestamp"}


def _recorded(root: Path) -> dict:
    """What dvc.lock records for the store."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    return lock["stages"]["crops@syn17"]["outs"][0]


def _wait_for(predicate, what: str, procs=(), timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        for proc in procs:
            assert proc.poll() is None, f"{proc.args} ended (rc {proc.returncode}) before {what}"
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def _holder(root: Path) -> int | None:
    try:
        return json.loads((root / "data/crops/.syn17.lock").read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def _other_crops_command(root: Path, holder: int) -> int | None:
    """The pid of a `fasrnet crops` in ``root`` other than ``holder`` (Snakemake's, waiting)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == holder:
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
            here = os.readlink(entry / "cwd") == os.path.realpath(root)
        except OSError:
            continue
        if here and any(w.endswith(b"fasrnet") for w in words[:2]) and b"crops" in words:
            return int(entry.name)
    return None


@pytest.mark.slow
def test_snakemake_and_dvc_on_one_stage_never_succeed_on_a_broken_store(tmp_path):
    root = make_project(tmp_path / "project", runs=MAIN_ONLY)
    run(["fasrnet", "acquire", "--dataset", "syn17"], root)
    run(["dvc", "repro", "-s", "crops@syn17"], root)  # a single run: the reference
    reference, recorded = _tree(root / STORE), _recorded(root)

    procs: list[subprocess.Popen] = []
    frozen: list[int] = []

    def start(cmd, log):
        procs.append(subprocess.Popen(cmd, cwd=root, env=env(root), stdout=(root / log).open("w"),
                                      stderr=subprocess.STDOUT))
        return procs[-1]

    def freeze(pid):
        os.kill(pid, signal.SIGSTOP)
        frozen.append(pid)

    def thaw(pid):
        os.kill(pid, signal.SIGCONT)
        frozen.remove(pid)

    try:
        dvc = start(["dvc", "repro", "-f", "-s", "crops@syn17"], "dvc.out")
        dvc_cmd = _wait_for(lambda: (root / STORE / "train").is_dir() and _holder(root), "DVC's command", [dvc])
        freeze(dvc_cmd)  # holding the lock, one split in place
        smk = start(["snakemake", "--cores", "1", "-f", STORE], "snakemake.out")
        log = root / "logs/crops/syn17.log"
        _wait_for(lambda: log.exists() and "waiting for it to finish" in log.read_text(), "Snakemake's command",
                  [smk])
        smk_cmd = _wait_for(lambda: _other_crops_command(root, dvc_cmd), "Snakemake's command's pid")
        freeze(smk_cmd)  # so DVC records its output before Snakemake's command may touch it
        thaw(dvc_cmd)
        dvc_rc = dvc.wait(timeout=300)
        dvc_recorded = _recorded(root)
        thaw(smk_cmd)
        smk_rc = smk.wait(timeout=300)
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    waited = [line for line in log.read_text().splitlines() if line.startswith("fasrnet: ")]
    assert waited and f"{STORE} is being written by pid {dvc_cmd}" in waited[0], log.read_text()
    assert (root / STORE).is_dir() and not list(root.glob("data/crops/.syn17.partial*"))
    if dvc_rc == 0:  # DVC recorded a single run's store
        assert dvc_recorded == recorded, (root / "dvc.out").read_text()
    if smk_rc == 0 or dvc_rc == 0:
        assert _tree(root / STORE) == reference
    assert dvc_rc == 0 and smk_rc == 0, ((root / "dvc.out").read_text(), (root / "snakemake.out").read_text())
