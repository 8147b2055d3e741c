"""Loading PoseTrack ground truth and predictions with poseval's semantics, straight into numpy arrays.

This follows what poseval's loader does, as ``docs/metric.md``, §1–§3 describes it:

- a file with the key ``annolist`` is PoseTrack 2017; anything else must be PoseTrack 2018 and goes through
  poseval's conversion rules: exactly one ``person`` category naming all 15 PoseTrack joints (ears dropped),
  images grouped into videos by their folder name (``<digits>_<mpii|bonn|mpiinew>[_...]``), **only the first
  video** kept, persons in ``annotations`` order, a keypoint dropped only if x = y = v = 0, missing or empty
  ``scores`` → every joint scores -9999, ``bbox_head`` [x, y, w, h] → head box (x, y, x + w, y + h);
- frames are paired by position, and a frame is evaluated iff its GT frame has a person entry. Persons of
  frames that are not evaluated are validated only as far as poseval reads them, and are not kept;
- everything poseval would crash on raises :class:`~fasrnet.errors.InputFormatError` naming the file and the
  JSON path (``pred/000342_mpii_test.json: annotations[12].track_id: missing``). Two checks depend on the
  evaluation and are made later (:mod:`fasrnet.evaluate.matching`): the GT head box is needed only in frames
  with both GT and predictions, and a 2017 person without ``track_id`` breaks poseval only there;
- every NaN or ±Inf number read raises :class:`~fasrnet.data.jsonpath.NonFiniteError` at once, although
  poseval would score it (docs/metric-nonfinite.md). Arrays are checked with one ``np.isfinite`` each; the
  first offender of an array is looked up only to word the error.

A loaded file is a :class:`~fasrnet.evaluate.posefile.PoseFile`: per-frame person counts plus one
:class:`~fasrnet.evaluate.posefile.Persons` table (one row per person of the evaluated frames, joints in poseval
order 0–14). The format readers are ``fasrnet/evaluate/read2017.py`` and ``read2018.py``; JSON parsing and the
field validators they share are ``fasrnet/data/jsonpath.py`` and ``fasrnet/evaluate/fields.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fasrnet.data.jsonpath import read_json
from fasrnet.errors import InputFormatError
from fasrnet.evaluate.fields import PosevalReader, image_video, same_video
from fasrnet.evaluate.posefile import MIN_SCORE, N_JOINTS, Persons, PoseFile
from fasrnet.evaluate.read2017 import Loader2017
from fasrnet.evaluate.read2018 import Loader2018
from fasrnet.keypoints import POSEVAL_TO_SLOT

# --------------------------------------------------------------------------------------------------------------
# Entry points


def load_file(path: str | Path, role: str, eval_mask: np.ndarray | None = None, obj: Any = None) -> PoseFile:
    """Load one file. ``role`` is ``"gt"`` or ``"pred"``.

    For GT, the evaluated frames are those with a person entry; for predictions pass the GT's ``eval_mask``
    (the frame counts must already agree, see :func:`load_pair`). Only persons of evaluated frames are kept.
    """
    if role not in ("gt", "pred"):
        raise ValueError(f"role must be 'gt' or 'pred', got {role!r}")
    if obj is None:
        obj = read_json(path)
    r = PosevalReader(path)
    if isinstance(obj, dict) and "annolist" in obj:
        return Loader2017(obj, r, role).run(eval_mask)
    return Loader2018(obj, r, role).run(eval_mask)


def load_pair(gt_path: str | Path, pred_path: str | Path) -> tuple[PoseFile, PoseFile]:
    """Load a GT file and its prediction file; the frame counts must match (poseval pairs frames by position)."""
    gt = load_file(gt_path, "gt")
    pred_obj = read_json(pred_path)
    r = PosevalReader(pred_path)
    if isinstance(pred_obj, dict) and "annolist" in pred_obj:
        loader: Loader2017 | Loader2018 = Loader2017(pred_obj, r, "pred")
        n_pred = len(r.list(pred_obj["annolist"], "annolist"))
    else:
        loader = Loader2018(pred_obj, r, "pred")
        n_pred = len(loader.frame_images())
    if n_pred != gt.n_frames:
        raise InputFormatError(
            pred_path, "",
            f"{n_pred} frames, but the ground truth {Path(gt_path).name} has {gt.n_frames} "
            "(poseval pairs frames by position; a prediction file needs one frame per GT frame)",
        )
    pred = loader.run(gt.n_rects > 0)
    _check_same_video(gt, pred, gt_path)
    return gt, pred


def _check_same_video(gt: PoseFile, pred: PoseFile, gt_path: str | Path) -> None:
    """The prediction file's frames belong to its GT's video (docs/metric.md, §1). Files named like a video are
    held to their name when loaded (what ``annotations check`` sees too); this catches the rest."""
    def first(pf: PoseFile) -> tuple[int, str] | None:
        return next(((f, v) for f, name in enumerate(pf.frame_name) if (v := image_video(name)) is not None), None)

    g, p = first(gt), first(pred)
    if g is not None and p is not None and not same_video(g[1], p[1]):
        field = "file_name" if pred.fmt == 18 else "image[0].name"
        raise InputFormatError(pred.path, f"{pred.frame_where[p[0]]}.{field}",
                               f"expected a frame of video {g[1]} (the ground truth {Path(gt_path).name} is), got "
                               f"{pred.frame_name[p[0]]!r} of video {p[1]}")


# --------------------------------------------------------------------------------------------------------------
# In-memory videos (fasrnet.data.posetrack.Video)


def from_video(video: Any, role: str, path: str = "<memory>") -> PoseFile:
    """A :class:`PoseFile` from an in-memory :class:`fasrnet.data.posetrack.Video`.

    Frames are taken as they are (no first-video rule, no file checks); a person's joints are its present
    keypoint slots, scores missing → -9999; track ids are not required. Head boxes are still needed where a
    GT person meets predictions. NaN/±Inf joints, scores, head boxes or ignore regions (a diverged model) raise
    :class:`~fasrnet.data.jsonpath.NonFiniteError` (docs/metric-nonfinite.md).
    """
    slots = np.asarray(POSEVAL_TO_SLOT)
    n_rects = np.array([len(fr.persons) for fr in video.frames], np.int64)
    b_frame, b_xy, b_has, b_score, b_head, b_ok, b_src = [], [], [], [], [], [], []
    for f, fr in enumerate(video.frames):
        for k, p in enumerate(fr.persons):
            b_frame.append(f)
            b_xy.append(np.asarray(p.keypoints, np.float64)[slots, :2])
            b_has.append(np.asarray(p.present, bool)[slots])
            b_score.append(np.full(N_JOINTS, MIN_SCORE) if p.scores is None else
                           np.asarray(p.scores, np.float64)[slots])
            b_head.append(p.head_box if p.head_box is not None else (np.nan,) * 4)
            b_ok.append(p.head_box is not None)
            b_src.append((f, k))
    if b_frame:
        persons = Persons(
            frame=np.asarray(b_frame, np.int64), xy=np.stack(b_xy), has=np.stack(b_has), score=np.stack(b_score),
            head=np.asarray(b_head, np.float64), head_ok=np.asarray(b_ok, bool),
            has_points=np.ones(len(b_frame), bool), has_tid=np.ones(len(b_frame), bool),
            src=np.asarray(b_src, np.int64),
        )
    else:
        persons = Persons.empty()
    _check_video_finite(path, persons)
    regions = {}
    if role == "gt":
        for f, fr in enumerate(video.frames):
            polys = [(np.asarray(poly, np.float64).reshape(-1, 2), f"frames[{f}].ignore_regions[{m}]")
                     for m, poly in enumerate(fr.ignore_regions)]
            if polys and n_rects[f] > 0:
                regions[f] = polys
    for polys in regions.values():
        for arr, rw in polys:
            PosevalReader(path).check_finite(arr, lambda q, c, rw=rw: f"{rw}[{q}][{c}]")
    where = [f"frames[{f}]" for f in range(len(video.frames))]
    names = [fr.image for fr in video.frames]
    return PoseFile(path, 0, n_rects, persons, where, names, regions)  # fmt 0: in memory


def _check_video_finite(path: str, p: Persons) -> None:
    """Present joints, their scores and existing head boxes of in-memory persons must be finite."""
    r = PosevalReader(path)

    def person(row: int) -> str:
        return f"frames[{p.src[row, 0]}].persons[{p.src[row, 1]}]"

    xy = np.where(p.has[:, :, None], p.xy, 0.0)
    r.check_finite(xy, lambda row, j, c: f"{person(row)}.keypoints[{POSEVAL_TO_SLOT[j]}][{c}]")
    score = np.where(p.has, p.score, 0.0)
    r.check_finite(score, lambda row, j: f"{person(row)}.scores[{POSEVAL_TO_SLOT[j]}]")
    head = np.where(p.head_ok[:, None], p.head, 0.0)
    r.check_finite(head, lambda row, c: f"{person(row)}.head_box[{c}]")
