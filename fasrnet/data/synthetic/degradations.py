"""Degradation episodes: when they happen (:func:`schedule`) and what each kind does (:func:`degrade`).

An :class:`Episode` degrades one person or the whole frame over 1..``episode_max_frames`` frames, with clean
frames between two episodes of one target. Each kind is a small transform, sampled from the scene stream:

* motion blur: a person moves fast over a long exposure (the renderer supersamples it in time) and lurches;
  a whole frame gets camera shake (:func:`apply_frame_effect` convolves it with a line kernel);
* defocus: a Gaussian blur of one person, or of the whole frame;
* occlusion: an :class:`Occluder` (box, ball, pole, fence) crosses the person, or the frame.

The order of the draws is part of the data (byte-identical files): frame episodes first, then each person's,
then each episode's effect in start order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from fasrnet.data.synthetic.actors import Actor
from fasrnet.data.synthetic.body import pattern_tile
from fasrnet.data.synthetic.geometry import bgr
from fasrnet.data.synthetic.names import KINDS
from fasrnet.data.synthetic.raster import SHIFT, ellipse, fixed_pt, rect
from fasrnet.params import SynthesizeParams


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


def schedule(rng: np.random.Generator, n_frames: int, fraction: float, max_len: int, kinds: list[str],
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


def kind_weights(params: SynthesizeParams) -> tuple[list[str], np.ndarray]:
    """The kinds with a positive weight (in :data:`KINDS` order) and their probabilities."""
    w = {"motion_blur": params.motion_blur_weight, "defocus": params.defocus_weight,
         "occlusion": params.occlusion_weight}
    kinds = [k for k in KINDS if w[k] > 0]
    weights = np.array([w[k] for k in kinds], np.float64)
    return kinds, weights / weights.sum() if kinds else weights


@dataclass
class Occluder:
    """An object crossing the image at constant velocity during an occlusion episode."""

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


def occluder_tile(rng: np.random.Generator) -> np.ndarray:
    """A textured (TILE, TILE, 3) float32 colour tile for an occluder."""
    base = bgr(rng, (0, 360), (0.0, 0.8), (0.2, 0.9))
    return pattern_tile(rng, base, ("solid", "solid", "hstripes", "checks", "dots"))


def draw_occluder(occ: Occluder, t: int, mask: np.ndarray, val: int) -> None:
    """Fill the occluder's shape at frame ``t`` into ``mask`` (H, W) with ``val``."""
    c = occ.center(t)
    w, h = occ.w, occ.h
    if occ.kind == "ball":
        ellipse(mask, c, (w / 2, h / 2), 0.0, val)
    elif occ.kind == "fence":
        n = max(2, int(round(w / max(4.0, 0.18 * h))))
        bar = max(2.0, w / (2.5 * n))
        for k in range(n):
            x = c[0] - w / 2 + (k + 0.5) * w / n
            rect(mask, (x - bar / 2, c[1] - h / 2), (x + bar / 2, c[1] + h / 2), val)
        for y in (c[1] - h * 0.35, c[1] + h * 0.3):
            rect(mask, (c[0] - w / 2, y - bar / 2), (c[0] + w / 2, y + bar / 2), val)
    else:  # box, pole
        rect(mask, (c[0] - w / 2, c[1] - h / 2), (c[0] + w / 2, c[1] + h / 2), val)


# --------------------------------------------------------------------------------------------------------------
# What each kind does: sampled per episode from the scene stream

#: A whole-frame effect of one frame: ``("motion_blur", length px, angle rad)`` or ``("defocus", sigma px, 0.0)``.
FrameEffect = tuple[str, float, float]


@dataclass
class Degradations:
    """A video's episodes and their scene-level effects (person effects are written into the actors)."""

    episodes: list[Episode]
    frame_effect: dict[int, FrameEffect]  # frame -> effect
    occluders: list[Occluder]


def _frame_motion_blur(rng: np.random.Generator, ep: Episode, params: SynthesizeParams, out: Degradations) -> None:
    """Camera shake: one line-kernel blur (length, direction) over the episode's frames."""
    W, blur = params.image_width, params.blur_strength
    value, angle = rng.uniform(0.025, 0.05) * W * blur, rng.uniform(0, math.pi)
    for f in range(ep.start, ep.stop):
        out.frame_effect[f] = ("motion_blur", float(value), float(angle))


def _frame_defocus(rng: np.random.Generator, ep: Episode, params: SynthesizeParams, out: Degradations) -> None:
    """Refocus: one Gaussian blur over the episode's frames."""
    value = rng.uniform(0.007, 0.014) * params.image_width * params.blur_strength
    for f in range(ep.start, ep.stop):
        out.frame_effect[f] = ("defocus", float(value), 0.0)


def _frame_occlusion(rng: np.random.Generator, ep: Episode, params: SynthesizeParams, out: Degradations) -> None:
    """A big box or pole crossing the whole frame during the episode."""
    W, H = params.image_width, params.image_height
    length = ep.stop - ep.start
    mid = (ep.start + ep.stop - 1) / 2.0
    w = rng.uniform(0.25, 0.45) * W
    h = H * rng.uniform(0.7, 1.3)
    direction = 1.0 if rng.random() < 0.5 else -1.0
    cx = rng.uniform(0.3, 0.7) * W
    v = direction * (w + 0.3 * W) / (length + 1)
    out.occluders.append(Occluder(kind=str(rng.choice(["box", "pole"])),
                                  c0=np.array([cx, H - h / 2 + rng.uniform(0, 0.3) * h]),
                                  v=np.array([v, 0.0]), t0=mid, w=w, h=h, tile=occluder_tile(rng),
                                  start=ep.start, stop=ep.stop))


