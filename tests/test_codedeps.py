"""Code as a stage dependency (fasrnet.codedeps): the import closure of each stage's command module, as small as the
imports allow, and its digest, which ignores what cannot change a result. That each stage's recorded imports lie
inside its closure is checked on real runs in tests/workflow/test_end_to_end.py; what each tool reruns after an
edit, there too."""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fasrnet.codedeps import (
    command_code,
    command_digest,
    digest_text,
    imported_modules,
    source_digest,
    subcommand_modules,
    write_digest,
)
from fasrnet.resume import FINGERPRINT_COMMANDS, code_version
from fasrnet.stages import stage_commands, templates

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def code():
    return {t.name: set(command_code(t.cmd)) for t in templates()}


def _stages_with(code, path):
    return {name for name, files in code.items() if path in files}


def test_the_head_loss_is_code_of_the_trainings_only(code):
    assert _stages_with(code, "fasrnet/models/loss.py") == {"train_main", "train_ablation", "train_alpha",
                                                            "train_seed"}


def test_the_figures_are_code_of_the_tables_only(code):
    assert _stages_with(code, "fasrnet/tables/figures.py") == {"tables"}


def test_a_command_module_is_code_of_its_own_stages_only(code):
    assert _stages_with(code, "fasrnet/commands/train.py") == {"train_main", "train_ablation", "train_alpha",
                                                               "train_seed"}
    assert _stages_with(code, "fasrnet/commands/crops.py") == {"crops"}


def test_torch_free_stages_do_not_depend_on_the_models(code):
    for name in ("acquire", "evaluate_main", "evaluate_backbone"):
        assert not any(f.startswith("fasrnet/models/") for f in code[name]), name


def test_the_runner_and_the_params_schema_are_no_stages_code(code):
    # cli.py runs around every command and decides nothing it writes; the params are tracked as values
    for name, files in code.items():
        module = f"fasrnet/commands/{name if name == 'adapt_backbone' else name.split('_')[0]}.py"
        assert "fasrnet/__init__.py" in files and module in files, name
        assert not {"fasrnet/cli.py", "fasrnet/params.py", "fasrnet/locks.py", "fasrnet/workflow.py"} & files, name
    assert "fasrnet/tables/literature.yaml" in code["tables"]  # named by a string literal in tables/literature.py
    # named in data/download/manifest.py, through `backbone` → `download`
    assert "fasrnet/data/download/manifest.json" in code["backbone"]


def test_dispatching_commands_import_what_they_dispatch_to(code):
    assert {"fasrnet/commands/synthesize.py", "fasrnet/data/synthetic/render.py", "fasrnet/commands/download.py",
            "fasrnet/data/download/command.py"} <= code["acquire"]
    assert {"fasrnet/commands/pretrain_backbone.py", "fasrnet/backbone.py",
            "fasrnet/data/download/manifest.py"} <= code["backbone"]


def test_every_file_named_exists(code):
    for files in code.values():
        assert all((REPO / f).is_file() for f in files)


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
    with pytest.raises(KeyError, match="no subcommand 'trian'.*train"):
        command_code("fasrnet trian --run x")
    with pytest.raises(KeyError, match="no subcommand 'common'"):
        subcommand_modules("common")


# --------------------------------------------------------------------------------------------------------------
# The normal form


def _digest(tmp_path, text, name="m.py"):
    path = tmp_path / name
    path.write_text(text)
    source_digest.cache_clear()
    return source_digest(path)


BASE = '''"""Module doc."""
import math


def f(x: float) -> float:
    """Function doc."""
    return math.sqrt(x) * 2  # why two


class A:
    """Class doc."""

    k = 3
    """An attribute's doc."""
'''


@pytest.mark.parametrize("edit", [
    lambda s: s.replace('"""Module doc."""', '"""Another module doc,\n\nover lines."""'),
    lambda s: s.replace('"""Function doc."""', "'''Changed.'''"),
    lambda s: s.replace("# why two", "# a better reason"),
    lambda s: s + "# a comment at the end\n",
    lambda s: s.replace("return math.sqrt(x) * 2", "return (\n        math.sqrt(x)\n        * 2\n    )"),
    lambda s: s.replace('    """An attribute\'s doc."""\n', ""),
], ids=["module-docstring", "function-docstring", "comment", "trailing-comment", "line-breaks", "attribute-doc"])
def test_what_cannot_change_a_result_keeps_the_digest(tmp_path, edit):
    assert _digest(tmp_path, edit(BASE)) == _digest(tmp_path, BASE)


