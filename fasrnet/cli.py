"""The ``fasrnet`` command line: one thin subcommand per pipeline stage over library functions.

Every subcommand validates ``params.yaml`` first (``--params`` picks another file, ``-S key=value`` overrides
a key as ``dvc exp run -S`` does). User errors print one ``error: …`` line per problem and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from fasrnet import __version__
from fasrnet.errors import FasrnetError
from fasrnet.params import DEFAULT_PARAMS_FILE, Params, dump_defaults, load_params

Handler = Callable[[argparse.Namespace, Params], int | None]


def _params_check(args: argparse.Namespace, params: Params) -> int:
    print(f"{args.params}: OK")
    return 0


def _params_show(args: argparse.Namespace, params: Params) -> int:
    import yaml

    print(yaml.safe_dump(params.model_dump(mode="json"), default_flow_style=False, sort_keys=False), end="")
    return 0


def _params_defaults(args: argparse.Namespace, params: Params) -> int:
    print(dump_defaults(), end="")
    return 0


def _add_params(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("params", help="validate or show params.yaml")
    psub = p.add_subparsers(dest="params_command", required=True, metavar="{check,show,defaults}")
    psub.add_parser("check", help="validate params.yaml; exit non-zero on error").set_defaults(func=_params_check)
    psub.add_parser("show", help="print the validated params with defaults filled in").set_defaults(func=_params_show)
    psub.add_parser("defaults", help="print the built-in defaults as YAML").set_defaults(func=_params_defaults)


def _annotations_check(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.data.posetrack import read_video

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
    frames = labeled = persons = 0
    for f in files:
        video = read_video(f)
        frames += len(video.frames)
        labeled += sum(bool(fr.persons) for fr in video.frames)
        persons += sum(len(fr.persons) for fr in video.frames)
    print(f"{len(files)} files OK: {frames} frames, {labeled} with persons, {persons} persons")
    return 0


def _add_annotations(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("annotations", help="validate PoseTrack annotation files (2017 or 2018 format)")
    psub = p.add_subparsers(dest="annotations_command", required=True, metavar="{check}")
    c = psub.add_parser("check", help="read every file; report the first malformed field and exit non-zero")
    c.add_argument("paths", nargs="+", metavar="PATH", help="annotation files or directories (searched recursively)")
    c.set_defaults(func=_annotations_check)


#: Subcommand registrars, in pipeline order. Each adds a parser whose ``func`` is a :data:`Handler`.
#: To add a stage: define ``_add_<stage>(sub)`` above and append it here on its own line.
REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_params,
    _add_annotations,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fasrnet", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"fasrnet {__version__}")
    parser.add_argument("--params", default=DEFAULT_PARAMS_FILE, metavar="FILE",
                        help=f"params file (default: {DEFAULT_PARAMS_FILE})")
    parser.add_argument("-S", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one param, e.g. -S loss.alpha=0.3 (repeatable)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in REGISTRARS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        params = load_params(Path(args.params), args.overrides)
        rc = args.func(args, params)
    except FasrnetError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
