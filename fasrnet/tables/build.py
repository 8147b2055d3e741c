"""``results/tables.md``: the paper's Tables 1–10 with our measured rows beside the quoted ones.

Inputs (all relative to ``root``, the repository root when run by the workflow):

- ``results/metrics/<run>.json`` (``fasrnet evaluate --out``) for every run of ``params.runs``, and
  ``results/metrics/backbone_<dataset>.json`` for the frozen backbone alone on each main dataset;
- ``results/metrics/complexity.json`` (``fasrnet complexity``) for Table 5;
- ``models/<run>/run.json`` (optional: the setting of a measured row — backbone, input size, device, epochs;
  without it the setting is taken from ``params``);
- ``fasrnet/tables/literature.yaml`` (package data): every number quoted from the paper, with citations.

Conventions:

- our ``mAP`` is poseval's ``Total`` (mean of the 15 joints); the seven joint columns are poseval's;
- Tables 1–4 print one decimal, Tables 6–10 four, like the paper; ``Δ`` = measured − paper;
- "full FaSRnet" in Tables 6–8 is the main run of the ablation dataset when its resolved setting (variant
  ``fasrnet``, α, seed) equals the ablation runs'; otherwise the first run with exactly that setting
  (``alpha_04`` or ``seed_0`` by default) and the table says which;
- Table 10's variance is the **population** variance (ddof = 0) of the seed runs' mAP in % (the paper's
  0.000254571 is evidently in %²: a std of 0.016 points fits its max − mean of 0.024); the sample variance
  (ddof = 1) is printed beside it;
- a missing metrics file gives the row "not run (missing …)"; :func:`missing_inputs` lists every missing
  input and ``fasrnet tables --strict`` fails on any (the workflow uses ``--strict``: it produces them all).

The output is deterministic: no timestamps, every order fixed by ``params.runs`` and the literature file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import statistics
from dataclasses import asdict, dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from fasrnet import paths
from fasrnet.errors import FasrnetError
from fasrnet.evaluate.episodes import SUBSETS
from fasrnet.params import Params
from fasrnet.runs import resolve_run

#: Table columns as the paper labels them, and the metrics-JSON keys they come from (``columns``).
COLUMNS: tuple[str, ...] = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "mAP")
METRIC_KEYS: tuple[str, ...] = ("Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl", "Total")
#: How many of poseval's 15 joints each of the seven columns averages (Head: head top, neck, nose).
JOINTS_PER_COLUMN: tuple[int, ...] = (3, 2, 2, 2, 2, 2, 2)
#: Which paper dataset (Tables 1/2: "17", Tables 3/4: "18") a dataset of ours stands in for or is.
FAMILY: dict[str, str] = {"syn17": "17", "posetrack17": "17", "syn18": "18", "posetrack18": "18"}
PAPER_DATASET: dict[str, str] = {"17": "PoseTrack2017", "18": "PoseTrack2018"}
COMPLEXITY_FILE = paths.METRICS / "complexity.json"
# Beside, not inside, results/metrics/: the tables stage depends on the metrics files it summarises.
SUMMARY_FILE = paths.SUMMARY_FILE
TABLES_FILE = paths.TABLES_FILE
#: The ablation tables: which variants each shows (besides full FaSRnet), in the literature file's row order.
ABLATION_TABLES = ("table6", "table7", "table8")
#: Largest |printed mAP − 15-joint mean of the printed columns| explained by rounding, per printed decimals.
ROUNDING_TOLERANCE = {1: 0.15, 4: 0.001}


# ----------------------------------------------------------------------------------------------------------
# Inputs


def load_literature() -> dict[str, Any]:
    """The literature data file shipped with the package (``fasrnet/tables/literature.yaml``)."""
    text = resources.files("fasrnet.tables").joinpath("literature.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def head_label(model: Any) -> str:
    """What head the runs train: the paper's, or the CPU-sized one of the embedded default (docs/synthetic.md)."""
    changes = []
    if model.srm_width != 64:
        changes.append(f"SRM width {model.srm_width} instead of the paper's 64")
    if model.residual:
        changes.append("residual refinement: H^r = H_t + conv(F^final), H^final = H^r + SRM")
    if not changes:
        return "the paper's FaSRnet head"
    return f"a **CPU-sized FaSRnet head** ({'; '.join(changes)})"


@dataclass(frozen=True)
class Resolved:
    """A ``params.runs`` entry with the main setting filled in (:func:`fasrnet.runs.resolve_run`) and its group."""

    name: str
    dataset: str
    group: str
    variant: str
    alpha: float
    seed: int


def resolve(params: Params, name: str) -> Resolved:
    return Resolved(**asdict(resolve_run(params, name)), group=params.runs[name].group)


def runs_of(params: Params, group: str) -> list[Resolved]:
    return [resolve(params, name) for name, r in params.runs.items() if r.group == group]


def main_runs(params: Params) -> list[Resolved]:
    """Main runs on a dataset that maps to a paper table (Tables 1–4)."""
    return [r for r in runs_of(params, "main") if r.dataset in FAMILY]


def expected_inputs(params: Params) -> list[Path]:
    """Every file the tables read (relative paths), in a fixed order: run metrics, backbone metrics, Table 5."""
    files = [paths.metrics_file(name) for name in params.runs]
    for ds in dict.fromkeys(r.dataset for r in main_runs(params)):
        files.append(paths.metrics_file(paths.backbone_run_name(ds)))
    files.append(COMPLEXITY_FILE)
    return files


def missing_inputs(params: Params, root: str | Path = ".") -> list[Path]:
    """The inputs of :func:`expected_inputs` that do not exist under ``root``."""
    return [f for f in expected_inputs(params) if not (Path(root) / f).is_file()]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FasrnetError(f"{path}: cannot read JSON ({exc})") from None


