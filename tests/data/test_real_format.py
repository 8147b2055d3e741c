"""Real-format data end to end: mmpose's real PoseTrack18 val files and frames (tests/data/mmpose_posetrack18/,
Apache-2.0, its README names the source) laid out as a PoseTrack18 and as a PoseTrack21 copy, adopted with
``fasrnet download --from``, then crops → extract (a tiny random backbone) → predict → evaluate on them: real
1920×1080 frames, real ignore regions, track ids and ``is_labeled`` flags, mmpose's real detection file through
the box converter. docs/data.md, §8."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fasrnet.cli import main
from fasrnet.data.boxes import read_boxes
from fasrnet.data.cropstore import CropIndex
from fasrnet.data.posetrack import read_video

REAL = Path(__file__).parent / "mmpose_posetrack18"
DETECTIONS = REAL / "annotations" / "test_posetrack18_human_detections.json"
VIDEOS = ("003418_mpii_test", "009473_mpii_test", "012834_mpii_test")


def pt18_copy(root: Path) -> Path:
    """A PoseTrack18 copy as mmpose's tarball unpacks: per-video files and the detections in annotations/."""
    shutil.copytree(REAL / "images", root / "images")
    shutil.copytree(REAL / "annotations" / "val", root / "annotations" / "val")
    shutil.copy(DETECTIONS, root / "annotations" / DETECTIONS.name)
    return root


def to_pt21(obj: dict) -> dict:
    """A PoseTrack18 file as PoseTrack21 writes it: ``has_labeled_person`` on every image, a ``person_id`` on every
    person, and one more person with a box and no keypoints (PoseTrack21 labels such persons)."""
    obj = json.loads(json.dumps(obj))
    for image in obj["images"]:
        image["has_labeled_person"] = any(a["image_id"] == image["id"] for a in obj["annotations"])
    for ann in obj["annotations"]:
        ann["person_id"] = 1000 + ann["track_id"]
    image = obj["images"][0]
    obj["annotations"].append({"bbox": [10.0, 20.0, 50.0, 120.0], "bbox_head": [20.0, 20.0, 20.0, 20.0],
                               "category_id": 1, "image_id": image["id"], "id": image["id"] * 100 + 99,
                               "keypoints": [0] * 51, "person_id": 2999, "track_id": 99})
    return obj


def pt21_copy(root: Path) -> Path:
    """images/val/…, posetrack_data/val/<video>.json (PoseTrack21's layout), mmpose's detections beside."""
    shutil.copytree(REAL / "images", root / "images")
    (root / "posetrack_data" / "val").mkdir(parents=True)
    for video in VIDEOS:
        obj = json.loads((REAL / "annotations" / "val" / f"{video}.json").read_text())
        (root / "posetrack_data" / "val" / f"{video}.json").write_text(json.dumps(to_pt21(obj)))
    shutil.copy(DETECTIONS, root / DETECTIONS.name)
    return root


def write_project(root: Path, dataset: str) -> None:
    """params.yaml for a tiny CPU run on ``dataset`` and a seeded random lite HRNet-W4 as the frozen backbone."""
    import torch

    from fasrnet.io import save_torch
    from fasrnet.models.hrnet import build_hrnet

    (root / "params.yaml").write_text(f"""
data: {{root: data/raw, datasets: [{dataset}]}}
crops: {{train_views: 1, shard_size: 64}}
heatmap: {{input_size: [64, 64], flip_test: false}}
model: {{backbone_width: 4, backbone_arch: lite}}
backbone: {{source: checkpoint, checkpoint: models/backbone/hrnet.pth}}
extract: {{batch_size: 64, device: cpu}}
train: {{device: cpu, batch_size: 64}}
runs: {{main: {{main_{dataset}: {{dataset: {dataset}}}}}, ablation: {{}}, alpha: {{}}, seed: {{}}}}
""")
    torch.manual_seed(0)
    save_torch(root / "models/backbone/hrnet.pth", dict(build_hrnet(4, arch="lite").state_dict()))


def expected_crops() -> int:
    """The crops the val split must get: mmpose's boxes of person category at or above crops.det_score_threshold
    (0.2) with a non-empty box, counted here from the raw file."""
    raw = json.loads(DETECTIONS.read_text())
    return sum(1 for d in raw if d["category_id"] == 1 and d["score"] >= 0.2 and d["bbox"][2] > 0 and d["bbox"][3] > 0)


