"""Workflow files from the stage registry: ``dvc.yaml`` (written and checked) and Snakemake's params stamps."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from fasrnet.io import write_text
from fasrnet.params import Params
from fasrnet.stages import dvc_yaml, instances, stamp_values

HEADER = ("# Generated from the stage registry (fasrnet/stages.py) by `fasrnet workflow dvc`; do not edit by hand.\n"
          "# `fasrnet workflow check` (and a test) verifies it is current.\n")
STAMP_DIR = Path(".fasrnet/stamps")


def render_dvc_yaml(params: Params) -> str:
    return HEADER + yaml.safe_dump(dvc_yaml(params), sort_keys=False, default_flow_style=False, width=120)


def write_dvc_yaml(params: Params, path: str | Path = "dvc.yaml") -> Path:
    path = Path(path)
    write_text(path, render_dvc_yaml(params))
    return path


def check_dvc_yaml(params: Params, path: str | Path = "dvc.yaml") -> list[str]:
    """Problems that make ``path`` differ from what the registry generates (empty when current)."""
    path = Path(path)
    if not path.exists():
        return [f"{path}: missing; run `fasrnet workflow dvc`"]
    if path.read_text() != render_dvc_yaml(params):
        return [f"{path}: differs from the stage registry; run `fasrnet workflow dvc` and commit it"]
    return []


def stamp_path(stage: str) -> Path:
    return STAMP_DIR / f"{stage.replace('@', '.')}.json"


def write_stamps(params: Params, directory: Path | None = None) -> dict[str, Path]:
    """One JSON file per stage instance with the values of the params keys it reads, rewritten only when they
    change: Snakemake takes it as an input, so a params change (by hand or by ``dvc exp run -S``) makes exactly
    the stages that read the key out of date."""
    out = {}
    for inst in instances(params):
        path = (directory / stamp_path(inst.name).name) if directory else stamp_path(inst.name)
        text = json.dumps(stamp_values(params, inst.params), sort_keys=True, indent=1) + "\n"
        if not path.exists():
            write_text(path, text)
            # A first stamp records the values, it does not announce a change: dated at the epoch, it never makes
            # outputs that exist already (e.g. made by `dvc repro`) look stale. A missing output still runs.
            os.utime(path, (0, 0))
        elif path.read_text() != text:
            write_text(path, text)
        out[inst.name] = path
    return out
