"""Training on the cache (resume after SIGKILL gives the same weights), online-backbone mode, prediction in the
GT's format, evaluation of a run and of the backbone alone."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from fasrnet import paths
from fasrnet.cli import main
from fasrnet.data.posetrack import read_video
from fasrnet.evaluate import evaluate_dirs
from fasrnet.params import load_params
from fasrnet.resume import work_dir_for
from fasrnet.runs import resolve_run
from fasrnet.train import Trainer


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def _cli(*args, cwd):
    env = dict(os.environ, FASRNET_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "fasrnet", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_sigkilled_run_resumes_to_the_same_bytes(in_workspace, tmp_path):
    params = load_params("params.yaml")
    run = resolve_run(params, "main_syn17")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the CLI runs below: the thread count changes float summation order
    try:
        Trainer(params, run, out_dir=tmp_path / "uninterrupted", progress=False).run()
    finally:
        torch.set_num_threads(threads)
    reference = tmp_path / "uninterrupted"

    out = paths.run_dir("main_syn17")
    work = work_dir_for(out)
    proc = _cli("train", "--run", "main_syn17", cwd=in_workspace)
    ckpt = work / "checkpoint.pt"  # the run trains in its work directory, beside models/main_syn17
    deadline = time.time() + 120
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    done = torch.load(ckpt, weights_only=True)["epoch"]
    assert 1 <= done < params.train.epochs
    assert not out.exists()  # nothing half-done in place of the output
    (work / ".checkpoint.pt.k1ll3d.tmp.pt").write_bytes(b"torn")  # a SIGKILLed atomic write's leftover

    proc = _cli("train", "--run", "main_syn17", cwd=in_workspace)
    log, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, log
    assert "resumed the partial work" in log
    assert not work.exists() and not [p for p in out.parent.rglob("*") if ".tmp" in p.name]
    # Byte-identical to the uninterrupted run: weights, checkpoint, log, run.json (no timings, no temp names).
    for name in ("head.pt", "checkpoint.pt", "train_log.csv", "run.json"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    rows = (out / "train_log.csv").read_text().splitlines()
    assert rows[0] == "epoch,lr,loss,val_map" and len(rows) == 1 + params.train.epochs
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["variant"] == "fasrnet" and run_json["alpha"] == params.loss.alpha

    proc = _cli("train", "--run", "main_syn17", cwd=in_workspace)
    log, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "is up to date" in log, log


def test_changed_config_does_not_resume_an_old_checkpoint(in_workspace, tmp_path):
    params = load_params("params.yaml")
    Trainer(params, resolve_run(params, "main_syn17"), out_dir=tmp_path, progress=False).run(stop_after_epoch=1)
    other = load_params("params.yaml", ["loss.alpha=0.7"])
    result = Trainer(other, resolve_run(other, "main_syn17"), out_dir=tmp_path, progress=False).run()
    assert result["state"] == "fresh"  # started over, not continued from epoch 1
    assert [h["epoch"] for h in result["history"]] == [1, 2, 3]


def test_unreadable_checkpoint_is_reported_and_the_run_starts_over(in_workspace, tmp_path, capsys):
    params = load_params("params.yaml", ["train.val_every=0"])
    run = resolve_run(params, "main_syn17")
    trainer = Trainer(params, run, out_dir=tmp_path / "run", progress=False)
    trainer.run(stop_after_epoch=1)
    trainer.checkpoint_path.write_bytes(b"PK\x03\x04 garbage")
    capsys.readouterr()
    result = Trainer(params, run, out_dir=tmp_path / "run", progress=False).run()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(trainer.checkpoint_path) in err[0] and "starting the run over" in err[0], err
    assert result["state"] == "resume" and (tmp_path / "run" / "head.pt").exists()


@pytest.mark.parametrize("damage", ["garbage", "missing keys"])
def test_corrupt_head_is_one_error_line_naming_the_file(in_workspace, tmp_path, monkeypatch, capsys, damage):
    import shutil

    (tmp_path / "data").mkdir()
    for sub in ("raw", "crops", "features"):
        (tmp_path / "data" / sub).symlink_to(in_workspace / "data" / sub)
    shutil.copy(in_workspace / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    head = tmp_path / "models" / "main_syn17" / "head.pt"
    head.parent.mkdir(parents=True)
    if damage == "garbage":
        head.write_bytes(b"not a checkpoint")
    else:
        torch.save({"model": {}}, head)
    assert main(["predict", "--run", "main_syn17", "--split", "val"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: models/main_syn17/head.pt: "), err
    assert "corrupt" in err[0] or "not a readable PyTorch checkpoint" in err[0], err


def test_online_backbone_mode_trains_with_the_same_code(in_workspace, tmp_path):
    params = load_params("params.yaml", ["train.online_backbone=true", "train.epochs=1", "train.val_every=0"])
    result = Trainer(params, resolve_run(params, "ablation_fda"), out_dir=tmp_path, progress=False).run()
    assert np.isfinite(result["history"][0]["loss"])


def test_predict_writes_gt_format_and_evaluates(in_workspace, capsys):
    params = load_params("params.yaml")
    if not (paths.run_dir("main_syn17") / "head.pt").exists():
        Trainer(params, resolve_run(params, "main_syn17"), progress=False).run()
    assert main(["predict", "--run", "main_syn17", "--split", "val"]) == 0
    assert main(["predict", "--backbone-only", "--dataset", "syn17", "--split", "val"]) == 0
    assert main(["predict", "--run", "main_syn17", "--split", "test"]) == 0
    gt_dir = paths.annotations_dir(params, "syn17", "val")
    for run in ("main_syn17", paths.backbone_run_name("syn17")):
        pred_dir = paths.predictions_dir(run, "val")
        for gt_file in sorted(gt_dir.glob("*.json")):
            raw = json.loads((pred_dir / gt_file.name).read_text())
            assert "annolist" in raw  # syn17 is in the 2017 format, and so are its predictions
            assert len(read_video(pred_dir / gt_file.name).frames) == len(read_video(gt_file).frames)
        result = evaluate_dirs(gt_dir, pred_dir)
        assert 0.0 <= result.total <= 100.0 and result.n_eval_frames > 0
    # The test split has no GT; its predictions are still one file per video, every frame written.
    test_gt = paths.annotations_dir(params, "syn17", "test")
    for f in test_gt.glob("*.json"):
        assert len(read_video(paths.predictions_dir("main_syn17", "test") / f.name).frames) == \
            len(read_video(f).frames)
    assert main(["evaluate", "--gt", str(gt_dir), "--pred", str(paths.predictions_dir("main_syn17", "val")),
                 "--out", "results/metrics/main_syn17.json"]) == 0
    assert "Total" in capsys.readouterr().out


def test_unknown_run_and_missing_head_are_clear_errors(in_workspace, capsys):
    assert main(["train", "--run", "main_syn99"]) == 2
    err = capsys.readouterr().err
    assert "unknown run 'main_syn99'; did you mean main_syn17?" in err and "ablation_fda" in err
    assert main(["predict", "--run", "ablation_fda", "--split", "val"]) == 2
    assert "fasrnet train --run ablation_fda" in capsys.readouterr().err


def test_cosine_schedule_decays_every_step_and_resumes_to_the_same_weights(in_workspace, tmp_path):
    params = load_params("params.yaml", ["train.lr_schedule=cosine", "train.epochs=3", "train.lr_factor=0.01"])
    run = resolve_run(params, "main_syn17")
    full = Trainer(params, run, out_dir=tmp_path / "full", progress=False).run()
    lrs = [h["lr"] for h in full["history"]]
    assert lrs[0] == params.train.lr and lrs[0] > lrs[1] > lrs[2] > params.train.lr * params.train.lr_factor
    ckpt = torch.load(tmp_path / "full" / "head.pt", weights_only=True)
    assert ckpt["config"]["train"]["lr_schedule"] == "cosine"
    # stopped after epoch 1 and resumed: the scheduler's per-step state travels in the checkpoint
    Trainer(params, run, out_dir=tmp_path / "split", progress=False).run(stop_after_epoch=1)
    Trainer(params, run, out_dir=tmp_path / "split", progress=False).run()
    a, b = _weights(tmp_path / "full" / "head.pt"), _weights(tmp_path / "split" / "head.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_validated_run_keeps_its_best_epoch_and_both_are_scored(workspace, tmp_path, monkeypatch):
    """train.val_every: head_best.pt holds the epoch with the highest val mAP (ties: the later one); predict writes
    its predictions beside the final head's and evaluate scores both."""
    import shutil

    copy = tmp_path / "ws"  # a copy: the other tests expect the session workspace's runs as they are
    shutil.copytree(workspace, copy, symlinks=True, ignore=shutil.ignore_patterns("models"))
    shutil.copytree(workspace / "models" / "backbone", copy / "models" / "backbone")
    monkeypatch.chdir(copy)
    over = ["-S", "train.epochs=3", "-S", "train.val_every=1", "-S", "train.lr_schedule=step"]
    assert main([*over, "train", "--run", "main_syn17"]) == 0
    run_dir = paths.run_dir("main_syn17")
    history = [float(v) for v in
               [line.split(",")[3] for line in (run_dir / "train_log.csv").read_text().splitlines()[1:]]]
    assert len(history) == 3
    best = torch.load(run_dir / paths.BEST_HEAD, map_location="cpu", weights_only=True)
    want = max(k for k in range(3) if history[k] == max(history)) + 1
    assert best["epoch"] == want and best["val_map"] == max(history)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["best_epoch"] == want and info["best_val_map"] == max(history)
    if want < 3:  # a best epoch before the last: other weights than the final head's
        assert any(not torch.equal(v, _weights(run_dir / "head.pt")[k]) for k, v in best["model"].items())
    assert main([*over, "predict", "--run", "main_syn17", "--split", "val"]) == 0
    assert paths.predictions_dir("main_syn17", "val_best").is_dir()
    assert json.loads(paths.best_record("main_syn17").read_text())["epoch"] == want
    assert main([*over, "evaluate", "--run", "main_syn17"]) == 0
    metrics = json.loads(paths.metrics_file("main_syn17").read_text())
    assert metrics["best_epoch"]["epoch"] == want
    # validation scored the best epoch's head on val exactly as evaluate does
    assert abs(metrics["best_epoch"]["columns"]["Total"] - max(history)) < 1e-4
    assert abs(metrics["columns"]["Total"] - history[-1]) < 1e-4
