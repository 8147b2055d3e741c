"""Sub-pixel drawing primitives: OpenCV's fixed-point filled shapes (``shift=SHIFT``) on images or label maps.

Coordinates are float pixels; :func:`fixed` turns them into OpenCV's fixed point, so that shapes move smoothly
by fractions of a pixel between frames (motion blur samples depend on it).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

SHIFT = 4
ONE = 1 << SHIFT


def fixed(p: Any) -> np.ndarray:
    """Pixel coordinates → OpenCV fixed point (``shift=SHIFT``), for sub-pixel drawing."""
    return np.round(np.asarray(p, np.float64) * ONE).astype(np.int32)


def fixed_pt(p: Any) -> tuple[int, int]:
    """One point in fixed point, as OpenCV's ``(x, y)`` tuple."""
    v = fixed(p)
    return int(v[0]), int(v[1])


def rect(img: np.ndarray, p1: Any, p2: Any, val: Any) -> None:
    """Filled axis-aligned rectangle between corners ``p1`` and ``p2``."""
    cv2.rectangle(img, fixed_pt(p1), fixed_pt(p2), val, -1, cv2.LINE_8, SHIFT)


def disc(img: np.ndarray, c: Any, r: float, val: Any) -> None:
    """Filled disc of radius ``r`` pixels around ``c``."""
    cv2.circle(img, fixed_pt(c), int(round(r * ONE)), val, -1, cv2.LINE_8, SHIFT)


def capsule(img: np.ndarray, p0: np.ndarray, p1: np.ndarray, r0: float, r1: float, val: int) -> None:
    """Filled tapered capsule from ``p0`` (radius ``r0``) to ``p1`` (radius ``r1``), radii at least 0.8 px."""
    r0, r1 = max(r0, 0.8), max(r1, 0.8)
    d = p1 - p0
    n = float(np.hypot(d[0], d[1]))
    if n > 1e-3:
        perp = np.array([-d[1], d[0]]) / n
        quad = np.array([p0 + perp * r0, p1 + perp * r1, p1 - perp * r1, p0 - perp * r0])
        cv2.fillConvexPoly(img, fixed(quad), val, cv2.LINE_8, SHIFT)
    disc(img, p0, r0, val)
    disc(img, p1, r1, val)


def ellipse(img: np.ndarray, c: np.ndarray, axes: tuple[float, float], angle: float, val: int) -> None:
    """Filled ellipse with half-axes ``axes`` (pixels), rotated by ``angle`` degrees."""
    size = (max(1, int(round(axes[0] * ONE))), max(1, int(round(axes[1] * ONE))))
    cv2.ellipse(img, fixed_pt(c), size, angle, 0, 360, val, -1, cv2.LINE_8, SHIFT)
