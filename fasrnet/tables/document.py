"""``results/tables.md``: the paper's Tables 1–10 with our measured rows beside the quoted ones, as markdown.

:func:`tables_markdown` renders one :class:`fasrnet.tables.inputs.Inputs`: the header (the setting), each table
of :func:`paper_tables` (:mod:`fasrnet.tables.compare`, :mod:`fasrnet.tables.ablation`) with its footnotes
(numbered across the whole document, as GitHub needs), the section *Orderings* from the orderings the tables
return, degraded vs clean frames, the figures, the missing inputs and the references in order of first use.

A missing metrics file gives the row "not run (missing …)"; :func:`build_tables` with ``strict`` (``fasrnet
tables --strict``, which the workflow uses: it produces them all) fails on any missing input instead.

The output is deterministic: no timestamps, every order fixed by ``params.runs`` and the literature file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from fasrnet import paths
from fasrnet.errors import FasrnetError
from fasrnet.evaluate.episodes import SUBSETS
from fasrnet.params import Params
from fasrnet.tables.ablation import ABLATION_TABLES, seed_std, table9, table10, table_ablation, variant_label
from fasrnet.tables.compare import table5, table_test, table_val
from fasrnet.tables.inputs import (
    FAMILY,
    OTHER_LABELS,
    PAPER_DATASET,
    TABLES_FILE,
    Inputs,
    epochs_text,
    main_runs,
    missing_inputs,
    read_inputs,
    runs_of,
)
from fasrnet.tables.literature import Literature
from fasrnet.tables.markdown import fmt, fmt_diff, md_table
from fasrnet.tables.rows import AlphaCheck, Noted, Ordering, Table


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


# ----------------------------------------------------------------------------------------------------------
# Header


def _setting(datasets: list[str]) -> str:
    synthetic = [d for d in datasets if d.startswith("syn")]
    real = [d for d in datasets if d.startswith("posetrack")]
    if synthetic and not real:
        return "**embedded synthetic default**"
    if real and not synthetic:
        return "**paper setting** (real PoseTrack data)"
    return "**mixed setting** (synthetic and real PoseTrack data)"


def _stand_in(datasets: list[str]) -> list[str]:
    out = []
    for ds in datasets:
        fam = FAMILY.get(ds)
        if fam is None:
            continue
        tables = "Tables 1, 2, 6–10" if fam == "17" else "Tables 3, 4"
        if ds in OTHER_LABELS:
            out.append(f"`{ds}` has {PAPER_DATASET[fam]}'s videos with {OTHER_LABELS[ds]} ({tables}; no Δ to the "
                       "paper's numbers)")
            continue
        role = "stands in for" if ds.startswith("syn") else "is"
        out.append(f"`{ds}` {role} {PAPER_DATASET[fam]} ({tables})")
    return out


def header(p: Params) -> list[str]:
    """The title and the setting the measured rows come from."""
    datasets = list(p.data.datasets)
    h, w = p.heatmap.input_size
    if p.backbone.source == "pretrain":
        backbone = ("HRNet pretrained by the pipeline on single frames of a synthetic set of its own (never the "
                    "heads' train videos), then frozen")
    else:
        backbone = f"the downloaded checkpoint {p.backbone.checkpoint}, frozen"
    lines = [
        "# FaSRnet — paper Tables 1–10 with our measured rows",
        "",
        "Written by `fasrnet tables` from `params.yaml`, `results/metrics/*.json`, `models/<run>/run.json` and "
        "the literature file `fasrnet/tables/literature.yaml`; do not edit by hand.",
        "",
        f"Setting: {_setting(datasets)} — data.datasets: {', '.join(datasets)}; {'; '.join(_stand_in(datasets))}. "
        f"Backbone: HRNet-W{p.model.backbone_width} ({backbone}); input crops {h}×{w}; {head_label(p.model)}, "
        f"trained {epochs_text(p.train.epochs)}; α = {p.loss.alpha} for the main runs.",
        "",
    ]
    if any(d.startswith("syn") for d in datasets):
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


# ----------------------------------------------------------------------------------------------------------
# Tables


def paper_tables(inputs: Inputs) -> list[Table]:
    """Tables 1–10 in the paper's order."""
    tables = [table_val(inputs, "table1", 1), table_test(inputs, "table2", 2), table_val(inputs, "table3", 3),
              table_test(inputs, "table4", 4), table5(inputs)]
    tables += [table_ablation(inputs, table, number) for number, table in zip((6, 7, 8), ABLATION_TABLES)]
    return tables + [table9(inputs), table10(inputs)]


