"""The ``fasrnet`` command line: one thin subcommand per pipeline stage over library functions.

Every subcommand validates ``params.yaml`` first (``--params`` picks another file, ``-S key=value`` overrides
a key as ``dvc exp run -S`` does). User errors print one ``error: …`` line per problem and exit 2.

Each command lives in a module of its own, ``fasrnet/commands/<name>.py`` (its arguments, its handler, the outputs
it writes); this module holds what runs around every command: parsing, params, the output locks, the error
boundary and the stage's record. It imports only the command it runs, so a stage's code is its command module's
import closure (fasrnet.codedeps, docs/workflow.md), and ``fasrnet --help`` alone builds every command's parser.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from fasrnet import __version__, codedeps
from fasrnet.commands.common import params_file
from fasrnet.errors import FasrnetError
from fasrnet.paths import DEFAULT_PARAMS_FILE

if TYPE_CHECKING:  # the params stack (pydantic) loads in main(), after parsing: `fasrnet --help` stays fast
    from fasrnet.params import Params

Handler = Callable[[argparse.Namespace, "Params"], int | None]

#: The subcommands, in pipeline order; ``fasrnet/commands/<name with _ for ->.py`` defines each (a ``register(sub)``
#: that adds its parser, whose ``func`` is a :data:`Handler` and whose ``outputs``, for a command that writes a
#: pipeline output, says which). To add a command: write its module and name it here.
COMMANDS = ("params", "annotations", "download", "synthesize", "boxes", "complexity", "acquire", "crops", "backbone",
            "pretrain-backbone", "adapt-backbone", "extract", "train", "predict", "workflow", "evaluate", "demo",
            "tables", "runtime")
#: The global options that take a value (the word after them is not the command).
_VALUED = ("--params", "-S", "--set")


def command_module(name: str) -> ModuleType:
    """The module of subcommand ``name`` (``pretrain-backbone`` → ``fasrnet.commands.pretrain_backbone``), named as
    the code digests name it (fasrnet.codedeps)."""
    return importlib.import_module(codedeps.command_module(name))


def chosen_command(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names, or ``None`` (no command yet, ``--help``, or a word that is no command)."""
    words = iter(argv)
    for word in words:
        if word in _VALUED:
            next(words, None)
        elif not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with ``command``'s arguments only (its module alone is imported), or with every command's when
    ``command`` is ``None`` or unknown (``fasrnet --help``, or an error naming the commands there are)."""
    parser = argparse.ArgumentParser(prog="fasrnet", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"fasrnet {__version__}")
    # None (not the default name) tells an explicit --params, which must exist, from the default, which may not
    parser.add_argument("--params", default=None, metavar="FILE",
                        help=f"params file (default: {DEFAULT_PARAMS_FILE}; if it is missing, the built-in "
                             "defaults, with a note)")
    parser.add_argument("-S", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one param, e.g. -S loss.alpha=0.3 (repeatable)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in [command] if command in COMMANDS else COMMANDS:
        command_module(name).register(sub)
    return parser


def outputs_of(args: argparse.Namespace, params: Params) -> list[Path]:
    """The outputs ``args``' command writes, resolved as its handler resolves them (``--out``, params, the item
    whichever way it was passed): what :func:`main` locks before the handler runs (fasrnet.locks, docs/resume.md).
    Each command module says its own (``outputs``); a pipeline stage's include its registry outputs (a test checks
    every one). Names are checked first, so no lock file is made for a dataset or run params.yaml does not define;
    commands that write no pipeline output lock nothing."""
    outputs = getattr(args, "outputs", None)
    return [Path(p) for p in outputs(args, params)] if outputs is not None else []


#: OSErrors that are the machine's fault, not a bug, even when they carry no file name (a write() on a full disk).
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})
#: How often a command runs again when what it made was deleted while it ran (see :func:`_run_locked`).
ATTEMPTS = 3


def error_lines(exc: BaseException) -> list[str]:
    """The ``error: …`` lines for an expected failure; never empty, never raises (an empty message gives the
    exception's type)."""
    if isinstance(exc, OSError) and exc.filename is not None:
        # two names (os.replace of an atomic write's temporary): the second is the output the user named
        where = exc.filename2 if exc.filename2 is not None else exc.filename
        return [f"error: {where}: {exc.strerror or type(exc).__name__}"]
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return [f"error: {line}" for line in lines] or [f"error: {type(exc).__name__}"]


def _expected(exc: BaseException) -> bool:
    """Failures the user can act on get one line; anything else is a bug and keeps its traceback."""
    if isinstance(exc, FasrnetError):
        return True
    return isinstance(exc, OSError) and (exc.filename is not None or exc.errno in ENVIRONMENT_ERRNOS)


def _run_locked(parser: argparse.ArgumentParser, args: argparse.Namespace, params: Params, argv: list[str],
                started: float) -> int | None:
    """Run the subcommand holding the lock of every output it writes (:func:`outputs_of`, fasrnet.locks): a second
    writer of one of them, from any tool, clone or shell, waits for this one, then finds its work up to date.

    The lock orders fasrnet's writers, not the tools: DVC and Snakemake delete a stage's outputs before they start
    its command, so a tool starting the stage while this command writes it deletes what this one already put in
    place. A registry stage's outputs and the units its handler reports (:func:`_made`) must therefore still exist
    when it is done; if one is gone, the command runs again (still holding its locks; a resumable stage redoes only
    what is missing), so it never ends with success on a store another tool deleted a part of.

    Under torchrun only rank 0 locks (and checks): the other ranks write nothing of their own and wait for rank 0 in
    the process group, so no rank waits at a lock another rank of its job holds (docs/resume.md).
    """
    import shlex

    from fasrnet.locks import hold
    from fasrnet.record import stage_of

    if int(os.environ.get("RANK", "0") or 0) != 0:
        return args.func(args, params)
    single = int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1  # one process: a rerun involves no other rank
    with hold(outputs_of(args, params), command=shlex.join(["fasrnet", *argv])):
        inst = stage_of(params, argv)
        for attempt in range(1, ATTEMPTS + 1):
            if attempt > 1:
                args = parser.parse_args(argv)  # the handler may have filled in its arguments
            args.made = []
            rc = args.func(args, params)
            expected = [*args.made, *(map(Path, (*inst.outs, *inst.metrics)) if inst is not None else ())]
            gone = [] if rc or not single else [path for path in expected if not os.path.lexists(path)]
            if not gone:
                break
            if attempt == ATTEMPTS:
                raise FasrnetError(f"{gone[0]}: missing after {ATTEMPTS} runs of `fasrnet {args.command}` (deleted by "
                                   "another tool rerunning the stage each time, or written elsewhere; docs/resume.md)")
            print(f"fasrnet: {gone[0]} was deleted while this command ran (another tool starting the same stage "
                  "deletes its outputs first); running it again", file=sys.stderr, flush=True)
        if not rc:
            _record(params, args, argv, started)
    return rc


def _record(params: Params, args: argparse.Namespace, argv: Sequence[str], started: float) -> None:
    """A pipeline stage's benchmark file and params stamp (fasrnet.record), after it succeeded."""
    from fasrnet.record import record_imports, record_stage, stage_of

    if int(os.environ.get("RANK", "0")) != 0:
        return  # under torchrun, rank 0 speaks for the job
    inst = None if args.params is not None or args.overrides else stage_of(params, argv)
    try:
        if inst is not None:
            record_stage(params, inst, started)
        record_imports(inst.name if inst is not None else args.command)
    except OSError as exc:  # the stage's outputs are in place: bookkeeping must not fail it
        print(f"warning: {error_lines(exc)[0].removeprefix('error: ')} (benchmark file or params stamp not "
              "recorded; docs/workflow.md)", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    started = time.time()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(chosen_command(argv))
    args = parser.parse_args(argv)
    from fasrnet.params import load_params

    try:
        explicit = args.params is not None or getattr(args, "params_required", False)
        params = load_params(params_file(args), args.overrides, required=explicit)
        rc = _run_locked(parser, args, params, argv, started)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `fasrnet params show | head`: the reader left; say nothing more, and keep the interpreter's final flush
        # from raising again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (FasrnetError, OSError) as exc:
        if not _expected(exc):
            raise
        for line in error_lines(exc):
            print(line, file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
