"""Stage items on the command line: names or DVC stage names (``"$DVC_STAGE"``), and evaluate's pipeline paths."""

import pytest

from fasrnet.cli import main
from fasrnet.commands.common import stage_item


@pytest.mark.parametrize(("value", "item"), [
    ("main_syn17", "main_syn17"), ("train_main@main_syn17", "main_syn17"), ("crops@syn17", "syn17"),
    ("sub/dvc.yaml:evaluate_backbone@syn18", "syn18"),
])
def test_stage_item_takes_the_name_after_the_last_at(value, item):
    assert stage_item(value) == item


@pytest.mark.parametrize(("argv", "message"), [
    (["evaluate"], "evaluate: give --gt DIR --pred DIR, or --run NAME, or --backbone-only --dataset NAME"),
    (["evaluate", "--run", "evaluate_main@main_sin17"], "unknown run 'main_sin17'; did you mean main_syn17?"),
    (["evaluate", "--backbone-only"], "evaluate: --backbone-only needs --dataset NAME (and no --run)"),
    (["evaluate", "--backbone-only", "--dataset", "posetrack17"], "--dataset posetrack17: not in data.datasets"),
    (["evaluate", "--run", "main_syn17", "--gt", "x"], "evaluate: --run/--backbone-only pick --gt and --pred"),
])
def test_evaluate_pipeline_arguments_are_checked(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len([line for line in err if line.startswith("error:")]) == 1
    assert message in err[-1]


@pytest.mark.parametrize(("argv", "gt", "pred", "out"), [
    (["--run", "evaluate_main@main_syn18"], "data/raw/syn18/annotations/val", "results/predictions/main_syn18/val",
     "results/metrics/main_syn18.json"),
    (["--backbone-only", "--dataset", "evaluate_backbone@syn17"], "data/raw/syn17/annotations/val",
     "results/predictions/backbone_syn17/val", "results/metrics/backbone_syn17.json"),
])
def test_evaluate_stage_reads_the_pipeline_layout(argv, gt, pred, out, tmp_path, monkeypatch):
    # The paths the registry's evaluate stages declare as deps and metrics
    import fasrnet.evaluate.command

    seen = {}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(fasrnet.evaluate.command, "run", lambda args: seen.update(vars(args)) or 0)
    assert main(["evaluate", *argv]) == 0
    assert (str(seen["gt"]), str(seen["pred"]), str(seen["out"])) == (gt, pred, out)
