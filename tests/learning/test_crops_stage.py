"""The crop cache: geometry, determinism, resume, detections, errors."""

import hashlib
import re

import numpy as np
import pytest
from conftest import write_params

from fasrnet import paths
from fasrnet.cli import main
from fasrnet.codecs.heatmap import HeatmapCodec, apply_affine
from fasrnet.data.crops import build_crops
from fasrnet.data.cropstore import CropIndex
from fasrnet.data.persons import keypoint_box
from fasrnet.data.posetrack import read_split
from fasrnet.errors import FasrnetError
from fasrnet.params import load_params
from fasrnet.resume import stage_params, work_dir_for


def _digest(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()}


def test_keypoint_box_is_tight_over_annotated_joints():
    kps = np.zeros((17, 3))
    present = np.zeros(17, dtype=bool)
    kps[[0, 5]] = [[10, 20, 1], [30, 60, 1]]
    present[[0, 5]] = True
    assert keypoint_box(kps, present) == (10.0, 20.0, 20.0, 40.0)
    present[5] = False
    assert keypoint_box(kps, present) is None  # one joint gives no box


def test_train_crops_cover_every_labeled_person_and_targets_match_gt(in_workspace):
    params = load_params("params.yaml")
    crops = CropIndex.open(paths.crops_dir("syn17", "train"))
    videos = read_split(paths.annotations_dir(params, "syn17", "train"))
    persons = sum(int(p.present.sum() >= 2) for v in videos for f in v.frames for p in f.persons)
    assert len(crops) == persons * params.crops.train_views
    images = crops.images.get_many("images", np.arange(len(crops)))
    assert images.shape[1:] == (3, 3, 64, 64) and images.dtype == np.uint8
    codec = HeatmapCodec.from_params(params.heatmap)
    a = crops.arrays
    for i in range(len(crops)):
        v, t, p = int(a["video"][i]), int(a["frame"][i]), int(a["person"][i])
        person = videos[v].frames[t].persons[p]
        matrix = codec.crop_transform(a["center"][i], a["scale"][i], float(a["rotation"][i]), bool(a["flip"][i]))
        expected = apply_affine(person.keypoints[:, :2], matrix)
        vis = a["joints_vis"][i] > 0
        if a["flip"][i]:
            continue  # slots are swapped after a flip; checked by the heatmap codec tests
        assert np.allclose(a["joints"][i][vis], expected[vis], atol=1e-3)
        assert set(np.flatnonzero(vis)) <= set(np.flatnonzero(person.present))


def test_val_crops_use_detections_above_threshold(in_workspace):
    from fasrnet.data.boxes import read_boxes

    params = load_params("params.yaml")
    boxes = read_boxes(paths.dataset_dir(params, "syn17") / "detections" / "val_boxes.json")
    kept = [b for b in boxes if b.score >= params.crops.det_score_threshold and b.bbox[2] > 0 and b.bbox[3] > 0]
    crops = CropIndex.open(paths.crops_dir("syn17", "val"))
    assert len(crops) == len(kept)
    assert sorted(crops.arrays["score"].tolist()) == pytest.approx(sorted(b.score for b in kept))


def _fail_at_shard(monkeypatch, k):
    """Make the shard writer die before shard ``k`` (what a kill mid-way leaves: shards before it done)."""
    from fasrnet.shards import ShardWriter

    real = ShardWriter.write_shard

    def write_shard(self, shard, arrays):
        if shard >= k:
            raise RuntimeError(f"injected failure at shard {shard}")
        return real(self, shard, arrays)

    monkeypatch.setattr(ShardWriter, "write_shard", write_shard)


def _no_temps(directory):
    return not [p for p in directory.rglob("*") if ".tmp" in p.name or p.name.endswith(".partial")]


def test_same_seed_gives_identical_cache_and_killed_run_resumes_to_same_bytes(in_workspace, tmp_path, monkeypatch):
    params = load_params("params.yaml")
    codec = HeatmapCodec.from_params(params.heatmap)
    src = paths.dataset_dir(params, "syn17")
    stamp = stage_params(params, "crops")
    out = tmp_path / "crops"
    assert build_crops(src, "train", out, codec, params.crops, progress=False, stamp=stamp)["state"] == "fresh"
    full = _digest(out)
    assert full == _digest(paths.crops_dir("syn17", "train"))  # same inputs and params: same bytes
    assert build_crops(src, "train", out, codec, params.crops, progress=False, stamp=stamp)["state"] == "current"

    again = tmp_path / "again"
    with monkeypatch.context() as m:
        _fail_at_shard(m, 1)
        with pytest.raises(RuntimeError, match="injected"):
            build_crops(src, "train", again, codec, params.crops, progress=False, stamp=stamp)
    work = work_dir_for(again)
    assert not again.exists() and (work / "shard-00000.done.json").exists()
    (work / ".shard-00001.images.npy.k1ll3d.tmp.npy").write_bytes(b"torn")  # what a SIGKILL leaves
    assert build_crops(src, "train", again, codec, params.crops, progress=False, stamp=stamp)["state"] == "resume"
    assert _digest(again) == full and not work.exists() and _no_temps(tmp_path)


