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
*not* applied here: the crops stage and the demo apply it (:func:`kept_detection`, the one rule for which box is
used), so the raw boxes stay available; ``min_score`` filters only when asked for explicitly.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fasrnet.data.jsonpath import JsonReader, kind, read_json
from fasrnet.data.posetrack import VIDEO_NAME_RE, image_id_2018, read_video, to_2018
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
# Field validation (every error names the file and the JSON path: fasrnet/data/jsonpath.py)


def _number(r: JsonReader, value: Any, where: str) -> float:
    # the json module reads NaN, Infinity and 1e400 as floats, and huge integers exactly: NonFiniteError
    return r.number(value, where, noun="a finite number")


def _bbox(r: JsonReader, value: Any, where: str) -> tuple[float, float, float, float]:
    if not isinstance(value, list) or len(value) != 4:
        got = f"{len(value)} numbers" if isinstance(value, list) else kind(value)
        raise r.fail(where, f"expected 4 numbers [x, y, w, h], got {got}")
    x, y, w, h = (_number(r, v, f"{where}[{k}]") for k, v in enumerate(value))
    if w < 0 or h < 0:
        raise r.fail(where, f"width and height must not be negative, got w={w:g}, h={h:g}")
    return (x, y, w, h)


def _int_field(r: JsonReader, e: dict[str, Any], key: str, where: str) -> int:
    """The required integer ``e[key]``."""
    return r.integer(r.get(e, key, where), f"{where}.{key}")


def _positive(r: JsonReader, value: int, where: str) -> int:
    if value < 1:
        raise r.fail(where, f"expected at least 1, got {value}")
    return value


