"""The frozen-backbone feature cache: content, resume after a kill, incomplete caches refused, a new backbone
re-extracts (and retrains), identical runs give identical bytes."""

import numpy as np
import pytest
import torch

from fasrnet import paths
from fasrnet.backbone import load_frozen_backbone
from fasrnet.features import FeatureStore, extract, normalize
from fasrnet.models.hrnet import build_hrnet
from fasrnet.params import load_params
from fasrnet.resume import stage_params, work_dir_for
from fasrnet.shards import ShardStoreError


def _files(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_cache_holds_backbone_outputs_of_all_three_frames(in_workspace):
    params = load_params("params.yaml")
    store = FeatureStore(paths.features_dir("syn17", "val"), paths.crops_dir("syn17", "val"))
    backbone = load_frozen_backbone(params)
    i = len(store) - 1
    images = torch.from_numpy(store.crops.images.get("images", i).copy())
    with torch.no_grad():
        feat, hm = backbone(normalize(images))
    assert store.reader.get("feat", i).dtype == np.float16
    assert np.allclose(store.reader.get("feat", i), feat.numpy(), atol=2e-2, rtol=1e-2)
    assert np.allclose(store.reader.get("heatmap", i), hm.numpy(), atol=2e-3, rtol=1e-2)


def test_killed_extract_resumes_in_its_work_dir_to_identical_bytes(in_workspace, tmp_path, shard_writes_fail_from):
    params = load_params("params.yaml")
    backbone = load_frozen_backbone(params)
    crops = paths.crops_dir("syn17", "train")
    out = tmp_path / "features"
    first = extract(crops, out, backbone, torch.device("cpu"), 16, progress=False)
    assert first["state"] == "fresh"
    reference = _files(out)
    again = tmp_path / "again"
    with shard_writes_fail_from(1):
        with pytest.raises(RuntimeError, match="injected"):
            extract(crops, again, backbone, torch.device("cpu"), 16, progress=False)
    work = work_dir_for(again)
    assert not again.exists() and (work / "shard-00000.done.json").exists()
    (work / "shard-00001.feat.npy").write_bytes(b"torn")  # a kill during shard 1: arrays half there, no marker
    (work / ".features.json.x1y2.tmp.json").write_text("{")  # and a killed atomic write's temp file
    stats = extract(crops, again, backbone, torch.device("cpu"), 16, progress=False)
    assert stats["state"] == "resume" and stats["extracted_now"] == first["crops"] - 8  # only shards 1.. redone
    assert _files(again) == reference and not work.exists()  # features.json included: no timings in it
    assert extract(crops, again, backbone, torch.device("cpu"), 16, progress=False)["state"] == "current"


def test_incomplete_cache_is_refused(in_workspace, tmp_path):
    (tmp_path / "store.json").write_text("{}")
    with pytest.raises(ShardStoreError, match="feature cache missing or incomplete"):
        FeatureStore(tmp_path, paths.crops_dir("syn17", "train"))


def _other_backbone(params):
    torch.manual_seed(123)
    return build_hrnet(params.model.backbone_width, arch=params.model.backbone_arch).eval().requires_grad_(False)


def test_another_backbone_re_extracts_and_train_starts_over(workspace, tmp_path, monkeypatch):
    import shutil

    from fasrnet.runs import resolve_run

    from fasrnet.train import Trainer

    for sub in ("data/raw", "data/crops", "models/backbone"):
        (tmp_path / sub).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / sub).symlink_to(workspace / sub)
    shutil.copytree(workspace / "data/features", tmp_path / "data/features")
    shutil.copy(workspace / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    params = load_params("params.yaml", ["train.val_every=0"])
    run = resolve_run(params, "main_syn17")
    out = tmp_path / "models" / "main_syn17"
    Trainer(params, run, out_dir=out, progress=False).run(stop_after_epoch=1)
    assert (work_dir_for(out) / "checkpoint.pt").exists()

    other = _other_backbone(params)
    target = paths.features_dir("syn17", "train")
    args = dict(progress=False, stamp=stage_params(params, "extract"), stage_out=paths.FEATURES / "syn17")
    stats = extract(paths.crops_dir("syn17", "train"), target, other, torch.device("cpu"), 16, **args)
    assert stats["state"] == "fresh" and stats["extracted_now"] == stats["crops"]
    store = FeatureStore(target, paths.crops_dir("syn17", "train"))
    images = torch.from_numpy(store.crops.images.get("images", 0).copy())
    with torch.no_grad():
        feat, _ = other(normalize(images))
    assert np.allclose(store.reader.get("feat", 0), feat.numpy(), atol=2e-2, rtol=1e-2)  # the new backbone's

    result = Trainer(params, run, out_dir=out, progress=False).run()
    assert result["state"] == "fresh"  # the epoch-1 checkpoint over the old features was not resumed
    assert Trainer(params, run, out_dir=out, progress=False).run()["state"] == "current"
