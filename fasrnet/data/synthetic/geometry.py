"""Small geometry helpers of the synthetic generator: 3D rotations, vectors, soft joint limits, random colours.

Pure functions of numpy arrays (and one colour draw from a given stream); nothing here knows about people.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def rx(a: float) -> np.ndarray:
    """(3, 3) rotation about x by ``a`` radians."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def ry(a: float) -> np.ndarray:
    """(3, 3) rotation about y by ``a`` radians."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rz(a: float) -> np.ndarray:
    """(3, 3) rotation about z by ``a`` radians."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two 3-vectors, written out."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def rotate(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues: ``v`` rotated about the unit ``axis`` by ``angle``."""
    c, s = math.cos(angle), math.sin(angle)
    return v * c + cross(axis, v) * s + axis * float(axis @ v) * (1.0 - c)


def unit(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """``v`` normalised, or ``fallback`` when ``v`` is (nearly) zero."""
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-6 else fallback


def soft_clip(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``x`` squashed smoothly into (lo, hi) with tanh (limits are approached, never hit)."""
    mid, half = (lo + hi) / 2.0, (hi - lo) / 2.0
    return mid + half * np.tanh((x - mid) / half)


def bgr(rng: np.random.Generator, h: tuple[float, float], s: tuple[float, float],
        v: tuple[float, float]) -> np.ndarray:
    """A random BGR colour (0–255 floats) from hue (degrees), saturation and value ranges."""
    hsv = np.array([[[rng.uniform(*h), rng.uniform(*s), rng.uniform(*v)]]], dtype=np.float32)
    hsv[..., 0] %= 360.0
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0] * 255.0
