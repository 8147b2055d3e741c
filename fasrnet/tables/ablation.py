"""Tables 6–10, the paper's ablation study: the head's variants (6–8), the loss weight α (9) and the spread over
training seeds (10). One function per table, each returning a :class:`fasrnet.tables.rows.Table` with the
orderings it checks; they print four decimals, like the paper.

- "full FaSRnet" in Tables 6–8 is the main run of the ablation dataset when its resolved setting (variant
  ``fasrnet``, α, seed) equals the ablation runs'; otherwise the first run with exactly that setting
  (``alpha_04`` or ``seed_0`` by default) and the table says which (:func:`full_run`);
- Table 10's variance is the **population** variance (ddof = 0) of the seed runs' mAP in % (the paper's
  0.000254571 is evidently in %²: a std of 0.016 points fits its max − mean of 0.024); the sample variance
  (ddof = 1) is printed beside it (:func:`seed_stats`).
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable
from typing import Any

from fasrnet.params import Params
from fasrnet.tables.inputs import COLUMNS, Inputs, Measured, Resolved, resolve, runs_of
from fasrnet.tables.markdown import fmt, fmt_diff
from fasrnet.tables.rows import AlphaCheck, Cell, Ordering, Table, diff_cells, lit_cells, measured_cells, not_run_cells

#: The ablation tables: which variants each shows (besides full FaSRnet), in the literature file's row order.
ABLATION_TABLES = ("table6", "table7", "table8")


# ----------------------------------------------------------------------------------------------------------
# Which run stands for which variant


def ablation_reference(params: Params) -> Resolved | None:
    """The resolved setting the ablation runs share (dataset, α, seed), from the first ablation run."""
    abl = runs_of(params, "ablation")
    return abl[0] if abl else None


def full_run(params: Params) -> tuple[str | None, str]:
    """The run standing for full FaSRnet in Tables 6–8, and a sentence saying which and why."""
    ref = ablation_reference(params)
    if ref is None:
        return None, "no ablation runs in params.yaml `runs`"
    order = ["main", "ablation", "alpha", "seed"]
    cands = sorted((resolve(params, n) for n in params.runs), key=lambda r: order.index(r.group))
    for r in cands:
        if (r.variant == "fasrnet" and r.dataset == ref.dataset and math.isclose(r.alpha, ref.alpha)
                and r.seed == ref.seed):
            why = ("the main run of the ablation dataset" if r.group == "main" else
                   f"the first run with the ablation runs' setting (the main run of {ref.dataset} differs "
                   "in variant, α or seed)")
            return r.name, (f"Full FaSRnet (measured) = run `{r.name}`, {why}: {r.dataset}, variant fasrnet, "
                            f"α = {r.alpha}, seed {r.seed}.")
    main = [r for r in runs_of(params, "main") if r.dataset == ref.dataset]
    if main:
        r = main[0]
        return r.name, (f"Full FaSRnet (measured) = run `{r.name}` (variant {r.variant}, α = {r.alpha}, seed "
                        f"{r.seed}); no run has exactly the ablation runs' setting (α = {ref.alpha}, seed "
                        f"{ref.seed}), so this comparison is not like for like.")
    return None, f"no fasrnet run on {ref.dataset} to stand for full FaSRnet"


def variant_run(params: Params, variant: str) -> str | None:
    """The run measuring ``variant`` in Tables 6–8 (full FaSRnet: :func:`full_run`), or None."""
    if variant == "fasrnet":
        return full_run(params)[0]
    ref = ablation_reference(params)
    for r in runs_of(params, "ablation"):
        if r.variant == variant and ref is not None and r.dataset == ref.dataset:
            return r.name
    return None


def variant_label(variant: str) -> str:
    """A variant's row name as the paper prints it: "Table 6 FaSRnet w/o Att" → "FaSRnet w/o Att"."""
    from fasrnet.models.fasrnet import VARIANTS  # imports torch (~3 s): only when a table needs it

    if variant == "fasrnet":
        return "FaSRnet"
    return re.sub(r"^Tables? [\d–-]+ ", "", VARIANTS[variant].paper_row)


# ----------------------------------------------------------------------------------------------------------
# Tables 6-8


