"""The outputs a command locks (fasrnet.cli.outputs_of, docs/resume.md): every registry stage's outputs, however the
command names its item; names params.yaml does not define make no lock file."""

import shlex
import shutil
from pathlib import Path

from fasrnet.cli import build_parser, main, outputs_of
from fasrnet.params import load_params
from fasrnet.stages import instances

REPO = Path(__file__).resolve().parents[1]


def _outputs(argv, params):
    return {Path(p) for p in outputs_of(build_parser().parse_args(argv), params)}


def test_every_registry_stage_locks_its_outputs_as_typed_and_as_dvc_passes_it():
    params = load_params(REPO / "params.yaml")
    for inst in instances(params):
        argv = shlex.split(inst.cmd)[1:]
        registry = {Path(p) for p in (*inst.outs, *inst.metrics)}
        assert registry and registry <= _outputs(argv, params), inst.name
        if inst.item is not None:  # dvc.yaml's form: the stage name in place of the item
            dvc = [inst.name if word == inst.item else word for word in argv]
            assert _outputs(dvc, params) == _outputs(argv, params), inst.name


def test_outputs_follow_out_options_and_params_overrides():
    params = load_params(REPO / "params.yaml", ["data.root=elsewhere"])
    assert _outputs(["acquire", "--dataset", "syn17"], params) == {Path("elsewhere/syn17")}
    assert _outputs(["train", "--run", "main_syn17", "--out", "tmp/run"], params) == {Path("tmp/run")}
    assert _outputs(["crops", "--dataset", "syn17", "--split", "val", "--out", "x/val"], params) == {Path("x/val")}
    assert _outputs(["params", "show"], params) == set()


def test_an_unknown_name_is_refused_before_any_lock_file_is_made(tmp_path, monkeypatch, capsys):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    assert main(["crops", "--dataset", "nope"]) == 2
    assert main(["train", "--run", "nope"]) == 2
    assert capsys.readouterr().err.count("error: ") == 2
    assert not list(tmp_path.rglob("*.lock"))
