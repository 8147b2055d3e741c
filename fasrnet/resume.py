"""Fingerprinted, resumable stage outputs (docs/resume.md).

A resumable stage (crops, extract, train, backbone pretraining) builds one *unit* (a directory such as
``data/crops/syn17/train`` or ``models/main_syn17``) in a work directory outside the declared stage output
(``data/crops/.syn17.partial/train``, ``models/.main_syn17.partial``) and swaps it into place only when complete.
``fingerprint.json`` in the unit records what made it: the params keys the stage reads, digests of its inputs,
the backbone, the digest of the code that makes it (fasrnet.codedeps). The stage

- does nothing when the unit in place is complete and its fingerprint matches (up to date),
- resumes the work directory when its fingerprint matches (also after DVC or Snakemake deleted the output),
- else starts the work directory over; the unit in place stays untouched until the new one is complete.

``manifest.json`` (written at :meth:`Unit.commit`) lists the unit's files with their sizes and digests (small files
whole, big ones by their first and last 64 KiB); a unit whose files no longer match it is not up to date, so the
stage rebuilds it (docs/resume.md, "Verified outputs").
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fasrnet.io import remove_leftovers_beside, remove_path, swap_in_dir, write_json

if TYPE_CHECKING:
    import torch

    from fasrnet.params import Params

FINGERPRINT = "fingerprint.json"
MANIFEST = "manifest.json"
#: A unit's files up to this size are hashed whole in its manifest (json, csv, the done markers, small models)...
WHOLE_BYTES = 1 << 20
#: ...bigger ones (the shards, big checkpoints) by their size and their first and last ``SAMPLE_BYTES``.
SAMPLE_BYTES = 1 << 16
State = Literal["current", "resume", "fresh"]


# --------------------------------------------------------------------------------------------------------------
# Digests


#: The command whose code makes each resumable stage's units (the backbone's: pretraining, whichever command ran it).
FINGERPRINT_COMMANDS = {"crops": "crops", "extract": "extract", "train": "train", "backbone": "pretrain-backbone",
                        "adapt-backbone": "adapt-backbone"}


def code_version(stage: str) -> str:
    """The digest of the code that makes ``stage``'s units (fasrnet.codedeps): an edit elsewhere in the package, or
    a comment, keeps a work directory resumable; a change to what the stage runs starts it over."""
    from fasrnet.codedeps import command_digest

    return command_digest(FINGERPRINT_COMMANDS[stage])


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
    record = {"stage": stage, "code": code_version(stage), "params": dict(params), "inputs": dict(inputs), **extra}
    return json.loads(json.dumps(record, sort_keys=True))


# --------------------------------------------------------------------------------------------------------------
# Manifests: what a committed unit's files were


def _ends_sha256(path: Path, size: int, block: int) -> str:
    """sha256 over a file's first and last ``block`` bytes (``size`` its recorded size): two reads, however big."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(block))
        f.seek(max(size - block, 0))
        h.update(f.read(block))
    return h.hexdigest()


def _file_record(path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    if size <= WHOLE_BYTES:
        return {"size": size, "sha256": file_sha256(path)}
    return {"size": size, "ends": SAMPLE_BYTES, "sha256": _ends_sha256(path, size, SAMPLE_BYTES)}


def unit_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of ``directory``: every visible file but the manifest itself, by relative path, with its size
    and sha256 (whole up to :data:`WHOLE_BYTES`, else of its first and last :data:`SAMPLE_BYTES`)."""
    directory = Path(directory)
    return {"files": {path.relative_to(directory).as_posix(): _file_record(path) for path in _visible_files(directory)
                      if path.relative_to(directory).as_posix() != MANIFEST}}


def manifest_problem(directory: str | Path) -> str | None:
    """None when ``directory``'s files are those its ``manifest.json`` lists, each of the recorded size and digest;
    else what differs (the first difference found). A missing or unreadable manifest is a difference too: this code
    writes one into every unit it commits (docs/resume.md, "Verified outputs")."""
    directory = Path(directory)
    try:
        files = json.loads((directory / MANIFEST).read_text())["files"]
        records = {str(rel): (int(rec["size"]), str(rec["sha256"]), int(rec.get("ends", 0)))
                   for rel, rec in files.items()}
    except FileNotFoundError:
        return f"no {MANIFEST}"
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return f"{MANIFEST} unreadable"
    for rel, (size, digest, ends) in records.items():
        path = directory / rel
        try:
            actual = path.stat().st_size if path.is_file() else None
        except OSError:
            actual = None
        if actual is None:
            return f"{rel} missing"
        if actual != size:
            return f"{rel} is {actual} bytes, {MANIFEST} says {size}"
        try:
            found = _ends_sha256(path, size, ends) if ends else file_sha256(path)
        except OSError as exc:
            return f"{rel} unreadable ({exc.strerror or exc})"
        if found != digest:
            return f"{rel} has other bytes than when it was written"
    extra = next((p for p in _visible_files(directory)
                  if p.relative_to(directory).as_posix() not in records and p.name != MANIFEST), None)
    if extra is not None:
        return f"{extra.relative_to(directory).as_posix()} is not in {MANIFEST}"
    return None


def changed_units(root: str | Path) -> list[tuple[Path, str]]:
    """The units under ``root`` (``root`` included: every directory holding a ``fingerprint.json``) whose files
    differ from their manifest, each with what differs. The workflow's hand-over to DVC does not record them
    (docs/workflow.md, "Limits")."""
    root = Path(root)
    if not root.is_dir():
        return []
    units = (fp.parent for fp in sorted(root.rglob(FINGERPRINT))
             if not any(part.startswith(".") for part in fp.parent.relative_to(root).parts))
    return [(unit, problem) for unit in units if (problem := manifest_problem(unit)) is not None]


_warned: set[tuple[Path, str]] = set()


def _warn_damaged(target: Path, problem: str) -> None:
    """One ``warning:`` line per damaged unit and process (the stages look at a unit more than once)."""
    if (target, problem) not in _warned:
        _warned.add((target, problem))
        print(f"warning: {target}: changed since it was written ({problem}); rebuilding it", file=sys.stderr,
              flush=True)


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
        """True when the output in place is complete, was made by this fingerprint, and its files are still those
        its manifest recorded at commit (:func:`manifest_problem`); a damaged one is reported in one warning."""
        if not (self.target.is_dir() and complete(self.target) and read_fingerprint(self.target) == self.fingerprint):
            return False
        problem = manifest_problem(self.target)
        if problem is not None:
            _warn_damaged(self.target, problem)
        return problem is None

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
        """Record the complete work directory's manifest and swap it into place; the earlier output is deleted only
        afterwards."""
        remove_stray_temps(self.work)
        write_json(self.work / MANIFEST, unit_manifest(self.work), indent=1)
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
