"""backbone.bn: adapt (fasrnet/adapt.py): only BatchNorm buffers change, to the per-batch average of the batch
statistics, deterministically; the stage's output is current on a second run; extraction reads it with
backbone.bn: adapt; the backbone-alone predictions come from the cache when it holds that backbone's outputs and from
the crops otherwise, to the same heatmaps."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fasrnet import paths
from fasrnet.adapt import adapt_batchnorm
from fasrnet.backbone import extraction_backbone, load_frozen_backbone
from fasrnet.cli import main
from fasrnet.data.cropstore import CropIndex
from fasrnet.features import FeatureStore
from fasrnet.inference import BackboneRunner
from fasrnet.params import ParamsError, load_params
from fasrnet.predict import iter_heatmaps, iter_heatmaps_from_crops


def _bns(net):
    return [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]


def test_adapt_changes_only_batchnorm_statistics_to_the_mean_of_the_batch_statistics(in_workspace):
    params = load_params("params.yaml")
    crops = CropIndex.open(paths.crops_dir("syn17", "train"))
    before = load_frozen_backbone(params).state_dict()
    net = load_frozen_backbone(params)
    first = _bns(net)[0]
    batch_means = []
    hook = first.register_forward_pre_hook(lambda m, inp: batch_means.append(inp[0].mean(dim=(0, 2, 3))))
    adapted = adapt_batchnorm(net, crops, torch.device("cpu"), 16, progress=False)
    hook.remove()
    after = adapted.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.rsplit(".", 1)[1] in ("running_mean", "running_var", "num_batches_tracked")
                           for k in changed)
    assert not adapted.training and all(not p.requires_grad for p in adapted.parameters())
    assert all(bn.momentum == first.momentum for bn in _bns(adapted))  # restored after the cumulative average
    # the hand-run reference: PyTorch's cumulative average = the mean over batches of each batch's mean
    assert len(batch_means) == -(-len(crops) // 16)
    torch.testing.assert_close(first.running_mean, torch.stack(batch_means).mean(0), rtol=1e-5, atol=1e-6)
    again = adapt_batchnorm(load_frozen_backbone(params), crops, torch.device("cpu"), 16, progress=False)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in after.items())  # deterministic


def test_train_mode_batchnorm_needs_online_training():
    with pytest.raises(ParamsError, match="train.online_backbone"):
        load_params("params.yaml", ["backbone.bn=train"], required=False)
    assert load_params("params.yaml", ["backbone.bn=train", "train.online_backbone=true"],
                       required=False).backbone.bn == "train"


def test_adapt_stage_then_extraction_and_both_backbone_rows(in_workspace, capsys):
    assert main(["adapt-backbone", "--dataset", "syn17"]) == 0
    out = paths.adapted_backbone_dir("syn17")
    info = json.loads((out / "adapt.json").read_text())
    assert info["crops"] == len(CropIndex.open(paths.crops_dir("syn17", "train"))) and info["split"] == "train"
    assert main(["adapt-backbone", "--dataset", "syn17"]) == 0
    assert "is up to date" in capsys.readouterr().out
    params = load_params("params.yaml")
    plain, weights = extraction_backbone(params, "syn17")
    assert weights == Path(params.backbone.checkpoint)
    adapted, weights = extraction_backbone(load_params("params.yaml", ["backbone.bn=adapt"]), "syn17")
    assert weights == out / "hrnet.pth"
    assert not torch.equal(_bns(plain)[0].running_var, _bns(adapted)[0].running_var)
    # the cache holds the checkpoint's outputs: the adapted control runs on the crops
    assert main(["predict", "--backbone-only", "--adapted", "--dataset", "syn17", "--split", "val"]) == 0
    assert main(["evaluate", "--backbone-only", "--adapted", "--dataset", "syn17"]) == 0
    assert paths.metrics_file(paths.adapted_backbone_run_name("syn17")).is_file()
    assert main(["predict", "--adapted", "--run", "main_syn17", "--split", "val"]) == 2


def test_backbone_heatmaps_from_the_crops_equal_the_caches(in_workspace):
    """The same backbone at the extraction's batch size: the cache's path and the crops' give the same bits."""
    params = load_params("params.yaml")
    store = FeatureStore(paths.features_dir("syn17", "val"), paths.crops_dir("syn17", "val"))
    runner = BackboneRunner(load_frozen_backbone(params), torch.device("cpu"))
    cached = {int(idx[0]): hm for idx, hm in iter_heatmaps(store, None, torch.device("cpu"), 16)}
    fresh = {int(idx[0]): hm for idx, hm in iter_heatmaps_from_crops(store.crops, runner, None, 16)}
    assert cached.keys() == fresh.keys() and len(cached) > 1
    assert all(np.array_equal(cached[k], fresh[k]) for k in cached)