@dataclass
class Measured:
    """One measured row: a run (or the backbone alone) and its eight numbers, or None when not run."""

    name: str
    metrics_path: Path  # relative, as printed
    values: tuple[float | None, ...] | None
    setting: str
    exists: bool = False  # the metrics file exists (values may still lack a Total: no GT joints at all)

    @property
    def mAP(self) -> float | None:
        return None if self.values is None else self.values[-1]

    def missing_text(self) -> str:
        if self.exists:
            return f"no mAP (Total is null in {self.metrics_path.as_posix()})"
        return f"not run (missing {self.metrics_path.as_posix()})"


class Inputs:
    """Reads (and caches) the measured inputs under ``root``."""

    def __init__(self, params: Params, root: str | Path = "."):
        self.params = params
        self.root = Path(root)
        self._json: dict[str, Any] = {}

    def _metrics_json(self, name: str) -> tuple[Path, Any]:
        """``results/metrics/<name>.json`` (relative, as printed) and its parsed content (None: no file), read
        once per name."""
        rel = paths.metrics_file(name)
        if name not in self._json:
            path = self.root / rel
            self._json[name] = _read_json(path) if path.is_file() else None
        return rel, self._json[name]

    def _metrics(self, name: str) -> tuple[Path, tuple[float | None, ...] | None]:
        rel, obj = self._metrics_json(name)
        if obj is None:
            return rel, None
        cols = obj.get("columns") if isinstance(obj, dict) else None
        if not isinstance(cols, dict) or any(k not in cols for k in METRIC_KEYS):
            raise FasrnetError(f"{rel}: expected a metrics JSON with columns {', '.join(METRIC_KEYS)} "
                               "(written by `fasrnet evaluate --out`)")
        values = []
        for k in METRIC_KEYS:
            v = cols[k]
            if v is not None and not isinstance(v, (int, float)):
                raise FasrnetError(f"{rel}: columns.{k} is {v!r}, expected a number or null")
            values.append(None if v is None or math.isnan(v) else float(v))
        return rel, tuple(values)

    def run_info(self, name: str) -> dict[str, Any] | None:
        path = self.root / paths.run_dir(name) / "run.json"
        return _read_json(path) if path.is_file() else None

    def train_log(self, name: str) -> list[dict[str, float | None]]:
        """``models/<run>/train_log.csv`` rows (empty cells → None); [] when absent."""
        path = self.root / paths.run_dir(name) / "train_log.csv"
        if not path.is_file():
            return []
        rows = []
        for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))):
            rows.append({k: (float(v) if v not in ("", None) else None) for k, v in row.items() if k})
        return rows

    def _input_size(self, info: dict[str, Any] | None) -> str:
        size = (info or {}).get("input_size") or list(self.params.heatmap.input_size)
        return f"{size[0]}×{size[1]}"

    def run(self, name: str) -> Measured:
        rel, values = self._metrics(name)
        r = resolve(self.params, name)
        info = self.run_info(name)
        if info is not None:
            parts = [f"{r.dataset} val", str(info.get("backbone", "?")), self._input_size(info),
                     str(info.get("device", "?"))]
            if info.get("epochs") is not None:
                parts.append(_epochs(info["epochs"]))
        else:
            parts = [f"{r.dataset} val", f"HRNet-W{self.params.model.backbone_width}", self._input_size(None),
                     f"device n/a (no {(paths.run_dir(name) / 'run.json').as_posix()})"]
        return Measured(name, rel, values, " · ".join(parts), (self.root / rel).is_file())

    def backbone(self, dataset: str) -> Measured:
        name = paths.backbone_run_name(dataset)
        rel, values = self._metrics(name)
        setting = " · ".join([f"{dataset} val", f"HRNet-W{self.params.model.backbone_width}",
                              self._input_size(None), "frozen backbone, single frame, no refinement"])
        return Measured(name, rel, values, setting, (self.root / rel).is_file())

    def subsets(self, name: str) -> dict[str, tuple[float | None, int]] | None:
        """``{"degraded" | "clean": (mAP, evaluated frames)}`` from a metrics file's ``subsets`` entry (written by
        ``fasrnet evaluate`` for synthetic sets), or None."""
        rel, obj = self._metrics_json(name)
        sub = obj.get("subsets") if isinstance(obj, dict) else None
        if not isinstance(sub, dict):
            return None
        out = {}
        for key in SUBSETS:
            entry = sub.get(key)
            total = (entry or {}).get("columns", {}).get("Total") if isinstance(entry, dict) else None
            if total is not None and not isinstance(total, (int, float)):
                raise FasrnetError(f"{rel}: subsets.{key}.columns.Total is {total!r}, expected a number or null")
            frames = entry.get("n_eval_frames", 0) if isinstance(entry, dict) else 0
            out[key] = (None if total is None or math.isnan(total) else float(total), int(frames))
        return out

    @cached_property
    def complexity(self) -> dict[str, Any] | None:
        path = self.root / COMPLEXITY_FILE
        return _read_json(path) if path.is_file() else None


# ----------------------------------------------------------------------------------------------------------
# Formatting


def fmt(v: float | None, decimals: int) -> str:
    return "–" if v is None else f"{v:.{decimals}f}"


def fmt_diff(v: float | None, ref: float | None, decimals: int) -> str:
    if v is None or ref is None:
        return "–"
    d = round(v - ref, decimals)
    return f"{d + 0.0:+.{decimals}f}"  # + 0.0: no "-0.0"


def md_table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> list[str]:
    align = align or ["---"] * len(header)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return out


def implied_map(values: list[float | None]) -> float | None:
    """The 15-joint mean implied by the seven printed columns (None when a column is missing)."""
    cols = values[:7]
    if any(v is None for v in cols):
        return None
    return sum(n * v for n, v in zip(JOINTS_PER_COLUMN, cols)) / sum(JOINTS_PER_COLUMN)  # type: ignore[misc]


