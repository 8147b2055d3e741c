"""``fasrnet extract``: the frozen backbone once over every crop, into the feature cache."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fasrnet.commands.common import (
    check_dataset,
    dataset_arg,
    made,
    space_arg,
    split_arg,
    splits,
    state_note,
    threads_arg,
)

if TYPE_CHECKING:
    from fasrnet.params import Params


def run(args: argparse.Namespace, params: Params) -> int:
    from fasrnet import paths
    from fasrnet.backbone import extraction_backbone
    from fasrnet.cachesize import check_space, enforced
    from fasrnet.features import backbone_ident, extract, plan_extract
    from fasrnet.resume import stage_params
    from fasrnet.runtime import pick_device, set_threads

    check_dataset(params, args.dataset)
    args.split = splits(args, args.dataset)
    set_threads(args.threads)
    backbone, weights = extraction_backbone(params, args.dataset)  # adapted to the dataset with backbone.bn: adapt
    ident = backbone_ident(weights)
    device, stamp = pick_device(params.extract.device), stage_params(params, "extract")
    plans = {split: plan_extract(paths.crops_dir(args.dataset, split), paths.features_dir(args.dataset, split),
                                 backbone, device, params.extract.batch_size,
                                 flip=params.heatmap.flip_test and split != "train", stamp=stamp,
                                 stage_out=paths.FEATURES / args.dataset, precision=params.extract.precision,
                                 compile=params.extract.compile) for split in args.split}
    # every split sized before the first is written (docs/data.md, §7)
    check_space([p.projection for p in plans.values() if p.projection], enforce=enforced(args.no_space_check))
    for split, plan in plans.items():
        out = plan.unit.target
        stats = extract(plan.crop_dir, out, backbone, device, params.extract.batch_size,
                        flip=params.heatmap.flip_test and split != "train", backbone_id=ident,
                        stamp=stamp, stage_out=paths.FEATURES / args.dataset, plan=plan,
                        precision=params.extract.precision, compile=params.extract.compile)
        rate = stats["crops_per_second"]
        print(f"extract {args.dataset}/{split}: {stats['crops']} crops"
              + (f", {stats['extracted_now']} extracted in {stats['seconds']} s ({rate} crops/s, "
                 f"{stats['settings']} on {device.type})" if rate else "")
              + state_note(stats["state"], out))
        made(args, out)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="run the frozen backbone once over every crop into the feature cache")
    dataset_arg(p)
    split_arg(p)
    threads_arg(p)
    space_arg(p)
    p.set_defaults(func=run, outputs=outputs)


def outputs(args: argparse.Namespace, params: Params) -> list[Path]:
    """The stage's directory of the dataset (``fasrnet.cli`` locks it)."""
    from fasrnet import paths

    check_dataset(params, args.dataset)
    return [paths.FEATURES / args.dataset]
