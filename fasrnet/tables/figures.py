"""The figures beside ``results/tables.md`` (matplotlib, Agg canvas, no pyplot state). :data:`FIGURES` lists
them: per figure its file, its drawing function, the one line ``results/tables.md`` lists it with, and what it
shows (the Snakemake report's caption, with :meth:`FigureInfo.drawn_from` naming the runs it draws from;
docs/report.md). In short:

- ``per_joint_ap.png`` — per main dataset, the paper's Ours and HRNet rows beside our FaSRnet and backbone rows;
- ``alpha_curve.png`` — Table 9: mAP vs α, ours and the paper's on two y-axes, the seed runs' spread shaded;
- ``training_curves.png`` — training loss and val mAP per epoch of the main and ablation runs;
- ``qualitative.png`` — like the paper's Figs. 4–6: degraded val frames where the two predictions differ most.

A figure whose inputs are missing is still written, saying what is missing. PNGs carry no software/date
metadata, so the same inputs give the same bytes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from fasrnet import paths
from fasrnet.data.posetrack import Person, Video, read_video
from fasrnet.io import atomic_path
from fasrnet.keypoints import HEAD_FACTOR, POSEVAL_JOINTS, SKELETON
from fasrnet.params import Params
from fasrnet.tables.build import (COLUMNS, FAMILY, PAPER_DATASET, Builder, Resolved, main_runs, runs_of,
                                  seed_stats)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
#: The 17-slot indices of poseval's 15 evaluated joints.
EVAL_SLOTS = np.array([slot for _, slot in POSEVAL_JOINTS])
#: Left / right limbs for colouring (slots 5, 7, 9, 11, 13, 15 are left).
_LEFT = {5, 7, 9, 11, 13, 15}
_RIGHT = {6, 8, 10, 12, 14, 16}
PCKH_THRESHOLD = 0.5
#: A degraded person is shown only with at least this many annotated joints (a readable skeleton).
MIN_TARGET_JOINTS = 6
#: How many frames (rows) ``qualitative.png`` shows at most.
QUALITATIVE_ROWS = 4


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    return path


def _placeholder(path: Path, title: str, message: str) -> Path:
    fig = _figure(8, 3)
    ax = fig.add_subplot()
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=10, transform=ax.transAxes)
    return _save(fig, path)


def make_figures(params: Params, root: str | Path = ".", out_dir: str | Path = paths.FIGURES) -> list[Path]:
    """Write the four figures into ``out_dir``; inputs are read under ``root``. Returns the paths."""
    out = Path(out_dir)
    b = Builder(params, root)
    return [f.draw(b, out / f.name) for f in FIGURES]


# ----------------------------------------------------------------------------------------------------------
# Per-joint AP


def per_joint_ap(b: Builder, path: Path) -> Path:
    runs = main_runs(b.params)
    if not runs:
        return _placeholder(path, "Per-joint AP", "no main run on syn17/syn18/posetrack17/posetrack18 in params.yaml")
    fig = _figure(11, 3.6 * len(runs))
    x = np.arange(len(COLUMNS))
    for i, r in enumerate(runs):
        ax = fig.add_subplot(len(runs), 1, i + 1)
        table = "table1" if FAMILY[r.dataset] == "17" else "table3"
        own, comp = b.lit.own_row(table), b.lit.compare_row(table)
        m, bb = b.inputs.run(r.name), b.inputs.backbone(r.dataset)
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
        ax.set_title(f"{r.dataset} val (measured) beside {PAPER_DATASET[FAMILY[r.dataset]]} val (paper Table "
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
    return _save(fig, path)


# ----------------------------------------------------------------------------------------------------------
# Alpha curve


def alpha_curve(b: Builder, path: Path) -> Path:
    tab = b.lit.tables["table9"]
    paper = sorted((float(a), float(v)) for a, v in tab["values"].items())
    ours = [(a, m.mAP) for a, m in b.alpha_results() if m.mAP is not None]
    fig = _figure(8, 4.5)
    ax = fig.add_subplot()
    ax2 = ax.twinx()
    handles = []
    if ours:
        xs, ys = zip(*ours)
        handles += ax.plot(xs, ys, "o-", color="#08519c", label="measured mAP (left axis)")
        best = max(ours, key=lambda t: t[1])
        ax.plot([best[0]], [best[1]], marker="*", markersize=16, color="#08519c", linestyle="none")
        seeds = [m.mAP for m in b.seed_results if m.mAP is not None]
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
    return _save(fig, path)


# ----------------------------------------------------------------------------------------------------------
# Training curves


def training_runs(params: Params) -> list[Resolved]:
    """The runs whose training logs ``training_curves.png`` draws: the main runs, then the ablation runs."""
    return runs_of(params, "main") + runs_of(params, "ablation")


def training_curves(b: Builder, path: Path) -> Path:
    logs = [(r, b.inputs.train_log(r.name)) for r in training_runs(b.params)]
    logs = [(r, log) for r, log in logs if log]
    if not logs:
        return _placeholder(path, "Training curves", "no models/<run>/train_log.csv for the main or ablation runs")
    fig = _figure(12, 4.5)
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
    return _save(fig, path)


# ----------------------------------------------------------------------------------------------------------
# Qualitative frames


def head_size(p: Person) -> float:
    """poseval's head size (0.6 × head-box diagonal); without a head box, a fifth of the pose's extent."""
    if p.head_box is not None:
        x1, y1, x2, y2 = p.head_box
        hs = HEAD_FACTOR * math.hypot(x2 - x1, y2 - y1)
        if hs > 0:
            return hs
    pts = p.keypoints[p.present, :2]
    if len(pts) < 2:
        return 10.0
    return max(1.0, 0.2 * float(np.hypot(*(pts.max(0) - pts.min(0)))))


def pckh(gt: Person, pred: Person) -> tuple[float, float] | None:
    """(PCKh@0.5 over the GT person's evaluated joints, mean normalised distance); None without GT joints."""
    has = gt.present[EVAL_SLOTS]
    if not has.any():
        return None
    d = np.linalg.norm(gt.keypoints[EVAL_SLOTS, :2] - pred.keypoints[EVAL_SLOTS, :2], axis=1) / head_size(gt)
    ok = (d <= PCKH_THRESHOLD) & pred.present[EVAL_SLOTS]
    d = np.where(pred.present[EVAL_SLOTS], d, 10.0)
    return float(ok[has].mean()), float(d[has].mean())


def match(gt: Person, preds: list[Person]) -> tuple[Person | None, float]:
    """The prediction with the best PCKh (ties: the smaller mean distance) for ``gt``, and that PCKh."""
    best, key = None, (-1.0, 0.0)
    for p in preds:
        r = pckh(gt, p)
        if r is not None and (r[0], -r[1]) > key:
            best, key = p, (r[0], -r[1])
    return best, max(key[0], 0.0)


@dataclass
class Panel:
    dataset: str
    video: str
    frame_index: int
    image: Path
    gt: list[Person]
    targets: list[int]  # indices into gt
    backbone: list[Person | None]  # matched per gt person
    fasrnet: list[Person | None]
    label: str
    score: float  # how much the two predictions differ on the targets (head-normalised distance)
    episode: tuple[int, ...] = ()  # start frames of the episodes shown (frames of one episode count once)

    def target_pckh(self, which: list[Person | None]) -> float | None:
        vals = []
        for i in self.targets:
            p = which[i]
            r = None if p is None else pckh(self.gt[i], p)
            vals.append(0.0 if p is None else (None if r is None else r[0]))  # no prediction: every joint missed
        kept = [v for v in vals if v is not None]
        return float(np.mean(kept)) if kept else None


def _frames_by_index(video: Video | None) -> dict[int, Any]:
    return {} if video is None else {f.index: f for f in video.frames}


def _episodes(meta: dict[str, Any] | None, video: str) -> list[dict[str, Any]] | None:
    if meta is None:
        return None
    for v in meta.get("splits", {}).get("val", []):
        if v.get("name") == video:
            return v.get("episodes", [])
    return []


def _candidates(b: Builder, dataset: str, main_run: str) -> list[Panel]:
    root = b.inputs.root
    gt_dir = root / paths.annotations_dir(b.params, dataset, "val")
    pm_dir = root / paths.predictions_dir(main_run, "val")
    pb_dir = root / paths.predictions_dir(paths.backbone_run_name(dataset), "val")
    if not (gt_dir.is_dir() and pm_dir.is_dir() and pb_dir.is_dir()):
        return []
    meta_path = root / paths.dataset_dir(b.params, dataset) / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else None
    out: list[Panel] = []
    for gt_file in sorted(gt_dir.glob("*.json")):
        if not ((pm_dir / gt_file.name).is_file() and (pb_dir / gt_file.name).is_file()):
            continue
        gt_video = read_video(gt_file)
        pm = _frames_by_index(read_video(pm_dir / gt_file.name))
        pb = _frames_by_index(read_video(pb_dir / gt_file.name))
        episodes = _episodes(meta, gt_video.name)
        for frame in gt_video.frames:
            if not frame.is_labeled or not frame.persons:
                continue
            t = frame.index
            if episodes is None:
                targets = list(range(len(frame.persons)))
                label = "labeled frame (no meta.json)"
                episode: tuple[int, ...] = (t,)
            else:
                eps = [e for e in episodes if e["start"] <= t < e["stop"]]
                if not eps:
                    continue
                episode = tuple(sorted(e["start"] for e in eps))
                targets = []
                kinds = []
                for e in eps:
                    if e["target"] == "frame":
                        targets += list(range(len(frame.persons)))
                        kinds.append(f"{e['kind']} (whole frame)")
                    else:
                        hit = [i for i, p in enumerate(frame.persons) if p.track_id == int(e["target"])]
                        targets += hit
                        if hit:
                            kinds.append(f"{e['kind']} (track {e['target']})")
                targets = sorted(set(targets))
                label = ", ".join(kinds)
            targets = [i for i in targets if frame.persons[i].present[EVAL_SLOTS].sum() >= MIN_TARGET_JOINTS]
            if not targets:
                continue
            preds_m = pm[t].persons if t in pm else []
            preds_b = pb[t].persons if t in pb else []
            mm = [match(g, preds_m)[0] for g in frame.persons]
            mb = [match(g, preds_b)[0] for g in frame.persons]
            diffs = []
            for i in targets:
                g = frame.persons[i]
                if mm[i] is None or mb[i] is None:
                    continue
                has = g.present[EVAL_SLOTS]
                d = np.linalg.norm(mm[i].keypoints[EVAL_SLOTS, :2] - mb[i].keypoints[EVAL_SLOTS, :2], axis=1)
                diffs.append(float(d[has].mean()) / head_size(g))
            if not diffs:
                continue
            out.append(Panel(dataset, gt_video.name, t,
                             root / paths.dataset_dir(b.params, dataset) / frame.image,
                             frame.persons, targets, mb, mm, label, max(diffs), episode))
    return out


def select_panels(per_dataset: list[list[Panel]], rows: int = 4) -> list[Panel]:
    """Most-different frames first, alternating datasets; one frame per video before a second one, one per
    degradation episode before a second one."""
    queues = [sorted(c, key=lambda p: (-p.score, p.video, p.frame_index)) for c in per_dataset if c]
    picked: list[Panel] = []
    keys = (lambda p: (p.dataset, p.video), lambda p: (p.dataset, p.video, p.episode), lambda p: id(p))
    for key in keys:
        progress = True
        while len(picked) < rows and progress:
            progress = False
            for q in queues:
                if len(picked) >= rows:
                    break
                used = {key(p) for p in picked}
                for p in q:
                    if any(p is u for u in picked) or key(p) in used:
                        continue
                    picked.append(p)
                    progress = True
                    break
    return picked


def _draw(ax: Axes, person: Person, thick: bool) -> None:
    kp, pr = person.keypoints, person.present
    lw = 2.0 if thick else 1.0
    for a, c in SKELETON:
        if pr[a] and pr[c]:
            color = "#1f77ff" if {a, c} <= _LEFT else ("#ff7f0e" if {a, c} <= _RIGHT else "#2ca02c")
            ax.plot([kp[a, 0], kp[c, 0]], [kp[a, 1], kp[c, 1]], color=color, linewidth=lw, alpha=0.95 if thick else 0.6)
    slots = [s for s in EVAL_SLOTS if pr[s]]
    ax.scatter(kp[slots, 0], kp[slots, 1], s=9 if thick else 4, c="white", edgecolors="black", linewidths=0.4,
               zorder=3)


def _crop(panel: Panel, shape: tuple[int, int]) -> tuple[float, float, float, float]:
    pts = np.concatenate([panel.gt[i].keypoints[panel.gt[i].present, :2] for i in panel.targets])
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    size = max(x1 - x0, y1 - y0, 48.0)
    margin = 0.35 * size
    h, w = shape
    return max(0.0, x0 - margin), min(w, x1 + margin), max(0.0, y0 - margin), min(h, y1 + margin)


def qualitative(b: Builder, path: Path, rows: int = QUALITATIVE_ROWS) -> Path:
    import cv2

    per_dataset = [_candidates(b, r.dataset, r.name) for r in main_runs(b.params)]
    panels = select_panels(per_dataset, rows)
    if not panels:
        return _placeholder(path, "Qualitative frames", "no val predictions to compare: needs results/predictions/"
                            "<main run>/val, results/predictions/backbone_<dataset>/val and the val annotations")
    fig = _figure(10, 3.3 * len(panels))
    for r, panel in enumerate(panels):
        img = cv2.imread(str(panel.image), cv2.IMREAD_COLOR)
        if img is None:
            img = np.full((240, 320, 3), 128, np.uint8)
        img = img[:, :, ::-1]
        x0, x1, y0, y1 = _crop(panel, img.shape[:2])
        columns = (("ground truth", panel.gt), ("backbone alone", panel.backbone), ("FaSRnet", panel.fasrnet))
        for c, (name, persons) in enumerate(columns):
            ax = fig.add_subplot(len(panels), 3, 3 * r + c + 1)
            ax.imshow(img, interpolation="bilinear")
            for i, p in enumerate(persons):
                if p is not None:
                    _draw(ax, p, i in panel.targets)
            ax.set_xlim(x0, x1)
            ax.set_ylim(y1, y0)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                title = f"{panel.dataset} {panel.video} #{panel.frame_index}\n{panel.label}"
            else:
                v = panel.target_pckh(persons)
                title = f"{name}\nPCKh@0.5 of degraded person(s): " + ("–" if v is None else f"{100 * v:.0f}%")
            ax.set_title(title, fontsize=8)
    fig.suptitle("Degraded val frames where the backbone alone and FaSRnet differ most (not picked by which is "
                 "right)\nbold skeletons: the degraded person(s), predictions matched to each GT person; left limbs "
                 "blue, right orange", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


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
    draw: Callable[[Builder, Path], Path]
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
