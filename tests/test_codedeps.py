"""Code as a stage dependency (fasrnet.codedeps): the static import closure of each stage's command, as small as
the imports allow. That each stage's recorded imports lie inside it is checked on real runs in
tests/workflow/test_end_to_end.py."""

import ast
from pathlib import Path

import pytest

from fasrnet.codedeps import command_code, handlers, imported_modules
from fasrnet.stages import templates

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def code():
    return {t.name: set(command_code(t.cmd)) for t in templates()}


def _stages_with(code, path):
    return {name for name, files in code.items() if path in files}


def test_the_head_loss_reruns_the_trainings_only(code):
    assert _stages_with(code, "fasrnet/models/loss.py") == {"train_main", "train_ablation", "train_alpha",
                                                            "train_seed"}


def test_the_figures_rerun_the_tables_only(code):
    assert _stages_with(code, "fasrnet/tables/figures.py") == {"tables"}


def test_torch_free_stages_do_not_depend_on_the_models(code):
    for name in ("acquire", "evaluate_main", "evaluate_backbone"):
        assert not any(f.startswith("fasrnet/models/") for f in code[name]), name


def test_every_stage_runs_the_cli_its_record_and_its_package_data(code):
    for name, files in code.items():
        assert {"fasrnet/__init__.py", "fasrnet/cli.py", "fasrnet/record.py", "fasrnet/params.py"} <= files, name
    assert "fasrnet/tables/literature.yaml" in code["tables"]  # named by a string literal in tables/literature.py
    # named in data/download/manifest.py, through `backbone` → `download`
    assert "fasrnet/data/download/manifest.json" in code["backbone"]


def test_dispatching_stages_include_what_they_dispatch_to(code):
    # acquire runs `synthesize` or `download` through main_with; backbone `pretrain-backbone` or `download`
    assert {"fasrnet/data/synthetic/__init__.py", "fasrnet/data/synthetic/render.py",
            "fasrnet/data/download/command.py"} <= code["acquire"]
    assert {"fasrnet/backbone.py", "fasrnet/data/download/manifest.py"} <= code["backbone"]
    assert handlers()["acquire"] == "_acquire" and handlers()["pretrain-backbone"] == "_pretrain_backbone"


def test_every_file_named_exists_and_the_workflow_tools_are_not_stage_code(code):
    for files in code.values():
        assert all((REPO / f).is_file() for f in files)
        # the wiring itself (dvc.yaml's generator, Snakemake's hand-over) runs in no stage's command
        assert not {"fasrnet/codedeps.py", "fasrnet/workflow.py"} & files


def test_imports_inside_functions_count_and_type_checking_ones_do_not():
    tree = ast.parse("from __future__ import annotations\n"
                     "from typing import TYPE_CHECKING\n"
                     "if TYPE_CHECKING:\n    from fasrnet.train import Trainer\n"
                     "def f():\n    from fasrnet.codecs import heatmap\n    import fasrnet.tables.document\n"
                     "from . import paths\n")
    assert imported_modules(tree, "fasrnet.predict") == {
        "fasrnet", "fasrnet.codecs", "fasrnet.codecs.heatmap", "fasrnet.tables", "fasrnet.tables.document",
        "fasrnet.paths"}


def test_an_unknown_subcommand_is_named():
    with pytest.raises(KeyError, match="no subcommand 'trian'"):
        command_code("fasrnet trian --run x")


def test_dvc_yaml_lists_each_stages_code(code):
    import yaml

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for t in templates():  # the shipped params.yaml has items for every template
        body = stages[t.name].get("do", stages[t.name])
        assert {d for d in body["deps"] if d.startswith("fasrnet/")} == code[t.name], t.name
