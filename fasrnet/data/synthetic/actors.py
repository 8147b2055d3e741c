"""The people of one video: each person's look, motion and path (position, scale, ground line per frame).

:func:`sample_actors` draws them from the scene stream; the degradation episodes later write their per-frame
effects (fast motion, exposure, lurch, defocus) into the :class:`Actor` (``degradations.degrade``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fasrnet.data.synthetic.body import (
    A_YAW,
    ACTIVITIES,
    Look,
    Motion,
    Pose,
    project_pose,
    sample_look,
    sample_motion,
)
from fasrnet.params import SynthesizeParams


@dataclass
class Actor:
    """One person of a video: look, motion, and per-frame path; :meth:`pose` projects frame ``t`` (``dt``: time
    offset within the exposure, frames)."""

    pid: int
    look: Look
    motion: Motion
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

    def pose(self, t: int, dt: float, cam: np.ndarray) -> Pose:
        tau = self.tau[t] + dt * self.rate[t]
        ang = self.motion.angles(tau)
        s = float(self.scale[t])
        off = self.lurch.get(t, np.zeros(2)) * dt
        return project_pose(self.look, ang, self.yaw0 + ang[A_YAW], s, float(self.x[t] - cam[0] + off[0]),
                            float(self.ground[t] - cam[1] + off[1]))


def sample_actors(rng: np.random.Generator, params: SynthesizeParams, n_frames: int, horizon: float,
                  ground_k: float) -> list[Actor]:
    """Draw ``min_people..max_people`` people: activity, look, motion, view, path (some leave the frame partly)."""
    W, H = params.image_width, params.image_height
    n = int(rng.integers(params.min_people, params.max_people + 1))
    slots = (np.arange(n) + rng.uniform(0.15, 0.85, n)) / n
    slots = slots[rng.permutation(n)]
    rest = (1.0 - params.walker_fraction) * np.array([0.3, 0.3, 0.25, 0.15])
    act_p = np.concatenate([[params.walker_fraction], rest])
    act_p = act_p / act_p.sum() if act_p.sum() > 0 else np.full(len(ACTIVITIES), 1.0 / len(ACTIVITIES))
    t = np.arange(n_frames, dtype=np.float64)
    actors = []
    for pid in range(n):
        activity = ACTIVITIES[int(rng.choice(len(ACTIVITIES), p=act_p))]
        look = sample_look(rng)
        motion = sample_motion(rng, activity)
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
        actors.append(Actor(pid=pid, look=look, motion=motion, activity=activity, yaw0=float(yaw0), x=x,
                            scale=scale, ground=ground, rate=np.ones(n_frames), tau=t.copy()))
    return actors
