"""The figures beside ``results/tables.md`` (matplotlib, Agg canvas, no pyplot state: :mod:`fasrnet.tables.canvas`),
drawn from the tables' :class:`fasrnet.tables.inputs.Inputs`. :data:`FIGURES` lists them: per figure its file, its
drawing function, the one line ``results/tables.md`` lists it with, and what it shows (the Snakemake report's
caption, with :attr:`FigureInfo.sources` naming the runs it draws from; docs/report.md). In short:

- ``per_joint_ap.png`` — per main dataset, the paper's Ours and HRNet rows beside our FaSRnet and backbone rows;
- ``alpha_curve.png`` — Table 9: mAP vs α, ours and the paper's on two y-axes, the seed runs' spread shaded;
- ``training_curves.png`` — training loss and val mAP per epoch of the main and ablation runs
  (``models/<run>/train_log.csv``);
- ``qualitative.png`` — like the paper's Figs. 4–6: degraded val frames where the two predictions differ most
  (:mod:`fasrnet.tables.qualitative`).

A figure whose inputs are missing is still written, saying what is missing. PNGs carry no software/date
metadata, so the same inputs give the same bytes.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from fasrnet import paths
from fasrnet.params import Params
from fasrnet.tables.ablation import seed_stats
from fasrnet.tables.canvas import new_figure, placeholder, save
from fasrnet.tables.inputs import (
    COLUMNS,
    FAMILY,
    OTHER_LABELS,
    PAPER_DATASET,
    Inputs,
    Resolved,
    main_runs,
    read_inputs,
    runs_of,
)
from fasrnet.tables.qualitative import QUALITATIVE_ROWS, qualitative


def draw_figures(inputs: Inputs, out_dir: str | Path = paths.FIGURES) -> list[Path]:
    """Write the four figures into ``out_dir``. Returns the paths."""
    out = Path(out_dir)
    return [f.draw(inputs, out / f.name) for f in FIGURES]


def make_figures(params: Params, root: str | Path = ".", out_dir: str | Path = paths.FIGURES) -> list[Path]:
    """:func:`draw_figures` from the inputs under ``root``."""
    return draw_figures(read_inputs(params, root), out_dir)


def train_log(root: Path, name: str) -> list[dict[str, float | None]]:
    """``models/<run>/train_log.csv`` rows (empty cells → None); [] when absent."""
    path = root / paths.run_dir(name) / "train_log.csv"
    if not path.is_file():
        return []
    rows = []
    for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))):
        rows.append({k: (float(v) if v not in ("", None) else None) for k, v in row.items() if k})
    return rows


# ----------------------------------------------------------------------------------------------------------
# Per-joint AP


def per_joint_ap(inputs: Inputs, path: Path) -> Path:
    runs = main_runs(inputs.params)
    if not runs:
        return placeholder(path, "Per-joint AP",
                           "no main run on syn17/syn18/posetrack17/posetrack18/posetrack21 in params.yaml")
    fig = new_figure(11, 3.6 * len(runs))
    x = np.arange(len(COLUMNS))
    for i, r in enumerate(runs):
        ax = fig.add_subplot(len(runs), 1, i + 1)
        table = "table1" if FAMILY[r.dataset] == "17" else "table3"
        own, comp = inputs.literature.own_row(table), inputs.literature.compare_row(table)
        m, bb = inputs.run(r.name), inputs.backbone(r.dataset)
        series: list[tuple[str, list[float | None] | None, dict[str, Any]]] = [
            (f"paper: {own['method']} {own['year']} (quoted)", own["values"] if own else None,
             {"color": "#9ecae1", "hatch": "//", "edgecolor": "#3182bd"}),
            (f"paper: {comp['method']} {comp['year']} (quoted)", comp["values"] if comp else None,
             {"color": "#fdd0a2", "hatch": "//", "edgecolor": "#e6550d"}),
            (f"FaSRnet, measured ({r.name})", list(m.values) if m.values else None, {"color": "#08519c"}),
            (f"backbone alone, measured ({bb.name})", list(bb.values) if bb.values else None,
             {"color": "#a63603"}),
        ]
        width = 0.2
        lows = []
        for k, (label, vals, style) in enumerate(series):
            if vals is None:
                label += " — not run"
                vals = [None] * len(COLUMNS)
            ys = [np.nan if v is None else v for v in vals]
            lows += [v for v in ys if not np.isnan(v)]
            ax.bar(x + (k - 1.5) * width, ys, width, label=label, linewidth=0.6, **style)
        ax.set_xticks(x, [c if c != "mAP" else "mAP (Total)" for c in COLUMNS])
        ax.set_ylabel("AP")
        lo = max(0.0, (min(lows) if lows else 0.0) - 8)
        ax.set_ylim(lo, 100)
        ax.grid(axis="y", alpha=0.3)
        other = f" on {OTHER_LABELS[r.dataset]}, not the paper's labels," if r.dataset in OTHER_LABELS else ""
        ax.set_title(f"{r.dataset} val (measured{other}) beside {PAPER_DATASET[FAMILY[r.dataset]]} val (paper Table "
                     f"{1 if table == 'table1' else 3}, quoted)", fontsize=10)
        ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.09), frameon=False)
        if table == "table3":
            ax.annotate("paper's Shoulder 96.9 as printed\n(evidently a typo for 86.9)", xy=(1 - 1.5 * width, 96.9),
                        xytext=(1.6, 97), fontsize=7, va="top",
                        arrowprops={"arrowstyle": "->", "linewidth": 0.6})
    if any(r.dataset.startswith("syn") for r in runs):
        fig.suptitle("Per-joint AP — synthetic vs PoseTrack: absolute values are not comparable, orderings are",
                     fontsize=10)
    fig.tight_layout()
    return save(fig, path)


# ----------------------------------------------------------------------------------------------------------
# Alpha curve


def alpha_curve(inputs: Inputs, path: Path) -> Path:
    tab = inputs.literature.tables["table9"]
    paper = sorted((float(a), float(v)) for a, v in tab["values"].items())
    ours = [(a, m.mAP) for a, m in inputs.alpha_results() if m.mAP is not None]
    fig = new_figure(8, 4.5)
    ax = fig.add_subplot()
    ax2 = ax.twinx()
    handles = []
    if ours:
        xs, ys = zip(*ours)
        handles += ax.plot(xs, ys, "o-", color="#08519c", label="measured mAP (left axis)")
        best = max(ours, key=lambda t: t[1])
        ax.plot([best[0]], [best[1]], marker="*", markersize=16, color="#08519c", linestyle="none")
        seeds = [m.mAP for m in inputs.seed_results() if m.mAP is not None]
        if len(seeds) >= 2:
            s = seed_stats(seeds)
            sd = math.sqrt(s["sample_variance"])
            handles.append(ax.axhspan(s["mean"] - sd, s["mean"] + sd, color="#08519c", alpha=0.12,
                                      label=f"seed runs: mean ± 1 sample std ({len(seeds)} runs, left axis)"))
        ax.set_ylabel("measured mAP (%)", color="#08519c")
    else:
        ax.text(0.5, 0.3, "no measured α runs (missing results/metrics/alpha_*.json)", ha="center",
                transform=ax.transAxes, color="#08519c", bbox={"facecolor": "white", "alpha": 0.9, "linewidth": 0})
        ax.set_yticks([])
    pxs, pys = zip(*paper)
    handles += ax2.plot(pxs, pys, "s--", color="#e6550d", label="paper Table 9, quoted (right axis)")
    pbest = max(paper, key=lambda t: t[1])
    ax2.plot([pbest[0]], [pbest[1]], marker="*", markersize=16, color="#e6550d", linestyle="none")
    ax2.set_ylabel("paper's best mean AP (%)", color="#e6550d")
    ax.set_xlabel("α (Eq. 19: α·L(H^r) + (1 − α)·L(H^final))")
    ax.set_xticks([round(0.1 * k, 1) for k in range(10)])
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, fontsize=8, loc="lower center")
    ax.set_title("Table 9: mAP vs α — two y-axes (levels differ; compare shapes); ★ = best α", fontsize=10)
    fig.tight_layout()
    return save(fig, path)


# ----------------------------------------------------------------------------------------------------------
# Training curves


def training_runs(params: Params) -> list[Resolved]:
    """The runs whose training logs ``training_curves.png`` draws: the main runs, then the ablation runs."""
    return runs_of(params, "main") + runs_of(params, "ablation")


def training_curves(inputs: Inputs, path: Path) -> Path:
    logs = [(r, train_log(inputs.root, r.name)) for r in training_runs(inputs.params)]
    logs = [(r, log) for r, log in logs if log]
    if not logs:
        return placeholder(path, "Training curves", "no models/<run>/train_log.csv for the main or ablation runs")
    fig = new_figure(12, 4.5)
    ax_loss = fig.add_subplot(1, 2, 1)
    ax_map = fig.add_subplot(1, 2, 2)
    any_map = False
    positive = True
    for i, (r, log) in enumerate(logs):
        main = r.group == "main"
        style = {"linewidth": 2.2 if main else 1.0, "alpha": 1.0 if main else 0.75,
                 "linestyle": "-" if main else "--", "color": f"C{i % 10}"}
        label = r.name if main else f"{r.name} ({r.variant})"
        ep = [row.get("epoch") for row in log]
        loss = [row.get("loss") for row in log]
        pts = [(e, v) for e, v in zip(ep, loss) if e is not None and v is not None]
        if pts:
            positive &= all(v > 0 for _, v in pts)
            ax_loss.plot(*zip(*pts), marker="o", markersize=3, label=label, **style)
        vm = [(e, row.get("val_map")) for e, row in zip(ep, log) if e is not None and row.get("val_map") is not None]
        if vm:
            any_map = True
            ax_map.plot(*zip(*vm), marker="o", markersize=3, label=label, **style)
    if positive:
        ax_loss.set_yscale("log")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_map):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss (Eq. 19)")
    ax_loss.set_title("training loss", fontsize=10)
    ax_loss.grid(alpha=0.3)
    ax_map.set_xlabel("epoch")
    ax_map.set_ylabel("val mAP (%)")
    ax_map.set_title("val mAP during training (solid: main runs, dashed: ablations)", fontsize=10)
    ax_map.grid(alpha=0.3)
    if not any_map:
        ax_map.text(0.5, 0.5, "no val mAP logged (train.val_every: 0?)", ha="center", transform=ax_map.transAxes)
    ax_loss.legend(fontsize=7)
    if any_map:
        ax_map.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, path)


# ----------------------------------------------------------------------------------------------------------
# The list of figures: what each one is, for results/tables.md and the Snakemake report's captions


def _lit(name: str) -> str:
    """A run or dataset name as reStructuredText inline literal (names are letters, digits, ``_`` and ``-``)."""
    return f"``{name}``"


def _per_joint_ap_sources(params: Params) -> str:
    runs = main_runs(params)
    if not runs:
        return f"This run has no main run on {'/'.join(FAMILY)}: the figure says so and shows nothing else."
    panels = [f"{_lit(r.name)} and {_lit(paths.backbone_run_name(r.dataset))} on {_lit(r.dataset)} val beside paper "
              f"Table {1 if FAMILY[r.dataset] == '17' else 3} ({PAPER_DATASET[FAMILY[r.dataset]]} val)" for r in runs]
    return "Panels in this run: " + "; ".join(panels) + "."


def _alpha_curve_sources(params: Params) -> str:
    alphas = sorted(runs_of(params, "alpha"), key=lambda r: r.alpha)
    seeds = runs_of(params, "seed")
    if alphas:
        parts = ["measured α runs " + ", ".join(f"{_lit(r.name)} (α = {r.alpha:g})" for r in alphas)]
    else:
        parts = ["no α runs (``runs.alpha`` is empty): only the paper's curve is drawn"]
    if len(seeds) >= 2:
        parts.append(f"the band from the {len(seeds)} seed runs ({', '.join(_lit(r.name) for r in seeds)})")
    else:
        parts.append("no band: fewer than two seed runs")
    return "In this run: " + "; ".join(parts) + "."


def _training_curves_sources(params: Params) -> str:
    runs = training_runs(params)
    if not runs:
        return "This run has no main or ablation run: the figure says so and shows nothing else."
    text = "Runs in this run: " + ", ".join(
        _lit(r.name) + ("" if r.group == "main" else f" (ablation, variant {_lit(r.variant)})") for r in runs) + "."
    if not params.train.val_every:
        text += " No val mAP is logged (``train.val_every: 0``): the right panel says so."
    return text


def _qualitative_sources(params: Params) -> str:
    runs = main_runs(params)
    if not runs:
        return "This run has no main run to compare with its backbone: the figure says so and shows nothing else."
    sets = [f"{_lit(r.dataset)} ({_lit(r.name)} against {_lit(paths.backbone_run_name(r.dataset))})" for r in runs]
    return (f"In this run: up to {QUALITATIVE_ROWS} frames from the val set{'s' if len(runs) > 1 else ''} of "
            + ", ".join(sets) + (", alternating sets." if len(runs) > 1 else "."))


@dataclass(frozen=True)
class FigureInfo:
    """One figure of ``results/figures/``: its file name, the function that draws it, its title, the one line
    ``results/tables.md`` lists it with (``summary``), what it shows (``shows``, reStructuredText) and which runs of
    a given ``params`` it draws from (``sources``)."""

    name: str
    draw: Callable[[Inputs, Path], Path]
    title: str
    summary: str
    shows: str
    sources: Callable[[Params], str]

    @property
    def stem(self) -> str:
        return Path(self.name).stem

    def caption(self, params: Params) -> str:
        """The Snakemake report's caption (reStructuredText): what the figure shows, then what it draws from."""
        return f"**{self.title}.** {self.shows}\n\n{self.sources(params)}\n"


