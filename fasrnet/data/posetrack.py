"""PoseTrack 2017 (``annolist``) and 2018 (COCO-like) annotation files, read into and written from one
in-memory representation: :class:`Video` → :class:`Frame` → :class:`Person`.

Keypoints are always held in the 17-slot PoseTrack18 order (:data:`KEYPOINTS`, ears included, never annotated
in PoseTrack). The 2017 format numbers 15 joints differently (poseval ids, :data:`POSEVAL_JOINTS`); the
conversion follows poseval's (``docs/metric.md``, §2–§3): a 2018 keypoint is absent only if x = y = v = 0, a 2017
joint is absent if no point carries its id (the first point with an id counts, ids outside 0–14 are ignored).

Malformed files raise :class:`~fasrnet.errors.InputFormatError` naming the file and the JSON path, e.g.
``val/000342_mpii_test.json: annotations[12].keypoints: expected 51 numbers, got 45`` (the parser and the field
validators are ``fasrnet/data/jsonpath.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fasrnet.data.jsonpath import JsonReader, kind, read_json
from fasrnet.errors import InputFormatError
from fasrnet.io import write_json
from fasrnet.keypoints import EAR_SLOTS, KEYPOINTS, NUM_KEYPOINTS, POSEVAL_JOINTS, POSEVAL_TO_SLOT, SKELETON

#: PoseTrack video folder names: ``<digits>_<mpii|bonn|mpiinew>[_...]`` (poseval parses them).
VIDEO_NAME_RE = re.compile(r"^(\d+)_(mpii|bonn|mpiinew)(_.*)?$")

CATEGORY_2018: dict[str, Any] = {
    "supercategory": "person",
    "id": 1,
    "name": "person",
    "keypoints": list(KEYPOINTS),
    "skeleton": [[a + 1, b + 1] for a, b in SKELETON],
}


@dataclass
class Person:
    """One annotated (or predicted) person.

    ``keypoints`` is (17, 3) float64 ``[x, y, v]`` in image pixels; ``present`` (17,) bool says which slots
    are annotated/predicted (absent slots hold zeros). ``scores`` (17,) are per-joint confidences of
    predictions (None for GT). ``head_box`` is ``(x1, y1, x2, y2)``; ``bbox`` is ``(x, y, w, h)``.
    """

    keypoints: np.ndarray
    present: np.ndarray
    track_id: int | None = None
    head_box: tuple[float, float, float, float] | None = None
    bbox: tuple[float, float, float, float] | None = None
    scores: np.ndarray | None = None
    score: float | None = None

    @classmethod
    def empty(cls, **kwargs: Any) -> Person:
        return cls(np.zeros((NUM_KEYPOINTS, 3)), np.zeros(NUM_KEYPOINTS, dtype=bool), **kwargs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Person):
            return NotImplemented
        return (
            np.array_equal(self.present, other.present)
            and np.allclose(self.keypoints[self.present], other.keypoints[other.present])
            and self.track_id == other.track_id
            and _close(self.head_box, other.head_box)
            and _close(self.bbox, other.bbox)
            and _close(self.score, other.score)
            and ((self.scores is None) == (other.scores is None))
            and (self.scores is None or np.allclose(self.scores[self.present], other.scores[other.present]))
        )


@dataclass
class Frame:
    """One video frame. ``image`` is the path relative to the dataset root
    (``images/val/000342_mpii_test/000017.jpg``); ``ignore_regions`` are (N, 2) polygons."""

    image: str
    is_labeled: bool = False
    persons: list[Person] = field(default_factory=list)
    ignore_regions: list[np.ndarray] = field(default_factory=list)

    @property
    def index(self) -> int:
        """The frame number parsed from the image basename (``000017.jpg`` → 17)."""
        return int(Path(self.image).stem)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frame):
            return NotImplemented
        return (
            self.image == other.image
            and self.is_labeled == other.is_labeled
            and self.persons == other.persons
            and len(self.ignore_regions) == len(other.ignore_regions)
            and all(np.allclose(a, b) for a, b in zip(self.ignore_regions, other.ignore_regions))
        )


@dataclass
class Video:
    """A PoseTrack video: its folder name (``000342_mpii_test``) and its frames in order."""

    name: str
    frames: list[Frame] = field(default_factory=list)

    @property
    def vid_id(self) -> str:
        match = VIDEO_NAME_RE.match(self.name)
        return match.group(1) if match else self.name


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float)))


def video_name_from_image(image: str) -> str:
    """``images/val/000342_mpii_test/000017.jpg`` → ``000342_mpii_test``."""
    return Path(image).parent.name


# --------------------------------------------------------------------------------------------------------------
# Reading


def detect_format(obj: Any) -> int:
    """17 for an ``annolist`` file, 18 for a COCO-like one (the rule poseval uses)."""
    return 17 if isinstance(obj, dict) and "annolist" in obj else 18


def read_video(path: str | Path) -> Video:
    """Read one PoseTrack annotation/prediction file of either format."""
    path = Path(path)
    return parse_video(read_json(path), path)


def parse_video(obj: Any, path: str | Path, unknown_image_ids: str = "error") -> Video:
    """The :class:`Video` of an already parsed file (``path`` names it in errors). ``unknown_image_ids``: what a
    2018 annotation whose ``image_id`` names no image is, ``"error"`` or ``"skip"`` (``annotations check`` on a
    prediction file: poseval drops such a person, and evaluate counts it in a warning; docs/metric.md, §3)."""
    path = Path(path)
    if detect_format(obj) == 17:
        return _read_2017(obj, JsonReader(path), path)
    return _read_2018(obj, JsonReader(path), path, skip_unknown=unknown_image_ids == "skip")


def read_split(directory: str | Path) -> list[Video]:
    """Read every ``*.json`` in ``directory`` (sorted by name)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputFormatError(directory, "", "annotation directory not found")
    return [read_video(p) for p in sorted(directory.glob("*.json"))]


