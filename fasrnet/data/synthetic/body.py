"""The synthetic person: body proportions, clothing (the look), joint-angle motion and forward kinematics.

A person is a 3D stick body posed by a joint-angle vector (:data:`N_ANGLES` angles with soft limits,
:class:`Motion` gives them over time), turned by a yaw angle and projected orthographically by
:func:`project_pose` into a :class:`Pose`: the 17 PoseTrack keypoints plus the depth-sorted parts to draw, each
with a colour group (``G_*``) whose texture tile the :class:`Look` holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fasrnet.data.synthetic.geometry import bgr, cross, rotate, rx, ry, rz, soft_clip, unit
from fasrnet.keypoints import NUM_KEYPOINTS

# Body model: lengths and radii as fractions of the standing height ``s`` (pixels).

LENGTHS = {
    "torso": 0.29, "neck": 0.05, "head": 0.13, "shoulder": 0.105, "hip": 0.07, "upper_arm": 0.165,
    "forearm": 0.145, "hand": 0.055, "thigh": 0.235, "shin": 0.235, "foot": 0.065, "foot_h": 0.03,
}
RADII = {  # capsule radii (start, end)
    "upper_arm": (0.030, 0.024), "forearm": (0.024, 0.018), "hand": (0.018, 0.015), "thigh": (0.046, 0.033),
    "shin": (0.032, 0.023), "foot": (0.019, 0.016), "neck": (0.023, 0.023),
}
TORSO_DEPTH = 0.06

# Joint-angle vector: index → (lo, hi) soft limits.
(A_YAW, A_LEAN_F, A_LEAN_S, A_HEAD_T, A_HEAD_N) = range(5)
ARM = {+1: (5, 6, 7, 8), -1: (9, 10, 11, 12)}  # abduction, flexion, elbow, twist (left: +1, right: -1)
LEG = {+1: (13, 14, 15), -1: (16, 17, 18)}  # abduction, flexion, knee
N_ANGLES = 19
LIMITS = np.array(
    [(-0.8, 0.8), (-0.15, 0.7), (-0.3, 0.3), (-0.4, 0.4), (-0.4, 0.5)]
    + [(-0.2, 2.9), (-0.8, 2.9), (0.0, 2.6), (-0.6, 1.8)] * 2
    + [(-0.15, 0.8), (-0.5, 1.8), (0.0, 2.4)] * 2
)
ACTIVITIES = ("walk", "stand", "gesture", "dance", "crouch")


# Colour groups of a person's label map.
G_NONE, G_TOP, G_BOTTOM, G_SKIN, G_HAIR, G_SHOE, G_EYE = range(7)
TILE = 32


@dataclass
class Look:
    """A person's clothing and build: one colour tile per colour group, sleeve and leg lengths, limb lengths."""

    tiles: np.ndarray  # (7, TILE, TILE, 3) float32 colour tiles per group
    long_sleeves: bool
    long_legs: bool
    build: float  # radius multiplier
    lengths: dict[str, float]


def pattern_tile(rng: np.random.Generator, base: np.ndarray, allow: tuple[str, ...]) -> np.ndarray:
    """A (TILE, TILE, 3) float32 tile of colour ``base`` with one of the ``allow`` patterns and a little noise."""
    tile = np.empty((TILE, TILE, 3), np.float32)
    tile[:] = base
    pattern = allow[int(rng.integers(len(allow)))]
    yy, xx = np.mgrid[0:TILE, 0:TILE]
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
        sel = np.zeros((TILE, TILE), bool)
    tile[sel] = other
    tile += rng.normal(0.0, 7.0, (TILE, TILE, 1)).astype(np.float32)
    return np.clip(tile, 0, 255)


def sample_look(rng: np.random.Generator) -> Look:
    """Draw a person's clothing colours and textures, skin, hair, shoes, build and limb lengths."""
    tiles = np.zeros((7, TILE, TILE, 3), np.float32)
    top = bgr(rng, (0, 360), (0.25, 0.95), (0.35, 0.95))
    bottom = bgr(rng, (0, 360), (0.1, 0.7), (0.15, 0.6))
    skin_tones = np.array([[189, 212, 255], [141, 180, 224], [99, 136, 198], [66, 94, 141], [45, 62, 97]], np.float32)
    skin = skin_tones[int(rng.integers(len(skin_tones)))] * rng.uniform(0.9, 1.08)
    hair = bgr(rng, (10, 40), (0.3, 0.8), (0.05, 0.45))
    shoe = bgr(rng, (0, 360), (0.0, 0.5), (0.05, 0.5))
    tiles[G_TOP] = pattern_tile(rng, top, ("solid", "hstripes", "vstripes", "checks", "dots"))
    tiles[G_BOTTOM] = pattern_tile(rng, bottom, ("solid", "solid", "vstripes", "checks"))
    tiles[G_SKIN] = np.clip(skin + rng.normal(0, 3.0, (TILE, TILE, 1)), 0, 255)
    tiles[G_HAIR] = np.clip(hair + rng.normal(0, 6.0, (TILE, TILE, 1)), 0, 255)
    tiles[G_SHOE] = np.clip(shoe + rng.normal(0, 4.0, (TILE, TILE, 1)), 0, 255)
    tiles[G_EYE] = 30.0
    lengths = {k: v * float(rng.normal(1.0, 0.04)) for k, v in LENGTHS.items()}
    return Look(tiles=tiles, long_sleeves=bool(rng.random() < 0.55), long_legs=bool(rng.random() < 0.75),
                build=float(rng.uniform(0.85, 1.2)), lengths=lengths)


