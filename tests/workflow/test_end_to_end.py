"""The user's commands end to end on a tiny configuration: `dvc repro`, a no-op repro, `dvc exp run -S
loss.alpha=0.3` (only what alpha touches reruns), and Snakemake seeing that params change too.

Kept small because this is the suite's longest test: one epoch per run, one run per group that must not rerun
(ablation, alpha; the seed group's DVC wiring is the same template as theirs, and test_wiring checks every
group's params lists against the registry), and the complexity stage's output made at a tiny width and committed
beforehand: its own command counts HRNet-W48 at 384x288 (14 s on a quiet 2-core machine against 7 s at the tiny
width, 85 s on a loaded one), which says nothing about DVC (the count is tests/models/test_model_complexity's)."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
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
        "seed": {},
    },
}


def _run(cmd, cwd, **kw):
    env = dict(os.environ, FASRNET_THREADS="1", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t", DVC_NO_ANALYTICS="1")
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, **kw)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout + result.stderr


def _ran(output):
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    for name in ("Snakefile", "workflow", ".dvcignore", ".gitignore"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name)
        elif src.exists():
            shutil.copy(src, root / name)
    defaults = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in TINY.items():
        if section == "runs":
            defaults["runs"] = values
        else:
            defaults[section].update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(defaults, sort_keys=False))
    _run(["fasrnet", "workflow", "dvc"], root)
    _run(["git", "init", "-q"], root)
    _run(["dvc", "init", "-q"], root)
    _run(["fasrnet", "complexity", "--width", "4", "--input-size", "64", "64", "--out",
          "results/metrics/complexity.json"], root)
    _run(["dvc", "commit", "-q", "-f", "complexity"], root)  # recorded as done: `dvc repro` skips it
    _run(["git", "add", "-A"], root)
    _run(["git", "commit", "-qm", "tiny project"], root)
    return root


def test_dvc_repro_then_alpha_experiment_reruns_only_what_alpha_touches(project):
    first = _run(["dvc", "repro"], project)
    assert "train_main@main_syn17" in _ran(first) and "tables" in _ran(first)
    assert "complexity" not in _ran(first)
    tables = (project / "results" / "tables.md").read_text()
    assert "Table 10" in tables

    assert _ran(_run(["dvc", "repro"], project)) == set()  # a no-op repro runs nothing

    _run(["git", "add", "-A"], project)
    _run(["git", "commit", "-qm", "baseline results"], project)
    exp = _run(["dvc", "exp", "run", "-S", "loss.alpha=0.3"], project)
    assert _ran(exp) == {"train_main@main_syn17", "predict_main@main_syn17", "evaluate_main@main_syn17", "tables"}
    show = _run(["dvc", "exp", "show", "--no-pager", "--csv"], project)
    assert "loss.alpha" in show and "0.3" in show


def test_snakemake_sees_a_params_change_made_for_dvc(project):
    before = _run(["snakemake", "-n", "--cores", "2"], project)
    assert "Nothing to be done" in before, before[-3000:]
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["loss"]["alpha"] = 0.7  # what `dvc exp run -S loss.alpha=0.7` writes before running
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    after = _run(["snakemake", "-n", "--cores", "2"], project)
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", after.split("Job stats:")[1], re.M))
    assert jobs == {"train": "1", "predict": "1", "evaluate": "1", "tables": "1", "all": "1", "total": "5"}, after
