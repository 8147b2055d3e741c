"""The frames of the clip ``fasrnet demo`` runs on: a video file OpenCV reads (.mp4, .avi, …) or a folder of
frame images, decoded one at a time as RGB (docs/demo.md).

Each frame has a *name* in the form PoseTrack files use (``<video>/<frame>.jpg``): a folder's own file names, under
the path from its ``images`` component when it has one (``images/val/000342_mpii_test/000017.jpg``, as the
dataset's annotations and box files name them), else under the folder's name; a video file's frames are
``<stem>/000000.jpg``, ``<stem>/000001.jpg``, …. Boxes are matched to frames by :func:`frame_key`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from fasrnet.data.images import ImageCache
from fasrnet.errors import FasrnetError

#: Frame image files a folder may hold.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
#: t−1, t and t+1 must be three distinct frames.
MIN_FRAMES = 3
_DIGITS = re.compile(r"^\d+$")
#: FFmpeg's own log lines ("moov atom not found", "header damaged", …) would precede the one ``error:`` line that
#: says what is wrong with the clip: OpenCV reads this variable once, when its FFmpeg backend first starts, so it is
#: set on import, before any video is opened. ``OPENCV_FFMPEG_LOGLEVEL=16`` (errors) or ``OPENCV_FFMPEG_DEBUG=1``
#: in the environment shows them again (docs/demo.md).
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


def frame_key(name: str) -> int | str:
    """What matches a box to a frame: the frame number when the basename's stem is digits (``000017.jpg``,
    ``17.png`` → 17), else the basename itself."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0]
    return int(stem) if _DIGITS.match(stem) else base


def _natural(path: Path) -> tuple[int, int | str]:
    key = frame_key(path.name)
    return (0, key) if isinstance(key, int) else (1, key)


@dataclass
class FrameSource:
    """A clip to read frame by frame. ``count`` is exact for a folder and the container's own (possibly
    approximate) figure for a video file; iteration yields ``(name, key, RGB frame (H, W, 3) uint8)``."""

    path: Path
    name: str
    fps: float
    count: int
    is_video_file: bool
    files: list[Path] = field(default_factory=list)
    prefix: str = ""

    def __iter__(self) -> Iterator[tuple[str, int | str, np.ndarray]]:
        return self._read_video() if self.is_video_file else self._read_folder()

    def _read_folder(self) -> Iterator[tuple[str, int | str, np.ndarray]]:
        cache = ImageCache(self.path, capacity=1)  # verifies truncated JPEG/PNG files, names the file
        size = None
        for f in self.files:
            rgb = cache.get(f.name)
            if size is None:
                size = rgb.shape
            elif rgb.shape != size:
                raise FasrnetError(f"{f}: frame of {rgb.shape[1]}x{rgb.shape[0]} pixels, but the clip's first "
                                   f"frame is {size[1]}x{size[0]}; every frame must have one size")
            yield f"{self.prefix}/{f.name}", frame_key(f.name), rgb

    def _read_video(self) -> Iterator[tuple[str, int | str, np.ndarray]]:
        cap = cv2.VideoCapture(str(self.path))
        try:
            k = 0
            while True:
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    break
                yield f"{self.prefix}/{k:06d}.jpg", k, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                k += 1
        finally:
            cap.release()


def _folder_prefix(folder: Path) -> str:
    parts = folder.resolve().parts
    for k in range(len(parts) - 1, -1, -1):
        if parts[k] in ("images", "images_renamed"):
            return "/".join(parts[k:])
    return folder.resolve().name


def open_frames(path: str | Path, folder_fps: float) -> FrameSource:
    """The clip at ``path``, checked before any frame is decoded: it exists, OpenCV opens it (a video file) or it
    holds frame images (a folder), and it has at least :data:`MIN_FRAMES` frames by its own count. ``folder_fps``
    is a folder's frame rate (a video file keeps its own)."""
    path = Path(path)
    if not path.exists():
        raise FasrnetError(f"{path}: no such video file or frame folder")
    if path.is_dir():
        files = sorted((f for f in path.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES), key=_natural)
        if not files:
            raise FasrnetError(f"{path}: no frame images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        keys = [frame_key(f.name) for f in files]
        if len(set(keys)) != len(keys):
            dup = next(f for f, k in zip(files, keys) if keys.count(k) > 1)
            raise FasrnetError(f"{dup}: two frames of this folder have the frame number {frame_key(dup.name)}")
        source = FrameSource(path, path.resolve().name, folder_fps, len(files), False, files, _folder_prefix(path))
    else:
        cap = cv2.VideoCapture(str(path))
        try:
            if not cap.isOpened():
                raise FasrnetError(f"{path}: not a video OpenCV can read (a file of {path.stat().st_size} bytes); "
                                   "give an .mp4/.avi/.mov file or a folder of frame images")
            fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        finally:
            cap.release()
        source = FrameSource(path, path.stem, fps if 0 < fps <= 1000 else folder_fps, count, True, prefix=path.stem)
    if source.count and source.count < MIN_FRAMES:
        raise too_few_frames(path, source.count)
    return source


def too_few_frames(path: Path, count: int, declared: int = 0) -> FasrnetError:
    """The clip has fewer than :data:`MIN_FRAMES` frames; ``declared``: the count a video file's container gave,
    when more frames than that could not be decoded (a damaged file)."""
    what = (f"only {count} of the {declared} frames the file declares could be decoded (a damaged video file)"
            if declared > count else f"{count} frame{'s' if count != 1 else ''}")
    return FasrnetError(f"{path}: {what}; the demo needs at least {MIN_FRAMES} "
                        "(each frame is refined with the one before and the one after it)")
