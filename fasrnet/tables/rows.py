"""What each table function returns (:class:`Table`): its rows, the text after it, the references it cites and
the paper's orderings it checks (:class:`Ordering`, :class:`AlphaCheck`) — everything the document needs from
a table, so no table reads state another one left behind. Also the cells every table builds alike: quoted rows
(bold as printed, footnotes as :class:`Noted` cells) and measured rows with their Δ.

Conventions: our ``mAP`` is poseval's ``Total`` (mean of the 15 joints); the seven joint columns are poseval's;
``Δ`` = measured − paper.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from fasrnet.tables.inputs import COLUMNS, Measured
from fasrnet.tables.markdown import fmt, fmt_diff

#: How many of poseval's 15 joints each of the seven columns averages (Head: head top, neck, nose).
JOINTS_PER_COLUMN: tuple[int, ...] = (3, 2, 2, 2, 2, 2, 2)
#: Largest |printed mAP − 15-joint mean of the printed columns| explained by rounding, per printed decimals.
ROUNDING_TOLERANCE = {1: 0.15, 4: 0.001}


@dataclass(frozen=True)
class Noted:
    """A cell with a footnote; the document numbers footnotes across the whole document (as GitHub needs)."""

    text: str
    note: str


Cell = Union[str, Noted]


@dataclass(frozen=True)
class Ordering:
    """One of the paper's orderings: ``better`` > ``worse`` in the paper's mAP, and our measured pair."""

    table: str
    better: str
    worse: str
    paper: tuple[float, float]
    measured: tuple[float | None, float | None]

    @property
    def margin(self) -> float | None:
        a, b = self.measured
        return None if a is None or b is None else a - b

    @property
    def holds(self) -> bool | None:
        m = self.margin
        return None if m is None else m > 0


@dataclass(frozen=True)
class AlphaCheck:
    """Table 9's ordering: the paper's best α, ours, the rank of the paper's best α among ours, of how many."""

    best_paper: float
    best_ours: float
    rank: int | None
    n: int


@dataclass(frozen=True)
class Table:
    """One paper table as the document prints it: ``## Table <number>. <title>``, the pipe table, ``after``
    (lines after it), then its footnotes. ``cited``: reference keys in order of use; ``orderings`` and
    ``alpha_check``: the paper's orderings it checks (the section *Orderings* lists them)."""

    number: int
    title: str
    header: tuple[str, ...]
    align: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    after: tuple[str, ...] = ()
    cited: tuple[str, ...] = ()
    orderings: tuple[Ordering, ...] = ()
    alpha_check: AlphaCheck | None = None


def implied_map(values: list[float | None]) -> float | None:
    """The 15-joint mean implied by the seven printed columns (None when a column is missing)."""
    cols = values[:7]
    if any(v is None for v in cols):
        return None
    return sum(n * v for n, v in zip(JOINTS_PER_COLUMN, cols)) / sum(JOINTS_PER_COLUMN)  # type: ignore[misc]


def lit_cells(row: dict[str, Any], decimals: int) -> list[Cell]:
    """A quoted row's cells: bold as printed; a footnote where the literature file notes a cell, or where the
    printed mAP differs from the 15-joint mean of the printed columns by more than rounding."""
    bold = set(row.get("bold", []))
    notes = dict(row.get("notes", {}))
    imp, printed = implied_map(row["values"]), row["values"][-1]
    if (not notes and imp is not None and printed is not None
            and abs(imp - printed) > ROUNDING_TOLERANCE.get(decimals, 0.15)):
        notes["mAP"] = (f"the 15-joint mean of the printed columns is {imp:.{decimals}f}, not the printed "
                        f"{printed:.{decimals}f}.")
    cells: list[Cell] = []
    for col, v in zip(COLUMNS, row["values"]):
        text = fmt(v, decimals)
        if col in bold:
            text = f"**{text}**"
        cells.append(Noted(text, f"{row['method']}, {col}: {notes[col]}") if col in notes else text)
    return cells


def measured_cells(m: Measured, decimals: int) -> list[Cell]:
    assert m.values is not None
    return [fmt(v, decimals) for v in m.values]


def diff_cells(m: Measured, ref: list[float | None], decimals: int) -> list[Cell]:
    assert m.values is not None
    return [fmt_diff(v, r, decimals) for v, r in zip(m.values, ref)]


def not_run_cells(text: str) -> list[Cell]:
    """The eight ``–`` cells of a row without numbers, then ``text`` (why)."""
    return [*["–"] * len(COLUMNS), text]
