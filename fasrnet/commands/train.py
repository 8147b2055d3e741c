"""``fasrnet train``: one run's FaSRnet head on the feature cache (docs/resume.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fasrnet.commands.common import run_arg, state_note, threads_arg

if TYPE_CHECKING:
    from fasrnet.params import Params


def run(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.runs import resolve_run
    from fasrnet.runtime import set_threads
    from fasrnet.train import Trainer

    set_threads(args.threads)
    trainer = Trainer(params, resolve_run(params, args.run), out_dir=args.out)
    result = trainer.run()
    if result.get("rank", 0) != 0:  # under torchrun only rank 0 reports
        return 0
    if result["state"] == "current":
        print(f"train {args.run}: {trainer.out_dir} is up to date")
        return 0
    if result["state"] == "reused":
        print(f"train {args.run}: reused {result['reused']}'s training (same dataset, variant, alpha and seed) "
              f"for {trainer.out_dir}")
        return 0
    last = result["history"][-1] if result["history"] else {}
    print(f"train {args.run}: {result['epochs']} epochs, final loss {last.get('loss', float('nan')):.4e}"
          + ("" if last.get("val_map") is None else f", val mAP {last['val_map']:.2f}")
          + state_note(result["state"], trainer.out_dir))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one run's FaSRnet head on the feature cache (resumes after a kill; "
                                     "under `torchrun --nproc_per_node N -m -- fasrnet train` with DDP)")
    run_arg(p)
    p.add_argument("--out", type=Path, default=None, help="output directory (default models/<run>/)")
    threads_arg(p)
    p.set_defaults(func=run, outputs=outputs)


def outputs(args: argparse.Namespace, params: Params) -> list[Path]:
    """The run's directory (``fasrnet.cli`` locks it)."""
    from fasrnet import paths

    params.runs.named(args.run)
    return [args.out or paths.run_dir(args.run)]
