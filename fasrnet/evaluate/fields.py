"""Field rules of poseval's loader on top of the shared JSON-path validators (``fasrnet/data/jsonpath.py``):
numbers as poseval computes with them, track ids, ignore-region polygons (``docs/metric.md``, §1–§3)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fasrnet.data.jsonpath import JsonReader, finite_float, kind, nonfinite_error
from fasrnet.evaluate.posefile import MAX_TRACK_ID


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


#: Default of ``dict.get`` telling a missing key from an explicit null.
ABSENT = _Absent()


def is_finite_num(v: Any) -> bool:
    """A JSON number (booleans included, as poseval computes with them) with a finite float value."""
    return (type(v) is float or type(v) is int or type(v) is bool) and finite_float(v) is not None


class PosevalReader(JsonReader):
    """:class:`~fasrnet.data.jsonpath.JsonReader` with the rules poseval's loader imposes."""

    def num(self, v: Any, where: str) -> float:
        """A finite JSON number (poseval computes with booleans as 0/1 too)."""
        return self.number(v, where, booleans=True)

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
