"""Workflow files from the stage registry, and the hand-over between the two wirings (docs/workflow.md).

- ``dvc.yaml``: generated from the registry (:func:`dvc_yaml`; ``fasrnet workflow dvc``, checked by a test).
  Every stage depends on its command's code digest file ``workflow/code/<subcommand>.json`` (:mod:`fasrnet.codedeps`),
  which the first stage, ``code`` (``fasrnet workflow code``, :data:`CODE_STAGE`), rewrites when the digest changes.
- The code digest files for Snakemake (:func:`write_code_digests`, at every parse), the same files.
- Snakemake's params stamps (:func:`write_stamps`), one per stage instance, rewritten when the values change.
- :func:`after_snakemake`, the workflow's ``onsuccess:``: the runtime table, and ``dvc commit`` of every stage in
  the run's DAG, so ``dvc status`` is clean and ``dvc repro`` reruns nothing after ``snakemake``. The other
  direction needs no step: a stage's command dates its own stamp (:mod:`fasrnet.record`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from fasrnet.codedeps import DIGEST_DIR, PACKAGE, digest_path, write_digests
from fasrnet.io import write_text
from fasrnet.params import RUN_GROUPS, Params
from fasrnet.record import STAMP_DIR, stamp_path, stamp_text
from fasrnet.stages import DVC_ITEM, expand_each, instances, items, snakemake_rules, stage_commands, templates

__all__ = ["CODE_STAGE", "STAMP_DIR", "after_snakemake", "check_dvc_yaml", "dvc_commit", "dvc_yaml",
           "render_dvc_yaml", "snakemake_stages", "stamp_path", "write_code_digests", "write_dvc_yaml", "write_stamps"]

HEADER = ("# Generated from the stage registry (fasrnet/stages.py) by `fasrnet workflow dvc`; do not edit by hand.\n"
          "# `fasrnet workflow check` (and a test) verifies it is current.\n")

#: DVC's stage that reads the package and rewrites the code digest files whose digest changed: DVC hashes file
#: bytes, so a stage cannot depend on a normal form of its code directly. It depends on the package directory
#: (``__pycache__`` is in .dvcignore), runs in well under a second, and is the only stage a comment edit changes
#: for ``dvc status``; ``dvc repro`` runs it first, then exactly the stages whose digest file changed.
CODE_STAGE = "code"
CODE_CMD = "fasrnet workflow code"

_DVC_ITEMS = {"datasets": "${data.datasets}", **{g: f"${{runs.{g}}}" for g in RUN_GROUPS}}


def _dvc_text(text: str, over: str | None) -> str:
    text = text.replace("{root}", "${data.root}")
    if over == "datasets":
        return text.replace("{dataset}", "${item}")
    return text.replace("{run}", "${key}").replace("{dataset}", "${item.dataset}")


def dvc_yaml(params: Params) -> dict[str, Any]:
    """The ``dvc.yaml`` document: the ``code`` stage (:data:`CODE_STAGE`), one (foreach) stage per template, plus
    top-level plots of the training logs. A stage's deps are its template's and its command's code digest file."""
    commands = stage_commands()
    stages: dict[str, Any] = {CODE_STAGE: {
        "cmd": CODE_CMD, "deps": [PACKAGE],
        # persist: DVC must not delete them before the command runs, which rewrites only the changed ones (an
        # unchanged file keeps the date Snakemake compares); not cached: a few hundred bytes each, made from git
        "outs": [{digest_path(c).as_posix(): {"cache": False, "persist": True}} for c in commands]}}
    for t in templates():
        if t.over and not items(params, t.over):
            continue  # DVC refuses an empty foreach: a run group without runs has no stage
        conv = lambda s: _dvc_text(s, t.over)  # noqa: E731
        body: dict[str, Any] = {"cmd": t.cmd.replace("{run}", DVC_ITEM).replace("{dataset}", DVC_ITEM)}
        deps = [conv(d) for d in expand_each(t.deps, params)] + [digest_path(t.command).as_posix()]
        if deps:
            body["deps"] = deps
        if t.params:
            body["params"] = [conv(p) for p in t.params]
        if t.outs:
            body["outs"] = [conv(o) for o in t.outs]
        if t.metrics:
            # cached like any out: pushed to a DVC remote, restorable from the run cache (docs/workflow.md)
            body["metrics"] = [conv(m) for m in t.metrics]
        stages[t.name] = {"foreach": _DVC_ITEMS[t.over], "do": body} if t.over else body
    y = ["loss", "val_map"] if params.train.val_every else ["loss"]  # no val_map column to plot without it
    plots = [{f"models/{name}/train_log.csv": {"x": "epoch", "y": list(y)}}
             for name, run in params.runs.items() if run.group == "main"]
    return {"stages": stages, "metrics": ["results/summary.json"], "plots": plots}


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


# --------------------------------------------------------------------------------------------------------------
# Snakemake


def write_code_digests(directory: Path = DIGEST_DIR) -> dict[str, Path]:
    """Each stage command's code digest file (fasrnet.codedeps), rewritten only when its digest changed: Snakemake
    takes it as an input, so an edit reruns exactly the stages whose code it changes (a comment none), and DVC's
    ``code`` stage writes the same files."""
    return write_digests(stage_commands(), directory)


