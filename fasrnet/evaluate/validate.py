"""One validator for PoseTrack files: what ``fasrnet annotations check`` runs, and the same loading ``fasrnet
evaluate`` runs, so a file evaluate rejects is rejected by the check with the same message.

A file is checked in two steps, stopping at the first error:

1. :func:`fasrnet.evaluate.loading.load_file` with the file's role: ``--role gt`` or ``--role pred`` as evaluate
   reads a file of its ``--gt`` or ``--pred`` directory, or, with ``--role auto``, the role the file looks like
   (:func:`guess_role`): a prediction if any person carries per-joint scores (2017 ``point[].score``, 2018
   ``scores``), ground truth otherwise. This step alone decides the verdict: a file it refuses is refused with
   evaluate's error line, a file it accepts is accepted.
2. :func:`fasrnet.data.posetrack.parse_video`, the reader the training and crop stages use. The loader applies its
   form rules (docs/metric.md, §11), so it should accept every file step 1 accepts; if it does not (a rule of
   training alone), the check prints a warning naming the file and the JSON path and saying that the crops stage
   will refuse the file, and counts it, but does not fail: evaluate scores that file.

Two rules need the GT and the prediction together and are checked only by evaluate: the GT head box where a
frame has both, and equal frame counts. Non-finite numbers are rejected in both steps (docs/metric-nonfinite.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fasrnet.data.jsonpath import read_json
from fasrnet.data.posetrack import parse_video
from fasrnet.errors import InputFormatError
from fasrnet.evaluate.api import unknown_image_ids_warning
from fasrnet.evaluate.loading import load_file


@dataclass(frozen=True)
class FileCheck:
    """What a valid file holds (counts as the training reader sees them: every image, all videos)."""

    path: str
    fmt: int  # 17 or 18
    role: str  # "gt" or "pred"
    frames: int
    with_persons: int
    persons: int
    warnings: tuple[str, ...] = ()  # what evaluate would warn about too (unknown prediction image ids)
    training_refuses: bool = False  # the training reader refuses the file (a warning; evaluate scores it)


def guess_role(obj: Any) -> str:
    """``"pred"`` if any person of the parsed file carries per-joint scores, else ``"gt"``; malformed structure
    counts as GT (the loader then names what is wrong)."""
    if not isinstance(obj, dict):
        return "gt"
    if "annolist" in obj:
        frames = obj["annolist"] if isinstance(obj["annolist"], list) else []
        for fr in frames:
            for rect in _list(fr.get("annorect") if isinstance(fr, dict) else None):
                ap = _list(rect.get("annopoints") if isinstance(rect, dict) else None)
                points = _list(ap[0].get("point")) if ap and isinstance(ap[0], dict) else []
                if any(isinstance(p, dict) and "score" in p for p in points):
                    return "pred"
        return "gt"
    anns = _list(obj.get("annotations"))
    return "pred" if any(isinstance(a, dict) and a.get("scores") for a in anns) else "gt"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def check_file(path: str | Path, role: str | None = None) -> FileCheck:
    """Validate one GT or prediction file (``role`` ``"gt"``, ``"pred"``, or None / ``"auto"``:
    :func:`guess_role`); raises :class:`~fasrnet.errors.InputFormatError` naming the file and the JSON path of
    the first problem, exactly where evaluate's loader raises it."""
    obj = read_json(path)  # the parser evaluate uses (orjson, else the json module), so the same floats
    role = guess_role(obj) if role in (None, "auto") else role
    loaded = load_file(path, role, obj=obj)
    unknown = loaded.n_unknown_image_ids
    warnings = [unknown_image_ids_warning(unknown, str(path))] if unknown else []
    try:
        video = parse_video(obj, path, unknown_image_ids="skip" if role == "pred" else "error")
    except InputFormatError as exc:  # a rule of the training reader alone: evaluate scores this file
        warnings.append(f"{exc}; the crops stage will refuse this file, which evaluate scores (docs/metric.md, §11)")
        n_rects = loaded.n_rects
        return FileCheck(path=str(path), fmt=loaded.fmt, role=role, frames=len(n_rects),
                         with_persons=int((n_rects > 0).sum()), persons=int(n_rects.sum()), warnings=tuple(warnings),
                         training_refuses=True)
    return FileCheck(
        path=str(path), fmt=loaded.fmt, role=role, frames=len(video.frames),
        with_persons=sum(bool(fr.persons) for fr in video.frames),
        persons=sum(len(fr.persons) for fr in video.frames),
        warnings=tuple(warnings),
    )
