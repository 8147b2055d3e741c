"""poseval's printed table: its header line and the AP row (the metrics JSON is :mod:`fasrnet.evaluate.result`'s)."""

from __future__ import annotations

from fasrnet.evaluate.ap import COLUMN_NAMES

#: The header line poseval prints above the AP row.
HEADER = "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\"


def format_cell(value: float, delim: str) -> str:
    return "{:>5}".format("%1.1f" % value) + delim


def format_row(columns: dict[str, float]) -> str:
    """The LaTeX row poseval prints, e.g. ``& 85.7 & 87.7 & 81.8 & 84.6 & 87.4 & 80.5 & 77.9 & 83.8 \\\\``."""
    vals = [columns[name] for name in COLUMN_NAMES]
    return "&" + "".join(format_cell(v, " &") for v in vals[:-1]) + format_cell(vals[-1], " \\\\")