@dataclass
class Motion:
    """Smooth joint-angle processes: two sinusoids per angle plus an optional walking gait; :meth:`angles` gives the
    (N_ANGLES,) vector at pose time ``tau``, soft-clipped to the limits."""

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
                a[LEG[side][1]] += self.gait_amp * math.sin(ph)
                a[LEG[side][2]] += self.gait_knee * (0.5 + 0.5 * math.cos(ph)) ** 2
                a[ARM[side][1]] -= 0.8 * self.gait_amp * math.sin(ph)
        return soft_clip(a, LIMITS[:, 0], LIMITS[:, 1])


def sample_motion(rng: np.random.Generator, activity: str) -> Motion:
    """Draw the joint-angle processes of one ``activity`` (walk, stand, gesture, dance, crouch)."""
    c = np.zeros(N_ANGLES)
    amp = np.zeros(N_ANGLES)
    c[A_LEAN_F], amp[A_LEAN_F] = 0.05, 0.05
    amp[A_LEAN_S], amp[A_HEAD_T], amp[A_HEAD_N], amp[A_YAW] = 0.04, 0.15, 0.12, 0.15
    for side in (+1, -1):
        ab, fl, el, tw = ARM[side]
        c[[ab, fl, el, tw]] = rng.uniform(0.05, 0.3), rng.uniform(-0.1, 0.3), rng.uniform(0.1, 0.5), rng.uniform(0, 0.5)
        amp[[ab, fl, el, tw]] = 0.15, 0.2, 0.25, 0.3
        lab, lfl, kn = LEG[side]
        c[[lab, lfl, kn]] = rng.uniform(0.03, 0.15), rng.uniform(-0.05, 0.1), rng.uniform(0.0, 0.15)
        amp[[lab, lfl, kn]] = 0.04, 0.06, 0.06
    motion_kw: dict[str, float] = {}
    if activity == "walk":
        motion_kw = dict(gait_amp=float(rng.uniform(0.3, 0.5)), gait_knee=float(rng.uniform(0.5, 0.9)))
    elif activity in ("gesture", "dance"):
        sides = (+1, -1) if activity == "dance" or rng.random() < 0.5 else ((+1,) if rng.random() < 0.5 else (-1,))
        for side in sides:
            ab, fl, el, tw = ARM[side]
            c[[ab, fl, el, tw]] = (rng.uniform(0.3, 1.7), rng.uniform(0.0, 1.4), rng.uniform(0.4, 1.8),
                                   rng.uniform(0.0, 1.4))
            amp[[ab, fl, el, tw]] = rng.uniform(0.4, 1.0), rng.uniform(0.3, 0.9), rng.uniform(0.4, 0.9), 0.5
        if activity == "dance":
            for side in (+1, -1):
                lab, lfl, kn = LEG[side]
                c[[lab, lfl, kn]] = 0.25, 0.3, 0.5
                amp[[lab, lfl, kn]] = 0.25, 0.5, 0.5
            amp[A_LEAN_S], amp[A_LEAN_F], amp[A_YAW] = 0.15, 0.15, 0.4
    elif activity == "crouch":
        flex, knee = rng.uniform(0.8, 1.4), rng.uniform(1.3, 2.0)
        for side in (+1, -1):
            lab, lfl, kn = LEG[side]
            c[[lab, lfl, kn]] = rng.uniform(0.15, 0.4), flex, knee
            amp[[lab, lfl, kn]] = 0.1, 0.3, 0.3
        c[A_LEAN_F], amp[A_LEAN_F] = 0.4, 0.1
    # Two sinusoids per angle: a slow drift and a faster movement.
    omega = np.column_stack([rng.uniform(0.03, 0.09, N_ANGLES), rng.uniform(0.09, 0.25, N_ANGLES)])
    split = rng.uniform(0.35, 0.75, N_ANGLES)
    amps = np.column_stack([amp * split, amp * (1.0 - split)])
    phase = rng.uniform(0.0, 2.0 * math.pi, (N_ANGLES, 2))
    return Motion(center=c, amp=amps, omega=omega, phase=phase, gait_phase=float(rng.uniform(0, 2 * math.pi)),
                  **motion_kw)


