"""``--from DIR``: find the extracted tree of a dataset in the user's folder, recognise what it is
(:mod:`~fasrnet.data.download.kinds`), and adopt it: its layout folders linked (or copied) and its box files
converted into a staging directory beside the dataset directory, the staged tree verified, and only then moved
into place with a ``dataset.json`` naming the kind and label version (``docs/data.md``, §8). A tree that fails
leaves the dataset directory as it was."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fasrnet.data.download.archive import move_into
from fasrnet.data.download.base import LayoutError, Log, log_to_stderr
from fasrnet.data.download.kinds import TreeKind
from fasrnet.data.download.layout import LayoutReport, verify_layout
from fasrnet.errors import FasrnetError
from fasrnet.io import write_json
from fasrnet.paths import DATASET_RECORD

#: The layout folders of an extracted tree that are linked (``detections`` copied) into the dataset directory.
ADOPTED_ENTRIES = ("images", "images_renamed", "annotations", "detections")
#: Where box files sit in a copy, relative to the tree: DCPose/PoseWarper ``{val,test}_boxes.json`` and mmpose's
#: ``*_human_detections.json`` (its tarball unpacks them beside the per-video folders).
BOX_FOLDERS = (".", "detections", "annotations", "posetrack_data", "posetrack_data/annotations")


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _links_leaving(tree: Path, folders: list[Path]) -> list[tuple[Path, Path]]:
    """(link, where it resolves to) for each symbolic link under ``folders`` that leads out of the copy: out of
    ``tree`` and out of each of ``folders`` (a layout folder that is itself a link to another disk is the copy's).
    Links within stay allowed (a frame linked to another frame of the copy)."""
    roots = [tree.resolve(), *(f.resolve() for f in folders)]
    leaving = []
    candidates: list[Path] = []
    for folder in folders:
        for top, dirs, names in os.walk(folder):  # the folder itself may be a link; the walk follows no other
            candidates += [Path(top, n) for n in (*dirs, *names) if os.path.islink(os.path.join(top, n))]
    for link in candidates:
        try:
            target = link.resolve()
        except (OSError, RuntimeError):  # a loop: no file behind it, which the layout check reports if named
            continue
        if not _inside(target, roots):
            leaving.append((link, target))
    return leaving


def _check_links(tree: Path, folders: list[Path]) -> None:
    """When linking, a symbolic link leading out of the copy is an error naming it (docs/data.md, §8): the dataset
    would hang on a file that is not the copy's and may change or vanish after the layout was verified (``--copy``
    copies the file behind it instead)."""
    leaving = _links_leaving(tree, folders)
    if leaving:
        link, target = leaving[0]
        more = f" (and {len(leaving) - 1} more link{'s' if len(leaving) > 2 else ''})" if len(leaving) > 1 else ""
        raise LayoutError(f"{link}: a symbolic link to {target}, outside the adopted tree {tree}{more}; move the "
                          "files into the tree, adopt the folder that holds them all, or adopt with --copy")


def _place(src: Path, dst: Path, link: bool) -> None:
    if link:
        os.symlink(src.resolve(), dst, target_is_directory=src.is_dir())
    elif src.is_dir():
        shutil.copytree(src, dst, symlinks=False)
    else:
        shutil.copy2(src, dst)


@dataclass
class Adoption:
    """What :func:`adopt_copy` did: the entries now in the dataset directory, the box files converted (split →
    source file), and the layout report of the staged tree."""

    entries: list[str]
    boxes: dict[str, str] = field(default_factory=dict)
    report: LayoutReport | None = None


def find_box_files(tree: Path, boxes_source: str = "mmpose") -> dict[str, tuple[str, Path]]:
    """The box files of a copy: split → (format, file). mmpose's ``*_human_detections.json`` are val boxes; DCPose's
    are named ``<split>_boxes.json``, also in a ``*_precomputed_boxes`` folder. Where one split has both, the
    ``boxes_source`` variant wins."""
    found: dict[str, dict[str, Path]] = {}
    folders = [tree / f for f in BOX_FOLDERS] + sorted(tree.glob("*_precomputed_boxes"))
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*_human_detections.json")):
            found.setdefault("val", {}).setdefault("mmpose", path)
        for split in ("val", "test"):
            path = folder / f"{split}_boxes.json"
            if path.is_file():
                found.setdefault(split, {}).setdefault("dcpose", path)
    chosen = {}
    for split, variants in found.items():
        fmt = boxes_source if boxes_source in variants else sorted(variants)[0]
        chosen[split] = (fmt, variants[fmt])
    return chosen


def adopt_copy(tree: Path, kind: TreeKind, dataset_dir: Path, link: bool = True,
               expected: Mapping[str, int] | None = None, sources: Mapping[str, str] | None = None,
               boxes_source: str = "mmpose", log: Log = log_to_stderr) -> Adoption:
    """Stage, verify and move into place the copy at ``tree`` of kind ``kind`` (its layout folders linked or
    copied, its box files converted into ``detections/<split>_boxes.json``, ``dataset.json`` written). Raises
    :class:`LayoutError` listing every problem of the staged tree, with ``dataset_dir`` left as it was."""
    from fasrnet.data.boxes import convert

    entries = {"annotations": kind.annotations}
    if kind.images is not None:
        entries[kind.image_entry] = kind.images
    if link:  # box files are converted, not linked: their links may lead anywhere
        _check_links(tree, list(entries.values()))
    for entry in entries:
        dst = dataset_dir / entry
        if link and dst.exists() and not dst.is_symlink() and (entries[entry].resolve() != dst.resolve()):
            raise FasrnetError(f"{dst}: exists and is not a link; move it away or use --copy")
    dataset_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{dataset_dir.name}.", suffix=".adopt.tmp", dir=dataset_dir.parent))
    try:
        for entry, src in entries.items():
            _place(src, stage / entry, link)
        boxes = {}
        for split, (fmt, path) in find_box_files(tree, boxes_source).items():
            ann = stage / "annotations" / split
            stats = convert(fmt, path, stage / "detections" / f"{split}_boxes.json", ann=ann if ann.is_dir() else None)
            log(f"{dataset_dir.name}: {path}: {stats.written} {fmt} boxes converted to detections/{split}_boxes.json "
                f"({stats.read} read, {stats.dropped_category} with category_id ≠ 1 dropped)")
            boxes[split] = str(path.resolve())
        report = verify_layout(stage, expected, sources)
        for split in ("train", "val", "test"):
            if split not in kind.videos and split in (expected or {}):
                report.problems.append(f"{split}: not in this copy, expected {expected[split]} videos")  # type: ignore[index]
        if not report.ok:
            raise LayoutError(f"{len(report.problems)} problem(s) in {tree}:\n"
                              + "\n".join(f"{dataset_dir.name}: {line}" for line in report.problems))
        if (stage / "detections").is_dir():
            entries["detections"] = stage / "detections"
        adopted = _move_staged(stage, dataset_dir, list(entries))
        write_json(dataset_dir / DATASET_RECORD, {**kind.to_json(tree), "boxes": boxes}, indent=1)
        how = "linked" if link else "copied"
        log(f"{dataset_dir.name}: {how} {', '.join(e for e in adopted if e != 'detections')} from {tree}")
        return Adoption(adopted, boxes, report)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _move_staged(stage: Path, dataset_dir: Path, names: list[str]) -> list[str]:
    """Move the staged entries (links, or copied folders merged into what is there) into ``dataset_dir``."""
    dataset_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        src, dst = stage / name, dataset_dir / name
        if src.is_symlink() and dst.is_dir() and not dst.is_symlink():
            raise FasrnetError(f"{dst}: exists and is not a link; move it away or use --copy")
        if src.is_symlink():
            os.replace(src, dst)
        else:
            move_into(src, dst)
    return names


def find_tree(from_dir: Path, dataset: str, single: bool) -> Path | None:
    """Where in ``from_dir`` the extracted tree of ``dataset`` is (``DIR/<dataset>``, ``DIR`` itself when one
    dataset is asked for, or ``posetrack_data/`` below either)."""
    candidates = [from_dir / dataset, from_dir / dataset / "posetrack_data"]
    if single:
        candidates += [from_dir, from_dir / "posetrack_data"]
    for c in candidates:
        if any((c / e).is_dir() for e in ("annotations", "images", "images_renamed")) or (
                c.name != "posetrack_data" and (c / "posetrack_data").is_dir()):
            return c
    return None
