"""PoseTrack 2017 (``annolist``) files into :class:`~fasrnet.evaluate.posefile.PoseFile` arrays, as poseval's
loader reads them (``docs/metric.md``, §2): scalars are one-element lists, a joint is the first point with its id
0–14, a person without ``annopoints[0].point`` is dropped by poseval later. Regular files go through one
vectorised pass; anything irregular is read person by person, which also words the error.

The fields poseval does not read but the training reader (``fasrnet/data/posetrack.py``) does have the same form
rules here (``docs/metric.md``, §11): ``image[0].name``, ``is_labeled``, ``is_visible``, person ``score``, the head
box in every file, the ignore regions of every frame, GT point scores. Each costs one pass over what carries it.
"""

from __future__ import annotations

from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from fasrnet.data.jsonpath import kind, nonfinite_error
from fasrnet.evaluate.fields import ABSENT, PosevalReader, file_video, image_video, plain_numbers, same_video
from fasrnet.evaluate.posefile import MAX_TRACK_ID, MIN_SCORE, N_JOINTS, Persons, PoseFile, primary_joints


class Loader2017:
    def __init__(self, obj: dict[str, Any], r: PosevalReader, role: str):
        self.obj, self.r, self.role = obj, r, role

    def run(self, eval_mask: np.ndarray | None) -> PoseFile:
        r, pred = self.r, self.role == "pred"
        annolist = r.list(self.obj["annolist"], "annolist")
        n = len(annolist)
        n_rects = np.zeros(n, np.int64)
        frame_where = [f"annolist[{f}]" for f in range(n)]
        frame_name = []
        rect_lists = []
        for f, fr in enumerate(annolist):
            where = frame_where[f]
            if not isinstance(fr, dict):
                raise r.fail(where, f"expected an object, got {kind(fr)}")
            rects = r.list(r.get(fr, "annorect", where), f"{where}.annorect")
            _check_frame(r, fr, where)
            rect_lists.append(rects)
            n_rects[f] = len(rects)
            frame_name.append(_image_name_2017(fr) or where)
        if eval_mask is None:
            eval_mask = n_rects > 0
        self._check_video(annolist)
        if not _regular_track_ids(rect_lists, n_rects, pred):
            self._check_track_ids(rect_lists, frame_name)
        # Every frame with persons is read, evaluated or not, so that evaluate refuses what `annotations check`
        # refuses (it reads a prediction file without its GT); persons of other frames are dropped after.
        read = np.asarray(eval_mask, bool) | (n_rects > 0)
        rects = [(f, k, rect) for f in np.flatnonzero(read).tolist() for k, rect in enumerate(rect_lists[f])]
        persons = self._fast(rects)
        fallback = 0
        if persons is None:  # irregular somewhere: person by person, which also words any error
            b = _Builder()
            for f, k, rect in rects:
                n_fallback = self._person(b, rect, f, k)
                fallback += n_fallback if eval_mask[f] else 0
            persons = b.build()
        if not np.array_equal(read, eval_mask):
            persons = persons.take(np.flatnonzero(np.asarray(eval_mask, bool)[persons.frame]))
        regions = {}
        for f, fr in enumerate(annolist):  # every frame's, in every file (their form); kept for evaluated GT frames
            polys = self._regions(fr, f)
            if polys and not pred and eval_mask[f]:
                regions[f] = polys
        return PoseFile(self.r.path, 17, n_rects, persons, frame_where, frame_name, regions,
                        n_fallback_scores=fallback if pred else 0)

    def _check_video(self, annolist: list[Any]) -> None:
        """A file named like a PoseTrack video (``000342_mpii_test.json``) holds that video's frames: each frame's
        ``image[0].name`` whose folder names a video must name this one (docs/metric.md, §2)."""
        named = file_video(self.r.path)
        if named is None:
            return
        for f, fr in enumerate(annolist):
            name = _image_name_2017(fr)
            got = image_video(name)
            if got is not None and not same_video(got, named):
                raise self.r.fail(f"annolist[{f}].image[0].name", f"expected a frame of video {named} (the file's "
                                                                  f"name), got {name!r} of video {got}")

    def _check_track_ids(self, rect_lists: list[list[Any]], frame_name: list[str]) -> None:
        """Track ids, read for every frame (poseval's loader does): integers below MAX_TRACK_ID, unique within a
        prediction frame. Every person must be an object."""
        r, pred = self.r, self.role == "pred"
        for f, rects in enumerate(rect_lists):
            tids = []
            for k, rect in enumerate(rects):
                where = f"annolist[{f}].annorect[{k}]"
                if not isinstance(rect, dict):
                    raise r.fail(where, f"expected an object, got {kind(rect)}")
                if "track_id" in rect:
                    tw = f"{where}.track_id"
                    tids.append((r.track_id(r.first(rect["track_id"], tw), tw), tw))
            if pred:
                r.unique_track_ids(tids, frame_name[f])

    def _fast(self, rects: list[tuple[int, int, Any]]) -> Persons | None:
        """All persons at once, for the regular case (every point has one-element id/x/y lists, integer ids, and
        in predictions a score); None if anything is irregular (the caller then goes person by person)."""
        pred = self.role == "pred"
        n = len(rects)
        if n == 0:
            return Persons.empty()
        found = _point_lists(rects)
        if found is None:
            return None
        pts_lists, has_points = found
        counts = np.fromiter(map(len, pts_lists), np.int64, count=n)
        flat = list(chain.from_iterable(pts_lists))
        try:  # each value a one-element list (`for v, in` refuses any other length and bare scalars)
            cols = [[v for v, in map(itemgetter(key), flat)] for key in (("id", "x", "y", "score") if pred else
                                                                         ("id", "x", "y"))]
        except (KeyError, TypeError, ValueError):
            return None
        if not all(plain_numbers(c) for c in cols):  # a boolean, a nested list, null, …: worded person by person
            return None
        if not _regular_extras(flat, rects, pred):
            return None
        ids, xs, ys = (np.array(c) for c in cols[:3])
        ss = np.array(cols[3]) if pred else None
        m = len(flat)
        for arr, kinds in ((ids, "iu"), (xs, "iuf"), (ys, "iuf"), (ss, "iuf")):
            if arr is not None and m and (arr.dtype.kind not in kinds or arr.shape != (m,)):
                return None
        person = np.repeat(np.arange(n), counts)
        starts = np.concatenate([[0], np.cumsum(counts)])
        self._check_points(rects, person, starts, xs, ys, ss)
        ids = ids.astype(np.int64)
        valid = (ids >= 0) & (ids < N_JOINTS)
        key = person * N_JOINTS + ids
        twice = np.bincount(key[valid], minlength=n * N_JOINTS).reshape(n, N_JOINTS) > 1
        irregular = twice.any(axis=1)
        irregular[person[~valid]] = True
        ok = valid & ~irregular[person]
        xs = xs.astype(np.float64)
        ys = ys.astype(np.float64)
        ss = ss.astype(np.float64) if ss is not None else np.full(m, MIN_SCORE)
        out = Persons(
            frame=np.array([f for f, _, _ in rects], np.int64), xy=np.zeros((n, N_JOINTS, 2)),
            has=np.zeros((n, N_JOINTS), bool), score=np.full((n, N_JOINTS), MIN_SCORE), head=np.full((n, 4), np.nan),
            head_ok=np.zeros(n, bool), has_points=has_points,
            has_tid=np.fromiter(("track_id" in rect for _, _, rect in rects), bool, count=n),
            src=np.array([(f, k) for f, k, _ in rects], np.int64).reshape(n, 2),
        )
        out.xy[person[ok], ids[ok], 0] = xs[ok]
        out.xy[person[ok], ids[ok], 1] = ys[ok]
        out.has[person[ok], ids[ok]] = True
        out.score[person[ok], ids[ok]] = ss[ok]
        if irregular.any():
            for row in np.flatnonzero(irregular).tolist():
                sl = slice(starts[row], starts[row + 1])
                pts = [(_joint_id(int(i)), x, y, s) for i, x, y, s in
                       zip(ids[sl].tolist(), xs[sl].tolist(), ys[sl].tolist(), ss[sl].tolist())]
                out.xy[row], out.has[row], out.score[row], _ = primary_joints(pts)
                out.extra[row] = np.asarray(pts, dtype=np.float64).reshape(-1, 4)
        r = self.r
        try:  # the usual GT: every person a head box of one-element lists of numbers
            heads = [[x1, y1, x2, y2] for (x1,), (y1,), (x2,), (y2,) in map(itemgetter(*HEAD_KEYS), (
                rect for _, _, rect in rects))]
            if not plain_numbers(chain.from_iterable(heads)):
                raise TypeError
            head = np.array(heads, dtype=np.float64).reshape(n, 4)
        except (KeyError, TypeError, ValueError):
            head = None
        if head is not None:
            r.check_finite(head, lambda row, c: f"annolist[{rects[row][0]}].annorect[{rects[row][1]}]."
                                                f"{HEAD_KEYS[c]}")
            if not pred:  # a prediction's head box is validated (its form) and never used
                out.head[:] = head
                out.head_ok[:] = True
        else:
            for row, (f, k, rect) in enumerate(rects):
                box, problem = _head_2017(r, rect, f"annolist[{f}].annorect[{k}]")
                if pred:
                    continue
                if box is not None:
                    out.head[row], out.head_ok[row] = box, True
                elif problem is not None:
                    out.head_problem[row] = problem
        return out

    def _check_points(self, rects: list[tuple[int, int, Any]], person: np.ndarray, starts: np.ndarray,
                      xs: np.ndarray, ys: np.ndarray, ss: np.ndarray | None) -> None:
        """Every point's x, y (and score) finite; the first offender in file order (point, then field) is named."""
        cols = [xs, ys] if ss is None else [xs, ys, ss]
        if all(c.dtype.kind in "iu" or np.isfinite(c).all() for c in cols):
            return

        def where(i: int, c: int) -> str:
            f, k, _ = rects[person[i]]
            return f"annolist[{f}].annorect[{k}].annopoints[0].point[{i - starts[person[i]]}].{('x', 'y', 'score')[c]}"

        self.r.check_finite(np.column_stack(cols).astype(np.float64), where)

    def _person(self, b: _Builder, rect: dict[str, Any], f: int, k: int) -> int:
        r, pred = self.r, self.role == "pred"
        where = f"annolist[{f}].annorect[{k}]"
        head, head_problem = _head_2017(r, rect, where)  # validated in every file, used in GT only
        if pred:
            head, head_problem = None, None
        if "score" in rect:  # not used by AP; the training reader reads it (a bare number or a one-element list)
            r.num(r.unwrap(rect["score"], f"{where}.score"), f"{where}.score")
        # rectHasPoints: annopoints is a non-empty list whose first element is a non-empty object with "point".
        ap = rect.get("annopoints", ABSENT)
        has_points = False
        points: list[Any] = []
        if ap is not ABSENT:
            aw = f"{where}.annopoints"
            if not isinstance(ap, list):
                raise r.fail(aw, f"expected a list, got {kind(ap)}")
            if len(ap) > 1:
                raise r.fail(aw, f"expected a one-element list, got {len(ap)} elements")
            if ap:
                if not isinstance(ap[0], dict):
                    raise r.fail(f"{aw}[0]", f"expected an object, got {kind(ap[0])}")
                if ap[0] and "point" in ap[0]:
                    has_points = True
                    points = r.list(ap[0]["point"], f"{aw}[0].point")
        pts = []
        fallback = 0
        for m, p in enumerate(points):
            pw = f"{where}.annopoints[0].point[{m}]"
            if not isinstance(p, dict):
                raise r.fail(pw, f"expected an object, got {kind(p)}")
            try:
                raw_id, raw_x, raw_y = p["id"], p["x"], p["y"]
            except KeyError as exc:
                raise r.fail(f"{pw}.{exc.args[0]}", "missing") from None
            # poseval ignores a point whose id is null, not a number or not integral, and takes true as 1; the
            # training reader refuses them, and so does this loader (docs/metric.md, §11). 3.0 is joint 3.
            v = r.first(raw_id, f"{pw}.id")
            if type(v) is float and not np.isfinite(v):
                raise nonfinite_error(r.path, f"{pw}.id", v)
            if not (type(v) is int or (type(v) is float and v.is_integer())):
                raise r.fail(f"{pw}.id", f"expected an integer joint id, got {kind(v)}")
            jid = _joint_id(v)
            x = r.num(r.first(raw_x, f"{pw}.x"), f"{pw}.x")
            y = r.num(r.first(raw_y, f"{pw}.y"), f"{pw}.y")
            vis = p.get("is_visible")
            if vis is not None:  # not used by AP; the training reader reads it (a number, bare or in a list)
                r.num(r.unwrap(vis, f"{pw}.is_visible"), f"{pw}.is_visible")
            score = r.num(r.first(p["score"], f"{pw}.score"), f"{pw}.score") if "score" in p else None
            if pred and score is not None:
                s = score
            else:
                s = MIN_SCORE
                fallback += pred and 0 <= jid
            pts.append((jid, x, y, s))
        b.add(f, pts, head, head_problem, has_points, "track_id" in rect, f, k)
        return fallback

    def _regions(self, fr: dict[str, Any], f: int) -> list[tuple[np.ndarray, str]]:
        r = self.r
        raw = fr.get("ignore_regions", ABSENT)
        if raw is ABSENT:
            return []
        where = f"annolist[{f}].ignore_regions"
        out = []
        for m, region in enumerate(r.list(raw, where)):
            rw = f"{where}[{m}]"
            pts = r.list(r.get(region, "point", rw), f"{rw}.point")
            arr = np.empty((len(pts), 2))
            for q, p in enumerate(pts):
                pw = f"{rw}.point[{q}]"
                arr[q, 0] = r.num(r.first(r.get(p, "x", pw), f"{pw}.x"), f"{pw}.x")
                arr[q, 1] = r.num(r.first(r.get(p, "y", pw), f"{pw}.y"), f"{pw}.y")
            out.append((arr, rw))
        return out


