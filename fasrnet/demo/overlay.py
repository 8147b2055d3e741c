"""``overlay.mp4``: the frozen backbone alone (left) and FaSRnet (right) on the same frame, skeletons drawn per
person; a degraded frame gets a red footer naming what degrades it (docs/demo.md).

Layout of every overlay frame, for a clip of W × H pixels scaled by the whole factor
``f = ceil(demo.panel_height_min / H)`` (1 for frames at least that high): a label row, the two panels
(2·f·W × f·H) and a footer row (frame number, degradation), each row ``ROW_HEIGHT · max(1, f·H / 480)`` pixels
high; width and height rounded up to even numbers (video codecs want them even).
"""

from __future__ import annotations

import math
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from fasrnet.errors import FasrnetError
from fasrnet.io import atomic_path
from fasrnet.keypoints import SKELETON

#: Height of the label and footer rows at a 480-pixel-high panel.
ROW_HEIGHT = 28
#: One colour per person of a frame (BGR), in the order of its boxes.
PALETTE = ((60, 220, 60), (255, 170, 40), (40, 200, 255), (230, 80, 230), (80, 255, 255), (255, 255, 80),
           (120, 120, 255), (200, 200, 200))
#: The footer of a degraded frame (BGR), and of a clean one.
DEGRADED_BGR = (40, 40, 215)
CLEAN_BGR = (48, 48, 48)
FOURCC = "mp4v"  # MPEG-4 part 2: what OpenCV's bundled FFmpeg writes into .mp4 everywhere

#: One person to draw: joints (J, 2) in frame pixels and their scores (J,).
Pose = tuple[np.ndarray, np.ndarray]


def scale_factor(height: int, panel_height_min: int) -> int:
    return max(1, math.ceil(panel_height_min / height)) if height < panel_height_min else 1


def row_height(panel_height: int) -> int:
    return 2 * round(ROW_HEIGHT * max(1.0, panel_height / 480) / 2)


def overlay_size(width: int, height: int, panel_height_min: int) -> tuple[int, int]:
    """(width, height) of ``overlay.mp4``'s frames for a clip of ``width`` × ``height``."""
    f = scale_factor(height, panel_height_min)
    w, h = 2 * f * width, f * height + 2 * row_height(f * height)
    return w + w % 2, h + h % 2


def draw_pose(img: np.ndarray, pose: Pose, colour: tuple[int, int, int], threshold: float, factor: int) -> None:
    """Limbs and joints of one person into ``img`` (BGR, already scaled by ``factor``); joints scoring below
    ``threshold`` and the limbs touching them are left out."""
    coords, scores = pose
    pts = [(int(round(x * factor)), int(round(y * factor))) for x, y in coords]
    ok = scores >= threshold
    width = max(1, round(1.5 * factor))
    for a, b in SKELETON:
        if ok[a] and ok[b]:
            cv2.line(img, pts[a], pts[b], colour, width, cv2.LINE_AA)
    for j in np.nonzero(ok)[0]:
        cv2.circle(img, pts[j], width + 1, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(img, pts[j], width + 1, colour, 1, cv2.LINE_AA)


def _panel(rgb: np.ndarray, poses: list[Pose], threshold: float, factor: int) -> np.ndarray:
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if factor > 1:
        img = cv2.resize(img, (img.shape[1] * factor, img.shape[0] * factor), interpolation=cv2.INTER_NEAREST)
    for k, pose in enumerate(poses):
        draw_pose(img, pose, PALETTE[k % len(PALETTE)], threshold, factor)
    return img


def _text(img: np.ndarray, text: str, x: int, row: int, top: int) -> None:
    scale = row / 44
    cv2.putText(img, text, (x, top + int(row * 0.7)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                max(1, round(row / 28)), cv2.LINE_AA)


def compose(rgb: np.ndarray, backbone: list[Pose], fasrnet: list[Pose], labels: tuple[str, str], footer: str,
            degraded: str | None, threshold: float, panel_height_min: int) -> np.ndarray:
    """One overlay frame (BGR, :func:`overlay_size`): labels, the two panels, the footer."""
    h, w = rgb.shape[:2]
    f = scale_factor(h, panel_height_min)
    row = row_height(f * h)
    width, height = overlay_size(w, h, panel_height_min)
    out = np.zeros((height, width, 3), np.uint8)
    out[:row] = (24, 24, 24)
    out[row:row + f * h, :f * w] = _panel(rgb, backbone, threshold, f)
    out[row:row + f * h, f * w:2 * f * w] = _panel(rgb, fasrnet, threshold, f)
    out[row:row + f * h, f * w - 1:f * w + 1] = (255, 255, 255)
    foot = row + f * h
    out[foot:] = DEGRADED_BGR if degraded else CLEAN_BGR
    pad = row // 3
    _text(out, labels[0], pad, row, 0)
    _text(out, labels[1], f * w + pad, row, 0)
    _text(out, footer + (f"   DEGRADED: {degraded}" if degraded else ""), pad, row, foot)
    if degraded:  # a red frame around both panels too, so the flag shows in a thumbnail
        cv2.rectangle(out, (0, row), (width - 1, foot - 1), DEGRADED_BGR, max(2, f * 2))
    return out


class OverlayWriter:
    """Writes ``overlay.mp4`` frame by frame into a temporary file beside it; :meth:`close` with success puts it in
    place (``os.replace``), a failure leaves an earlier overlay as it was."""

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]):
        self.path = Path(path)
        self.size = size
        self._ctx = atomic_path(self.path)
        self._tmp = self._ctx.__enter__()
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*FOURCC), fps, size)
        if not self._writer.isOpened():
            self._ctx.__exit__(_Abandoned, _Abandoned(), None)  # removes the temporary file
            raise FasrnetError(f"{self.path}: OpenCV cannot write an {FOURCC} video here (its FFmpeg backend is "
                               "missing from this OpenCV build?)")
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            raise ValueError(f"overlay frame of {frame.shape[1]}x{frame.shape[0]}, expected {self.size}")
        self._writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        self._writer.release()
        self._ctx.__exit__(None, None, None)

    def __enter__(self) -> OverlayWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self._writer.release()
            self._ctx.__exit__(kind, exc, tb)


class _Abandoned(Exception):
    """Raised into the temporary file's context to remove it (the writer could not start)."""