@pytest.mark.parametrize("edit", [
    lambda s: s.replace("* 2", "* 3"),
    lambda s: s.replace("k = 3", "k = 4"),
    lambda s: s.replace("x: float", "x: int"),  # annotations can act (dataclasses, pydantic)
    lambda s: s.replace("import math", "import math\nimport os"),
    lambda s: s.replace("    return", "    print(x)\n    return"),
], ids=["constant", "class-attribute", "annotation", "import", "statement"])
def test_a_change_to_the_code_changes_the_digest(tmp_path, edit):
    assert _digest(tmp_path, edit(BASE)) != _digest(tmp_path, BASE)


def test_package_data_is_hashed_as_bytes(tmp_path):
    assert _digest(tmp_path, "a: 1\n", "x.yaml") != _digest(tmp_path, "a: 1  # note\n", "x.yaml")


def test_the_resume_fingerprint_uses_the_stage_commands_digest():
    for stage, command in FINGERPRINT_COMMANDS.items():
        assert code_version(stage) == command_digest(command)
    assert set(FINGERPRINT_COMMANDS.values()) - {"pretrain-backbone"} <= set(stage_commands())


def test_a_digest_file_is_rewritten_only_when_the_digest_changes(tmp_path):
    path = write_digest("evaluate", tmp_path)
    os.utime(path, (1000, 1000))
    assert write_digest("evaluate", tmp_path) == path and path.stat().st_mtime == 1000
    record = json.loads(path.read_text())
    assert record["digest"] == command_digest("evaluate") and "fasrnet/commands/evaluate.py" in record["files"]
    path.write_text("{}\n")
    write_digest("evaluate", tmp_path, dated=2000)
    assert json.loads(path.read_text()) == record and path.stat().st_mtime == 2000


# --------------------------------------------------------------------------------------------------------------
# Which stage commands an edit changes (the workflows' behaviour on it is tests/workflow/test_end_to_end.py's)

