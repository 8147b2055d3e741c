"""``fasrnet tables``: read the inputs once (:func:`fasrnet.tables.inputs.read_inputs`), then write
``results/tables.md``, ``results/summary.json``, the figures and, beside them, the tables as HTML."""

from __future__ import annotations

from pathlib import Path

from fasrnet import paths
from fasrnet.io import write_json, write_text
from fasrnet.params import Params
from fasrnet.tables.document import require_inputs, tables_markdown
from fasrnet.tables.inputs import SUMMARY_FILE, TABLES_FILE, read_inputs
from fasrnet.tables.summary import summary_of


def run_tables(params: Params, out: str | Path = TABLES_FILE, figures: str | Path | None = paths.FIGURES,
               summary: str | Path | None = SUMMARY_FILE, strict: bool = False, root: str | Path = ".") -> list[Path]:
    """Write the markdown, ``summary.json``, the figures and, beside them, the tables as HTML (``tables.html``,
    :mod:`fasrnet.tables.report`), all atomically; return the paths written. Output paths are taken as given
    (relative to the working directory), inputs under ``root``. ``strict``: fail on any missing input."""
    if strict:
        require_inputs(params, root)
    inputs = read_inputs(params, root)
    text = tables_markdown(inputs, figures, out)
    written = []
    write_text(out, text)
    written.append(Path(out))
    if summary is not None:
        write_json(summary, summary_of(inputs), indent=1)
        written.append(Path(summary))
    if figures is not None:
        from fasrnet.tables.figures import draw_figures  # matplotlib: only when there are figures
        from fasrnet.tables.report import write_tables_html

        written += draw_figures(inputs, figures)
        written.append(write_tables_html(text, out, figures))  # for the Snakemake report (docs/report.md)
    return written
