"""The frozen-backbone feature cache: content, resume after a kill, incomplete caches refused."""

import numpy as np
import pytest
import torch

from fasrnet import paths
from fasrnet.backbone import load_frozen_backbone
from fasrnet.features import FeatureStore, extract, normalize
from fasrnet.params import load_params
from fasrnet.shards import ShardStoreError


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


def test_killed_extract_resumes_at_first_incomplete_shard(in_workspace, tmp_path):
    params = load_params("params.yaml")
    backbone = load_frozen_backbone(params)
    crops = paths.crops_dir("syn17", "train")
    out = tmp_path / "features"
    extract(crops, out, backbone, torch.device("cpu"), 16, progress=False)
    before = {p.name: p.read_bytes() for p in out.glob("shard-*.npy")}
    # A kill during shard 1: its arrays may be half there, its done marker is not, nor features.json.
    (out / "shard-00001.done.json").unlink()
    (out / "shard-00001.feat.npy").write_bytes(b"torn")
    (out / "features.json").unlink()
    with pytest.raises(ShardStoreError, match="feature cache missing or incomplete"):
        FeatureStore(out, crops)
    stats = extract(crops, out, backbone, torch.device("cpu"), 16, progress=False)
    assert stats["extracted_now"] == len(FeatureStore(out, crops).crops) - 8  # only shards 1.. were redone
    after = {p.name: p.read_bytes() for p in out.glob("shard-*.npy")}
    assert after == before
