"""The README's main command on the embedded default, from a fresh copy (a git repository, as a clone is): slow
(minutes), run on demand with `pytest -m slow`. Afterwards Snakemake has nothing to do, and DVC neither: the run
recorded its stages in dvc.lock (docs/workflow.md)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_snakemake_all_on_the_embedded_default_writes_every_table(tmp_path):
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t", DVC_NO_ANALYTICS="1")
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "clone"]):
        subprocess.run(cmd, cwd=tmp_path, check=True, env=env)
    subprocess.run(["snakemake", "--cores", "8", "all"], cwd=tmp_path, check=True, env=env)
    tables = (tmp_path / "results" / "tables.md").read_text()
    for k in range(1, 11):
        assert f"## Table {k}." in tables
    assert "not run (missing" not in tables
    assert "## Degraded and clean frames (synthetic sets)" in tables  # evaluate found the sets' episode lists
    for fig in ("per_joint_ap.png", "alpha_curve.png", "training_curves.png", "qualitative.png"):
        assert (tmp_path / "results" / "figures" / fig).stat().st_size > 0
    # Nothing is left to do afterwards.
    again = subprocess.run(["snakemake", "-n", "--cores", "8"], cwd=tmp_path, capture_output=True, text=True)
    assert "Nothing to be done" in again.stdout + again.stderr
    status = subprocess.run(["dvc", "status"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert status.returncode == 0 and "Data and pipelines are up to date." in status.stdout, status.stdout[-3000:]
    repro = subprocess.run(["dvc", "repro"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert repro.returncode == 0 and "Running stage" not in repro.stdout, repro.stdout[-3000:]
