"""``fasrnet acquire``: the workflow's data stage, ``synthesize`` for a syn* set, else ``download``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fasrnet.commands import download, synthesize
from fasrnet.commands.common import check_dataset, dataset_arg, run_other

if TYPE_CHECKING:
    from fasrnet.params import Params


def run(args: argparse.Namespace, params: Params) -> int:
    check_dataset(params, args.dataset)
    if args.dataset.startswith("syn"):
        return run_other(synthesize, params, args, ["synthesize", "--datasets", args.dataset])
    argv = ["download", "--dataset", args.dataset, "--what", "images,labels,boxes"]
    if params.download.from_dir:
        argv += ["--from", params.download.from_dir]
    return run_other(download, params, args, argv)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("acquire", help="the workflow's data stage: synthesize a syn* set, or download/adopt "
                       "(download.from_dir) a PoseTrack set")
    dataset_arg(p)
    p.set_defaults(func=run, outputs=outputs)


def outputs(args: argparse.Namespace, params: Params) -> list[Path]:
    """The dataset directory it writes (``fasrnet.cli`` locks it)."""
    from fasrnet import paths

    check_dataset(params, args.dataset)
    return [paths.dataset_dir(params, args.dataset)]
