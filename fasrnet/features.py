"""The frozen-backbone feature cache (``fasrnet extract``).

The official code re-runs the frozen HRNet on three frames at every training step. Here it runs once per
cached crop: for every crop of ``data/crops/<ds>/<split>`` the backbone (eval mode, no gradients, batched;
:class:`fasrnet.inference.BackboneRunner` in ``extract.precision``: fp16 + channels_last on a GPU by default, fp32 on
a CPU) writes, per frame t−1, t, t+1, its highest-resolution feature map
and its heatmaps, stored as fp16 in shards aligned with the crop shards (``feat``: (3, C, h, w),
``heatmap``: (3, 17, h, w)). With ``flip`` (the flip test, val/test) the mirrored crops' outputs are stored too
(``feat_flip``, ``heatmap_flip``).

On a GPU the outputs stay on the device until their shard is written: each batch is copied into pinned host memory
on a side stream while the next batch runs, and a background thread writes the finished shard while the next one is
computed (:class:`fasrnet.prefetch.Behind`).

Resumable: the store is built in a work directory and swapped in when complete (docs/resume.md); a killed run
continues at the first shard without its ``done`` marker, a half-written shard is never read (:mod:`fasrnet.shards`).
``features.json`` (written last) records the backbone and crop store it came from; ``fingerprint.json`` what made
it (params, the crop store's digest, the backbone's weights, the code).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from fasrnet.cachesize import Projection, tree_bytes
from fasrnet.codecs.heatmap import STRIDE
from fasrnet.data.cropstore import FRAMES, CropIndex
from fasrnet.inference import BackboneRunner, host_buffer, resolve_precision, to_host
from fasrnet.io import write_json
from fasrnet.models.hrnet import HRNet
from fasrnet.prefetch import Behind
from fasrnet.resume import Unit, file_sha256, make_fingerprint, module_digest, store_digest, work_dir_for
from fasrnet.shards import Field, ShardReader, ShardStoreError, ShardWriter, first_pending_shard, store_bytes

#: The stored precision of features and heatmaps (:data:`fasrnet.inference.OUTPUT_DTYPE`).
STORE_DTYPE = "float16"


def _features_complete(directory: Path) -> bool:
    return (directory / "features.json").is_file()


def feature_fields(input_size: tuple[int, int] | list[int], channels: int, joints: int,
                   flip: bool) -> dict[str, Field]:
    """The feature store's fields for crops of ``input_size`` (H, W): ``feat`` (3, C, H/4, W/4) and ``heatmap``
    (3, J, H/4, W/4), fp16, plus their ``_flip`` twins with ``flip``."""
    h, w = (s // STRIDE for s in input_size)
    fields = {"feat": Field((FRAMES, channels, h, w), STORE_DTYPE),
              "heatmap": Field((FRAMES, joints, h, w), STORE_DTYPE)}
    if flip:
        fields.update(feat_flip=fields["feat"], heatmap_flip=fields["heatmap"])
    return fields


@dataclass
class ExtractPlan:
    """One split's extraction, sized before anything is written (:func:`plan_extract`)."""

    crops: CropIndex
    crop_dir: Path
    unit: Unit
    fields: dict[str, Field]
    projection: Projection | None  # None when the store in place is up to date


