"""Person detection boxes: the pipeline's detection format and adapters from the formats the boxes come in.

The pipeline's format is the DCPose/PoseWarper precomputed-box format (``docs/data.md``, §3):
a JSON list of ::

    {"image_name": "images/val/000342_mpii_test/000017.jpg", "image_id": 10003420017, "category_id": 1,
     "bbox": [x, y, w, h], "score": 0.93, "nframes": 150, "frame_id": 10003420017}

``image_name`` is relative to the dataset root; ``bbox`` is xywh in image pixels. Every field is required.

Adapters:

- ``dcpose``: DCPose/PoseWarper/FaSRnet ``{image_name, bbox, score, …}`` lists. ``image_id``, ``nframes`` and
  ``frame_id`` may be missing; they are taken from an annotation index (``--ann``) when one is given, otherwise
  ``image_id``/``frame_id`` are derived from the PoseTrack name scheme (:func:`~fasrnet.data.posetrack.image_id_2018`)
  and a missing ``nframes`` is an error naming the field.
- ``mmpose``: COCO-results lists ``{image_id, bbox, score, category_id}`` (mmpose's
  ``posetrack18_val_human_detections.json``); ``image_id`` is looked up in the merged val JSON's ``images``
  (``file_name``, ``nframes``, ``frame_id``).

Entries with ``category_id`` ≠ 1 are dropped (the DCPose/PoseWarper loaders skip them). The score threshold is
*not* applied here: the crops stage applies it, so the raw boxes stay available; ``min_score`` filters only when
asked for explicitly.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fasrnet.data.posetrack import (
    VIDEO_NAME_RE,
    _kind,
    _load_json,
    finite_float,
    image_id_2018,
    nonfinite_error,
    read_video,
    to_2018,
)
from fasrnet.errors import InputFormatError
from fasrnet.io import write_json

FORMATS = ("dcpose", "mmpose")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Box:
    """One detection in the pipeline's format (``bbox`` is x, y, w, h)."""

    image_name: str
    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]
    score: float
    nframes: int
    frame_id: int

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["bbox"] = [float(v) for v in self.bbox]
        d["score"] = float(self.score)
        return d


@dataclass
class ConvertStats:
    """What a conversion did (printed by ``fasrnet boxes convert``)."""

    read: int = 0
    written: int = 0
    dropped_category: int = 0
    dropped_score: int = 0


# --------------------------------------------------------------------------------------------------------------
# Field validation (every error names the file and the JSON path)


def _list(obj: Any, path: Path, where: str = "") -> list[Any]:
    if not isinstance(obj, list):
        raise InputFormatError(path, where, f"expected a JSON list of boxes, got {_kind(obj)}")
    return obj