DIGESTS = ("import json\nfrom fasrnet.codedeps import command_digest\nfrom fasrnet.stages import stage_commands\n"
           "print(json.dumps({c: command_digest(c) for c in stage_commands()}))")


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("copy")
    shutil.copytree(REPO / "fasrnet", root / "fasrnet", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _changed_by(root, file, old, new):
    """The stage commands whose digest changes when ``old`` becomes ``new`` in ``file`` (then put back)."""
    def digests():
        out = subprocess.run([sys.executable, "-c", DIGESTS], cwd=root, env=dict(os.environ, PYTHONPATH=str(root)),
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out)

    path = root / file
    text = path.read_text()
    assert old in text, f"{file} has no {old!r}"
    before = digests()
    path.write_text(text.replace(old, new, 1))
    try:
        after = digests()
    finally:
        path.write_text(text)
    return {c for c in before if before[c] != after[c]}


EDITS = [
    ("fasrnet/cli.py", "import argparse\n", "# a comment\nimport argparse\n", set()),
    ("fasrnet/cli.py", 'help="override one param', 'help="override a param', set()),  # the runner's own help
    ("fasrnet/params.py", '"""Typed, validated', '"""Typed and validated', set()),
    ("fasrnet/models/loss.py", "import torch\n", "import torch  # the loss\n", set()),
    ("fasrnet/commands/train.py", 'help="output directory', 'help="the output directory', {"train"}),
    # what several commands share is code of each that imports it (all but tables: no --dataset, --run, --threads)
    ("fasrnet/commands/common.py", 'help="torch intra-op threads', 'help="torch threads',
     set(stage_commands()) - {"tables"}),
    ("fasrnet/tables/figures.py", "import math\n", "import math\n_UNUSED = 1\n", {"tables"}),
    ("fasrnet/models/loss.py", "import torch\n", "import torch\n_UNUSED = 1\n", {"train"}),
    # a new key in the params schema, in a new section no stage lists: its value is what a stage would see
    ("fasrnet/params.py", "class Params(Section):\n", "class NewParams(Section):\n    knob: int = 1\n\n\n"
     "class Params(Section):\n", set()),
]


@pytest.mark.parametrize("file,old,new,expected", EDITS, ids=[f"{e[0]}:{i}" for i, e in enumerate(EDITS)])
def test_an_edit_changes_exactly_the_stage_commands_whose_code_holds_it(package_copy, file, old, new, expected):
    assert _changed_by(package_copy, file, old, new) == expected


def test_the_committed_digest_files_are_current():
    # DVC's code stage and Snakemake rewrite them; committed, a fresh clone's `dvc status` is clean after `dvc pull`
    stale = [c for c in stage_commands() if (REPO / "workflow" / "code" / f"{c}.json").read_text() != digest_text(c)]
    assert stale == [], f"workflow/code/ is stale for {stale}: run `fasrnet workflow code` and commit it"


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_the_digests_are_the_same_under_other_pythons(version):
    # the GPU workers run another Python than CI: a digest that moved with the interpreter would rerun everything
    found = [shutil.which(f"python{version}"), *map(str, Path.home().glob(f".pyenv/versions/{version}.*/bin/python"))]
    python = next((p for p in found if p and subprocess.run([p, "-c", "import ast"], capture_output=True,
                                                            env=dict(os.environ, PYENV_VERSION=version)).returncode == 0
                   and "pyenv/shims" not in p), None)
    if python is None:
        pytest.skip(f"no python{version} here")
    commands = stage_commands()
    code = ("import json\nfrom fasrnet.codedeps import command_digest\n"
            f"print(json.dumps([command_digest(c) for c in {commands!r}]))")
    out = subprocess.run([python, "-c", code], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [command_digest(c) for c in commands]


def test_a_module_that_does_not_parse_is_one_error_naming_it(package_copy):
    loss = package_copy / "fasrnet" / "models" / "loss.py"
    text = loss.read_text()
    loss.write_text(text + "def broken(:\n")
    try:
        result = subprocess.run([sys.executable, "-m", "fasrnet", "workflow", "code"], cwd=package_copy,
                                env=dict(os.environ, PYTHONPATH=str(package_copy)), capture_output=True, text=True)
    finally:
        loss.write_text(text)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]  # (and a note: no params.yaml)
    line = text.count("\n") + 1
    assert errors == [f"error: fasrnet/models/loss.py:{line}: invalid syntax: no code digest for the stages that run "
                      'it until it parses (docs/workflow.md, "Code is a dependency")'], result.stderr
    assert "Traceback" not in result.stderr


def test_the_parse_cache_gives_what_parsing_gives_and_never_goes_stale(package_copy):
    # the cache (.fasrnet/codedeps.json, by file content) saves a parse per file at every `snakemake` call
    def code(*, cache: str | None = "keep"):
        cache_file = package_copy / ".fasrnet" / "codedeps.json"
        if cache is None:
            cache_file.unlink(missing_ok=True)
        elif cache != "keep":
            cache_file.parent.mkdir(exist_ok=True)
            cache_file.write_text(cache)
        subprocess.run([sys.executable, "-m", "fasrnet", "workflow", "code"], cwd=package_copy, check=True,
                       env=dict(os.environ, PYTHONPATH=str(package_copy)), capture_output=True)
        return {p.stem: p.read_text() for p in (package_copy / "workflow" / "code").glob("*.json")}

    fresh = code(cache=None)
    assert code() == fresh  # from the cache
    assert code(cache="{not json") == fresh and code(cache='{"digest\\u0000x": 1}') == fresh
    loss = package_copy / "fasrnet" / "models" / "loss.py"
    text = loss.read_text()
    loss.write_text(text + "_CHANGED = 1\n")
    try:
        edited = code()
        assert edited["train"] != fresh["train"] and edited["tables"] == fresh["tables"]
        assert code(cache=None) == edited
    finally:
        loss.write_text(text)
