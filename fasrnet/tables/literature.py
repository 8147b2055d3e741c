"""The paper's numbers: ``literature.yaml`` (package data beside this module), with citation helpers.

``literature.yaml`` is the one file holding every number quoted from the paper (per table: its rows, bold cells,
notes) and the references they cite. :class:`Literature` reads it and formats citations; it records nothing:
which references a table cites is part of that table's result (:class:`fasrnet.tables.rows.Table`), and the
document (:mod:`fasrnet.tables.document`) lists them in order of first use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

#: The package data file, beside this module.
LITERATURE_FILE = "literature.yaml"


def load_literature() -> dict[str, Any]:
    """The literature data file shipped with the package (``fasrnet/tables/literature.yaml``)."""
    text = resources.files("fasrnet.tables").joinpath(LITERATURE_FILE).read_text(encoding="utf-8")
    return yaml.safe_load(text)


@dataclass(frozen=True)
class Literature:
    """The literature file's content: ``references`` by key, ``tables`` by name, the paper's own key."""

    data: dict[str, Any]

    @property
    def refs(self) -> dict[str, dict[str, Any]]:
        return self.data["references"]

    @property
    def tables(self) -> dict[str, dict[str, Any]]:
        return self.data["tables"]

    @property
    def paper_key(self) -> str:
        return self.data["paper"]["key"]

    def short(self, key: str) -> str:
        """``Girdhar et al. (2018), IEEE/CVF Conf on …`` — the paper's author-year plus the venue."""
        ref = self.refs[key]
        authors = [a.strip() for a in ref["cite"].split(",")]
        surname = authors[0].split()[0]
        if len(authors) >= 3 or "et al." in ref["cite"]:
            who = f"{surname} et al."
        elif len(authors) == 2:
            who = f"{surname} and {authors[1].split()[0]}"
        else:
            who = surname
        venue = re.split(r", (?:p\.|\d)", ref["venue"])[0]
        return f"{who} ({ref['year']}), *{venue}*"

    def this_paper(self) -> str:
        """``this paper (Zhong et al., 2024)`` — the paper's own rows."""
        ref = self.refs[self.paper_key]
        return f"this paper ({ref['cite'].split()[0]} et al., {ref['year']})"

    def full(self, key: str) -> str:
        """A reference as the paper's reference list gives it, with its DOI as a link."""
        ref = self.refs[key]
        doi = f" https://doi.org/{ref['doi']}" if ref.get("doi") else ""
        note = f" ({ref['note']})" if ref.get("note") else ""
        return f"{ref['cite']}, {ref['year']}. {ref['title']}. *{ref['venue']}*{note}.{doi}"

    def own_row(self, table: str) -> dict[str, Any] | None:
        """The paper's own row of ``table`` (``own: true``), or None."""
        return next((r for r in self.tables[table].get("rows", []) if r.get("own")), None)

    def compare_row(self, table: str) -> dict[str, Any] | None:
        """The row the backbone alone compares with (``compare:``), or None."""
        return next((r for r in self.tables[table].get("rows", []) if r.get("compare")), None)

    def source(self, row: dict[str, Any]) -> str:
        """A quoted row's source cell text after ``quoted · ``: this paper, or the row's reference."""
        return self.this_paper() if row.get("own") else self.short(row["ref"])


def cited_keys(rows: list[dict[str, Any]]) -> tuple[str, ...]:
    """The references quoted ``rows`` cite (other than this paper's own rows), in row order."""
    return tuple(row["ref"] for row in rows if not row.get("own"))