def render_table(table: Table, first_note: int) -> tuple[list[str], int]:
    """A table's markdown and the number of its last footnote; its footnotes are numbered after ``first_note``."""
    notes: list[str] = []
    rows = []
    for row in table.rows:
        cells = []
        for cell in row:
            if isinstance(cell, Noted):
                notes.append(cell.note)
                cell = f"{cell.text} [^{first_note + len(notes)}]"
            cells.append(cell)
        rows.append(cells)
    lines = ["", f"## Table {table.number}. {table.title}", ""]
    lines += md_table(list(table.header), rows, list(table.align))
    lines += table.after
    if notes:
        lines.append("")
        lines += [f"[^{first_note + i}]: {n}" for i, n in enumerate(notes, start=1)]
    return lines, first_note + len(notes)


# ----------------------------------------------------------------------------------------------------------
# Orderings


def _ordering_row(o: Ordering, std: float | None) -> tuple[list[str], bool | None]:
    m = o.margin
    verdict = "not run" if o.holds is None else ("yes" if o.holds else "**no**")
    if m is not None and std is not None and abs(m) < 2 * math.sqrt(2) * std:
        verdict += " ~"
    d = 1 if o.table in ("Table 1", "Table 3") else 4
    return [o.table, f"{o.better} > {o.worse}", f"{o.paper[0]:.{d}f} > {o.paper[1]:.{d}f}",
            "–" if m is None else f"{fmt(o.measured[0], 4)} vs {fmt(o.measured[1], 4)} ({m:+.4f})", verdict], o.holds


def _alpha_row(check: AlphaCheck) -> tuple[list[str], bool]:
    ok = math.isclose(check.best_paper, check.best_ours)
    rank_text = f"; α = {check.best_paper:g} ranks {check.rank} of {check.n}" if check.rank is not None else ""
    return ["Table 9", f"α = {check.best_paper:g} gives the best mAP", f"best α = {check.best_paper:g}",
            f"best α = {check.best_ours:g}{rank_text}", "yes" if ok else "**no**"], ok


def orderings_section(orderings: list[Ordering], check: AlphaCheck | None, has_alpha_runs: bool,
                      std: float | None, seeds: int = 0) -> list[str]:
    """Each ordering of the paper the tables check (``check``: Table 9's; None: no measured α run), whether it
    holds, within seed noise (``std``: the sample standard deviation of the ``seeds`` measured seed runs) or
    not."""
    lines = ["", "## Orderings", "",
             "Each of the paper's orderings, computed from the numbers above (every pair of rows of "
             "Tables 6–8 in the paper's mAP order; FaSRnet vs the backbone alone in Tables 1 and 3; α = 0.4 "
             "best in Table 9). Holds = our measured mAP is ordered the same way (strictly)."]
    if std is not None:
        lines += ["", f"Noise scale: the {seeds} seed runs' sample standard deviation is {std:.4f} mAP points, so a "
                      f"difference between two runs below 2·√2·σ = {2 * math.sqrt(2) * std:.4f} is within "
                      "seed noise (marked ~)."]
    rows, verdicts, broken = [], [], []
    for o in orderings:
        row, holds = _ordering_row(o, std)
        rows.append(row)
        verdicts.append(holds)
        if holds is False:
            broken.append(f"{o.table}: {o.better} > {o.worse}")
    if check is None and has_alpha_runs:
        verdicts.append(None)
        rows.append(["Table 9", "α = 0.4 gives the best mAP", "best α = 0.4", "–", "not run"])
    if check is not None:
        row, ok = _alpha_row(check)
        rows.append(row)
        verdicts.append(ok)
        if not ok:
            broken.append(f"Table 9: α = {check.best_paper:g} best (ours: α = {check.best_ours:g})")
    lines += [""] + md_table(["Table", "Paper's ordering", "Paper (mAP)", "Measured (mAP)", "Holds"], rows,
                             ["---", "---", "---", "---", "---"])
    held, unknown = verdicts.count(True), verdicts.count(None)
    total = held + verdicts.count(False)
    lines += ["", f"{held} of {total} measured orderings hold" + (f", {unknown} not run" if unknown else "") + "."]
    if broken:
        lines += ["", "These orderings of the paper do **not** hold in our measured rows:", ""]
        lines += [f"- {b}" for b in broken]
    return lines


