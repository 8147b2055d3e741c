"""What several commands share: their common arguments, the checks on them, and running one command from another.

Cheap to import (argparse and the path layout only): ``fasrnet --help`` builds every command's parser.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from fasrnet.errors import FasrnetError
from fasrnet.paths import DEFAULT_PARAMS_FILE, SPLITS

if TYPE_CHECKING:
    from fasrnet.params import Params


def stage_item(value: str) -> str:
    """A ``--run``/``--dataset`` value: the name itself, or a DVC stage name ending in ``@<name>``.

    dvc.yaml's commands pass ``"$DVC_STAGE"`` (e.g. ``train_main@main_syn17``) instead of pasting the name from
    params.yaml into the shell command (fasrnet.stages.DVC_ITEM); the name is validated against params.yaml after.
    """
    return value.rpartition("@")[2]


ITEM_HELP = " (or a DVC stage name ending in @NAME, as dvc.yaml passes it)"


def dataset_arg(p: argparse.ArgumentParser, required: bool = True, help: str = "") -> None:
    p.add_argument("--dataset", required=required, type=stage_item,
                   help=(help or "dataset name (one of data.datasets), e.g. syn17") + ITEM_HELP)


def run_arg(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--run", required=required, default=None, type=stage_item,
                   help="a run named in params.yaml `runs`" + ITEM_HELP)


def split_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", nargs="+", default=None, choices=list(SPLITS),
                   help="default: every split the dataset has (PoseTrack21: train val)")


def threads_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (Snakemake passes the rule's threads; default: FASRNET_THREADS)")


def space_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-space-check", action="store_true",
                   help="print the projected cache size but start even when the disk lacks the room "
                        "(also FASRNET_NO_SPACE_CHECK=1; docs/data.md, §7)")


def params_file(args: argparse.Namespace) -> Path:
    """The params file the command line names (``--params``), or the default one."""
    return Path(args.params if args.params is not None else DEFAULT_PARAMS_FILE)


def check_dataset(params: Params, dataset: str) -> None:
    if dataset not in params.data.datasets:
        raise FasrnetError(f"--dataset {dataset}: not in data.datasets {params.data.datasets}")


def splits(args: argparse.Namespace, dataset: str) -> list[str]:
    """``--split`` (default: every split ``dataset`` has); a split the dataset does not have is an error."""
    from fasrnet import paths

    has = paths.splits_of(dataset)
    wanted = list(args.split) if args.split else list(has)
    missing = [s for s in wanted if s not in has]
    if missing:
        raise FasrnetError(f"--split {' '.join(missing)}: {dataset} has no such split (it has {' '.join(has)})")
    return wanted


def names(values: list[str] | None) -> list[str]:
    """Repeatable, comma-separated option values (``--dataset a,b --dataset c``), as ``fasrnet download`` reads them."""
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def state_note(state: str, out: Path) -> str:
    """How a resumable stage went (docs/resume.md): up to date, resumed, or (re)built from scratch."""
    return {"current": f"; {out} is up to date", "resume": "; resumed the partial work"}.get(state, "")


def made(args: argparse.Namespace, path: Path) -> None:
    """A handler reports a unit it put in place (or found current): ``fasrnet.cli`` checks it is still there at the
    end (docs/resume.md)."""
    if isinstance(getattr(args, "made", None), list):
        args.made.append(Path(path))


def run_or_backbone(args: argparse.Namespace, params: Params) -> tuple[str, str]:
    """(dataset, name) of ``--run NAME`` or of ``--backbone-only --dataset NAME`` (the frozen backbone's pseudo-run);
    the caller has checked that the one it takes is given."""
    if args.backbone_only:
        check_dataset(params, args.dataset)
        return args.dataset, _backbone_name(args)
    return params.runs.named(args.run).dataset, args.run


def _backbone_name(args: argparse.Namespace) -> str:
    """The backbone-alone pseudo-run of ``--dataset``: with ``--adapted``, the adapted backbone's (the control)."""
    from fasrnet import paths

    if getattr(args, "adapted", False):
        return paths.adapted_backbone_run_name(args.dataset)
    return paths.backbone_run_name(args.dataset)


def pipeline_name(args: argparse.Namespace, params: Params) -> str | None:
    """The run (or the backbone's pseudo-run) a ``predict``/``evaluate`` command writes for, or ``None`` when its
    arguments name none (its handler then refuses them, or writes where ``--out`` says)."""
    if args.backbone_only and args.dataset and not args.run:
        check_dataset(params, args.dataset)
        return _backbone_name(args)
    if args.run and not args.backbone_only:
        params.runs.named(args.run)
        return args.run
    return None


def run_other(command: ModuleType, params: Params, args: argparse.Namespace, argv: list[str]) -> int:
    """Run another command (its module, imported by the caller) with the same params: a dispatching stage
    (``acquire``, ``backbone``) runs ``synthesize``, ``download`` or ``pretrain-backbone`` this way."""
    parser = argparse.ArgumentParser(prog="fasrnet")
    command.register(parser.add_subparsers(dest="command", required=True))
    sub_args = parser.parse_args(argv)
    sub_args.params, sub_args.overrides = args.params, args.overrides
    return int(sub_args.func(sub_args, params) or 0)
