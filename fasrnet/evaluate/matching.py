"""Frame clean-up, ignore regions and the PCKh matching of poseval (``docs/metric.md``, §4–§6),
vectorised over frames.

All persons of all evaluated frames of all sequences live in two tables (GT and predictions), rows in frame
order. Frames with the same numbers of predictions P and GT persons G are matched together as one
(F, P, G, 15) batch. The result is, per prediction row, the label of each of its joints (1 = true positive),
in exactly the order poseval emits its (score, label) pairs: frames in order, predictions in file order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from fasrnet.errors import InputFormatError
from fasrnet.evaluate.posefile import N_JOINTS, PoseFile, primary_joints
from fasrnet.keypoints import HEAD_FACTOR  # head size = HEAD_FACTOR × the head box diagonal

#: PCKh threshold (inclusive): a joint is correct if its distance is at most half the head size.
DIST_THRESH = 0.5
#: Distances this close to the threshold are recomputed exactly as poseval computes them (np.linalg.norm),
#: so that the match decision is bit-identical even where a vectorised formula could differ in the last ulp.
_NEAR = 1e-9
#: Cap on the elements of one (F, P, G, 15) batch.
_BATCH_ELEMENTS = 1 << 21


@dataclass
class _Table:
    """Persons of all evaluated frames of all sequences (GT or predictions)."""

    frame: np.ndarray  # (N,) global evaluated-frame index, non-decreasing
    xy: np.ndarray  # (N, 15, 2)
    has: np.ndarray  # (N, 15)
    score: np.ndarray  # (N, 15)
    head: np.ndarray  # (N, 4)
    head_ok: np.ndarray  # (N,)
    has_points: np.ndarray  # (N,)
    has_tid: np.ndarray  # (N,)
    file: np.ndarray  # (N,) index of the PoseFile
    row: np.ndarray  # (N,) row in that file's Persons
    extra: dict[int, np.ndarray]  # global row → full point list

    def take(self, keep: np.ndarray) -> _Table:
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep
        out = _Table(self.frame[idx], self.xy[idx], self.has[idx], self.score[idx], self.head[idx],
                     self.head_ok[idx], self.has_points[idx], self.has_tid[idx], self.file[idx], self.row[idx], {})
        if self.extra:
            new = {int(old): i for i, old in enumerate(idx.tolist())}
            out.extra = {new[k]: v for k, v in self.extra.items() if k in new}
        return out


@dataclass
class Matched:
    """What the AP needs: per prediction row its joints' presence, scores and labels; per sequence the
    number of GT joints; per sequence the number of evaluated frames."""

    seq_names: list[str]
    n_eval_frames: np.ndarray  # (S,)
    pred_seq: np.ndarray  # (NP,) sequence of each prediction row (non-decreasing)
    pred_has: np.ndarray  # (NP, 15)
    pred_score: np.ndarray  # (NP, 15)
    pred_label: np.ndarray  # (NP, 15) bool
    n_gt: np.ndarray  # (S, 15) int64: GT joints per sequence (after ignore regions)

    def pairs(self, joint: int, seq: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The (scores, labels) pairs of one joint, in poseval's order (all sequences, or one)."""
        if seq is None:
            lo, hi = 0, len(self.pred_seq)
        else:
            lo, hi = np.searchsorted(self.pred_seq, [seq, seq + 1])
        has = self.pred_has[lo:hi, joint]
        return self.pred_score[lo:hi, joint][has], self.pred_label[lo:hi, joint][has]