class Literature:
    """The literature file, with citation helpers."""

    def __init__(self, data: dict[str, Any]):
        self.data = data
        self.refs: dict[str, dict[str, Any]] = data["references"]
        self.tables: dict[str, dict[str, Any]] = data["tables"]
        self.cited: list[str] = []  # reference keys in order of first use

    def short(self, key: str) -> str:
        """``Girdhar et al. (2018), IEEE/CVF Conf on …`` — the paper's author-year plus the venue."""
        ref = self.refs[key]
        if key not in self.cited:
            self.cited.append(key)
        authors = [a.strip() for a in ref["cite"].split(",")]
        surname = authors[0].split()[0]
        if len(authors) >= 3 or "et al." in ref["cite"]:
            who = f"{surname} et al."
        elif len(authors) == 2:
            who = f"{surname} and {authors[1].split()[0]}"
        else:
            who = surname
        venue = re.split(r", (?:p\.|\d)", ref["venue"])[0]
        return f"{who} ({ref['year']}), *{venue}*"

    def this_paper(self) -> str:
        """``this paper (Zhong et al., 2024)`` — the paper's own rows."""
        key = self.data["paper"]["key"]
        if key not in self.cited:
            self.cited.append(key)
        return f"this paper ({self.refs[key]['cite'].split()[0]} et al., {self.refs[key]['year']})"

    def full(self, key: str) -> str:
        ref = self.refs[key]
        doi = f" https://doi.org/{ref['doi']}" if ref.get("doi") else ""
        note = f" ({ref['note']})" if ref.get("note") else ""
        return f"{ref['cite']}, {ref['year']}. {ref['title']}. *{ref['venue']}*{note}.{doi}"

    def own_row(self, table: str) -> dict[str, Any] | None:
        return next((r for r in self.tables[table].get("rows", []) if r.get("own")), None)

    def compare_row(self, table: str) -> dict[str, Any] | None:
        return next((r for r in self.tables[table].get("rows", []) if r.get("compare")), None)


# ----------------------------------------------------------------------------------------------------------
# The document


@dataclass
class Ordering:
    table: str
    better: str
    worse: str
    paper: tuple[float, float]
    measured: tuple[float | None, float | None]

    @property
    def margin(self) -> float | None:
        a, b = self.measured
        return None if a is None or b is None else a - b

    @property
    def holds(self) -> bool | None:
        m = self.margin
        return None if m is None else m > 0