def _point_lists(rects: list[tuple[int, int, Any]]) -> tuple[list[Any], np.ndarray] | None:
    """Each person's ``annopoints[0].point`` list (``()`` where poseval finds no points) and whether it has one;
    None if some person's ``annopoints`` is irregular (the caller then goes person by person)."""
    aps = [rect.get("annopoints", ABSENT) for _, _, rect in rects]
    if all(type(ap) is list and len(ap) == 1 and type(ap[0]) is dict and type(ap[0].get("point")) is list
           for ap in aps):
        return [ap[0]["point"] for ap in aps], np.ones(len(aps), bool)  # the usual case: every person has points
    has_points = np.zeros(len(aps), bool)
    pts_lists: list[Any] = []
    for i, ap in enumerate(aps):
        if type(ap) is list and len(ap) > 1:
            return None
        if type(ap) is list and ap and type(ap[0]) is dict and "point" in ap[0]:
            pl = ap[0]["point"]
            if type(pl) is not list:
                return None
            pts_lists.append(pl)
            has_points[i] = True
        elif ap is ABSENT or (type(ap) is list and (not ap or (type(ap[0]) is dict and "point" not in ap[0]))):
            pts_lists.append(())
        else:
            return None
    return pts_lists, has_points


def _regular_track_ids(rect_lists: list[list[Any]], n_rects: np.ndarray, pred: bool) -> bool:
    """True if :meth:`Loader2017._check_track_ids` would pass on a regular file: every person an object with a
    ``track_id`` list whose first element is an integer below MAX_TRACK_ID, unique within a prediction frame.
    False means "look person by person", not that anything is wrong."""
    try:
        firsts = [rect["track_id"] for rects in rect_lists for rect in rects]
    except (KeyError, TypeError):
        return False
    if not all(type(v) is list and len(v) == 1 and type(v[0]) is int for v in firsts):  # booleans: no track ids
        return False
    tids = np.array([v[0] for v in firsts]) if firsts else np.zeros(0, np.int64)
    if tids.dtype.kind not in "iu" or (tids >= MAX_TRACK_ID).any():  # an object array: beyond 64 bits
        return False
    if pred and len(tids) > 1:
        frame = np.repeat(np.arange(len(n_rects)), n_rects)
        order = np.lexsort((tids, frame))
        if ((frame[order][1:] == frame[order][:-1]) & (tids[order][1:] == tids[order][:-1])).any():
            return False
    return True


