"""All-point AP per joint and poseval's table columns (``docs/metric.md``, §7–§9).

The arithmetic reproduces poseval's to the last bit: the same sort (numpy's default ``argsort``, reversed),
the same divisions, the same VOC all-point area summed with ``np.sum`` over the same array, and the same numpy
means (Head = head_top, neck, nose in that order; Total = mean of the 15 joints, NaN joints left out).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from fasrnet.evaluate.posefile import N_JOINTS

#: The printed columns, in order, with the poseval joint ids each averages (Head in poseval's order).
COLUMNS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("Head", (14, 12, 13)),
    ("Shou", (8, 9)),
    ("Elb", (7, 10)),
    ("Wri", (6, 11)),
    ("Hip", (2, 3)),
    ("Knee", (1, 4)),
    ("Ankl", (0, 5)),
)
COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in COLUMNS) + ("Total",)


def precision_recall(scores: np.ndarray, labels: np.ndarray, n_pos: float) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall after each pair, pairs ranked by score descending (poseval's ranking).

    Scores are finite here: the loader rejects NaN / ±Inf, which this reversed argsort (poseval's) would rank
    above every real score (docs/metric-nonfinite.md)."""
    order = np.asarray(scores, dtype=np.float64).argsort()[::-1]
    tp = np.cumsum(np.asarray(labels)[order] == 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = tp / np.float64(n_pos)
    precision = tp / np.arange(1, len(tp) + 1)
    return precision, recall


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """All-point interpolated AP (VOC 2010+): area under the monotone precision envelope."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return np.sum((mrec[i] - mrec[i - 1]) * mpre[i])


def joint_metrics(scores: np.ndarray, labels: np.ndarray, n_pos: float) -> tuple[float, float, float]:
    """(AP, final precision, final recall), all ×100, for one joint. No pairs: (0, 0, 0); no positives: AP
    and recall NaN."""
    if len(scores) == 0:
        return 0.0, 0.0, 0.0
    precision, recall = precision_recall(scores, labels, n_pos)
    with np.errstate(invalid="ignore"):
        ap = voc_ap(recall, precision) * 100
    return float(ap), float(precision[-1] * 100), float(recall[-1] * 100)


def nan_mean(values: np.ndarray) -> float:
    """poseval's mean over the joints that are not NaN (NaN if all are)."""
    vals = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    idxs = np.argwhere(~np.isnan(vals[:, 0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mean of nothing: NaN
        return float(vals[idxs, 0].mean())


def columns(ap: np.ndarray, total: float) -> dict[str, float]:
    """The 8 table columns from the 15 per-joint APs and their mean (poseval's ``getCum``)."""
    vals = np.asarray(ap, dtype=np.float64).reshape(-1, 1)
    out = {}
    with np.errstate(invalid="ignore"):
        for name, ids in COLUMNS:
            out[name] = float(vals[list(ids), 0].mean())
    out["Total"] = float(total)
    return out


def compute_metrics(pairs: Callable[[int], tuple[np.ndarray, np.ndarray]],
                    n_gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-joint AP, precision and recall (each (15,) ×100) from ``pairs(j) -> (scores, labels)``."""
    ap = np.zeros(N_JOINTS)
    pre = np.zeros(N_JOINTS)
    rec = np.zeros(N_JOINTS)
    for j in range(N_JOINTS):
        scores, labels = pairs(j)
        ap[j], pre[j], rec[j] = joint_metrics(scores, labels, float(n_gt[j]))
    return ap, pre, rec