def _entries(r: JsonReader, obj: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(JSON path, entry object)`` for each item of a box list."""
    for i, item in enumerate(r.list(obj, "", noun="a JSON list of boxes")):
        where = f"[{i}]"
        yield where, r.object(item, where)


# --------------------------------------------------------------------------------------------------------------
# The pipeline's format


def parse_boxes(obj: Any, path: str | Path = "<boxes>") -> list[Box]:
    """Validate a parsed pipeline-format box list."""
    r = JsonReader(Path(path))
    boxes = []
    for where, e in _entries(r, obj):
        boxes.append(Box(
            image_name=r.string(r.get(e, "image_name", where), f"{where}.image_name", nonempty=True),
            image_id=_int_field(r, e, "image_id", where),
            category_id=_int_field(r, e, "category_id", where),
            bbox=_bbox(r, r.get(e, "bbox", where), f"{where}.bbox"),
            score=_number(r, r.get(e, "score", where), f"{where}.score"),
            nframes=_positive(r, _int_field(r, e, "nframes", where), f"{where}.nframes"),
            frame_id=_int_field(r, e, "frame_id", where),
        ))
    return boxes


def read_boxes(path: str | Path) -> list[Box]:
    """Read and validate a detection file in the pipeline's format."""
    return parse_boxes(read_json(path), path)


def write_boxes(path: str | Path, boxes: list[Box]) -> None:
    """Write boxes atomically in the pipeline's format (one entry per line is not needed: compact JSON)."""
    write_json(path, [b.to_json() for b in boxes])


def kept_detection(bbox: tuple[float, float, float, float], score: float, threshold: float) -> bool:
    """Whether a person box is used, by the crops stage and the demo alike: a score of at least ``threshold``
    (``crops.det_score_threshold``) and a positive width and height (a zero-size box crops nothing)."""
    return score >= threshold and bbox[2] > 0 and bbox[3] > 0


@dataclass(frozen=True)
class Detection:
    """One person box of a box file read leniently (:func:`read_detections`): its image name as written."""

    image_name: str
    bbox: tuple[float, float, float, float]
    score: float


def read_detections(path: str | Path) -> list[Detection]:
    """The person boxes of a pipeline- or DCPose-format file (``image_name``, ``bbox``, ``score`` required;
    ``image_id``, ``nframes``, ``frame_id`` not needed; ``category_id`` other than 1 dropped), for inputs that
    name frames by image only (``fasrnet demo --boxes``). COCO-results files (mmpose's, ``image_id`` only) are
    refused with the conversion that gives them image names."""
    path = Path(path)
    r = JsonReader(path)
    out = []
    for where, e in _entries(r, read_json(path)):
        if "image_name" not in e and "image_id" in e:
            raise r.fail(f"{where}.image_name", "missing (a COCO-results file names images by id only: convert it "
                                                "with `fasrnet boxes convert --from mmpose --ann ANNOTATIONS` first)")
        name = r.string(r.get(e, "image_name", where), f"{where}.image_name", nonempty=True)
        kept = _detection(r, e, where, None, ConvertStats())
        if kept is not None:
            out.append(Detection(normalize_image_name(name), *kept))
    return out


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
    r = JsonReader(Path(path))
    raw = []
    for i, img in enumerate(r.list(obj.get("images"), "images", noun="a list of images")):
        where = f"images[{i}]"
        e = r.object(img, where)
        name = r.string(r.get(e, "file_name", where), f"{where}.file_name", nonempty=True)
        image_id = r.integer(r.get(e, "id", where), f"{where}.id")
        nframes = r.integer(e["nframes"], f"{where}.nframes") if e.get("nframes") is not None else None
        frame_id = r.integer(e["frame_id"], f"{where}.frame_id") if e.get("frame_id") is not None else image_id
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
    obj = read_json(path)
    if isinstance(obj, dict) and "images" in obj:
        return ImageIndex(_infos_from_coco(obj, path))
    return ImageIndex(_infos_from_video_file(path))


def _infos_from_video_file(path: Path) -> list[ImageInfo]:
    obj = read_json(path)
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


def _detection(r: JsonReader, e: dict[str, Any], where: str, min_score: float | None,
               stats: ConvertStats) -> tuple[tuple[float, float, float, float], float] | None:
    """An entry's validated ``(bbox, score)``, or None when its category or score drops it (counted in stats)."""
    bbox = _bbox(r, r.get(e, "bbox", where), f"{where}.bbox")
    score = _number(r, r.get(e, "score", where), f"{where}.score")
    category = r.integer(e["category_id"], f"{where}.category_id") if "category_id" in e else 1
    return (bbox, score) if _keep(category, score, min_score, stats) else None


def _counted(r: JsonReader, obj: Any, stats: ConvertStats) -> Iterator[tuple[str, dict[str, Any]]]:
    """:func:`_entries`, each counted in ``stats.read``."""
    for where, e in _entries(r, obj):
        stats.read += 1
        yield where, e


def from_dcpose(obj: Any, path: str | Path = "<boxes>", index: ImageIndex | None = None,
                min_score: float | None = None, stats: ConvertStats | None = None) -> list[Box]:
    """DCPose/PoseWarper/FaSRnet ``{image_name, bbox, score, [category_id, image_id, nframes, frame_id]}``."""
    r = JsonReader(Path(path))
    stats = stats if stats is not None else ConvertStats()
    boxes = []
    for where, e in _counted(r, obj, stats):
        raw_name = r.string(r.get(e, "image_name", where), f"{where}.image_name", nonempty=True)
        name = normalize_image_name(raw_name)
        kept = _detection(r, e, where, min_score, stats)
        if kept is None:
            continue
        bbox, score = kept
        info = index.by_name.get(name) if index is not None else None
        if index is not None and info is None:
            raise r.fail(f"{where}.image_name", f"{raw_name!r} is not an image of the annotations")
        derived = _derived_ids(name)

        def field(key: str, fallback: int | None) -> int:
            if e.get(key) is not None:
                return r.integer(e[key], f"{where}.{key}")
            if fallback is None:
                hint = "pass the annotations (--ann) to fill it in" if index is None else "not in the annotations"
                raise r.fail(f"{where}.{key}", f"missing; {hint}")
            return fallback

        image_id = field("image_id", info.image_id if info else (derived[0] if derived else None))
        frame_id = field("frame_id", info.frame_id if info else (derived[1] if derived else None))
        nframes = _positive(r, field("nframes", info.nframes if info else None), f"{where}.nframes")
        boxes.append(Box(name, image_id, 1, bbox, score, nframes, frame_id))
    stats.written += len(boxes)
    return boxes


def from_mmpose(obj: Any, index: ImageIndex, path: str | Path = "<boxes>",
                min_score: float | None = None, stats: ConvertStats | None = None) -> list[Box]:
    """mmpose / COCO-results ``{image_id, bbox, score, category_id}``; ``index`` from the merged val JSON."""
    r = JsonReader(Path(path))
    stats = stats if stats is not None else ConvertStats()
    boxes = []
    for where, e in _counted(r, obj, stats):
        image_id = r.integer(r.get(e, "image_id", where), f"{where}.image_id")
        kept = _detection(r, e, where, min_score, stats)
        if kept is None:
            continue
        bbox, score = kept
        info = index.by_id.get(image_id)
        if info is None:
            raise r.fail(f"{where}.image_id", f"no image with id {image_id} in the annotation file")
        boxes.append(Box(normalize_image_name(info.file_name), image_id, 1, bbox, score, info.nframes, info.frame_id))
    stats.written += len(boxes)
    return boxes


def convert(from_format: str, in_path: str | Path, out_path: str | Path, ann: str | Path | None = None,
            min_score: float | None = None) -> ConvertStats:
    """Convert a box file into the pipeline's format and write it atomically."""
    if from_format not in FORMATS:
        raise ValueError(f"from_format must be one of {FORMATS}, got {from_format!r}")
    in_path = Path(in_path)
    obj = read_json(in_path)
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
