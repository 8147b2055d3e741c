"""``fasrnet adapt-backbone``: the frozen backbone's BatchNorm adapted to a dataset's train crops."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fasrnet.commands.common import check_dataset, dataset_arg, made, state_note, threads_arg

if TYPE_CHECKING:
    from fasrnet.params import Params


def run(args: argparse.Namespace, params: Params) -> int:
    from fasrnet import paths
    from fasrnet.adapt import adapt
    from fasrnet.backbone import load_frozen_backbone
    from fasrnet.resume import stage_params
    from fasrnet.runtime import pick_device, set_threads

    check_dataset(params, args.dataset)
    set_threads(args.threads)
    out = paths.adapted_backbone_dir(args.dataset)
    result = adapt(load_frozen_backbone(params), params.backbone.checkpoint, paths.crops_dir(args.dataset, "train"),
                   out, pick_device(params.extract.device), params.extract.batch_size,
                   stamp=stage_params(params, "adapt_backbone"))
    print(f"adapt-backbone {args.dataset}: BatchNorm statistics of {result['crops']} train crops -> {out}"
          + state_note(result["state"], out))
    made(args, out)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("adapt-backbone", help="re-estimate the frozen backbone's BatchNorm statistics over a "
                       "dataset's train crops (backbone.bn: adapt, and the adapted-backbone control row)")
    dataset_arg(p)
    threads_arg(p)
    p.set_defaults(func=run, outputs=outputs)


def outputs(args: argparse.Namespace, params: Params) -> list[Path]:
    """The adapted backbone's directory (``fasrnet.cli`` locks it)."""
    from fasrnet import paths

    check_dataset(params, args.dataset)
    return [paths.adapted_backbone_dir(args.dataset)]
