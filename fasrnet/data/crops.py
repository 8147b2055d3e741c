"""The person-crop cache (``fasrnet crops``): for every person of frame t, the box of frame t crops frames
t−1, t and t+1 (clamped at the video's ends) with one affine transform, stored as uint8 shards.

Boxes: train — the tight box over the person's annotated joints; val/test — the detection file
(``detections/<split>_boxes.json``) above ``crops.det_score_threshold``, or the GT persons' boxes
(``crops.eval_boxes: gt``; val only, the test split has no GT). Every box goes through
:meth:`HeatmapCodec.box_to_center_scale` (input aspect ratio, 25% enlargement); the views are cut by
:mod:`fasrnet.data.views`, the frames read by :mod:`fasrnet.data.images`.

Train crops come as ``crops.train_views`` augmented views (scale, rotation, horizontal flip; one transform for
all three frames), each drawn from its own generator seeded by (seed, video, frame, person, view): the cache
is identical whatever order or shard it is written in, so a resumed run writes the same bytes.

Output directory (``data/crops/<dataset>/<split>/``):

- the shard store (:mod:`fasrnet.shards`) with field ``images``: ``(3 frames, 3 RGB, H, W)`` uint8;
- ``index.npz``: per crop ``video``, ``frame``, ``person``, ``track_id``, ``center`` (2), ``scale`` (2),
  ``rotation``, ``flip``, ``score`` (box score; 1 for GT boxes), ``joints`` (17, 2) in crop pixels and
  ``joints_vis`` (17,) training weights (train only; zeros elsewhere);
- ``index.json``: dataset, split, annotation format, videos (name, annotation file, frame image paths), counts.
  Written last: a store without it is incomplete.
- ``fingerprint.json``: what made the store (params, dataset tree, code); the store is built in a work
  directory and swapped in when complete (docs/resume.md).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from fasrnet.cachesize import Projection, tree_bytes
from fasrnet.codecs.heatmap import HeatmapCodec
from fasrnet.data.boxes import kept_detection, read_boxes
from fasrnet.data.images import ImageCache
from fasrnet.data.posetrack import Video, detect_format, read_video
from fasrnet.data.views import PersonBox, draw_augmentation, make_view, view_geometry
from fasrnet.errors import FasrnetError, InputFormatError, describe
from fasrnet.io import atomic_path, write_json
from fasrnet.keypoints import NUM_KEYPOINTS
from fasrnet.paths import SPLITS
from fasrnet.resume import Unit, make_fingerprint, tree_digest, work_dir_for
from fasrnet.shards import Field, ShardReader, ShardStoreError, ShardWriter, first_pending_shard, npy_bytes, store_bytes

if TYPE_CHECKING:
    from fasrnet.params import CropsParams

#: ``index.npz``: per crop, each array's dtype and per-crop shape (the size projection reads them too).
INDEX_FIELDS = {
    "video": Field((), "int64"), "frame": Field((), "int64"), "person": Field((), "int64"),
    "track_id": Field((), "int64"), "center": Field((2,), "float64"), "scale": Field((2,), "float64"),
    "rotation": Field((), "float64"), "flip": Field((), "bool"), "score": Field((), "float64"),
    "joints": Field((NUM_KEYPOINTS, 2), "float32"), "joints_vis": Field((NUM_KEYPOINTS,), "float32"),
}
INDEX_ARRAYS = tuple(INDEX_FIELDS)
#: The crop frames: t−1, t, t+1.
FRAMES = 3


# --------------------------------------------------------------------------------------------------------------
# Boxes


def keypoint_box(keypoints: np.ndarray, present: np.ndarray) -> tuple[float, float, float, float] | None:
    """The tight box over annotated joints; None when fewer than two joints or a zero-area box."""
    pts = keypoints[present, :2]
    if len(pts) < 2:
        return None
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    if x1 - x0 <= 0 and y1 - y0 <= 0:
        return None
    return float(x0), float(y0), float(max(x1 - x0, 1.0)), float(max(y1 - y0, 1.0))


def gt_person_boxes(videos: list[Video]) -> list[PersonBox]:
    out = []
    for v, video in enumerate(videos):
        for t, frame in enumerate(video.frames):
            for p, person in enumerate(frame.persons):
                box = keypoint_box(person.keypoints, person.present)
                if box is None:
                    continue
                out.append(PersonBox(v, t, p, box, 1.0, -1 if person.track_id is None else person.track_id,
                                     person.keypoints.copy(), person.present.copy()))
    return out


def detection_boxes(videos: list[Video], det_file: Path, threshold: float) -> list[PersonBox]:
    """The detections :func:`~fasrnet.data.boxes.kept_detection` keeps at ``threshold``, matched to frames by image
    path; a kept box naming no frame is an error."""
    where = {frame.image: (v, t) for v, video in enumerate(videos) for t, frame in enumerate(video.frames)}
    boxes = read_boxes(det_file)
    out = []
    per_frame: dict[tuple[int, int], int] = {}
    for i, b in enumerate(boxes):
        if b.category_id != 1 or not kept_detection(b.bbox, b.score, threshold):
            continue
        if b.image_name not in where:
            raise InputFormatError(det_file, f"[{i}].image_name",
                                   f"{b.image_name!r} is not a frame of any annotation file of this split")
        v, t = where[b.image_name]
        k = per_frame.get((v, t), 0)
        per_frame[(v, t)] = k + 1
        out.append(PersonBox(v, t, k, b.bbox, b.score, k))
    out.sort(key=lambda pb: (pb.video, pb.frame, pb.person))
    return out


# --------------------------------------------------------------------------------------------------------------
# The stage


def load_split(dataset_dir: Path, split: str) -> tuple[list[Video], list[str], int]:
    """Videos of one split (sorted by file name), their annotation files, and the annotation format."""
    ann_dir = dataset_dir / "annotations" / split
    files = sorted(ann_dir.glob("*.json"))
    if not files:
        raise FasrnetError(f"{ann_dir}: no annotation files; run `fasrnet synthesize` or `fasrnet download` first")
    videos = [read_video(f) for f in files]
    fmt = detect_format(json.loads(files[0].read_text(encoding="utf-8")))
    return videos, [str(f.relative_to(dataset_dir)) for f in files], fmt


def person_boxes(dataset_dir: Path, split: str, videos: list[Video], p: CropsParams) -> list[PersonBox]:
    if split == "train":
        return gt_person_boxes(videos)
    if p.eval_boxes == "gt":
        if split == "test":
            raise FasrnetError("crops.eval_boxes: gt needs ground truth, which the test split does not have; "
                               "use detections for test")
        return gt_person_boxes(videos)
    det = dataset_dir / "detections" / f"{split}_boxes.json"
    if not det.exists():
        raise FasrnetError(f"{det}: detection file missing (crops.eval_boxes is 'detections')")
    return detection_boxes(videos, det, p.det_score_threshold)


def crops_fingerprint(dataset_dir: Path, split: str, codec: HeatmapCodec, p: CropsParams,
                      stamp: Mapping[str, Any]) -> dict[str, Any]:
    """What makes one split's crops: the stage's params (``stamp``), the dataset tree, the split, the code."""
    return make_fingerprint("crops", stamp, {"dataset": tree_digest(dataset_dir)}, split=split,
                            crops=p.model_dump(mode="json"), codec=asdict(codec))


def _crops_complete(directory: Path) -> bool:
    return (directory / "index.json").is_file() and (directory / "index.npz").is_file()


def crop_fields(codec: HeatmapCodec) -> dict[str, Field]:
    """The crop store's one field: ``images``, ``(3 frames, 3 RGB, H, W)`` uint8."""
    w, h = codec.input_wh
    return {"images": Field((FRAMES, 3, h, w), "uint8")}


