"""Which persons become crops: one :class:`~fasrnet.data.views.PersonBox` per person of a frame, read from a split's
annotation files (:func:`load_split`).

Boxes: train — the tight box over the person's annotated joints; val/test — the detection file
(``detections/<split>_boxes.json``) above ``crops.det_score_threshold``, or the GT persons' boxes
(``crops.eval_boxes: gt``; val only, the test split has no GT). The crops stage (:mod:`fasrnet.data.crops`) cuts
them; head training's online views (:mod:`fasrnet.train`) re-cut the train split's GT boxes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fasrnet.data.boxes import kept_detection, read_boxes
from fasrnet.data.posetrack import Video, detect_format, read_video
from fasrnet.data.views import PersonBox
from fasrnet.errors import FasrnetError, InputFormatError

if TYPE_CHECKING:
    from fasrnet.params import CropsParams


def keypoint_box(keypoints: np.ndarray, present: np.ndarray) -> tuple[float, float, float, float] | None:
    """The tight box over annotated joints; None when fewer than two joints or a zero-area box."""
    pts = keypoints[present, :2]
    if len(pts) < 2:
        return None
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    if x1 - x0 <= 0 and y1 - y0 <= 0:
        return None
    return float(x0), float(y0), float(max(x1 - x0, 1.0)), float(max(y1 - y0, 1.0))


def gt_person_boxes(videos: list[Video]) -> list[PersonBox]:
    out = []
    for v, video in enumerate(videos):
        for t, frame in enumerate(video.frames):
            for p, person in enumerate(frame.persons):
                box = keypoint_box(person.keypoints, person.present)
                if box is None:
                    continue
                out.append(PersonBox(v, t, p, box, 1.0, -1 if person.track_id is None else person.track_id,
                                     person.keypoints.copy(), person.present.copy()))
    return out


def detection_boxes(videos: list[Video], det_file: Path, threshold: float) -> list[PersonBox]:
    """The detections :func:`~fasrnet.data.boxes.kept_detection` keeps at ``threshold``, matched to frames by image
    path; a kept box naming no frame is an error."""
    where = {frame.image: (v, t) for v, video in enumerate(videos) for t, frame in enumerate(video.frames)}
    boxes = read_boxes(det_file)
    out = []
    per_frame: dict[tuple[int, int], int] = {}
    for i, b in enumerate(boxes):
        if b.category_id != 1 or not kept_detection(b.bbox, b.score, threshold):
            continue
        if b.image_name not in where:
            raise InputFormatError(det_file, f"[{i}].image_name",
                                   f"{b.image_name!r} is not a frame of any annotation file of this split")
        v, t = where[b.image_name]
        k = per_frame.get((v, t), 0)
        per_frame[(v, t)] = k + 1
        out.append(PersonBox(v, t, k, b.bbox, b.score, k))
    out.sort(key=lambda pb: (pb.video, pb.frame, pb.person))
    return out


def load_split(dataset_dir: Path, split: str) -> tuple[list[Video], list[str], int]:
    """Videos of one split (sorted by file name), their annotation files, and the annotation format."""
    ann_dir = dataset_dir / "annotations" / split
    files = sorted(ann_dir.glob("*.json"))
    if not files:
        raise FasrnetError(f"{ann_dir}: no annotation files; run `fasrnet synthesize` or `fasrnet download` first")
    videos = [read_video(f) for f in files]
    fmt = detect_format(json.loads(files[0].read_text(encoding="utf-8")))
    return videos, [str(f.relative_to(dataset_dir)) for f in files], fmt


def person_boxes(dataset_dir: Path, split: str, videos: list[Video], p: CropsParams) -> list[PersonBox]:
    if split == "train":
        return gt_person_boxes(videos)
    if p.eval_boxes == "gt":
        if split == "test":
            raise FasrnetError("crops.eval_boxes: gt needs ground truth, which the test split does not have; "
                               "use detections for test")
        return gt_person_boxes(videos)
    det = dataset_dir / "detections" / f"{split}_boxes.json"
    if not det.exists():
        raise FasrnetError(f"{det}: detection file missing (crops.eval_boxes is 'detections')")
    return detection_boxes(videos, det, p.det_score_threshold)
