"""The cache stages' size projection and free-space check (docs/data.md, §7): projected bytes equal what a real
crops/extract run writes, the lines are printed, a disk without room is refused before anything is written."""

import re
import shutil
from collections import namedtuple
from pathlib import Path

import pytest
import torch
from conftest import write_params

from fasrnet import cachesize, paths
from fasrnet.backbone import load_frozen_backbone
from fasrnet.cli import main
from fasrnet.codecs.heatmap import HeatmapCodec
from fasrnet.data.crops import build_crops, plan_crops
from fasrnet.data.cropstore import index_bytes
from fasrnet.features import extract, plan_extract
from fasrnet.params import load_params
from fasrnet.shards import store_bytes

Usage = namedtuple("Usage", "total used free")
LINE = re.compile(r"^(crops|extract) syn17/(train|val|test): [\d,]+ crops × [\d.]+ [kMG]?B = [\d.]+ [kMG]?B "
                  r"projected, [\d.]+ [kMGT]?B free on \S+$", re.M)


def _shard_bytes(directory):
    return sum(p.stat().st_size for p in directory.glob("shard-*"))


def _ws(workspace, tmp_path, monkeypatch, *copies):
    """A workspace of its own: params reading the shared raw data, plus copies of the shared workspace's dirs."""
    write_params(tmp_path, **{"data.root": str(workspace / "data" / "raw")})
    for sub in copies:
        shutil.copytree(workspace / sub, tmp_path / sub)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _tiny_disk(monkeypatch, free=1000):
    monkeypatch.setattr(cachesize.shutil, "disk_usage", lambda path: Usage(10 * free, 9 * free, free))


def test_crops_projection_equals_the_bytes_written_and_is_printed(workspace, tmp_path, monkeypatch, capsys):
    _ws(workspace, tmp_path, monkeypatch)
    params = load_params("params.yaml")
    codec = HeatmapCodec.from_params(params.heatmap)
    plan = plan_crops(paths.dataset_dir(params, "syn17"), "train", tmp_path / "out", codec, params.crops)
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.partial").exists()  # planning writes nothing
    stats = build_crops(plan.dataset_dir, "train", tmp_path / "out", codec, params.crops, progress=False, plan=plan)
    proj, n = plan.projection, stats["crops"]
    assert proj.crops == proj.pending == n == len(plan.pboxes) * params.crops.train_views
    out = tmp_path / "out"
    assert proj.bytes == _shard_bytes(out) + index_bytes(n)  # exact for the shards
    assert 0 < (out / "index.npz").stat().st_size - index_bytes(n) < 4096  # the zip's own entries only
    h, w = params.heatmap.input_size
    assert proj.per_crop == pytest.approx(3 * 3 * h * w, rel=0.02)  # 3 frames × RGB × H × W uint8, + index

    assert main(["crops", "--dataset", "syn17", "--split", "train", "val"]) == 0
    lines = LINE.findall(capsys.readouterr().out)
    assert lines == [("crops", "train"), ("crops", "val")]


def _only_locks(root: Path) -> bool:
    """Nothing under ``root`` but the output's lock file (fasrnet.locks), taken before the space check."""
    return not root.exists() or all(p.is_dir() or p.name.endswith(".lock") for p in root.rglob("*"))


def test_cli_crops_refuses_a_disk_without_room_and_writes_nothing(workspace, tmp_path, monkeypatch, capsys):
    ws = _ws(workspace, tmp_path, monkeypatch)
    _tiny_disk(monkeypatch)
    assert main(["crops", "--dataset", "syn17"]) == 2
    out, err = capsys.readouterr()
    assert len(LINE.findall(out)) == 3  # every split sized before any is cut
    [line] = [x for x in err.splitlines() if x.startswith("error:")]
    assert re.match(r"error: crops syn17/train, syn17/val, syn17/test: [\d.]+ [kM]B projected into "
                    r"data/crops/\.syn17\.partial plus a 500 MB margin, but only 1 kB free on data/crops;", line), line
    assert "--no-space-check" in line and _only_locks(ws / "data")
    assert main(["crops", "--dataset", "syn17", "--split", "test", "--no-space-check"]) == 0
    assert (ws / "data" / "crops" / "syn17" / "test" / "index.json").exists()


def test_extract_projection_equals_the_bytes_written_and_resume_counts_what_is_left(in_workspace, tmp_path,
                                                                                    shard_writes_fail_from):
    params = load_params("params.yaml")
    backbone = load_frozen_backbone(params)
    cpu = torch.device("cpu")
    for split, flip in (("train", False), ("val", True)):
        plan = plan_extract(paths.crops_dir("syn17", split), tmp_path / split, backbone, cpu, 16, flip)
        assert not (tmp_path / split).exists()
        extract(plan.crop_dir, tmp_path / split, backbone, cpu, 16, flip, progress=False, plan=plan)
        assert plan.projection.bytes == _shard_bytes(tmp_path / split)  # features.json (~200 B) aside
        h, w = (s // 4 for s in params.heatmap.input_size)
        per_crop = 3 * (backbone.out_channels + backbone.num_joints) * h * w * 2 * (2 if flip else 1)
        assert plan.projection.per_crop == pytest.approx(per_crop, rel=0.05)  # + .npy headers, done markers
    with shard_writes_fail_from(1):
        with pytest.raises(RuntimeError, match="injected"):
            extract(paths.crops_dir("syn17", "train"), tmp_path / "again", backbone, cpu, 16, progress=False)
    plan = plan_extract(paths.crops_dir("syn17", "train"), tmp_path / "again", backbone, cpu, 16)
    n = len(plan.crops)
    assert plan.projection.pending == n - 8 and plan.projection.crops == n  # shard_size 8: shard 0 is done
    assert plan.projection.bytes == store_bytes(plan.fields, n, 8, first_shard=1)
    assert "8 of" not in plan.projection.line(0, tmp_path) and f"{n - 8} of {n} crops left" in plan.projection.line(
        0, tmp_path)


def test_cli_extract_refuses_a_disk_without_room_and_writes_nothing(workspace, tmp_path, monkeypatch, capsys):
    ws = _ws(workspace, tmp_path, monkeypatch, "data/crops", "models/backbone")
    _tiny_disk(monkeypatch)
    assert main(["extract", "--dataset", "syn17", "--split", "train", "val"]) == 2
    out, err = capsys.readouterr()
    assert LINE.findall(out) == [("extract", "train"), ("extract", "val")]
    [line] = [x for x in err.splitlines() if x.startswith("error:")]
    assert "error: extract syn17/train, syn17/val: " in line and "projected into data/features/.syn17.partial" in line
    assert "only 1 kB free on data/features;" in line and _only_locks(ws / "data" / "features")
    monkeypatch.setenv(cachesize.SKIP_ENV, "1")
    assert main(["extract", "--dataset", "syn17", "--split", "test"]) == 0
    assert (ws / "data" / "features" / "syn17" / "test" / "features.json").exists()
