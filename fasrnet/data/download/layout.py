"""Layout verification of a dataset tree: per-split video counts, every annotation file read with
:func:`~fasrnet.data.posetrack.read_video`, every referenced image present, detection files valid."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fasrnet.errors import InputFormatError
from fasrnet.paths import SPLITS

#: Layout problems listed per annotation file before the rest are summarised in one line.
MAX_MISSING_PER_VIDEO = 5


@dataclass
class LayoutReport:
    """What :func:`verify_layout` found: per-split video counts and one line per problem."""

    root: Path
    videos: dict[str, int] = field(default_factory=dict)
    frames: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_layout(root: str | Path, expected: Mapping[str, int] | None = None,
                  sources: Mapping[str, str] | None = None, check_boxes: bool = True) -> LayoutReport:
    """Check a dataset tree in the pipeline's layout (``images/<split>/<video>/…``, ``annotations/<split>/
    <video>.json``): video counts against ``expected`` (split → count), every annotation file readable, every
    image it references present; detection files (if any) valid."""
    from fasrnet.data.boxes import read_boxes
    from fasrnet.data.posetrack import read_video

    root = Path(root)
    report = LayoutReport(root=root)
    expected = dict(expected or {})
    sources = dict(sources or {})
    if not root.is_dir():
        report.problems.append(f"{root}: dataset directory missing")
        return report
    present = [s for s in SPLITS if (root / "annotations" / s).is_dir() or (root / "images" / s).is_dir()]
    splits = [s for s in SPLITS if s in expected or s in present]
    splits += sorted(s for s in expected if s not in SPLITS)
    if not splits:
        report.problems.append("annotations/: no split directories (train, val, test) found")
    for split in splits:
        ann_dir, img_dir = root / "annotations" / split, root / "images" / split
        ann = {p.stem: p for p in sorted(ann_dir.glob("*.json"))} if ann_dir.is_dir() else {}
        if not ann_dir.is_dir():
            report.problems.append(f"annotations/{split}/: directory missing")
        if img_dir.is_dir():
            image_videos = {d.name for d in img_dir.iterdir() if d.is_dir() and not d.name.startswith(".")}
            for video in sorted(image_videos - set(ann)):
                report.problems.append(f"{split}/{video}: annotation file missing")
        report.videos[split] = len(ann)
        if split in expected and len(ann) != expected[split]:
            why = f" ({sources[split]})" if split in sources else ""
            report.problems.append(f"{split}: {len(ann)} videos with annotation files, expected {expected[split]}{why}")
        folder_lines = []
        for video, path in ann.items():
            rel_ann = f"annotations/{split}/{path.name}"
            try:
                frames = read_video(path).frames
            except InputFormatError as exc:
                report.problems.append(f"{rel_ann}: unreadable: {exc.field + ': ' if exc.field else ''}{exc.detail}")
                continue
            report.frames += len(frames)
            missing = [f.image for f in frames if not (root / f.image).is_file()]
            if not missing:
                continue
            folders = {posixpath.dirname(m) for m in missing}
            if len(missing) == len(frames) and len(folders) == 1 and not (root / folders.pop()).is_dir():
                folder_lines.append(f"{posixpath.dirname(missing[0])}/: directory missing "
                                    f"({len(missing)} frames referenced by {rel_ann})")
                continue
            for image in missing[:MAX_MISSING_PER_VIDEO]:
                report.problems.append(f"{image} referenced by {rel_ann}: not found")
            if len(missing) > MAX_MISSING_PER_VIDEO:
                report.problems.append(f"… and {len(missing) - MAX_MISSING_PER_VIDEO} more images referenced by "
                                       f"{rel_ann}: not found")
        if len(folder_lines) > 1 and not img_dir.is_dir():
            report.problems.append(f"images/{split}/: directory missing (images of {len(folder_lines)} annotated "
                                   "videos)")
        else:
            report.problems.extend(folder_lines)
    if check_boxes:
        for split in ("val", "test"):
            boxes = root / "detections" / f"{split}_boxes.json"
            if boxes.is_file():
                try:
                    read_boxes(boxes)
                except InputFormatError as exc:
                    where = f"{exc.field}: " if exc.field else ""
                    report.problems.append(f"detections/{boxes.name}: {where}{exc.detail}")
            elif split in splits:
                report.notes.append(f"detections/{split}_boxes.json: not present ({split} crops will need GT boxes "
                                    "or `fasrnet boxes convert`)")
    return report
