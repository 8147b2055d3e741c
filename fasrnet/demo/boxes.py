"""The person boxes of the clip, from a box file (``fasrnet demo --boxes FILE``), matched to its frames.

The file is in the pipeline's or DCPose's detection format (:func:`fasrnet.data.boxes.read_detections`). Its
boxes may name frames of several videos (a split's ``detections/val_boxes.json``): then only those of the video
folder named like the clip are taken. A box belongs to the frame of the same :func:`~fasrnet.demo.frames.frame_key`
(frame number, else basename); it is kept, as in the crops stage (:func:`fasrnet.data.boxes.kept_detection`),
when it scores at least ``crops.det_score_threshold`` and has a positive width and height. A kept box naming no
frame of the clip is an error once the clip has been read (docs/demo.md).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from fasrnet.data.boxes import kept_detection, read_detections
from fasrnet.demo.frames import frame_key
from fasrnet.errors import FasrnetError

#: One kept box: (x, y, w, h) in image pixels and its score.
ScoredBox = tuple[tuple[float, float, float, float], float]


@dataclass
class ClipBoxes:
    """The kept boxes of one clip by frame key, in file order; :meth:`take` marks a frame's boxes as used."""

    path: Path
    by_key: dict[int | str, list[ScoredBox]]
    names: dict[int | str, str]
    read: int
    used: set[int | str] = field(default_factory=set)

    def take(self, key: int | str) -> list[ScoredBox]:
        self.used.add(key)
        return self.by_key.get(key, [])

    def check_all_used(self) -> None:
        """Every kept box belongs to a frame that was read (called after the last frame)."""
        stray = [k for k in self.by_key if k not in self.used]
        if stray:
            raise FasrnetError(f"{self.path}: {len(stray)} frame(s) with boxes are not frames of the clip, e.g. "
                               f"{self.names[stray[0]]!r} (boxes are matched to frames by frame number or file name)")

    @property
    def kept(self) -> int:
        return sum(len(v) for v in self.by_key.values())


def clip_boxes(path: str | Path, video_name: str, threshold: float) -> ClipBoxes:
    """Read ``path`` and keep the boxes of the clip ``video_name`` scoring at least ``threshold``."""
    path = Path(path)
    detections = read_detections(path)
    if not detections:
        raise FasrnetError(f"{path}: no person boxes in this file (an empty list, or only other categories); "
                           "give a file with boxes, or leave out --boxes to run the person detector")
    folders = list(dict.fromkeys(posixpath.dirname(d.image_name) for d in detections))
    if len(folders) > 1:
        mine = {f for f in folders if posixpath.basename(f) == video_name}
        if not mine:
            shown = ", ".join(repr(posixpath.basename(f) or f) for f in folders[:3])
            raise FasrnetError(f"{path}: boxes of {len(folders)} videos ({shown}{', …' if len(folders) > 3 else ''}), "
                               f"none of them named {video_name!r} like the clip; give the box file of this clip")
        detections = [d for d in detections if posixpath.dirname(d.image_name) in mine]
    by_key: dict[int | str, list[ScoredBox]] = {}
    names: dict[int | str, str] = {}
    for d in detections:
        if not kept_detection(d.bbox, d.score, threshold):
            continue
        key = frame_key(d.image_name)
        by_key.setdefault(key, []).append((d.bbox, d.score))
        names.setdefault(key, d.image_name)
    if not by_key:
        raise FasrnetError(f"{path}: none of the clip's {len(detections)} person boxes scores at least "
                           f"crops.det_score_threshold {threshold:g} with a positive size; nothing to estimate")
    return ClipBoxes(path, by_key, names, len(detections))
