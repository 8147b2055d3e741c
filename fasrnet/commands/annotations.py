"""``fasrnet annotations check``: read PoseTrack annotation files as evaluate reads them (docs/metric.md, §11)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fasrnet.errors import FasrnetError

if TYPE_CHECKING:
    from fasrnet.params import Params


def run(args: argparse.Namespace, params: Params) -> int:
    # The validator evaluate's loading uses too: a file evaluate rejects fails here with the same message.
    from fasrnet.evaluate.validate import check_file

    files: list[Path] = []
    for path in map(Path, args.paths):
        if path.is_dir():
            found = sorted(path.rglob("*.json"))
            if not found:
                raise FasrnetError(f"{path}: no *.json annotation files found")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise FasrnetError(f"{path}: no such file or directory")
    checks = [check_file(f, args.role) for f in files]
    for line in (w for c in checks for w in c.warnings):  # the warnings evaluate prints for the same file
        print(f"warning: {line}", file=sys.stderr)
    frames = sum(c.frames for c in checks)
    labeled = sum(c.with_persons for c in checks)
    persons = sum(c.persons for c in checks)
    n_pred = sum(c.role == "pred" for c in checks)
    refused = sum(c.training_refuses for c in checks)
    print(f"{len(files)} files OK: {frames} frames, {labeled} with persons, {persons} persons "
          f"({len(files) - n_pred} ground truth, {n_pred} predictions)"
          + (f"; {refused} of them the crops stage will refuse (warnings above)" if refused else ""))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("annotations", help="validate PoseTrack annotation files (2017 or 2018 format)")
    psub = p.add_subparsers(dest="annotations_command", required=True, metavar="{check}")
    c = psub.add_parser("check", help="read every file; report the first malformed field and exit non-zero")
    c.add_argument("paths", nargs="+", metavar="PATH", help="annotation files or directories (searched recursively)")
    c.add_argument("--role", choices=("auto", "gt", "pred"), default="auto",
                   help="check the files as evaluate reads its --gt (gt) or --pred (pred) files; auto (default): "
                        "a file with per-joint scores is a prediction, any other ground truth (docs/metric.md, §11)")
    c.set_defaults(func=run)