def match_sequences(seqs: list[tuple[str, PoseFile, PoseFile]]) -> Matched:
    """Run poseval's frame selection, clean-up, ignore regions and matching over all sequences."""
    files: list[PoseFile] = []
    gt_parts, pr_parts = [], []
    n_eval = np.zeros(len(seqs), np.int64)
    frame_seq_parts = []
    regions: dict[int, tuple[PoseFile, list[tuple[np.ndarray, str]]]] = {}
    offset = 0
    for s, (_name, gt, pred) in enumerate(seqs):
        if pred.n_frames != gt.n_frames:
            raise InputFormatError(pred.path, "", f"{pred.n_frames} frames, but the ground truth has {gt.n_frames}")
        ev = np.flatnonzero(gt.n_rects > 0)
        glob = np.full(gt.n_frames, -1, np.int64)
        glob[ev] = offset + np.arange(len(ev))
        n_eval[s] = len(ev)
        frame_seq_parts.append(np.full(len(ev), s, np.int64))
        for role, pf, parts in (("gt", gt, gt_parts), ("pred", pred, pr_parts)):
            files.append(pf)
            parts.append((pf, len(files) - 1, glob))
        for f, polys in gt.regions.items():
            if glob[f] >= 0:
                regions[int(glob[f])] = (gt, polys)
        offset += len(ev)
    n_frames = offset
    frame_seq = np.concatenate(frame_seq_parts) if frame_seq_parts else np.zeros(0, np.int64)

    gt = _concat(gt_parts)
    pr = _concat(pr_parts)
    # docs/metric.md, §4 step 2: persons without annopoints[0].point are dropped (2017 only), GT and predictions alike.
    if not gt.has_points.all():
        gt = gt.take(gt.has_points)
    if not pr.has_points.all():
        pr = pr.take(pr.has_points)
    # docs/metric.md, §5: ignore regions of the GT frame remove joints (strictly inside) and then emptied persons.
    if regions:
        polys, poly_frame = _polygons(regions)
        gt = _apply_ignore(gt, polys, poly_frame, n_frames)
        pr = _apply_ignore(pr, polys, poly_frame, n_frames)

    n_g = np.bincount(gt.frame, minlength=n_frames)
    n_p = np.bincount(pr.frame, minlength=n_frames)
    both = (n_g > 0) & (n_p > 0)
    _check_needed_fields(gt, pr, both, files)

    label = np.zeros(pr.has.shape, bool)
    _match_all(gt, pr, n_g, n_p, both, label)

    gt_seq = frame_seq[gt.frame]
    n_gt = np.zeros((len(seqs), N_JOINTS), np.int64)
    np.add.at(n_gt, gt_seq, gt.has.astype(np.int64))
    return Matched(
        seq_names=[name for name, _, _ in seqs], n_eval_frames=n_eval, pred_seq=frame_seq[pr.frame],
        pred_has=pr.has, pred_score=pr.score, pred_label=label & pr.has, n_gt=n_gt,
    )


def _concat(parts: list[tuple[PoseFile, int, np.ndarray]]) -> _Table:
    fields = {k: [] for k in ("frame", "xy", "has", "score", "head", "head_ok", "has_points", "has_tid", "file", "row")}
    extra: dict[int, np.ndarray] = {}
    n = 0
    for pf, file_index, glob in parts:
        p = pf.persons
        m = len(p)
        frame = glob[p.frame]
        if (frame < 0).any():
            raise AssertionError("persons of frames that are not evaluated were loaded")
        fields["frame"].append(frame)
        fields["xy"].append(p.xy)
        fields["has"].append(p.has)
        fields["score"].append(p.score)
        fields["head"].append(p.head)
        fields["head_ok"].append(p.head_ok)
        fields["has_points"].append(p.has_points)
        fields["has_tid"].append(p.has_tid)
        fields["file"].append(np.full(m, file_index, np.int64))
        fields["row"].append(np.arange(m, dtype=np.int64))
        for k, v in p.extra.items():
            extra[n + k] = v
        n += m
    empty = {"frame": np.zeros(0, np.int64), "xy": np.zeros((0, N_JOINTS, 2)), "has": np.zeros((0, N_JOINTS), bool),
             "score": np.zeros((0, N_JOINTS)), "head": np.zeros((0, 4)), "head_ok": np.zeros(0, bool),
             "has_points": np.zeros(0, bool), "has_tid": np.zeros(0, bool), "file": np.zeros(0, np.int64),
             "row": np.zeros(0, np.int64)}
    arrays = {k: (np.concatenate(v) if v else empty[k]) for k, v in fields.items()}
    return _Table(**arrays, extra=extra)


# --------------------------------------------------------------------------------------------------------------
# Ignore regions


def _polygons(regions: dict[int, tuple[PoseFile, list[tuple[np.ndarray, str]]]]):
    polys, poly_frame = [], []
    for frame in sorted(regions):
        pf, lst = regions[frame]
        for coords, where in lst:
            try:
                poly = shapely.Polygon(coords)  # as poseval builds it (an empty vertex list: an empty polygon)
            except (ValueError, shapely.errors.ShapelyError) as exc:
                raise pf.fail(where, f"not a polygon ({len(coords)} vertices): {exc}") from None
            polys.append(poly)
            poly_frame.append(frame)
    polys_arr = np.empty(len(polys), dtype=object)
    polys_arr[:] = polys
    shapely.prepare(polys_arr)
    return polys_arr, np.asarray(poly_frame, np.int64)


