"""Crop views: how a person box of frame t becomes one view, the affine transform that cuts frames t−1, t and t+1
(clamped at the video's ends), and the training targets it carries; the training augmentation (scale, rotation,
horizontal flip, HRNet's half-body box; one transform for all three frames). Box to crop is
:class:`~fasrnet.codecs.heatmap.HeatmapCodec`'s (docs/model.md, §10).

The crops stage (:mod:`fasrnet.data.crops`), head training's online views (:mod:`fasrnet.train`) and the demo
(:mod:`fasrnet.demo.run`) all cut their views here, so they cut the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import cv2
import numpy as np

from fasrnet.codecs.heatmap import HeatmapCodec, apply_affine
from fasrnet.data.images import ImageCache
from fasrnet.data.posetrack import Video
from fasrnet.keypoints import FLIP_PAIRS, NUM_KEYPOINTS

if TYPE_CHECKING:
    from fasrnet.params import CropsParams


@dataclass
class PersonBox:
    """One crop to cut: the person's box in frame ``frame`` of video ``video``."""

    video: int
    frame: int
    person: int
    box: tuple[float, float, float, float]
    score: float = 1.0
    track_id: int = -1
    keypoints: np.ndarray | None = None  # (17, 3) image pixels, GT only
    present: np.ndarray | None = None  # (17,) bool


#: HRNet's upper body (``JointsDataset.upper_body_ids``; COCO slots: nose, eyes, ears, shoulders, elbows, wrists). The
#: other six slots (hips, knees, ankles) are the lower body.
UPPER_BODY = tuple(range(11))
#: How much the half-body box is enlarged (the official ``scale * 1.5``; a person box's is ``heatmap.box_enlarge``).
HALF_BODY_ENLARGE = 1.5


class Augmentation(NamedTuple):
    """One training view's augmentation: scale factor, rotation (degrees), horizontal flip, and the half-body box
    that replaces the person's box (``(center, scale)`` in image pixels, before the scale factor), or None."""

    scale: float
    rotation: float
    flip: bool
    half_body: tuple[np.ndarray, np.ndarray] | None = None


def visible_joints(pb: PersonBox) -> np.ndarray:
    """(17,) bool: the joints annotated on ``pb`` (present with a positive visibility); none for a detection."""
    if pb.keypoints is None or pb.present is None:
        return np.zeros(NUM_KEYPOINTS, dtype=bool)
    return pb.present & (pb.keypoints[:, 2] > 0)


def half_body_box(keypoints: np.ndarray, visible: np.ndarray, rng: np.random.Generator,
                  aspect_ratio: float) -> tuple[np.ndarray, np.ndarray] | None:
    """HRNet's ``half_body_transform`` (docs/data.md, "Half-body augmentation"): the upper body's visible joints
    when a standard normal draw is below 0.5 (so with probability 0.69, not 0.5) and it has more than two,
    otherwise the lower body's when it has more than two, otherwise the upper body's; None with fewer than two.
    The box: centred on the chosen joints' mean (not their box's centre), their extent widened or heightened to
    ``aspect_ratio`` (width / height), then enlarged 1.5×. ``keypoints`` (17, ≥2) image pixels; computed in
    float32 as the official code does."""
    upper = [k for k in UPPER_BODY if visible[k]]
    lower = [k for k in range(NUM_KEYPOINTS) if k not in UPPER_BODY and visible[k]]
    if rng.standard_normal() < 0.5 and len(upper) > 2:
        chosen = upper
    else:
        chosen = lower if len(lower) > 2 else upper
    if len(chosen) < 2:
        return None
    pts = np.asarray(keypoints, dtype=np.float32)[chosen, :2]
    center = pts.mean(axis=0)
    w, h = pts.max(axis=0) - pts.min(axis=0)
    if w > aspect_ratio * h:
        h = w * 1.0 / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    return center.astype(np.float64), np.array([w, h], dtype=np.float64) * HALF_BODY_ENLARGE


