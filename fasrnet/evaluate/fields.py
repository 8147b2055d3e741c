"""Field rules of poseval's loader on top of the shared JSON-path validators (``fasrnet/data/jsonpath.py``):
numbers as poseval computes with them, track ids, ignore-region polygons (``docs/metric.md``, §1–§3)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from fasrnet.data.jsonpath import JsonReader, NonFiniteError, finite_float, kind, nonfinite_error
from fasrnet.data.posetrack import VIDEO_NAME_RE
from fasrnet.evaluate.posefile import MAX_TRACK_ID


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


#: Default of ``dict.get`` telling a missing key from an explicit null.
ABSENT = _Absent()


#: The Python types of JSON numbers as the parsers return them (``bool`` is not among them, on purpose).
NUMBER_TYPES = frozenset((int, float))


def plain_numbers(values: Iterable[Any]) -> bool:
    """True if every value is an int or a float: one C-level pass over the types, so a fast path can hand the
    values to numpy, which would read ``true`` as 1 and choke on a nested list (``[[1.0], 2.0]``)."""
    return set(map(type, values)) <= NUMBER_TYPES


def file_video(path: str) -> str | None:
    """The video a file's name names (``val/000342_mpii_test.json`` → ``000342``), as poseval names the sequence
    (the basename up to the first dot); None for a file not named like a PoseTrack video."""
    match = VIDEO_NAME_RE.match(os.path.basename(path).split(".")[0])
    return match.group(1) if match else None


def image_video(name: Any) -> str | None:
    """The video of an image name (``images/val/000342_mpii_test/000017.jpg`` → ``000342``), or None."""
    if not isinstance(name, str):
        return None
    match = VIDEO_NAME_RE.match(os.path.basename(os.path.split(name)[0]))
    return match.group(1) if match else None


def same_video(a: str, b: str) -> bool:
    """Video ids compare as numbers (2017 folders have 5 digits, 2018 ones 6: ``00342`` is ``000342``)."""
    return int(a) == int(b)


def is_finite_num(v: Any) -> bool:
    """A JSON number (not a boolean, docs/metric.md, §11) with a finite float value."""
    return (type(v) is float or type(v) is int) and finite_float(v) is not None


class PosevalReader(JsonReader):
    """:class:`~fasrnet.data.jsonpath.JsonReader` with the rules poseval's loader imposes."""

    def num(self, v: Any, where: str) -> float:
        """A finite JSON number; not a boolean, although poseval computes with true/false as 1/0:
        ``annotations check`` and the training reader refuse them, so evaluate does too (docs/metric.md, §11)."""
        return self.number(v, where)

    def image_id(self, v: Any, where: str) -> int | float:
        """An image id (2018 ``images[].id``, ``annotations[].image_id``): an integer, or a float with an integral
        value (poseval compares ids with ``==``, so 3.0 is image 3); NaN, ±Inf, booleans, strings are errors."""
        if type(v) is int or (type(v) is float and v.is_integer()):
            return v
        message = f"expected an integer image id, got {kind(v)}"
        if type(v) is float and not np.isfinite(v):
            raise NonFiniteError(self.path, where, message)  # docs/metric-nonfinite.md
        raise self.fail(where, message)

    def track_id(self, v: Any, where: str) -> float:
        """An integral track id below :data:`MAX_TRACK_ID`, as a float."""
        if type(v) is float and not np.isfinite(v):
            raise nonfinite_error(self.path, where, v)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
            raise self.fail(where, f"expected an integer track id, got {kind(v)}")
        if v >= MAX_TRACK_ID:
            raise self.fail(where, f"track id {v!r} must be below {MAX_TRACK_ID} (poseval offsets track ids per "
                                   "sequence)")
        return float(v)

    def unique_track_ids(self, tids: list[tuple[float, str]], frame_name: str) -> None:
        """Prediction track ids ``(id, JSON path)`` must be unique within a frame (poseval raises otherwise)."""
        seen: set[float] = set()
        for tid, where in tids:
            if tid in seen:
                raise self.fail(where, f"track id {tid:g} appears twice in frame {frame_name!r} "
                                       "(poseval needs unique prediction track ids within a frame)")
            seen.add(tid)

    def polygon(self, xs: Any, ys: Any, wx: str, wy: str) -> np.ndarray:
        """An ignore region's (N, 2) vertices from its x and y lists (poseval zips them: the shorter one counts)."""
        xs = self.list(xs, wx)
        ys = self.list(ys, wy)
        n = min(len(xs), len(ys))
        pts = np.empty((n, 2))
        for m in range(n):
            pts[m, 0] = self.num(xs[m], f"{wx}[{m}]")
            pts[m, 1] = self.num(ys[m], f"{wy}[{m}]")
        return pts