def index_bytes(count: int) -> int:
    """Bytes of ``index.npz``'s arrays for ``count`` crops (headers included; the zip's own entries, some
    hundred bytes per array, are not counted)."""
    return sum(npy_bytes((count, *f.shape), f.dtype) for f in INDEX_FIELDS.values())


@dataclass
class CropsPlan:
    """One split's crops, counted before anything is written: the work :func:`build_crops` will do, and its
    :class:`~fasrnet.cachesize.Projection` (None when the store in place is up to date)."""

    dataset_dir: Path
    split: str
    codec: HeatmapCodec
    params: CropsParams
    unit: Unit
    projection: Projection | None = None
    videos: list[Video] | None = None
    ann_files: list[str] | None = None
    fmt: int = 0
    pboxes: list[PersonBox] | None = None
    views: int = 1


def plan_crops(dataset_dir: str | Path, split: str, out_dir: str | Path, codec: HeatmapCodec, p: CropsParams, *,
               stamp: Mapping[str, Any] | None = None, stage_out: str | Path | None = None) -> CropsPlan:
    """Count the crops of ``split`` (its boxes × views) and project the bytes still to write, touching nothing on
    disk: the full store when started over, its unfinished shards when a matching work directory is resumed
    (docs/data.md, §7). Arguments as for :func:`build_crops`."""
    if split not in SPLITS:
        raise FasrnetError(f"split must be one of {SPLITS}, got {split!r}")
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    unit = Unit(out_dir, work_dir_for(out_dir, stage_out),
                crops_fingerprint(dataset_dir, split, codec, p, stamp or {}))
    plan = CropsPlan(dataset_dir, split, codec, p, unit)
    state = unit.peek(_crops_complete)
    if state == "current":
        return plan
    plan.videos, plan.ann_files, plan.fmt = load_split(dataset_dir, split)
    plan.pboxes = person_boxes(dataset_dir, split, plan.videos, p)
    plan.views = p.train_views if split == "train" else 1
    count = len(plan.pboxes) * plan.views
    if not count:
        raise FasrnetError(f"{dataset_dir.name}/{split}: no person boxes to crop")
    fields = crop_fields(codec)
    first = first_pending_shard(unit.work, fields, p.shard_size, count) if state == "resume" else 0
    stale = state == "fresh" and unit.work.is_dir()  # another fingerprint's partial store, deleted first
    plan.projection = Projection(
        "crops", f"{dataset_dir.name}/{split}", count, max(count - first * p.shard_size, 0),
        store_bytes(fields, count, p.shard_size, first) + index_bytes(count), unit.work,
        reclaim=tree_bytes(unit.work) if stale else 0)
    return plan


