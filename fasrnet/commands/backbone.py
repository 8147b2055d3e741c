"""``fasrnet backbone``: the workflow's backbone stage, ``pretrain-backbone`` or the HRNet checkpoint adopted."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fasrnet.commands import download, pretrain_backbone
from fasrnet.commands.common import run_other, threads_arg

if TYPE_CHECKING:
    from fasrnet.params import Params


def run(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.backbone import adopt_checkpoint

    if params.backbone.source == "pretrain":
        threads = ["--threads", str(args.threads)] if args.threads else []
        return run_other(pretrain_backbone, params, args, ["pretrain-backbone", *threads])
    rc = run_other(download, params, args, ["download", "--what", "weights"])
    if rc:
        return rc
    print(f"backbone: {adopt_checkpoint(params)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backbone", help="the workflow's backbone stage: pretrain (backbone.source: pretrain) or "
                       "fetch and adopt the HRNet checkpoint (backbone.source: checkpoint)")
    threads_arg(p)
    p.set_defaults(func=run, outputs=outputs)


def outputs(args: argparse.Namespace, params: Params) -> list[Path]:
    """The backbone's directory, and the weights directory when it fetches the checkpoint (``fasrnet.cli`` locks
    them)."""
    weights = [Path(params.download.weights_dir)] if params.backbone.source != "pretrain" else []
    return [Path(params.backbone.checkpoint).parent, *weights]
