"""Public entry points: evaluate a GT directory against a prediction directory, or in-memory videos."""

from __future__ import annotations

import contextlib
import gc
import glob
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fasrnet.errors import InputFormatError
from fasrnet.evaluate.ap import columns as table_columns
from fasrnet.evaluate.ap import compute_metrics, nan_mean
from fasrnet.evaluate.loading import from_video, load_pair
from fasrnet.evaluate.matching import Matched, match_sequences
from fasrnet.evaluate.posefile import JOINT_NAMES, PoseFile
from fasrnet.evaluate.result import EvalResult


def _result(m: Matched, seq: int | None, n_frames: int) -> EvalResult:
    n_gt = m.n_gt.sum(axis=0) if seq is None else m.n_gt[seq]

    def pairs(j: int) -> tuple[np.ndarray, np.ndarray]:
        return m.pairs(j, seq)

    ap, pre, rec = compute_metrics(pairs, n_gt)
    total = nan_mean(ap)
    n_pred = np.array([len(pairs(j)[0]) for j in range(len(JOINT_NAMES))], np.int64)
    return EvalResult(
        ap=ap, precision=pre, recall=rec, columns=table_columns(ap, total), mean_precision=nan_mean(pre),
        mean_recall=nan_mean(rec), n_eval_frames=n_frames, n_gt=np.asarray(n_gt, np.int64), n_pred=n_pred,
    )


def evaluate_files(seqs: Sequence[tuple[str, PoseFile, PoseFile]], per_sequence: bool = False) -> EvalResult:
    """Evaluate loaded sequences ``(name, gt, pred)``; frames of all sequences are pooled (one AP per joint)."""
    seqs = list(seqs)
    m = match_sequences(seqs)
    result = _result(m, None, int(m.n_eval_frames.sum()))
    if per_sequence:
        for s, name in enumerate(m.seq_names):
            if m.n_eval_frames[s] > 0:  # poseval skips sequences without an evaluated frame
                result.per_sequence[name] = _result(m, s, int(m.n_eval_frames[s]))
    fallback = sum(pred.n_fallback_scores for _, _, pred in seqs)
    if fallback:
        result.warnings.append(f"{fallback} predicted persons/joints have no score; their joints rank at -9999")
    result.warnings += [unknown_image_ids_warning(pred.n_unknown_image_ids, pred.path)
                        for _, _, pred in seqs if pred.n_unknown_image_ids]
    return result


def unknown_image_ids_warning(n: int, path: str | None = None) -> str:
    """The counted warning for prediction annotations whose ``image_id`` names no image (docs/metric.md, §3)."""
    where = f"{path}: " if path else ""
    return (f"{where}{n} predicted persons have an image_id that names no image of their file; they are not "
            "scored (poseval drops them too)")


def gt_files(gt_dir: str | Path) -> list[str]:
    """The GT files as poseval finds them: ``*.json`` directly in ``gt_dir``, in ``glob`` order (unsorted)."""
    gt_dir = str(gt_dir)
    if not os.path.isdir(gt_dir):
        raise InputFormatError(gt_dir, "", "ground-truth directory not found")
    files = glob.glob(os.path.join(glob.escape(gt_dir), "*.json"))
    if not files:
        raise InputFormatError(gt_dir, "", "no *.json ground-truth files")
    return files


def sequence_name(path: str | Path) -> str:
    """poseval's sequence name: the file's basename up to the first dot."""
    return os.path.basename(str(path)).split(".")[0]


def paired_files(gt_dir: str | Path, pred_dir: str | Path) -> list[tuple[str, str]]:
    """``(gt file, prediction file)`` for each GT file (:func:`gt_files` order): the prediction of the same name
    in ``pred_dir`` must exist; prediction files without a GT partner are ignored."""
    pred_dir = str(pred_dir)
    if not os.path.isdir(pred_dir):
        raise InputFormatError(pred_dir, "", "prediction directory not found")
    pairs = []
    for gt_path in gt_files(gt_dir):
        pred_path = os.path.join(pred_dir, os.path.basename(gt_path))
        if not os.path.exists(pred_path):
            raise InputFormatError(pred_path, "", f"missing: every ground-truth file needs a prediction file of "
                                                  f"the same name (ground truth: {gt_path})")
        pairs.append((gt_path, pred_path))
    return pairs


def evaluate_dirs(gt_dir: str | Path, pred_dir: str | Path, per_sequence: bool = False) -> EvalResult:
    """poseval ``--evalPoseEstimation`` on a GT directory and a prediction directory.

    Each ``*.json`` in ``gt_dir`` is paired with the file of the same name in ``pred_dir``
    (:func:`paired_files`). Either file may be PoseTrack 2017 or 2018.
    Malformed input raises :class:`~fasrnet.errors.InputFormatError` naming the file and JSON field; so does
    any NaN / ±Inf number, which poseval would score (docs/metric-nonfinite.md).
    """
    seqs = []
    with _gc_paused():
        for gt_path, pred_path in paired_files(gt_dir, pred_dir):
            gt, pred = load_pair(gt_path, pred_path)
            seqs.append((sequence_name(gt_path), gt, pred))
    return evaluate_files(seqs, per_sequence)


@contextlib.contextmanager
def _gc_paused():
    """Parsed JSON is millions of short-lived containers without cycles: the cyclic GC would only rescan them
    (a third of the loading time for 2017 files)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def evaluate_videos(gt_videos: Sequence[Any], pred_videos: Sequence[Any], per_sequence: bool = False,
                    names: Sequence[str] | None = None) -> EvalResult:
    """Evaluate in-memory :class:`fasrnet.data.posetrack.Video` pairs (GT i with prediction i).

    The videos are taken as they are: no first-video rule, no track id checks (AP does not use them).
    Frames pair by position, a frame is evaluated iff its GT frame has a person, and everything after that
    (ignore regions, matching, AP) is exactly as :func:`evaluate_dirs`.
    """
    if len(gt_videos) != len(pred_videos):
        raise ValueError(f"{len(gt_videos)} GT videos but {len(pred_videos)} prediction videos")
    names = list(names) if names is not None else [v.name for v in gt_videos]
    seqs = []
    for name, gv, pv in zip(names, gt_videos, pred_videos):
        gt = from_video(gv, "gt", f"<gt {name}>")
        pred = from_video(pv, "pred", f"<pred {name}>")
        if pred.n_frames != gt.n_frames:
            raise InputFormatError(pred.path, "", f"{pred.n_frames} frames, but the ground truth has {gt.n_frames}")
        pred.persons = pred.persons.take(np.flatnonzero(gt.n_rects[pred.persons.frame] > 0))
        gt.persons = gt.persons.take(np.flatnonzero(gt.n_rects[gt.persons.frame] > 0))
        seqs.append((name, gt, pred))
    return evaluate_files(seqs, per_sequence)