def write_stamps(params: Params, directory: Path | None = None) -> dict[str, Path]:
    """One JSON file per stage instance with the values of the params keys it reads, rewritten only when they
    change: Snakemake takes it as an input, so a params change (by hand or by ``dvc exp run -S``) makes exactly
    the stages that read the key out of date. A stage's command rewrites its own stamp, dated at its start, when
    it ran with other values (fasrnet.record): then its outputs are current, whichever tool ran it."""
    out = {}
    for inst in instances(params):
        path = (directory / stamp_path(inst.name).name) if directory else stamp_path(inst.name)
        text = stamp_text(params, inst)
        if not path.exists():
            write_text(path, text)
            # A first stamp records the values, it does not announce a change: dated at the epoch, it never makes
            # outputs that exist already (e.g. made by `dvc repro`) look stale. A missing output still runs.
            os.utime(path, (0, 0))
        elif path.read_text() != text:
            write_text(path, text)
        out[inst.name] = path
    return out


def snakemake_stages(params: Params, jobs: Iterable[Any]) -> list[str]:
    """The registry instances behind Snakemake jobs (``job.rule.name``, ``job.wildcards``), in pipeline order;
    jobs of other rules (``all``) are skipped."""
    rules = {r.name: r for r in snakemake_rules(params)}
    wanted = set()
    for job in jobs:
        rule = rules.get(job.rule.name)
        if rule is not None:
            wanted.add(rule.instance_name(job.wildcards[rule.wildcard] if rule.wildcard else None))
    return [inst.name for inst in instances(params) if inst.name in wanted]


def dvc_commit(stages: list[str], root: str | Path = ".") -> list[str]:
    """``dvc commit -f`` of ``stages`` (DVC names) in one pass, without relinking: their deps, params and outputs
    as they are now go to ``dvc.lock`` and the outputs to DVC's cache; no workspace file is touched (a relinked
    copy would be newer than what Snakemake dated). Returns the names committed."""
    from dvc.repo import Repo

    wanted = set(stages)
    with Repo(str(root)) as repo, repo.lock:
        chosen = [stage for stage in repo.index.stages if stage.addressing in wanted]
        missing = wanted - {stage.addressing for stage in chosen}
        if missing:
            raise ValueError(f"dvc.yaml has no stage {', '.join(sorted(missing))}")
        by_file: dict[Any, list[Any]] = {}
        for stage in chosen:
            stage.save()
            stage.commit(relink=False)
            by_file.setdefault(stage.dvcfile, []).append(stage)
        for dvcfile, group in by_file.items():
            dvcfile.dump_stages(group, update_pipeline=False)
    return [stage.addressing for stage in chosen]


def without_changed_outputs(params: Params, stages: list[str], root: str | Path = ".") -> list[str]:
    """``stages`` less those with an output unit that changed since its stage wrote it (a truncated or edited shard,
    :func:`fasrnet.resume.changed_units`), each left out with one warning naming the command that rebuilds it.
    Snakemake dates a directory by its ``.snakemake_timestamp`` and cannot see such a change; recorded in
    ``dvc.lock``, it would vanish from ``dvc status`` too (docs/workflow.md, "Limits")."""
    from fasrnet.resume import changed_units

    stage_of = {inst.name: inst for inst in instances(params)}
    kept = []
    for name in stages:
        inst = stage_of.get(name)
        if inst is None:  # the code stage: its outputs are made from the package, nothing to verify
            kept.append(name)
            continue
        changed = [found for out in inst.outs for found in changed_units(Path(root) / out)]
        if not changed:
            kept.append(name)
            continue
        unit, problem = changed[0]
        print(f"warning: {name} not recorded in dvc.lock: {unit} changed since it was written ({problem}); "
              f"`{inst.cmd}` rebuilds it", file=sys.stderr)
    return kept


def after_snakemake(workflow: Any, root: str | Path = ".") -> None:
    """The workflow's ``onsuccess:``: the runtime table (fasrnet.tables.runtime), then the hand-over to DVC.
    Never fails the run (its outputs are in place): a problem is one warning line saying what to run instead."""
    from fasrnet.params import load_params
    from fasrnet.tables.runtime import after_snakemake as runtime_table

    runtime_table(workflow)
    if not (Path(root) / ".dvc").is_dir():
        return  # not a DVC project: nothing to hand over
    try:
        params = load_params(Path(root) / "params.yaml")
        problems = check_dvc_yaml(params, Path(root) / "dvc.yaml")
        if problems:
            raise RuntimeError("; ".join(problems))
        # the code stage too: Snakemake rewrote the digest files it makes when it read the workflow
        stages = [CODE_STAGE, *snakemake_stages(params, workflow.dag.jobs)]
        kept = without_changed_outputs(params, stages, root)
        dvc_commit(kept, root)
    except Exception as exc:  # noqa: BLE001 - DVC's errors are many; each is a warning here
        print(f"warning: dvc.lock not updated ({type(exc).__name__}: {exc}); `dvc commit -f` records this run",
              file=sys.stderr)
        return
    clean = " (dvc status is clean)" if len(kept) == len(stages) else ""
    print(f"dvc: recorded {len(kept)} stages in dvc.lock{clean}", file=sys.stderr)
