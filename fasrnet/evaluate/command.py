"""``fasrnet evaluate``: what the CLI handler runs (its arguments: ``fasrnet.commands.evaluate``)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from fasrnet.errors import FasrnetError
from fasrnet.evaluate.ap import COLUMN_NAMES
from fasrnet.evaluate.api import evaluate_dirs
from fasrnet.evaluate.episodes import evaluate_subsets, find_meta, subsets_dict
from fasrnet.evaluate.posefile import JOINT_NAMES
from fasrnet.evaluate.report import HEADER
from fasrnet.evaluate.result import EvalResult
from fasrnet.io import write_json

#: Differences from poseval above this (absolute, on the ×100 scale) are reported by ``--crosscheck``.
CROSSCHECK_TOL = 1e-9


def run(args: argparse.Namespace) -> int:
    if args.crosscheck and importlib.util.find_spec("poseval") is None:
        raise FasrnetError("--crosscheck: the official poseval package is not importable here; install it (github "
                           "leonid-pishchulin/poseval) or put its checkout on PYTHONPATH, or leave out --crosscheck")
    per_seq = args.per_sequence is not None
    result = evaluate_dirs(args.gt, args.pred, per_sequence=per_seq)
    for line in result.warnings:
        print(f"warning: {line}", file=sys.stderr)
    print(f"# evaluated frames: {result.n_eval_frames}")
    print(HEADER)
    print(result.row())
    if per_seq:
        width = max((len(n) for n in result.per_sequence), default=8)
        print(f"\nper sequence ({len(result.per_sequence)} with evaluated frames):")
        print(f"{'sequence':<{width}} {'frames':>6} {HEADER}")
        for name, res in sorted(result.per_sequence.items()):
            print(f"{name:<{width}} {res.n_eval_frames:>6} {res.row()}")
        if isinstance(args.per_sequence, str):
            for name, res in result.per_sequence.items():
                write_json(Path(args.per_sequence) / f"{name}_AP_metrics.json", res.to_dict(), indent=2)
    subsets = _episode_subsets(args)
    if args.out:
        data = {"gt_dir": str(args.gt), "pred_dir": str(args.pred), **result.to_dict()}
        if subsets is not None:
            data["subsets"] = subsets
        data.update(_labels(args.gt))
        best_pred = getattr(args, "best_pred", None)
        if best_pred is not None:  # the best validated epoch's predictions (chosen on this very split)
            best = evaluate_dirs(args.gt, best_pred)
            record = json.loads(Path(args.best_record).read_text())
            data["best_epoch"] = {"epoch": record["epoch"], "pred_dir": str(best_pred), **best.to_dict()}
            print(f"best epoch ({record['epoch']}), chosen on val: Total {best.total:.2f}")
        write_json(args.out, data, indent=2)
        print(f"wrote {args.out}")
    if args.crosscheck:
        return crosscheck(result, args.gt, args.pred)
    return 0


def _labels(gt_dir: str | Path) -> dict[str, Any]:
    """``labels`` and ``label_version`` of an adopted real dataset (its ``dataset.json``, docs/data.md, §8), for
    the tables' rows; nothing for a synthetic set or a directory of no adopted dataset."""
    from fasrnet.data.jsonpath import read_json
    from fasrnet.paths import dataset_record_for_gt

    record = dataset_record_for_gt(gt_dir)
    if not record.is_file():
        return {}
    obj = read_json(record)
    if not isinstance(obj, dict) or not isinstance(obj.get("labels"), str):
        raise FasrnetError(f"{record}: expected the record `fasrnet download --from` writes, with a 'labels' string")
    return {"labels": obj["labels"], "label_version": obj.get("label_version")}


def _episode_subsets(args: argparse.Namespace) -> dict[str, Any] | None:
    """``--episodes``: degraded and clean frames scored apart (synthetic sets only), printed; the JSON entry."""
    choice = args.episodes
    if choice == "none":
        return None
    meta = find_meta(args.gt) if choice == "auto" else Path(choice)
    if meta is None:
        return None
    if not meta.is_file():
        raise FasrnetError(f"--episodes {meta}: file not found")
    results = evaluate_subsets(args.gt, args.pred, meta)
    print(f"\nby frame, from the degradation episodes in {meta}:")
    for name, res in results.items():
        print(f"{name:<8} {res.n_eval_frames:>5} frames {res.row()}")
    return subsets_dict(results, meta)


def run_poseval(gt_dir: str | Path, pred_dir: str | Path) -> dict[str, Any]:
    """Run the official poseval (AP mode) in this process; its own output is swallowed."""
    eval_helpers = importlib.import_module("poseval.eval_helpers")
    evaluate_ap = importlib.import_module("poseval.evaluateAP")
    with (tempfile.TemporaryDirectory(prefix="poseval_") as out, contextlib.redirect_stdout(io.StringIO()),
          contextlib.redirect_stderr(io.StringIO())):
        # poseval builds prediction paths by string concatenation: both directories need the trailing slash.
        gt, pr = eval_helpers.load_data_dir(["", os.path.join(str(gt_dir), ""), os.path.join(str(pred_dir), "")])
        ap, pre, rec = evaluate_ap.evaluateAP(gt, pr, out, False, False)
        cum = eval_helpers.getCum(ap)
    return {"n_eval_frames": len(gt), "ap": ap[:, 0], "pre": pre[:, 0], "rec": rec[:, 0], "columns": cum}


def compare(ours: EvalResult, ref: dict[str, Any], tol: float = CROSSCHECK_TOL) -> list[str]:
    """Differences between our result and poseval's, one line each (empty: they agree)."""
    out = []
    if ours.n_eval_frames != ref["n_eval_frames"]:
        out.append(f"evaluated frames: ours {ours.n_eval_frames}, poseval {ref['n_eval_frames']}")
    pairs = []
    for what, mine, theirs in (("AP", ours.ap, ref["ap"]), ("precision", ours.precision, ref["pre"]),
                               ("recall", ours.recall, ref["rec"])):
        pairs += [(f"{what} {name}", float(a), float(b)) for name, a, b in zip(JOINT_NAMES, mine, theirs)]
    pairs += [(f"column {name}", ours.columns[name], float(v)) for name, v in zip(COLUMN_NAMES, ref["columns"])]
    pairs += [("mean precision", ours.mean_precision, float(ref["pre"][15])),
              ("mean recall", ours.mean_recall, float(ref["rec"][15]))]
    for label, a, b in pairs:
        if math.isnan(a) and math.isnan(b):
            continue
        if not (abs(a - b) <= tol):
            out.append(f"{label}: ours {a!r}, poseval {b!r} (difference {a - b:.3g})")
    return out


def crosscheck(result: EvalResult, gt_dir: str | Path, pred_dir: str | Path) -> int:
    try:
        ref = run_poseval(gt_dir, pred_dir)
    except Exception as exc:  # poseval crashes on input we reject too; report it, don't hide it
        print(f"crosscheck: poseval failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    diffs = compare(result, ref)
    if diffs:
        print(f"crosscheck: {len(diffs)} difference(s) from poseval (tolerance {CROSSCHECK_TOL:g}):", file=sys.stderr)
        for line in diffs:
            print(f"  {line}", file=sys.stderr)
        return 1
    worst = float(np.nanmax(np.abs(np.subtract(result.ap, ref["ap"][:15])), initial=0.0))
    print(f"crosscheck: poseval agrees (max |AP difference| {worst:.3g})")
    return 0
