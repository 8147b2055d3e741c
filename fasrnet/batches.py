"""Head-training batches made on the device (a GPU worker's data path; docs/gpu.md).

:class:`fasrnet.train.CachedBatches` builds each batch on the host: fp16 rows of the feature cache converted to fp32
and Gaussian targets encoded with numpy, then copied to the device, all on the training loop's thread. On one H200
that was 40 % of every step. :class:`DeviceBatches` gives the same batches (the same rows in the same order, the same
fp32 values; targets equal up to the last bit of float64 ``exp``) built on the device:

- **resident** — when the split's ``feat`` and ``heatmap`` fields fit ``train.device_store_fraction`` of the device's
  free memory, they are copied onto it once, as fp16, and each batch is gathered there;
- **streaming** — otherwise a background thread (:func:`fasrnet.prefetch.ahead`) reads the next batches' fp16 rows
  (into pinned host memory on CUDA) while the current one trains, and the loop copies them with non-blocking copies.

Either way the rows are converted to fp32 and the targets encoded (:func:`fasrnet.codecs.heatmap.encode_batch_torch`)
on the device. The CPU pipeline keeps :class:`~fasrnet.train.CachedBatches`, so the embedded default's bytes do not
change; tests run this module on the CPU, where it must give the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from fasrnet.codecs.heatmap import HeatmapCodec
from fasrnet.features import FeatureStore
from fasrnet.prefetch import ahead

#: The fields a batch reads from the feature cache.
FIELDS = ("feat", "heatmap")


def store_nbytes(store: FeatureStore) -> int:
    """Bytes the split's ``feat`` and ``heatmap`` fields take (fp16 on disk, and so on the device)."""
    n = len(store)
    total = 0
    for name in FIELDS:
        row = store.reader.get_many(name, np.arange(min(1, n)))
        total += row.nbytes * n // max(1, len(row))
    return total


def fits_on_device(store: FeatureStore, device: torch.device, fraction: float) -> bool:
    """Whether the split's feature fields fit ``fraction`` of ``device``'s free memory (never on a CPU: there the
    memory-mapped shards already are host memory)."""
    if device.type != "cuda" or fraction <= 0:
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return store_nbytes(store) <= fraction * free


class DeviceBatches:
    """Training batches ``(feat (B,3,C,h,w), heatmap (B,3,J,h,w), target (B,J,h,w), weight (B,J))``, fp32 on
    ``device``, built there. ``resident``: the fields live on the device (see the module docstring); else they are
    streamed, ``prefetch`` batches ahead."""

    def __init__(self, store: FeatureStore, codec: HeatmapCodec, device: torch.device, resident: bool,
                 prefetch: int = 2, chunk: int = 256):
        self.store = store
        self.codec = codec
        self.device = device
        self.resident = resident
        self.prefetch = max(1, prefetch)
        a = store.crops.arrays
        self.joints = torch.as_tensor(np.asarray(a["joints"], dtype=np.float64), device=device)
        self.visible = torch.as_tensor(np.asarray(a["joints_vis"]).astype(bool), device=device)
        self.fields: dict[str, torch.Tensor] = {}
        if resident:
            n = len(store)
            for name in FIELDS:
                first = store.reader.get_many(name, np.arange(min(1, n)))
                dev = torch.empty((n, *first.shape[1:]), dtype=torch.from_numpy(first).dtype, device=device)
                for s in range(0, n, chunk):  # a chunk at a time: never the whole split in host memory
                    rows = store.reader.get_many(name, np.arange(s, min(n, s + chunk)))
                    dev[s:s + len(rows)].copy_(torch.from_numpy(rows))
                self.fields[name] = dev

    def __len__(self) -> int:
        return len(self.store)

    def _host_rows(self, order: np.ndarray) -> tuple[torch.Tensor, ...]:
        """The fp16 rows of ``order`` on the host, pinned on CUDA (so the copy to the device can be non-blocking)."""
        rows = tuple(torch.from_numpy(self.store.reader.get_many(name, order)) for name in FIELDS)
        if self.device.type == "cuda":
            rows = tuple(r.pin_memory() for r in rows)
        return rows

    def _finish(self, order: np.ndarray, rows: tuple[torch.Tensor, ...] | None = None) -> tuple[torch.Tensor, ...]:
        """The batch of ``order`` on the device: fp32 features and heatmaps (``rows`` read on the host, or gathered
        from the resident fields when None), targets encoded there."""
        sel = torch.as_tensor(order, device=self.device)
        if rows is None:
            rows = tuple(self.fields[name].index_select(0, sel) for name in FIELDS)
        feat, hm = (r.to(self.device, non_blocking=True).float() for r in rows)
        target, weight = self.codec.encode_on_device(self.joints[sel], self.visible[sel])
        return feat, hm, target, weight

    def batch(self, idx: np.ndarray, epoch: int) -> tuple[torch.Tensor, ...]:
        """One batch, built now (what :meth:`iterate` prefetches)."""
        order = np.sort(idx)  # as CachedBatches: shard-friendly reads; the content matters, not the order
        return self._finish(order, None if self.resident else self._host_rows(order))

    def iterate(self, batches: list[np.ndarray], epoch: int) -> Iterator[tuple[torch.Tensor, ...]]:
        """The epoch's batches in order. Streaming, a background thread reads up to ``prefetch`` batches ahead;
        an error there is raised here, at the batch it concerns."""
        if self.resident:
            for idx in batches:
                yield self.batch(idx, epoch)
            return

        def read() -> Iterator[tuple[np.ndarray, tuple[torch.Tensor, ...]]]:
            for idx in batches:
                order = np.sort(idx)
                yield order, self._host_rows(order)

        for order, rows in ahead(read(), self.prefetch, name="fasrnet-batches"):
            yield self._finish(order, rows)


def iterate_batches(source: Any, batches: list[np.ndarray], epoch: int) -> Iterator[tuple[torch.Tensor, ...]]:
    """A batch source's batches of one epoch: its own ``iterate`` where it has one (:class:`DeviceBatches`
    prefetches), else ``batch`` one after another."""
    if hasattr(source, "iterate"):
        yield from source.iterate(batches, epoch)
        return
    for idx in batches:
        yield source.batch(idx, epoch)
