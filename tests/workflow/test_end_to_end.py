"""The user's commands end to end on a tiny configuration, as one story in one project: `snakemake all` hands over
to DVC (`dvc status` clean, `dvc repro` runs nothing); every stage imported only its command's code and the
runner's; a comment or docstring edit reruns nothing in either tool, and a code change exactly what it touches, and
after `dvc repro` Snakemake plans nothing but the stages DVC skipped because their inputs came back with the same
content (docs/workflow.md, "Limits"); `dvc exp run -S
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

from fasrnet.codedeps import CLI_MODULE, NOT_CODE, command_code, files_of, module_closure
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


def test_every_stage_imported_only_its_commands_code_and_the_runners(project):
    records = {p.stem: yaml.safe_load(p.read_text()) for p in (project / IMPORTS).glob("*.json")}
    stages = {i.name.replace("@", "."): i for i in instances(load_params(project / "params.yaml"))}
    assert set(stages) <= set(records) | {"complexity"}  # complexity ran by hand, with other arguments
    # what runs around every command (cli.py: parsing, locks, the record) and the params schema (tracked as values)
    runner = set(files_of(module_closure(CLI_MODULE) | NOT_CODE))
    for name, modules in records.items():
        cmd = stages[name].cmd if name in stages else f"fasrnet {name}"
        code = set(command_code(cmd))
        imported = {f for f in files_of(set(modules)) if f.endswith(".py")}
        assert imported <= code | runner, f"{name} imported {sorted(imported - code - runner)}"
        assert f"fasrnet/commands/{cmd.split()[1].replace('-', '_')}.py" in imported, name  # adapt-backbone


RUNS = [("main", "main_syn17"), ("ablation", "ablation_fda"), ("alpha", "alpha_02"), ("seed", "seed_0")]
TRAIN_CHAIN = {f"{stage}_{group}": 1 for stage in ("train", "predict", "evaluate")
               for group in ("main", "ablation", "alpha", "seed")}


def test_a_comment_or_docstring_edit_reruns_nothing_in_either_tool(project):
    _append(project / "fasrnet" / "models" / "loss.py", "# a comment changes the file's hash and time\n")
    _append(project / "fasrnet" / "cli.py", "# every command runs this file\n")
    params_py = project / "fasrnet" / "params.py"
    params_py.write_text(params_py.read_text().replace('"""Typed, validated', '"""Typed and validated', 1))
    # DVC hashes bytes: only its code stage, which reads the package (0.5 s), sees the edit
    assert _dvc_changed(project) == {"code"}
    assert _planned(project) == {}
    assert _ran(_run(["dvc", "repro"], project)) == {"code"}
    assert _dvc_changed(project) == set() and _planned(project) == {}


def test_a_code_edit_reruns_what_it_touches_in_both_tools(project):
    _append(project / "fasrnet" / "models" / "loss.py", "_CHANGED = 1  # an expression: the trainings' code\n")
    assert _dvc_changed(project) == {"code"}  # until the code stage (or Snakemake) rewrites the digest files
    assert _planned(project) == {**TRAIN_CHAIN, "tables": 1, "all": 1}
    # Snakemake's dry run rewrote them: now dvc status names the trainings too
    assert _dvc_changed(project) == {"code", "train_main@main_syn17", "train_ablation@ablation_fda",
                                     "train_alpha@alpha_02", "train_seed@seed_0"}
    ran = _ran(_run(["dvc", "repro"], project))
    # no prediction changes: DVC skips the evaluations, whose inputs hash as before
    assert ran == {f"{stage}_{group}@{run}" for group, run in RUNS for stage in ("train", "predict")} | {
        "code", "tables"}
    # ... and Snakemake, which goes by dates, reruns them once with the same result (docs/workflow.md, "Limits")
    assert _planned(project) == {f"evaluate_{g}": 1 for g in ("main", "ablation", "alpha", "seed")} | {
        "tables": 1, "all": 1}
    _run(["snakemake", "--cores", "2", "all"], project)
    assert _planned(project) == {} and _dvc_changed(project) == set()

    _append(project / "fasrnet" / "tables" / "figures.py", "_CHANGED = 2\n")
    assert _planned(project) == {"tables": 1, "all": 1}
    assert _dvc_changed(project) == {"code", "tables"}
    assert _ran(_run(["dvc", "repro"], project)) == {"code", "tables"}
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
