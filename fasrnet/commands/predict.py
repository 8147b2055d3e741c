"""``fasrnet predict``: PoseTrack predictions of one run, or of the backbone alone."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fasrnet.commands.common import dataset_arg, made, pipeline_name, run_arg, run_or_backbone, threads_arg
from fasrnet.errors import FasrnetError

if TYPE_CHECKING:
    import torch

    from fasrnet.features import FeatureStore
    from fasrnet.inference import BackboneRunner
    from fasrnet.models.fasrnet import FaSRnetHead
    from fasrnet.models.hrnet import HRNet
    from fasrnet.params import Params


def run(args: argparse.Namespace, params: Params) -> int:
    from fasrnet import paths
    from fasrnet.backbone import load_run_backbone
    from fasrnet.codecs.heatmap import HeatmapCodec
    from fasrnet.features import FeatureStore
    from fasrnet.inference import BackboneRunner
    from fasrnet.predict import (
        iter_heatmaps_from_crops,
        load_head,
        predict_store,
        predicted_videos,
        write_predictions,
    )
    from fasrnet.runtime import pick_device, set_threads

    set_threads(args.threads)
    device = pick_device(params.train.device)
    if args.backbone_only and not args.dataset:
        raise FasrnetError("--backbone-only needs --dataset")
    if args.adapted and not args.backbone_only:
        raise FasrnetError("--adapted needs --backbone-only --dataset NAME")
    if not args.backbone_only and not args.run:
        raise FasrnetError("give --run NAME, or --backbone-only --dataset NAME")
    dataset, name = run_or_backbone(args, params)
    heads: list[tuple[str, FaSRnetHead | None, HRNet | None]] = [("", None, None)]
    if not args.backbone_only:  # with backbone.bn: train, each head with the backbone its training left
        heads = [("", load_head(params, args.run, device), load_run_backbone(params, args.run))]
        if not args.out and (paths.run_dir(args.run) / paths.BEST_HEAD).is_file():  # the best validated epoch's
            heads.append((paths.BEST_SUFFIX, load_head(params, args.run, device, best=True),
                          load_run_backbone(params, args.run, best=True)))
    if args.out and len(args.split) > 1:
        raise FasrnetError("--out takes one --split")
    for split in args.split:
        if split not in paths.splits_of(dataset):  # the workflow's main runs ask for val and test everywhere
            print(f"predict {name}/{split}: {dataset} has no {split} split; nothing to predict")
            continue
        store = FeatureStore(paths.features_dir(dataset, split), paths.crops_dir(dataset, split))
        codec = HeatmapCodec.from_params(params.heatmap)
        cached = _backbone_not_cached(args, params, store, device)
        for suffix, head, drifted in heads:
            runner = cached if drifted is None else BackboneRunner(drifted, device, params.extract.precision)
            if runner is None:  # the cache holds this backbone's outputs
                videos = predict_store(store, head, codec, device, params.train.batch_size,
                                       params.heatmap.flip_test, params.train.precision,
                                       params.train.channels_last)  # the head as it trained
            else:
                videos = predicted_videos(store.crops, codec, iter_heatmaps_from_crops(
                    store.crops, runner, head, params.train.batch_size, params.heatmap.flip_test,
                    params.train.precision, params.train.channels_last))
            out = args.out or paths.predictions_dir(name, split + suffix)
            write_predictions(videos, out, store.crops.info["format"])
            print(f"predict {name}/{split}{suffix}: {len(videos)} videos, {len(store)} persons -> {out}")
            made(args, out)
    if len(heads) > 1:
        from fasrnet.io import write_json
        from fasrnet.models.checkpoint import read_checkpoint

        best = read_checkpoint(paths.run_dir(args.run) / paths.BEST_HEAD)
        write_json(paths.best_record(name), {"epoch": best["epoch"], "val_map": best["val_map"]},
                   indent=1)
    return 0


def _backbone_not_cached(args: argparse.Namespace, params: Params, store: FeatureStore, device: torch.device
                         ) -> BackboneRunner | None:
    """The backbone to run on the crops when the feature cache does not hold its outputs, else None (read the
    cache). ``--backbone-only --adapted`` scores the backbone adapted to the dataset, plain ``--backbone-only`` the
    checkpoint's: whichever of the two the cache was not extracted with (``features.json``'s ``backbone``) runs
    here, in ``extract.precision``."""
    from fasrnet import paths
    from fasrnet.adapt import WEIGHTS
    from fasrnet.backbone import load_frozen_backbone
    from fasrnet.inference import BackboneRunner

    if not args.backbone_only:
        return None
    weights = paths.adapted_backbone_dir(args.dataset) / WEIGHTS if args.adapted else Path(params.backbone.checkpoint)
    if store.holds(weights):
        return None
    backbone = load_frozen_backbone(params, args.dataset if args.adapted else None)
    return BackboneRunner(backbone, device, params.extract.precision)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="write PoseTrack predictions of one run (or the backbone alone)")
    run_arg(p, required=False)
    p.add_argument("--split", required=True, nargs="+", choices=["val", "test"])
    p.add_argument("--backbone-only", action="store_true",
                   help="score the frozen backbone's own heatmaps (single-frame baseline, no refinement)")
    p.add_argument("--adapted", action="store_true",
                   help="with --backbone-only: the backbone with BatchNorm adapted to the dataset's train crops "
                        "(`fasrnet adapt-backbone`; the control row of Tables 1 and 3)")
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