HEAD_KEYS = ("x1", "y1", "x2", "y2")
NO_HEAD_BOX = "missing (the GT head box is x1, y1, x2, y2)"


def _head_2017(r: PosevalReader, rect: dict[str, Any],
               where: str) -> tuple[tuple[float, ...] | None, tuple[str, str] | None]:
    """The head box (x1, y1, x2, y2), or, for a person without one (no key, or all null), the problem reported
    only where poseval needs the box. A box that is there has its form checked at once, as the training reader
    checks it: all four keys, each a one-element list of a finite number (docs/metric.md, §11)."""
    if all(rect.get(c) is None for c in HEAD_KEYS):
        return None, (f"{where}.x1", NO_HEAD_BOX)
    return tuple(r.num(r.first(r.get(rect, c, where), f"{where}.{c}"), f"{where}.{c}") for c in HEAD_KEYS), None


def _check_frame(r: PosevalReader, fr: dict[str, Any], where: str) -> None:
    """A frame's fields poseval does not read and the training reader does: ``image``, a one-element list of an
    object with a string ``name``; ``is_labeled``, if there, a bare value or a one-element list."""
    image = r.unwrap(r.list(r.get(fr, "image", where), f"{where}.image"), f"{where}.image")
    r.string(r.get(image, "name", f"{where}.image[0]"), f"{where}.image[0].name")
    if fr.get("is_labeled") is not None:
        r.unwrap(fr["is_labeled"], f"{where}.is_labeled")