def _read_2017(obj: dict[str, Any], r: JsonReader, path: Path) -> Video:
    annolist = r.list(obj["annolist"], "annolist")
    frames = []
    for i, raw in enumerate(annolist):
        where = f"annolist[{i}]"
        image = r.get(raw, "image", where)
        image = r.unwrap(r.list(image, f"{where}.image"), f"{where}.image")
        name = r.string(r.get(image, "name", f"{where}.image[0]"), f"{where}.image[0].name")
        labeled = r.get(raw, "is_labeled", where, required=False)
        labeled = bool(r.unwrap(labeled, f"{where}.is_labeled")) if labeled is not None else False
        rects = r.list(r.get(raw, "annorect", where), f"{where}.annorect")
        persons = [_read_person_2017(rect, r, f"{where}.annorect[{k}]") for k, rect in enumerate(rects)]
        regions = []
        raw_regions = r.get(raw, "ignore_regions", where, required=False)
        if raw_regions is not None:
            for k, region in enumerate(r.list(raw_regions, f"{where}.ignore_regions")):
                rw = f"{where}.ignore_regions[{k}]"
                points = r.list(r.get(region, "point", rw), f"{rw}.point")
                poly = [
                    (r.number(r.unwrap(r.get(p, "x", f"{rw}.point[{m}]"), f"{rw}.point[{m}].x"), f"{rw}.point[{m}].x"),
                     r.number(r.unwrap(r.get(p, "y", f"{rw}.point[{m}]"), f"{rw}.point[{m}].y"), f"{rw}.point[{m}].y"))
                    for m, p in enumerate(points)
                ]
                regions.append(np.asarray(poly, dtype=np.float64).reshape(-1, 2))
        frames.append(Frame(image=name, is_labeled=labeled, persons=persons, ignore_regions=regions))
    name = video_name_from_image(frames[0].image) if frames else path.stem
    return Video(name=name, frames=frames)