class Builder:
    def __init__(self, params: Params, root: str | Path = ".", figures_dir: str | Path | None = None,
                 out: str | Path = TABLES_FILE):
        self.params = params
        self.inputs = Inputs(params, root)
        self.lit = Literature(load_literature())
        self.figures_dir = None if figures_dir is None else Path(figures_dir)
        self.out = Path(out)
        self.notes: list[tuple[int, str]] = []  # footnotes of the current table
        self.n_notes = 0
        self.orderings: list[Ordering] = []
        self.alpha_check: tuple[float, float, int | None, int] | None = None

    # -- shared pieces ------------------------------------------------------------------------------------

    def _note(self, text: str) -> str:
        """Queue a footnote (numbered across the whole document, as GitHub needs) and return its marker."""
        self.n_notes += 1
        self.notes.append((self.n_notes, text))
        return f" [^{self.n_notes}]"

    def _lit_cells(self, row: dict[str, Any], decimals: int) -> list[str]:
        """A quoted row's cells: bold as printed; a footnote where the literature file notes a cell, or where
        the printed mAP differs from the 15-joint mean of the printed columns by more than rounding."""
        bold = set(row.get("bold", []))
        notes = dict(row.get("notes", {}))
        imp, printed = implied_map(row["values"]), row["values"][-1]
        if (not notes and imp is not None and printed is not None
                and abs(imp - printed) > ROUNDING_TOLERANCE.get(decimals, 0.15)):
            notes["mAP"] = (f"the 15-joint mean of the printed columns is {imp:.{decimals}f}, not the printed "
                            f"{printed:.{decimals}f}.")
        cells = []
        for col, v in zip(COLUMNS, row["values"]):
            text = fmt(v, decimals)
            if col in bold:
                text = f"**{text}**"
            if col in notes:
                text += self._note(f"{row['method']}, {col}: {notes[col]}")
            cells.append(text)
        return cells

    def _flush_notes(self, lines: list[str]) -> None:
        if self.notes:
            lines.append("")
            lines += [f"[^{i}]: {n}" for i, n in self.notes]
        self.notes = []

    def _measured_cells(self, m: Measured, decimals: int) -> list[str]:
        assert m.values is not None
        return [fmt(v, decimals) for v in m.values]

    def _diff_cells(self, m: Measured, ref: list[float | None], decimals: int) -> list[str]:
        assert m.values is not None
        return [fmt_diff(v, r, decimals) for v, r in zip(m.values, ref)]

    @cached_property
    def seed_std(self) -> float | None:
        vals = [m.mAP for m in self.seed_results if m.mAP is not None]
        return statistics.stdev(vals) if len(vals) >= 2 else None

    @cached_property
    def seed_results(self) -> list[Measured]:
        return [self.inputs.run(r.name) for r in runs_of(self.params, "seed")]

    # -- header -------------------------------------------------------------------------------------------

    def header(self) -> list[str]:
        p = self.params
        datasets = list(p.data.datasets)
        synthetic = [d for d in datasets if d.startswith("syn")]
        real = [d for d in datasets if d.startswith("posetrack")]
        if synthetic and not real:
            setting = "**embedded synthetic default**"
        elif real and not synthetic:
            setting = "**paper setting** (real PoseTrack data)"
        else:
            setting = "**mixed setting** (synthetic and real PoseTrack data)"
        h, w = p.heatmap.input_size
        if p.backbone.source == "pretrain":
            backbone = ("HRNet pretrained by the pipeline on single frames of a synthetic set of its own (never the "
                        "heads' train videos), then frozen")
        else:
            backbone = f"the downloaded checkpoint {p.backbone.checkpoint}, frozen"
        stand_in = []
        for ds in datasets:
            fam = FAMILY.get(ds)
            if fam is None:
                continue
            tables = "Tables 1, 2, 6–10" if fam == "17" else "Tables 3, 4"
            role = "stands in for" if ds.startswith("syn") else "is"
            stand_in.append(f"`{ds}` {role} {PAPER_DATASET[fam]} ({tables})")
        lines = [
            "# FaSRnet — paper Tables 1–10 with our measured rows",
            "",
            "Written by `fasrnet tables` from `params.yaml`, `results/metrics/*.json`, `models/<run>/run.json` and "
            "the literature file `fasrnet/tables/literature.yaml`; do not edit by hand.",
            "",
            f"Setting: {setting} — data.datasets: {', '.join(datasets)}; {'; '.join(stand_in)}. Backbone: "
            f"HRNet-W{p.model.backbone_width} ({backbone}); input crops {h}×{w}; {head_label(p.model)}, trained "
            f"{_epochs(p.train.epochs)}; α = {p.loss.alpha} for the main runs.",
            "",
        ]
        if synthetic:
            lines.append("Synthetic numbers are **not comparable to PoseTrack numbers in absolute value** (other "
                         "images, a much smaller backbone and input, a few training epochs): only orderings — "
                         "FaSRnet against the backbone alone, the ablation variants against each other, the α "
                         "curve — are evidence, and the section *Orderings* checks them.")
        else:
            lines.append("Measured rows on PoseTrack are comparable to the paper's up to the setting printed in "
                         "each row (backbone, input size, epochs); the section *Orderings* checks the paper's "
                         "orderings.")
        lines += [
            "",
            "Rows marked **measured** are ours, with the data and setting they come from; every other number is "
            "quoted from the paper exactly as printed (bold as in the paper), with its citation (full references "
            "at the end). Δ = measured − paper. mAP is poseval's Total (mean AP of the 15 joints).",
        ]
        return lines

    # -- Tables 1-4 ---------------------------------------------------------------------------------------

    def _lit_rows_1to4(self, table: str) -> list[list[str]]:
        rows = []
        for row in self.lit.tables[table]["rows"]:
            src = "quoted · " + (self.lit.this_paper() if row.get("own") else self.lit.short(row["ref"]))
            if row.get("ref_note"):
                src += f" ({row['ref_note']})"
            rows.append([row["method"], str(row["year"]), *self._lit_cells(row, 1), src])
        return rows

    def table_val(self, table: str, number: int) -> list[str]:
        tab = self.lit.tables[table]
        fam = tab["family"]
        lines = ["", f"## Table {number}. {tab['title']}", ""]
        rows = self._lit_rows_1to4(table)
        own, comp = self.lit.own_row(table), self.lit.compare_row(table)
        runs = [r for r in main_runs(self.params) if FAMILY[r.dataset] == fam]
        if not runs:
            rows.append(["**FaSRnet — measured**", "", *[""] * 8,
                         f"no main run on a {PAPER_DATASET[fam]}-like dataset in params.yaml `runs`"])
        for r in runs:
            m = self.inputs.run(r.name)
            label = f"**FaSRnet — measured** (run `{r.name}`)"
            if m.values is None:
                rows.append([label, "", *["–"] * 8, m.missing_text()])
            else:
                rows.append([label, "", *self._measured_cells(m, 1), f"measured · {m.setting}"])
                if own:
                    rows.append([f"Δ measured − paper's {own['method']} {own['year']}", "",
                                 *self._diff_cells(m, own["values"], 1), ""])
            b = self.inputs.backbone(r.dataset)
            blabel = (f"**HRNet-W{self.params.model.backbone_width} backbone alone (frozen, single frame) — "
                      f"measured** (`{b.name}`)")
            if b.values is None:
                rows.append([blabel, "", *["–"] * 8, b.missing_text()])
            else:
                rows.append([blabel, "", *self._measured_cells(b, 1), f"measured · {b.setting}"])
                if comp:
                    rows.append([f"Δ measured − paper's {comp['method']} {comp['year']}", "",
                                 *self._diff_cells(b, comp["values"], 1), ""])
            if own and comp:
                self.orderings.append(Ordering(
                    f"Table {number}", f"FaSRnet (`{r.name}`)", f"backbone alone (`{b.name}`)",
                    (own["values"][-1], comp["values"][-1]), (m.mAP, b.mAP)))
        lines += md_table(["Method", "Year", *COLUMNS, "Source"], rows,
                          ["---", "---", *["---:"] * 8, "---"])
        for note in tab.get("notes", []):
            lines += ["", f"Note: {note}"]
        if own and comp:
            lines += ["", f"The backbone-alone row is the analogue of the paper's {comp['method']} row: the same "
                          "frozen backbone FaSRnet refines, scored on its own single-frame heatmaps."]
        self._flush_notes(lines)
        return lines

    def table_test(self, table: str, number: int) -> list[str]:
        tab = self.lit.tables[table]
        fam = tab["family"]
        lines = ["", f"## Table {number}. {tab['title']}", ""]
        rows = self._lit_rows_1to4(table)
        runs = [r for r in main_runs(self.params) if FAMILY[r.dataset] == fam]
        for r in runs:
            where = paths.predictions_dir(r.name, "test").as_posix()
            rows.append([f"**FaSRnet — measured** (run `{r.name}`)", "", *["–"] * 8,
                         f"not scorable: predictions in {where}"])
        if not runs:
            rows.append(["**FaSRnet — measured**", "", *["–"] * 8,
                         f"no main run on a {PAPER_DATASET[fam]}-like dataset in params.yaml `runs`"])
        lines += md_table(["Method", "Year", *COLUMNS, "Source"], rows, ["---", "---", *["---:"] * 8, "---"])
        synthetic = any(r.dataset.startswith("syn") for r in runs)
        lines += ["", "PoseTrack's test-set ground truth was never released and its evaluation server is offline, "
                      "so no test-set number of ours can be computed; the predictions are written for a future "
                      "server" + (" (the synthetic test split likewise ships frames without persons)." if synthetic
                                   else ".")]
        self._flush_notes(lines)
        return lines

    # -- Table 5 ------------------------------------------------------------------------------------------

    def table5(self) -> list[str]:
        tab = self.lit.tables["table5"]
        lines = ["", f"## Table 5. {tab['title']}", ""]
        rows = []
        paper = {}
        for row in tab["rows"]:
            if row.get("compare"):
                paper[row["compare"]] = row
            src = "quoted · " + (self.lit.this_paper() if row.get("own") else self.lit.short(row["ref"]))
            rows.append([row["method"], row["input"], row["params_printed"].replace("^7", "⁷"),
                         f"{row['gflops']:.2f}", "–", src])
        c = self.inputs.complexity
        if c is None:
            rows.append(["**HRNet / FaSRnet — measured**", "", "–", "–", "–",
                         f"not run (missing {COMPLEXITY_FILE.as_posix()})"])
        else:
            measured = c["measured"]
            st = measured["setting"]
            h, w = st["input_size"]
            ours = c["table5"]["ours"]
            src = f"measured · `fasrnet complexity` ({COMPLEXITY_FILE.as_posix()}), random weights, batch 1"
            for key, label, frames in (("hrnet", f"HRNet-W{st['backbone_width']}", 1),
                                       ("fasrnet", f"FaSRnet (HRNet-W{st['backbone_width']} ×3 + head)", 3)):
                o = ours[key]
                params_text = f"{o['params']:,}"
                if "params_thop_style" in o:
                    params_text += f" (thop-style, DCN weights not counted: {o['params_thop_style']:,})"
                rows.append([f"**{label} — measured**", f"{3 * frames}×{h}×{w}", params_text,
                             f"{o['thop_style_gmacs']:.2f}", f"{o['gflops']:.2f}", src])
                ref = paper.get(key)
                if ref is not None:
                    dp = o["params"] - ref["params"]
                    dtext = f"{dp:+,.0f} ({100 * dp / ref['params']:+.2f} %)"
                    if "params_thop_style" in o:
                        dt = o["params_thop_style"] - ref["params"]
                        dtext += f"; thop-style {dt:+,.0f} ({100 * dt / ref['params']:+.2f} %)"
                    rows.append([f"Δ measured − paper's {ref['method']}", "", dtext,
                                 fmt_diff(o["thop_style_gmacs"], ref["gflops"], 2), "", ""])
            conf = c.get("configured")
            if conf is not None:
                cs = conf["setting"]
                ch, cw = cs["input_size"]
                for key, label, frames in (("hrnet", f"HRNet-W{cs['backbone_width']}", 1),
                                           ("fasrnet", f"FaSRnet (HRNet-W{cs['backbone_width']} ×3 + "
                                                       f"{cs['variant']} head)", 3)):
                    o = conf[key]
                    rows.append([f"{label} as configured in params.yaml — measured", f"{3 * frames}×{ch}×{cw}",
                                 f"{o['params']:,}", f"{o['thop_style_gmacs']:.2f}", f"{o['gflops']:.2f}",
                                 "measured · the model the runs train (no paper value)"])
        lines += md_table(["Method", "Input size", "Parameter number", "GFLOPs (paper's count: thop MACs)",
                           "GFLOPs (2 × MAC)", "Source"], rows, ["---", "---", "---:", "---:", "---:", "---"])
        lines += ["", f"{tab['note']} Two conventions are printed for ours: thop-style MACs (convolutions without "
                      "bias, BatchNorm 4 ops per element, deformable convs and their own weights not counted — "
                      "the paper's column) and FLOPs = 2 × multiply-accumulate (torch's flop counter, deformable "
                      "convs counted as plain convs of the same shape). Δ compares the thop-style column."]
        return lines

    # -- Tables 6-8 ---------------------------------------------------------------------------------------

    @cached_property
    def ablation_reference(self) -> Resolved | None:
        """The resolved setting the ablation runs share (dataset, α, seed), from the first ablation run."""
        abl = runs_of(self.params, "ablation")
        return abl[0] if abl else None

    @cached_property
    def full_run(self) -> tuple[str | None, str]:
        """The run standing for full FaSRnet in Tables 6–8, and a sentence saying which and why."""
        ref = self.ablation_reference
        if ref is None:
            return None, "no ablation runs in params.yaml `runs`"
        order = ["main", "ablation", "alpha", "seed"]
        cands = sorted((resolve(self.params, n) for n in self.params.runs),
                       key=lambda r: order.index(r.group))
        for r in cands:
            if (r.variant == "fasrnet" and r.dataset == ref.dataset and math.isclose(r.alpha, ref.alpha)
                    and r.seed == ref.seed):
                why = ("the main run of the ablation dataset" if r.group == "main" else
                       f"the first run with the ablation runs' setting (the main run of {ref.dataset} differs "
                       "in variant, α or seed)")
                return r.name, (f"Full FaSRnet (measured) = run `{r.name}`, {why}: {r.dataset}, variant fasrnet, "
                                f"α = {r.alpha}, seed {r.seed}.")
        main = [r for r in runs_of(self.params, "main") if r.dataset == ref.dataset]
        if main:
            r = main[0]
            return r.name, (f"Full FaSRnet (measured) = run `{r.name}` (variant {r.variant}, α = {r.alpha}, seed "
                            f"{r.seed}); no run has exactly the ablation runs' setting (α = {ref.alpha}, seed "
                            f"{ref.seed}), so this comparison is not like for like.")
        return None, f"no fasrnet run on {ref.dataset} to stand for full FaSRnet"

    def _variant_run(self, variant: str) -> str | None:
        if variant == "fasrnet":
            return self.full_run[0]
        ref = self.ablation_reference
        for r in runs_of(self.params, "ablation"):
            if r.variant == variant and ref is not None and r.dataset == ref.dataset:
                return r.name
        return None

    def table_ablation(self, table: str, number: int) -> list[str]:
        from fasrnet.models.fasrnet import VARIANTS  # the variant definitions (imports torch: ~3 s)

        tab = self.lit.tables[table]
        d = tab["decimals"]
        lines = ["", f"## Table {number}. {tab['title']}", ""]
        rows = []
        measured: dict[str, Measured | None] = {}
        for row in tab["rows"]:
            rows.append([row["method"], *self._lit_cells(row, d), "quoted · " + self.lit.this_paper()])
            name = self._variant_run(row["variant"])
            if name is None:
                rows.append([f"↳ **measured** ({row['variant']})", *["–"] * 8,
                             f"no {row['variant']} run in params.yaml `runs`"])
                measured[row["variant"]] = None
                continue
            m = self.inputs.run(name)
            measured[row["variant"]] = m
            if m.values is None:
                rows.append([f"↳ **measured** (run `{name}`)", *["–"] * 8, m.missing_text()])
                continue
            rows.append([f"↳ **measured** (run `{name}`)", *self._measured_cells(m, d), f"measured · {m.setting}"])
            rows.append(["↳ Δ measured − paper", *self._diff_cells(m, row["values"], d), ""])
        lines += md_table(["Method", *COLUMNS, "Source"], rows, ["---", *["---:"] * 8, "---"])
        lines += ["", tab["legend"], "", self.full_run[1], ""]
        for row in tab["rows"]:
            spec = VARIANTS.get(row["variant"])
            if spec is not None:
                lines.append(f"- `{row['variant']}` ({row['method']}): {spec.removes}.")
        # the paper's ordering by mAP, every pair
        ranked = sorted(tab["rows"], key=lambda r: -r["values"][-1])
        for i, a in enumerate(ranked):
            for b in ranked[i + 1:]:
                ma, mb = measured.get(a["variant"]), measured.get(b["variant"])
                self.orderings.append(Ordering(
                    f"Table {number}", a["method"], b["method"], (a["values"][-1], b["values"][-1]),
                    (None if ma is None else ma.mAP, None if mb is None else mb.mAP)))
        self._flush_notes(lines)
        return lines

    # -- Table 9 ------------------------------------------------------------------------------------------

    def alpha_results(self) -> list[tuple[float, Measured]]:
        return sorted(((r.alpha, self.inputs.run(r.name)) for r in runs_of(self.params, "alpha")),
                      key=lambda t: t[0])

    def table9(self) -> list[str]:
        tab = self.lit.tables["table9"]
        d = tab["decimals"]
        paper = {round(float(a), 4): float(v) for a, v in tab["values"].items()}
        ours = self.alpha_results()
        lines = ["", f"## Table 9. {tab['title']}", ""]
        present = [(a, m) for a, m in ours if m.mAP is not None]
        best_ours = max(present, key=lambda t: t[1].mAP)[0] if present else None  # type: ignore[arg-type,return-value]
        best_paper = max(paper, key=lambda a: paper[a])
        alphas = sorted(set(paper) | {round(a, 4) for a, _ in ours})
        by_alpha = {round(a, 4): m for a, m in ours}
        setting = present[0][1].setting if present else ""
        rows = []
        for a in alphas:
            p = paper.get(a)
            ptext = fmt(p, d)
            if p is not None and a == best_paper:
                ptext = f"**{ptext}**"
            m = by_alpha.get(a)
            if m is None:
                rows.append([f"{a:g}", ptext, "no run in params.yaml `runs`", "–", ""])
            elif m.mAP is None:
                rows.append([f"{a:g}", ptext, m.missing_text(), "–", f"`{m.name}`"])
            else:
                mtext = fmt(m.mAP, d)
                if best_ours is not None and math.isclose(a, best_ours):
                    mtext = f"**{mtext}**"
                rows.append([f"{a:g}", ptext, mtext, fmt_diff(m.mAP, p, d), f"`{m.name}`"])
        lines += md_table(["α", f"Paper: {tab['column']} (PoseTrack2017 val, quoted)",
                           f"**Measured** mAP ({setting or 'not run'})", "Δ", "Run"], rows,
                          ["---:", "---:", "---:", "---:", "---"])
        lines += ["", "Quoted column: " + self.lit.this_paper() + ". "
                  "Bold: the best value of each column. The paper reports the best mean AP over its training "
                  "epochs; ours is the mAP of the final checkpoint (`results/metrics/<run>.json`)."]
        if best_ours is not None:
            at_best = by_alpha.get(round(best_paper, 4))
            rank = None
            if at_best is not None and at_best.mAP is not None:
                rank = 1 + sum(1 for _, m in present if m.mAP > at_best.mAP)  # type: ignore[operator]
            self.alpha_check = (best_paper, best_ours, rank, len(present))
        return lines

    # -- Table 10 -----------------------------------------------------------------------------------------

    def table10(self) -> list[str]:
        tab = self.lit.tables["table10"]
        lines = ["", f"## Table 10. {tab['title']}", ""]
        seeds = self.seed_results
        vals = [m.mAP for m in seeds if m.mAP is not None]
        missing = [m for m in seeds if m.mAP is None]
        setting = next((m.setting for m in seeds if m.mAP is not None), "not run")
        s = seed_stats(vals)
        na = "–"
        rows = [
            ["Number of training times", str(tab["runs"]), f"{s['n']} of {len(seeds)} seed runs"],
            ["Maximum mAP", tab["max_printed"], fmt(s["max"], 4)],
            ["Average mAP", tab["mean_printed"], fmt(s["mean"], 4)],
            ["Variance", tab["variance_printed"],
             na if s["variance"] is None else f"{s['variance']:.6g} (population, ddof = 0, mAP in %)"],
            ["*extra:* sample variance (ddof = 1)", na,
             na if s["sample_variance"] is None else f"{s['sample_variance']:.6g}"],
            ["*extra:* standard deviation (population)", na, na if s["std"] is None else f"{s['std']:.4f}"],
            ["*extra:* minimum mAP", na, fmt(s["min"], 4)],
        ]
        lines += md_table(["Parameter", "Paper (PoseTrack2017 val, quoted)", f"**Measured** ({setting})"], rows,
                          ["---", "---:", "---:"])
        per = ", ".join(f"`{m.name}` {fmt(m.mAP, 4)}" for m in seeds if m.mAP is not None)
        lines += ["", "Quoted column: " + self.lit.this_paper() + ". "
                  "Variance convention: population variance (divide by n) of the seed runs' mAP in percent "
                  "points; the paper's 0.000254571 is evidently in %² too (a standard deviation of 0.016 "
                  "points fits its maximum − mean of 0.024), and it does not say which divisor it used, so the "
                  "sample variance (divide by n − 1) is printed as well."]
        if per:
            lines += ["", f"Seed runs: {per}."]
        if missing:
            lines += ["", "Left out: " + ", ".join(f"`{m.name}` ({m.missing_text()})" for m in missing) + "."]
        return lines

    # -- Orderings ----------------------------------------------------------------------------------------

    def orderings_section(self) -> list[str]:
        lines = ["", "## Orderings", "",
                 "Each of the paper's orderings, computed from the numbers above (every pair of rows of "
                 "Tables 6–8 in the paper's mAP order; FaSRnet vs the backbone alone in Tables 1 and 3; α = 0.4 "
                 "best in Table 9). Holds = our measured mAP is ordered the same way (strictly)."]
        std = self.seed_std
        if std is not None:
            lines += ["", f"Noise scale: the seed runs' sample standard deviation is {std:.4f} mAP points, so a "
                          f"difference between two runs below 2·√2·σ = {2 * math.sqrt(2) * std:.4f} is within "
                          "seed noise (marked ~)."]
        rows = []
        held = failed = unknown = 0
        broken: list[str] = []
        for o in self.orderings:
            m = o.margin
            if o.holds is None:
                verdict, unknown = "not run", unknown + 1
            elif o.holds:
                verdict, held = "yes", held + 1
            else:
                verdict, failed = "**no**", failed + 1
                broken.append(f"{o.table}: {o.better} > {o.worse}")
            if m is not None and std is not None and abs(m) < 2 * math.sqrt(2) * std:
                verdict += " ~"
            d = 1 if o.table in ("Table 1", "Table 3") else 4
            rows.append([o.table, f"{o.better} > {o.worse}", f"{o.paper[0]:.{d}f} > {o.paper[1]:.{d}f}",
                         "–" if m is None else f"{fmt(o.measured[0], 4)} vs {fmt(o.measured[1], 4)} "
                                               f"({m:+.4f})", verdict])
        check = self.alpha_check
        if check is None and runs_of(self.params, "alpha"):
            unknown += 1
            rows.append(["Table 9", "α = 0.4 gives the best mAP", "best α = 0.4", "–", "not run"])
        if check is not None:
            best_paper, best_ours, rank, n = check
            ok = math.isclose(best_paper, best_ours)
            if ok:
                held += 1
            else:
                failed += 1
                broken.append(f"Table 9: α = {best_paper:g} best (ours: α = {best_ours:g})")
            rank_text = f"; α = {best_paper:g} ranks {rank} of {n}" if rank is not None else ""
            rows.append(["Table 9", f"α = {best_paper:g} gives the best mAP", f"best α = {best_paper:g}",
                         f"best α = {best_ours:g}{rank_text}", "yes" if ok else "**no**"])
        lines += [""] + md_table(["Table", "Paper's ordering", "Paper (mAP)", "Measured (mAP)", "Holds"], rows,
                                 ["---", "---", "---", "---", "---"])
        total = held + failed
        lines += ["", f"{held} of {total} measured orderings hold" + (f", {unknown} not run" if unknown else "")
                  + "."]
        if broken:
            lines += ["", "These orderings of the paper do **not** hold in our measured rows:", ""]
            lines += [f"- {b}" for b in broken]
        return lines

    # -- degraded vs clean frames -------------------------------------------------------------------------

    def episodes_section(self) -> list[str]:
        """mAP on frames inside degradation episodes vs clean frames (synthetic sets only): where the temporal
        refinement should help, and where it should at least not hurt."""
        rows = []
        for dataset in self.params.data.datasets:
            base = self.inputs.subsets(paths.backbone_run_name(dataset))
            runs = [r for r in main_runs(self.params) if r.dataset == dataset]
            runs += [r for r in runs_of(self.params, "ablation") if r.dataset == dataset]
            if base is None:
                continue
            entries = [(f"backbone alone (`{paths.backbone_run_name(dataset)}`)", base)]
            entries += [(f"{_variant_label(r.variant)} (`{r.name}`)", self.inputs.subsets(r.name)) for r in runs]
            for row_label, sub in entries:
                if sub is None:
                    rows.append([dataset, row_label, "not run", "", "not run", ""])
                    continue
                cells = [dataset, row_label]
                for key in SUBSETS:
                    v, ref = sub[key][0], base[key][0]
                    cells += [f"{fmt(v, 2)} ({sub[key][1]})", "" if sub is base else fmt_diff(v, ref, 2)]
                rows.append(cells)
        if not rows:
            return []
        lines = ["", "## Degraded and clean frames (synthetic sets)", "",
                 "The synthetic sets record every degradation episode (`data/raw/<set>/meta.json`), so the val mAP "
                 "is also computed on the frames an episode covers (motion blur, defocus or occlusion, on the whole "
                 "frame or on any person in it) and on the other frames, each scored exactly like the whole split "
                 "(`fasrnet evaluate`, `subsets` in `results/metrics/<run>.json`). FaSRnet's premise is that "
                 "t−1 and t+1 help where frame t is degraded; on clean frames it should at least not lose. "
                 "Δ = row − backbone alone; frames evaluated in parentheses."]
        lines += [""] + md_table(["Set", "Row", "Degraded frames mAP", "Δ", "Clean frames mAP", "Δ"], rows,
                                 ["---", "---", "---:", "---:", "---:", "---:"])
        return lines

    # -- figures, missing, references ---------------------------------------------------------------------

    def figures_section(self) -> list[str]:
        if self.figures_dir is None:
            return []
        rel = Path(os.path.relpath(self.figures_dir, self.out.parent if str(self.out.parent) else "."))
        from fasrnet.tables.figures import FIGURES  # imports this module: only here, when there are figures

        return ["", "## Figures", ""] + [f"- [{f.name}]({(rel / f.name).as_posix()}): {f.summary}" for f in FIGURES]

    def missing_section(self) -> list[str]:
        missing = missing_inputs(self.params, self.inputs.root)
        if not missing:
            return []
        return (["", "## Missing inputs", "", "Rows reading these files show \"not run\" (`fasrnet tables --strict` "
                 "fails instead):", ""] + [f"- {m.as_posix()}" for m in missing])

    def references_section(self) -> list[str]:
        keys = [self.lit.data["paper"]["key"]] + [k for k in self.lit.cited if k != self.lit.data["paper"]["key"]]
        return ["", "## References (as the paper's reference list gives them)", ""] + \
            [f"- {self.lit.full(k)}" for k in keys]

    def build(self) -> str:
        lines = self.header()
        lines += self.table_val("table1", 1)
        lines += self.table_test("table2", 2)
        lines += self.table_val("table3", 3)
        lines += self.table_test("table4", 4)
        lines += self.table5()
        for number, table in zip((6, 7, 8), ABLATION_TABLES):
            lines += self.table_ablation(table, number)
        lines += self.table9()
        lines += self.table10()
        lines += self.orderings_section()
        lines += self.episodes_section()
        lines += self.figures_section()
        lines += self.missing_section()
        lines += self.references_section()
        return "\n".join(lines) + "\n"


