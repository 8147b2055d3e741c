"""``fasrnet runtime``: where a run's time goes, from the stages' benchmark files (each stage's command writes its
own, fasrnet.record, under Snakemake and DVC alike), as
``results/runtime.md`` (per stage: jobs, total and largest job seconds, peak RSS, CPU seconds; the machine; the
wall time when Snakemake itself wrote it) and ``results/runtime.json`` (the same, plus every job). The Snakefile
calls :func:`after_snakemake` in ``onsuccess:``. What each figure means and what it misses: ``docs/runtime.md``.

Not to be confused with :mod:`fasrnet.runtime` (threads, seeds and devices of the torch stages).
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fasrnet import paths
from fasrnet.errors import FasrnetError
from fasrnet.host import machine
from fasrnet.io import write_json, write_text
from fasrnet.params import RUN_GROUPS
from fasrnet.stages import benchmark_path, templates
from fasrnet.tables.markdown import md_table

BENCHMARKS_DIR = paths.BENCHMARKS_DIR
RUNTIME_FILE = paths.RUNTIME_FILE
RUNTIME_JSON = paths.RUNTIME_JSON

#: Columns read from Snakemake's benchmark TSV (it writes s, h:m:s, max_rss, max_vms, max_uss, max_pss, io_in,
#: io_out, mean_load, cpu_time, and more with --benchmark-extended; the others are ignored).
REQUIRED_COLUMNS = ("s", "max_rss", "cpu_time")
#: What Snakemake writes for a value it has not measured.
NOT_MEASURED = frozenset({"NA", "-", ""})


@dataclass(frozen=True)
class Record:
    """One row of a benchmark file: one job (or one repetition of it). ``max_rss_mib``: Snakemake's ``max_rss``,
    whose "MB" are 2**20 bytes; it and ``cpu_s`` are ``None`` when Snakemake took no sample of the job."""

    file: str
    stage: str
    item: str | None
    s: float
    max_rss_mib: float | None
    cpu_s: float | None


@dataclass(frozen=True)
class StageCost:
    """The jobs of one stage (Snakemake rule) summed; ``unsampled`` counts jobs without memory and CPU figures."""

    stage: str
    jobs: int
    total_s: float
    max_s: float
    max_rss_mib: float | None
    cpu_s: float | None
    unsampled: int


# ----------------------------------------------------------------------------------------------------------
# Reading benchmark files


def _value(text: str, where: str, column: str) -> float | None:
    """A measured number, or ``None`` for Snakemake's ``NA``/``-``; anything else is an error naming ``where``."""
    text = text.strip()
    if text in NOT_MEASURED:
        return None
    try:
        value = float(text)
    except ValueError:
        raise FasrnetError(f"{where}: {column}: expected a number, NA or -, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise FasrnetError(f"{where}: {column}: expected a finite non-negative number, got {text!r}")
    return value


def _stage_item(path: Path, directory: Path) -> tuple[str, str | None]:
    """``<dir>/<rule>/<item>.tsv`` → (rule, item); ``<dir>/<rule>.tsv`` → (rule, None)."""
    parts = path.relative_to(directory).with_suffix("").parts
    return parts[0], ("/".join(parts[1:]) or None)


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FasrnetError(f"{path}: not a benchmark file (not UTF-8 text)") from None
    except OSError as exc:
        raise FasrnetError(f"{path}: cannot read: {exc.strerror or type(exc).__name__}") from None
    return [line for line in text.splitlines() if line.strip()]


def _record(fields: list[str], header: list[str], where: str, path: Path, directory: Path) -> Record:
    if len(fields) != len(header):
        raise FasrnetError(f"{where}: expected {len(header)} tab-separated values, got {len(fields)}")
    row = dict(zip(header, fields))
    s = _value(row["s"], where, "s")
    if s is None:
        raise FasrnetError(f"{where}: s: expected the job's seconds, got {row['s']!r}")
    rss, cpu = _value(row["max_rss"], where, "max_rss"), _value(row["cpu_time"], where, "cpu_time")
    if not rss:  # NA, or 0: the job ended before Snakemake's first sample, so its CPU time is unknown as well
        rss = cpu = None
    stage, item = _stage_item(path, directory)
    return Record(file=path.as_posix(), stage=stage, item=item, s=s, max_rss_mib=rss, cpu_s=cpu)


def read_benchmark(path: str | Path, directory: str | Path = BENCHMARKS_DIR) -> list[Record]:
    """The records of one Snakemake benchmark TSV under ``directory`` (one per job, or per repetition of a
    ``repeat()`` benchmark). A file that is not one is a :class:`FasrnetError` naming it (and the line)."""
    path, directory = Path(path), Path(directory)
    lines = _read_lines(path)
    if not lines:
        raise FasrnetError(f"{path}: empty; expected a header line and one line per job")
    header = [h.strip() for h in lines[0].split("\t")]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise FasrnetError(f"{path}: line 1: not a Snakemake benchmark header (no column {', '.join(missing)})")
    if len(lines) == 1:
        raise FasrnetError(f"{path}: no records after the header")
    return [_record(line.split("\t"), header, f"{path}: line {n}", path, directory)
            for n, line in enumerate(lines[1:], start=2)]


def benchmark_files(directory: str | Path = BENCHMARKS_DIR) -> list[Path]:
    """Every ``*.tsv`` under ``directory``, sorted (none when it does not exist)."""
    directory = Path(directory)
    return sorted(directory.rglob("*.tsv")) if directory.is_dir() else []


def collect(directory: str | Path = BENCHMARKS_DIR) -> list[Record]:
    """Every record of every benchmark file under ``directory``; none there is an error (no stage has run)."""
    files = benchmark_files(directory)
    if not files:
        raise FasrnetError(f"{Path(directory).as_posix()}: no benchmark files (*.tsv); every stage's command writes "
                           "its own when it ran under `snakemake` or `dvc repro` (docs/runtime.md)")
    return [record for path in files for record in read_benchmark(path, directory)]


# ----------------------------------------------------------------------------------------------------------
# Summing


def stage_order() -> list[str]:
    """Snakemake's rule names in pipeline order (the registry's templates; one rule serves every run group)."""
    names = [re.sub(rf"_({'|'.join(RUN_GROUPS)})$", "", t.name) for t in templates()]
    return list(dict.fromkeys(names))


def _known_max(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _known_sum(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _cost(stage: str, records: list[Record]) -> StageCost:
    return StageCost(stage=stage, jobs=len(records), total_s=_round(sum(r.s for r in records)),
                     max_s=max(r.s for r in records), max_rss_mib=_known_max([r.max_rss_mib for r in records]),
                     cpu_s=_round(_known_sum([r.cpu_s for r in records])),
                     unsampled=sum(r.max_rss_mib is None for r in records))


def summarize(records: list[Record]) -> list[StageCost]:
    """One :class:`StageCost` per stage with records: pipeline order, then unknown rules alphabetically."""
    order = stage_order()
    stages = sorted({r.stage for r in records}, key=lambda s: (s not in order, order.index(s) if s in order else 0, s))
    return [_cost(stage, [r for r in records if r.stage == stage]) for stage in stages]


def total(records: list[Record]) -> StageCost:
    """Every job together: job seconds and CPU seconds summed, the largest job and peak RSS over all."""
    return _cost("total", records)


# ----------------------------------------------------------------------------------------------------------
# The report


def _this_run(record: Record, ran: set[Path]) -> bool:
    return Path(record.file).resolve() in ran


def report(records: list[Record], host: dict[str, Any], wall_s: float | None = None,
           ran: set[Path] | None = None) -> dict[str, Any]:
    """The JSON document (``results/runtime.json``). ``wall_s``: the wall time of the Snakemake run writing it
    (``None`` when not known); ``ran``: the benchmark files (resolved) of that run's jobs (``None``: not known)."""
    def job(r: Record) -> dict[str, Any]:
        return {**asdict(r), **({"this_run": _this_run(r, ran)} if ran is not None else {})}

    return {
        "machine": host,
        "wall_s": None if wall_s is None else round(wall_s, 3),
        "jobs_this_run": None if ran is None else sum(_this_run(r, ran) for r in records),
        "stages": [asdict(c) for c in summarize(records)],
        "total": asdict(total(records)),
        "jobs": [job(r) for r in records],
    }


def _duration(seconds: float) -> str:
    """``13 min 32 s (812 s)``; ``3.7 s`` under a minute."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{hours} h {minutes} min {s} s" if hours else f"{minutes} min {s} s"
    return f"{text} ({seconds:.0f} s)"


def _num(value: float | None, decimals: int, unsampled: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:.{decimals}f}" + ("*" if unsampled else "")


def _row(c: dict[str, Any], grand_total: float, bold: bool = False) -> list[str]:
    share = f"{100 * c['total_s'] / grand_total:.0f}%" if grand_total > 0 else "–"
    cells = [c["stage"], str(c["jobs"]), f"{c['total_s']:.1f}", share, f"{c['max_s']:.1f}",
             _num(c["max_rss_mib"], 0, c["unsampled"]), _num(c["cpu_s"], 1, c["unsampled"])]
    return [f"**{cell}**" for cell in cells] if bold else cells


def _yes_no(flag: bool | None) -> str:
    return "unknown" if flag is None else ("yes" if flag else "no")


def _machine_line(host: dict[str, Any]) -> str:
    return (f"Machine: {host['cpu'] or 'unknown CPU'}, {host['usable_cpus']} of {host['cpus']} CPUs usable, "
            f"AVX2 {_yes_no(host['avx2'])}, AVX-512 {_yes_no(host['avx512'])} (the machine that wrote this "
            "table; under a cluster executor the jobs ran on other nodes).")


def _wall_line(doc: dict[str, Any]) -> str:
    if doc["wall_s"] is None:
        return ("Wall time: not recorded (this table was written by `fasrnet runtime`, not at the end of a "
                "Snakemake run).")
    return (f"Wall time: {_duration(doc['wall_s'])} for the Snakemake run that wrote this table, from its start "
            f"to its last job (Snakemake's own \"Elapsed time\"){_ran_clause(doc)}.")


def _ran_clause(doc: dict[str, Any]) -> str:
    ran, jobs = doc["jobs_this_run"], doc["total"]["jobs"]
    if ran is None:
        return ""
    if ran == jobs:
        return f"; that run made all {jobs} jobs below"
    return f"; that run made {ran} of the {jobs} jobs below, the others are from earlier runs"


CAPTION = (
    "*total s* sums the jobs' own seconds; it is not the run's wall time (jobs run side by side, and the workflow "
    "tool's own work between them is in no job). Each job's figures are its command's own, from the kernel at its "
    "end: seconds from the start of `fasrnet`'s main() (the interpreter's start-up before it is not counted), "
    "*max RSS* (MiB) the peak resident memory of the process or of its largest child, *CPU s* user and system "
    "time of the process and its children.")


def render(doc: dict[str, Any]) -> str:
    """``results/runtime.md`` from :func:`report`'s document."""
    grand = doc["total"]["total_s"]
    rows = [_row(c, grand) for c in doc["stages"]] + [_row(doc["total"], grand, bold=True)]
    lines = ["# Runtime", "",
             "Per-stage cost of the jobs whose benchmark files are in `results/benchmarks/`: each stage's command "
             "writes its own, under `snakemake` and `dvc repro` alike (docs/runtime.md).", "",
             _machine_line(doc["machine"]), "", _wall_line(doc), "",
             *md_table(["stage", "jobs", "total s", "share", "max s (one job)", "max RSS (MiB)", "CPU s"], rows,
                       ["---", *["---:"] * 6]),
             "", CAPTION]
    if doc["total"]["unsampled"]:
        lines.append(f"\\* {doc['total']['unsampled']} job(s) have no memory or CPU figures (a file of Snakemake's own "
                     "`benchmark:` that took no sample); the value covers the other jobs of the stage.")
    return "\n".join(lines) + "\n"


def write_runtime(benchmarks: str | Path = BENCHMARKS_DIR, out: str | Path = RUNTIME_FILE,
                  json_out: str | Path | None = RUNTIME_JSON, wall_s: float | None = None,
                  ran: set[Path] | None = None) -> list[Path]:
    """Read every benchmark file under ``benchmarks``; write the markdown table and the JSON (atomically);
    return the paths written. ``wall_s`` and ``ran`` as for :func:`report`."""
    doc = report(collect(benchmarks), machine(), wall_s=wall_s, ran=ran)
    write_text(out, render(doc))
    if json_out is None:
        return [Path(out)]
    write_json(json_out, doc, indent=1)
    return [Path(out), Path(json_out)]


# ----------------------------------------------------------------------------------------------------------
# Snakemake's onsuccess


def _elapsed(workflow: Any) -> float | None:
    """Seconds since Snakemake started (its ``Workflow.start_time``), or ``None`` where it has none."""
    start = getattr(workflow, "start_time", None)
    if not isinstance(start, datetime):
        return None
    return (datetime.now(start.tzinfo) - start).total_seconds()


def _ran(workflow: Any) -> set[Path] | None:
    """The benchmark files (resolved) of the jobs this run made, from Snakemake's DAG (every job it had to run;
    onsuccess means all of them ran): a registry rule's job (``train_main``, wildcard ``run``) writes
    :func:`fasrnet.stages.benchmark_path`. ``None`` when the DAG does not tell (Snakemake's internals differ)."""
    names = {t.name for t in templates()}
    try:
        jobs = list(workflow.dag.needrun_jobs(exclude_finished=False))
        return {Path(benchmark_path(job.rule.name, next(iter(dict(job.wildcards).values()), None))).resolve()
                for job in jobs if job.rule.name in names}
    except (AttributeError, TypeError):
        return None


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or type(exc).__name__}"
    return str(exc) or type(exc).__name__


def after_snakemake(workflow: Any, benchmarks: str | Path = BENCHMARKS_DIR, out: str | Path = RUNTIME_FILE,
                    json_out: str | Path | None = RUNTIME_JSON) -> list[Path]:
    """Snakemake's ``onsuccess``: write the runtime table with the run's wall time. Never fails the run (its
    outputs are in place): without benchmark files it writes nothing, and a bad file is one warning line."""
    benchmarks = Path(benchmarks)
    if not benchmark_files(benchmarks):
        return []
    try:
        written = write_runtime(benchmarks, out, json_out, wall_s=_elapsed(workflow), ran=_ran(workflow))
    except (FasrnetError, OSError) as exc:
        print(f"warning: runtime table not written: {_message(exc)}", file=sys.stderr)
        return []
    print("runtime: wrote " + ", ".join(p.as_posix() for p in written), file=sys.stderr)
    return written
