"""Backbone pretraining on its own synthetic set (synpre), never on the heads' train videos (fasrnet/backbone.py)."""

import json
from pathlib import Path

from conftest import write_params

from fasrnet import paths
from fasrnet.backbone import PRETRAIN_SET, _pretrain_set, pretrain_backbone
from fasrnet.params import load_params


def test_pretraining_uses_its_own_set_and_leaves_only_the_checkpoint(in_workspace):
    params = load_params("params.yaml")
    out = Path(params.backbone.checkpoint).parent
    fingerprint = json.loads((out / "fingerprint.json").read_text())
    text = json.dumps(fingerprint)
    assert PRETRAIN_SET in text
    assert str(paths.crops_dir("syn17", "train")) not in text  # the heads' train crops are no input
    # the pretraining set was synthesized and cropped in the work directory and deleted when done
    names = sorted(p.name for p in out.iterdir())
    assert names == ["fingerprint.json", "hrnet.pth", "manifest.json", "pretrain_log.csv", "pretrain_state.pt"]
    assert not list(out.parent.glob(".backbone.partial*"))


def test_pretraining_does_not_depend_on_the_datasets_crops(workspace, tmp_path, monkeypatch):
    """The same params in a directory without any dataset or crop give the same weights, byte for byte."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_bytes((workspace / "params.yaml").read_bytes())
    params = load_params("params.yaml")
    result = pretrain_backbone(params, progress=False)
    assert result["state"] != "current" and result["crops"] > 0
    ours = Path(params.backbone.checkpoint)
    assert ours.read_bytes() == (workspace / params.backbone.checkpoint).read_bytes()
    assert not (tmp_path / "data").exists()


def _episodes(meta: Path) -> int:
    videos = json.loads(meta.read_text())["splits"]
    return sum(len(v["episodes"]) for split in videos.values() for v in split)


def test_pretraining_set_takes_its_own_degraded_fraction(tmp_path):
    """backbone.pretrain_degraded_fraction: 0 gives a synpre without a degradation episode (still photographs,
    as COCO's); null takes synthesize.degraded_fraction, the heads' own."""
    counts = {}
    for name, fraction in (("clean", 0.0), ("heads", None)):
        work = tmp_path / name
        params = load_params(write_params(tmp_path, **{"backbone.pretrain_degraded_fraction": fraction,
                                                       "backbone.pretrain_videos": 3}))
        store = _pretrain_set(params, work, progress=False)
        assert len(store) > 0
        counts[name] = _episodes(work / "pretrain_data" / PRETRAIN_SET / "meta.json")
    assert counts["clean"] == 0
    assert counts["heads"] > 0
