"""Reading JSON input files and validating their fields, every error naming the file and the JSON path.

One parser for every JSON input (:func:`read_json`: orjson where it is installed, else, and for any file orjson
refuses, the standard ``json`` module) and one family of field validators (:class:`JsonReader`), used by the
PoseTrack readers (``fasrnet/data/posetrack.py``), the detection boxes (``fasrnet/data/boxes.py``) and the
evaluation's loaders (``fasrnet/evaluate/``). Errors are :class:`~fasrnet.errors.InputFormatError`, e.g.
``val/000342_mpii_test.json: annotations[12].keypoints: expected 51 numbers, got 45``; NaN and ±Inf numbers
raise :class:`NonFiniteError` wherever they are read (docs/metric-nonfinite.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fasrnet.errors import InputFormatError

try:  # optional: about 4x faster parsing, identical floats; any file it rejects goes to the json module
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    orjson = None  # type: ignore[assignment]


class NonFiniteError(InputFormatError):
    """A number is NaN or ±Inf: a JSON ``NaN`` / ``Infinity`` token or a literal beyond ±1.8e308 (``1e400``), which
    Python's json module reads as a float (orjson refuses the file, and the json module then reads it).

    Rejected wherever it is read, never deferred: see docs/metric-nonfinite.md for why there is no poseval mode.
    """


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
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # NaN/Infinity tokens, non-UTF-8 encodings, …: the json module decides (and words the error)
    try:
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise InputFormatError(path, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise InputFormatError(path, "", f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except ValueError as exc:  # an integer literal beyond Python's int/str conversion limit (4300 digits)
        raise InputFormatError(path, "", f"not valid JSON: {exc}") from None
    except RecursionError:  # orjson stops at 1024 levels, the json module at the interpreter's recursion limit
        raise InputFormatError(path, "", "arrays or objects nested too deeply to read (a PoseTrack file nests "
                                         "about 6 levels; docs/metric.md, §11)") from None


def kind(value: Any) -> str:
    """How an error message names a JSON value: ``null``, ``the number 3``, ``a list of 2``, …"""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def finite_float(value: int | float) -> float | None:
    """``float(value)`` if that is finite, else None (NaN, ±Inf, or an integer beyond the float range)."""
    try:
        f = float(value)
    except OverflowError:  # JSON integers are unbounded in Python
        return None
    return f if math.isfinite(f) else None


def first_nonfinite(values: np.ndarray) -> tuple[int, ...] | None:
    """Index of the first NaN/±Inf entry (C order), or None; one vectorised pass in the usual, finite case."""
    ok = np.isfinite(values)
    if ok.all():
        return None
    return tuple(int(i) for i in np.argwhere(~ok)[0])


def nonfinite_error(path: str | Path, where: str, value: Any) -> NonFiniteError:
    """The error for a NaN/±Inf number (or an integer too large for a float) at ``where``."""
    got = f"an integer too large for a float ({value.bit_length()} bits)" if type(value) is int else kind(value)
    return NonFiniteError(path, where, f"expected a finite number, got {got}")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


class JsonReader:
    """Field validators for one parsed file: each takes the value and its JSON path (``annotations[3].bbox``) and
    returns the value, or raises InputFormatError naming ``path`` and the JSON path."""

    def __init__(self, path: str | Path):
        self.path = str(path)

    def fail(self, where: str, message: str) -> InputFormatError:
        return InputFormatError(self.path, where, message)

    def object(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {kind(value)}")
        return value

    def get(self, obj: Any, key: str, where: str, required: bool = True) -> Any:
        """``obj[key]`` of an object; a missing key is an error (``where.key: missing``) or, if not required, None."""
        if key not in self.object(obj, where):
            if required:
                raise self.fail(_join(where, key), "missing")
            return None
        return obj[key]

    def list(self, value: Any, where: str, noun: str = "a list") -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected {noun}, got {kind(value)}")
        return value

    def string(self, value: Any, where: str, nonempty: bool = False) -> str:
        if not isinstance(value, str) or (nonempty and not value):
            raise self.fail(where, f"expected a {'non-empty ' if nonempty else ''}string, got {kind(value)}")
        return value

    def number(self, value: Any, where: str, booleans: bool = False, noun: str = "a number") -> float:
        """A finite number as a float. ``booleans``: true/false count as 1/0 (poseval computes with them)."""
        if (isinstance(value, bool) and not booleans) or not isinstance(value, (int, float)):
            raise self.fail(where, f"expected {noun}, got {kind(value)}")
        f = finite_float(value)
        if f is None:
            raise nonfinite_error(self.path, where, value)
        return f

    def integer(self, value: Any, where: str) -> int:
        """An integer; a float with an integral value is taken as that integer."""
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise self.fail(where, f"expected an integer, got {kind(value)}")
        return value

    def numbers(self, value: Any, where: str, count: int | None = None) -> list[float]:
        items = self.list(value, where)
        if count is not None and len(items) != count:
            raise self.fail(where, f"expected {count} numbers, got {len(items)}")
        return [self.number(v, f"{where}[{i}]") for i, v in enumerate(items)]

    def unwrap(self, value: Any, where: str) -> Any:
        """2017 files wrap scalars in one-element lists (``"x": [12.5]``); accept both forms."""
        if isinstance(value, list):
            if len(value) != 1:
                raise self.fail(where, f"expected a one-element list, got {len(value)} elements")
            return value[0]
        return value

    def first(self, value: Any, where: str) -> Any:
        """The element of a one-element list, as poseval reads 2017 scalars (element 0; a bare scalar or an empty
        list breaks it). Longer lists are refused too, as the training reader refuses them (docs/metric.md, §11)."""
        if type(value) is list and len(value) == 1:
            return value[0]
        if isinstance(value, list):
            got = "an empty list" if not value else f"{len(value)} elements"
            raise self.fail(where, f"expected a one-element list, got {got}")
        raise self.fail(where, f"expected a one-element list, got {kind(value)}")

    def check_finite(self, values: np.ndarray, where: Callable[..., str]) -> None:
        """Raise NonFiniteError at ``where(*index)`` (a JSON path) for the first NaN/±Inf entry of ``values``."""
        bad = first_nonfinite(values)
        if bad is not None:
            raise nonfinite_error(self.path, where(*bad), values[bad].item())
