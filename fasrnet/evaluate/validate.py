"""One validator for PoseTrack files: what ``fasrnet annotations check`` runs, and the same loading ``fasrnet
evaluate`` runs, so a file evaluate rejects is rejected by the check with the same message.

A file is checked in two steps, stopping at the first error:

1. :func:`fasrnet.evaluate.loading.load_file` with the role the file looks like (:func:`guess_role`): a
   prediction if any person carries per-joint scores (2017 ``point[].score``, 2018 ``scores``), ground truth
   otherwise. Evaluate loads a prediction file only for the frames its GT evaluates; the check takes every frame
   with a person, so it sees at least what evaluate sees.
2. :func:`fasrnet.data.posetrack.parse_video`, the reader the training and crop stages use (it has a few rules
   of its own, e.g. unique image ids).

Two rules need the GT and the prediction together and are checked only by evaluate: the GT head box where a
frame has both, and equal frame counts. Non-finite numbers are rejected in both steps (docs/metric-nonfinite.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fasrnet.data.jsonpath import read_json
from fasrnet.data.posetrack import parse_video
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
    """Validate one GT or prediction file (``role`` None: :func:`guess_role`); raises
    :class:`~fasrnet.errors.InputFormatError` naming the file and the JSON path of the first problem."""
    obj = read_json(path)  # the parser evaluate uses (orjson, else the json module), so the same floats
    role = role or guess_role(obj)
    loaded = load_file(path, role, obj=obj)
    video = parse_video(obj, path, unknown_image_ids="skip" if role == "pred" else "error")
    unknown = loaded.n_unknown_image_ids
    return FileCheck(
        path=str(path), fmt=loaded.fmt, role=role, frames=len(video.frames),
        with_persons=sum(bool(fr.persons) for fr in video.frames),
        persons=sum(len(fr.persons) for fr in video.frames),
        warnings=(unknown_image_ids_warning(unknown, str(path)),) if unknown else (),
    )
