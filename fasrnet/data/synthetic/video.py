"""One synthetic video: its name, which frames are labeled, the rendered JPEGs, the PoseTrack annotation (who
is visible where) and the val/test boxes.

Each video is independent of the others: its random streams (scene, sensor noise, detections) derive only from
(params seed, dataset name, split, video index).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from fasrnet.data.posetrack import Frame, Person, Video
from fasrnet.data.synthetic import render  # render.render_frame is looked up per call (tests patch it)
from fasrnet.data.synthetic.body import Pose
from fasrnet.data.synthetic.degradations import Episode
from fasrnet.data.synthetic.detections import detect
from fasrnet.data.synthetic.names import SOURCES, VIDEO_SUFFIX, name_key
from fasrnet.data.synthetic.render import Rendered
from fasrnet.data.synthetic.scene import build_scene, clip_polygon
from fasrnet.errors import FasrnetError
from fasrnet.keypoints import EAR_SLOTS, NUM_KEYPOINTS
from fasrnet.params import SynthesizeParams
from fasrnet.paths import SPLITS


@dataclass
class GeneratedVideo:
    """A generated video: JPEG bytes per frame, its full annotation (all splits), boxes and episodes."""

    name: str
    split: str
    jpegs: list[bytes]
    video: Video  # persons in labeled frames (also for test: the writer drops them)
    detections: list[dict[str, Any]]
    episodes: list[Episode]
    labeled: list[int]


def labeled_frames(split: str, n_frames: int, params: SynthesizeParams) -> list[int]:
    """PoseTrack's labelling pattern: train dense in a central window; val/test every k-th frame + a dense window."""
    lp = params.labels
    if split == "train":
        n = max(1, min(n_frames, int(round(n_frames * lp.train_dense_fraction))))
        start = (n_frames - n) // 2
        return list(range(start, start + n))
    frames = set(range(0, n_frames, lp.val_stride))
    n = min(n_frames, int(round(n_frames * lp.val_dense_fraction)))
    start = (n_frames - n) // 2
    frames.update(range(start, start + n))
    return sorted(frames)


def video_names(name: str, params: SynthesizeParams) -> dict[str, list[str]]:
    """PoseTrack-like folder names per split, with distinct ids across splits (``000342_mpii_test``)."""
    rng = np.random.default_rng([params.seed, name_key(name), 1])
    counts = [getattr(params.videos, split) for split in SPLITS]
    total = sum(counts)
    ids = sorted(int(v) for v in rng.choice(np.arange(1, 25000), size=total, replace=False))
    ids = [ids[int(i)] for i in rng.permutation(total)]
    out: dict[str, list[str]] = {}
    k = 0
    for split, count in zip(SPLITS, counts):
        chosen = sorted(ids[k: k + count])
        k += count
        out[split] = [f"{vid:06d}_{SOURCES[int(rng.integers(len(SOURCES)))]}_{VIDEO_SUFFIX[split]}" for vid in chosen]
    return out


def _head_box(pose: Pose) -> tuple[float, float, float, float]:
    """The axis-aligned box (x1, y1, x2, y2) around the head ellipse, rounded to 0.01 px."""
    a, b = pose.head_axes
    th = math.radians(pose.head_angle)
    hx = math.sqrt((a * math.cos(th)) ** 2 + (b * math.sin(th)) ** 2)
    hy = math.sqrt((a * math.sin(th)) ** 2 + (b * math.cos(th)) ** 2)
    cx, cy = pose.head_center
    return (round(cx - hx, 2), round(cy - hy, 2), round(cx + hx, 2), round(cy + hy, 2))


def _visible_joints(r: Rendered, owner: np.ndarray, width: int, height: int) -> np.ndarray:
    """(17,) bool: the joints an annotator would mark on this person (inside the image, not hidden by an occluder
    or a person in front; never the ears; no nose when seen from behind)."""
    kp = r.pose.kp
    present = np.zeros(NUM_KEYPOINTS, bool)
    for slot in range(NUM_KEYPOINTS):
        if slot in EAR_SLOTS:
            continue  # ears: never annotated
        if slot == 0 and r.pose.face_front < -0.25:
            continue  # nose of a person seen from behind
        x, y = kp[slot]
        if not (0.0 <= x <= width - 1 and 0.0 <= y <= height - 1):
            continue
        o = int(owner[int(round(y)), int(round(x))])
        if o not in (-1, r.pid):
            continue  # hidden by an occluder or a person in front
        present[slot] = True
    return present


