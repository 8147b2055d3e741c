"""``results/summary.json``: flat, small, stable DVC metrics from the tables' inputs (``dvc metrics show``)."""

from __future__ import annotations

from pathlib import Path

from fasrnet.params import Params
from fasrnet.tables.ablation import seed_stats
from fasrnet.tables.inputs import COLUMNS, Inputs, main_runs, read_inputs, runs_of


def summary_of(inputs: Inputs) -> dict[str, float | int]:
    """Every run's mAP, the main runs' and backbones' columns (and degraded / clean frames mAP), seed stats and
    the best α; rounded, in a fixed order."""
    params = inputs.params
    out: dict[str, float | int] = {}
    for name in params.runs:
        m = inputs.run(name)
        if m.mAP is not None:
            out[f"{name}.mAP"] = round(m.mAP, 4)
    for r in main_runs(params):
        for m in (inputs.run(r.name), inputs.backbone(r.dataset)):
            if m.values is None:
                continue
            for col, v in zip(COLUMNS, m.values):
                if v is not None:
                    out[f"{m.name}.{col}"] = round(v, 4)
            for key, (v, _) in (inputs.subsets(m.name) or {}).items():
                if v is not None:
                    out[f"{m.name}.{key}_frames.mAP"] = round(v, 4)
    vals = [v for v in (m.mAP for m in inputs.seed_results()) if v is not None]
    if vals:
        s = seed_stats(vals)
        out["seed.n"] = s["n"]
        out["seed.max"] = round(s["max"], 4)
        out["seed.mean"] = round(s["mean"], 4)
        out["seed.variance"] = round(s["variance"], 6)
    alphas = [(r.alpha, inputs.run(r.name).mAP) for r in runs_of(params, "alpha")]
    alphas = [(a, v) for a, v in alphas if v is not None]
    if alphas:
        out["alpha.best"] = max(alphas, key=lambda t: t[1])[0]
    return out


def summary_metrics(params: Params, root: str | Path = ".") -> dict[str, float | int]:
    """:func:`summary_of` the inputs under ``root``."""
    return summary_of(read_inputs(params, root))