@pytest.mark.parametrize(("dataset", "make", "labels"), [
    ("posetrack18", pt18_copy, "PoseTrack18 labels of unknown version, PoseTrack18 layout (val 3 videos)"),
    ("posetrack21", pt21_copy, "PoseTrack21 labels of unknown version, PoseTrack21 layout (val 3 videos)"),
], ids=["posetrack18", "posetrack21"])
def test_real_format_copy_adopted_and_run_end_to_end(tmp_path, monkeypatch, capsys, dataset, make, labels):
    copy = make(tmp_path / "copy")
    write_project(tmp_path, dataset)
    monkeypatch.chdir(tmp_path)
    rc = main(["download", "--from", "copy", "--dataset", dataset, "--what", "images,labels", "--expect", "val=3"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert f"{dataset}: found {labels} in copy" in err
    assert "278 mmpose boxes converted to detections/val_boxes.json" in err
    ds = tmp_path / "data/raw" / dataset
    record = json.loads((ds / "dataset.json").read_text())
    assert record["kind"] == dataset and record["videos"] == {"val": 3}
    assert record["boxes"] == {"val": str(copy / ("annotations" if dataset == "posetrack18" else "") / DETECTIONS.name)}
    assert (ds / "annotations").resolve() == (copy / ("annotations" if dataset == "posetrack18" else "posetrack_data"))

    # The converted boxes: every one tied to a real frame, with the frame's real nframes (149, 101, 140).
    gt = {v: read_video(ds / "annotations/val" / f"{v}.json") for v in VIDEOS}
    nframes = {f"images/val/{v}/000000.jpg": n for v, n in zip(VIDEOS, (149, 101, 140))}
    boxes = read_boxes(ds / "detections/val_boxes.json")
    assert len(boxes) == 278 and {b.image_name for b in boxes} == set(nframes)
    assert all(b.nframes == nframes[b.image_name] for b in boxes)

    if dataset == "posetrack21":  # it publishes no test split: crops refuse one, predict skips it (runs ask for it)
        capsys.readouterr()
        assert main(["crops", "--dataset", dataset, "--split", "test"]) == 2
        assert "--split test: posetrack21 has no such split (it has train val)" in capsys.readouterr().err
    assert main(["crops", "--dataset", dataset, "--split", "val"]) == 0
    assert len(CropIndex.open(tmp_path / "data/crops" / dataset / "val")) == expected_crops()
    assert main(["extract", "--dataset", dataset, "--split", "val"]) == 0
    capsys.readouterr()
    assert main(["predict", "--backbone-only", "--dataset", dataset, "--split", "val", "test"][:None if dataset ==
                "posetrack21" else -1]) == 0
    if dataset == "posetrack21":
        assert "posetrack21 has no test split; nothing to predict" in capsys.readouterr().out
        assert not (tmp_path / "results/predictions/backbone_posetrack21/test").exists()
    assert main(["evaluate", "--backbone-only", "--dataset", dataset]) == 0
    metrics = json.loads((tmp_path / f"results/metrics/backbone_{dataset}.json").read_text())
    assert metrics["n_eval_frames"] == 3 and 0.0 <= metrics["columns"]["Total"] <= 100.0

    # Predictions: one file per GT file, the GT's frames, keypoints in the real frames' pixels (not the crops').
    pred_dir = tmp_path / "results/predictions" / f"backbone_{dataset}" / "val"
    assert sorted(p.stem for p in pred_dir.glob("*.json")) == list(VIDEOS)
    xs = []
    for video in VIDEOS:
        pred = read_video(pred_dir / f"{video}.json")
        assert [f.image for f in pred.frames] == [f.image for f in gt[video].frames]
        xs += [x for frame in pred.frames for person in frame.persons for x in person.keypoints[person.present, 0]]
    assert len(xs) == 17 * expected_crops() and max(xs) > 200 and min(xs) > -1920 and max(xs) < 2 * 1920

    # The GT against itself: 100 mAP with the real ignore regions, track ids and labeled flags.
    capsys.readouterr()
    assert main(["evaluate", "--gt", str(ds / "annotations/val"), "--pred", str(ds / "annotations/val"),
                 "--out", "self.json"]) == 0
    self_metrics = json.loads((tmp_path / "self.json").read_text())
    assert self_metrics["columns"]["Total"] == 100.0 and self_metrics["n_eval_frames"] == 3