def _read_person_2017(rect: Any, r: JsonReader, where: str) -> Person:
    r.object(rect, where)
    person = Person.empty()
    if "track_id" in rect:
        person.track_id = r.integer(r.unwrap(rect["track_id"], f"{where}.track_id"), f"{where}.track_id")
    head = [rect.get(k) for k in ("x1", "y1", "x2", "y2")]
    if any(v is not None for v in head):
        person.head_box = tuple(  # type: ignore[assignment]
            r.number(r.unwrap(r.get(rect, k, where), f"{where}.{k}"), f"{where}.{k}") for k in ("x1", "y1", "x2", "y2")
        )
    if "score" in rect:
        person.score = r.number(r.unwrap(rect["score"], f"{where}.score"), f"{where}.score")
    annopoints = rect.get("annopoints")
    ap = r.unwrap(r.list(annopoints, f"{where}.annopoints"), f"{where}.annopoints") if annopoints else None
    # An object without "point" ([{}]) is a person without points, as poseval's rectHasPoints reads it.
    if ap is not None and "point" in r.object(ap, f"{where}.annopoints[0]"):
        points = r.list(ap["point"], f"{where}.annopoints[0].point")
        scores = np.zeros(NUM_KEYPOINTS)
        has_score = False
        for m, point in enumerate(points):
            pw = f"{where}.annopoints[0].point[{m}]"
            pid = r.integer(r.unwrap(r.get(point, "id", pw), f"{pw}.id"), f"{pw}.id")
            if not 0 <= pid < len(POSEVAL_JOINTS):
                continue  # poseval ignores ids outside 0–14
            slot = POSEVAL_TO_SLOT[pid]
            if person.present[slot]:
                continue  # only the first point with a given id counts
            x = r.number(r.unwrap(r.get(point, "x", pw), f"{pw}.x"), f"{pw}.x")
            y = r.number(r.unwrap(r.get(point, "y", pw), f"{pw}.y"), f"{pw}.y")
            vis = point.get("is_visible")
            v = r.number(r.unwrap(vis, f"{pw}.is_visible"), f"{pw}.is_visible") if vis is not None else 1.0
            person.keypoints[slot] = (x, y, v)
            person.present[slot] = True
            if "score" in point:
                scores[slot] = r.number(r.unwrap(point["score"], f"{pw}.score"), f"{pw}.score")
                has_score = True
        if has_score:
            person.scores = scores
    return person


def _keypoint_slots(obj: dict[str, Any], r: JsonReader) -> list[int]:
    """Map the file's keypoint order (from ``categories``) to our 17 slots (-1: dropped)."""
    cats = obj.get("categories")
    if cats is None:
        return list(range(NUM_KEYPOINTS))
    cats = r.list(cats, "categories")
    if len(cats) != 1:
        raise r.fail("categories", f"expected exactly one category (person), got {len(cats)}")
    if r.get(cats[0], "name", "categories[0]") != "person":
        raise r.fail("categories[0].name", f"expected 'person', got {kind(cats[0]['name'])}")
    names = r.list(r.get(cats[0], "keypoints", "categories[0]"), "categories[0].keypoints")
    missing = [n for slot, n in enumerate(KEYPOINTS) if slot not in EAR_SLOTS and n not in names]
    if missing:
        raise r.fail("categories[0].keypoints",
                     f"missing keypoint names {missing} (PoseTrack spells neck 'head_bottom')")
    return [KEYPOINTS.index(n) if n in KEYPOINTS else -1 for n in names]


