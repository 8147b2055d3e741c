"""The crop store (``data/crops/<dataset>/<split>/``): its format, and its reader (:class:`CropIndex`). The crops
stage (:mod:`fasrnet.data.crops`) writes it; feature extraction, prediction and backbone pretraining read it.

- the shard store (:mod:`fasrnet.shards`) with field ``images``: ``(3 frames, 3 RGB, H, W)`` uint8;
- ``index.npz``: per crop ``video``, ``frame``, ``person``, ``track_id``, ``center`` (2), ``scale`` (2),
  ``rotation``, ``flip``, ``score`` (box score; 1 for GT boxes), ``joints`` (17, 2) in crop pixels and
  ``joints_vis`` (17,) training weights (train only; zeros elsewhere);
- ``index.json``: dataset, split, annotation format, videos (name, annotation file, frame image paths), counts.
  Written last: a store without it is incomplete.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fasrnet.codecs.heatmap import HeatmapCodec
from fasrnet.errors import describe
from fasrnet.keypoints import NUM_KEYPOINTS
from fasrnet.shards import Field, ShardReader, ShardStoreError, npy_bytes

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


def crop_fields(codec: HeatmapCodec) -> dict[str, Field]:
    """The crop store's one field: ``images``, ``(3 frames, 3 RGB, H, W)`` uint8."""
    w, h = codec.input_wh
    return {"images": Field((FRAMES, 3, h, w), "uint8")}


def index_bytes(count: int) -> int:
    """Bytes of ``index.npz``'s arrays for ``count`` crops (headers included; the zip's own entries, some
    hundred bytes per array, are not counted)."""
    return sum(npy_bytes((count, *f.shape), f.dtype) for f in INDEX_FIELDS.values())


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
