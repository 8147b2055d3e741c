"""The result of an evaluation (:class:`EvalResult`): poseval's numbers, its printed table
(``fasrnet/evaluate/report.py``) and the metrics JSON (:func:`result_dict`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fasrnet.evaluate.posefile import JOINT_NAMES
from fasrnet.evaluate.report import HEADER, format_row


@dataclass
class EvalResult:
    """poseval's AP evaluation (``-e``) of one set of sequences.

    ``ap``, ``precision``, ``recall``: (15,) float64 ×100, in poseval joint order (:data:`JOINT_NAMES`);
    precision/recall are those after the last ranked prediction. ``columns``: Head, Shou, Elb, Wri, Hip, Knee,
    Ankl, Total at full precision (Total = mean of the 15 joint APs, NaN joints left out). ``n_gt`` / ``n_pred``:
    GT joints and predicted joints per joint. ``per_sequence``: the same per sequence name (only sequences with
    an evaluated frame, as poseval's ``-s``), when asked for.
    """

    ap: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    columns: dict[str, float]
    mean_precision: float
    mean_recall: float
    n_eval_frames: int
    n_gt: np.ndarray
    n_pred: np.ndarray
    per_sequence: dict[str, EvalResult] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return self.columns["Total"]

    def joint(self, name: str) -> tuple[float, float, float]:
        """(AP, precision, recall) of the poseval joint ``name`` (e.g. ``"left_wrist"``, ``"neck"``)."""
        j = JOINT_NAMES.index(name)
        return float(self.ap[j]), float(self.precision[j]), float(self.recall[j])

    def header(self) -> str:
        return HEADER

    def row(self) -> str:
        return format_row(self.columns)

    def table(self) -> str:
        """The two lines poseval prints."""
        return f"{HEADER}\n{self.row()}"

    def to_dict(self) -> dict[str, Any]:
        return result_dict(self)


def _num(v: float) -> float | None:
    """JSON has no NaN: a joint without GT (AP NaN) is written as null."""
    return None if math.isnan(v) else float(v)


def result_dict(result: EvalResult, with_sequences: bool = True) -> dict[str, Any]:
    """The metrics JSON: full-precision columns, per-joint AP / precision / recall (×100, keyed by poseval
    joint name), the printed table, and counts."""
    out: dict[str, Any] = {
        "columns": {k: _num(v) for k, v in result.columns.items()},
        "printed_header": HEADER,
        "printed_row": result.row(),
        "n_eval_frames": int(result.n_eval_frames),
        "per_joint_ap": {n: _num(v) for n, v in zip(JOINT_NAMES, result.ap)},
        "per_joint_precision": {n: _num(v) for n, v in zip(JOINT_NAMES, result.precision)},
        "per_joint_recall": {n: _num(v) for n, v in zip(JOINT_NAMES, result.recall)},
        "mean_precision": _num(result.mean_precision),
        "mean_recall": _num(result.mean_recall),
        "n_gt_joints": {n: int(v) for n, v in zip(JOINT_NAMES, result.n_gt)},
        "n_pred_joints": {n: int(v) for n, v in zip(JOINT_NAMES, result.n_pred)},
    }
    if result.warnings:
        out["warnings"] = list(result.warnings)
    if with_sequences and result.per_sequence:
        out["per_sequence"] = {name: result_dict(res, False) for name, res in sorted(result.per_sequence.items())}
    return out