def _variant_label(variant: str) -> str:
    """A variant's row name as the paper prints it: "Table 6 FaSRnet w/o Att" → "FaSRnet w/o Att"."""
    from fasrnet.models.fasrnet import VARIANTS  # imports torch (~3 s): only when a table needs it

    if variant == "fasrnet":
        return "FaSRnet"
    return re.sub(r"^Tables? [\d–-]+ ", "", VARIANTS[variant].paper_row)


def seed_stats(values: list[float]) -> dict[str, Any]:
    """n, max, min, mean, population variance (ddof 0), sample variance (ddof 1), population std."""
    n = len(values)
    return {
        "n": n,
        "max": max(values) if values else None,
        "min": min(values) if values else None,
        "mean": statistics.fmean(values) if values else None,
        "variance": statistics.pvariance(values) if values else None,
        "sample_variance": statistics.variance(values) if n >= 2 else None,
        "std": statistics.pstdev(values) if values else None,
    }


def build_tables(params: Params, root: str | Path = ".", strict: bool = False,
                 figures_dir: str | Path | None = None, out: str | Path = TABLES_FILE) -> str:
    """The text of ``results/tables.md``. ``strict``: raise :class:`FasrnetError` naming every missing input
    instead of printing "not run" rows."""
    if strict:
        missing = missing_inputs(params, root)
        if missing:
            raise FasrnetError("tables --strict: missing inputs:\n" + "\n".join(f"  {m.as_posix()}" for m in missing))
    return Builder(params, root, figures_dir, out).build()