def build_crops(dataset_dir: str | Path, split: str, out_dir: str | Path, codec: HeatmapCodec,
                p: CropsParams, progress: bool = True, *, stamp: Mapping[str, Any] | None = None,
                stage_out: str | Path | None = None, plan: CropsPlan | None = None) -> dict[str, Any]:
    """Write the crop store of one split into ``out_dir`` through a work directory (:mod:`fasrnet.resume`):
    up to date when ``out_dir``'s fingerprint matches, else resumed at the first unfinished shard of a matching
    work directory, or started over. ``stamp``: the stage's params values; ``stage_out``: the declared stage
    output holding ``out_dir`` (the work directory goes beside it); ``plan``: this split's :func:`plan_crops`
    (made here when not given), whose projection the caller may have checked against the free space first.
    Returns counts and ``state``."""
    if plan is None:
        plan = plan_crops(dataset_dir, split, out_dir, codec, p, stamp=stamp, stage_out=stage_out)
    state = plan.unit.open(_crops_complete)
    if state == "current":
        info = CropIndex.open(plan.unit.target).info
        return {"crops": info["count"], "persons": info["persons"], "videos": len(info["videos"]), "state": state}
    if plan.pboxes is None:  # up to date when planned, no longer now: count afresh
        plan = plan_crops(dataset_dir, split, out_dir, codec, p, stamp=stamp, stage_out=stage_out)
    stats = _write_crops(plan, plan.unit.work, progress)
    plan.unit.commit()
    return {**stats, "state": state}


