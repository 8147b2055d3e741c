"""Markdown text helpers shared by ``results/tables.md`` and ``results/runtime.md``: numbers and pipe tables."""

from __future__ import annotations


def fmt(v: float | None, decimals: int) -> str:
    """A number with ``decimals`` decimals; ``–`` for None."""
    return "–" if v is None else f"{v:.{decimals}f}"


def fmt_diff(v: float | None, ref: float | None, decimals: int) -> str:
    """``v − ref`` signed, rounded to ``decimals`` (never ``-0.0``); ``–`` when either is None."""
    if v is None or ref is None:
        return "–"
    d = round(v - ref, decimals)
    return f"{d + 0.0:+.{decimals}f}"  # + 0.0: no "-0.0"


def md_table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> list[str]:
    """A GitHub pipe table (``|`` in cells escaped); ``align``: the separator cells (``---``, ``---:``)."""
    align = align or ["---"] * len(header)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return out
