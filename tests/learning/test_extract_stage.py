"""The frozen-backbone feature cache: content, resume after a kill, incomplete caches refused, a new backbone
re-extracts (and retrains), identical runs give identical bytes."""

import json
import os

import numpy as np
import pytest
import torch

from fasrnet import paths
from fasrnet.backbone import load_frozen_backbone
from fasrnet.features import FeatureStore, extract
from fasrnet.inference import normalize
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


def _tree(directory):
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _overwrite(path, offset, data):
    raw = bytearray(path.read_bytes())
    raw[offset:offset + len(data)] = data
    path.write_bytes(bytes(raw))


@pytest.fixture(scope="module")
def sampled_store(workspace, tmp_path_factory):
    """The train feature store built into a directory of its own, with the manifest sampling shards from 4 KiB on
    (as a big store's are; the tiny ones would be hashed whole): the reference each damage test rebuilds to."""
    from fasrnet import resume

    out = tmp_path_factory.mktemp("sampled") / "features"
    with pytest.MonkeyPatch.context() as m:
        m.chdir(workspace)
        m.setattr(resume, "WHOLE_BYTES", 4096)
        m.setattr(resume, "SAMPLE_BYTES", 1024)
        params = load_params("params.yaml")
        extract(paths.crops_dir("syn17", "train"), out, load_frozen_backbone(params), torch.device("cpu"), 16,
                progress=False)
    assert json.loads((out / "manifest.json").read_text())["files"]["shard-00000.feat.npy"]["ends"] == 1024
    return out


DAMAGE = {
    "truncated shard": lambda d: os.truncate(d / "shard-00001.feat.npy", os.path.getsize(d / "store.json")),
    "deleted shard": lambda d: (d / "shard-00001.heatmap.npy").unlink(),
    "deleted done marker": lambda d: (d / "shard-00000.done.json").unlink(),
    "garbled store.json": lambda d: (d / "store.json").write_bytes(b"x" * (d / "store.json").stat().st_size),
    "same size, other bytes in the sampled head": lambda d: _overwrite(d / "shard-00000.feat.npy", 200, b"\x00\x7e"),
    "same size, other bytes in the sampled tail": lambda d: _overwrite(d / "shard-00000.heatmap.npy", -4, b"\x00\x7e"),
    "no manifest (written before manifests)": lambda d: (d / "manifest.json").unlink(),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_feature_store_is_not_up_to_date_and_is_rebuilt_to_identical_bytes(
        in_workspace, sampled_store, tmp_path, monkeypatch, capsys, damage):
    import shutil

    from fasrnet import resume

    monkeypatch.setattr(resume, "WHOLE_BYTES", 4096)
    monkeypatch.setattr(resume, "SAMPLE_BYTES", 1024)
    reference = _tree(sampled_store)
    out = tmp_path / "features"
    shutil.copytree(sampled_store, out)
    args = (paths.crops_dir("syn17", "train"), out, load_frozen_backbone(load_params("params.yaml")),
            torch.device("cpu"), 16)
    assert extract(*args, progress=False)["state"] == "current"
    DAMAGE[damage](out)
    assert _tree(out) != reference
    assert extract(*args, progress=False)["state"] == "fresh"
    assert f"warning: {out}: changed since it was written" in capsys.readouterr().err
    assert _tree(out) == reference and not work_dir_for(out).exists()
    assert extract(*args, progress=False)["state"] == "current"


def test_nan_between_the_sampled_ends_is_an_error_naming_the_shard_and_the_command_that_repairs_it(
        in_workspace, sampled_store, tmp_path, monkeypatch):
    """The documented limit of the sample: a same-size change in the middle of a big shard leaves the store up to
    date; a NaN there is caught where the batch is read, and the error's advice rebuilds it."""
    import shutil

    from fasrnet import resume
    from fasrnet.codecs.heatmap import HeatmapCodec
    from fasrnet.models.fasrnet import build_head
    from fasrnet.predict import predict_store
    from fasrnet.train import CachedBatches

    monkeypatch.setattr(resume, "WHOLE_BYTES", 4096)
    monkeypatch.setattr(resume, "SAMPLE_BYTES", 1024)
    params = load_params("params.yaml")
    ds = tmp_path / "data" / "features" / "syn17"
    out = ds / "train"
    shutil.copytree(sampled_store, out)
    shard = out / "shard-00001.feat.npy"
    middle = shard.stat().st_size // 2 & ~1  # an fp16 value half way through the file
    _overwrite(shard, middle, np.array([np.nan], dtype=np.float16).tobytes())
    args = (paths.crops_dir("syn17", "train"), out, load_frozen_backbone(params), torch.device("cpu"), 16)
    assert extract(*args, progress=False)["state"] == "current"  # not seen by the sample

    store = FeatureStore(out, paths.crops_dir("syn17", "train"))
    message = (rf"{shard}: non-finite values \(NaN or inf\) in field 'feat', item \d+ of the shard; the file is "
               rf"damaged: delete {out} and re-run `fasrnet extract --dataset syn17 --split train`")
    codec = HeatmapCodec.from_params(params.heatmap)
    with pytest.raises(ShardStoreError, match=message):  # what training reads
        CachedBatches(store, codec).batch(np.arange(len(store)), 0)
    head = build_head(params.model, store.reader.fields["feat"].shape[1], "fasrnet")
    with pytest.raises(ShardStoreError, match=message):  # what prediction reads
        predict_store(store, head, codec, torch.device("cpu"), 8)

    shutil.rmtree(out)  # the advice
    assert extract(*args, progress=False)["state"] == "fresh"
    assert _tree(out) == _tree(sampled_store)
