"""``fasrnet predict`` reads a run's ``head.pt`` as data only (docs/resume.md, "Checkpoints are data"): the pickle
payload a tester planted in ``models/main_syn17/head.pt`` (it used to run, exit 0) is refused in one ``error:``
line naming the file, exit 2, and its file never appears."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def test_a_planted_head_is_refused_by_the_command(tmp_path):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    marker = tmp_path / "pwned"
    head = tmp_path / "models" / "main_syn17" / "head.pt"
    head.parent.mkdir(parents=True)
    torch.save({"run": {"name": "main_syn17"}, "channels": 4, "config": {}, "model": {"w": torch.zeros(2)},
                "extra": Payload(marker)}, head)
    env = dict(os.environ, FASRNET_THREADS="1", PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-m", "fasrnet", "predict", "--run", "main_syn17", "--split", "val"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == (
        "error: models/main_syn17/head.pt: refused: the file holds pickled Python objects (posix.system), and "
        "checkpoints are read as data only (tensors and plain containers, docs/resume.md); delete models/main_syn17 "
        "and re-run `fasrnet train --run main_syn17`\n")
    assert not marker.exists()
