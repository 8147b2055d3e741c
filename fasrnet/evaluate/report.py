"""poseval's printed table and the metrics JSON."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from fasrnet.evaluate.ap import COLUMN_NAMES
from fasrnet.evaluate.posefile import JOINT_NAMES

if TYPE_CHECKING:
    from fasrnet.evaluate.result import EvalResult

#: The header line poseval prints above the AP row.
HEADER = "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\"


def format_cell(value: float, delim: str) -> str:
    return "{:>5}".format("%1.1f" % value) + delim


def format_row(columns: dict[str, float]) -> str:
    """The LaTeX row poseval prints, e.g. ``& 85.7 & 87.7 & 81.8 & 84.6 & 87.4 & 80.5 & 77.9 & 83.8 \\\\``."""
    vals = [columns[name] for name in COLUMN_NAMES]
    return "&" + "".join(format_cell(v, " &") for v in vals[:-1]) + format_cell(vals[-1], " \\\\")


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
