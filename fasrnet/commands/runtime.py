"""``fasrnet runtime``: per-stage wall time, memory and CPU time (docs/runtime.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fasrnet.params import Params


def run(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.tables.runtime import write_runtime

    written = write_runtime(args.benchmarks, out=args.out, json_out=args.json)
    print("runtime: wrote " + ", ".join(p.as_posix() for p in written))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from fasrnet.paths import BENCHMARKS_DIR, RUNTIME_FILE, RUNTIME_JSON

    p = sub.add_parser("runtime", help="per-stage wall time, peak memory and CPU time of the stages' last runs "
                       "(results/runtime.md, from the benchmark files their commands write; docs/runtime.md)")
    p.add_argument("--benchmarks", type=Path, default=BENCHMARKS_DIR, metavar="DIR",
                   help=f"the stages' benchmark files (default: {BENCHMARKS_DIR.as_posix()})")
    p.add_argument("--out", type=Path, default=RUNTIME_FILE, metavar="FILE",
                   help=f"markdown output (default: {RUNTIME_FILE.as_posix()})")
    p.add_argument("--json", type=Path, default=RUNTIME_JSON, metavar="FILE",
                   help=f"the same as JSON (default: {RUNTIME_JSON.as_posix()})")
    p.set_defaults(func=run, outputs=outputs)


def outputs(args: argparse.Namespace, params: Params) -> list[Path]:
    return [args.out, args.json]