def _crops_ws(workspace, tmp_path, monkeypatch):
    """A fresh workspace using the session workspace's raw data (absolute data.root)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    write_params(tmp_path, **{"data.root": str(workspace / "data" / "raw")})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_crops_rerun_with_another_seed_starts_over_like_a_fresh_run(workspace, tmp_path, monkeypatch, capsys):
    ws = _crops_ws(workspace, tmp_path / "ws", monkeypatch)
    out = ws / "data" / "crops" / "syn17" / "train"
    assert main(["crops", "--dataset", "syn17", "--split", "train"]) == 0
    seed0 = _digest(out)
    assert main(["crops", "--dataset", "syn17", "--split", "train"]) == 0
    assert "is up to date" in capsys.readouterr().out
    assert main(["-S", "crops.seed=1", "crops", "--dataset", "syn17", "--split", "train"]) == 0
    assert "up to date" not in capsys.readouterr().out
    seed1 = _digest(out)
    assert seed1 != seed0
    fresh = tmp_path / "fresh"
    assert main(["-S", "crops.seed=1", "crops", "--dataset", "syn17", "--split", "train", "--out", str(fresh)]) == 0
    assert _digest(fresh) == seed1  # nothing of the seed-0 cache was mixed in
    assert _no_temps(ws / "data")


def test_failed_rerun_with_new_shard_size_keeps_the_complete_output(workspace, tmp_path, monkeypatch, capsys):
    ws = _crops_ws(workspace, tmp_path, monkeypatch)
    out = ws / "data" / "crops" / "syn17" / "train"
    assert main(["crops", "--dataset", "syn17", "--split", "train"]) == 0
    before = _digest(out)
    with monkeypatch.context() as m:
        _fail_at_shard(m, 2)
        with pytest.raises(RuntimeError, match="injected"):
            main(["-S", "crops.shard_size=4", "crops", "--dataset", "syn17", "--split", "train"])
    assert _digest(out) == before  # the earlier complete cache is untouched
    capsys.readouterr()
    assert main(["-S", "crops.shard_size=4", "crops", "--dataset", "syn17", "--split", "train"]) == 0
    assert "resumed the partial work" in capsys.readouterr().out
    assert CropIndex.open(out).images.shard_size == 4 and _no_temps(ws / "data")


@pytest.mark.parametrize("name, damage", [
    ("index.json", b"{not json"),
    ("index.json", b'{"dataset": "syn17"}'),
    ("index.npz", b"garbage"),
    ("store.json", b"[1, 2"),
    ("store.json", b'{"fields": {}}'),
    ("shard-00001.images.npy", b"\x93NUMPY truncated"),
    ("shard-00000.images.npy", None),  # truncated to half
])
def test_corrupt_crop_cache_is_one_error_line_naming_the_file(workspace, tmp_path, monkeypatch, capsys, name, damage):
    import shutil

    ws = _crops_ws(workspace, tmp_path, monkeypatch)
    crops = ws / "data" / "crops" / "syn17" / "val"
    shutil.copytree(workspace / "data" / "crops" / "syn17" / "val", crops)
    path = crops / name
    path.write_bytes(damage if damage is not None else path.read_bytes()[: path.stat().st_size // 2])
    backbone = str(workspace / "models" / "backbone" / "hrnet.pth")
    rc = main(["-S", f"backbone.checkpoint={backbone}", "extract", "--dataset", "syn17", "--split", "val"])
    err = [line for line in re.split(r"[\r\n]", capsys.readouterr().err) if line.startswith("error:")]  # not tqdm's
    assert rc == 2 and len(err) == 1 and str(path.relative_to(ws)) in err[0], err


def test_gt_boxes_on_test_split_are_refused(in_workspace, tmp_path):
    params = load_params("params.yaml", ["crops.eval_boxes=gt"])
    with pytest.raises(FasrnetError, match="test split does not have"):
        build_crops(paths.dataset_dir(params, "syn17"), "test", tmp_path / "c",
                    HeatmapCodec.from_params(params.heatmap), params.crops, progress=False)


def test_detection_naming_an_unknown_frame_fails_with_file_and_field(in_workspace, tmp_path, capsys):
    import json
    import shutil

    params = load_params("params.yaml")
    copy = tmp_path / "raw" / "syn17"
    shutil.copytree(paths.dataset_dir(params, "syn17"), copy)
    det = copy / "detections" / "val_boxes.json"
    boxes = json.loads(det.read_text())
    boxes[0]["image_name"] = "images/val/999999_mpii_test/000000.jpg"
    det.write_text(json.dumps(boxes))
    rc = main(["-S", f"data.root={tmp_path / 'raw'}", "crops", "--dataset", "syn17", "--split", "val",
               "--out", str(tmp_path / "out")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "val_boxes.json: [0].image_name" in err and "999999_mpii_test" in err


@pytest.mark.parametrize("damage", ["truncate shard", "delete shard", "garble index.json"])
def test_damaged_crop_store_is_not_up_to_date_and_the_stage_rebuilds_it(workspace, tmp_path, monkeypatch, capsys,
                                                                        damage):
    ws = _crops_ws(workspace, tmp_path, monkeypatch)
    out = ws / "data" / "crops" / "syn17" / "train"
    assert main(["crops", "--dataset", "syn17", "--split", "train"]) == 0
    before = _digest(out)
    shard = out / "shard-00001.images.npy"
    if damage == "truncate shard":
        shard.write_bytes(shard.read_bytes()[:-1])
    elif damage == "delete shard":
        shard.unlink()
    else:
        (out / "index.json").write_bytes(b" " * (out / "index.json").stat().st_size)  # same size
    capsys.readouterr()
    assert main(["crops", "--dataset", "syn17", "--split", "train"]) == 0
    captured = capsys.readouterr()
    assert "up to date" not in captured.out and "changed since it was written" in captured.err
    assert _digest(out) == before and _no_temps(ws / "data")
    assert main(["crops", "--dataset", "syn17", "--split", "train"]) == 0
    assert "is up to date" in capsys.readouterr().out
