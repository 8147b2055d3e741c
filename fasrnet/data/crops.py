"""The person-crop cache (``fasrnet crops``): for every person of frame t, the box of frame t crops frames
t−1, t and t+1 (clamped at the video's ends) with one affine transform, stored as uint8 shards.

Which persons, and their boxes: :mod:`fasrnet.data.persons`. Every box goes through
:meth:`HeatmapCodec.box_to_center_scale` (input aspect ratio, 25% enlargement); the views are cut by
:mod:`fasrnet.data.views`, the frames read by :mod:`fasrnet.data.images`.

Train crops come as ``crops.train_views`` augmented views (scale, rotation, horizontal flip; one transform for
all three frames), each drawn from its own generator seeded by (seed, video, frame, person, view): the cache
is identical whatever order or shard it is written in, so a resumed run writes the same bytes.

Output directory (``data/crops/<dataset>/<split>/``): the crop store, whose files (shards, ``index.npz``,
``index.json``, written last) and reader are :mod:`fasrnet.data.cropstore`'s, and ``fingerprint.json``: what made
the store (params, dataset tree, code); the store is built in a work directory and swapped in when complete
(docs/resume.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from fasrnet.cachesize import Projection, tree_bytes
from fasrnet.codecs.heatmap import HeatmapCodec
from fasrnet.data.cropstore import INDEX_ARRAYS, INDEX_FIELDS, CropIndex, crop_fields, index_bytes
from fasrnet.data.images import ImageCache
from fasrnet.data.persons import load_split, person_boxes
from fasrnet.data.posetrack import Video
from fasrnet.data.views import PersonBox, draw_augmentation, make_view, view_geometry
from fasrnet.errors import FasrnetError
from fasrnet.io import atomic_path, write_json
from fasrnet.paths import SPLITS
from fasrnet.resume import Unit, make_fingerprint, tree_digest, work_dir_for
from fasrnet.shards import ShardWriter, first_pending_shard, store_bytes

if TYPE_CHECKING:
    from fasrnet.params import CropsParams


def crops_fingerprint(dataset_dir: Path, split: str, codec: HeatmapCodec, p: CropsParams,
                      stamp: Mapping[str, Any]) -> dict[str, Any]:
    """What makes one split's crops: the stage's params (``stamp``), the dataset tree, the split, the code."""
    return make_fingerprint("crops", stamp, {"dataset": tree_digest(dataset_dir)}, split=split,
                            crops=p.model_dump(mode="json"), codec=asdict(codec))


def _crops_complete(directory: Path) -> bool:
    return (directory / "index.json").is_file() and (directory / "index.npz").is_file()


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
                    aug = draw_augmentation(rng, p, pb, codec.aspect_ratio)
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