def _apply_ignore(t: _Table, polys: np.ndarray, poly_frame: np.ndarray, n_frames: int) -> _Table:
    """Delete the joints strictly inside a region of their frame; then the persons left without points."""
    n_poly = np.bincount(poly_frame, minlength=n_frames)
    poly_start = np.concatenate([[0], np.cumsum(n_poly)])
    in_region = n_poly[t.frame] > 0
    if not in_region.any():
        return t
    plain = in_region.copy()
    if t.extra:
        plain[list(t.extra)] = False
    has = t.has.copy()
    rows, joints = np.nonzero(has & plain[:, None])
    if len(rows):
        frames = t.frame[rows]
        counts = n_poly[frames]
        point = np.repeat(np.arange(len(rows)), counts)
        first = np.repeat(poly_start[frames], counts)
        within = np.arange(len(point)) - np.repeat(np.cumsum(counts) - counts, counts)
        xy = t.xy[rows, joints]
        inside = shapely.contains_xy(polys[first + within], xy[point, 0], xy[point, 1])
        hit = np.bincount(point, weights=inside, minlength=len(rows)) > 0
        has[rows[hit], joints[hit]] = False
    keep = ~(plain & ~has.any(axis=1))
    t = _Table(t.frame, t.xy, has, t.score, t.head, t.head_ok, t.has_points, t.has_tid, t.file, t.row, dict(t.extra))
    for row, pts in list(t.extra.items()):
        if not in_region[row]:
            continue
        frame = int(t.frame[row])
        frame_polys = polys[poly_start[frame]:poly_start[frame + 1]]
        out = np.zeros(len(pts), bool)
        for poly in frame_polys:
            out |= shapely.contains_xy(poly, pts[:, 1], pts[:, 2])
        pts = pts[~out]
        if len(pts) == 0:
            keep[row] = False
            continue
        xy, h, sc, _ = primary_joints(pts.tolist())
        t.xy[row], t.has[row], t.score[row] = xy, h, sc
        t.extra[row] = pts
    return t if keep.all() else t.take(keep)


# --------------------------------------------------------------------------------------------------------------
# Fields poseval needs only where GT meets predictions


def _check_needed_fields(gt: _Table, pr: _Table, both: np.ndarray, files: list[PoseFile]) -> None:
    in_both = both[gt.frame]
    bad = np.flatnonzero(in_both & ~gt.head_ok)
    if len(bad):
        row = int(bad[0])
        pf = files[gt.file[row]]
        prow = int(gt.row[row])
        where = pf.person_where(prow)
        field, msg = pf.persons.head_problem.get(prow, (f"{where}.bbox_head" if pf.fmt == 18 else
                                                        f"{where}.x1" if pf.fmt == 17 else f"{where}.head_box",
                                                        "missing"))
        raise pf.fail(field, f"{msg}: poseval needs the GT head box in every frame with both ground truth and "
                             f"predictions (frame {pf.frame_name[int(pf.persons.frame[prow])]!r})")
    # 2017 persons without track_id: poseval's AP code indexes a list of the frame's track ids by person index.
    for t in (gt, pr):
        missing = np.flatnonzero(~t.has_tid & both[t.frame])
        for frame in np.unique(t.frame[missing]).tolist():
            rows = np.arange(*np.searchsorted(t.frame, [frame, frame + 1]))
            with_joint = rows[t.has[rows].any(axis=1)]
            if len(with_joint) and int(with_joint[-1] - rows[0]) >= int(t.has_tid[rows].sum()):
                row = int(rows[~t.has_tid[rows]][0])
                pf = files[t.file[row]]
                prow = int(t.row[row])
                raise pf.fail(f"{pf.person_where(prow)}.track_id",
                              "missing: poseval needs a track_id on every person of a frame with both ground "
                              "truth and predictions, even for AP")


# --------------------------------------------------------------------------------------------------------------
# Matching (docs/metric.md, §6)


def head_sizes(head: np.ndarray) -> np.ndarray:
    """0.6 × the head box diagonal for (N, 4) boxes (x1, y1, x2, y2)."""
    dx = head[:, 2] - head[:, 0]
    dy = head[:, 3] - head[:, 1]
    return HEAD_FACTOR * np.sqrt(dx * dx + dy * dy)


