"""Rendering one frame of a scene: background, cars, people (depth-sorted label maps, textured, supersampled in
time for motion blur, defocused), occluders, whole-frame effects, sensor noise.

Besides the image it returns who owns each pixel, from which the annotations decide what is visible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from fasrnet.data.synthetic.actors import Actor
from fasrnet.data.synthetic.body import G_EYE, G_HAIR, G_NONE, G_SKIN, TILE, Pose
from fasrnet.data.synthetic.degradations import apply_frame_effect, draw_occluder
from fasrnet.data.synthetic.raster import SHIFT, capsule, disc, ellipse, fixed, rect
from fasrnet.data.synthetic.scene import Scene

#: Owner-map value of pixels covered by an occluder.
OCCLUDER_ID = 1000


def _draw_labels(pose: Pose, origin: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
            capsule(lab, p0 - origin, p1 - origin, r0, r1, new(group, shade))
        elif kind == "poly":
            pts, group, shade = geo
            hull = cv2.convexHull(fixed(pts - origin).reshape(-1, 1, 2))
            cv2.fillConvexPoly(lab, hull, new(group, shade), cv2.LINE_8, SHIFT)
        else:
            center, axes, angle, face, leye, reye, front, s = geo
            hair = new(G_HAIR, 1.0)
            ellipse(lab, center - origin, axes, angle, hair)
            if front > -0.35:
                face_mask = np.zeros(shape, np.uint8)
                ellipse(face_mask, face - origin, (axes[0] * 0.85, axes[1] * 0.78), angle, 1)
                lab[(face_mask > 0) & (lab == hair)] = new(G_SKIN, 1.0)
            if front > 0.3:
                eye = new(G_EYE, 1.0)
                r = max(0.6, 0.008 * s)
                for e in (leye, reye):
                    disc(lab, e - origin, r, eye)
    return lab, np.array(groups, np.intp), np.array(shades, np.float32)


def _label_colors(lab: np.ndarray, groups: np.ndarray, shades: np.ndarray, tiles: np.ndarray,
                  y0: int, x0: int, oy: int, ox: int) -> np.ndarray:
    """The (h, w, 3) colours of a label map: each label's group tile (anchored at the person's (ox, oy)),
    shaded, with darkened edges between labels; label 0 (nobody) is black."""
    h, w = lab.shape
    # Shade each label's tile once, then one flat gather (label, row, column → texel): per pixel the same float32
    # product as shading after the gather, in a third of the time (benchmarks/bench_synthesize.py); this is the
    # synthesizer's hottest function.
    texels = tiles[groups] * shades[:, None, None, None]
    texels[0] = 0.0
    idx = lab.astype(np.intp) * (TILE * TILE)
    idx += ((np.arange(h) + (y0 - oy)) % TILE)[:, None] * TILE
    idx += ((np.arange(w) + (x0 - ox)) % TILE)[None, :]
    col = np.take(texels.reshape(-1, 3), idx, axis=0)
    edge = np.zeros(lab.shape, bool)
    vertical = lab[1:, :] != lab[:-1, :]
    edge[1:, :] |= vertical
    edge[:-1, :] |= vertical
    horizontal = lab[:, 1:] != lab[:, :-1]
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    np.multiply(col, np.float32(0.72), out=col, where=edge[..., None])
    return col


@dataclass
class Rendered:
    """One person as drawn in a frame: the region of interest, its silhouette there, and its pose."""

    pid: int
    roi: tuple[int, int, int, int]  # y0, y1, x0, x1
    mask: np.ndarray  # centre-time silhouette (bool, ROI)
    pose: Pose


def _draw_cars(scene: Scene, t: int, cam: np.ndarray, img: np.ndarray) -> None:
    """The passing cars at frame ``t``, drawn into ``img`` (float32, in place)."""
    for car in scene.cars:
        x = car.x0 + car.v * t - (cam[0] + scene.cam0[0])
        y = car.y - (cam[1] + scene.cam0[1])
        rect(img, (x + 0.2 * car.w, y - 1.45 * car.h), (x + 0.8 * car.w, y - car.h), (car.color * 0.8).tolist())
        rect(img, (x, y - car.h), (x + car.w, y - 0.25 * car.h), car.color.tolist())
        for wx in (0.22, 0.78):
            disc(img, (x + wx * car.w, y - 0.22 * car.h), 0.22 * car.h, (25.0, 25.0, 25.0))


def _draw_occluders(scene: Scene, t: int, img: np.ndarray, owner: np.ndarray) -> None:
    """The occluders present at frame ``t``, textured into ``img`` (in place); they own their pixels."""
    W, H = scene.width, scene.height
    occ_mask = np.zeros((H, W), np.uint8)
    active = []
    for k, occ in enumerate(scene.occluders):
        c = occ.center(t)
        if not occ.start <= t < occ.stop:
            continue
        if c[0] + occ.w < 0 or c[0] - occ.w > W or c[1] + occ.h < 0 or c[1] - occ.h > H:
            continue
        draw_occluder(occ, t, occ_mask, k + 1)
        active.append((k, occ))
    if active:
        for k, occ in active:
            sel = occ_mask == k + 1
            if not sel.any():
                continue
            c = occ.center(t)
            yy, xx = np.nonzero(sel)
            col = occ.tile[(yy - int(c[1])) % TILE, (xx - int(c[0])) % TILE]
            img[yy, xx] = col
        owner[occ_mask > 0] = OCCLUDER_ID


def render_frame(t: int, scene: Scene,
                 noise_rng: np.random.Generator) -> tuple[np.ndarray, list[Rendered], np.ndarray]:
    """Render frame ``t``: returns the uint8 BGR image (H, W, 3), the rendered people and the int16 owner map
    (H, W) (-1 background, track id, or :data:`OCCLUDER_ID`). Draws only ``noise_rng`` (sensor noise)."""
    W, H = scene.width, scene.height
    cam = scene.cam[t]
    m = np.array([[1.0, 0.0, -(cam[0] + scene.cam0[0])], [0.0, 1.0, -(cam[1] + scene.cam0[1])]])
    img = cv2.warpAffine(scene.canvas, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    _draw_cars(scene, t, cam, img)
    owner = np.full((H, W), -1, np.int16)
    rendered: list[Rendered] = []
    for actor in sorted(scene.actors, key=lambda a: (a.scale[t], a.pid)):  # far (small) people first
        out = _render_person(actor, t, cam, img, W, H)
        if out is None:
            continue
        y0, y1, x0, x1 = out.roi
        owner[y0:y1, x0:x1][out.mask] = actor.pid
        rendered.append(out)
    _draw_occluders(scene, t, img, owner)
    effect = scene.frame_effect.get(t)
    if effect is not None:
        img = apply_frame_effect(img, effect)
    img = img + noise_rng.normal(0.0, 1.6, (H, W, 1)).astype(np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), rendered, owner


def _render_person(actor: Actor, t: int, cam: np.ndarray, img: np.ndarray, W: int, H: int) -> Rendered | None:
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
        acc_col += _label_colors(lab, groups, shades, actor.look.tiles, y0c, x0c, oy, ox)
        acc_a += lab > 0
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
    return Rendered(pid=actor.pid, roi=(y0c, y1c, x0c, x1c), mask=mask, pose=centre)