def _regular_extras(flat: list[dict[str, Any]], rects: list[tuple[int, int, Any]], pred: bool) -> bool:
    """True if the fields the fast path does not read are regular where present: every ``is_visible`` (and a GT
    point's ``score``) and every person's ``score`` a one-element list of a finite number. False means "look
    person by person" (:meth:`Loader2017._person` validates them and words the error)."""
    groups = [[p["is_visible"] for p in flat if "is_visible" in p],
              [rect["score"] for _, _, rect in rects if "score" in rect]]
    if not pred:
        groups.append([p["score"] for p in flat if "score" in p])
    for values in groups:
        if not values:
            continue
        try:
            vals = [v for v, in values]
        except (TypeError, ValueError):
            return False
        if not plain_numbers(vals) or not np.isfinite(np.array(vals, dtype=np.float64)).all():
            return False
    return True


def _image_name_2017(fr: dict[str, Any]) -> str | None:
    try:
        name = fr["image"][0]["name"]
    except (KeyError, IndexError, TypeError):
        return None
    return name if isinstance(name, str) else None


def _joint_id(v: Any) -> int:
    """poseval matches a point to joint i by ``id[0] == i``: ids outside 0–14 (or not numbers) match nothing."""
    if isinstance(v, (int, float)) and v == v and 0 <= v < N_JOINTS and float(v).is_integer():
        return int(v)
    return -1