def _ablation_rows(inputs: Inputs, row: dict[str, Any], d: int) -> tuple[list[list[Cell]], Measured | None]:
    """A quoted variant row, its measured row (or why there is none) and Δ; and the measured run (None: none)."""
    rows = [[row["method"], *lit_cells(row, d), "quoted · " + inputs.literature.this_paper()]]
    name = variant_run(inputs.params, row["variant"])
    if name is None:
        rows.append([f"↳ **measured** ({row['variant']})", *not_run_cells(f"no {row['variant']} run in params.yaml "
                                                                          "`runs`")])
        return rows, None
    m = inputs.run(name)
    if m.values is None:
        rows.append([f"↳ **measured** (run `{name}`)", *not_run_cells(m.missing_text())])
        return rows, m
    rows.append([f"↳ **measured** (run `{name}`)", *measured_cells(m, d), f"measured · {m.setting}"])
    rows.append(["↳ Δ measured − paper", *diff_cells(m, row["values"], d), ""])
    return rows, m


def ablation_orderings(tab: dict[str, Any], number: int, measured: dict[str, Measured | None]) -> list[Ordering]:
    """The paper's ordering of a table's rows by mAP, every pair, with our measured pair."""
    ranked = sorted(tab["rows"], key=lambda r: -r["values"][-1])
    out = []
    for i, a in enumerate(ranked):
        for b in ranked[i + 1:]:
            ma, mb = measured.get(a["variant"]), measured.get(b["variant"])
            out.append(Ordering(f"Table {number}", a["method"], b["method"], (a["values"][-1], b["values"][-1]),
                                (None if ma is None else ma.mAP, None if mb is None else mb.mAP)))
    return out


def table_ablation(inputs: Inputs, table: str, number: int) -> Table:
    """Table 6, 7 or 8: each quoted variant row with our run of that variant below it."""
    from fasrnet.models.fasrnet import VARIANTS  # the variant definitions (imports torch: ~3 s)

    tab = inputs.literature.tables[table]
    d = tab["decimals"]
    rows: list[list[Cell]] = []
    measured: dict[str, Measured | None] = {}
    for row in tab["rows"]:
        variant_rows, measured[row["variant"]] = _ablation_rows(inputs, row, d)
        rows += variant_rows
    after = ["", tab["legend"], "", full_run(inputs.params)[1], ""]
    for row in tab["rows"]:
        spec = VARIANTS.get(row["variant"])
        if spec is not None:
            after.append(f"- `{row['variant']}` ({row['method']}): {spec.removes}.")
    return Table(number, tab["title"], ("Method", *COLUMNS, "Source"), ("---", *["---:"] * 8, "---"),
                 tuple(map(tuple, rows)), tuple(after), orderings=tuple(ablation_orderings(tab, number, measured)))


# ----------------------------------------------------------------------------------------------------------
# Table 9


def alpha_check(paper: dict[float, float], ours: list[tuple[float, Measured]]) -> AlphaCheck | None:
    """Table 9's ordering: the paper's best α against ours (None without a measured α run)."""
    present = [(a, m) for a, m in ours if m.mAP is not None]
    if not present:
        return None
    best_ours = max(present, key=lambda t: t[1].mAP)[0]  # type: ignore[arg-type,return-value]
    best_paper = max(paper, key=lambda a: paper[a])
    at_best = {round(a, 4): m for a, m in ours}.get(round(best_paper, 4))
    rank = None
    if at_best is not None and at_best.mAP is not None:
        rank = 1 + sum(1 for _, m in present if m.mAP > at_best.mAP)  # type: ignore[operator]
    return AlphaCheck(best_paper, best_ours, rank, len(present))


def alpha_grid(paper: Iterable[float], ours: Iterable[float]) -> str:
    """Which α values were run, against the paper's: the embedded default runs five of its ten (params.yaml
    ``runs.alpha``), so the table says so where its numbers are."""
    paper_set = {round(a, 4) for a in paper}
    ran = sorted({round(a, 4) for a in ours})
    if not ran:
        return "no α run"
    values = "{" + ", ".join(f"{a:g}" for a in ran) + "}"
    shared = sum(1 for a in ran if a in paper_set)
    if shared == len(ran) == len(paper_set):
        return f"grid run: all {len(paper_set)} of the paper's α"
    extra = len(ran) - shared
    return (f"grid run: α ∈ {values}, {shared} of the paper's {len(paper_set)}"
            + (f" and {extra} it did not run" if extra else ""))


def _alpha_row(a: float, ptext: str, p: float | None, m: Measured | None, best_ours: float | None,
               d: int) -> list[Cell]:
    """One α: the paper's cell (``ptext``), ours (bold when best) and Δ, or why there is no number of ours."""
    if m is None:
        return [f"{a:g}", ptext, "not in the grid run (params.yaml `runs.alpha`)", "–", ""]
    if m.mAP is None:
        return [f"{a:g}", ptext, m.missing_text(), "–", f"`{m.name}`"]
    mtext = fmt(m.mAP, d)
    if best_ours is not None and math.isclose(a, best_ours):
        mtext = f"**{mtext}**"
    return [f"{a:g}", ptext, mtext, fmt_diff(m.mAP, p, d), f"`{m.name}`"]