def exact_distance(gx: float, gy: float, px: float, py: float, head: np.ndarray) -> float:
    """poseval's own expression for one normalised distance (np.linalg.norm, whose BLAS dot may round
    differently from a vectorised formula in the last ulp)."""
    x1, y1, x2, y2 = (float(v) for v in head)
    head_size = HEAD_FACTOR * np.linalg.norm(np.subtract([x2, y2], [x1, y1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.linalg.norm(np.subtract([gx, gy], [px, py])) / head_size)


def _match_all(gt: _Table, pr: _Table, n_g: np.ndarray, n_p: np.ndarray, both: np.ndarray, label: np.ndarray) -> None:
    frames = np.flatnonzero(both)
    if not len(frames):
        return
    g_start = np.concatenate([[0], np.cumsum(n_g)])[:-1]
    p_start = np.concatenate([[0], np.cumsum(n_p)])[:-1]
    size = head_sizes(gt.head)
    big = int(n_g.max()) + 1
    keys = n_p[frames].astype(np.int64) * big + n_g[frames]
    order = np.argsort(keys, kind="stable")
    bounds = np.flatnonzero(np.diff(keys[order])) + 1
    for grp in np.split(order, bounds):
        fr = frames[grp]
        n_pred, n_gt = int(n_p[fr[0]]), int(n_g[fr[0]])
        step = max(1, _BATCH_ELEMENTS // (n_pred * n_gt * N_JOINTS))
        for lo in range(0, len(fr), step):
            sub = fr[lo:lo + step]
            gi = g_start[sub][:, None] + np.arange(n_gt)
            pi = p_start[sub][:, None] + np.arange(n_pred)
            label[pi] = _match_batch(gt, pr, gi, pi, size)


def _match_batch(gt: _Table, pr: _Table, gi: np.ndarray, pi: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Labels (F, P, 15) for F frames with P predictions (rows ``pi``) and G GT persons (rows ``gi``) each."""
    n_f, n_gt = gi.shape
    n_pred = pi.shape[1]
    gxy, ghas = gt.xy[gi], gt.has[gi]  # (F, G, 15, 2), (F, G, 15)
    pxy, phas = pr.xy[pi], pr.has[pi]  # (F, P, 15, 2), (F, P, 15)
    dx = pxy[:, :, None, :, 0] - gxy[:, None, :, :, 0]  # (F, P, G, 15)
    dy = pxy[:, :, None, :, 1] - gxy[:, None, :, :, 1]
    valid = phas[:, :, None, :] & ghas[:, None, :, :]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        dist = np.sqrt(dx * dx + dy * dy) / size[gi][:, None, :, None]
        match = valid & (dist <= DIST_THRESH)
        near = valid & (np.abs(dist - DIST_THRESH) <= _NEAR)
    if near.any():
        for f, p, g, j in zip(*np.nonzero(near)):
            grow, prow = gi[f, g], pi[f, p]
            d = exact_distance(gt.xy[grow, j, 0], gt.xy[grow, j, 1], pr.xy[prow, j, 0], pr.xy[prow, j, 1],
                               gt.head[grow])
            match[f, p, g, j] = d <= DIST_THRESH
    # PCKh of each (prediction, GT) pair: matched joints / annotated joints of the GT person (0 if none).
    n_annot = ghas.sum(axis=2)  # (F, G)
    pck = match.sum(axis=3).astype(np.float64)  # (F, P, G)
    pck = np.where(n_annot[:, None, :] > 0, pck / np.maximum(n_annot, 1)[:, None, :], pck)
    # Step A: each prediction keeps only its best GT (lowest index on ties).
    best = pck.argmax(axis=2)  # (F, P)
    pck = np.where(np.arange(n_gt)[None, None, :] == best[:, :, None], pck, 0.0)
    # Step B: each GT takes the prediction with the highest remaining PCKh (lowest index on ties); 0 → none.
    pick = pck.argmax(axis=1)  # (F, G)
    picked = pck.max(axis=1) > 0
    gt_of = np.full((n_f, n_pred), -1, np.int64)
    f_idx, g_idx = np.nonzero(picked)
    gt_of[f_idx, pick[f_idx, g_idx]] = g_idx
    labels = np.zeros((n_f, n_pred, N_JOINTS), bool)
    f_idx, p_idx = np.nonzero(gt_of >= 0)
    labels[f_idx, p_idx] = match[f_idx, p_idx, gt_of[f_idx, p_idx]]
    return labels & phas