@dataclass
class Pose:
    """One projected pose: 2D points in image pixels plus depths; keypoints in the 17 slots."""

    kp: np.ndarray  # (17, 2)
    parts: list[tuple[float, str, Any]]  # (depth, kind, geometry) to draw
    head_center: np.ndarray
    head_axes: tuple[float, float]
    head_angle: float  # degrees
    face_front: float  # > 0: the face looks toward the camera
    lowest: float  # lowest body point (y, pixels)


def project_pose(look: Look, ang: np.ndarray, yaw: float, s: float, px: float, ground: float) -> Pose:
    """Forward kinematics in body units (x: person's left, y: up, z: forward), turned by ``yaw``, projected."""
    ln = look.lengths
    rt = rz(ang[A_LEAN_S]) @ rx(ang[A_LEAN_F])
    rh = rt @ rz(ang[A_HEAD_T]) @ rx(-ang[A_HEAD_N])
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
        ab, fl, el, tw = (ang[i] for i in ARM[side])
        sh = pts["shc"] + rt @ np.array([side * ln["shoulder"], -0.02, 0.0])
        d_up = rt @ rx(-fl) @ rz(side * ab) @ down
        hinge = unit(cross(d_up, rt @ fwd), rt @ np.array([-1.0, 0.0, 0.0]))
        hinge = rotate(hinge, d_up, side * tw)
        d_fore = rotate(d_up, hinge, el)
        pts[f"{tag}sh"] = sh
        pts[f"{tag}el"] = sh + d_up * ln["upper_arm"]
        pts[f"{tag}wr"] = pts[f"{tag}el"] + d_fore * ln["forearm"]
        pts[f"{tag}hand"] = pts[f"{tag}wr"] + d_fore * ln["hand"]
        lab, lfl, kn = (ang[i] for i in LEG[side])
        hip = np.array([side * ln["hip"], 0.0, 0.0])
        d_th = rx(-lfl) @ rz(side * lab) @ down
        khinge = unit(cross(d_th, fwd), np.array([-1.0, 0.0, 0.0]))
        d_sh = rotate(d_th, khinge, -kn)
        pts[f"{tag}hip"] = hip
        pts[f"{tag}kn"] = hip + d_th * ln["thigh"]
        pts[f"{tag}an"] = pts[f"{tag}kn"] + d_sh * ln["shin"]
        foot_dir = unit(np.array([side * 0.3, -0.35, 1.0]), fwd)
        pts[f"{tag}toe"] = pts[f"{tag}an"] + foot_dir * ln["foot"] + np.array([0.0, -ln["foot_h"], 0.0])
        for k, (dx, dz) in enumerate(((0.02, 1), (0.02, -1))):
            pts[f"{tag}sh_c{k}"] = sh + rt @ np.array([side * dx, 0.01, dz * TORSO_DEPTH])
            pts[f"{tag}hip_c{k}"] = hip + np.array([side * (dx + 0.01), -0.02, dz * TORSO_DEPTH])
    names = list(pts)
    p3 = np.array([pts[n] for n in names]) @ ry(yaw).T
    idx = {n: i for i, n in enumerate(names)}
    minimum = float(min(p3[idx["lan"], 1], p3[idx["ran"], 1]))
    py = ground + s * (minimum - ln["foot_h"])  # lowest ankle stands on the ground line
    p2 = np.column_stack([px + s * p3[:, 0], py - s * p3[:, 1]])
    depth = p3[:, 2]

    def P(n: str) -> np.ndarray:
        return p2[idx[n]]

    def D(*ns: str) -> float:  # np.mean's value (its sum runs in order, then divides), without its overhead
        total = depth[idx[ns[0]]]
        for n in ns[1:]:
            total = total + depth[idx[n]]
        return float(total / len(ns))

    kp = np.zeros((NUM_KEYPOINTS, 2))
    for slot, n in ((0, "nose"), (1, "hb"), (2, "ht"), (5, "lsh"), (6, "rsh"), (7, "lel"), (8, "rel"), (9, "lwr"),
                    (10, "rwr"), (11, "lhip"), (12, "rhip"), (13, "lkn"), (14, "rkn"), (15, "lan"), (16, "ran")):
        kp[slot] = P(n)
    b = look.build
    parts: list[tuple[float, str, Any]] = []
    torso_pts = np.array([P(f"{t}{j}_c{k}") for t in "lr" for j in ("sh", "hip") for k in (0, 1)])
    parts.append((0.0, "poly", (torso_pts, G_TOP, 1.0)))
    neck = (P("shc"), P("hb"), s * RADII["neck"][0] * b, s * RADII["neck"][1] * b, G_SKIN, 1.0)
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
            r0, r1 = RADII[part]
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
    return Pose(kp=kp, parts=parts, head_center=P("headc"), head_axes=(0.40 * full, 0.55 * full),
                head_angle=angle, face_front=face_front, lowest=lowest)