def _entry(item: Any, path: Path, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise InputFormatError(path, where, f"expected an object, got {_kind(item)}")
    return item


def _number(value: Any, path: Path, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputFormatError(path, where, f"expected a finite number, got {_kind(value)}")
    f = finite_float(value)  # the json module reads NaN, Infinity and 1e400 as floats, and huge integers exactly
    if f is None:
        raise nonfinite_error(path, where, value)
    return f


def _integer(value: Any, path: Path, where: str) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputFormatError(path, where, f"expected an integer, got {_kind(value)}")
    return value


def _string(value: Any, path: Path, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InputFormatError(path, where, f"expected a non-empty string, got {_kind(value)}")
    return value


def _bbox(value: Any, path: Path, where: str) -> tuple[float, float, float, float]:
    if not isinstance(value, list) or len(value) != 4:
        got = f"{len(value)} numbers" if isinstance(value, list) else _kind(value)
        raise InputFormatError(path, where, f"expected 4 numbers [x, y, w, h], got {got}")
    x, y, w, h = (_number(v, path, f"{where}[{k}]") for k, v in enumerate(value))
    if w < 0 or h < 0:
        raise InputFormatError(path, where, f"width and height must not be negative, got w={w:g}, h={h:g}")
    return (x, y, w, h)


def _required(entry: dict[str, Any], key: str, path: Path, where: str) -> Any:
    if key not in entry:
        raise InputFormatError(path, f"{where}.{key}", "missing")
    return entry[key]


# --------------------------------------------------------------------------------------------------------------
# The pipeline's format


def parse_boxes(obj: Any, path: str | Path = "<boxes>") -> list[Box]:
    """Validate a parsed pipeline-format box list."""
    path = Path(path)
    boxes = []
    for i, item in enumerate(_list(obj, path)):
        where = f"[{i}]"
        e = _entry(item, path, where)
        boxes.append(Box(
            image_name=_string(_required(e, "image_name", path, where), path, f"{where}.image_name"),
            image_id=_integer(_required(e, "image_id", path, where), path, f"{where}.image_id"),
            category_id=_integer(_required(e, "category_id", path, where), path, f"{where}.category_id"),
            bbox=_bbox(_required(e, "bbox", path, where), path, f"{where}.bbox"),
            score=_number(_required(e, "score", path, where), path, f"{where}.score"),
            nframes=_positive(_integer(_required(e, "nframes", path, where), path, f"{where}.nframes"), path,
                              f"{where}.nframes"),
            frame_id=_integer(_required(e, "frame_id", path, where), path, f"{where}.frame_id"),
        ))
    return boxes


def _positive(value: int, path: Path, where: str) -> int:
    if value < 1:
        raise InputFormatError(path, where, f"expected at least 1, got {value}")
    return value


def read_boxes(path: str | Path) -> list[Box]:
    """Read and validate a detection file in the pipeline's format."""
    path = Path(path)
    return parse_boxes(_load_json(path), path)


def write_boxes(path: str | Path, boxes: list[Box]) -> None:
    """Write boxes atomically in the pipeline's format (one entry per line is not needed: compact JSON)."""
    write_json(path, [b.to_json() for b in boxes])


# --------------------------------------------------------------------------------------------------------------
# Image index: file name → (image_id, nframes, frame_id), from a merged JSON, a per-video JSON or a directory


@dataclass(frozen=True)
class ImageInfo:
    file_name: str
    image_id: int
    nframes: int
    frame_id: int


class ImageIndex:
    """Images of an annotation source, looked up by id (mmpose) or by normalised file name (DCPose)."""

    def __init__(self, infos: list[ImageInfo]):
        self.by_id = {i.image_id: i for i in infos}
        self.by_name = {normalize_image_name(i.file_name): i for i in infos}

    def __len__(self) -> int:
        return len(self.by_id)


def _infos_from_coco(obj: dict[str, Any], path: Path) -> list[ImageInfo]:
    images = obj.get("images")
    if not isinstance(images, list):
        raise InputFormatError(path, "images", f"expected a list of images, got {_kind(images)}")
    raw = []
    for i, img in enumerate(images):
        where = f"images[{i}]"
        e = _entry(img, path, where)
        name = _string(_required(e, "file_name", path, where), path, f"{where}.file_name")
        image_id = _integer(_required(e, "id", path, where), path, f"{where}.id")
        nframes = _integer(e["nframes"], path, f"{where}.nframes") if e.get("nframes") is not None else None
        frame_id = _integer(e["frame_id"], path, f"{where}.frame_id") if e.get("frame_id") is not None else image_id
        raw.append((name, image_id, nframes, frame_id))
    # Images without nframes: count the images of the same video folder in this file.
    per_video = Counter(posixpath.dirname(normalize_image_name(n)) for n, *_ in raw)
    return [
        ImageInfo(n, iid, nf if nf is not None else per_video[posixpath.dirname(normalize_image_name(n))], fid)
        for n, iid, nf, fid in raw
    ]


def load_image_index(path: str | Path) -> ImageIndex:
    """Build an :class:`ImageIndex` from a merged COCO-style JSON (mmpose's ``posetrack18_val.json``, DCPose's
    ``posetrack_val.json``), a single PoseTrack video file, or a directory of per-video files (either format)."""
    path = Path(path)
    if path.is_dir():
        infos: list[ImageInfo] = []
        files = sorted(path.rglob("*.json"))
        if not files:
            raise InputFormatError(path, "", "no *.json annotation files in this directory")
        for f in files:
            infos.extend(_infos_from_video_file(f))
        return ImageIndex(infos)
    obj = _load_json(path)
    if isinstance(obj, dict) and "images" in obj:
        return ImageIndex(_infos_from_coco(obj, path))
    return ImageIndex(_infos_from_video_file(path))


def _infos_from_video_file(path: Path) -> list[ImageInfo]:
    obj = _load_json(path)
    if isinstance(obj, dict) and "images" in obj:
        return _infos_from_coco(obj, path)
    video = read_video(path)  # 2017 annolist: ids follow the 2018 scheme
    return _infos_from_coco(to_2018(video), path)


# --------------------------------------------------------------------------------------------------------------
# Adapters


def normalize_image_name(name: str) -> str:
    """Bring an image path to the pipeline's form, relative to the dataset root.

    ``./DataSet/PoseTrack2018/images/val/x/000017.jpg`` → ``images/val/x/000017.jpg`` (cut at the ``images``
    or ``images_renamed`` component); ``val/x/000017.jpg`` (relative to the image directory, as some box files
    are [inferred]) → ``images/val/x/000017.jpg``. Anything else is kept as it is.
    """
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    for k, part in enumerate(parts):
        if part in ("images", "images_renamed"):
            return "/".join(parts[k:])
    if parts and parts[0] in SPLITS:
        return "/".join(["images", *parts])
    return "/".join(parts)


def _derived_ids(image_name: str) -> tuple[int, int] | None:
    """PoseTrack18 ids from ``images/<split>/<vid>_<source>…/<frame>.jpg``, or None when the name does not
    follow the scheme."""
    video = posixpath.basename(posixpath.dirname(image_name))
    stem = posixpath.splitext(posixpath.basename(image_name))[0]
    match = VIDEO_NAME_RE.match(video)
    if not match or not stem.isdigit() or int(stem) > 9999:
        return None
    image_id = image_id_2018(match.group(1), int(stem))
    return image_id, image_id


def _keep(category: int, score: float, min_score: float | None, stats: ConvertStats) -> bool:
    if category != 1:
        stats.dropped_category += 1
        return False
    if min_score is not None and score < min_score:
        stats.dropped_score += 1
        return False
    return True


def _detection(e: dict[str, Any], path: Path, where: str, min_score: float | None,
               stats: ConvertStats) -> tuple[tuple[float, float, float, float], float] | None:
    """An entry's validated ``(bbox, score)``, or None when its category or score drops it (counted in stats)."""
    bbox = _bbox(_required(e, "bbox", path, where), path, f"{where}.bbox")
    score = _number(_required(e, "score", path, where), path, f"{where}.score")
    category = _integer(e["category_id"], path, f"{where}.category_id") if "category_id" in e else 1
    return (bbox, score) if _keep(category, score, min_score, stats) else None


def _entries(obj: Any, path: Path, stats: ConvertStats) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(JSON path, entry object)`` for each item of a box list, counted in ``stats.read``."""
    for i, item in enumerate(_list(obj, path)):
        where = f"[{i}]"
        stats.read += 1
        yield where, _entry(item, path, where)


def from_dcpose(obj: Any, path: str | Path = "<boxes>", index: ImageIndex | None = None,
                min_score: float | None = None, stats: ConvertStats | None = None) -> list[Box]:
    """DCPose/PoseWarper/FaSRnet ``{image_name, bbox, score, [category_id, image_id, nframes, frame_id]}``."""
    path = Path(path)
    stats = stats if stats is not None else ConvertStats()
    boxes = []
    for where, e in _entries(obj, path, stats):
        raw_name = _string(_required(e, "image_name", path, where), path, f"{where}.image_name")
        name = normalize_image_name(raw_name)
        kept = _detection(e, path, where, min_score, stats)
        if kept is None:
            continue
        bbox, score = kept
        info = index.by_name.get(name) if index is not None else None
        if index is not None and info is None:
            raise InputFormatError(path, f"{where}.image_name", f"{raw_name!r} is not an image of the annotations")
        derived = _derived_ids(name)

        def field(key: str, fallback: int | None) -> int:
            if e.get(key) is not None:
                return _integer(e[key], path, f"{where}.{key}")
            if fallback is None:
                hint = "pass the annotations (--ann) to fill it in" if index is None else "not in the annotations"
                raise InputFormatError(path, f"{where}.{key}", f"missing; {hint}")
            return fallback

        image_id = field("image_id", info.image_id if info else (derived[0] if derived else None))
        frame_id = field("frame_id", info.frame_id if info else (derived[1] if derived else None))
        nframes = _positive(field("nframes", info.nframes if info else None), path, f"{where}.nframes")
        boxes.append(Box(name, image_id, 1, bbox, score, nframes, frame_id))
    stats.written += len(boxes)
    return boxes


def from_mmpose(obj: Any, index: ImageIndex, path: str | Path = "<boxes>",
                min_score: float | None = None, stats: ConvertStats | None = None) -> list[Box]:
    """mmpose / COCO-results ``{image_id, bbox, score, category_id}``; ``index`` from the merged val JSON."""
    path = Path(path)
    stats = stats if stats is not None else ConvertStats()
    boxes = []
    for where, e in _entries(obj, path, stats):
        image_id = _integer(_required(e, "image_id", path, where), path, f"{where}.image_id")
        kept = _detection(e, path, where, min_score, stats)
        if kept is None:
            continue
        bbox, score = kept
        info = index.by_id.get(image_id)
        if info is None:
            raise InputFormatError(path, f"{where}.image_id", f"no image with id {image_id} in the annotation file")
        boxes.append(Box(normalize_image_name(info.file_name), image_id, 1, bbox, score, info.nframes, info.frame_id))
    stats.written += len(boxes)
    return boxes


def convert(from_format: str, in_path: str | Path, out_path: str | Path, ann: str | Path | None = None,
            min_score: float | None = None) -> ConvertStats:
    """Convert a box file into the pipeline's format and write it atomically."""
    if from_format not in FORMATS:
        raise ValueError(f"from_format must be one of {FORMATS}, got {from_format!r}")
    in_path = Path(in_path)
    obj = _load_json(in_path)
    stats = ConvertStats()
    index = load_image_index(ann) if ann is not None else None
    if from_format == "mmpose":
        if index is None:
            raise InputFormatError(in_path, "", "mmpose boxes carry only image ids: pass the merged val JSON (--ann)")
        boxes = from_mmpose(obj, index, in_path, min_score, stats)
    else:
        boxes = from_dcpose(obj, in_path, index, min_score, stats)
    write_boxes(out_path, boxes)
    return stats