def _write_crops(plan: CropsPlan, out_dir: Path, progress: bool) -> dict[str, int]:
    """Cut every crop of the plan's split into the store ``out_dir``, resuming at its first unfinished shard."""
    dataset_dir, split, codec, p = plan.dataset_dir, plan.split, plan.codec, plan.params
    videos, ann_files, fmt, pboxes, views = plan.videos, plan.ann_files, plan.fmt, plan.pboxes, plan.views
    assert videos is not None and ann_files is not None and pboxes is not None
    items = [(pb, k) for pb in pboxes for k in range(views)]
    (out_dir / "index.json").unlink(missing_ok=True)  # incomplete until rewritten at the end
    writer = ShardWriter(out_dir, crop_fields(codec), p.shard_size, len(items))
    meta = {k: [] for k in INDEX_ARRAYS}
    cache = ImageCache(dataset_dir)
    start = writer.first_incomplete()
    bar = tqdm(total=len(items), desc=f"crops {dataset_dir.name}/{split}", unit="crop", disable=not progress,
               initial=sum(len(writer.shard_range(k)) for k in range(start)))
    with bar:  # closed on errors too, so an error message starts a line of its own
        for shard in range(writer.num_shards):
            images = []
            for i in writer.shard_range(shard):
                pb, k = items[i]
                aug = None
                if split == "train":
                    rng = np.random.default_rng([p.seed, pb.video, pb.frame, pb.person, k])
                    aug = draw_augmentation(rng, p)
                if shard < start:  # finished shard: only the (cheap, deterministic) geometry is needed
                    view = view_geometry(pb, codec, aug)
                else:
                    view = make_view(pb, videos[pb.video], cache, codec, aug)
                    images.append(view["images"])
                meta["video"].append(pb.video)
                meta["frame"].append(pb.frame)
                meta["person"].append(pb.person)
                meta["track_id"].append(pb.track_id)
                meta["score"].append(pb.score)
                for key in ("center", "scale", "rotation", "flip", "joints", "joints_vis"):
                    meta[key].append(view[key])
            if shard >= start:
                writer.write_shard(shard, {"images": np.stack(images)})
                bar.update(len(images))
    arrays = {k: np.asarray(v, dtype=INDEX_FIELDS[k].dtype) for k, v in meta.items()}
    with atomic_path(out_dir / "index.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    index = {
        "dataset": dataset_dir.name,
        "split": split,
        "format": fmt,
        "input_size": list(codec.input_size),
        "count": len(items),
        "views": views,
        "persons": len(pboxes),
        "videos": [{"name": v.name, "annotation": a, "frames": [f.image for f in v.frames]}
                   for v, a in zip(videos, ann_files)],
    }
    write_json(out_dir / "index.json", index, indent=1)
    return {"crops": len(items), "persons": len(pboxes), "videos": len(videos)}


def _read_index_json(path: Path) -> dict[str, Any]:
    """``index.json``, checked for the keys readers use; damage is one error naming the file."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        missing = [k for k in ("dataset", "split", "format", "input_size", "count", "persons", "videos")
                   if k not in info]
        int(info.get("count", 0))
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ShardStoreError(f"{path}: corrupt crop index ({describe(exc)}); "
                              "re-run `fasrnet crops`") from None
    if missing:
        raise ShardStoreError(f"{path}: corrupt crop index (missing {', '.join(missing)}); re-run `fasrnet crops`")
    return info


@dataclass
class CropIndex:
    """A complete crop store: its metadata arrays, JSON index and image shards."""

    dir: Path
    info: dict
    arrays: dict[str, np.ndarray]
    images: ShardReader

    @classmethod
    def open(cls, directory: str | Path) -> CropIndex:
        directory = Path(directory)
        index = directory / "index.json"
        if not index.exists():
            raise ShardStoreError(f"{directory}: crop cache missing or incomplete (no index.json); "
                                  "run `fasrnet crops` first")
        info = _read_index_json(index)
        npz_path = directory / "index.npz"
        try:
            with np.load(npz_path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ShardStoreError(f"{npz_path}: corrupt crop index ({describe(exc)}); re-run `fasrnet crops`") from None
        missing = [k for k in INDEX_ARRAYS if k not in arrays or len(arrays[k]) != info["count"]]
        if missing:
            raise ShardStoreError(f"{npz_path}: corrupt crop index (arrays {missing} missing or of another "
                                  f"length than count {info['count']}); re-run `fasrnet crops`")
        return cls(directory, info, arrays, ShardReader(directory))

    def __len__(self) -> int:
        return int(self.info["count"])