class _Builder:
    """Accumulates persons given as point lists ``[(id or -1, x, y, score), ...]`` (file order)."""

    def __init__(self) -> None:
        self.frame: list[int] = []
        self.xy: list[np.ndarray] = []
        self.has: list[np.ndarray] = []
        self.score: list[np.ndarray] = []
        self.head: list[tuple[float, ...]] = []
        self.head_ok: list[bool] = []
        self.has_points: list[bool] = []
        self.has_tid: list[bool] = []
        self.src: list[tuple[int, int]] = []
        self.extra: dict[int, np.ndarray] = {}
        self.head_problem: dict[int, tuple[str, str]] = {}

    def add(self, frame: int, pts: list[tuple[int, float, float, float]], head: tuple[float, ...] | None,
            head_problem: tuple[str, str] | None, has_points: bool, has_tid: bool, a: int, b: int) -> None:
        row = len(self.frame)
        xy, has, score, is_plain = primary_joints(pts)
        if not is_plain:
            self.extra[row] = np.asarray(pts, dtype=np.float64).reshape(-1, 4)
        if head is None:
            self.head.append((np.nan,) * 4)
            self.head_ok.append(False)
            if head_problem is not None:
                self.head_problem[row] = head_problem
        else:
            self.head.append(head)
            self.head_ok.append(True)
        self.frame.append(frame)
        self.xy.append(xy)
        self.has.append(has)
        self.score.append(score)
        self.has_points.append(has_points)
        self.has_tid.append(has_tid)
        self.src.append((a, b))

    def build(self) -> Persons:
        if not self.frame:
            return Persons.empty()
        return Persons(
            frame=np.asarray(self.frame, np.int64), xy=np.stack(self.xy), has=np.stack(self.has),
            score=np.stack(self.score), head=np.asarray(self.head, np.float64).reshape(-1, 4),
            head_ok=np.asarray(self.head_ok, bool), has_points=np.asarray(self.has_points, bool),
            has_tid=np.asarray(self.has_tid, bool), src=np.asarray(self.src, np.int64).reshape(-1, 2),
            extra=self.extra, head_problem=self.head_problem,
        )
