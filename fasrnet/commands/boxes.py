"""``fasrnet boxes``: convert DCPose/mmpose person boxes, validate box files (docs/data.md)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fasrnet.params import Params


def _boxes_convert(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.data.boxes import convert

    stats = convert(args.from_format, args.in_path, args.out, ann=args.ann, min_score=args.min_score)
    print(f"{args.out}: {stats.written} boxes written ({stats.read} read, {stats.dropped_category} with "
          f"category_id != 1 dropped, {stats.dropped_score} below --min-score dropped)")
    return 0


def _boxes_check(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.data.boxes import read_boxes

    for path in args.paths:
        print(f"{path}: {len(read_boxes(path))} boxes OK")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("boxes", help="person detection boxes: convert DCPose/mmpose files, validate")
    psub = p.add_subparsers(dest="boxes_command", required=True, metavar="{convert,check}")
    c = psub.add_parser("convert", help="convert a box file into the pipeline's detection format")
    c.add_argument("--from-format", required=True, choices=["dcpose", "mmpose"])
    c.add_argument("--in", dest="in_path", required=True, metavar="FILE")
    c.add_argument("--ann", metavar="FILE_OR_DIR",
                   help="annotations: merged val JSON (required for mmpose) or per-video files (fills DCPose gaps)")
    c.add_argument("--out", required=True, metavar="FILE")
    c.add_argument("--min-score", type=float, default=None,
                   help="drop boxes below this score (default: keep all; the crops stage applies its threshold)")
    c.set_defaults(func=_boxes_convert)
    k = psub.add_parser("check", help="validate files in the pipeline's detection format")
    k.add_argument("paths", nargs="+", metavar="FILE")
    k.set_defaults(func=_boxes_check)
