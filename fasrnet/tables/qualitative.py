"""``qualitative.png``, like the paper's Figs. 4–6: degraded val frames where the backbone alone and FaSRnet differ
most, each drawn as ground truth, backbone alone and FaSRnet (:func:`qualitative`). :func:`candidates` finds the
frames of one dataset (a degradation episode of the synthetic set's ``meta.json``; on real data any labeled frame),
:func:`select_panels` picks the rows; persons are matched by PCKh (:func:`pckh`, poseval's head size).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fasrnet import paths
from fasrnet.data.posetrack import Person, Video, read_video
from fasrnet.keypoints import HEAD_FACTOR, POSEVAL_JOINTS, SKELETON
from fasrnet.tables.canvas import new_figure, placeholder, save
from fasrnet.tables.inputs import Inputs, main_runs

if TYPE_CHECKING:
    from matplotlib.axes import Axes

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


def _targets(frame: Any, episodes: list[dict[str, Any]] | None) -> tuple[list[int], str, tuple[int, ...]] | None:
    """A labeled frame's degraded persons with a readable skeleton (indices), what degrades them, and the start
    frames of the episodes covering it; None when there is no such person (without ``meta.json``: everyone)."""
    t = frame.index
    if episodes is None:
        targets, label, episode = list(range(len(frame.persons))), "labeled frame (no meta.json)", (t,)
    else:
        eps = [e for e in episodes if e["start"] <= t < e["stop"]]
        if not eps:
            return None
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
    return (targets, label, episode) if targets else None


def _difference(gt: list[Person], targets: list[int], mm: list[Person | None],
                mb: list[Person | None]) -> float | None:
    """The largest head-normalised mean distance between the two predictions of a target person (None: no target
    has both)."""
    diffs = []
    for i in targets:
        g = gt[i]
        if mm[i] is None or mb[i] is None:
            continue
        has = g.present[EVAL_SLOTS]
        d = np.linalg.norm(mm[i].keypoints[EVAL_SLOTS, :2] - mb[i].keypoints[EVAL_SLOTS, :2], axis=1)
        diffs.append(float(d[has].mean()) / head_size(g))
    return max(diffs) if diffs else None


def _video_panels(inputs: Inputs, dataset: str, gt_video: Video, pm: dict[int, Any], pb: dict[int, Any],
                  episodes: list[dict[str, Any]] | None) -> list[Panel]:
    """The candidate panels of one val video: FaSRnet's frames ``pm`` and the backbone's ``pb`` by index."""
    out: list[Panel] = []
    for frame in gt_video.frames:
        if not frame.is_labeled or not frame.persons:
            continue
        found = _targets(frame, episodes)
        if found is None:
            continue
        targets, label, episode = found
        t = frame.index
        preds_m = pm[t].persons if t in pm else []
        preds_b = pb[t].persons if t in pb else []
        mm = [match(g, preds_m)[0] for g in frame.persons]
        mb = [match(g, preds_b)[0] for g in frame.persons]
        score = _difference(frame.persons, targets, mm, mb)
        if score is None:
            continue
        image = inputs.root / paths.dataset_dir(inputs.params, dataset) / frame.image
        out.append(Panel(dataset, gt_video.name, t, image, frame.persons, targets, mb, mm, label, score, episode))
    return out


def candidates(inputs: Inputs, dataset: str, main_run: str) -> list[Panel]:
    """Every degraded labeled val frame of ``dataset`` where ``main_run`` and the backbone alone both predict a
    degraded person (none without the val annotations and both runs' val predictions)."""
    root = inputs.root
    gt_dir = root / paths.annotations_dir(inputs.params, dataset, "val")
    pm_dir = root / paths.predictions_dir(main_run, "val")
    pb_dir = root / paths.predictions_dir(paths.backbone_run_name(dataset), "val")
    if not (gt_dir.is_dir() and pm_dir.is_dir() and pb_dir.is_dir()):
        return []
    meta_path = root / paths.dataset_dir(inputs.params, dataset) / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else None
    out: list[Panel] = []
    for gt_file in sorted(gt_dir.glob("*.json")):
        if not ((pm_dir / gt_file.name).is_file() and (pb_dir / gt_file.name).is_file()):
            continue
        gt_video = read_video(gt_file)
        pm = _frames_by_index(read_video(pm_dir / gt_file.name))
        pb = _frames_by_index(read_video(pb_dir / gt_file.name))
        out += _video_panels(inputs, dataset, gt_video, pm, pb, _episodes(meta, gt_video.name))
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


def qualitative(inputs: Inputs, path: Path, rows: int = QUALITATIVE_ROWS) -> Path:
    import cv2

    per_dataset = [candidates(inputs, r.dataset, r.name) for r in main_runs(inputs.params)]
    panels = select_panels(per_dataset, rows)
    if not panels:
        return placeholder(path, "Qualitative frames", "no val predictions to compare: needs results/predictions/"
                            "<main run>/val, results/predictions/backbone_<dataset>/val and the val annotations")
    fig = new_figure(10, 3.3 * len(panels))
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
    return save(fig, path)
