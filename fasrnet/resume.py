"""Fingerprinted, resumable stage outputs (docs/resume.md).

A resumable stage (crops, extract, train, backbone pretraining) builds one *unit* (a directory such as
``data/crops/syn17/train`` or ``models/main_syn17``) in a work directory outside the declared stage output
(``data/crops/.syn17.partial/train``, ``models/.main_syn17.partial``) and swaps it into place only when complete.
``fingerprint.json`` in the unit records what made it: the params keys the stage reads, digests of its inputs,
the backbone, the code version. The stage

- does nothing when the unit in place is complete and its fingerprint matches (up to date),
- resumes the work directory when its fingerprint matches (also after DVC or Snakemake deleted the output),
- else starts the work directory over; the unit in place stays untouched until the new one is complete.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fasrnet.io import remove_leftovers_beside, remove_path, swap_in_dir, write_json

if TYPE_CHECKING:
    import torch

    from fasrnet.params import Params

FINGERPRINT = "fingerprint.json"
State = Literal["current", "resume", "fresh"]


# --------------------------------------------------------------------------------------------------------------
# Digests


@functools.cache
def code_version() -> str:
    """sha256 over the fasrnet package's ``.py`` sources (relative path and bytes), computed once per process."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _visible_files(root: Path) -> Iterator[Path]:
    """Files under ``root``, skipping hidden names (temporary files, work directories)."""
    for path in sorted(root.rglob("*")):
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts):
            yield path


def tree_digest(root: str | Path) -> str:
    """Digest of a big input tree (a dataset): per file its relative path and size, plus the sha256 of every
    ``.json`` file (annotations, detections, meta). Images are not read: hashing a PoseTrack copy at every
    stage run would cost minutes, and a changed frame changes the JPEG's size in practice. No mtimes, so the same
    data in another clone gives the same digest (and the stage's output the same bytes)."""
    root = Path(root)
    h = hashlib.sha256()
    for path in _visible_files(root):
        content = file_sha256(path) if path.suffix == ".json" else ""
        h.update(f"{path.relative_to(root).as_posix()}\0{path.stat().st_size}\0{content}\n".encode())
    return h.hexdigest()


def store_digest(root: str | Path) -> str:
    """Digest of a store written by an earlier stage: its fingerprint files' bytes plus its file manifest
    (relative path, size). The fingerprints already name everything that made the store, so no mtimes."""
    root = Path(root)
    h = hashlib.sha256()
    for path in _visible_files(root):
        rel = path.relative_to(root).as_posix()
        extra = file_sha256(path) if path.name == FINGERPRINT else ""
        h.update(f"{rel}\0{path.stat().st_size}\0{extra}\n".encode())
    return h.hexdigest()


def module_digest(module: torch.nn.Module) -> str:
    """sha256 over a module's state dict (names, dtypes, shapes, values): the backbone's own checksum."""
    import torch  # only the torch stages need it; crops stays free of the import

    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def make_fingerprint(stage: str, params: Mapping[str, Any], inputs: Mapping[str, Any],
                     **extra: Any) -> dict[str, Any]:
    """The fingerprint record: stage, code version, params values, input digests and anything else that
    changes the result. JSON round-tripped so a fresh value compares equal to one read back from disk."""
    record = {"stage": stage, "code": code_version(), "params": dict(params), "inputs": dict(inputs), **extra}
    return json.loads(json.dumps(record, sort_keys=True))


# --------------------------------------------------------------------------------------------------------------
# Work directories


def work_dir_for(target: str | Path, stage_out: str | Path | None = None) -> Path:
    """The work directory of ``target``: a hidden sibling of the declared stage output ``stage_out`` (default
    ``target`` itself), so deleting the output (DVC, Snakemake) does not delete the partial work."""
    target = Path(target)
    stage_out = Path(stage_out) if stage_out is not None else target
    base = stage_out.parent / f".{stage_out.name}.partial"
    return base if stage_out == target else base / target.relative_to(stage_out)


def read_fingerprint(directory: Path) -> dict[str, Any] | None:
    """The fingerprint recorded in ``directory``; None when missing or unreadable (then nothing matches)."""
    try:
        return json.loads((directory / FINGERPRINT).read_text())
    except (OSError, ValueError):
        return None


def remove_stray_temps(directory: Path) -> None:
    """Delete ``.*.tmp*`` files a killed atomic write left inside ``directory`` (they never reach an output)."""
    for path in directory.rglob(".*.tmp*"):
        remove_path(path)


@dataclass(frozen=True)
class Unit:
    """One resumable output: ``target`` is swapped in from ``work`` when ``fingerprint``'s work is complete."""

    target: Path
    work: Path
    fingerprint: dict[str, Any]

    def is_current(self, complete: Callable[[Path], bool]) -> bool:
        """True when the output in place is complete and was made by this fingerprint."""
        return self.target.is_dir() and complete(self.target) and read_fingerprint(self.target) == self.fingerprint

    def peek(self, complete: Callable[[Path], bool]) -> State:
        """What :meth:`open` would answer, found without deleting or writing anything (the free-space check
        before a stage starts, :mod:`fasrnet.cachesize`)."""
        if self.is_current(complete):
            return "current"
        if self.work.is_dir() and read_fingerprint(self.work) == self.fingerprint:
            return "resume"
        return "fresh"

    def open(self, complete: Callable[[Path], bool]) -> State:
        """``current`` (nothing to do), ``resume`` (the work directory matches) or ``fresh`` (started over)."""
        remove_leftovers_beside(self.target)
        state = self.peek(complete)
        if state == "resume":
            remove_stray_temps(self.work)
        elif state == "fresh":
            self.prepare_fresh()
        return state

    def prepare_fresh(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        write_json(self.work / FINGERPRINT, self.fingerprint, indent=1)

    def commit(self) -> None:
        """Swap the complete work directory into place; the earlier output is deleted only afterwards."""
        remove_stray_temps(self.work)
        swap_in_dir(self.work, self.target)
        if self.work.parent.name.endswith(".partial"):  # the stage's partial folder, once its last unit is in
            with contextlib.suppress(OSError):
                self.work.parent.rmdir()


def stage_params(params: Params, template: str, run: str = "") -> dict[str, Any]:
    """The values of the params keys the stage registry (:mod:`fasrnet.stages`) lists for ``template``: the
    same keys DVC and Snakemake stamp, so a stage reruns here exactly when they would rerun it."""
    from fasrnet.stages import stamp_values, templates

    template_ = next(t for t in templates() if t.name == template)
    return stamp_values(params, tuple(k.replace("{run}", run) for k in template_.params))
