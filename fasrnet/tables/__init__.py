"""``fasrnet tables``: the paper's Tables 1–10 as ``results/tables.md`` and the figures beside it.

- :mod:`fasrnet.tables.inputs` — what the tables read (metrics files, ``run.json``, ``complexity.json``, the
  literature), read once into an immutable :class:`~fasrnet.tables.inputs.Inputs`, and the runs they show;
- :mod:`fasrnet.tables.literature` — ``literature.yaml`` (package data), the one file holding every number
  quoted from the paper, with citations;
- :mod:`fasrnet.tables.compare` (Tables 1–5) and :mod:`fasrnet.tables.ablation` (Tables 6–10) — one function per
  table, returning its rows and the paper's orderings it checks (:mod:`fasrnet.tables.rows`);
- :mod:`fasrnet.tables.document` — the markdown document: header, tables, "Orderings", references;
  :mod:`fasrnet.tables.markdown` — the pipe-table helpers (shared with ``results/runtime.md``);
- :mod:`fasrnet.tables.summary` — ``results/summary.json``;
- :mod:`fasrnet.tables.command` — :func:`run_tables`, what ``fasrnet tables`` calls;
- :mod:`fasrnet.tables.figures` — ``per_joint_ap.png``, ``alpha_curve.png``, ``training_curves.png`` and
  ``qualitative.png`` (:mod:`fasrnet.tables.qualitative`; matplotlib, Agg: :mod:`fasrnet.tables.canvas`, imported
  lazily so the tables never pull in matplotlib), listed with what each shows in ``FIGURES``;
- :mod:`fasrnet.tables.report` — the tables as a web page beside the figures, and what the Snakemake report shows
  (docs/report.md);
- :mod:`fasrnet.tables.runtime` — ``fasrnet runtime``: ``results/runtime.md`` from the stages' benchmark files
  (docs/runtime.md).
"""

from fasrnet.tables.command import run_tables
from fasrnet.tables.document import build_tables
from fasrnet.tables.inputs import missing_inputs
from fasrnet.tables.literature import load_literature
from fasrnet.tables.summary import summary_metrics

__all__ = ["build_tables", "load_literature", "missing_inputs", "run_tables", "summary_metrics"]
