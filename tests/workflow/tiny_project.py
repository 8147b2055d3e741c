"""The tiny configuration the workflow tests run, and a project made from it: a copy of the workflow and the
package (the project's stages run its own copy, through PYTHONPATH), params.yaml with the tiny values, dvc.yaml,
a git repository with DVC initialised, and the complexity stage's output made beforehand at a tiny width (its own
command counts HRNet-W48 at 384x288: 14 s on a quiet 2-core machine, 85 s on a loaded one, and says nothing about
the workflow; the count is tests/models/test_model_complexity's)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]

TINY = {
    "data": {"datasets": ["syn17"]},
    "synthesize": {"image_width": 128, "image_height": 96, "frames_per_video": 10,
                   "videos": {"train": 2, "val": 1, "test": 1}, "min_people": 1, "max_people": 2},
    "crops": {"shard_size": 16},
    "heatmap": {"input_size": [64, 64]},
    "model": {"backbone_width": 4},
    "backbone": {"epochs": 1, "batch_size": 16, "lr_steps": [1], "pretrain_videos": 2},
    "train": {"epochs": 1, "batch_size": 16, "lr_steps": [1], "val_every": 1},
    "runs": {
        "main": {"main_syn17": {"dataset": "syn17"}},
        "ablation": {"ablation_fda": {"dataset": "syn17", "variant": "fda", "alpha": 0.4}},
        "alpha": {"alpha_02": {"dataset": "syn17", "variant": "fasrnet", "alpha": 0.2}},
        # main_syn17's configuration: it trains once (a lock, fasrnet.train), and an edit reruns both
        "seed": {"seed_0": {"dataset": "syn17", "variant": "fasrnet", "alpha": 0.4, "seed": 0}},
    },
}
#: Only the main run: the smallest project with every kind of stage.
MAIN_ONLY = {"main": TINY["runs"]["main"], "ablation": {}, "alpha": {}, "seed": {}}

IMPORTS = ".imports"  # FASRNET_RECORD_IMPORTS: each stage command's fasrnet modules (fasrnet.record)
COPIED = ("Snakefile", "workflow", "fasrnet", ".dvcignore", ".gitignore")


def env(root: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(root), FASRNET_THREADS="1", FASRNET_RECORD_IMPORTS=str(root / IMPORTS),
                GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t",
                DVC_NO_ANALYTICS="1")


def run(cmd: list[str], cwd: Path, **kw) -> str:
    """Run a command in the project; fail the test with its output's tail if it fails."""
    result = subprocess.run(cmd, cwd=cwd, env=env(Path(cwd)), capture_output=True, text=True, **kw)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout + result.stderr


def tiny_params(runs: dict | None = None) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in TINY.items():
        if section != "runs":
            params[section].update(values)
    params["runs"] = TINY["runs"] if runs is None else runs
    return params


def copy_workflow(root: Path, runs: dict | None = None) -> Path:
    """The workflow, the package and the tiny params.yaml in ``root``, with the complexity stage's output made."""
    root.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy(src, root / name)
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params(runs), sort_keys=False))
    make_complexity(root)
    return root


def make_project(root: Path, runs: dict | None = None) -> Path:
    """A committed tiny project in ``root`` (:func:`copy_workflow`, dvc.yaml, git and DVC; nothing run yet but
    the complexity stage, recorded as done)."""
    copy_workflow(root, runs)
    run(["fasrnet", "workflow", "dvc"], root)
    run(["git", "init", "-q", "-b", "main"], root)
    run(["dvc", "init", "-q"], root)
    run(["dvc", "commit", "-q", "-f", "complexity"], root)  # recorded as done: neither tool reruns it
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "tiny project"], root)
    return root


def make_complexity(root: Path) -> None:
    run(["fasrnet", "complexity", "--width", "4", "--input-size", "64", "64", "--out",
         "results/metrics/complexity.json"], root)


@dataclass(frozen=True)
class Shared:
    """The pushed project: ``root`` (clone A; tests may run experiments in it) and ``origin`` (bare git repository;
    the outputs are in the DVC remote A's config names), and as `dvc repro` left them: ``metrics``
    (results/metrics/*.json and results/summary.json: name → bytes) and ``outs`` (:func:`lock_outs`)."""

    root: Path
    origin: Path
    metrics: dict[str, bytes]
    outs: dict[str, str]

    def clone(self, dest: Path) -> Path:
        subprocess.run(["git", "clone", "-q", str(self.origin), str(dest)], check=True, capture_output=True)
        return dest


def lock_outs(root: Path) -> dict[str, str]:
    """Every output dvc.lock records (metrics included): path → MD5 (a directory's: of its listing)."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def metrics_of(root: Path) -> dict[str, bytes]:
    results = root / "results"
    files = [*sorted((results / "metrics").glob("*.json")), results / "summary.json"]
    return {str(p.relative_to(root)): p.read_bytes() for p in files}
