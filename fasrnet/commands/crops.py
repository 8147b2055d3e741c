"""``fasrnet crops``: person crops (frames t-1, t, t+1) into the crop cache (docs/data.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fasrnet.commands.common import check_dataset, dataset_arg, made, space_arg, split_arg, splits, state_note
from fasrnet.errors import FasrnetError

if TYPE_CHECKING:
    from fasrnet.params import Params


def run(args: argparse.Namespace, params: Params) -> int:
    from fasrnet import paths
    from fasrnet.cachesize import check_space, enforced
    from fasrnet.codecs.heatmap import HeatmapCodec
    from fasrnet.data.crops import build_crops, plan_crops
    from fasrnet.resume import stage_params

    check_dataset(params, args.dataset)
    args.split = splits(args, args.dataset)
    if args.out and len(args.split) > 1:
        raise FasrnetError("--out takes one --split")
    codec, stamp = HeatmapCodec.from_params(params.heatmap), stage_params(params, "crops")
    stage_out = None if args.out else paths.CROPS / args.dataset
    plans = {split: plan_crops(paths.dataset_dir(params, args.dataset), split,
                               args.out or paths.crops_dir(args.dataset, split), codec, params.crops,
                               stamp=stamp, stage_out=stage_out) for split in args.split}
    # every split counted and sized before the first is written (docs/data.md, §7)
    check_space([p.projection for p in plans.values() if p.projection], enforce=enforced(args.no_space_check))
    for split, plan in plans.items():
        out = plan.unit.target
        stats = build_crops(plan.dataset_dir, split, out, codec, params.crops, stamp=stamp, stage_out=stage_out,
                            plan=plan)
        print(f"crops {args.dataset}/{split}: {stats['crops']} crops of {stats['persons']} persons "
              f"in {stats['videos']} videos" + state_note(stats["state"], out))
        made(args, out)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("crops", help="cut person crops (frames t-1, t, t+1) into the crop cache")
    dataset_arg(p)
    split_arg(p)
    p.add_argument("--out", type=Path, default=None, help="output directory (one split only; "
                   "default data/crops/<dataset>/<split>)")
    space_arg(p)
    p.set_defaults(func=run, outputs=outputs)


def outputs(args: argparse.Namespace, params: Params) -> list[Path]:
    """The stage's directory of the dataset (``fasrnet.cli`` locks it)."""
    from fasrnet import paths

    check_dataset(params, args.dataset)
    if args.out:  # one split's store
        return [args.out]
    return [paths.CROPS / args.dataset]
