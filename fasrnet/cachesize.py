"""How big the crop and feature caches get, and the free-space check before ``fasrnet crops`` and
``fasrnet extract`` write them (docs/data.md, §7).

Each stage first counts what it will write — crops: the person boxes it will cut, times ``crops.train_views`` for
train; extract: the crops in the crop index — and multiplies by the bytes of one item, which the shapes fix
exactly (:func:`fasrnet.shards.store_bytes`, ``.npy`` headers and ``done`` markers included). A resumed store counts
only its shards still to write. The stage prints one line per split, e.g.::

    crops syn18/train: 21 crops × 996 kB = 20.9 MB projected, 79.2 GB free on data

and refuses, before it writes anything, with one error when the file system that will hold its outputs has less
free space than all the splits it projects there plus a margin (:data:`MARGIN_FRACTION`, at least
:data:`MARGIN_BYTES`). ``--no-space-check`` (or ``FASRNET_NO_SPACE_CHECK=1``, for the workflow's commands) keeps the
lines and drops the refusal.

Not projected, and left to the margin: the JSON indexes (``index.json`` lists every frame path of the split) and
file-system blocks (up to 4 KiB per file). Nor does the check know about a DVC cache that copies each output
(docs/data.md, §7).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from fasrnet.errors import FasrnetError

#: Free space kept beyond the projection, as a fraction of it ...
MARGIN_FRACTION = 0.05
#: ... and at least this many bytes (500 MB): room for the unprojected JSON files, logs and other writers.
MARGIN_BYTES = 500 * 1000**2
#: Environment variable that turns the refusal off (any value but empty or 0), as ``--no-space-check`` does.
SKIP_ENV = "FASRNET_NO_SPACE_CHECK"
#: Decimal units of :func:`human` (as ``df -H``): a "GB" is 10^9 bytes.
_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def human(n: float) -> str:
    """Bytes in decimal units with three significant digits: ``1.99 MB``, ``53.1 GB``, ``812 B``."""
    for unit in _UNITS:
        if abs(n) < 999.5 or unit == _UNITS[-1]:
            return f"{int(n)} B" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def tree_bytes(root: str | Path) -> int:
    """Total file size under ``root`` (0 when it does not exist)."""
    root = Path(root)
    if not root.is_dir():
        return 0
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def nearest_existing(path: str | Path) -> Path:
    """``path`` or its nearest parent that exists: where to ask the file system before anything is created."""
    path = Path(path)
    return next(p for p in (path, *path.parents) if p.exists())  # a relative path ends at ".", which exists


def enforced(no_space_check: bool = False) -> bool:
    """Whether to refuse a stage that does not fit: not with ``--no-space-check`` or :data:`SKIP_ENV` set."""
    return not no_space_check and os.environ.get(SKIP_ENV, "").strip() in ("", "0")


@dataclass(frozen=True)
class Projection:
    """What one split of a stage will write: ``pending`` of its ``crops`` items, ``bytes`` in all, into
    ``directory`` (the stage's work directory), after deleting ``reclaim`` bytes of a stale partial store."""

    stage: str
    name: str
    crops: int
    pending: int
    bytes: int
    directory: Path
    reclaim: int = 0

    @property
    def per_crop(self) -> float:
        return self.bytes / self.pending if self.pending else 0.0

    def line(self, free: int, where: Path) -> str:
        count = (f"{self.crops:,} crops" if self.pending == self.crops
                 else f"{self.pending:,} of {self.crops:,} crops left")
        return (f"{self.stage} {self.name}: {count} × {human(self.per_crop)} = {human(self.bytes)} projected, "
                f"{human(free)} free on {where}")


def check_space(projections: Iterable[Projection], enforce: bool = True,
                echo: Callable[[str], None] = print) -> None:
    """Print each projection's line; raise :class:`FasrnetError` (before anything is written) when a file system's
    free space (``shutil.disk_usage`` at the nearest existing parent of the directories) plus what the stage
    deletes first is below the bytes projected onto it plus the margin. ``enforce=False``: print only."""
    groups: dict[int, list[tuple[Projection, Path]]] = {}
    for proj in projections:
        where = nearest_existing(proj.directory)
        groups.setdefault(os.stat(where).st_dev, []).append((proj, where))
    for group in groups.values():
        free = {where: shutil.disk_usage(where).free for _, where in group}
        for proj, where in group:
            echo(proj.line(free[where], where))
        need = sum(proj.bytes for proj, _ in group)
        margin = max(MARGIN_BYTES, int(need * MARGIN_FRACTION))
        where = min(free, key=lambda w: free[w])
        freed = sum(proj.reclaim for proj, _ in group)
        if not enforce or need == 0 or free[where] + freed >= need + margin:
            continue
        first = group[0][0]
        into = Path(os.path.commonpath([str(proj.directory) for proj, _ in group]))
        names = ", ".join(proj.name for proj, _ in group)
        raise FasrnetError(
            f"{first.stage} {names}: {human(need)} projected into {into} plus a "
            f"{human(margin)} margin, but only {human(free[where])} free on {where}"
            + (f" (+{human(freed)} of stale partial stores it would delete first)" if freed else "")
            + f"; free space there or put {where} on a bigger disk, or pass --no-space-check ({SKIP_ENV}=1) "
            "if you know better (docs/data.md, §7)")
