"""``fasrnet evaluate``: PoseTrack mAP exactly as poseval -e (docs/metric.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fasrnet.commands.common import dataset_arg, pipeline_name, run_arg, run_or_backbone
from fasrnet.errors import FasrnetError

if TYPE_CHECKING:
    from fasrnet.params import Params


def run(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.evaluate.command import run as evaluate_files

    if args.run or args.backbone_only:
        _pipeline_paths(args, params)
    elif not (args.gt and args.pred):
        raise FasrnetError("evaluate: give --gt DIR --pred DIR, or --run NAME, or --backbone-only --dataset NAME")
    return evaluate_files(args)


def _pipeline_paths(args: argparse.Namespace, params: Params) -> None:
    """Fill ``--gt``/``--pred``/``--out`` of a pipeline run (or of the backbone alone) from params and the layout;
    for a run with best-epoch predictions (``fasrnet predict``: ``val_best``), those too."""
    from fasrnet import paths

    if args.gt or args.pred:
        raise FasrnetError("evaluate: --run/--backbone-only pick --gt and --pred themselves; give one or the other")
    if args.adapted and not args.backbone_only:
        raise FasrnetError("evaluate: --adapted needs --backbone-only --dataset NAME")
    if args.backbone_only and (not args.dataset or args.run):
        raise FasrnetError("evaluate: --backbone-only needs --dataset NAME (and no --run)")
    dataset, name = run_or_backbone(args, params)
    args.gt = paths.annotations_dir(params, dataset, "val")
    args.pred = paths.predictions_dir(name, "val")
    args.out = args.out or paths.metrics_file(name)
    best = paths.predictions_dir(name, "val" + paths.BEST_SUFFIX)
    if not args.backbone_only and best.is_dir():  # a validated run: its best epoch is scored beside the final one
        args.best_pred, args.best_record = best, paths.best_record(name)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="PoseTrack mAP of predictions against ground truth, exactly as poseval -e")
    p.add_argument("--gt", metavar="DIR", help="ground-truth directory (PoseTrack 2017/2018 *.json)")
    p.add_argument("--pred", metavar="DIR", help="predictions: one file per GT file, same name")
    run_arg(p, required=False)
    p.add_argument("--backbone-only", action="store_true", help="with --dataset: the frozen backbone alone")
    p.add_argument("--adapted", action="store_true",
                   help="with --backbone-only: the backbone with BatchNorm adapted to the train crops (the control)")
    dataset_arg(p, required=False, help="with --backbone-only: the dataset")
    p.add_argument("--out", metavar="FILE", help="write the metrics JSON here (with --run/--backbone-only: default "
                   "results/metrics/<run>.json)")
    p.add_argument("--per-sequence", nargs="?", const=True, default=None, metavar="DIR",
                   help="also evaluate each sequence alone (printed, in --out; DIR: also DIR/<seq>_AP_metrics.json)")
    p.add_argument("--crosscheck", action="store_true",
                   help="also run the official poseval package (must be importable) and report any difference")
    p.add_argument("--episodes", default="auto", metavar="META",
                   help="also score degraded and clean frames apart, from a synthetic set's meta.json "
                        "(auto: <gt>/../../meta.json when the GT is a synthetic set; none: never)")
    p.set_defaults(func=run, outputs=outputs)


def outputs(args: argparse.Namespace, params: Params) -> list[Path]:
    """The metrics file it writes (``fasrnet.cli`` locks it; none when the arguments name no run and no --out)."""
    from fasrnet import paths

    name = pipeline_name(args, params)
    return [Path(args.out)] if args.out else [paths.metrics_file(name)] if name else []
