"""``fasrnet tables``: the paper's Tables 1–10 as ``results/tables.md`` and the figures beside it.

- :mod:`fasrnet.tables.build` — the markdown tables (measured rows from the metrics files, literature rows from
  ``literature.yaml``), the "Orderings" section and ``results/summary.json``;
- :mod:`fasrnet.tables.figures` — ``per_joint_ap.png``, ``alpha_curve.png``, ``training_curves.png`` and
  ``qualitative.png`` (matplotlib, Agg; imported lazily so the tables never pull in matplotlib), listed with what
  each shows in ``FIGURES``;
- :mod:`fasrnet.tables.report` — the tables as a web page beside the figures, and what the Snakemake report shows
  (docs/report.md).

``literature.yaml`` (package data) is the one file holding every number quoted from the paper, with citations.
"""

from fasrnet.tables.build import build_tables, load_literature, missing_inputs, run_tables, summary_metrics

__all__ = ["build_tables", "load_literature", "missing_inputs", "run_tables", "summary_metrics"]
