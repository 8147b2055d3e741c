"""Which kind of PoseTrack copy a tree is, and which label version: recognised from the files themselves
(``docs/data.md``, §8), before anything is adopted.

The kinds (:data:`KINDS`):

- ``posetrack18``: ``images/<split>/…`` and ``annotations/<split>/<video>.json`` (or ``posetrack_data/annotations``),
  PoseTrack18 JSON. The label version follows from the number of val files: 170 is v0.45, 74 is v0.2 (the only
  difference the users of the two releases report).
- ``posetrack21``: ``images/{train,val}/…`` and ``posetrack_data/{train,val}/<video>.json``: PoseTrack18 JSON with
  PoseTrack21's fields (``person_id`` on the persons, ``has_labeled_person`` on the images).
- ``posetrack17``: the 2017 release, ``annotations/<split>/<video>.json`` in the ``annolist`` format, image names
  under ``images/``; v0.75 when the splits hold 250 / 50 / 214 videos.
- ``posetrack17_dcpose``: the same labels with image names under DCPose's / PoseWarper's ``images_renamed/``.

A tree whose files match none of these, or several at once (2017 and 2018 files side by side, PoseTrack21 files
among PoseTrack18 ones, image names under both ``images/`` and ``images_renamed/``), gets one
:class:`~fasrnet.data.download.base.LayoutError` saying what was found. A known format whose counts match no known
version is refused unless the caller gives the counts (``--expect``): then it is adopted as a partial copy of
unknown version.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fasrnet.data.download.base import LayoutError
from fasrnet.errors import InputFormatError
from fasrnet.paths import SPLITS

#: kind → (dataset it is adopted as, how tables and messages name its labels).
KINDS: dict[str, tuple[str, str]] = {
    "posetrack18": ("posetrack18", "PoseTrack18"),
    "posetrack21": ("posetrack21", "PoseTrack21"),
    "posetrack17": ("posetrack17", "PoseTrack17"),
    "posetrack17_dcpose": ("posetrack17", "PoseTrack17"),
}

#: Label versions per format family: version → videos per split (docs/data.md, §1 and §8).
VERSIONS: dict[str, dict[str, dict[str, int]]] = {
    "posetrack18": {"v0.45": {"train": 593, "val": 170, "test": 375}, "v0.2": {"train": 593, "val": 74, "test": 375}},
    "posetrack21": {"v0.1": {"train": 593, "val": 170}},
    "posetrack17": {"v0.75": {"train": 250, "val": 50, "test": 214}},
}
UNKNOWN = "unknown"


@dataclass
class TreeKind:
    """What :func:`detect_kind` found in a tree."""

    kind: str
    label_version: str
    annotations: Path  # the folder holding <split>/<video>.json
    images: Path | None  # the folder the image names start with (images/ or images_renamed/), if present
    image_entry: str  # "images" or "images_renamed"
    videos: dict[str, int] = field(default_factory=dict)

    @property
    def dataset(self) -> str:
        return KINDS[self.kind][0]

    @property
    def labels(self) -> str:
        """``PoseTrack18 v0.45 labels``, ``PoseTrack21 labels``, ``PoseTrack18 labels of unknown version``."""
        family = KINDS[self.kind][1]
        if self.label_version == UNKNOWN:
            return f"{family} labels of unknown version"
        if self.kind == "posetrack21":
            return f"{family} labels"
        return f"{family} {self.label_version} labels"

    @property
    def expected(self) -> dict[str, int]:
        """Videos per split of the version, for the splits this copy holds."""
        table = VERSIONS[_family(self.kind)].get(self.label_version, {})
        return {s: n for s, n in table.items() if s in self.videos}

    def describe(self) -> str:
        layout = {"posetrack17_dcpose": "DCPose's images_renamed layout"}.get(self.kind,
                                                                               f"{KINDS[self.kind][1]} layout")
        counts = ", ".join(f"{s} {n}" for s, n in self.videos.items())
        return f"{self.labels}, {layout} ({counts} videos)"

    def to_json(self, source: Path) -> dict[str, Any]:
        return {"kind": self.kind, "dataset": self.dataset, "labels": self.labels,
                "label_version": self.label_version, "videos": dict(self.videos), "from": str(source.resolve())}


def _family(kind: str) -> str:
    return "posetrack17" if kind.startswith("posetrack17") else kind


@dataclass
class _FileSig:
    fmt: int  # 17 or 18
    pt21: bool  # PoseTrack21's person_id / has_labeled_person present
    image_root: str | None  # first path component of the image names


def _signature(path: Path) -> _FileSig:
    from fasrnet.data.jsonpath import read_json

    obj = read_json(path)
    if isinstance(obj, dict) and "annolist" in obj:
        names = [img.get("name") for entry in obj["annolist"] if isinstance(entry, dict)
                 for img in (entry.get("image") or []) if isinstance(img, dict)]
        pt21 = False
    elif isinstance(obj, dict) and isinstance(obj.get("images"), list):
        images = [i for i in obj["images"] if isinstance(i, dict)]
        names = [i.get("file_name") for i in images]
        anns = obj.get("annotations") if isinstance(obj.get("annotations"), list) else []
        pt21 = (any("has_labeled_person" in i for i in images)
                or any(isinstance(a, dict) and "person_id" in a for a in anns))
    else:
        raise InputFormatError(path, "", "not a PoseTrack annotation file: expected an object with 'images' "
                                         "(PoseTrack18/21) or 'annolist' (PoseTrack17)")
    roots = {n.replace("\\", "/").lstrip("./").split("/")[0] for n in names if isinstance(n, str) and n}
    root = "images_renamed" if "images_renamed" in roots else (min(roots) if roots else None)
    return _FileSig(17 if "annolist" in obj else 18, pt21, root)


def _annotation_roots(tree: Path) -> dict[str, Path]:
    """Candidate folders holding ``<split>/*.json``, by layout: ``annotations`` (PoseTrack17/18) and
    ``posetrack_data`` (PoseTrack21)."""
    roots = {}
    for name, path in (("annotations", tree / "annotations"), ("annotations", tree / "posetrack_data" / "annotations"),
                       ("posetrack_data", tree / "posetrack_data")):
        if name not in roots and any(path.joinpath(s).is_dir() and any(path.joinpath(s).glob("*.json"))
                                     for s in SPLITS):
            roots[name] = path
    return roots


def detect_kind(tree: Path, expect: Mapping[str, int] | None = None) -> TreeKind:
    """The kind and label version of the copy at ``tree`` (a :class:`LayoutError` saying what was found when it
    is none of :data:`KINDS`, a mix, or an unknown version without ``expect``)."""
    roots = _annotation_roots(tree)
    if not roots:
        raise LayoutError(f"{tree}: no annotation files: expected annotations/<split>/<video>.json (PoseTrack17/18) "
                          "or posetrack_data/<split>/<video>.json (PoseTrack21)")
    if len(roots) > 1:
        raise LayoutError(f"{tree}: mixed tree: both {roots['annotations'].relative_to(tree)}/ (PoseTrack17/18 layout) "
                          "and posetrack_data/<split>/ (PoseTrack21 layout) hold annotation files; keep one")
    layout, ann_root = next(iter(roots.items()))
    videos: dict[str, int] = {}
    sigs: dict[str, Counter[str]] = {}
    found: Counter[str] = Counter()
    image_roots: Counter[str] = Counter()
    for split in SPLITS:
        files = sorted(ann_root.joinpath(split).glob("*.json")) if ann_root.joinpath(split).is_dir() else []
        if not files:
            continue
        videos[split] = len(files)
        sigs[split] = Counter()
        for f in files:
            try:
                sig = _signature(f)
            except InputFormatError as exc:
                raise LayoutError(str(exc)) from None
            what = "PoseTrack17 annolist" if sig.fmt == 17 else ("PoseTrack21" if sig.pt21 else "PoseTrack18")
            sigs[split][what] += 1
            found[what] += 1
            if sig.image_root:
                image_roots[sig.image_root] += 1
    where = ann_root.relative_to(tree)
    if len(found) > 1:
        detail = "; ".join(f"{s}: " + ", ".join(f"{n} {w}" for w, n in c.most_common()) for s, c in sigs.items())
        raise LayoutError(f"{tree}: mixed tree: {where}/ holds files of several formats ({detail}); "
                          "a copy holds one release")
    if len(image_roots) > 1:
        detail = ", ".join(f"{n} under {r}/" for r, n in image_roots.most_common())
        raise LayoutError(f"{tree}: mixed tree: the annotation files name images in several folders ({detail})")
    what = next(iter(found))
    image_entry = next(iter(image_roots), "images")
    if what == "PoseTrack17 annolist":
        kind = "posetrack17_dcpose" if image_entry == "images_renamed" else "posetrack17"
    elif what == "PoseTrack21":
        kind = "posetrack21"
    elif layout == "posetrack_data":
        raise LayoutError(f"{tree}: posetrack_data/<split>/ (PoseTrack21's layout) holds PoseTrack18 files without "
                          "PoseTrack21's person_id / has_labeled_person fields; a PoseTrack18 copy goes in "
                          "annotations/<split>/")
    else:
        kind = "posetrack18"
    if image_entry not in ("images", "images_renamed"):
        raise LayoutError(f"{tree}: the image names in {where}/ start with {image_entry}/, expected images/ "
                          "(or images_renamed/ for DCPose's PoseTrack17 layout)")
    image_dir = next((d for d in (tree / image_entry, tree / "posetrack_data" / image_entry) if d.is_dir()), None)
    version = _version(kind, videos, tree, where, expect)
    return TreeKind(kind, version, ann_root, image_dir, image_entry, videos)


def _version(kind: str, videos: dict[str, int], tree: Path, where: Path, expect: Mapping[str, int] | None) -> str:
    family = _family(kind)
    for version, counts in VERSIONS[family].items():
        if all(counts.get(s) == n for s, n in videos.items()) and (family != "posetrack18" or "val" in videos):
            return version
    if expect is not None:
        return UNKNOWN
    counts = ", ".join(f"{s} {n}" for s, n in videos.items())
    known = "; ".join(f"{v}: " + "/".join(str(c[s]) for s in SPLITS if s in c) for v, c in VERSIONS[family].items())
    arg = ",".join(f"{s}={n}" for s, n in videos.items())
    raise LayoutError(f"{tree}: {where}/ holds {KINDS[kind][1]} files ({counts} videos), which match no label "
                      f"version this pipeline knows ({known} train/val/test videos; docs/data.md, §8); to adopt a "
                      f"partial copy as it is, pass --expect {arg}")