def _read_2018(obj: Any, r: JsonReader, path: Path, skip_unknown: bool = False) -> Video:
    if not isinstance(obj, dict):
        raise r.fail("", f"expected a PoseTrack JSON object with 'images' or 'annolist', got {kind(obj)}")
    images = r.list(r.get(obj, "images", ""), "images")
    slots = _keypoint_slots(obj, r)
    k = len(slots)
    frames: list[Frame] = []
    by_id: dict[int, Frame] = {}
    for i, img in enumerate(images):
        where = f"images[{i}]"
        file_name = r.string(r.get(img, "file_name", where), f"{where}.file_name")
        image_id = r.integer(r.get(img, "id", where), f"{where}.id")
        if image_id in by_id:
            raise r.fail(f"{where}.id", f"duplicate image id {image_id}")
        labeled = img.get("is_labeled", False)
        regions = []
        rx, ry = img.get("ignore_regions_x"), img.get("ignore_regions_y")
        if (rx is None) != (ry is None):
            raise r.fail(where, "ignore_regions_x and ignore_regions_y must appear together")
        if rx is not None:
            rx, ry = r.list(rx, f"{where}.ignore_regions_x"), r.list(ry, f"{where}.ignore_regions_y")
            if len(rx) != len(ry):
                raise r.fail(f"{where}.ignore_regions_y",
                             f"expected {len(rx)} polygons like ignore_regions_x, got {len(ry)}")
            for m, (xs, ys) in enumerate(zip(rx, ry)):
                xs = r.numbers(xs, f"{where}.ignore_regions_x[{m}]")
                ys = r.numbers(ys, f"{where}.ignore_regions_y[{m}]", count=len(xs))
                regions.append(np.column_stack([xs, ys]).astype(np.float64).reshape(-1, 2))
        frame = Frame(image=file_name, is_labeled=bool(labeled), ignore_regions=regions)
        frames.append(frame)
        by_id[image_id] = frame
    annotations = obj.get("annotations")
    if annotations is not None:
        for i, ann in enumerate(r.list(annotations, "annotations")):
            where = f"annotations[{i}]"
            image_id = r.integer(r.get(ann, "image_id", where), f"{where}.image_id")
            if image_id not in by_id:
                if skip_unknown:
                    continue
                raise r.fail(f"{where}.image_id", f"no image with id {image_id} in 'images'")
            by_id[image_id].persons.append(_read_person_2018(ann, r, where, slots, k))
    name = video_name_from_image(frames[0].image) if frames else path.stem
    return Video(name=name, frames=frames)


def _read_person_2018(ann: dict[str, Any], r: JsonReader, where: str, slots: list[int], k: int) -> Person:
    person = Person.empty()
    if "track_id" in ann and ann["track_id"] is not None:
        person.track_id = r.integer(ann["track_id"], f"{where}.track_id")
    kps = ann.get("keypoints")
    if kps is not None:
        flat = r.numbers(kps, f"{where}.keypoints", count=3 * k)
        for j, slot in enumerate(slots):
            x, y, v = flat[3 * j: 3 * j + 3]
            if slot < 0 or (x == 0 and y == 0 and v == 0):
                continue  # 0/0/0 means absent (docs/metric.md, §3)
            person.keypoints[slot] = (x, y, v)
            person.present[slot] = True
    if ann.get("scores"):
        values = r.numbers(ann["scores"], f"{where}.scores", count=k)
        person.scores = np.zeros(NUM_KEYPOINTS)
        for j, slot in enumerate(slots):
            if slot >= 0:
                person.scores[slot] = values[j]
    if ann.get("bbox_head") is not None:
        x, y, w, h = r.numbers(ann["bbox_head"], f"{where}.bbox_head", count=4)
        person.head_box = (x, y, x + w, y + h)
    if ann.get("bbox") is not None:
        person.bbox = tuple(r.numbers(ann["bbox"], f"{where}.bbox", count=4))  # type: ignore[assignment]
    if ann.get("score") is not None:
        person.score = r.number(ann["score"], f"{where}.score")
    return person


# --------------------------------------------------------------------------------------------------------------
# Writing


def _num(v: float) -> float:
    """Coordinates are written at full precision: a round trip must not move a keypoint."""
    return float(v)


