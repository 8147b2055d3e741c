"""``fasrnet workflow``: write or check dvc.yaml, write the stages' code digests (docs/workflow.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fasrnet.params import Params


def run(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.codedeps import digest_path as code_file
    from fasrnet.stages import stage_commands
    from fasrnet.workflow import check_dvc_yaml, write_code_digests, write_dvc_yaml

    if args.workflow_command == "code":
        before = {p: p.read_bytes() if p.exists() else None for p in map(code_file, stage_commands())}
        written = write_code_digests()
        changed = [name for name, path in written.items() if before[path] != path.read_bytes()]
        print(f"code: {len(written)} digest files, " + (f"changed: {' '.join(changed)}" if changed else "none changed"))
        return 0
    if args.workflow_command == "dvc":
        path = write_dvc_yaml(params, args.out)
        print(f"wrote {path}")
        return 0
    problems = check_dvc_yaml(params, args.out)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 1
    print(f"{args.out}: current")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("workflow", help="write or check dvc.yaml from the stage registry (fasrnet/stages.py); write "
                       "the stages' code digest files")
    p.add_argument("workflow_command", choices=["dvc", "check", "code"],
                   help="dvc: write dvc.yaml; check: is it current?; code: rewrite each stage command's code digest "
                        "file (workflow/code/<command>.json) whose digest changed (DVC's code stage; docs/workflow.md)")
    p.add_argument("--out", type=Path, default=Path("dvc.yaml"), help="with dvc and check: the file (default dvc.yaml)")
    p.set_defaults(func=run, outputs=outputs)


def outputs(args: argparse.Namespace, params: Params) -> list[Path]:
    """The digest directory ``code`` writes (``fasrnet.cli`` locks it); dvc.yaml is written atomically, unlocked."""
    from fasrnet.codedeps import DIGEST_DIR

    return [DIGEST_DIR] if args.workflow_command == "code" else []
