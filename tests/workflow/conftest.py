"""Session-wide for the workflow tests: one tiny project run once with `dvc repro`, committed, pushed to a bare git
origin and its outputs to a local-directory DVC remote (tests/workflow/test_dvc_remote.py clones it;
tests/workflow/test_slurm.py runs the same configuration through SLURM and compares the metrics)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tiny_project import MAIN_ONLY, Shared, lock_outs, make_project, metrics_of, run  # noqa: E402


@pytest.fixture(scope="session")
def shared_project(tmp_path_factory) -> Shared:
    base = tmp_path_factory.mktemp("shared")
    origin, remote = base / "origin.git", base / "dvc-remote"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    root = make_project(base / "a", runs=MAIN_ONLY)
    run(["git", "remote", "add", "origin", str(origin)], root)
    run(["dvc", "remote", "add", "-d", "storage", str(remote)], root)
    run(["dvc", "repro"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "results"], root)
    run(["dvc", "push"], root)
    run(["git", "push", "-q", "origin", "main"], root)
    return Shared(root, origin, metrics_of(root), lock_outs(root))