def to_2017(video: Video) -> dict[str, Any]:
    """The ``annolist`` structure (scalars wrapped in one-element lists, as in the released files)."""
    annolist = []
    for i, frame in enumerate(video.frames):
        rects = []
        for person in frame.persons:
            rect: dict[str, Any] = {}
            if person.head_box is not None:
                for key, v in zip(("x1", "y1", "x2", "y2"), person.head_box):
                    rect[key] = [_num(v)]
            if person.score is not None:
                rect["score"] = [float(person.score)]
            if person.track_id is not None:
                rect["track_id"] = [int(person.track_id)]
            points = []
            for pid, slot in enumerate(POSEVAL_TO_SLOT):
                if not person.present[slot]:
                    continue
                x, y, v = person.keypoints[slot]
                point: dict[str, Any] = {"id": [pid], "x": [_num(x)], "y": [_num(y)]}
                if person.scores is not None:
                    point["score"] = [float(person.scores[slot])]
                else:
                    point["is_visible"] = [int(v > 0)]
                points.append(point)
            rect["annopoints"] = [{"point": points}]
            rects.append(rect)
        entry: dict[str, Any] = {
            "image": [{"name": frame.image}],
            "imgnum": [i + 1],
            "is_labeled": [int(frame.is_labeled)],
            "annorect": rects,
        }
        if frame.ignore_regions:
            entry["ignore_regions"] = [
                {"point": [{"x": [_num(x)], "y": [_num(y)]} for x, y in poly]} for poly in frame.ignore_regions
            ]
        annolist.append(entry)
    return {"annolist": annolist}


def image_id_2018(vid_id: str, frame_index: int) -> int:
    """PoseTrack18's image id scheme: ``1`` + video id + 4-digit frame (``10003420017``)."""
    return int(f"1{vid_id}{frame_index:04d}")


def to_2018(video: Video) -> dict[str, Any]:
    """The COCO-like PoseTrack18 structure (images, annotations, categories)."""
    vid = video.vid_id
    images, annotations = [], []
    for i, frame in enumerate(video.frames):
        try:
            index = frame.index
        except ValueError:
            index = i
        image_id = image_id_2018(vid, index) if vid.isdigit() else i + 1
        image: dict[str, Any] = {
            "file_name": frame.image,
            "id": image_id,
            "frame_id": image_id,
            "vid_id": vid,
            "nframes": len(video.frames),
            "is_labeled": bool(frame.is_labeled),
        }
        if frame.ignore_regions:
            image["ignore_regions_x"] = [[_num(x) for x in poly[:, 0]] for poly in frame.ignore_regions]
            image["ignore_regions_y"] = [[_num(y) for y in poly[:, 1]] for poly in frame.ignore_regions]
        images.append(image)
        for k, person in enumerate(frame.persons):
            flat: list[float | int] = []
            for slot in range(NUM_KEYPOINTS):
                if person.present[slot]:
                    x, y, v = person.keypoints[slot]
                    flat += [_num(x), _num(y), int(v > 0) if person.scores is None else 1]
                else:
                    flat += [0, 0, 0]
            ann: dict[str, Any] = {
                "id": image_id * 100 + k,
                "image_id": image_id,
                "category_id": 1,
                "keypoints": flat,
            }
            if person.track_id is not None:
                ann["track_id"] = int(person.track_id)
            if person.bbox is not None:
                ann["bbox"] = [_num(v) for v in person.bbox]
            if person.head_box is not None:
                x1, y1, x2, y2 = person.head_box
                ann["bbox_head"] = [_num(x1), _num(y1), _num(x2 - x1), _num(y2 - y1)]
            if person.scores is not None:
                ann["scores"] = [float(s) for s in person.scores]
            if person.score is not None:
                ann["score"] = float(person.score)
            annotations.append(ann)
    return {"images": images, "annotations": annotations, "categories": [CATEGORY_2018]}


def write_video(video: Video, path: str | Path, fmt: int) -> None:
    """Write ``video`` atomically in PoseTrack ``fmt`` (17 or 18)."""
    if fmt not in (17, 18):
        raise ValueError(f"format must be 17 or 18, got {fmt!r}")
    write_json(path, to_2017(video) if fmt == 17 else to_2018(video))