FIGURES: tuple[FigureInfo, ...] = (
    FigureInfo(
        "per_joint_ap.png", per_joint_ap, "Per-joint AP",
        "per-joint AP, ours (FaSRnet and the backbone alone) vs the paper's Ours and HRNet rows, main run per dataset",
        "One panel per main dataset: grouped bars over the seven joint columns and mAP (poseval's Total). The "
        "paper's Ours and HRNet rows (Table 1 for syn17 or PoseTrack2017, Table 3 for syn18 or PoseTrack2018; "
        "quoted, hatched) stand beside our FaSRnet run and the frozen backbone alone (measured, solid). On a "
        "synthetic set the absolute values are not comparable with the paper's, the orderings are.",
        _per_joint_ap_sources),
    FigureInfo(
        "alpha_curve.png", alpha_curve, "mAP against α (Table 9)",
        "Table 9: our mAP vs α (left axis) with the paper's (right axis), the seed runs' spread shaded",
        "Our val mAP for each α of Eq. 19 (α·L(H^r) + (1 − α)·L(H^final)) on the left axis, the paper's on "
        "the right axis: two y-axes, because the absolute levels are not comparable and the shapes are. The best "
        "α of each curve is starred. The shaded band is the seed runs' mean ± one sample standard deviation: "
        "differences inside it are seed noise.",
        _alpha_curve_sources),
    FigureInfo(
        "training_curves.png", training_curves, "Training curves",
        "training loss and val mAP per epoch of the main and ablation runs",
        "Left: the training loss (Eq. 19; log scale when every value is positive) per epoch. Right: the val mAP "
        "measured during training per epoch. Main runs solid, ablation runs dashed; from "
        "``models/<run>/train_log.csv``.",
        _training_curves_sources),
    FigureInfo(
        "qualitative.png", qualitative, "Qualitative frames",
        "degraded val frames: ground truth, the backbone alone and FaSRnet",
        "Like the paper's Figs. 4–6, each row is one degraded val frame (a degradation episode of the synthetic "
        "set's ``meta.json``; on real data any labeled frame), cropped to the degraded person(s): the ground truth, "
        "the backbone alone and FaSRnet drawn as skeletons (left limbs blue, right orange; the degraded person "
        "bold), PCKh\\@0.5 of the degraded person(s) in each title. Frames are chosen by how much the two "
        "predictions differ, not by which one is right: the most different first, one per video and per episode "
        "first.",
        _qualitative_sources),
)
FIGURE_NAMES: tuple[str, ...] = tuple(f.name for f in FIGURES)