def _person_motion_blur(rng: np.random.Generator, ep: Episode, actor: Actor, cam: np.ndarray,
                        params: SynthesizeParams, out: Degradations) -> None:
    """Fast motion over a long exposure, with a lurch (the renderer supersamples it in time)."""
    blur = params.blur_strength
    s = float(actor.scale[int(round((ep.start + ep.stop - 1) / 2.0))])
    assert actor.exposure is not None
    for f in range(ep.start, ep.stop):
        actor.rate[f] = rng.uniform(2.5, 4.0)
        actor.exposure[f] = rng.uniform(0.8, 1.4) * blur
        theta = rng.uniform(0, 2 * math.pi)
        actor.lurch[f] = np.array([math.cos(theta), math.sin(theta)]) * rng.uniform(0.04, 0.1) * s * blur


def _person_defocus(rng: np.random.Generator, ep: Episode, actor: Actor, cam: np.ndarray,
                    params: SynthesizeParams, out: Degradations) -> None:
    """A Gaussian blur of the person (sigma proportional to their height)."""
    s = float(actor.scale[int(round((ep.start + ep.stop - 1) / 2.0))])
    sigma = rng.uniform(0.02, 0.035) * s * params.blur_strength
    for f in range(ep.start, ep.stop):
        actor.defocus[f] = float(sigma)


def _person_occlusion(rng: np.random.Generator, ep: Episode, actor: Actor, cam: np.ndarray,
                      params: SynthesizeParams, out: Degradations) -> None:
    """A box, ball, pole or fence crossing the person's body at the episode's middle frame."""
    H = params.image_height
    length = ep.stop - ep.start
    mid = (ep.start + ep.stop - 1) / 2.0
    s = float(actor.scale[int(round(mid))])
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
    out.occluders.append(Occluder(kind=kind, c0=target, v=np.array([v, rng.normal(0, 0.1 * abs(v))]),
                                  t0=mid, w=w, h=h, tile=occluder_tile(rng), start=ep.start, stop=ep.stop))


_FRAME_KINDS: dict[str, Callable[[np.random.Generator, Episode, SynthesizeParams, Degradations], None]] = {
    "motion_blur": _frame_motion_blur, "defocus": _frame_defocus, "occlusion": _frame_occlusion,
}
_PERSON_KINDS: dict[str, Callable[[np.random.Generator, Episode, Actor, np.ndarray, SynthesizeParams, Degradations],
                                  None]] = {
    "motion_blur": _person_motion_blur, "defocus": _person_defocus, "occlusion": _person_occlusion,
}


def degrade(rng: np.random.Generator, params: SynthesizeParams, n_frames: int, actors: list[Actor],
            cam: np.ndarray) -> Degradations:
    """Schedule the episodes (whole frames, then each person) and apply each one's kind, in start order.

    ``cam`` (T, 2) is the camera offset per frame. Sets every actor's exposure (0.3 frames outside motion-blur
    episodes) and its pose time ``tau`` (the cumulative pose-time rate)."""
    frame_frac = params.degraded_fraction * params.frame_degradation_share
    person_frac = (params.degraded_fraction - frame_frac) / max(1e-9, 1.0 - frame_frac)
    kinds, weights = kind_weights(params)
    episodes = schedule(rng, n_frames, frame_frac, params.episode_max_frames, kinds, weights, -1)
    for actor in actors:
        episodes += schedule(rng, n_frames, person_frac, params.episode_max_frames, kinds, weights, actor.pid)
    out = Degradations(episodes=episodes, frame_effect={}, occluders=[])
    for actor in actors:
        actor.exposure = np.full(n_frames, 0.3)
    for ep in episodes:
        if ep.target < 0:
            _FRAME_KINDS[ep.kind](rng, ep, params, out)
        else:
            _PERSON_KINDS[ep.kind](rng, ep, actors[ep.target], cam, params, out)
    for actor in actors:
        actor.tau = np.concatenate([[0.0], np.cumsum(actor.rate[:-1])])
    return out


def apply_frame_effect(img: np.ndarray, effect: FrameEffect) -> np.ndarray:
    """A whole-frame effect applied to the float32 (H, W, 3) image: a line-kernel or a Gaussian blur."""
    kind, value, angle = effect
    if kind == "motion_blur":
        size = int(2 * math.ceil(value / 2) + 1)
        kernel = np.zeros((size, size), np.float32)
        c = size // 2
        d = np.array([math.cos(angle), math.sin(angle)]) * value / 2
        cv2.line(kernel, fixed_pt((c - d[0], c - d[1])), fixed_pt((c + d[0], c + d[1])), 1.0, 1, cv2.LINE_8, SHIFT)
        kernel /= kernel.sum()
        img = cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT)
    elif kind == "defocus":
        img = cv2.GaussianBlur(img, (0, 0), value, borderType=cv2.BORDER_REFLECT)
    return img
