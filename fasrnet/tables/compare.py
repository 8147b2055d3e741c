"""Tables 1–5: our main runs and the frozen backbone alone beside the paper's PoseTrack tables (1–4), and the
models' size and cost (5). One function per table, each returning a :class:`fasrnet.tables.rows.Table`.

Tables 1–4 print one decimal, like the paper. Tables 1 and 3 (val) check the paper's ordering FaSRnet > its
backbone alone; Tables 2 and 4 (test) have no measured numbers: PoseTrack's test ground truth was never released.
"""

from __future__ import annotations

from typing import Any

from fasrnet import paths
from fasrnet.tables.inputs import (
    COLUMNS,
    COMPLEXITY_FILE,
    FAMILY,
    OTHER_LABELS,
    PAPER_DATASET,
    Inputs,
    Measured,
    main_runs,
)
from fasrnet.tables.literature import Literature, cited_keys
from fasrnet.tables.markdown import fmt_diff
from fasrnet.tables.rows import Cell, Ordering, Table, diff_cells, lit_cells, measured_cells, not_run_cells

HEADER_1TO4 = ("Method", "Year", *COLUMNS, "Source")
ALIGN_1TO4 = ("---", "---", *["---:"] * 8, "---")


def lit_rows_1to4(lit: Literature, table: str) -> list[list[Cell]]:
    """The quoted rows of Tables 1–4, with their sources."""
    rows = []
    for row in lit.tables[table]["rows"]:
        src = "quoted · " + lit.source(row)
        if row.get("ref_note"):
            src += f" ({row['ref_note']})"
        rows.append([row["method"], str(row["year"]), *lit_cells(row, 1), src])
    return rows


def _no_main_run(fam: str, blank: str) -> list[Cell]:
    return ["**FaSRnet — measured**", "", *[blank] * 8,
            f"no main run on a {PAPER_DATASET[fam]}-like dataset in params.yaml `runs`"]


def _measured_rows(m: Measured, label: str, ref: dict[str, Any] | None) -> list[list[Cell]]:
    """A measured row (or its "not run" row) and, when the paper has ``ref``, its Δ row."""
    if m.values is None:
        return [[label, "", *not_run_cells(m.missing_text())]]
    rows = [[label, "", *measured_cells(m, 1), f"measured · {m.setting}"]]
    if ref:
        rows.append([f"Δ measured − paper's {ref['method']} {ref['year']}", "", *diff_cells(m, ref["values"], 1),
                     ""])
    return rows


def table_val(inputs: Inputs, table: str, number: int) -> Table:
    """Table 1 or 3 (val): the quoted rows, then per main run of the family FaSRnet and the backbone alone."""
    lit, params = inputs.literature, inputs.params
    tab = lit.tables[table]
    fam = tab["family"]
    rows = lit_rows_1to4(lit, table)
    own, comp = lit.own_row(table), lit.compare_row(table)
    runs = [r for r in main_runs(params) if FAMILY[r.dataset] == fam]
    if not runs:
        rows.append(_no_main_run(fam, ""))
    orderings = []
    for r in runs:
        m, b = inputs.run(r.name), inputs.backbone(r.dataset)
        other = OTHER_LABELS.get(r.dataset)  # other labels than the paper's: no Δ to its numbers
        on = f", on {other}" if other else ""
        rows += _measured_rows(m, f"**FaSRnet — measured** (run `{r.name}`{on})", None if other else own)
        best = inputs.best_epoch(r.name)
        if best is not None:
            rows += _measured_rows(best[1], f"↳ **best epoch ({best[0]}) — measured** (run `{r.name}`{on}; chosen "
                                            "on val itself, as the paper's rows)", None if other else own)
        rows += _measured_rows(b, f"**HRNet-W{params.model.backbone_width} backbone alone (frozen, single frame) — "
                                  f"measured** (`{b.name}`{on})", None if other else comp)
        a = inputs.backbone_adapted(r.dataset)
        rows += _measured_rows(a, f"**HRNet-W{params.model.backbone_width} backbone alone, BatchNorm adapted to the "
                                  f"train crops (control, not in the paper) — measured** (`{a.name}`{on})", None)
        if own and comp and not other:
            orderings.append(Ordering(f"Table {number}", f"FaSRnet (`{r.name}`)", f"backbone alone (`{b.name}`)",
                                      (own["values"][-1], comp["values"][-1]), (m.mAP, b.mAP)))
    after = []
    for note in tab.get("notes", []):
        after += ["", f"Note: {note}"]
    if own and comp:
        after += ["", f"The backbone-alone row is the analogue of the paper's {comp['method']} row: the same "
                      "frozen backbone FaSRnet refines, scored on its own single-frame heatmaps."]
    if any(inputs.best_epoch(r.name) for r in runs):
        after += ["", "FaSRnet's measured row scores the final epoch's head; its best-epoch row the epoch with the "
                      "highest val mAP, which the paper reports (its Table 9 says \"best mean AP\"). Choosing the "
                      "epoch on val and scoring it on val is a selection on the evaluation set: the best-epoch row is "
                      "optimistic by construction."]
    if runs:
        after += ["", "The adapted-backbone row is a control the paper lacks: the same backbone with its BatchNorm "
                      "statistics re-estimated over the dataset's train crops (weights unchanged), as the official "
                      "code's train-mode BatchNorm leaves them in effect. The share of FaSRnet's gain over the "
                      "backbone alone that this row reaches is what BatchNorm adaptation alone explains "
                      f"(params.yaml `backbone.bn: {params.backbone.bn}` is what FaSRnet's rows extracted with)."]
    return Table(number, tab["title"], HEADER_1TO4, ALIGN_1TO4, tuple(map(tuple, rows)), tuple(after),
                 cited_keys(tab["rows"]), tuple(orderings))