def summary_metrics(params: Params, root: str | Path = ".") -> dict[str, float | int]:
    """Flat, small, stable DVC metrics: every run's mAP, the main runs' and backbones' columns, seed stats."""
    inputs = Inputs(params, root)
    out: dict[str, float | int] = {}
    mains = main_runs(params)
    for name in params.runs:
        m = inputs.run(name)
        if m.mAP is not None:
            out[f"{name}.mAP"] = round(m.mAP, 4)
    for r in mains:
        for m in (inputs.run(r.name), inputs.backbone(r.dataset)):
            if m.values is None:
                continue
            for col, v in zip(COLUMNS, m.values):
                if v is not None:
                    out[f"{m.name}.{col}"] = round(v, 4)
            for key, (v, _) in (inputs.subsets(m.name) or {}).items():
                if v is not None:
                    out[f"{m.name}.{key}_frames.mAP"] = round(v, 4)
    vals = [v for v in (inputs.run(r.name).mAP for r in runs_of(params, "seed")) if v is not None]
    if vals:
        s = seed_stats(vals)
        out["seed.n"] = s["n"]
        out["seed.max"] = round(s["max"], 4)
        out["seed.mean"] = round(s["mean"], 4)
        out["seed.variance"] = round(s["variance"], 6)
    alphas = [(r.alpha, inputs.run(r.name).mAP) for r in runs_of(params, "alpha")]
    alphas = [(a, v) for a, v in alphas if v is not None]
    if alphas:
        out["alpha.best"] = max(alphas, key=lambda t: t[1])[0]
    return out


def run_tables(params: Params, out: str | Path = TABLES_FILE, figures: str | Path | None = paths.FIGURES,
               summary: str | Path | None = SUMMARY_FILE, strict: bool = False, root: str | Path = ".") -> list[Path]:
    """``fasrnet tables``: write the markdown, ``summary.json``, the figures and, beside them, the tables as HTML
    (``tables.html``, :mod:`fasrnet.tables.report`), all atomically; return the paths written. Output paths are
    taken as given (relative to the working directory), inputs under ``root``."""
    from fasrnet.io import write_json, write_text

    text = build_tables(params, root, strict=strict, figures_dir=figures, out=out)
    written = []
    write_text(out, text)
    written.append(Path(out))
    if summary is not None:
        write_json(summary, summary_metrics(params, root), indent=1)
        written.append(Path(summary))
    if figures is not None:
        from fasrnet.tables.figures import make_figures
        from fasrnet.tables.report import write_tables_html

        written += make_figures(params, root, figures)
        written.append(write_tables_html(text, out, figures))  # for the Snakemake report (docs/report.md)
    return written
