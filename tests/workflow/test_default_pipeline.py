"""The README's main command on the embedded default, from a fresh copy: slow (minutes), run on demand with
`pytest -m slow`."""

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
    subprocess.run(["snakemake", "--cores", "8", "all"], cwd=tmp_path, check=True, env=dict(os.environ))
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
