"""Errors the CLI reports as one clear line and a non-zero exit (no traceback)."""

from __future__ import annotations

from pathlib import Path


class FasrnetError(Exception):
    """Base class of every user-facing error: bad input, bad params, missing files."""


class InputFormatError(FasrnetError):
    """A file does not have the expected structure.

    The message names the file and the JSON path of the offending field, e.g.
    ``val/000342_mpii_test.json: annotations[12].keypoints: expected 51 numbers, got 45``.
    """

    def __init__(self, path: str | Path, field: str, message: str):
        self.path = str(path)
        self.field = field
        self.detail = message
        where = f"{self.path}: {field}: " if field else f"{self.path}: "
        super().__init__(where + message)


def describe(exc: BaseException) -> str:
    """``Type: first line of the message`` for an exception wrapped into a user-facing error; just ``Type`` when
    the message is empty (EOFError's, KeyError's), so formatting an error never raises itself."""
    kind = type(exc).__name__
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{kind}: {first}" if first else kind