# ----------------------------------------------------------------------------------------------------------
# Degraded vs clean frames, figures, missing inputs, references


def _episode_rows(inputs: Inputs, dataset: str) -> list[list[str]]:
    base = inputs.subsets(paths.backbone_run_name(dataset))
    runs = [r for r in main_runs(inputs.params) if r.dataset == dataset]
    runs += [r for r in runs_of(inputs.params, "ablation") if r.dataset == dataset]
    if base is None:
        return []
    entries = [(f"backbone alone (`{paths.backbone_run_name(dataset)}`)", base)]
    entries += [(f"{variant_label(r.variant)} (`{r.name}`)", inputs.subsets(r.name)) for r in runs]
    rows = []
    for row_label, sub in entries:
        if sub is None:
            rows.append([dataset, row_label, "not run", "", "not run", ""])
            continue
        cells = [dataset, row_label]
        for key in SUBSETS:
            v, ref = sub[key][0], base[key][0]
            cells += [f"{fmt(v, 2)} ({sub[key][1]})", "" if sub is base else fmt_diff(v, ref, 2)]
        rows.append(cells)
    return rows


def episodes_section(inputs: Inputs) -> list[str]:
    """mAP on frames inside degradation episodes vs clean frames (synthetic sets only): where the temporal
    refinement should help, and where it should at least not hurt."""
    rows = [row for dataset in inputs.params.data.datasets for row in _episode_rows(inputs, dataset)]
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


def figures_section(figures_dir: Path | None, out: Path) -> list[str]:
    """The figures, linked relative to ``out``'s directory (none without a figures directory)."""
    if figures_dir is None:
        return []
    rel = Path(os.path.relpath(figures_dir, out.parent if str(out.parent) else "."))
    from fasrnet.tables.figures import FIGURES  # numpy and the annotation reader: only when there are figures

    return ["", "## Figures", ""] + [f"- [{f.name}]({(rel / f.name).as_posix()}): {f.summary}" for f in FIGURES]


def missing_section(missing: tuple[Path, ...]) -> list[str]:
    if not missing:
        return []
    return (["", "## Missing inputs", "", "Rows reading these files show \"not run\" (`fasrnet tables --strict` "
             "fails instead):", ""] + [f"- {m.as_posix()}" for m in missing])


def references_section(lit: Literature, cited: list[str]) -> list[str]:
    """The paper first, then every other reference in order of first use."""
    keys = [lit.paper_key] + [k for k in dict.fromkeys(cited) if k != lit.paper_key]
    return ["", "## References (as the paper's reference list gives them)", ""] + [f"- {lit.full(k)}" for k in keys]


# ----------------------------------------------------------------------------------------------------------
# The document


def tables_markdown(inputs: Inputs, figures_dir: str | Path | None = None, out: str | Path = TABLES_FILE) -> str:
    """The text of ``results/tables.md`` (``out``, for the figures' relative links) from ``inputs``."""
    tables = paper_tables(inputs)
    lines = header(inputs.params)
    n_notes = 0
    for table in tables:
        text, n_notes = render_table(table, n_notes)
        lines += text
    checks = [t.alpha_check for t in tables if t.alpha_check is not None]
    lines += orderings_section([o for t in tables for o in t.orderings], checks[0] if checks else None,
                               bool(runs_of(inputs.params, "alpha")), seed_std(inputs),
                               sum(1 for m in inputs.seed_results() if m.mAP is not None))
    lines += episodes_section(inputs)
    lines += figures_section(None if figures_dir is None else Path(figures_dir), Path(out))
    lines += missing_section(inputs.missing)
    lines += references_section(inputs.literature, [k for t in tables for k in t.cited])
    return "\n".join(lines) + "\n"


def require_inputs(params: Params, root: str | Path = ".") -> None:
    """``--strict``: raise :class:`FasrnetError` naming every missing input."""
    missing = missing_inputs(params, root)
    if missing:
        raise FasrnetError("tables --strict: missing inputs:\n" + "\n".join(f"  {m.as_posix()}" for m in missing))


def build_tables(params: Params, root: str | Path = ".", strict: bool = False,
                 figures_dir: str | Path | None = None, out: str | Path = TABLES_FILE) -> str:
    """The text of ``results/tables.md`` from the inputs under ``root``. ``strict``: raise
    :class:`FasrnetError` naming every missing input instead of printing "not run" rows."""
    if strict:
        require_inputs(params, root)
    return tables_markdown(read_inputs(params, root), figures_dir, out)
