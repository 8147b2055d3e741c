"""``fasrnet predict``: PoseTrack predictions of one run, or of the backbone alone."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fasrnet.commands.common import dataset_arg, made, pipeline_name, run_arg, run_or_backbone, threads_arg
from fasrnet.errors import FasrnetError

if TYPE_CHECKING:
    from fasrnet.params import Params


def run(args: argparse.Namespace, params: Params) -> int:
    from fasrnet import paths
    from fasrnet.codecs.heatmap import HeatmapCodec
    from fasrnet.features import FeatureStore
    from fasrnet.predict import load_head, predict_store, write_predictions
    from fasrnet.runtime import pick_device, set_threads

    set_threads(args.threads)
    device = pick_device(params.train.device)
    if args.backbone_only and not args.dataset:
        raise FasrnetError("--backbone-only needs --dataset")
    if not args.backbone_only and not args.run:
        raise FasrnetError("give --run NAME, or --backbone-only --dataset NAME")
    dataset, name = run_or_backbone(args, params)
    head = None if args.backbone_only else load_head(params, args.run, device)
    if args.out and len(args.split) > 1:
        raise FasrnetError("--out takes one --split")
    for split in args.split:
        if split not in paths.splits_of(dataset):  # the workflow's main runs ask for val and test everywhere
            print(f"predict {name}/{split}: {dataset} has no {split} split; nothing to predict")
            continue
        store = FeatureStore(paths.features_dir(dataset, split), paths.crops_dir(dataset, split))
        videos = predict_store(store, head, HeatmapCodec.from_params(params.heatmap), device,
                               params.train.batch_size, params.heatmap.flip_test,
                               params.train.precision, params.train.channels_last)  # the head as it trained
        out = args.out or paths.predictions_dir(name, split)
        write_predictions(videos, out, store.crops.info["format"])
        print(f"predict {name}/{split}: {len(videos)} videos, {len(store)} persons -> {out}")
        made(args, out)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="write PoseTrack predictions of one run (or the backbone alone)")
    run_arg(p, required=False)
    p.add_argument("--split", required=True, nargs="+", choices=["val", "test"])
    p.add_argument("--backbone-only", action="store_true",
                   help="score the frozen backbone's own heatmaps (single-frame baseline, no refinement)")
    dataset_arg(p, required=False, help="with --backbone-only: the dataset")
    p.add_argument("--out", type=Path, default=None, help="default results/predictions/<run>/<split>")
    threads_arg(p)
    p.set_defaults(func=run, outputs=outputs)


def outputs(args: argparse.Namespace, params: Params) -> list[Path]:
    """The predictions directory it writes (``fasrnet.cli`` locks it)."""
    from fasrnet import paths

    if args.out:
        return [args.out]
    name = pipeline_name(args, params)
    return [paths.PREDICTIONS / name] if name else []
