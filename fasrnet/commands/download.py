"""``fasrnet download``: fetch or adopt PoseTrack data, boxes and HRNet weights (docs/data.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fasrnet.commands.common import names

if TYPE_CHECKING:
    from fasrnet.params import Params


def run(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.data.download.command import cli_download

    return cli_download(args, params)


def register(sub: argparse._SubParsersAction) -> None:
    # its arguments here, not in fasrnet.data.download: building the parser must not import a stage's modules,
    # or every stage would depend on them (fasrnet/codedeps.py)
    p = sub.add_parser("download", help="fetch or adopt (--from DIR) PoseTrack data, boxes and HRNet weights; verify")
    p.add_argument("--dataset", action="append", metavar="NAME",
                   help="posetrack18 / posetrack17 / posetrack21 (repeatable or comma-separated; "
                        "default: data.datasets)")
    p.add_argument("--what", action="append", metavar="KINDS",
                   help="comma-separated subset of images,labels,boxes,weights (default: download.what)")
    p.add_argument("--artefact", action="append", metavar="NAME", help="fetch these manifest entries only")
    p.add_argument("--from", dest="from_dir", metavar="DIR",
                   help="adopt a copy you have (extracted tree and/or archives, box files, checkpoints)")
    p.add_argument("--copy", action="store_true", help="with --from: copy instead of linking (download.link)")
    p.add_argument("--dest", metavar="DIR", help="dataset root (default: data.root)")
    p.add_argument("--cache-dir", metavar="DIR", help="archives as fetched (default: download.cache_dir)")
    p.add_argument("--weights-dir", metavar="DIR", help="checkpoints (default: download.weights_dir)")
    p.add_argument("--expect", action="append", metavar="SPLIT=N",
                   help="expected videos per split for the layout check, overriding the manifest (e.g. val=170)")
    p.add_argument("--verify-only", action="store_true", help="only verify the layout of the datasets under --dest")
    p.add_argument("--list", action="store_true", help="list the manifest (names, what is known) and exit")
    p.add_argument("--manifest", metavar="FILE", help=argparse.SUPPRESS)
    p.set_defaults(func=run, outputs=outputs)


def outputs(args: argparse.Namespace, params: Params) -> list[Path]:
    """The dataset directories and the weights directory it writes (``fasrnet.cli`` locks them)."""
    if args.list or args.verify_only:
        return []
    what = names(args.what) or list(params.download.what)
    root = Path(args.dest or params.data.root)
    data = {"images", "labels", "boxes"} & set(what)
    out = [root / d for d in names(args.dataset) or params.data.datasets] if data else []
    weights = "weights" in what or args.artefact
    return out + ([Path(args.weights_dir or params.download.weights_dir)] if weights else [])