def _annotate(r: Rendered, box: tuple[float, float, float, float], owner: np.ndarray,
              params: SynthesizeParams) -> Person | None:
    """The GT person of a rendered person in a labeled frame (``box``: its silhouette's x1, y1, x2, y2), or None
    when fewer than ``labels.min_joints`` joints are visible."""
    present = _visible_joints(r, owner, params.image_width, params.image_height)
    if present.sum() < params.labels.min_joints:
        return None
    keypoints = np.zeros((NUM_KEYPOINTS, 3))
    keypoints[present, :2] = np.round(r.pose.kp[present], 2)
    keypoints[present, 2] = 1.0
    return Person(
        keypoints=keypoints, present=present, track_id=r.pid, head_box=_head_box(r.pose),
        bbox=(round(box[0], 2), round(box[1], 2), round(box[2] - box[0], 2), round(box[3] - box[1], 2)),
    )


def generate_video(params: SynthesizeParams, dataset: str, split: str, index: int, name: str) -> GeneratedVideo:
    """Generate one video (independent of the others: its random streams depend only on its coordinates)."""
    split_idx = SPLITS.index(split)
    ss = np.random.SeedSequence([params.seed, name_key(dataset), split_idx, index])
    scene_ss, noise_ss, det_ss = ss.spawn(3)
    rng = np.random.default_rng(scene_ss)
    noise_rng = np.random.default_rng(noise_ss)
    det_rng = np.random.default_rng(det_ss)
    T = params.frames_per_video
    W, H = params.image_width, params.image_height
    scene = build_scene(rng, params, T)
    labeled = labeled_frames(split, T, params)
    labeled_set = set(labeled)
    vid_id = name.split("_", 1)[0]
    quality = [int(cv2.IMWRITE_JPEG_QUALITY), params.jpeg_quality]
    jpegs: list[bytes] = []
    frames: list[Frame] = []
    detections: list[dict[str, Any]] = []
    for t in range(T):
        img, rendered, owner = render.render_frame(t, scene, noise_rng)
        ok, buf = cv2.imencode(".jpg", img, quality)
        if not ok:  # pragma: no cover - cv2 always encodes a uint8 BGR image
            raise FasrnetError(f"JPEG encoding failed for {name} frame {t}")
        jpegs.append(buf.tobytes())
        image = f"images/{split}/{name}/{t:06d}.jpg"
        frame = Frame(image=image, is_labeled=t in labeled_set)
        boxes: list[tuple[float, float, float, float]] = []
        vis_frac: list[float] = []
        for r in sorted(rendered, key=lambda r: r.pid):
            y0, y1, x0, x1 = r.roi
            ys, xs = np.nonzero(r.mask)
            box = (float(x0 + xs.min()), float(y0 + ys.min()), float(x0 + xs.max() + 1), float(y0 + ys.max() + 1))
            boxes.append(box)
            own = int((owner[y0:y1, x0:x1][r.mask] == r.pid).sum())
            vis_frac.append(own / max(1, int(r.mask.sum())))
            if t not in labeled_set:
                continue
            person = _annotate(r, box, owner, params)
            if person is not None:
                frame.persons.append(person)
        if t in labeled_set and scene.crowd is not None:
            poly = clip_polygon(scene.crowd.polygon - scene.cam0 - scene.cam[t], W, H)
            if poly is not None:
                frame.ignore_regions.append(poly)
        frames.append(frame)
        if split != "train":
            pids = [r.pid for r in sorted(rendered, key=lambda r: r.pid)]
            detections += detect(det_rng, params, scene, t, pids, boxes, vis_frac, image, vid_id, T)
    return GeneratedVideo(name=name, split=split, jpegs=jpegs, video=Video(name=name, frames=frames),
                          detections=detections, episodes=scene.episodes, labeled=labeled)
