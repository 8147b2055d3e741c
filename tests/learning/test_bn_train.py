"""backbone.bn: train (online training, the official code's way): BatchNorm normalises each batch's frames with
their own statistics and its running statistics move as PyTorch's train mode moves them; the drifted backbone is
checkpointed (a stopped run resumes to the same bytes), saved beside the head, and prediction runs it."""

import copy

import numpy as np
import torch

from fasrnet import paths
from fasrnet.backbone import load_frozen_backbone, load_run_backbone
from fasrnet.cli import main
from fasrnet.codecs.heatmap import HeatmapCodec
from fasrnet.features import FeatureStore
from fasrnet.inference import BackboneRunner, normalize
from fasrnet.params import load_params
from fasrnet.predict import (
    iter_heatmaps_from_crops,
    load_head,
    predict_store,
    predicted_videos,
    write_predictions,
)
from fasrnet.runs import resolve_run
from fasrnet.train import OnlineBatches, Trainer

BN_TRAIN = ["train.online_backbone=true", "backbone.bn=train", "train.epochs=2", "train.val_every=0"]


def _bn_buffers(net):
    return {k: v.clone() for k, v in net.state_dict().items() if "running" in k}


def test_running_statistics_move_as_train_mode_batchnorm_moves_them(in_workspace):
    params = load_params("params.yaml", BN_TRAIN)
    store = FeatureStore(paths.features_dir("syn17", "train"), paths.crops_dir("syn17", "train"))
    codec = HeatmapCodec.from_params(params.heatmap)
    source = OnlineBatches(params, "syn17", store, load_frozen_backbone(params), codec, torch.device("cpu"), seed=0,
                           bn_train=True)
    reference = load_frozen_backbone(params).train()  # hand-run: the checkpoint in train mode, momentum as it is
    before = _bn_buffers(reference)
    for idx in (np.array([0, 3, 5]), np.array([1, 2])):
        source.batch(idx, 0)
        views = [source.views[0, int(i)][0] for i in idx]
        frames = torch.from_numpy(np.stack(views)).flatten(0, 1)  # the B x 3 frames of the batch, stacked
        with torch.no_grad():
            reference(normalize(frames))
    got, want = _bn_buffers(source.runner.backbone), _bn_buffers(reference)
    assert any(not torch.equal(want[k], before[k]) for k in want)  # they moved
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-6)
    assert source.runner.backbone.training and all(not p.requires_grad for p in source.runner.backbone.parameters())


def test_a_stopped_bn_train_run_resumes_to_the_same_head_and_backbone(in_workspace, tmp_path):
    params = load_params("params.yaml", BN_TRAIN)
    run = resolve_run(params, "main_syn17")
    Trainer(params, run, out_dir=tmp_path / "whole", progress=False).run()
    Trainer(params, run, out_dir=tmp_path / "stopped", progress=False).run(stop_after_epoch=1)
    Trainer(params, run, out_dir=tmp_path / "stopped", progress=False).run()
    for name in ("head.pt", paths.RUN_BACKBONE):
        a = torch.load(tmp_path / "whole" / name, weights_only=True)
        b = torch.load(tmp_path / "stopped" / name, weights_only=True)
        a, b = a.get("model", a), b.get("model", b)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    drifted = torch.load(tmp_path / "whole" / paths.RUN_BACKBONE, weights_only=True)
    original = load_frozen_backbone(params).state_dict()
    changed = {k for k in original if not torch.equal(original[k], drifted[k])}
    assert changed and all("running" in k or "num_batches" in k for k in changed)  # only BatchNorm's statistics


def test_predict_runs_the_drifted_backbone_on_the_crops(workspace, tmp_path, monkeypatch):
    import shutil

    copy_dir = tmp_path / "ws"  # a copy: the session workspace's main_syn17 stays the cache-trained one
    shutil.copytree(workspace, copy_dir, symlinks=True, ignore=shutil.ignore_patterns("models"))
    shutil.copytree(workspace / "models" / "backbone", copy_dir / "models" / "backbone")
    monkeypatch.chdir(copy_dir)
    over = [x for kv in BN_TRAIN for x in ("-S", kv)]
    assert main([*over, "train", "--run", "main_syn17"]) == 0
    params = load_params("params.yaml", BN_TRAIN)
    drifted = load_run_backbone(params, "main_syn17")
    assert drifted is not None and not drifted.training
    assert main([*over, "predict", "--run", "main_syn17", "--split", "val"]) == 0
    store = FeatureStore(paths.features_dir("syn17", "val"), paths.crops_dir("syn17", "val"))
    head = load_head(params, "main_syn17", torch.device("cpu"))
    codec = HeatmapCodec.from_params(params.heatmap)
    fmt = store.crops.info["format"]

    def files(directory):
        return {f.name: f.read_bytes() for f in sorted(directory.glob("*.json"))}

    written = files(paths.predictions_dir("main_syn17", "val"))
    runner = BackboneRunner(copy.deepcopy(drifted), torch.device("cpu"))
    write_predictions(predicted_videos(store.crops, codec, iter_heatmaps_from_crops(
        store.crops, runner, head, params.train.batch_size)), tmp_path / "drifted", fmt)
    assert written and files(tmp_path / "drifted") == written  # predict ran the drifted backbone
    write_predictions(predict_store(store, head, codec, torch.device("cpu"), params.train.batch_size),
                      tmp_path / "cache", fmt)
    assert files(tmp_path / "cache") != written  # the cache's backbone (the checkpoint's) would have given others