def table9(inputs: Inputs) -> Table:
    """Table 9: mAP against α, quoted and measured (the α runs), with the check that the paper's best α is ours."""
    lit = inputs.literature
    tab = lit.tables["table9"]
    d = tab["decimals"]
    paper = {round(float(a), 4): float(v) for a, v in tab["values"].items()}
    ours = inputs.alpha_results()
    present = [(a, m) for a, m in ours if m.mAP is not None]
    best_ours = max(present, key=lambda t: t[1].mAP)[0] if present else None  # type: ignore[arg-type,return-value]
    best_paper = max(paper, key=lambda a: paper[a])
    by_alpha = {round(a, 4): m for a, m in ours}
    rows = []
    for a in sorted(set(paper) | {round(a, 4) for a, _ in ours}):
        p = paper.get(a)
        ptext = f"**{fmt(p, d)}**" if p is not None and a == best_paper else fmt(p, d)
        rows.append(_alpha_row(a, ptext, p, by_alpha.get(a), best_ours, d))
    setting = present[0][1].setting if present else ""
    after = ("", "Quoted column: " + lit.this_paper() + ". "
             "Bold: the best value of each column. The paper reports the best mean AP over its training "
             "epochs; ours is the mAP of the final checkpoint (`results/metrics/<run>.json`).")
    header = ("α", f"Paper: {tab['column']} (PoseTrack2017 val, quoted)",
              f"**Measured** mAP ({setting or 'not run'}; {alpha_grid(paper, [a for a, _ in ours])})", "Δ", "Run")
    return Table(9, tab["title"], header, ("---:", "---:", "---:", "---:", "---"), tuple(map(tuple, rows)), after,
                 alpha_check=alpha_check(paper, ours))


# ----------------------------------------------------------------------------------------------------------
# Table 10


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


def seed_std(inputs: Inputs) -> float | None:
    """The seed runs' sample standard deviation of mAP (the noise scale of the section *Orderings*)."""
    vals = [m.mAP for m in inputs.seed_results() if m.mAP is not None]
    return statistics.stdev(vals) if len(vals) >= 2 else None


def table10(inputs: Inputs) -> Table:
    """Table 10: the seed runs' maximum, mean and variance of mAP, quoted and measured."""
    tab = inputs.literature.tables["table10"]
    seeds = inputs.seed_results()
    vals = [m.mAP for m in seeds if m.mAP is not None]
    missing = [m for m in seeds if m.mAP is None]
    setting = next((m.setting for m in seeds if m.mAP is not None), "not run")
    s = seed_stats(vals)
    na = "–"
    rows = (
        ("Number of training times", str(tab["runs"]), f"{s['n']} of {len(seeds)} seed runs"
         + ("" if len(seeds) == tab["runs"] else f" (params.yaml `runs.seed` lists {len(seeds)}, the paper ran "
                                                  f"{tab['runs']})")),
        ("Maximum mAP", tab["max_printed"], fmt(s["max"], 4)),
        ("Average mAP", tab["mean_printed"], fmt(s["mean"], 4)),
        ("Variance", tab["variance_printed"],
         na if s["variance"] is None else f"{s['variance']:.6g} (population, ddof = 0, mAP in %)"),
        ("*extra:* sample variance (ddof = 1)", na,
         na if s["sample_variance"] is None else f"{s['sample_variance']:.6g}"),
        ("*extra:* standard deviation (population)", na, na if s["std"] is None else f"{s['std']:.4f}"),
        ("*extra:* minimum mAP", na, fmt(s["min"], 4)),
    )
    per = ", ".join(f"`{m.name}` {fmt(m.mAP, 4)}" for m in seeds if m.mAP is not None)
    after = ["", "Quoted column: " + inputs.literature.this_paper() + ". "
             "Variance convention: population variance (divide by n) of the seed runs' mAP in percent "
             "points; the paper's 0.000254571 is evidently in %² too (a standard deviation of 0.016 "
             "points fits its maximum − mean of 0.024), and it does not say which divisor it used, so the "
             "sample variance (divide by n − 1) is printed as well."]
    if per:
        after += ["", f"Seed runs: {per}."]
    if missing:
        after += ["", "Left out: " + ", ".join(f"`{m.name}` ({m.missing_text()})" for m in missing) + "."]
    header = ("Parameter", "Paper (PoseTrack2017 val, quoted)", f"**Measured** ({setting})")
    return Table(10, tab["title"], header, ("---", "---:", "---:"), rows, tuple(after))