def plan_extract(crop_dir: str | Path, out_dir: str | Path, backbone: HRNet, device: torch.device, batch_size: int,
                 flip: bool = False, *, stamp: Mapping[str, Any] | None = None,
                 stage_out: str | Path | None = None, precision: str = "auto", compile: bool = False) -> ExtractPlan:
    """Open the crop index and project the bytes :func:`extract` will write, touching nothing on disk: every crop
    when started over, the crops of the unfinished shards when a matching work directory is resumed
    (docs/data.md, §7). Arguments as for :func:`extract`."""
    crop_dir, out_dir = Path(crop_dir), Path(out_dir)
    crops = CropIndex.open(crop_dir)
    fingerprint = make_fingerprint("extract", stamp or {}, {"crops": store_digest(crop_dir)},
                                   backbone=module_digest(backbone), batch_size=batch_size, flip=flip,
                                   device=device.type, precision=resolve_precision(precision, device),
                                   compile=compile)
    unit = Unit(out_dir, work_dir_for(out_dir, stage_out), fingerprint)
    fields = feature_fields(crops.info["input_size"], backbone.out_channels, backbone.num_joints, flip)
    plan = ExtractPlan(crops, crop_dir, unit, fields, None)
    state = unit.peek(_features_complete)
    if state == "current":
        return plan
    n, shard_size = len(crops), crops.images.shard_size
    first = first_pending_shard(unit.work, fields, shard_size, n) if state == "resume" else 0
    stale = state == "fresh" and unit.work.is_dir()  # another fingerprint's partial store, deleted first
    plan.projection = Projection(
        "extract", f"{crops.info['dataset']}/{crops.info['split']}", n, max(n - first * shard_size, 0),
        store_bytes(fields, n, shard_size, first), unit.work, reclaim=tree_bytes(unit.work) if stale else 0)
    return plan


