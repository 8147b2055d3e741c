"""``fasrnet pretrain-backbone``: the embedded default's small HRNet, trained on synthetic frames."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fasrnet.commands.common import state_note, threads_arg

if TYPE_CHECKING:
    from fasrnet.params import Params


def run(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.backbone import pretrain_backbone
    from fasrnet.runtime import set_threads

    set_threads(args.threads)
    result = pretrain_backbone(params, args.datasets)
    if result["state"] == "current":
        print(f"pretrain-backbone: {Path(result['checkpoint']).parent} is up to date")
        return 0
    print(f"pretrain-backbone: wrote {result['checkpoint']} ({result['crops']} crops per epoch)"
          + state_note(result["state"], Path(result["checkpoint"]).parent))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain-backbone", help="train the small HRNet on single synthetic frames (embedded default)")
    p.add_argument("--datasets", nargs="+", default=None, help="datasets whose train crops to use "
                   "(default: data.datasets)")
    threads_arg(p)
    p.set_defaults(func=run, outputs=outputs)


def outputs(args: argparse.Namespace, params: Params) -> list[Path]:
    """The backbone's directory (``fasrnet.cli`` locks it)."""
    return [Path(params.backbone.checkpoint).parent]
