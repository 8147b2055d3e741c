"""``fasrnet params``: validate params.yaml, show it resolved, or print the built-in defaults."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from fasrnet.commands.common import params_file

if TYPE_CHECKING:
    from fasrnet.params import Params


def _params_check(args: argparse.Namespace, params: Params) -> int:
    print(f"{params_file(args)}: OK")
    return 0


def _params_show(args: argparse.Namespace, params: Params) -> int:
    import yaml

    print(yaml.safe_dump(params.model_dump(mode="json"), default_flow_style=False, sort_keys=False), end="")
    return 0


def _params_defaults(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.params import dump_defaults

    print(dump_defaults(), end="")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("params", help="validate or show params.yaml")
    psub = p.add_subparsers(dest="params_command", required=True, metavar="{check,show,defaults}")
    # check validates a file: a missing params.yaml fails instead of falling back to the defaults
    psub.add_parser("check", help="validate params.yaml; exit non-zero on error").set_defaults(
        func=_params_check, params_required=True)
    psub.add_parser("show", help="print the validated params with defaults filled in").set_defaults(func=_params_show)
    psub.add_parser("defaults", help="print the built-in defaults as YAML").set_defaults(func=_params_defaults)
