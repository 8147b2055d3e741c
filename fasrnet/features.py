"""The frozen-backbone feature cache (``fasrnet extract``).

The official code re-runs the frozen HRNet on three frames at every training step. Here it runs once per
cached crop: for every crop of ``data/crops/<ds>/<split>`` the backbone (eval mode, no gradients, batched;
fp16 + channels_last on GPU, fp32 on CPU) writes, per frame t−1, t, t+1, its highest-resolution feature map
and its heatmaps, stored as fp16 in shards aligned with the crop shards (``feat``: (3, C, h, w),
``heatmap``: (3, 17, h, w)). With ``flip`` (the flip test, val/test) the mirrored crops' outputs are stored too
(``feat_flip``, ``heatmap_flip``).

Resumable: a killed run continues at the first shard without its ``done`` marker; a half-written shard is never
read (:mod:`fasrnet.shards`). ``features.json`` (written last) records the backbone and crop store it came from.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from fasrnet.data.crops import CropIndex
from fasrnet.io import write_json
from fasrnet.models.hrnet import HRNet
from fasrnet.shards import Field, ShardReader, ShardStoreError, ShardWriter

#: ImageNet normalisation of RGB inputs in [0, 1] (HRNet/DCPose).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(..., 3, H, W)`` RGB → float, ImageNet-normalised."""
    mean = torch.tensor(MEAN, device=images.device).view(3, 1, 1)
    std = torch.tensor(STD, device=images.device).view(3, 1, 1)
    return (images.float() / 255.0 - mean) / std


@torch.no_grad()
def run_backbone(backbone: HRNet, images: torch.Tensor, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """uint8 ``(B, T, 3, H, W)`` → fp16 features ``(B, T, C, h, w)`` and heatmaps ``(B, T, J, h, w)``."""
    b, t = images.shape[:2]
    x = normalize(images.to(device).flatten(0, 1))
    if device.type == "cuda":
        x = x.half().contiguous(memory_format=torch.channels_last)
    feat, hm = backbone(x)
    feat = feat.reshape(b, t, *feat.shape[1:]).to("cpu", torch.float16).numpy()
    hm = hm.reshape(b, t, *hm.shape[1:]).to("cpu", torch.float16).numpy()
    return feat, hm


def prepare_backbone(backbone: HRNet, device: torch.device) -> HRNet:
    backbone = backbone.eval().requires_grad_(False).to(device)
    if device.type == "cuda":
        backbone = backbone.half().to(memory_format=torch.channels_last)
    return backbone


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def extract(crop_dir: str | Path, out_dir: str | Path, backbone: HRNet, device: torch.device, batch_size: int,
            flip: bool = False, backbone_id: str = "", progress: bool = True) -> dict[str, float]:
    """Run ``backbone`` over every crop of ``crop_dir`` into the feature store ``out_dir``."""
    crops = CropIndex.open(crop_dir)
    out_dir = Path(out_dir)
    n, t = len(crops), 3
    h, w = (s // 4 for s in crops.info["input_size"])
    c, j = backbone.out_channels, backbone.num_joints
    fields = {"feat": Field((t, c, h, w), "float16"), "heatmap": Field((t, j, h, w), "float16")}
    if flip:
        fields.update(feat_flip=fields["feat"], heatmap_flip=fields["heatmap"])
    (out_dir / "features.json").unlink(missing_ok=True)
    writer = ShardWriter(out_dir, fields, crops.images.shard_size, n)
    backbone = prepare_backbone(backbone, device)
    start = writer.first_incomplete()
    done_before = sum(len(writer.shard_range(k)) for k in range(start))
    bar = tqdm(total=n, initial=done_before, desc=f"extract {crops.info['dataset']}/{crops.info['split']}",
               unit="crop", disable=not progress)
    t0 = time.perf_counter()
    for shard in range(start, writer.num_shards):
        rng = writer.shard_range(shard)
        images = crops.images.get_many("images", np.arange(rng.start, rng.stop))
        out: dict[str, list[np.ndarray]] = {k: [] for k in fields}
        for s in range(0, len(images), batch_size):
            batch = torch.from_numpy(images[s:s + batch_size])
            feat, hm = run_backbone(backbone, batch, device)
            out["feat"].append(feat)
            out["heatmap"].append(hm)
            if flip:
                feat, hm = run_backbone(backbone, torch.flip(batch, dims=[-1]), device)
                out["feat_flip"].append(feat)
                out["heatmap_flip"].append(hm)
            bar.update(len(batch))
        writer.write_shard(shard, {k: np.concatenate(v) for k, v in out.items()})
    bar.close()
    seconds = time.perf_counter() - t0
    done_now = n - done_before
    stats = {
        "crops": n,
        "extracted_now": done_now,
        "seconds": round(seconds, 3),
        "crops_per_second": round(done_now / seconds, 2) if done_now and seconds > 0 else None,
    }
    write_json(out_dir / "features.json", {
        "crops": str(crop_dir), "backbone": backbone_id, "channels": c, "joints": j, "heatmap_size": [h, w],
        "flip": flip, "dtype": "float16", **stats,
    }, indent=1)
    return stats


class FeatureStore:
    """A complete feature cache plus its crop index (metadata for targets and for mapping back to images)."""

    def __init__(self, feature_dir: str | Path, crop_dir: str | Path):
        feature_dir = Path(feature_dir)
        if not (feature_dir / "features.json").exists():
            raise ShardStoreError(f"{feature_dir}: feature cache missing or incomplete (no features.json); "
                                  "run `fasrnet extract` first")
        self.dir = feature_dir
        self.reader = ShardReader(feature_dir)
        self.crops = CropIndex.open(crop_dir)
        if len(self.reader) != len(self.crops):
            raise ShardStoreError(f"{feature_dir}: {len(self.reader)} feature items but {len(self.crops)} crops "
                                  f"in {crop_dir}; re-run `fasrnet extract`")

    def __len__(self) -> int:
        return len(self.reader)

    @property
    def has_flip(self) -> bool:
        return "feat_flip" in self.reader.fields
