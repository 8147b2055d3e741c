"""Loading PoseTrack ground truth and predictions with poseval's semantics, straight into numpy arrays.

This follows what poseval's loader does, as ``docs/metric.md``, §1–§3 describes it:

- a file with the key ``annolist`` is PoseTrack 2017; anything else must be PoseTrack 2018 and goes through
  poseval's conversion rules: exactly one ``person`` category naming all 15 PoseTrack joints (ears dropped),
  images grouped into videos by their folder name (``<digits>_<mpii|bonn|mpiinew>[_...]``), **only the first
  video** kept, persons in ``annotations`` order, a keypoint dropped only if x = y = v = 0, missing or empty
  ``scores`` → every joint scores -9999, ``bbox_head`` [x, y, w, h] → head box (x, y, x + w, y + h);
- frames are paired by position, and a frame is evaluated iff its GT frame has a person entry. Persons of
  frames that are not evaluated are validated only as far as poseval reads them, and are not kept;
- everything poseval would crash on raises :class:`~fasrnet.errors.InputFormatError` naming the file and the
  JSON path (``pred/000342_mpii_test.json: annotations[12].track_id: missing``). Two checks depend on the
  evaluation and are made later (:mod:`fasrnet.evaluate.matching`): the GT head box is needed only in frames
  with both GT and predictions, and a 2017 person without ``track_id`` breaks poseval only there;
- every NaN or ±Inf number read raises :class:`~fasrnet.data.posetrack.NonFiniteError` at once, although
  poseval would score it (docs/metric-nonfinite.md). Arrays are checked with one ``np.isfinite`` each; the
  first offender of an array is looked up only to word the error.

A loaded file is a :class:`PoseFile`: per-frame person counts plus one :class:`Persons` table (one row per
person of the evaluated frames, joints in poseval order 0–14).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

try:  # optional: about 4x faster JSON parsing, identical floats; any file it rejects goes to the json module
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None

from fasrnet.data.posetrack import (
    NonFiniteError,
    _kind,
    _Reader,
    finite_float,
    first_nonfinite,
    nonfinite_error,
)
from fasrnet.errors import InputFormatError
from fasrnet.keypoints import KEYPOINTS, POSEVAL_JOINTS

#: poseval joint names, in poseval id order 0–14 (``neck`` is PoseTrack18's ``head_bottom``).
JOINT_NAMES: tuple[str, ...] = tuple(name for name, _ in POSEVAL_JOINTS)
N_JOINTS = len(JOINT_NAMES)
#: Score poseval gives a predicted joint without one.
MIN_SCORE = -9999.0
#: Track ids must stay below this (poseval offsets them by ``sequence index × 10000``).
MAX_TRACK_ID = 10000
#: The 2018 keypoint name of each poseval joint (``neck`` is spelled ``head_bottom`` there).
NAMES_2018: tuple[str, ...] = tuple(KEYPOINTS[slot] for _, slot in POSEVAL_JOINTS)
SEQUENCE_TYPES = ("mpii", "bonn", "mpiinew")


@dataclass
class Persons:
    """One row per person (GT or prediction) of the evaluated frames of one file, in file order.

    Joint arrays are in poseval order. ``extra`` holds, for the rare persons whose point list is not simply
    "at most one point per joint id 0–14" (2017 points with repeated or out-of-range ids, 2018 files whose
    category names a joint twice), the full point list ``[id or -1, x, y, score]`` in file order: the ignore
    regions act on every point, and only afterwards does the first point of each id count.
    """

    frame: np.ndarray  # (N,) int64: frame index within the file
    xy: np.ndarray  # (N, 15, 2) float64
    has: np.ndarray  # (N, 15) bool
    score: np.ndarray  # (N, 15) float64 (MIN_SCORE where the prediction has no score)
    head: np.ndarray  # (N, 4) float64: x1, y1, x2, y2
    head_ok: np.ndarray  # (N,) bool: the head box exists (needed only where GT meets predictions)
    has_points: np.ndarray  # (N,) bool: 2017 ``annopoints[0].point`` exists (poseval drops the person otherwise)
    has_tid: np.ndarray  # (N,) bool: the person has a ``track_id``
    src: np.ndarray  # (N, 2) int64: where the person is in the file (see PoseFile.person_where)
    extra: dict[int, np.ndarray] = field(default_factory=dict)
    head_problem: dict[int, tuple[str, str]] = field(default_factory=dict)  # row → (field, message)

    def __len__(self) -> int:
        return len(self.frame)

    @classmethod
    def empty(cls) -> Persons:
        return cls(
            frame=np.zeros(0, np.int64), xy=np.zeros((0, N_JOINTS, 2)), has=np.zeros((0, N_JOINTS), bool),
            score=np.zeros((0, N_JOINTS)), head=np.zeros((0, 4)), head_ok=np.zeros(0, bool),
            has_points=np.zeros(0, bool), has_tid=np.zeros(0, bool), src=np.zeros((0, 2), np.int64),
        )

    def take(self, rows: np.ndarray) -> Persons:
        """The given rows (an index array, in the order given)."""
        rows = np.asarray(rows, dtype=np.int64)
        out = Persons(
            frame=self.frame[rows], xy=self.xy[rows], has=self.has[rows], score=self.score[rows],
            head=self.head[rows], head_ok=self.head_ok[rows], has_points=self.has_points[rows],
            has_tid=self.has_tid[rows], src=self.src[rows],
        )
        if self.extra or self.head_problem:
            new = {int(old): i for i, old in enumerate(rows.tolist())}
            out.extra = {new[k]: v for k, v in self.extra.items() if k in new}
            out.head_problem = {new[k]: v for k, v in self.head_problem.items() if k in new}
        return out


@dataclass
class PoseFile:
    """One GT or prediction file after poseval's conversion.

    ``n_rects[f]`` is the number of person entries of frame ``f`` (what decides whether a GT frame is
    evaluated); ``persons`` holds the persons of the evaluated frames only; ``regions`` maps an evaluated GT
    frame to its ignore polygons (vertex arrays, shapely builds them later) with the JSON path of each.
    """

    path: str
    fmt: int  # 17 or 18
    n_rects: np.ndarray  # (F,) int64
    persons: Persons
    frame_where: list[str]  # JSON path of each frame ("annolist[3]" / "images[3]")
    frame_name: list[str]  # image name of each frame (for messages)
    regions: dict[int, list[tuple[np.ndarray, str]]] = field(default_factory=dict)
    n_fallback_scores: int = 0  # predicted persons (2018) / joints (2017) scored -9999 for want of a score

    @property
    def n_frames(self) -> int:
        return len(self.n_rects)

    def person_where(self, row: int) -> str:
        a, b = (int(v) for v in self.persons.src[row])
        if self.fmt == 18:
            return f"annotations[{a}]"
        if self.fmt == 17:
            return f"annolist[{a}].annorect[{b}]"
        return f"frames[{a}].persons[{b}]"  # in-memory Video

    def fail(self, where: str, message: str) -> InputFormatError:
        return InputFormatError(self.path, where, message)


# --------------------------------------------------------------------------------------------------------------
# Entry points


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; a missing, unreadable or malformed file raises InputFormatError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputFormatError(path, "", "file not found") from None
    except IsADirectoryError:
        raise InputFormatError(path, "", "is a directory, not a JSON file") from None
    except OSError as exc:
        raise InputFormatError(path, "", f"cannot read: {exc.strerror or exc}") from None
    if _orjson is not None:
        try:
            return _orjson.loads(data)
        except _orjson.JSONDecodeError:
            pass  # NaN/Infinity tokens, non-UTF-8 encodings, …: the json module decides (and words the error)
    try:
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise InputFormatError(path, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise InputFormatError(path, "", f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except ValueError as exc:  # an integer literal beyond Python's int/str conversion limit (4300 digits)
        raise InputFormatError(path, "", f"not valid JSON: {exc}") from None


def load_file(path: str | Path, role: str, eval_mask: np.ndarray | None = None, obj: Any = None) -> PoseFile:
    """Load one file. ``role`` is ``"gt"`` or ``"pred"``.

    For GT, the evaluated frames are those with a person entry; for predictions pass the GT's ``eval_mask``
    (the frame counts must already agree, see :func:`load_pair`). Only persons of evaluated frames are kept.
    """
    if role not in ("gt", "pred"):
        raise ValueError(f"role must be 'gt' or 'pred', got {role!r}")
    if obj is None:
        obj = read_json(path)
    r = _Reader(path)
    if isinstance(obj, dict) and "annolist" in obj:
        return _Load2017(obj, r, role).run(eval_mask)
    return _Load2018(obj, r, role).run(eval_mask)


def load_pair(gt_path: str | Path, pred_path: str | Path) -> tuple[PoseFile, PoseFile]:
    """Load a GT file and its prediction file; the frame counts must match (poseval pairs frames by position)."""
    gt = load_file(gt_path, "gt")
    pred_obj = read_json(pred_path)
    r = _Reader(pred_path)
    if isinstance(pred_obj, dict) and "annolist" in pred_obj:
        loader: _Load2017 | _Load2018 = _Load2017(pred_obj, r, "pred")
        n_pred = len(r.list(pred_obj["annolist"], "annolist"))
    else:
        loader = _Load2018(pred_obj, r, "pred")
        n_pred = len(loader.frame_images())
    if n_pred != gt.n_frames:
        raise InputFormatError(
            pred_path, "",
            f"{n_pred} frames, but the ground truth {Path(gt_path).name} has {gt.n_frames} "
            "(poseval pairs frames by position; a prediction file needs one frame per GT frame)",
        )
    return gt, loader.run(gt.n_rects > 0)


# --------------------------------------------------------------------------------------------------------------
# Small validation helpers (messages in the style of fasrnet.data.posetrack._Reader)


def _is_num(v: Any) -> bool:
    return type(v) is float or type(v) is int or type(v) is bool


def _is_finite_num(v: Any) -> bool:
    return _is_num(v) and finite_float(v) is not None


def _num(r: _Reader, v: Any, where: str) -> float:
    """A finite JSON number (poseval computes with booleans as 0/1 too)."""
    if type(v) is float or type(v) is int or type(v) is bool:
        f = finite_float(v)
        if f is None:
            raise nonfinite_error(r.path, where, v)
        return f
    raise r.fail(where, f"expected a number, got {_kind(v)}")


def _check_finite(r: _Reader, values: np.ndarray, where: Any) -> None:
    """Raise NonFiniteError at ``where(*index)`` (a JSON path) for the first NaN/±Inf entry of ``values``."""
    bad = first_nonfinite(values)
    if bad is not None:
        raise nonfinite_error(r.path, where(*bad), values[bad].item())


def _first(r: _Reader, v: Any, where: str) -> Any:
    """2017 scalars are one-element lists; poseval reads element 0 (a bare scalar or an empty list breaks it)."""
    if type(v) is list and v:
        return v[0]
    if isinstance(v, list):
        raise r.fail(where, "expected a one-element list, got an empty list")
    raise r.fail(where, f"expected a one-element list, got {_kind(v)}")


def _track_id(r: _Reader, v: Any, where: str) -> float:
    if type(v) is float and not np.isfinite(v):
        raise nonfinite_error(r.path, where, v)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
        raise r.fail(where, f"expected an integer track id, got {_kind(v)}")
    if v >= MAX_TRACK_ID:
        raise r.fail(where, f"track id {v!r} must be below {MAX_TRACK_ID} (poseval offsets track ids per sequence)")
    return float(v)


def _check_unique_tids(r: _Reader, tids: list[tuple[float, str]], frame_name: str) -> None:
    """Prediction track ids must be unique within a frame (poseval raises otherwise)."""
    seen: set[float] = set()
    for tid, where in tids:
        if tid in seen:
            raise r.fail(where, f"track id {tid:g} appears twice in frame {frame_name!r} "
                                "(poseval needs unique prediction track ids within a frame)")
        seen.add(tid)


def _region_array(r: _Reader, xs: Any, ys: Any, wx: str, wy: str) -> np.ndarray:
    xs = r.list(xs, wx)
    ys = r.list(ys, wy)
    n = min(len(xs), len(ys))  # poseval zips the two lists
    pts = np.empty((n, 2))
    for m in range(n):
        pts[m, 0] = _num(r, xs[m], f"{wx}[{m}]")
        pts[m, 1] = _num(r, ys[m], f"{wy}[{m}]")
    return pts


# --------------------------------------------------------------------------------------------------------------
# PoseTrack 2017 (annolist)


class _Load2017:
    def __init__(self, obj: dict[str, Any], r: _Reader, role: str):
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
                raise r.fail(where, f"expected an object, got {_kind(fr)}")
            rects = r.list(r.get(fr, "annorect", where), f"{where}.annorect")
            rect_lists.append(rects)
            n_rects[f] = len(rects)
            frame_name.append(_image_name_2017(fr) or where)
        if eval_mask is None:
            eval_mask = n_rects > 0
        # Track ids: read for every frame (poseval's loader does), unique within a prediction frame.
        for f, rects in enumerate(rect_lists):
            tids = []
            for k, rect in enumerate(rects):
                where = f"annolist[{f}].annorect[{k}]"
                if not isinstance(rect, dict):
                    raise r.fail(where, f"expected an object, got {_kind(rect)}")
                if "track_id" in rect:
                    tw = f"{where}.track_id"
                    tids.append((_track_id(r, _first(r, rect["track_id"], tw), tw), tw))
            if pred:
                _check_unique_tids(r, tids, frame_name[f])

        rects = [(f, k, rect) for f in np.flatnonzero(eval_mask).tolist() for k, rect in enumerate(rect_lists[f])]
        persons = self._fast(rects)
        fallback = 0
        if persons is None:  # irregular somewhere: person by person, which also words any error
            b = _Builder()
            for f, k, rect in rects:
                fallback += self._person(b, rect, f, k)
            persons = b.build()
        regions = {}
        if not pred:
            for f in np.flatnonzero(eval_mask).tolist():
                polys = self._regions(annolist[f], f)
                if polys:
                    regions[f] = polys
        return PoseFile(self.r.path, 17, n_rects, persons, frame_where, frame_name, regions,
                        n_fallback_scores=fallback if pred else 0)

    def _fast(self, rects: list[tuple[int, int, Any]]) -> Persons | None:
        """All persons at once, for the regular case (every point has one-element id/x/y lists, integer ids, and
        in predictions a score); None if anything is irregular (the caller then goes person by person)."""
        pred = self.role == "pred"
        n = len(rects)
        if n == 0:
            return Persons.empty()
        has_points = np.zeros(n, bool)
        pts_lists = []
        for i, (_f, _k, rect) in enumerate(rects):
            ap = rect.get("annopoints", _ABSENT)
            if type(ap) is list and ap and type(ap[0]) is dict and "point" in ap[0]:
                pl = ap[0]["point"]
                if type(pl) is not list:
                    return None
                pts_lists.append(pl)
                has_points[i] = True
            elif ap is _ABSENT or (type(ap) is list and (not ap or (type(ap[0]) is dict and "point" not in ap[0]))):
                pts_lists.append(())
            else:
                return None
        counts = np.fromiter((len(pl) for pl in pts_lists), np.int64, count=n)
        try:
            flat = [p for pl in pts_lists for p in pl]
            ids = np.array([p["id"][0] for p in flat])
            xs = np.array([p["x"][0] for p in flat])
            ys = np.array([p["y"][0] for p in flat])
            ss = np.array([p["score"][0] for p in flat]) if pred else None
        except (KeyError, TypeError, IndexError):
            return None
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
        if not pred:
            r = self.r
            try:
                out.head[:] = np.array([[rect[c][0] for c in ("x1", "y1", "x2", "y2")] for _, _, rect in rects],
                                       dtype=np.float64)
                out.head_ok[:] = True
                _check_finite(r, out.head, lambda row, c: f"annolist[{rects[row][0]}].annorect[{rects[row][1]}]."
                                                          f"{('x1', 'y1', 'x2', 'y2')[c]}")
            except (KeyError, TypeError, IndexError, ValueError):
                for row, (f, k, rect) in enumerate(rects):
                    head, problem = _head_2017(r, rect, f"annolist[{f}].annorect[{k}]")
                    if head is not None:
                        out.head[row], out.head_ok[row] = head, True
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

        _check_finite(self.r, np.column_stack(cols).astype(np.float64), where)

    def _person(self, b: _Builder, rect: dict[str, Any], f: int, k: int) -> int:
        r, pred = self.r, self.role == "pred"
        where = f"annolist[{f}].annorect[{k}]"
        head, head_problem = (None, None) if pred else _head_2017(r, rect, where)
        # rectHasPoints: annopoints is a non-empty list whose first element is a non-empty object with "point".
        ap = rect.get("annopoints", _ABSENT)
        has_points = False
        points: list[Any] = []
        if ap is not _ABSENT:
            aw = f"{where}.annopoints"
            if not isinstance(ap, list):
                raise r.fail(aw, f"expected a list, got {_kind(ap)}")
            if ap:
                if not isinstance(ap[0], dict):
                    raise r.fail(f"{aw}[0]", f"expected an object, got {_kind(ap[0])}")
                if ap[0] and "point" in ap[0]:
                    has_points = True
                    points = r.list(ap[0]["point"], f"{aw}[0].point")
        pts = []
        fallback = 0
        for m, p in enumerate(points):
            pw = f"{where}.annopoints[0].point[{m}]"
            if not isinstance(p, dict):
                raise r.fail(pw, f"expected an object, got {_kind(p)}")
            try:
                raw_id, raw_x, raw_y = p["id"], p["x"], p["y"]
            except KeyError as exc:
                raise r.fail(f"{pw}.{exc.args[0]}", "missing") from None
            jid = -1 if raw_id is None else _joint_id(_first(r, raw_id, f"{pw}.id"))
            if raw_id is not None and type(raw_id[0]) is float and not np.isfinite(raw_id[0]):
                raise nonfinite_error(r.path, f"{pw}.id", raw_id[0])  # poseval would silently ignore the point
            x = _num(r, _first(r, raw_x, f"{pw}.x"), f"{pw}.x")
            y = _num(r, _first(r, raw_y, f"{pw}.y"), f"{pw}.y")
            if pred and "score" in p:
                s = _num(r, _first(r, p["score"], f"{pw}.score"), f"{pw}.score")
            else:
                s = MIN_SCORE
                fallback += pred and 0 <= jid
            pts.append((jid, x, y, s))
        b.add(f, pts, head, head_problem, has_points, "track_id" in rect, f, k)
        return fallback

    def _regions(self, fr: dict[str, Any], f: int) -> list[tuple[np.ndarray, str]]:
        r = self.r
        raw = fr.get("ignore_regions", _ABSENT)
        if raw is _ABSENT:
            return []
        where = f"annolist[{f}].ignore_regions"
        out = []
        for m, region in enumerate(r.list(raw, where)):
            rw = f"{where}[{m}]"
            pts = r.list(r.get(region, "point", rw), f"{rw}.point")
            arr = np.empty((len(pts), 2))
            for q, p in enumerate(pts):
                pw = f"{rw}.point[{q}]"
                arr[q, 0] = _num(r, _first(r, r.get(p, "x", pw), f"{pw}.x"), f"{pw}.x")
                arr[q, 1] = _num(r, _first(r, r.get(p, "y", pw), f"{pw}.y"), f"{pw}.y")
            out.append((arr, rw))
        return out


def _head_2017(r: _Reader, rect: dict[str, Any], where: str) -> tuple[tuple[float, ...] | None, tuple[str, str] | None]:
    """The GT head box (x1, y1, x2, y2), or the problem with it (reported only if poseval needs the box)."""
    try:
        box = tuple(_num(r, _first(r, rect[c], f"{where}.{c}"), f"{where}.{c}") for c in ("x1", "y1", "x2", "y2"))
        return box, None
    except KeyError as exc:
        return None, (f"{where}.{exc.args[0]}", "missing (the GT head box is x1, y1, x2, y2)")
    except NonFiniteError:
        raise  # never deferred: a head box is either usable or the file is broken
    except InputFormatError as exc:
        return None, (exc.field, exc.detail)


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


def primary_joints(pts: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """The joints poseval sees in a point list: the first point of each id 0–14.

    Returns (xy (15, 2), has (15,), score (15,), plain) where ``plain`` says every point is such a first
    point (no repeated or out-of-range ids), i.e. the joint arrays describe the person completely.
    """
    xy = np.zeros((N_JOINTS, 2))
    has = np.zeros(N_JOINTS, bool)
    score = np.full(N_JOINTS, MIN_SCORE)
    plain = True
    for jid, x, y, s in pts:
        jid = int(jid)
        if jid < 0 or has[jid]:
            plain = False
            continue
        has[jid] = True
        xy[jid] = (x, y)
        score[jid] = s
    return xy, has, score, plain


# --------------------------------------------------------------------------------------------------------------
# PoseTrack 2018 (COCO-like), converted as poseval converts it


class _Load2018:
    def __init__(self, obj: Any, r: _Reader, role: str):
        self.obj, self.r, self.role = obj, r, role

    frames: list[int] | None = None

    def frame_images(self) -> list[int]:
        """Validate images and categories; return, per frame of the first video, the index of the image
        poseval reads for it (the first image with the frame's id)."""
        r, obj = self.r, self.obj
        if not isinstance(obj, dict):
            raise r.fail("", f"expected a PoseTrack JSON object with 'images' or 'annolist', got {_kind(obj)}")
        images = r.list(r.get(obj, "images", ""), "images")
        self.conv = _conversion_table(obj, r)
        if not images:
            raise r.fail("images", "no images (poseval needs at least one frame per file)")
        first: dict[Any, int] = {}
        try:
            info = [first.setdefault(img["id"], i) for i, img in enumerate(images)]
        except (KeyError, TypeError):
            for i, img in enumerate(images):  # find the offending image
                iid = r.get(img, "id", f"images[{i}]")
                try:
                    hash(iid)
                except TypeError:
                    raise r.fail(f"images[{i}].id", f"expected an integer, got {_kind(iid)}") from None
            raise
        self.images, self.first = images, first
        video = {}
        folders: dict[str, str] = {}
        for i in sorted(set(info)):
            video[i] = _video_of(r, images[i], f"images[{i}]", folders)
        key = video[info[0]]
        self.frames = [i for i in info if video[i] == key]
        return self.frames

    def run(self, eval_mask: np.ndarray | None) -> PoseFile:
        r, pred = self.r, self.role == "pred"
        frames = self.frames if self.frames is not None else self.frame_images()
        images, conv = self.images, self.conv
        needed_scores = max(k for k, j in enumerate(conv) if j >= 0) + 1
        anns = r.list(r.get(self.obj, "annotations", ""), "annotations")
        by_image: dict[int, list[int]] = {}
        for a, ann in enumerate(anns):
            if not isinstance(ann, dict):
                raise r.fail(f"annotations[{a}]", f"expected an object, got {_kind(ann)}")
            try:
                iid = ann["image_id"]
            except KeyError:
                raise r.fail(f"annotations[{a}].image_id", "missing") from None
            try:
                i = self.first.get(iid)
            except TypeError:
                i = None  # an unhashable id matches no image
            if i is not None:
                by_image.setdefault(i, []).append(a)
        matched = sorted(a for lst in by_image.values() for a in lst)
        # Validate every person poseval converts (all videos), vectorised where the file is regular.
        kp, tid, head, head_ok, score, has_score = _annotation_arrays(r, anns, matched, conv, needed_scores)
        row_of = np.full(len(anns), -1, np.int64)
        row_of[matched] = np.arange(len(matched))

        n = len(frames)
        n_rects = np.array([len(by_image.get(i, ())) for i in frames], np.int64)
        frame_where = [f"images[{i}]" for i in frames]
        frame_name = [images[i]["file_name"] for i in frames]
        if eval_mask is None:
            eval_mask = n_rects > 0
        # Track ids of the first video: below 10000; unique within a prediction frame.
        all_ann = np.array([a for i in frames for a in by_image.get(i, ())], np.int64)
        all_frame = np.repeat(np.arange(n), n_rects)
        t = tid[row_of[all_ann]]
        bad = np.flatnonzero(t >= MAX_TRACK_ID)
        if len(bad):
            a = int(all_ann[bad[0]])
            raise r.fail(f"annotations[{a}].track_id", f"track id {anns[a]['track_id']!r} must be below "
                                                      f"{MAX_TRACK_ID} (poseval offsets track ids per sequence)")
        if pred and len(t) > 1:
            order = np.lexsort((t, all_frame))
            same = (all_frame[order][1:] == all_frame[order][:-1]) & (t[order][1:] == t[order][:-1])
            if same.any():
                f = int(all_frame[order][1:][same].min())
                lst = by_image[frames[f]]
                _check_unique_tids(r, [(float(v), f"annotations[{a}].track_id") for v, a in
                                       zip(tid[row_of[lst]], lst)], frame_name[f])
        # Persons of evaluated frames (a frame listed twice under one image id repeats its persons).
        ev = [f for f in range(n) if eval_mask[f]]
        ann_rows = [a for f in ev for a in by_image.get(frames[f], ())]
        frame_of = np.array([f for f in ev for _ in by_image.get(frames[f], ())], np.int64)
        rows = row_of[np.asarray(ann_rows, np.int64)]
        persons = _persons_2018(kp[rows], score[rows], conv, frame_of, head[rows], head_ok[rows],
                                np.asarray(ann_rows, np.int64))
        regions = {}
        for f in ev:
            img = images[frames[f]]
            if not pred and "ignore_regions_x" in img and "ignore_regions_y" in img:
                polys = _regions_2018(r, img, f"images[{frames[f]}]")
                if polys:
                    regions[f] = polys
        fallback = int((~has_score[rows]).sum()) if pred else 0
        return PoseFile(r.path, 18, n_rects, persons, frame_where, frame_name, regions, n_fallback_scores=fallback)


def _conversion_table(obj: dict[str, Any], r: _Reader) -> list[int]:
    """For each keypoint of the file's category, its poseval joint id (-1: dropped, e.g. the ears)."""
    cats = r.list(r.get(obj, "categories", ""), "categories")
    if len(cats) != 1:
        raise r.fail("categories", f"expected exactly one category (person), got {len(cats)}")
    name = r.get(cats[0], "name", "categories[0]")
    if name != "person":
        raise r.fail("categories[0].name", f"expected 'person', got {_kind(name)}")
    names = r.list(r.get(cats[0], "keypoints", "categories[0]"), "categories[0].keypoints")
    if len(names) not in (15, 17):
        raise r.fail("categories[0].keypoints", f"expected 15 or 17 keypoint names, got {len(names)}")
    conv = [NAMES_2018.index(n) if isinstance(n, str) and n in NAMES_2018 else -1 for n in names]
    missing = [n for j, n in enumerate(NAMES_2018) if j not in conv]
    if missing:
        raise r.fail("categories[0].keypoints",
                     f"missing keypoint names {missing} (poseval needs all 15; it spells neck 'head_bottom')")
    return conv


def _video_of(r: _Reader, img: Any, where: str, folders: dict[str, str]) -> str:
    """poseval's video key of an image: the digits before '_' in its folder name (which it parses)."""
    name = r.get(img, "file_name", where)
    if not isinstance(name, str):
        raise r.fail(f"{where}.file_name", f"expected a string, got {_kind(name)}")
    head, base = os.path.split(name)
    key = folders.get(head)
    if key is None:
        folder = os.path.basename(head)
        tok = folder.split("_")
        try:
            int(tok[0])
            ok = len(tok) > 1 and tok[1] in SEQUENCE_TYPES
        except ValueError:
            ok = False
        if not ok:
            raise r.fail(f"{where}.file_name", f"video folder {folder!r} of {name!r} must look like "
                                              "<digits>_<mpii|bonn|mpiinew>[_...] (poseval parses it)")
        key = folders[head] = tok[0]
    try:
        frame = int(base.split(".")[0])
    except ValueError:
        frame = -1
    if not 0 <= frame < 10000:
        raise r.fail(f"{where}.file_name", f"image name {base!r} must be a frame number below 10000 "
                                          "(poseval parses it)")
    return key


def _regions_2018(r: _Reader, img: dict[str, Any], where: str) -> list[tuple[np.ndarray, str]]:
    rx = r.list(img["ignore_regions_x"], f"{where}.ignore_regions_x")
    ry = r.list(img["ignore_regions_y"], f"{where}.ignore_regions_y")
    return [
        (_region_array(r, xs, ys, f"{where}.ignore_regions_x[{m}]", f"{where}.ignore_regions_y[{m}]"),
         f"{where}.ignore_regions_x[{m}]")
        for m, (xs, ys) in enumerate(zip(rx, ry))  # poseval zips the two lists
    ]


def _annotation_arrays(r: _Reader, anns: list[Any], matched: list[int], conv: list[int], needed_scores: int):
    """Arrays over the matched annotations: keypoints (M, 3K), track ids (M,), head boxes (M, 4) and their
    presence, scores (M, K) and their presence. Raises InputFormatError on what breaks poseval's conversion."""
    m = len(matched)
    k_all = len(conv)
    sel = [anns[a] for a in matched]
    kp = None
    try:
        kp_lists = [d["keypoints"] for d in sel]
        tid_list = [d["track_id"] for d in sel]
        if all(type(v) is list and len(v) == 3 * k_all for v in kp_lists):
            arr = np.array(kp_lists) if m else np.zeros((0, 3 * k_all))
            if arr.dtype.kind in "iuf" and arr.shape == (m, 3 * k_all):
                kp = arr.astype(np.float64, copy=False)
        tid = np.array(tid_list) if m else np.zeros(0)
        if tid.dtype.kind not in "iu" and not (tid.dtype.kind == "f" and np.isfinite(tid).all()
                                               and np.all(np.mod(tid, 1) == 0)):
            kp = None
    except KeyError:
        kp = None
    if kp is None:  # irregular: find the offending annotation (or build row by row)
        kp = np.zeros((m, 3 * k_all))
        tid = np.zeros(m)
        for row, (a, d) in enumerate(zip(matched, sel)):
            where = f"annotations[{a}]"
            if "track_id" not in d:
                raise r.fail(f"{where}.track_id", "missing")
            tid[row] = _track_id(r, d["track_id"], f"{where}.track_id")
            kw = f"{where}.keypoints"
            if "keypoints" not in d:
                raise r.fail(kw, "missing")
            vals = r.list(d["keypoints"], kw)
            if len(vals) != 3 * k_all:
                raise r.fail(kw, f"expected {3 * k_all} numbers, got {len(vals)}")
            kp[row] = [_num(r, v, f"{kw}[{q}]") for q, v in enumerate(vals)]
    else:
        _check_finite(r, kp, lambda row, q: f"annotations[{matched[row]}].keypoints[{q}]")
    tid = tid.astype(np.float64)

    head = np.full((m, 4), np.nan)
    head_ok = np.zeros(m, bool)
    score = np.full((m, k_all), MIN_SCORE)
    has_score = np.zeros(m, bool)
    heads = [d.get("bbox_head", _ABSENT) for d in sel]
    boxes = [d.get("bbox", _ABSENT) for d in sel]
    scores = [d.get("scores") for d in sel]
    if all(type(h) is list and len(h) == 4 for h in heads):
        arr = np.array(heads) if m else np.zeros((0, 4))
        if arr.dtype.kind in "iuf" and arr.shape == (m, 4):
            _check_finite(r, arr, lambda row, q: f"annotations[{matched[row]}].bbox_head[{q}]")
            head = _head_box(arr)
            head_ok[:] = True
            heads = None
    if heads is not None:
        for row, (a, h) in enumerate(zip(matched, heads)):
            if h is _ABSENT:
                continue  # needed only where this GT person meets predictions (checked there)
            hb = _box(r, h, f"annotations[{a}].bbox_head")
            head[row] = _head_box(np.asarray([hb]))[0]
            head_ok[row] = True
    if not all(b is _ABSENT or (type(b) is list and len(b) == 4 and all(_is_finite_num(v) for v in b)) for b in boxes):
        for a, b in zip(matched, boxes):
            if b is not _ABSENT:
                _box(r, b, f"annotations[{a}].bbox")  # poseval reads (and would crash on) bbox too
    if all(type(s) is list and len(s) == k_all for s in scores):
        arr = np.array(scores) if m else np.zeros((0, k_all))
        if arr.dtype.kind in "iuf" and arr.shape == (m, k_all):
            keep = [q for q, j in enumerate(conv) if j >= 0]  # poseval reads only the scores of kept keypoints
            _check_finite(r, arr[:, keep], lambda row, q: f"annotations[{matched[row]}].scores[{keep[q]}]")
            score = arr.astype(np.float64)
            has_score[:] = True
            scores = None
    if scores is not None:
        for row, (a, s) in enumerate(zip(matched, scores)):
            if not s:
                continue  # missing, null or empty: every joint scores -9999
            sw = f"annotations[{a}].scores"
            s = r.list(s, sw)
            if len(s) < needed_scores:
                raise r.fail(sw, f"expected {k_all} numbers, got {len(s)}")
            for q, j in enumerate(conv):
                if j >= 0:  # poseval reads the score of each keypoint it keeps
                    score[row, q] = _num(r, s[q], f"{sw}[{q}]")
            has_score[row] = True
    return kp, tid, head, head_ok, score, has_score


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()


def _box(r: _Reader, value: Any, where: str) -> list[float]:
    """A 2018 [x, y, w, h] box; poseval reads its first four numbers."""
    vals = r.list(value, where)
    if len(vals) < 4:
        raise r.fail(where, f"expected 4 numbers, got {len(vals)}")
    return [_num(r, v, f"{where}[{q}]") for q, v in enumerate(vals[:4])]


def _head_box(xywh: np.ndarray) -> np.ndarray:
    """[x, y, w, h] → (x1, y1, x2, y2) = (x, y, x + w, y + h), computed as poseval computes it."""
    xywh = np.asarray(xywh, dtype=np.float64)
    return np.stack([xywh[:, 0], xywh[:, 1], xywh[:, 0] + xywh[:, 2], xywh[:, 1] + xywh[:, 3]], axis=1)


def _persons_2018(kp: np.ndarray, sc: np.ndarray, conv: list[int], frame: np.ndarray, head: np.ndarray,
                  head_ok: np.ndarray, ann: np.ndarray) -> Persons:
    n = len(frame)
    kp3 = kp.reshape(n, len(conv), 3)
    present = ~((kp3[:, :, 0] == 0) & (kp3[:, :, 1] == 0) & (kp3[:, :, 2] == 0))
    src = np.stack([ann, np.zeros(n, np.int64)], axis=1)
    ids = [j for j in conv if j >= 0]
    persons = Persons(
        frame=frame, xy=np.zeros((n, N_JOINTS, 2)), has=np.zeros((n, N_JOINTS), bool),
        score=np.full((n, N_JOINTS), MIN_SCORE), head=head, head_ok=head_ok, has_points=np.ones(n, bool),
        has_tid=np.ones(n, bool), src=src,
    )
    if len(ids) == len(set(ids)):  # the usual case: one keypoint per joint id
        cols = np.array([conv.index(j) for j in range(N_JOINTS)])
        persons.xy = np.ascontiguousarray(kp3[:, cols, :2])
        persons.has = np.ascontiguousarray(present[:, cols])
        persons.score = np.ascontiguousarray(sc[:, cols])
        return persons
    # A joint named twice in the category: per person, the first present keypoint of each id counts.
    keep = [k for k, j in enumerate(conv) if j >= 0]
    for row in range(n):
        pts = [(conv[k], kp3[row, k, 0], kp3[row, k, 1], sc[row, k]) for k in keep if present[row, k]]
        xy, has, score, plain = primary_joints(pts)
        persons.xy[row], persons.has[row], persons.score[row] = xy, has, score
        if not plain:
            persons.extra[row] = np.asarray(pts, dtype=np.float64).reshape(-1, 4)
    return persons


# --------------------------------------------------------------------------------------------------------------
# In-memory videos (fasrnet.data.posetrack.Video)


def from_video(video: Any, role: str, path: str = "<memory>") -> PoseFile:
    """A :class:`PoseFile` from an in-memory :class:`fasrnet.data.posetrack.Video`.

    Frames are taken as they are (no first-video rule, no file checks); a person's joints are its present
    keypoint slots, scores missing → -9999; track ids are not required. Head boxes are still needed where a
    GT person meets predictions. NaN/±Inf joints, scores, head boxes or ignore regions (a diverged model) raise
    :class:`~fasrnet.data.posetrack.NonFiniteError` (docs/metric-nonfinite.md).
    """
    from fasrnet.keypoints import POSEVAL_TO_SLOT

    slots = np.asarray(POSEVAL_TO_SLOT)
    n_rects = np.array([len(fr.persons) for fr in video.frames], np.int64)
    b_frame, b_xy, b_has, b_score, b_head, b_ok, b_src = [], [], [], [], [], [], []
    for f, fr in enumerate(video.frames):
        for k, p in enumerate(fr.persons):
            b_frame.append(f)
            b_xy.append(np.asarray(p.keypoints, np.float64)[slots, :2])
            b_has.append(np.asarray(p.present, bool)[slots])
            b_score.append(np.full(N_JOINTS, MIN_SCORE) if p.scores is None else
                           np.asarray(p.scores, np.float64)[slots])
            b_head.append(p.head_box if p.head_box is not None else (np.nan,) * 4)
            b_ok.append(p.head_box is not None)
            b_src.append((f, k))
    if b_frame:
        persons = Persons(
            frame=np.asarray(b_frame, np.int64), xy=np.stack(b_xy), has=np.stack(b_has), score=np.stack(b_score),
            head=np.asarray(b_head, np.float64), head_ok=np.asarray(b_ok, bool),
            has_points=np.ones(len(b_frame), bool), has_tid=np.ones(len(b_frame), bool),
            src=np.asarray(b_src, np.int64),
        )
    else:
        persons = Persons.empty()
    _check_video_finite(path, persons)
    regions = {}
    if role == "gt":
        for f, fr in enumerate(video.frames):
            polys = [(np.asarray(poly, np.float64).reshape(-1, 2), f"frames[{f}].ignore_regions[{m}]")
                     for m, poly in enumerate(fr.ignore_regions)]
            if polys and n_rects[f] > 0:
                regions[f] = polys
    for polys in regions.values():
        for arr, rw in polys:
            _check_finite(_Reader(path), arr, lambda q, c, rw=rw: f"{rw}[{q}][{c}]")
    where = [f"frames[{f}]" for f in range(len(video.frames))]
    names = [fr.image for fr in video.frames]
    return PoseFile(path, 0, n_rects, persons, where, names, regions)  # fmt 0: in memory


def _check_video_finite(path: str, p: Persons) -> None:
    """Present joints, their scores and existing head boxes of in-memory persons must be finite."""
    from fasrnet.keypoints import POSEVAL_TO_SLOT

    r = _Reader(path)

    def person(row: int) -> str:
        return f"frames[{p.src[row, 0]}].persons[{p.src[row, 1]}]"

    xy = np.where(p.has[:, :, None], p.xy, 0.0)
    _check_finite(r, xy, lambda row, j, c: f"{person(row)}.keypoints[{POSEVAL_TO_SLOT[j]}][{c}]")
    score = np.where(p.has, p.score, 0.0)
    _check_finite(r, score, lambda row, j: f"{person(row)}.scores[{POSEVAL_TO_SLOT[j]}]")
    head = np.where(p.head_ok[:, None], p.head, 0.0)
    _check_finite(r, head, lambda row, c: f"{person(row)}.head_box[{c}]")
