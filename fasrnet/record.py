"""What a stage's command leaves for the workflows besides its outputs: its benchmark file and its params stamp.

``fasrnet <stage> …`` knows it is a pipeline stage when it runs exactly a registry command (fasrnet.stages):
under DVC by ``$DVC_STAGE``, otherwise by its arguments (``--threads`` aside). It then records, after success,

- ``results/benchmarks/<rule>/<item>.tsv``: its wall time, peak RSS and CPU time (itself and its children), in
  Snakemake's benchmark format, whichever tool ran it (docs/runtime.md), and where it ran: the host, and the
  SLURM job id when a cluster ran it (empty otherwise);
- its params stamp ``.fasrnet/stamps/<stage>.json`` (the values of the params keys it reads), when that differs,
  dated at the command's start: the stamp is what Snakemake compares the outputs with, so a stage DVC ran with
  new params (``dvc exp run -S``) is not rerun by the next ``snakemake`` (docs/workflow.md);
- likewise its command's code digest file ``workflow/code/<subcommand>.json`` (fasrnet.codedeps), so a stage run
  by hand after a code edit is not rerun by the next ``snakemake`` either.

A command with ``--params`` or ``-S`` made its outputs with other params than ``params.yaml``'s and records
nothing. ``FASRNET_RECORD_IMPORTS=DIR`` also writes the ``fasrnet`` modules the command imported to
``DIR/<stage>.json`` (the test that a stage's code deps cover what it runs).
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from fasrnet.codedeps import write_digest
from fasrnet.io import write_json, write_text
from fasrnet.params import Params
from fasrnet.stages import Instance, instances, stamp_values

STAMP_DIR = Path(".fasrnet/stamps")
#: Columns of the benchmark file (Snakemake's names and two of ours; fasrnet.tables.runtime reads the first).
BENCHMARK_HEADER = ("s", "h:m:s", "max_rss", "cpu_time", "host", "slurm_job_id")
RECORD_IMPORTS_ENV = "FASRNET_RECORD_IMPORTS"


def stamp_path(stage: str) -> Path:
    return STAMP_DIR / f"{stage.replace('@', '.')}.json"


def stamp_text(params: Params, inst: Instance) -> str:
    return json.dumps(stamp_values(params, inst.params), sort_keys=True, indent=1) + "\n"


def _without_threads(argv: Sequence[str]) -> list[str]:
    out, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == "--threads":
            skip = True
        elif not word.startswith("--threads="):
            out.append(word)
    return out


def stage_of(params: Params, argv: Sequence[str]) -> Instance | None:
    """The registry instance whose command this is, or ``None`` (a command typed by hand with other arguments)."""
    table = {inst.name: inst for inst in instances(params)}
    dvc_stage = os.environ.get("DVC_STAGE")
    if dvc_stage:
        inst = table.get(dvc_stage)
        words = _without_threads(argv)
        # the same subcommand, so a fasrnet call inside some other DVC stage is not taken for this one
        return inst if inst is not None and words and inst.cmd.split()[1] == words[0] else None
    cmd = shlex.join(["fasrnet", *_without_threads(argv)])
    return next((inst for inst in table.values() if inst.cmd == cmd), None)


def _hms(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def benchmark_line(started: float) -> str:
    """Wall seconds since ``started``, peak RSS (MiB: the larger of this process and its largest child), CPU
    seconds (this process and its children), the host, and the SLURM job that ran it (empty when none did)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.time() - started
    rss_mib = max(me.ru_maxrss, kids.ru_maxrss) / 1024  # Linux: KiB
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    where = [socket.gethostname(), os.environ.get("SLURM_JOB_ID", "")]
    return "\t".join([f"{wall:.4f}", _hms(wall), f"{rss_mib:.2f}", f"{cpu:.2f}", *where])


def record_stage(params: Params, inst: Instance, started: float) -> None:
    """After ``inst``'s command succeeded: its benchmark file, and its stamp if the values changed."""
    write_text(inst.benchmark, "\t".join(BENCHMARK_HEADER) + "\n" + benchmark_line(started) + "\n")
    path, text = stamp_path(inst.name), stamp_text(params, inst)
    if not path.exists() or path.read_text() != text:
        write_text(path, text)
        os.utime(path, (started, started))  # older than the outputs just made: they are current for Snakemake
    write_digest(inst.command, dated=started)


def record_imports(name: str) -> None:
    """With ``FASRNET_RECORD_IMPORTS=DIR``: the ``fasrnet`` modules imported so far, to ``DIR/<name>.json``."""
    directory = os.environ.get(RECORD_IMPORTS_ENV)
    if directory:
        modules = sorted(m for m in sys.modules if m == "fasrnet" or m.startswith("fasrnet."))
        write_json(Path(directory) / f"{name.replace('@', '.')}.json", modules)
