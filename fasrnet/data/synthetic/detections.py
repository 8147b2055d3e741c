"""Precomputed person boxes for val/test frames, as a detector would give them: jittered true boxes, misses
(more for degraded or hidden people), false positives (parts, crowd figures, clutter); DCPose/PoseWarper format.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fasrnet.data.posetrack import image_id_2018
from fasrnet.data.synthetic.scene import Scene
from fasrnet.params import SynthesizeParams


def _degraded(scene: Scene, pid: int, t: int) -> bool:
    """Whether frame ``t`` is inside an episode of person ``pid`` or of the whole frame."""
    return any(e.start <= t < e.stop and e.target in (-1, pid) for e in scene.episodes)


def detect(rng: np.random.Generator, params: SynthesizeParams, scene: Scene, t: int, pids: list[int],
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