def draw_augmentation(rng: np.random.Generator, p: CropsParams, pb: PersonBox | None = None,
                      aspect_ratio: float = 0.75) -> Augmentation:
    """One training view's :class:`Augmentation`, drawn from ``rng`` in the official code's order: the half-body
    choice first (only for a GT person ``pb`` with more than ``crops.half_body_min_joints`` visible joints, and
    only then is its probability drawn: a view of a person with fewer draws nothing for it; with
    ``crops.half_body_prob`` 0 nothing is drawn at all, so views stay what they were before it existed), then
    scale, rotation and flip."""
    half = None
    if p.half_body_prob > 0 and pb is not None:
        visible = visible_joints(pb)
        if int(visible.sum()) > p.half_body_min_joints and rng.random() < p.half_body_prob:
            assert pb.keypoints is not None
            half = half_body_box(pb.keypoints, visible, rng, aspect_ratio)
    if p.augmentation == "uniform":  # the paper's wording: rotation ±45°, scale 0.65–1.35
        s = rng.uniform(1 - p.scale_factor, 1 + p.scale_factor)
        r = rng.uniform(-p.rotation, p.rotation)
    else:  # the official code: clipped Gaussians, rotation only with probability rotation_prob
        s = float(np.clip(rng.standard_normal() * p.scale_factor + 1, 1 - p.scale_factor, 1 + p.scale_factor))
        g = float(np.clip(rng.standard_normal() * p.rotation, -2 * p.rotation, 2 * p.rotation))
        r = g if rng.random() <= p.rotation_prob else 0.0
    flip = bool(rng.random() < p.flip_prob)
    return Augmentation(float(s), float(r), flip, half)


def flip_joints(joints: np.ndarray, vis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Swap left/right slots after mirroring (coordinates are already mirrored by the affine)."""
    joints, vis = joints.copy(), vis.copy()
    for a, b in FLIP_PAIRS:
        joints[[a, b]] = joints[[b, a]]
        vis[[a, b]] = vis[[b, a]]
    return joints, vis


def cut(images: list[np.ndarray], matrix: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Warp each RGB image with ``matrix`` → ``(len(images), 3, H, W)`` uint8."""
    out = [cv2.warpAffine(img, matrix, size_wh, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
           for img in images]
    return np.stack(out).transpose(0, 3, 1, 2)


def neighbour_frames(video: Video, t: int) -> list[str]:
    """Image paths of t−1, t, t+1, clamped at the video's ends."""
    last = len(video.frames) - 1
    return [video.frames[min(max(k, 0), last)].image for k in (t - 1, t, t + 1)]


def view_geometry(pb: PersonBox, codec: HeatmapCodec, aug: Augmentation | None) -> dict:
    """One view's affine ``matrix`` (image → crop), ``center``/``scale``/``rotation``/``flip`` and its training
    targets: ``joints`` (17, 2) in crop pixels and ``joints_vis`` (17,) (visible, annotated, inside the crop)."""
    center, scale = codec.box_to_center_scale(pb.box)
    s, r, flip, half = aug if aug is not None else (1.0, 0.0, False, None)
    if half is not None:  # the half-body box replaces the person's
        center, scale = half
    scale = scale * s
    matrix = codec.crop_transform(center, scale, rotation=r, flip=flip)
    joints = np.zeros((NUM_KEYPOINTS, 2), dtype=np.float32)
    vis = np.zeros(NUM_KEYPOINTS, dtype=np.float32)
    if pb.keypoints is not None and pb.present is not None:
        joints = apply_affine(pb.keypoints[:, :2], matrix).astype(np.float32)
        vis = visible_joints(pb).astype(np.float32)
        w, h = codec.input_wh
        inside = (joints[:, 0] >= 0) & (joints[:, 0] <= w - 1) & (joints[:, 1] >= 0) & (joints[:, 1] <= h - 1)
        vis *= inside
        if flip:
            joints, vis = flip_joints(joints, vis)
    return {"matrix": matrix, "center": center, "scale": scale, "rotation": r, "flip": flip,
            "joints": joints, "joints_vis": vis}


def make_view(pb: PersonBox, video: Video, cache: ImageCache, codec: HeatmapCodec,
              aug: Augmentation | None) -> dict:
    """:func:`view_geometry` plus the cut images ``(3 frames, 3, H, W)`` uint8."""
    view = view_geometry(pb, codec, aug)
    view["images"] = cut([cache.get(p) for p in neighbour_frames(video, pb.frame)], view["matrix"], codec.input_wh)
    return view
