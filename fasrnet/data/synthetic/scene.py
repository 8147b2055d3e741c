"""One video's scene: a textured background canvas the camera pans over, passing cars, an unannotated crowd
blob (with its ignore polygon), the people and the degradations of their episodes.

:func:`build_scene` draws everything from the video's scene stream, in a fixed order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from fasrnet.data.synthetic.actors import Actor, sample_actors
from fasrnet.data.synthetic.degradations import Episode, FrameEffect, Occluder, degrade
from fasrnet.data.synthetic.geometry import bgr
from fasrnet.params import SynthesizeParams


@dataclass
class Crowd:
    """Small unannotated figures drawn into the canvas, inside one ignore polygon."""

    polygon: np.ndarray  # (N, 2) canvas pixels
    boxes: list[tuple[float, float, float, float]]  # figure boxes x1, y1, x2, y2 (canvas pixels)


@dataclass
class Car:
    """A car passing along the horizon at constant speed (drawn per frame, over the canvas)."""

    x0: float
    y: float  # bottom (canvas pixels)
    v: float
    w: float
    h: float
    color: np.ndarray


def _background(rng: np.random.Generator, wc: int, hc: int, horizon: float) -> np.ndarray:
    """The (hc, wc, 3) float32 canvas: sky and ground gradients, buildings, trees, paving lines, texture noise."""
    img = np.empty((hc, wc, 3), np.float32)
    sky_top, sky_bottom = bgr(rng, (190, 230), (0.2, 0.6), (0.6, 1.0)), bgr(rng, (180, 230), (0.05, 0.3), (0.75, 1.0))
    ground_far, ground_near = bgr(rng, (20, 140), (0.2, 0.6), (0.3, 0.7)), bgr(rng, (20, 140), (0.2, 0.7), (0.2, 0.6))
    hz = int(np.clip(horizon, 1, hc - 1))
    a = np.linspace(0, 1, hz, dtype=np.float32)[:, None, None]
    img[:hz] = sky_top * (1 - a) + sky_bottom * a
    b = np.linspace(0, 1, hc - hz, dtype=np.float32)[:, None, None]
    img[hz:] = ground_far * (1 - b) + ground_near * b
    # buildings and trees along the horizon
    for _ in range(int(rng.integers(3, 8))):
        bw, bh = rng.uniform(0.08, 0.25) * wc, rng.uniform(0.15, 0.5) * hz
        x = rng.uniform(-0.1, 1.0) * wc
        col = bgr(rng, (0, 360), (0.0, 0.4), (0.3, 0.9))
        cv2.rectangle(img, (int(x), int(hz - bh)), (int(x + bw), hz + 2), col.tolist(), -1)
        win = col * rng.uniform(0.4, 0.7)
        step = max(4, int(rng.uniform(0.03, 0.06) * hc))
        for wy in range(int(hz - bh + step // 2), hz - step // 2, step):
            for wx in range(int(x + step // 2), int(x + bw - step // 2), step):
                cv2.rectangle(img, (wx, wy), (wx + step // 2, wy + step // 2), win.tolist(), -1)
    for _ in range(int(rng.integers(1, 5))):
        tx, tr = rng.uniform(0, wc), rng.uniform(0.04, 0.1) * hc
        trunk = bgr(rng, (15, 35), (0.4, 0.7), (0.2, 0.4))
        cv2.rectangle(img, (int(tx - tr * 0.15), int(hz - tr)), (int(tx + tr * 0.15), hz + 2), trunk.tolist(), -1)
        leaves = bgr(rng, (80, 150), (0.4, 0.8), (0.25, 0.6))
        cv2.circle(img, (int(tx), int(hz - tr * 1.6)), int(tr), leaves.tolist(), -1)
    # paving lines on the ground
    for _ in range(int(rng.integers(0, 4))):
        y = rng.uniform(hz, hc)
        cv2.line(img, (0, int(y)), (wc, int(y + rng.uniform(-0.1, 0.1) * hc)), (ground_near * 0.7).tolist(), 1)
    low = rng.normal(0, 1, (6, max(2, wc * 6 // hc), 3)).astype(np.float32)
    img += cv2.resize(low, (wc, hc), interpolation=cv2.INTER_CUBIC) * 7.0
    img += rng.normal(0, 5.0, (hc, wc, 1)).astype(np.float32)
    return np.clip(img, 0, 255)


def _draw_crowd(rng: np.random.Generator, canvas: np.ndarray, horizon: float, ground_k: float, img_h: int,
                cx: float) -> Crowd:
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
        col = bgr(rng, (0, 360), (0.2, 0.9), (0.2, 0.9))
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
    return Crowd(polygon=hull, boxes=boxes)


def clip_polygon(poly: np.ndarray, w: int, h: int) -> np.ndarray | None:
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


@dataclass
class Scene:
    """Everything needed to render a video's frames: canvas (canvas pixels), camera path, people, degradations."""

    width: int
    height: int
    canvas: np.ndarray
    cam0: np.ndarray
    cam: np.ndarray  # (T, 2) camera offset relative to cam0
    actors: list[Actor]
    occluders: list[Occluder]
    cars: list[Car]
    crowd: Crowd | None
    frame_effect: dict[int, FrameEffect]  # frame -> whole-frame effect
    episodes: list[Episode]


def build_scene(rng: np.random.Generator, params: SynthesizeParams, n_frames: int) -> Scene:
    """Draw a video's scene from its scene stream: layout and camera, background, crowd, cars, people, then the
    degradation episodes and their effects."""
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
        crowd = _draw_crowd(rng, canvas, horizon + pad, ground_k, H, cam0[0] + rng.uniform(0.15, 0.85) * W)
    cars = []
    for _ in range(int(rng.integers(0, 3))):
        ch = rng.uniform(0.05, 0.1) * H
        v = rng.uniform(1.0, 4.0) * (W / 320) * (1 if rng.random() < 0.5 else -1)
        cars.append(Car(x0=rng.uniform(0, wc), y=horizon + pad + rng.uniform(0.02, 0.1) * H, v=v, w=2.6 * ch, h=ch,
                        color=bgr(rng, (0, 360), (0.3, 0.9), (0.3, 0.9))))
    actors = sample_actors(rng, params, n_frames, horizon, ground_k)
    deg = degrade(rng, params, n_frames, actors, cam)
    return Scene(width=W, height=H, canvas=canvas, cam0=cam0, cam=cam, actors=actors, occluders=deg.occluders,
                 cars=cars, crowd=crowd, frame_effect=deg.frame_effect, episodes=deg.episodes)
