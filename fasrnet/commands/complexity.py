"""``fasrnet complexity``: parameters and GFLOPs of HRNet and FaSRnet (Table 5)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fasrnet.commands.common import threads_arg
from fasrnet.errors import FasrnetError

if TYPE_CHECKING:
    from fasrnet.params import Params


def run(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.complexity import complexity_report
    from fasrnet.io import write_json
    from fasrnet.runtime import set_threads

    set_threads(args.threads)

    size = (args.input_size[0], args.input_size[1])
    if args.width < 1 or min(size) < 32:
        raise FasrnetError(f"complexity: --width must be >= 1 and --input-size at least 32 32, got {args.width} "
                           f"and {size[0]} {size[1]}")
    report = complexity_report(params, width=args.width, input_size=size)
    write_json(args.out, report, indent=2)
    ours, paper = report["table5"]["ours"], report["table5"]["paper"]
    print(f"{args.out}: HRNet-W{args.width} {size[0]}x{size[1]} and FaSRnet over 3 frames")
    for name in ("hrnet", "fasrnet"):
        o, p = ours[name], paper[name]
        print(f"  {name}: {o['params']:,} params ({p['params']:.4g} in the paper); {o['gmacs']} GMACs = "
              f"{o['gflops']} GFLOPs (2 x MAC); thop-style {o['thop_style_gmacs']} G (paper {p['gflops']})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("complexity", help="parameters and GFLOPs of HRNet and FaSRnet (Table 5)")
    p.add_argument("--out", default="results/metrics/complexity.json", metavar="FILE",
                   help="JSON output (default: results/metrics/complexity.json)")
    p.add_argument("--width", type=int, default=48, metavar="C", help="backbone width measured (default: 48)")
    p.add_argument("--input-size", type=int, nargs=2, default=[384, 288], metavar=("H", "W"),
                   help="input crop measured (default: 384 288)")
    threads_arg(p)
    p.set_defaults(func=run, outputs=outputs)


def outputs(args: argparse.Namespace, params: Params) -> list[Path]:
    return [Path(args.out)]
