"""The user's commands end to end on a tiny configuration, as one story in one project: `snakemake all` hands over
to DVC (`dvc status` clean, `dvc repro` runs nothing); every stage imported only the code its deps list; a code
edit reruns exactly what it touches, in both tools, and after `dvc repro` Snakemake plans nothing but the stages
DVC skipped because their inputs came back with the same content (docs/workflow.md, "Limits"); `dvc exp run -S
loss.alpha=0.3` reruns only what alpha touches and Snakemake agrees; a params change made for DVC reaches Snakemake.
The project holds its own copy of the package (PYTHONPATH), so editing its code changes what its stages run.

Kept small because this is the suite's longest test: one epoch per run, one run per group that must not rerun on
an alpha change (ablation, alpha), one seed run that is main_syn17's configuration (it trains once, by reuse, and a
code edit reruns it too: no DAG edge hides its reasons), and the complexity stage's output made beforehand at a tiny
width (tests/workflow/tiny_project.py)."""

import re
import sys
from pathlib import Path

import pytest
import yaml

from fasrnet.codedeps import command_code, files_of
from fasrnet.params import load_params
from fasrnet.stages import instances

sys.path.insert(0, str(Path(__file__).parent))
from tiny_project import IMPORTS, make_project  # noqa: E402
from tiny_project import run as _run


def _ran(output):
    return set(re.findall(r"Running stage '([^']+)'", output))


def _dvc_changed(root):
    """The stages `dvc status` lists as changed."""
    out = _run(["dvc", "status"], root)
    return set(re.findall(r"^(\S+):$", out, re.M))


def _planned(root):
    """Snakemake's dry run: rule → job count (empty when nothing is to be done)."""
    out = _run(["snakemake", "-n", "--cores", "2"], root)
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:")[1].split("Reasons:")[0]
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, re.M) if rule != "total"}


def _append(path, line):
    with open(path, "a") as f:
        f.write(line)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("project"))


def test_snakemake_hands_over_to_dvc(project):
    out = _run(["snakemake", "--cores", "2", "all"], project)
    assert "complexity" not in re.findall(r"^rule (\w+):", out, re.M)
    assert re.search(r"dvc: recorded \d+ stages in dvc.lock", out), out[-3000:]
    assert "Table 10" in (project / "results" / "tables.md").read_text()
    assert _dvc_changed(project) == set()
    assert _ran(_run(["dvc", "repro"], project)) == set()  # nothing reruns
    assert _planned(project) == {}


def test_every_stage_imported_only_the_code_its_deps_list(project):
    records = {p.stem: yaml.safe_load(p.read_text()) for p in (project / IMPORTS).glob("*.json")}
    stages = {i.name.replace("@", "."): i for i in instances(load_params(project / "params.yaml"))}
    assert set(stages) <= set(records) | {"complexity"}  # complexity ran by hand, with other arguments
    for name, modules in records.items():
        cmd = stages[name].cmd if name in stages else f"fasrnet {name}"
        imported = {f for f in files_of(set(modules)) if f.endswith(".py")}
        assert imported <= set(command_code(cmd)), f"{name} imported {sorted(imported - set(command_code(cmd)))}"


RUNS = [("main", "main_syn17"), ("ablation", "ablation_fda"), ("alpha", "alpha_02"), ("seed", "seed_0")]
TRAIN_CHAIN = {f"{stage}_{group}": 1 for stage in ("train", "predict", "evaluate")
               for group in ("main", "ablation", "alpha", "seed")}


def test_a_code_edit_reruns_what_it_touches_in_both_tools(project):
    _append(project / "fasrnet" / "models" / "loss.py", "# a comment changes the file's hash and time\n")
    assert _dvc_changed(project) == {"train_main@main_syn17", "train_ablation@ablation_fda", "train_alpha@alpha_02",
                                     "train_seed@seed_0"}
    assert _planned(project) == {**TRAIN_CHAIN, "tables": 1, "all": 1}
    ran = _ran(_run(["dvc", "repro"], project))
    # a comment changes no prediction: DVC skips the evaluations, whose inputs hash as before
    assert ran == {f"{stage}_{group}@{run}" for group, run in RUNS for stage in ("train", "predict")} | {"tables"}
    # ... and Snakemake, which goes by dates, reruns them once with the same result (docs/workflow.md, "Limits")
    assert _planned(project) == {f"evaluate_{g}": 1 for g in ("main", "ablation", "alpha", "seed")} | {
        "tables": 1, "all": 1}
    _run(["snakemake", "--cores", "2", "all"], project)
    assert _planned(project) == {} and _dvc_changed(project) == set()

    _append(project / "fasrnet" / "tables" / "figures.py", "# another\n")
    assert _dvc_changed(project) == {"tables"}
    assert _planned(project) == {"tables": 1, "all": 1}
    assert _ran(_run(["dvc", "repro"], project)) == {"tables"}
    assert _planned(project) == {}


def test_alpha_experiment_reruns_only_what_alpha_touches_and_snakemake_agrees(project):
    _run(["git", "add", "-A"], project)
    _run(["git", "commit", "-qm", "baseline results"], project)
    exp = _run(["dvc", "exp", "run", "-S", "loss.alpha=0.3"], project)
    assert _ran(exp) == {"train_main@main_syn17", "predict_main@main_syn17", "evaluate_main@main_syn17", "tables"}
    show = _run(["dvc", "exp", "show", "--no-pager", "--csv"], project)
    assert "loss.alpha" in show and "0.3" in show
    assert _planned(project) == {}  # the stages DVC ran dated their own params stamps


def test_snakemake_sees_a_params_change_made_for_dvc(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["loss"]["alpha"] = 0.7  # what `dvc exp run -S loss.alpha=0.7` writes before running
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert _planned(project) == {"train_main": 1, "predict_main": 1, "evaluate_main": 1, "tables": 1, "all": 1}
