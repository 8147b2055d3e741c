"""Synthetic PoseTrack: seeded videos of articulated people, written in exactly the real on-disk layout.

Under ``<root>/<name>/`` (``name`` is ``syn17``, written in the 2017 ``annolist`` format, or ``syn18``, written
in the 2018 COCO-like format; same generator, different seeds)::

    images/<split>/<video>/<frame:06d>.jpg       frames from 000000, split in train/val/test
    annotations/<split>/<video>.json             one PoseTrack file per video (test: frames only, no persons)
    detections/val_boxes.json, test_boxes.json   DCPose/PoseWarper precomputed-box format, every frame
    meta.json                                    generation params and every video's degradation episodes

A box is ``{"image_name", "image_id", "category_id": 1, "bbox": [x, y, w, h], "score", "nframes", "frame_id"}``
with ``image_id == frame_id ==`` the PoseTrack18 image id of the frame (``1`` + video id + 4-digit frame), for
both sets, as in the PoseTrack18 files' ``images[].frame_id``.

Videos are named like PoseTrack's (``000342_mpii_test``; distinct ids across splits). A frame shows 1..N
people drawn as a 3D stick body (pelvis, torso box, neck, head with hair and face, tapered limbs, hands, feet)
posed by smooth joint-angle processes (walking gait, gestures, dancing, crouching, standing), turned by a yaw
angle (front, profile and back views) and projected orthographically, with translation and scale change
(walkers move sideways or toward/away from the camera). Clothing is per person (colour and texture: stripes,
checks, noise); the person's left limbs are shaded a little darker, as clothing often is. The background is a
textured canvas (sky, ground, buildings, trees, passing cars) that the camera pans over.

Degradations (the point of the paper) come in *episodes* of 1..``episode_max_frames`` frames on one person
or on the whole frame, separated by clean frames, so the neighbours t−1, t+1 of a degraded frame are often
clean: motion blur (temporal supersampling of fast motion: blur grows with joint speed; camera shake for a
frame), defocus, and occlusion by a moving object (boxes, balls, poles, fences) crossing the person or the
frame. People also leave the frame partly. ``meta.json`` lists every episode.

Annotation habits follow PoseTrack: train videos are labeled densely in a central window, val/test every
``val_stride``-th frame plus a dense central window (``is_labeled``); joints outside the image or hidden by an
occluder or a person in front are not annotated; ears and the nose of a person seen from behind never are;
``bbox_head`` frames the head, ``bbox`` the person's silhouette (clipped to the image); ``track_id`` is stable
within a video. Some videos contain a crowd blob (small unannotated figures) inside an ignore region.

Determinism: every random draw comes from ``numpy.random.default_rng`` streams seeded by (params seed, dataset
name, split, video index), one stream each for the scene, the sensor noise and the detections; the same
params give byte-identical files.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from fasrnet.data.posetrack import (
    Frame,
    Person,
    Video,
    image_id_2018,
    read_video,
    write_video,
)
from fasrnet.errors import FasrnetError
from fasrnet.io import atomic_dir, atomic_path, write_json
from fasrnet.keypoints import EAR_SLOTS, NUM_KEYPOINTS, SKELETON
from fasrnet.params import SynthesizeParams

#: Synthetic dataset names and the PoseTrack format each is written in.
DATASET_FORMATS: dict[str, int] = {"syn17": 17, "syn18": 18}
SPLITS: tuple[str, ...] = ("train", "val", "test")
SOURCES: tuple[str, ...] = ("bonn", "mpii", "mpiinew")
KINDS: tuple[str, ...] = ("motion_blur", "defocus", "occlusion")
GENERATOR_VERSION = 1
_SUFFIX = {"train": "train", "val": "test", "test": "test"}  # PoseTrack names val videos ``..._test`` too

# --------------------------------------------------------------------------------------------------------------
# Body model: lengths and radii as fractions of the standing height ``s`` (pixels).

_L = {
    "torso": 0.29, "neck": 0.05, "head": 0.13, "shoulder": 0.105, "hip": 0.07, "upper_arm": 0.165,
    "forearm": 0.145, "hand": 0.055, "thigh": 0.235, "shin": 0.235, "foot": 0.065, "foot_h": 0.03,
}
_R = {  # capsule radii (start, end)
    "upper_arm": (0.030, 0.024), "forearm": (0.024, 0.018), "hand": (0.018, 0.015), "thigh": (0.046, 0.033),
    "shin": (0.032, 0.023), "foot": (0.019, 0.016), "neck": (0.023, 0.023),
}
_TORSO_DEPTH = 0.06

# Joint-angle vector: index → (lo, hi) soft limits.
(A_YAW, A_LEAN_F, A_LEAN_S, A_HEAD_T, A_HEAD_N) = range(5)
_ARM = {+1: (5, 6, 7, 8), -1: (9, 10, 11, 12)}  # abduction, flexion, elbow, twist (left: +1, right: -1)
_LEG = {+1: (13, 14, 15), -1: (16, 17, 18)}  # abduction, flexion, knee
N_ANGLES = 19
_LIMITS = np.array(
    [(-0.8, 0.8), (-0.15, 0.7), (-0.3, 0.3), (-0.4, 0.4), (-0.4, 0.5)]
    + [(-0.2, 2.9), (-0.8, 2.9), (0.0, 2.6), (-0.6, 1.8)] * 2
    + [(-0.15, 0.8), (-0.5, 1.8), (0.0, 2.4)] * 2
)
_ACTIVITIES = ("walk", "stand", "gesture", "dance", "crouch")

# Colour groups of a person's label map.
G_NONE, G_TOP, G_BOTTOM, G_SKIN, G_HAIR, G_SHOE, G_EYE = range(7)
_TILE = 32
_OCCLUDER_ID = 1000


def dataset_format(name: str) -> int:
    """17 or 18: the PoseTrack format a synthetic dataset is written in."""
    try:
        return DATASET_FORMATS[name]
    except KeyError:
        raise FasrnetError(
            f"unknown synthetic dataset {name!r}; expected one of {', '.join(DATASET_FORMATS)}"
        ) from None


def _name_key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


# --------------------------------------------------------------------------------------------------------------
# Small geometry helpers


def _rx(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _rotate(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues: ``v`` rotated about the unit ``axis`` by ``angle``."""
    c, s = math.cos(angle), math.sin(angle)
    return v * c + _cross(axis, v) * s + axis * float(axis @ v) * (1.0 - c)