def extract(crop_dir: str | Path, out_dir: str | Path, backbone: HRNet, device: torch.device, batch_size: int,
            flip: bool = False, backbone_id: str = "", progress: bool = True, *,
            stamp: Mapping[str, Any] | None = None, stage_out: str | Path | None = None,
            plan: ExtractPlan | None = None, precision: str = "auto", compile: bool = False) -> dict[str, Any]:
    """Run ``backbone`` over every crop of ``crop_dir`` into the feature store ``out_dir``, through a work
    directory (:mod:`fasrnet.resume`): up to date when ``out_dir``'s fingerprint (``stamp``: the stage's params
    values; the crop store's digest; the backbone's weights; the code) matches, else resumed or started over.
    ``plan``: this split's :func:`plan_extract` with the same arguments (made here when not given). ``precision``
    and ``compile``: the backbone's (``extract.precision``, ``extract.compile``; :class:`BackboneRunner`)."""
    if plan is None:
        plan = plan_extract(crop_dir, out_dir, backbone, device, batch_size, flip, stamp=stamp, stage_out=stage_out,
                            precision=precision, compile=compile)
    crops, unit = plan.crops, plan.unit
    state = unit.open(_features_complete)
    if state == "current":
        return {"crops": len(crops), "extracted_now": 0, "seconds": 0.0, "crops_per_second": None, "state": state}
    runner = BackboneRunner(backbone, device, precision, compile)
    stats = _extract_into(crops, unit.work, plan.fields, runner, batch_size, flip, progress)
    write_json(unit.work / "features.json", {
        "crops": str(plan.crop_dir), "backbone": backbone_id, "channels": backbone.out_channels,
        "joints": backbone.num_joints, "heatmap_size": [s // STRIDE for s in crops.info["input_size"]], "flip": flip,
        "dtype": STORE_DTYPE, "count": len(crops),
    }, indent=1)  # no timings or resume counts: identical runs give identical bytes
    unit.commit()
    return {**stats, "state": state}


def _extract_into(crops: CropIndex, out_dir: Path, fields: dict[str, Field], runner: BackboneRunner,
                  batch_size: int, flip: bool, progress: bool) -> dict[str, Any]:
    """Fill the feature store ``out_dir`` from its first unfinished shard; returns counts and timing."""
    n = len(crops)
    (out_dir / "features.json").unlink(missing_ok=True)
    writer = ShardWriter(out_dir, fields, crops.images.shard_size, n)
    start = writer.first_incomplete()
    done_before = sum(len(writer.shard_range(k)) for k in range(start))
    bar = tqdm(total=n, initial=done_before, desc=f"extract {crops.info['dataset']}/{crops.info['split']}",
               unit="crop", disable=not progress)
    t0 = time.perf_counter()
    with bar:  # closed on errors too, so an error message starts a line of its own
        extract_shards(crops.images, writer, range(start, writer.num_shards), runner, batch_size, flip, bar.update)
    seconds = time.perf_counter() - t0
    done_now = n - done_before
    return {
        "crops": n,
        "settings": runner.describe(),
        "extracted_now": done_now,
        "seconds": round(seconds, 3),
        "crops_per_second": round(done_now / seconds, 2) if done_now and seconds > 0 else None,
    }


#: The backbone's outputs and the fields they fill, without and with the flip test.
_OUTPUTS = (("feat", "heatmap"), ("feat_flip", "heatmap_flip"))


def extract_shards(images: ShardReader, writer: ShardWriter, shards: range, runner: BackboneRunner, batch_size: int,
                   flip: bool, done: Callable[[int], object] = lambda n: None) -> None:
    """Run the backbone over the crops of ``shards`` (``images``: the crop store's ``images`` field; and their
    mirror images with ``flip``) into ``writer``, shard by shard; ``done(n)`` after every batch of n crops.

    On CUDA a batch's outputs are copied into the shard's pinned host buffers on a side stream while the next
    batch runs, and a background thread writes each finished shard while the next one is computed; on a CPU the
    same steps run one after another (:func:`fasrnet.inference.to_host`)."""
    device = runner.device
    stream = torch.cuda.Stream(device) if device.type == "cuda" else None

    def write(item: tuple[int, dict[str, torch.Tensor], Any]) -> None:
        shard, out, ready = item
        if ready is not None:
            ready.synchronize()  # every copy into ``out`` has landed
        writer.write_shard(shard, {k: v.numpy() for k, v in out.items()})

    with Behind(write, depth=1, name="fasrnet-extract-writer") as behind:
        for shard in shards:
            rng = writer.shard_range(shard)
            crops = torch.from_numpy(images.get_many("images", np.arange(rng.start, rng.stop)))
            if device.type == "cuda":
                crops = crops.pin_memory()
            out = {k: host_buffer((len(rng), *f.shape), getattr(torch, f.dtype), device)
                   for k, f in writer.fields.items()}
            for s in range(0, len(crops), batch_size):
                batch = crops[s:s + batch_size]
                for mirrored, names in zip((False, True), _OUTPUTS):
                    if mirrored and not flip:
                        continue
                    for name, value in zip(names, runner(batch, flip=mirrored)):
                        to_host(value, out[name][s:s + len(batch)], stream)
                done(len(batch))
            ready = None
            if stream is not None:
                ready = torch.cuda.Event()
                ready.record(stream)
            behind.put((shard, out, ready))


class FeatureStore:
    """A complete feature cache plus its crop index (metadata for targets and for mapping back to images)."""

    def __init__(self, feature_dir: str | Path, crop_dir: str | Path):
        feature_dir = Path(feature_dir)
        if not (feature_dir / "features.json").exists():
            raise ShardStoreError(f"{feature_dir}: feature cache missing or incomplete (no features.json); "
                                  "run `fasrnet extract` first")
        self.dir = feature_dir
        # the command that rewrites this store, for the reader's errors (a NaN in a shard, a torn one)
        self.reader = ShardReader(feature_dir, f"`fasrnet extract --dataset {feature_dir.parent.name} "
                                               f"--split {feature_dir.name}`")
        self.crops = CropIndex.open(crop_dir)
        if len(self.reader) != len(self.crops):
            raise ShardStoreError(f"{feature_dir}: {len(self.reader)} feature items but {len(self.crops)} crops "
                                  f"in {crop_dir}; re-run `fasrnet extract`")

    def __len__(self) -> int:
        return len(self.reader)

    @property
    def backbone_id(self) -> str:
        """Which backbone the cache holds the outputs of (:func:`backbone_ident` of its weights file)."""
        return str(json.loads((self.dir / "features.json").read_text()).get("backbone", ""))

    def holds(self, weights: Path) -> bool:
        """Whether the cache holds the outputs of the backbone in ``weights``."""
        return weights.is_file() and self.backbone_id == backbone_ident(weights)


def backbone_ident(weights: Path) -> str:
    """How ``features.json`` names the backbone it was extracted with: ``<weights file> sha256:<first 16 hex>``."""
    return f"{weights} sha256:{file_sha256(weights)[:16]}"

    @property
    def has_flip(self) -> bool:
        return "feat_flip" in self.reader.fields
