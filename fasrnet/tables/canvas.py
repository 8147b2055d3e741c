"""The matplotlib canvas of the figures beside ``results/tables.md``: a figure on an Agg canvas (no pyplot state),
saved as a PNG without software/date metadata (the same inputs give the same bytes), and the placeholder a figure
whose inputs are missing is written as."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fasrnet.io import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100


def new_figure(width: float, height: float) -> Figure:
    """A ``width`` × ``height`` inch figure at :data:`DPI` on its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` as a PNG (atomically, no metadata); return ``path``."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    return path


def placeholder(path: Path, title: str, message: str) -> Path:
    """A figure saying what is missing, instead of the figure."""
    fig = new_figure(8, 3)
    ax = fig.add_subplot()
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=10, transform=ax.transAxes)
    return save(fig, path)