def _unit(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-6 else fallback


def _soft_clip(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    mid, half = (lo + hi) / 2.0, (hi - lo) / 2.0
    return mid + half * np.tanh((x - mid) / half)


def _bgr(rng: np.random.Generator, h: tuple[float, float], s: tuple[float, float],
         v: tuple[float, float]) -> np.ndarray:
    """A random BGR colour (0–255 floats) from hue (degrees), saturation and value ranges."""
    hsv = np.array([[[rng.uniform(*h), rng.uniform(*s), rng.uniform(*v)]]], dtype=np.float32)
    hsv[..., 0] %= 360.0
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0] * 255.0


# --------------------------------------------------------------------------------------------------------------
# People: appearance, motion, pose


@dataclass
class _Look:
    tiles: np.ndarray  # (7, TILE, TILE, 3) float32 colour tiles per group
    long_sleeves: bool
    long_legs: bool
    build: float  # radius multiplier
    lengths: dict[str, float]


def _pattern_tile(rng: np.random.Generator, base: np.ndarray, allow: tuple[str, ...]) -> np.ndarray:
    tile = np.empty((_TILE, _TILE, 3), np.float32)
    tile[:] = base
    pattern = allow[int(rng.integers(len(allow)))]
    yy, xx = np.mgrid[0:_TILE, 0:_TILE]
    period = int(rng.choice([4, 8, 16]))
    other = np.clip(base * rng.uniform(0.35, 0.7) + rng.uniform(0, 90, 3), 0, 255)
    if pattern == "hstripes":
        sel = (yy // (period // 2)) % 2 == 1
    elif pattern == "vstripes":
        sel = (xx // (period // 2)) % 2 == 1
    elif pattern == "checks":
        sel = ((yy // period) + (xx // period)) % 2 == 1
    elif pattern == "dots":
        sel = ((yy % period) < max(1, period // 4)) & ((xx % period) < max(1, period // 4))
    else:
        sel = np.zeros((_TILE, _TILE), bool)
    tile[sel] = other
    tile += rng.normal(0.0, 7.0, (_TILE, _TILE, 1)).astype(np.float32)
    return np.clip(tile, 0, 255)


def _sample_look(rng: np.random.Generator) -> _Look:
    tiles = np.zeros((7, _TILE, _TILE, 3), np.float32)
    top = _bgr(rng, (0, 360), (0.25, 0.95), (0.35, 0.95))
    bottom = _bgr(rng, (0, 360), (0.1, 0.7), (0.15, 0.6))
    skin_tones = np.array([[189, 212, 255], [141, 180, 224], [99, 136, 198], [66, 94, 141], [45, 62, 97]], np.float32)
    skin = skin_tones[int(rng.integers(len(skin_tones)))] * rng.uniform(0.9, 1.08)
    hair = _bgr(rng, (10, 40), (0.3, 0.8), (0.05, 0.45))
    shoe = _bgr(rng, (0, 360), (0.0, 0.5), (0.05, 0.5))
    tiles[G_TOP] = _pattern_tile(rng, top, ("solid", "hstripes", "vstripes", "checks", "dots"))
    tiles[G_BOTTOM] = _pattern_tile(rng, bottom, ("solid", "solid", "vstripes", "checks"))
    tiles[G_SKIN] = np.clip(skin + rng.normal(0, 3.0, (_TILE, _TILE, 1)), 0, 255)
    tiles[G_HAIR] = np.clip(hair + rng.normal(0, 6.0, (_TILE, _TILE, 1)), 0, 255)
    tiles[G_SHOE] = np.clip(shoe + rng.normal(0, 4.0, (_TILE, _TILE, 1)), 0, 255)
    tiles[G_EYE] = 30.0
    lengths = {k: v * float(rng.normal(1.0, 0.04)) for k, v in _L.items()}
    return _Look(tiles=tiles, long_sleeves=bool(rng.random() < 0.55), long_legs=bool(rng.random() < 0.75),
                 build=float(rng.uniform(0.85, 1.2)), lengths=lengths)


@dataclass
class _Motion:
    center: np.ndarray  # (N_ANGLES,)
    amp: np.ndarray  # (N_ANGLES, 2)
    omega: np.ndarray  # (N_ANGLES, 2) rad per frame
    phase: np.ndarray  # (N_ANGLES, 2)
    gait_amp: float = 0.0
    gait_knee: float = 0.0
    gait_omega: float = 0.0
    gait_phase: float = 0.0

    def angles(self, tau: float) -> np.ndarray:
        a = self.center + (self.amp * np.sin(self.omega * tau + self.phase)).sum(axis=1)
        if self.gait_amp > 0:
            phi = self.gait_omega * tau + self.gait_phase
            for side, sign in ((+1, 1.0), (-1, -1.0)):
                ph = phi if side > 0 else phi + math.pi
                a[_LEG[side][1]] += self.gait_amp * math.sin(ph)
                a[_LEG[side][2]] += self.gait_knee * (0.5 + 0.5 * math.cos(ph)) ** 2
                a[_ARM[side][1]] -= 0.8 * self.gait_amp * math.sin(ph)
        return _soft_clip(a, _LIMITS[:, 0], _LIMITS[:, 1])


def _sample_motion(rng: np.random.Generator, activity: str) -> _Motion:
    c = np.zeros(N_ANGLES)
    amp = np.zeros(N_ANGLES)
    c[A_LEAN_F], amp[A_LEAN_F] = 0.05, 0.05
    amp[A_LEAN_S], amp[A_HEAD_T], amp[A_HEAD_N], amp[A_YAW] = 0.04, 0.15, 0.12, 0.15
    for side in (+1, -1):
        ab, fl, el, tw = _ARM[side]
        c[[ab, fl, el, tw]] = rng.uniform(0.05, 0.3), rng.uniform(-0.1, 0.3), rng.uniform(0.1, 0.5), rng.uniform(0, 0.5)
        amp[[ab, fl, el, tw]] = 0.15, 0.2, 0.25, 0.3
        lab, lfl, kn = _LEG[side]
        c[[lab, lfl, kn]] = rng.uniform(0.03, 0.15), rng.uniform(-0.05, 0.1), rng.uniform(0.0, 0.15)
        amp[[lab, lfl, kn]] = 0.04, 0.06, 0.06
    motion_kw: dict[str, float] = {}
    if activity == "walk":
        motion_kw = dict(gait_amp=float(rng.uniform(0.3, 0.5)), gait_knee=float(rng.uniform(0.5, 0.9)))
    elif activity in ("gesture", "dance"):
        sides = (+1, -1) if activity == "dance" or rng.random() < 0.5 else ((+1,) if rng.random() < 0.5 else (-1,))
        for side in sides:
            ab, fl, el, tw = _ARM[side]
            c[[ab, fl, el, tw]] = (rng.uniform(0.3, 1.7), rng.uniform(0.0, 1.4), rng.uniform(0.4, 1.8),
                                   rng.uniform(0.0, 1.4))
            amp[[ab, fl, el, tw]] = rng.uniform(0.4, 1.0), rng.uniform(0.3, 0.9), rng.uniform(0.4, 0.9), 0.5
        if activity == "dance":
            for side in (+1, -1):
                lab, lfl, kn = _LEG[side]
                c[[lab, lfl, kn]] = 0.25, 0.3, 0.5
                amp[[lab, lfl, kn]] = 0.25, 0.5, 0.5
            amp[A_LEAN_S], amp[A_LEAN_F], amp[A_YAW] = 0.15, 0.15, 0.4
    elif activity == "crouch":
        flex, knee = rng.uniform(0.8, 1.4), rng.uniform(1.3, 2.0)
        for side in (+1, -1):
            lab, lfl, kn = _LEG[side]
            c[[lab, lfl, kn]] = rng.uniform(0.15, 0.4), flex, knee
            amp[[lab, lfl, kn]] = 0.1, 0.3, 0.3
        c[A_LEAN_F], amp[A_LEAN_F] = 0.4, 0.1
    # Two sinusoids per angle: a slow drift and a faster movement.
    omega = np.column_stack([rng.uniform(0.03, 0.09, N_ANGLES), rng.uniform(0.09, 0.25, N_ANGLES)])
    split = rng.uniform(0.35, 0.75, N_ANGLES)
    amps = np.column_stack([amp * split, amp * (1.0 - split)])
    phase = rng.uniform(0.0, 2.0 * math.pi, (N_ANGLES, 2))
    return _Motion(center=c, amp=amps, omega=omega, phase=phase, gait_phase=float(rng.uniform(0, 2 * math.pi)),
                   **motion_kw)


@dataclass
class _Pose:
    """One projected pose: 2D points in image pixels plus depths; keypoints in the 17 slots."""

    kp: np.ndarray  # (17, 2)
    parts: list[tuple[float, str, Any]]  # (depth, kind, geometry) to draw
    head_center: np.ndarray
    head_axes: tuple[float, float]
    head_angle: float  # degrees
    face_front: float  # > 0: the face looks toward the camera
    lowest: float  # lowest body point (y, pixels)


def _pose(look: _Look, ang: np.ndarray, yaw: float, s: float, px: float, ground: float) -> _Pose:
    """Forward kinematics in body units (x: person's left, y: up, z: forward), turned by ``yaw``, projected."""
    ln = look.lengths
    rt = _rz(ang[A_LEAN_S]) @ _rx(ang[A_LEAN_F])
    rh = rt @ _rz(ang[A_HEAD_T]) @ _rx(-ang[A_HEAD_N])
    down = np.array([0.0, -1.0, 0.0])
    fwd = np.array([0.0, 0.0, 1.0])
    pts: dict[str, np.ndarray] = {}
    pts["pelvis"] = np.zeros(3)
    pts["shc"] = rt @ np.array([0.0, ln["torso"], 0.0])
    pts["hb"] = pts["shc"] + rt @ np.array([0.0, ln["neck"], 0.0])
    pts["ht"] = pts["hb"] + rh @ np.array([0.0, ln["head"], 0.0])
    pts["headc"] = pts["hb"] + rh @ np.array([0.0, 0.5 * ln["head"], 0.0])
    pts["nose"] = pts["headc"] + rh @ np.array([0.0, -0.08 * ln["head"], 0.42 * ln["head"]])
    pts["face"] = pts["headc"] + rh @ np.array([0.0, -0.06 * ln["head"], 0.22 * ln["head"]])
    for side, tag in ((+1, "l"), (-1, "r")):
        pts[f"{tag}eye"] = pts["headc"] + rh @ (np.array([side * 0.15, 0.06, 0.36]) * ln["head"])
        ab, fl, el, tw = (ang[i] for i in _ARM[side])
        sh = pts["shc"] + rt @ np.array([side * ln["shoulder"], -0.02, 0.0])
        d_up = rt @ _rx(-fl) @ _rz(side * ab) @ down
        hinge = _unit(_cross(d_up, rt @ fwd), rt @ np.array([-1.0, 0.0, 0.0]))
        hinge = _rotate(hinge, d_up, side * tw)
        d_fore = _rotate(d_up, hinge, el)
        pts[f"{tag}sh"] = sh
        pts[f"{tag}el"] = sh + d_up * ln["upper_arm"]
        pts[f"{tag}wr"] = pts[f"{tag}el"] + d_fore * ln["forearm"]
        pts[f"{tag}hand"] = pts[f"{tag}wr"] + d_fore * ln["hand"]
        lab, lfl, kn = (ang[i] for i in _LEG[side])
        hip = np.array([side * ln["hip"], 0.0, 0.0])
        d_th = _rx(-lfl) @ _rz(side * lab) @ down
        khinge = _unit(_cross(d_th, fwd), np.array([-1.0, 0.0, 0.0]))
        d_sh = _rotate(d_th, khinge, -kn)
        pts[f"{tag}hip"] = hip
        pts[f"{tag}kn"] = hip + d_th * ln["thigh"]
        pts[f"{tag}an"] = pts[f"{tag}kn"] + d_sh * ln["shin"]
        foot_dir = _unit(np.array([side * 0.3, -0.35, 1.0]), fwd)
        pts[f"{tag}toe"] = pts[f"{tag}an"] + foot_dir * ln["foot"] + np.array([0.0, -ln["foot_h"], 0.0])
        for k, (dx, dz) in enumerate(((0.02, 1), (0.02, -1))):
            pts[f"{tag}sh_c{k}"] = sh + rt @ np.array([side * dx, 0.01, dz * _TORSO_DEPTH])
            pts[f"{tag}hip_c{k}"] = hip + np.array([side * (dx + 0.01), -0.02, dz * _TORSO_DEPTH])
    names = list(pts)
    p3 = np.array([pts[n] for n in names]) @ _ry(yaw).T
    idx = {n: i for i, n in enumerate(names)}
    minimum = float(min(p3[idx["lan"], 1], p3[idx["ran"], 1]))
    py = ground + s * (minimum - ln["foot_h"])  # lowest ankle stands on the ground line
    p2 = np.column_stack([px + s * p3[:, 0], py - s * p3[:, 1]])
    depth = p3[:, 2]

    def P(n: str) -> np.ndarray:
        return p2[idx[n]]

    def D(*ns: str) -> float:
        return float(np.mean([depth[idx[n]] for n in ns]))

    kp = np.zeros((NUM_KEYPOINTS, 2))
    for slot, n in ((0, "nose"), (1, "hb"), (2, "ht"), (5, "lsh"), (6, "rsh"), (7, "lel"), (8, "rel"), (9, "lwr"),
                    (10, "rwr"), (11, "lhip"), (12, "rhip"), (13, "lkn"), (14, "rkn"), (15, "lan"), (16, "ran")):
        kp[slot] = P(n)
    b = look.build
    parts: list[tuple[float, str, Any]] = []
    torso_pts = np.array([P(f"{t}{j}_c{k}") for t in "lr" for j in ("sh", "hip") for k in (0, 1)])
    parts.append((0.0, "poly", (torso_pts, G_TOP, 1.0)))
    neck = (P("shc"), P("hb"), s * _R["neck"][0] * b, s * _R["neck"][1] * b, G_SKIN, 1.0)
    parts.append((D("shc", "hb") - 0.005, "cap", neck))
    for side, tag in ((+1, "l"), (-1, "r")):
        shade = 0.84 if side > 0 else 1.0
        arm_bias, leg_bias = 0.012, -0.001
        segs = (
            ("sh", "el", "upper_arm", G_TOP, arm_bias),
            ("el", "wr", "forearm", G_TOP if look.long_sleeves else G_SKIN, arm_bias + 0.001),
            ("wr", "hand", "hand", G_SKIN, arm_bias + 0.002),
            ("hip", "kn", "thigh", G_BOTTOM, leg_bias),
            ("kn", "an", "shin", G_BOTTOM if look.long_legs else G_SKIN, leg_bias),
            ("an", "toe", "foot", G_SHOE, leg_bias + 0.001),
        )
        for a, c, part, group, bias in segs:
            r0, r1 = _R[part]
            parts.append((D(tag + a, tag + c) + bias, "cap",
                          (P(tag + a), P(tag + c), s * r0 * b, s * r1 * b, group, shade)))
    head_len = float(np.linalg.norm(P("ht") - P("hb")))
    full = s * ln["head"]
    axis = P("ht") - P("hb")
    angle = math.degrees(math.atan2(axis[0], -axis[1])) if head_len > 1e-6 else 0.0
    face_dir = (p3[idx["face"]] - p3[idx["headc"]])
    face_front = float(face_dir[2] / (np.linalg.norm(face_dir) + 1e-9))
    head = (P("headc"), (0.40 * full, 0.55 * full), angle, P("face"), P("leye"), P("reye"), face_front, s)
    parts.append((D("headc") + 0.02, "head", head))
    lowest = float(p2[:, 1].max() + s * 0.02)
    return _Pose(kp=kp, parts=parts, head_center=P("headc"), head_axes=(0.40 * full, 0.55 * full),
                 head_angle=angle, face_front=face_front, lowest=lowest)


_SHIFT = 4
_ONE = 1 << _SHIFT


def _fx(p: Any) -> np.ndarray:
    """Pixel coordinates → OpenCV fixed point (``shift=_SHIFT``), for sub-pixel drawing."""
    return np.round(np.asarray(p, np.float64) * _ONE).astype(np.int32)


def _pt(p: Any) -> tuple[int, int]:
    v = _fx(p)
    return int(v[0]), int(v[1])


def _rect(img: np.ndarray, p1: Any, p2: Any, val: Any) -> None:
    cv2.rectangle(img, _pt(p1), _pt(p2), val, -1, cv2.LINE_8, _SHIFT)


def _disc(img: np.ndarray, c: Any, r: float, val: Any) -> None:
    cv2.circle(img, _pt(c), int(round(r * _ONE)), val, -1, cv2.LINE_8, _SHIFT)


def _capsule(img: np.ndarray, p0: np.ndarray, p1: np.ndarray, r0: float, r1: float, val: int) -> None:
    r0, r1 = max(r0, 0.8), max(r1, 0.8)
    d = p1 - p0
    n = float(np.hypot(d[0], d[1]))
    if n > 1e-3:
        perp = np.array([-d[1], d[0]]) / n
        quad = np.array([p0 + perp * r0, p1 + perp * r1, p1 - perp * r1, p0 - perp * r0])
        cv2.fillConvexPoly(img, _fx(quad), val, cv2.LINE_8, _SHIFT)
    _disc(img, p0, r0, val)
    _disc(img, p1, r1, val)


def _ellipse(img: np.ndarray, c: np.ndarray, axes: tuple[float, float], angle: float, val: int) -> None:
    size = (max(1, int(round(axes[0] * _ONE))), max(1, int(round(axes[1] * _ONE))))
    cv2.ellipse(img, _pt(c), size, angle, 0, 360, val, -1, cv2.LINE_8, _SHIFT)


def _draw_labels(pose: _Pose, origin: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``pose`` into a label map of ``shape`` whose (0, 0) is image pixel ``origin``.

    Returns the label map and per-label colour group and shade lookup tables."""
    lab = np.zeros(shape, np.uint8)
    groups, shades = [G_NONE], [1.0]

    def new(group: int, shade: float) -> int:
        groups.append(group)
        shades.append(shade)
        return len(groups) - 1

    for _, kind, geo in sorted(pose.parts, key=lambda p: p[0]):
        if kind == "cap":
            p0, p1, r0, r1, group, shade = geo
            _capsule(lab, p0 - origin, p1 - origin, r0, r1, new(group, shade))
        elif kind == "poly":
            pts, group, shade = geo
            hull = cv2.convexHull(_fx(pts - origin).reshape(-1, 1, 2))
            cv2.fillConvexPoly(lab, hull, new(group, shade), cv2.LINE_8, _SHIFT)
        else:
            center, axes, angle, face, leye, reye, front, s = geo
            hair = new(G_HAIR, 1.0)
            _ellipse(lab, center - origin, axes, angle, hair)
            if front > -0.35:
                face_mask = np.zeros(shape, np.uint8)
                _ellipse(face_mask, face - origin, (axes[0] * 0.85, axes[1] * 0.78), angle, 1)
                lab[(face_mask > 0) & (lab == hair)] = new(G_SKIN, 1.0)
            if front > 0.3:
                eye = new(G_EYE, 1.0)
                r = max(0.6, 0.008 * s)
                for e in (leye, reye):
                    _disc(lab, e - origin, r, eye)
    return lab, np.array(groups, np.intp), np.array(shades, np.float32)


@dataclass
class _Actor:
    pid: int
    look: _Look
    motion: _Motion
    activity: str
    yaw0: float
    x: np.ndarray  # (T,) pelvis x in world pixels (camera at frame 0)
    scale: np.ndarray  # (T,) standing height in pixels
    ground: np.ndarray  # (T,) ground line y in world pixels
    rate: np.ndarray  # (T,) pose-time rate (fast motion in motion-blur episodes)
    tau: np.ndarray  # (T,) pose time
    lurch: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> pixel displacement per exposure
    exposure: np.ndarray | None = None  # (T,) exposure in frames
    defocus: dict[int, float] = field(default_factory=dict)  # frame -> sigma (pixels)

    def pose(self, t: int, dt: float, cam: np.ndarray) -> _Pose:
        tau = self.tau[t] + dt * self.rate[t]
        ang = self.motion.angles(tau)
        s = float(self.scale[t])
        off = self.lurch.get(t, np.zeros(2)) * dt
        return _pose(self.look, ang, self.yaw0 + ang[A_YAW], s, float(self.x[t] - cam[0] + off[0]),
                     float(self.ground[t] - cam[1] + off[1]))


# --------------------------------------------------------------------------------------------------------------
# Scene: background, crowd, occluders


@dataclass
class _Occluder:
    kind: str  # box, ball, pole, fence
    c0: np.ndarray  # centre at frame t0 (image pixels)
    v: np.ndarray  # velocity (pixels per frame)
    t0: float
    w: float
    h: float
    tile: np.ndarray
    start: int = 0  # present in frames [start, stop)
    stop: int = 0

    def center(self, t: int) -> np.ndarray:
        return self.c0 + self.v * (t - self.t0)


def _occluder_tile(rng: np.random.Generator) -> np.ndarray:
    base = _bgr(rng, (0, 360), (0.0, 0.8), (0.2, 0.9))
    return _pattern_tile(rng, base, ("solid", "solid", "hstripes", "checks", "dots"))


def _draw_occluder(occ: _Occluder, t: int, mask: np.ndarray, val: int) -> None:
    c = occ.center(t)
    w, h = occ.w, occ.h
    if occ.kind == "ball":
        _ellipse(mask, c, (w / 2, h / 2), 0.0, val)
    elif occ.kind == "fence":
        n = max(2, int(round(w / max(4.0, 0.18 * h))))
        bar = max(2.0, w / (2.5 * n))
        for k in range(n):
            x = c[0] - w / 2 + (k + 0.5) * w / n
            _rect(mask, (x - bar / 2, c[1] - h / 2), (x + bar / 2, c[1] + h / 2), val)
        for y in (c[1] - h * 0.35, c[1] + h * 0.3):
            _rect(mask, (c[0] - w / 2, y - bar / 2), (c[0] + w / 2, y + bar / 2), val)
    else:  # box, pole
        _rect(mask, (c[0] - w / 2, c[1] - h / 2), (c[0] + w / 2, c[1] + h / 2), val)


@dataclass
class _Crowd:
    polygon: np.ndarray  # (N, 2) canvas pixels
    boxes: list[tuple[float, float, float, float]]  # figure boxes x1, y1, x2, y2 (canvas pixels)


@dataclass
class _Car:
    x0: float
    y: float  # bottom (canvas pixels)
    v: float
    w: float
    h: float
    color: np.ndarray


def _background(rng: np.random.Generator, wc: int, hc: int, horizon: float) -> np.ndarray:
    img = np.empty((hc, wc, 3), np.float32)
    sky_top, sky_bottom = _bgr(rng, (190, 230), (0.2, 0.6), (0.6, 1.0)), _bgr(rng, (180, 230), (0.05, 0.3), (0.75, 1.0))
    ground_far, ground_near = _bgr(rng, (20, 140), (0.2, 0.6), (0.3, 0.7)), _bgr(rng, (20, 140), (0.2, 0.7), (0.2, 0.6))
    hz = int(np.clip(horizon, 1, hc - 1))
    a = np.linspace(0, 1, hz, dtype=np.float32)[:, None, None]
    img[:hz] = sky_top * (1 - a) + sky_bottom * a
    b = np.linspace(0, 1, hc - hz, dtype=np.float32)[:, None, None]
    img[hz:] = ground_far * (1 - b) + ground_near * b
    # buildings and trees along the horizon
    for _ in range(int(rng.integers(3, 8))):
        bw, bh = rng.uniform(0.08, 0.25) * wc, rng.uniform(0.15, 0.5) * hz
        x = rng.uniform(-0.1, 1.0) * wc
        col = _bgr(rng, (0, 360), (0.0, 0.4), (0.3, 0.9))
        cv2.rectangle(img, (int(x), int(hz - bh)), (int(x + bw), hz + 2), col.tolist(), -1)
        win = col * rng.uniform(0.4, 0.7)
        step = max(4, int(rng.uniform(0.03, 0.06) * hc))
        for wy in range(int(hz - bh + step // 2), hz - step // 2, step):
            for wx in range(int(x + step // 2), int(x + bw - step // 2), step):
                cv2.rectangle(img, (wx, wy), (wx + step // 2, wy + step // 2), win.tolist(), -1)
    for _ in range(int(rng.integers(1, 5))):
        tx, tr = rng.uniform(0, wc), rng.uniform(0.04, 0.1) * hc
        trunk = _bgr(rng, (15, 35), (0.4, 0.7), (0.2, 0.4))
        cv2.rectangle(img, (int(tx - tr * 0.15), int(hz - tr)), (int(tx + tr * 0.15), hz + 2), trunk.tolist(), -1)
        leaves = _bgr(rng, (80, 150), (0.4, 0.8), (0.25, 0.6))
        cv2.circle(img, (int(tx), int(hz - tr * 1.6)), int(tr), leaves.tolist(), -1)
    # paving lines on the ground
    for _ in range(int(rng.integers(0, 4))):
        y = rng.uniform(hz, hc)
        cv2.line(img, (0, int(y)), (wc, int(y + rng.uniform(-0.1, 0.1) * hc)), (ground_near * 0.7).tolist(), 1)
    low = rng.normal(0, 1, (6, max(2, wc * 6 // hc), 3)).astype(np.float32)
    img += cv2.resize(low, (wc, hc), interpolation=cv2.INTER_CUBIC) * 7.0
    img += rng.normal(0, 5.0, (hc, wc, 1)).astype(np.float32)
    return np.clip(img, 0, 255)


def _crowd(rng: np.random.Generator, canvas: np.ndarray, horizon: float, ground_k: float, img_h: int,
           cx: float) -> _Crowd:
    """Draw a cluster of small, unannotated person-like figures into ``canvas``; return its ignore polygon."""
    n = int(rng.integers(5, 13))
    width = rng.uniform(0.18, 0.32) * canvas.shape[1] * 0.6
    boxes = []
    figs = []
    for _ in range(n):
        h = rng.uniform(0.1, 0.2) * img_h
        x = cx + rng.uniform(-0.5, 0.5) * width
        foot = horizon + ground_k * h + rng.uniform(-0.02, 0.02) * img_h
        figs.append((foot, x, h))
    for foot, x, h in sorted(figs):
        col = _bgr(rng, (0, 360), (0.2, 0.9), (0.2, 0.9))
        skin = np.array([141, 180, 224], np.float32) * rng.uniform(0.4, 1.1)
        w = 0.3 * h
        top = foot - h
        cv2.rectangle(canvas, (int(x - w / 2), int(top + 0.18 * h)), (int(x + w / 2), int(top + 0.6 * h)),
                      col.tolist(), -1)
        for sx in (-1, 1):
            cv2.line(canvas, (int(x + sx * w / 4), int(top + 0.6 * h)), (int(x + sx * w / 3), int(foot)),
                     (col * 0.5).tolist(), max(1, int(w / 4)))
        cv2.circle(canvas, (int(x), int(top + 0.1 * h)), max(1, int(0.1 * h)), skin.tolist(), -1)
        boxes.append((x - w / 2 - 1, top - 1, x + w / 2 + 1, foot + 1))
    corners = np.array([(bx, by) for x1, y1, x2, y2 in boxes for bx in (x1, x2) for by in (y1, y2)], np.float32)
    hull = cv2.convexHull(corners).reshape(-1, 2).astype(np.float64)
    centre = hull.mean(axis=0)
    hull = centre + (hull - centre) * 1.08
    return _Crowd(polygon=hull, boxes=boxes)


def _clip_polygon(poly: np.ndarray, w: int, h: int) -> np.ndarray | None:
    """Clip a convex polygon to the image rectangle (Sutherland–Hodgman); None if nothing is left."""
    pts = [tuple(p) for p in poly]
    for axis, bound, keep_less in ((0, 0.0, False), (0, w - 1.0, True), (1, 0.0, False), (1, h - 1.0, True)):
        out: list[tuple[float, float]] = []
        for i, cur in enumerate(pts):
            prev = pts[i - 1]
            cin = cur[axis] <= bound if keep_less else cur[axis] >= bound
            pin = prev[axis] <= bound if keep_less else prev[axis] >= bound
            if cin != pin:
                f = (bound - prev[axis]) / (cur[axis] - prev[axis])
                out.append((prev[0] + f * (cur[0] - prev[0]), prev[1] + f * (cur[1] - prev[1])))
            if cin:
                out.append(cur)
        pts = out
        if not pts:
            return None
    arr = np.round(np.array(pts, np.float64), 2)
    area = 0.5 * abs(float(np.dot(arr[:, 0], np.roll(arr[:, 1], 1)) - np.dot(arr[:, 1], np.roll(arr[:, 0], 1))))
    return arr if len(arr) >= 3 and area > 20.0 else None


# --------------------------------------------------------------------------------------------------------------
# Degradation episodes


@dataclass
class Episode:
    """A degradation of one target (``-1``: the whole frame, else a track id) over frames ``[start, stop)``."""

    kind: str
    target: int
    start: int
    stop: int

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": "frame" if self.target < 0 else self.target,
                "start": self.start, "stop": self.stop}


def _schedule(rng: np.random.Generator, n_frames: int, fraction: float, max_len: int, kinds: list[str],
              weights: np.ndarray, target: int) -> list[Episode]:
    """Episodes covering about ``fraction`` of the frames, each followed and preceded by a clean frame."""
    goal = fraction * n_frames
    covered = 0
    blocked = np.zeros(n_frames + 2, bool)
    episodes: list[Episode] = []
    for _ in range(40 + 4 * n_frames):
        if covered >= goal - 0.5 or not kinds:
            break
        length = int(rng.integers(1, max_len + 1))
        length = max(1, min(length, int(math.ceil(goal - covered)), n_frames))
        start = int(rng.integers(0, n_frames - length + 1))
        if blocked[start: start + length + 2].any():
            continue
        kind = kinds[int(rng.choice(len(kinds), p=weights))]
        episodes.append(Episode(kind, target, start, start + length))
        covered += length
        blocked[start: start + length + 2] = True  # blocked[i + 1] marks frame i (and its neighbours)
    return sorted(episodes, key=lambda e: e.start)


# --------------------------------------------------------------------------------------------------------------
# One video


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
    rng = np.random.default_rng([params.seed, _name_key(name), 1])
    counts = [getattr(params.videos, split) for split in SPLITS]
    total = sum(counts)
    ids = sorted(int(v) for v in rng.choice(np.arange(1, 25000), size=total, replace=False))
    ids = [ids[int(i)] for i in rng.permutation(total)]
    out: dict[str, list[str]] = {}
    k = 0
    for split, count in zip(SPLITS, counts):
        chosen = sorted(ids[k: k + count])
        k += count
        out[split] = [f"{vid:06d}_{SOURCES[int(rng.integers(len(SOURCES)))]}_{_SUFFIX[split]}" for vid in chosen]
    return out


def _kinds(params: SynthesizeParams) -> tuple[list[str], np.ndarray]:
    w = {"motion_blur": params.motion_blur_weight, "defocus": params.defocus_weight,
         "occlusion": params.occlusion_weight}
    kinds = [k for k in KINDS if w[k] > 0]
    weights = np.array([w[k] for k in kinds], np.float64)
    return kinds, weights / weights.sum() if kinds else weights


def _sample_actors(rng: np.random.Generator, params: SynthesizeParams, n_frames: int, horizon: float,
                   ground_k: float) -> list[_Actor]:
    W, H = params.image_width, params.image_height
    n = int(rng.integers(params.min_people, params.max_people + 1))
    slots = (np.arange(n) + rng.uniform(0.15, 0.85, n)) / n
    slots = slots[rng.permutation(n)]
    rest = (1.0 - params.walker_fraction) * np.array([0.3, 0.3, 0.25, 0.15])
    act_p = np.concatenate([[params.walker_fraction], rest])
    act_p = act_p / act_p.sum() if act_p.sum() > 0 else np.full(len(_ACTIVITIES), 1.0 / len(_ACTIVITIES))
    t = np.arange(n_frames, dtype=np.float64)
    actors = []
    for pid in range(n):
        activity = _ACTIVITIES[int(rng.choice(len(_ACTIVITIES), p=act_p))]
        look = _sample_look(rng)
        motion = _sample_motion(rng, activity)
        s0 = rng.uniform(params.person_height_min, params.person_height_max) * H
        exits = rng.random() < params.exit_fraction
        growth = 0.0
        x0 = (0.08 + 0.84 * slots[pid]) * W
        vx = rng.normal(0.0, 0.002) * s0
        if activity == "walk":
            speed = rng.uniform(0.01, 0.022)  # body heights per frame
            motion.gait_omega = 2.0 * math.pi * speed / 0.75
            way = rng.choice(3, p=[0.6, 0.2, 0.2])
            if way == 0:  # sideways
                direction = 1.0 if rng.random() < 0.5 else -1.0
                yaw0 = direction * math.pi / 2 + rng.uniform(-0.35, 0.35)
                vx = direction * speed * s0
            else:  # toward (0) / away (pi) from the camera
                yaw0 = (0.0 if way == 1 else math.pi) + rng.uniform(-0.35, 0.35)
                growth = (1.0 if way == 1 else -1.0) * speed / rng.uniform(2.5, 5.0)
        else:
            view = rng.random()
            if view < 0.55:
                yaw0 = rng.uniform(-0.6, 0.6)
            elif view < 0.78:
                yaw0 = (1 if rng.random() < 0.5 else -1) * (math.pi / 2 + rng.uniform(-0.3, 0.3))
            else:
                yaw0 = math.pi + rng.uniform(-0.6, 0.6)
        if exits:
            if activity == "walk" and abs(vx) > 0:
                heading = 1.0 if vx > 0 else -1.0
                if rng.random() < 0.5:  # walks out: the pelvis reaches the edge it heads to near the end
                    edge = W if heading > 0 else 0.0
                    end = edge + heading * rng.uniform(-0.05, 0.3) * s0
                    x0 = end - vx * (n_frames - 1) * rng.uniform(0.7, 1.0)
                else:  # walks in from the opposite edge
                    edge = 0.0 if heading > 0 else W
                    x0 = edge - heading * rng.uniform(-0.05, 0.3) * s0
            else:  # stands or drifts at an edge, partly outside
                side = 1.0 if rng.random() < 0.5 else -1.0
                edge = W if side > 0 else 0.0
                x0 = edge + side * rng.uniform(-0.15, 0.2) * s0
        scale = s0 * np.exp(growth * t)
        scale = np.clip(scale, 0.15 * H, 1.6 * H)
        sway = rng.uniform(0.0, 0.01) * s0 * np.sin(rng.uniform(0.05, 0.2) * t + rng.uniform(0, 6.3))
        x = x0 + vx * t + sway
        ground = horizon + ground_k * scale
        actors.append(_Actor(pid=pid, look=look, motion=motion, activity=activity, yaw0=float(yaw0), x=x,
                             scale=scale, ground=ground, rate=np.ones(n_frames), tau=t.copy()))
    return actors


def _label_colors(lab: np.ndarray, groups: np.ndarray, shades: np.ndarray, tiles: np.ndarray,
                  y0: int, x0: int, oy: int, ox: int) -> np.ndarray:
    h, w = lab.shape
    iy = ((np.arange(h) + y0 - oy) % _TILE)[:, None]
    ix = ((np.arange(w) + x0 - ox) % _TILE)[None, :]
    col = tiles[groups[lab], iy, ix] * shades[lab][..., None]
    edge = np.zeros(lab.shape, bool)
    edge[1:, :] |= lab[1:, :] != lab[:-1, :]
    edge[:-1, :] |= lab[:-1, :] != lab[1:, :]
    edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
    edge[:, :-1] |= lab[:, :-1] != lab[:, 1:]
    col[edge] *= 0.72
    return col


@dataclass
class _Rendered:
    pid: int
    roi: tuple[int, int, int, int]  # y0, y1, x0, x1
    mask: np.ndarray  # centre-time silhouette (bool, ROI)
    pose: _Pose


def _render_frame(t: int, scene: _Scene,
                  noise_rng: np.random.Generator) -> tuple[np.ndarray, list[_Rendered], np.ndarray]:
    """Render frame ``t``: returns the uint8 BGR image, the rendered people and the owner map (-1 background,
    track id, or :data:`_OCCLUDER_ID`)."""
    W, H = scene.width, scene.height
    cam = scene.cam[t]
    m = np.array([[1.0, 0.0, -(cam[0] + scene.cam0[0])], [0.0, 1.0, -(cam[1] + scene.cam0[1])]])
    img = cv2.warpAffine(scene.canvas, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    for car in scene.cars:
        x = car.x0 + car.v * t - (cam[0] + scene.cam0[0])
        y = car.y - (cam[1] + scene.cam0[1])
        _rect(img, (x + 0.2 * car.w, y - 1.45 * car.h), (x + 0.8 * car.w, y - car.h), (car.color * 0.8).tolist())
        _rect(img, (x, y - car.h), (x + car.w, y - 0.25 * car.h), car.color.tolist())
        for wx in (0.22, 0.78):
            _disc(img, (x + wx * car.w, y - 0.22 * car.h), 0.22 * car.h, (25.0, 25.0, 25.0))
    owner = np.full((H, W), -1, np.int16)
    rendered: list[_Rendered] = []
    for actor in sorted(scene.actors, key=lambda a: (a.scale[t], a.pid)):
        out = _render_person(actor, t, cam, img, W, H)
        if out is None:
            continue
        y0, y1, x0, x1 = out.roi
        owner[y0:y1, x0:x1][out.mask] = actor.pid
        rendered.append(out)
    occ_mask = np.zeros((H, W), np.uint8)
    active = []
    for k, occ in enumerate(scene.occluders):
        c = occ.center(t)
        if not occ.start <= t < occ.stop:
            continue
        if c[0] + occ.w < 0 or c[0] - occ.w > W or c[1] + occ.h < 0 or c[1] - occ.h > H:
            continue
        _draw_occluder(occ, t, occ_mask, k + 1)
        active.append((k, occ))
    if active:
        for k, occ in active:
            sel = occ_mask == k + 1
            if not sel.any():
                continue
            c = occ.center(t)
            yy, xx = np.nonzero(sel)
            col = occ.tile[(yy - int(c[1])) % _TILE, (xx - int(c[0])) % _TILE]
            img[yy, xx] = col
        owner[occ_mask > 0] = _OCCLUDER_ID
    fx = scene.frame_effect.get(t)
    if fx is not None:
        kind, value, angle = fx
        if kind == "motion_blur":
            size = int(2 * math.ceil(value / 2) + 1)
            kernel = np.zeros((size, size), np.float32)
            c = size // 2
            d = np.array([math.cos(angle), math.sin(angle)]) * value / 2
            cv2.line(kernel, _pt((c - d[0], c - d[1])), _pt((c + d[0], c + d[1])), 1.0, 1, cv2.LINE_8, _SHIFT)
            kernel /= kernel.sum()
            img = cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT)
        elif kind == "defocus":
            img = cv2.GaussianBlur(img, (0, 0), value, borderType=cv2.BORDER_REFLECT)
    img = img + noise_rng.normal(0.0, 1.6, (H, W, 1)).astype(np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), rendered, owner


def _render_person(actor: _Actor, t: int, cam: np.ndarray, img: np.ndarray, W: int, H: int) -> _Rendered | None:
    """Composite one person into ``img`` (float32, in place), supersampled in time for motion blur."""
    exposure = float(actor.exposure[t]) if actor.exposure is not None else 0.0
    centre = actor.pose(t, 0.0, cam)
    poses = [centre]
    if exposure > 0:
        ends = [actor.pose(t, -exposure / 2, cam), actor.pose(t, exposure / 2, cam)]
        disp = max(float(np.abs(e.kp - centre.kp).max()) for e in ends)
        n_side = min(4, int(disp // 1.5))  # one sample per 1.5 px of travel; none below that
        if n_side >= 1:
            dts = np.linspace(-exposure / 2, exposure / 2, 2 * n_side + 1)
            poses = [centre if abs(dt) < 1e-12 else actor.pose(t, float(dt), cam) for dt in dts]
    s = float(actor.scale[t])
    sigma = actor.defocus.get(t, 0.0)
    margin = 0.08 * s + 3 * sigma + 3
    allpts = np.concatenate([np.vstack([p.kp, p.head_center[None]]) for p in poses])
    x0 = int(math.floor(allpts[:, 0].min() - margin))
    x1 = int(math.ceil(allpts[:, 0].max() + margin))
    y0 = int(math.floor(allpts[:, 1].min() - margin - 0.08 * s))
    y1 = int(math.ceil(max(allpts[:, 1].max(), max(p.lowest for p in poses)) + margin))
    x0c, x1c, y0c, y1c = max(x0, 0), min(x1, W), max(y0, 0), min(y1, H)
    if x0c >= x1c or y0c >= y1c:
        return None
    origin = np.array([x0c, y0c], np.float64)
    shape = (y1c - y0c, x1c - x0c)
    oy, ox = int(round(actor.ground[t])), int(round(actor.x[t]))
    acc_col = np.zeros(shape + (3,), np.float32)
    acc_a = np.zeros(shape, np.float32)
    centre_lab = None
    for p in poses:
        lab, groups, shades = _draw_labels(p, origin, shape)
        if p is centre:
            centre_lab = lab
        a = (lab > 0).astype(np.float32)
        acc_col += _label_colors(lab, groups, shades, actor.look.tiles, y0c, x0c, oy, ox) * a[..., None]
        acc_a += a
    acc_col /= len(poses)
    acc_a /= len(poses)
    if sigma > 0:
        acc_col = cv2.GaussianBlur(acc_col, (0, 0), sigma)
        acc_a = cv2.GaussianBlur(acc_a, (0, 0), sigma)
    else:  # slight anti-aliasing of the hard label edges
        acc_col = cv2.GaussianBlur(acc_col, (3, 3), 0.6)
        acc_a = cv2.GaussianBlur(acc_a, (3, 3), 0.6)
    region = img[y0c:y1c, x0c:x1c]
    region *= (1.0 - acc_a)[..., None]
    region += acc_col
    assert centre_lab is not None
    mask = centre_lab > 0
    if not mask.any():
        return None
    return _Rendered(pid=actor.pid, roi=(y0c, y1c, x0c, x1c), mask=mask, pose=centre)


@dataclass
class _Scene:
    width: int
    height: int
    canvas: np.ndarray
    cam0: np.ndarray
    cam: np.ndarray  # (T, 2) camera offset relative to cam0
    actors: list[_Actor]
    occluders: list[_Occluder]
    cars: list[_Car]
    crowd: _Crowd | None
    frame_effect: dict[int, tuple[str, float, float]]
    episodes: list[Episode]


def _build_scene(rng: np.random.Generator, params: SynthesizeParams, n_frames: int) -> _Scene:
    W, H = params.image_width, params.image_height
    horizon = rng.uniform(0.22, 0.42) * H
    ground_k = rng.uniform(0.8, 1.0)
    pan_v = rng.uniform(-0.004, 0.004) * W
    shake_a = rng.uniform(0.0, 0.004) * W
    pad = int(math.ceil(shake_a + 0.01 * W)) + 2
    pan = int(math.ceil(abs(pan_v) * n_frames)) + 1
    wc, hc = W + 2 * pad + pan, H + 2 * pad
    canvas = _background(rng, wc, hc, horizon + pad)
    t = np.arange(n_frames, dtype=np.float64)
    w1, w2 = rng.uniform(0.2, 0.6, 2)
    cam = np.column_stack([pan_v * t + shake_a * np.sin(w1 * t + rng.uniform(0, 6.3)),
                           0.5 * shake_a * np.sin(w2 * t + rng.uniform(0, 6.3))])
    cam0 = np.array([pad + (0 if pan_v >= 0 else pan), pad], np.float64)
    crowd = None
    if rng.random() < params.crowd_fraction:
        crowd = _crowd(rng, canvas, horizon + pad, ground_k, H, cam0[0] + rng.uniform(0.15, 0.85) * W)
    cars = []
    for _ in range(int(rng.integers(0, 3))):
        ch = rng.uniform(0.05, 0.1) * H
        v = rng.uniform(1.0, 4.0) * (W / 320) * (1 if rng.random() < 0.5 else -1)
        cars.append(_Car(x0=rng.uniform(0, wc), y=horizon + pad + rng.uniform(0.02, 0.1) * H, v=v, w=2.6 * ch, h=ch,
                         color=_bgr(rng, (0, 360), (0.3, 0.9), (0.3, 0.9))))
    actors = _sample_actors(rng, params, n_frames, horizon, ground_k)

    # Degradation episodes: whole frames, then each person.
    frame_frac = params.degraded_fraction * params.frame_degradation_share
    person_frac = (params.degraded_fraction - frame_frac) / max(1e-9, 1.0 - frame_frac)
    kinds, weights = _kinds(params)
    episodes = _schedule(rng, n_frames, frame_frac, params.episode_max_frames, kinds, weights, -1)
    for actor in actors:
        episodes += _schedule(rng, n_frames, person_frac, params.episode_max_frames, kinds, weights, actor.pid)
    blur = params.blur_strength
    frame_effect: dict[int, tuple[str, float, float]] = {}
    occluders: list[_Occluder] = []
    for actor in actors:
        actor.exposure = np.full(n_frames, 0.3)
    for ep in episodes:
        length = ep.stop - ep.start
        mid = (ep.start + ep.stop - 1) / 2.0
        if ep.target < 0:
            if ep.kind == "motion_blur":
                value, angle = rng.uniform(0.025, 0.05) * W * blur, rng.uniform(0, math.pi)
                for f in range(ep.start, ep.stop):
                    frame_effect[f] = ("motion_blur", float(value), float(angle))
            elif ep.kind == "defocus":
                value = rng.uniform(0.007, 0.014) * W * blur
                for f in range(ep.start, ep.stop):
                    frame_effect[f] = ("defocus", float(value), 0.0)
            else:
                w = rng.uniform(0.25, 0.45) * W
                h = H * rng.uniform(0.7, 1.3)
                direction = 1.0 if rng.random() < 0.5 else -1.0
                cx = rng.uniform(0.3, 0.7) * W
                v = direction * (w + 0.3 * W) / (length + 1)
                occluders.append(_Occluder(kind=str(rng.choice(["box", "pole"])),
                                           c0=np.array([cx, H - h / 2 + rng.uniform(0, 0.3) * h]),
                                           v=np.array([v, 0.0]), t0=mid, w=w, h=h, tile=_occluder_tile(rng),
                                           start=ep.start, stop=ep.stop))
            continue
        actor = actors[ep.target]
        s = float(actor.scale[int(round(mid))])
        if ep.kind == "motion_blur":
            for f in range(ep.start, ep.stop):
                actor.rate[f] = rng.uniform(2.5, 4.0)
                actor.exposure[f] = rng.uniform(0.8, 1.4) * blur
                theta = rng.uniform(0, 2 * math.pi)
                actor.lurch[f] = np.array([math.cos(theta), math.sin(theta)]) * rng.uniform(0.04, 0.1) * s * blur
        elif ep.kind == "defocus":
            sigma = rng.uniform(0.02, 0.035) * s * blur
            for f in range(ep.start, ep.stop):
                actor.defocus[f] = float(sigma)
        else:
            kind = str(rng.choice(["box", "ball", "pole", "fence"]))
            if kind == "pole":
                w, h = rng.uniform(0.08, 0.18) * s, 2.0 * H
            elif kind == "fence":
                w, h = rng.uniform(0.5, 0.9) * s, rng.uniform(0.3, 0.5) * s
            else:
                w, h = rng.uniform(0.3, 0.55) * s, rng.uniform(0.3, 0.6) * s
            fm = int(round(mid))
            body_y = actor.ground[fm] - actor.scale[fm] * rng.uniform(0.2, 0.8)
            target = np.array([actor.x[fm], body_y]) - cam[fm] + rng.normal(0, 0.05 * s, 2)
            direction = 1.0 if rng.random() < 0.5 else -1.0
            v = direction * (w + 0.35 * s) / (length + 0.7)
            occluders.append(_Occluder(kind=kind, c0=target, v=np.array([v, rng.normal(0, 0.1 * abs(v))]),
                                       t0=mid, w=w, h=h, tile=_occluder_tile(rng), start=ep.start, stop=ep.stop))
    for actor in actors:
        actor.tau = np.concatenate([[0.0], np.cumsum(actor.rate[:-1])])
    return _Scene(width=W, height=H, canvas=canvas, cam0=cam0, cam=cam, actors=actors, occluders=occluders,
                  cars=cars, crowd=crowd, frame_effect=frame_effect, episodes=episodes)


def _head_box(pose: _Pose) -> tuple[float, float, float, float]:
    a, b = pose.head_axes
    th = math.radians(pose.head_angle)
    hx = math.sqrt((a * math.cos(th)) ** 2 + (b * math.sin(th)) ** 2)
    hy = math.sqrt((a * math.sin(th)) ** 2 + (b * math.cos(th)) ** 2)
    cx, cy = pose.head_center
    return (round(cx - hx, 2), round(cy - hy, 2), round(cx + hx, 2), round(cy + hy, 2))


def _degraded(scene: _Scene, pid: int, t: int) -> bool:
    return any(e.start <= t < e.stop and e.target in (-1, pid) for e in scene.episodes)


def generate_video(params: SynthesizeParams, dataset: str, split: str, index: int, name: str) -> GeneratedVideo:
    """Generate one video (independent of the others: its random streams depend only on its coordinates)."""
    split_idx = SPLITS.index(split)
    ss = np.random.SeedSequence([params.seed, _name_key(dataset), split_idx, index])
    scene_ss, noise_ss, det_ss = ss.spawn(3)
    rng = np.random.default_rng(scene_ss)
    noise_rng = np.random.default_rng(noise_ss)
    det_rng = np.random.default_rng(det_ss)
    T = params.frames_per_video
    W, H = params.image_width, params.image_height
    scene = _build_scene(rng, params, T)
    labeled = labeled_frames(split, T, params)
    labeled_set = set(labeled)
    vid_id = name.split("_", 1)[0]
    quality = [int(cv2.IMWRITE_JPEG_QUALITY), params.jpeg_quality]
    jpegs: list[bytes] = []
    frames: list[Frame] = []
    detections: list[dict[str, Any]] = []
    for t in range(T):
        img, rendered, owner = _render_frame(t, scene, noise_rng)
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
            kp = r.pose.kp
            present = np.zeros(NUM_KEYPOINTS, bool)
            for slot in range(NUM_KEYPOINTS):
                if slot in EAR_SLOTS:
                    continue  # ears: never annotated
                if slot == 0 and r.pose.face_front < -0.25:
                    continue  # nose of a person seen from behind
                x, y = kp[slot]
                if not (0.0 <= x <= W - 1 and 0.0 <= y <= H - 1):
                    continue
                o = int(owner[int(round(y)), int(round(x))])
                if o not in (-1, r.pid):
                    continue  # hidden by an occluder or a person in front
                present[slot] = True
            if present.sum() < params.labels.min_joints:
                continue
            keypoints = np.zeros((NUM_KEYPOINTS, 3))
            keypoints[present, :2] = np.round(kp[present], 2)
            keypoints[present, 2] = 1.0
            frame.persons.append(Person(
                keypoints=keypoints, present=present, track_id=r.pid, head_box=_head_box(r.pose),
                bbox=(round(box[0], 2), round(box[1], 2), round(box[2] - box[0], 2), round(box[3] - box[1], 2)),
            ))
        if t in labeled_set and scene.crowd is not None:
            poly = _clip_polygon(scene.crowd.polygon - scene.cam0 - scene.cam[t], W, H)
            if poly is not None:
                frame.ignore_regions.append(poly)
        frames.append(frame)
        if split != "train":
            pids = [r.pid for r in sorted(rendered, key=lambda r: r.pid)]
            detections += _detect(det_rng, params, scene, t, pids, boxes, vis_frac, image, vid_id, T)
    return GeneratedVideo(name=name, split=split, jpegs=jpegs, video=Video(name=name, frames=frames),
                          detections=detections, episodes=scene.episodes, labeled=labeled)


def _detect(rng: np.random.Generator, params: SynthesizeParams, scene: _Scene, t: int, pids: list[int],
            boxes: list[tuple[float, float, float, float]], vis_frac: list[float], image: str, vid_id: str,
            n_frames: int) -> list[dict[str, Any]]:
    """Noisy person boxes for one frame: jitter, misses (more for degraded/occluded people), false positives."""
    dp = params.detections
    W, H = params.image_width, params.image_height
    out: list[tuple[float, list[float]]] = []

    def jitter(box: tuple[float, float, float, float], amount: float) -> list[float] | None:
        x1, y1, x2, y2 = box
        bw, bh = x2 - x1, y2 - y1
        x1, x2 = x1 + rng.normal(0, amount * bw), x2 + rng.normal(0, amount * bw)
        y1, y2 = y1 + rng.normal(0, amount * bh), y2 + rng.normal(0, amount * bh)
        x1, y1, x2, y2 = max(0.0, x1), max(0.0, y1), min(W - 1.0, x2), min(H - 1.0, y2)
        if x2 - x1 < 2 or y2 - y1 < 2:
            return None
        return [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]

    for pid, box, vf in zip(pids, boxes, vis_frac):
        degraded = _degraded(scene, pid, t)
        area = (box[2] - box[0]) * (box[3] - box[1])
        p_miss = dp.miss_rate + (dp.degraded_miss_rate if degraded else 0.0) + 0.6 * max(0.0, 0.5 - vf)
        if area < 30 or rng.random() < min(1.0, p_miss):
            continue
        b = jitter(box, dp.jitter * (1.6 if degraded else 1.0))
        if b is None:
            continue
        score = rng.uniform(dp.true_score_min, dp.true_score_max)
        if degraded or vf < 0.6:
            score = dp.true_score_min + (score - dp.true_score_min) * rng.uniform(0.3, 0.8)
        out.append((float(score), b))
    for _ in range(int(rng.poisson(dp.false_positives_per_frame))):
        u = rng.random()
        if u < 0.4 and boxes:  # a part or a shifted duplicate of a real person
            x1, y1, x2, y2 = boxes[int(rng.integers(len(boxes)))]
            bw, bh = x2 - x1, y2 - y1
            fx, fy = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7)
            ox, oy = rng.uniform(-0.3, 0.3) * bw, rng.uniform(-0.3, 0.3) * bh
            cand = (x1 + ox, y1 + oy, x1 + ox + fx * bw * 1.4, y1 + oy + fy * bh * 1.4)
        elif u < 0.7 and scene.crowd is not None:  # a crowd figure
            bx = scene.crowd.boxes[int(rng.integers(len(scene.crowd.boxes)))]
            off = scene.cam0 + scene.cam[t]
            cand = (bx[0] - off[0], bx[1] - off[1], bx[2] - off[0], bx[3] - off[1])
        else:  # clutter
            bh = rng.uniform(0.15, 0.6) * H
            bw = bh * rng.uniform(0.3, 0.7)
            cx, cy = rng.uniform(0, W), rng.uniform(0.3, 0.9) * H
            cand = (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
        b = jitter(cand, 0.0)
        if b is None:
            continue
        out.append((float(rng.uniform(dp.false_score_min, dp.false_score_max)), b))
    image_id = image_id_2018(vid_id, t)
    out.sort(key=lambda sb: -sb[0])
    return [{"image_name": image, "image_id": image_id, "category_id": 1, "bbox": b, "score": round(s, 4),
             "nframes": n_frames, "frame_id": image_id} for s, b in out]


# --------------------------------------------------------------------------------------------------------------
# Datasets


@dataclass
class DatasetSummary:
    """What :func:`synthesize_dataset` wrote."""

    name: str
    path: Path
    fmt: int
    videos: dict[str, int] = field(default_factory=dict)
    frames: int = 0
    labeled_frames: int = 0
    persons: int = 0
    detections: int = 0
    degraded_person_frames: int = 0
    person_frames: int = 0

    def line(self) -> str:
        vids = ", ".join(f"{v} {k}" for k, v in self.videos.items())
        share = self.degraded_person_frames / max(1, self.person_frames)
        return (f"{self.name} (PoseTrack {self.fmt} format) -> {self.path}: videos {vids}; {self.frames} frames, "
                f"{self.labeled_frames} labeled, {self.persons} annotated persons, {self.detections} val/test boxes, "
                f"{share:.0%} of person-frames degraded")


def synthesize_dataset(out_dir: str | Path, name: str, params: SynthesizeParams, fmt: int | None = None,
                       progress: bool = False,
                       on_video: Callable[[GeneratedVideo], None] | None = None) -> DatasetSummary:
    """Generate dataset ``name`` into ``out_dir/name`` atomically (an earlier copy survives a failed run)."""
    fmt = dataset_format(name) if fmt is None else fmt
    if fmt not in (17, 18):
        raise FasrnetError(f"format must be 17 or 18, got {fmt!r}")
    target = Path(out_dir) / name
    names = video_names(name, params)
    total = sum(len(v) for v in names.values())
    summary = DatasetSummary(name=name, path=target, fmt=fmt, videos={s: len(v) for s, v in names.items()})
    meta_videos: dict[str, list[dict[str, Any]]] = {}
    with atomic_dir(target) as tmp, tqdm(total=total, desc=name, unit="video", disable=not progress) as bar:
        for split in SPLITS:
            boxes: list[dict[str, Any]] = []
            meta_videos[split] = []
            for index, video_name in enumerate(names[split]):
                gen = generate_video(params, name, split, index, video_name)
                folder = tmp / "images" / split / video_name
                folder.mkdir(parents=True, exist_ok=True)
                for t, data in enumerate(gen.jpegs):
                    (folder / f"{t:06d}.jpg").write_bytes(data)
                video = gen.video
                if split == "test":  # like the real test set: frames only, no persons or ignore regions
                    video = Video(name=video.name, frames=[Frame(image=f.image, is_labeled=f.is_labeled)
                                                           for f in video.frames])
                write_video(video, tmp / "annotations" / split / f"{video_name}.json", fmt)
                boxes += gen.detections
                summary.frames += len(gen.jpegs)
                if split != "test":
                    summary.labeled_frames += len(gen.labeled)
                    summary.persons += sum(len(f.persons) for f in video.frames)
                meta_videos[split].append({
                    "name": video_name, "nframes": len(gen.jpegs), "labeled": gen.labeled,
                    "episodes": [e.to_json() for e in gen.episodes],
                })
                for f in gen.video.frames:
                    for p in f.persons:
                        summary.person_frames += 1
                        t = f.index
                        summary.degraded_person_frames += any(
                            e.start <= t < e.stop and e.target in (-1, p.track_id) for e in gen.episodes)
                if on_video is not None:
                    on_video(gen)
                bar.update(1)
            if split != "train":
                write_json(tmp / "detections" / f"{split}_boxes.json", boxes)
                summary.detections += len(boxes)
        meta = {
            "generator": "fasrnet.data.synthetic",
            "version": GENERATOR_VERSION,
            "name": name,
            "format": fmt,
            "params": params.model_dump(mode="json"),
            "splits": meta_videos,
        }
        write_json(tmp / "meta.json", meta, indent=1)
    return summary


# --------------------------------------------------------------------------------------------------------------
# Preview

_PREVIEW_COLORS = {"left": (255, 160, 40), "right": (40, 160, 255), "centre": (60, 230, 60)}


def _draw_skeleton(img: np.ndarray, person: Person) -> None:
    kp, present = person.keypoints, person.present
    for a, b in SKELETON:
        if present[a] and present[b]:
            if a >= 5 and b >= 5 and a % 2 == b % 2:
                side = "left" if a % 2 == 1 else "right"
            else:
                side = "centre"
            cv2.line(img, (int(round(kp[a, 0])), int(round(kp[a, 1]))), (int(round(kp[b, 0])), int(round(kp[b, 1]))),
                     _PREVIEW_COLORS[side], 1, cv2.LINE_AA)
    for j in np.nonzero(present)[0]:
        cv2.circle(img, (int(round(kp[j, 0])), int(round(kp[j, 1]))), 2, (255, 255, 255), -1, cv2.LINE_AA)
    if person.head_box is not None:
        x1, y1, x2, y2 = person.head_box
        cv2.rectangle(img, (int(x1), int(y1)), (int(round(x2)), int(round(y2))), (0, 255, 255), 1)


def render_preview(dataset_dirs: list[str | Path], png: str | Path, rows_per_dataset: int = 3,
                   columns: int = 4) -> Path:
    """A PNG grid read back from disk: each row shows consecutive frames around a degradation episode of a
    train or val video, GT skeletons drawn (left limbs blue, right limbs orange, head box yellow), ignore regions
    red; the degraded frames' captions are red."""
    tiles: list[np.ndarray] = []
    for directory in dataset_dirs:
        directory = Path(directory)
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        candidates: list[tuple[int, int, str, dict[str, Any], Episode]] = []
        for split in ("train", "val"):
            for v in meta["splits"][split]:
                labeled = set(v["labeled"])
                for e in v["episodes"]:
                    ep = Episode(e["kind"], -1 if e["target"] == "frame" else int(e["target"]), e["start"], e["stop"])
                    # prefer episodes whose clean neighbours are labeled (skeletons on both sides)
                    rank = 0 if ep.start - 1 in labeled and ep.stop in labeled else 1
                    candidates.append((rank, len(candidates), split, v, ep))
        candidates.sort(key=lambda c: c[:2])
        picks: list[tuple[str, dict[str, Any], Episode | None]] = []
        seen: set[tuple[str, bool]] = set()
        videos: set[str] = set()
        # one row per degradation kind and level, from different videos first; then relax
        for new_video, new_kind in ((True, True), (False, True), (False, False)):
            for _, _, split, v, ep in candidates:
                key = (ep.kind, ep.target < 0)
                if len(picks) >= rows_per_dataset or any(ep is q for _, _, q in picks):
                    continue
                if (new_video and v["name"] in videos) or (new_kind and key in seen):
                    continue
                seen.add(key)
                videos.add(v["name"])
                picks.append((split, v, ep))
        if not picks and meta["splits"]["train"]:
            picks.append(("train", meta["splits"]["train"][0], None))
        for split, v, ep in picks:
            video = read_video(directory / "annotations" / split / f"{v['name']}.json")
            start = ep.start if ep is not None else v["nframes"] // 2
            first = max(0, min(start - 1, v["nframes"] - columns))
            row = []
            for t in range(first, min(first + columns, v["nframes"])):
                frame = video.frames[t]
                img = cv2.imread(str(directory / frame.image), cv2.IMREAD_COLOR)
                for person in frame.persons:
                    _draw_skeleton(img, person)
                for poly in frame.ignore_regions:
                    cv2.polylines(img, [np.round(poly).astype(np.int32)], True, (0, 0, 255), 1)
                inside = ep is not None and ep.start <= t < ep.stop
                label = f"{directory.name} {v['name']} #{t}"
                if ep is not None and inside:
                    label += f" {ep.kind} ({'frame' if ep.target < 0 else f'track {ep.target}'})"
                cv2.rectangle(img, (0, 0), (img.shape[1], 13), (0, 0, 0), -1)
                cv2.putText(img, label, (2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.32,
                            (80, 80, 255) if inside else (255, 255, 255), 1, cv2.LINE_AA)
                row.append(img)
            tiles.append(np.concatenate(row, axis=1))
    if not tiles:
        raise FasrnetError("no frames to preview")
    width = max(t.shape[1] for t in tiles)
    grid = np.concatenate([np.pad(t, ((0, 2), (0, width - t.shape[1]), (0, 0))) for t in tiles], axis=0)
    png = Path(png)
    ok, buf = cv2.imencode(".png", grid)
    if not ok:  # pragma: no cover
        raise FasrnetError(f"{png}: PNG encoding failed")
    with atomic_path(png) as tmp:
        tmp.write_bytes(buf.tobytes())
    return png