def table_test(inputs: Inputs, table: str, number: int) -> Table:
    """Table 2 or 4 (test): the quoted rows and where our predictions are (nothing to score them against)."""
    lit = inputs.literature
    tab = lit.tables[table]
    fam = tab["family"]
    rows = lit_rows_1to4(lit, table)
    runs = [r for r in main_runs(inputs.params) if FAMILY[r.dataset] == fam]
    for r in runs:
        where = paths.predictions_dir(r.name, "test").as_posix()
        rows.append([f"**FaSRnet — measured** (run `{r.name}`)", "",
                     *not_run_cells(f"not scorable: predictions in {where}")])
    if not runs:
        rows.append(_no_main_run(fam, "–"))
    synthetic = any(r.dataset.startswith("syn") for r in runs)
    after = ("", "PoseTrack's test-set ground truth was never released and its evaluation server is offline, "
                 "so no test-set number of ours can be computed; the predictions are written for a future "
                 "server" + (" (the synthetic test split likewise ships frames without persons)." if synthetic
                             else "."))
    return Table(number, tab["title"], HEADER_1TO4, ALIGN_1TO4, tuple(map(tuple, rows)), after,
                 cited_keys(tab["rows"]))


# ----------------------------------------------------------------------------------------------------------
# Table 5


def _complexity_rows(o: dict[str, Any], label: str, size: str, src: str,
                     ref: dict[str, Any] | None) -> list[list[Cell]]:
    """One measured model of ``complexity.json``'s ``table5.ours`` and its Δ to the paper's ``ref``."""
    params_text = f"{o['params']:,}"
    if "params_thop_style" in o:
        params_text += f" (thop-style, DCN weights not counted: {o['params_thop_style']:,})"
    rows = [[f"**{label} — measured**", size, params_text, f"{o['thop_style_gmacs']:.2f}", f"{o['gflops']:.2f}", src]]
    if ref is not None:
        dp = o["params"] - ref["params"]
        dtext = f"{dp:+,.0f} ({100 * dp / ref['params']:+.2f} %)"
        if "params_thop_style" in o:
            dt = o["params_thop_style"] - ref["params"]
            dtext += f"; thop-style {dt:+,.0f} ({100 * dt / ref['params']:+.2f} %)"
        rows.append([f"Δ measured − paper's {ref['method']}", "", dtext,
                     fmt_diff(o["thop_style_gmacs"], ref["gflops"], 2), "", ""])
    return rows


def _configured_rows(conf: dict[str, Any]) -> list[list[Cell]]:
    """The models as ``params.yaml`` configures them (``complexity.json``'s ``configured``): no paper value."""
    cs = conf["setting"]
    ch, cw = cs["input_size"]
    rows: list[list[Cell]] = []
    for key, label, frames in (("hrnet", f"HRNet-W{cs['backbone_width']}", 1),
                               ("fasrnet", f"FaSRnet (HRNet-W{cs['backbone_width']} ×3 + {cs['variant']} head)", 3)):
        o = conf[key]
        rows.append([f"{label} as configured in params.yaml — measured", f"{3 * frames}×{ch}×{cw}",
                     f"{o['params']:,}", f"{o['thop_style_gmacs']:.2f}", f"{o['gflops']:.2f}",
                     "measured · the model the runs train (no paper value)"])
    return rows


def table5(inputs: Inputs) -> Table:
    """Table 5: parameters and GFLOPs, quoted and measured (``fasrnet complexity``)."""
    lit = inputs.literature
    tab = lit.tables["table5"]
    rows: list[list[Cell]] = []
    paper = {}
    for row in tab["rows"]:
        if row.get("compare"):
            paper[row["compare"]] = row
        rows.append([row["method"], row["input"], row["params_printed"].replace("^7", "⁷"),
                     f"{row['gflops']:.2f}", "–", "quoted · " + lit.source(row)])
    c = inputs.complexity
    if c is None:
        rows.append(["**HRNet / FaSRnet — measured**", "", "–", "–", "–",
                     f"not run (missing {COMPLEXITY_FILE.as_posix()})"])
    else:
        st = c["measured"]["setting"]
        h, w = st["input_size"]
        src = f"measured · `fasrnet complexity` ({COMPLEXITY_FILE.as_posix()}), random weights, batch 1"
        for key, label, frames in (("hrnet", f"HRNet-W{st['backbone_width']}", 1),
                                   ("fasrnet", f"FaSRnet (HRNet-W{st['backbone_width']} ×3 + head)", 3)):
            rows += _complexity_rows(c["table5"]["ours"][key], label, f"{3 * frames}×{h}×{w}", src, paper.get(key))
        if c.get("configured") is not None:
            rows += _configured_rows(c["configured"])
    after = ("", f"{tab['note']} Two conventions are printed for ours: thop-style MACs (convolutions without "
                 "bias, BatchNorm 4 ops per element, deformable convs and their own weights not counted — "
                 "the paper's column) and FLOPs = 2 × multiply-accumulate (torch's flop counter, deformable "
                 "convs counted as plain convs of the same shape). Δ compares the thop-style column.")
    header = ("Method", "Input size", "Parameter number", "GFLOPs (paper's count: thop MACs)", "GFLOPs (2 × MAC)",
              "Source")
    return Table(5, tab["title"], header, ("---", "---", "---:", "---:", "---:", "---"), tuple(map(tuple, rows)),
                 after, cited_keys(tab["rows"]))
