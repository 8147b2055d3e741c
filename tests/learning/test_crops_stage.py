"""The crop cache: geometry, determinism, resume, detections, errors."""

import hashlib

import numpy as np
import pytest

from fasrnet import paths
from fasrnet.cli import main
from fasrnet.data.crops import CropIndex, build_crops, keypoint_box
from fasrnet.data.posetrack import read_split
from fasrnet.errors import FasrnetError
from fasrnet.models.heatmap import HeatmapCodec, apply_affine
from fasrnet.params import load_params


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


def test_same_seed_gives_identical_cache_and_resume_rewrites_same_bytes(in_workspace, tmp_path):
    params = load_params("params.yaml")
    codec = HeatmapCodec.from_params(params.heatmap)
    src = paths.dataset_dir(params, "syn17")
    out = tmp_path / "crops"
    build_crops(src, "train", out, codec, params.crops, progress=False)
    full = _digest(out)
    assert full == _digest(paths.crops_dir("syn17", "train"))
    # Simulate a kill after the first shard: later shards lose their done markers and data.
    for marker in sorted(out.glob("shard-*.done.json"))[1:]:
        marker.unlink()
    (out / "index.json").unlink()
    build_crops(src, "train", out, codec, params.crops, progress=False)
    assert _digest(out) == full


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
