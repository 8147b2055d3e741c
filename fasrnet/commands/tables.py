"""``fasrnet tables``: paper Tables 1-10 (``results/tables.md``), summary metrics and figures, from metrics files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fasrnet.params import Params


def run(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.tables import missing_inputs, run_tables

    if not args.strict:
        for path in missing_inputs(params):
            print(f"warning: missing {path.as_posix()} (its rows say \"not run\"; --strict fails instead)",
                  file=sys.stderr)
    written = run_tables(params, out=args.out, figures=None if args.no_figures else args.figures,
                         summary=args.summary, strict=args.strict)
    print("tables: wrote " + ", ".join(p.as_posix() for p in written))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from fasrnet import paths
    from fasrnet.paths import SUMMARY_FILE, TABLES_FILE

    p = sub.add_parser("tables", help="paper Tables 1-10 (results/tables.md), summary metrics and figures")
    p.add_argument("--out", type=Path, default=TABLES_FILE, metavar="FILE",
                   help=f"markdown output (default: {TABLES_FILE.as_posix()})")
    p.add_argument("--figures", type=Path, default=paths.FIGURES, metavar="DIR",
                   help=f"figures directory, also holding the tables as HTML for the report (default: "
                        f"{paths.FIGURES.as_posix()})")
    p.add_argument("--no-figures", action="store_true", help="write no figures")
    p.add_argument("--summary", type=Path, default=SUMMARY_FILE, metavar="FILE",
                   help=f"flat DVC metrics JSON (default: {SUMMARY_FILE.as_posix()})")
    p.add_argument("--strict", action="store_true",
                   help="fail, naming them, if any run's metrics file or complexity.json is missing "
                        "(the workflow uses it; without it such rows say \"not run\")")
    p.set_defaults(func=run, outputs=outputs)


def outputs(args: argparse.Namespace, params: Params) -> list[Path]:
    """The tables, the summary metrics and the figures directory (``fasrnet.cli`` locks them)."""
    return [args.out, args.summary] + ([] if args.no_figures else [args.figures])
