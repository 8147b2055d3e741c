"""mAP on degraded and on clean frames of a synthetic set (its ``meta.json`` lists every degradation episode).

FaSRnet's claim is about frames where the single frame lacks information (motion blur, defocus, occlusion) and
its neighbours do not. The synthetic sets know which frames those are, so the evaluation can split them:

- ``degraded``: frames that a degradation episode covers, on the whole frame or on any person in it;
- ``clean``: every other frame.

Each subset is scored exactly like the whole split (:func:`~fasrnet.evaluate.api.evaluate_videos`): the GT frames
outside the subset lose their persons, so neither they nor the predictions in them count. The split is by frame,
not by person: a degraded frame's other, clean persons count in ``degraded`` too. Real PoseTrack sets have no
such file and get no subsets.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from fasrnet.data.posetrack import read_video
from fasrnet.errors import FasrnetError, InputFormatError
from fasrnet.evaluate.api import evaluate_videos, paired_files, sequence_name
from fasrnet.evaluate.result import EvalResult

#: ``meta.json``'s ``generator`` for the synthetic sets (real data sets have no meta.json of this kind).
SYNTHETIC_GENERATOR = "fasrnet.data.synthetic"
SUBSETS = ("degraded", "clean")


def find_meta(gt_dir: str | Path) -> Path | None:
    """The synthetic set's ``meta.json`` for ``<root>/<set>/annotations/<split>``, if this is a synthetic set."""
    path = Path(os.path.relpath(Path(os.path.abspath(gt_dir)).parent.parent / "meta.json"))
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return path if isinstance(meta, dict) and meta.get("generator") == SYNTHETIC_GENERATOR else None


def degraded_frames(meta_path: str | Path, split: str) -> dict[str, set[int]]:
    """Video name → indices of its frames covered by a degradation episode (any target)."""
    meta_path = Path(meta_path)
    try:
        meta = json.loads(meta_path.read_text())
        videos = meta["splits"][split]
        out = {}
        for v in videos:
            frames: set[int] = set()
            for e in v["episodes"]:
                frames.update(range(int(e["start"]), int(e["stop"])))
            out[str(v["name"])] = frames
    except (OSError, ValueError) as exc:
        raise FasrnetError(f"{meta_path}: unreadable episode list: {exc}") from exc
    except (KeyError, TypeError) as exc:
        raise InputFormatError(str(meta_path), f"splits.{split}",
                               "expected a list of videos with name and episodes (start, stop): "
                               f"missing {exc}") from exc
    return out


def evaluate_subsets(gt_dir: str | Path, pred_dir: str | Path, meta_path: str | Path) -> dict[str, EvalResult]:
    """``{"degraded": result, "clean": result}`` for one split (named by ``gt_dir``'s folder name)."""
    split = Path(os.path.abspath(gt_dir)).name
    episodes = degraded_frames(meta_path, split)
    gts, preds, names = [], [], []
    for gt_path, pred_path in sorted(paired_files(gt_dir, pred_dir)):
        name = sequence_name(gt_path)
        if name not in episodes:
            raise InputFormatError(str(meta_path), f"splits.{split}", f"no entry for video {name} ({gt_path})")
        gts.append(read_video(gt_path))
        preds.append(read_video(pred_path))
        names.append(name)
    out = {}
    for subset in SUBSETS:
        inside = subset == "degraded"
        chosen = [replace(gv, frames=[fr if (t in episodes[name]) == inside else replace(fr, persons=[])
                                      for t, fr in enumerate(gv.frames)])
                  for name, gv in zip(names, gts)]
        out[subset] = evaluate_videos(chosen, preds, names=names)
    return out


def subsets_dict(results: dict[str, EvalResult], meta_path: str | Path) -> dict[str, Any]:
    """The ``subsets`` entry of a metrics JSON."""
    return {"episodes": str(meta_path), "split_by": "frame",
            **{name: res.to_dict() for name, res in results.items()}}
