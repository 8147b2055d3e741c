"""Sharded array store for the crop and feature caches.

Layout of one store directory::

    <dir>/shard-00000.<field>.npy   one uncompressed .npy per field per shard (memory-mappable)
    <dir>/shard-00000.done.json     written last, atomically: the shard is complete iff this exists
    <dir>/store.json                fields, dtypes, per-item shapes, shard size (written when the store opens)

Why plain ``.npy`` shards: training reads every item once per epoch in (shuffled) order; uncompressed
fixed-stride arrays are ``mmap``-ed with zero decode cost, the OS page cache does the buffering, and a reader
never holds more than the pages it touches (never the whole cache in RAM). Shards bound the work lost by a
killed writer: a resumed writer continues at the first shard without its ``done`` marker, and a half-written
shard (fields without a marker) is never read.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fasrnet.errors import FasrnetError, describe
from fasrnet.io import atomic_path, write_json


class ShardStoreError(FasrnetError):
    """A store is missing, incomplete, or was written with another layout."""


@dataclass(frozen=True)
class Field:
    """One array field: per-item shape and dtype."""

    shape: tuple[int, ...]
    dtype: str

    def to_json(self) -> dict:
        return {"shape": list(self.shape), "dtype": self.dtype}


def _shard_name(k: int) -> str:
    return f"shard-{k:05d}"


def _done_record(n: int) -> dict[str, int]:
    """What a shard's ``done`` marker holds."""
    return {"count": n}


def npy_bytes(shape: tuple[int, ...], dtype: str) -> int:
    """The exact size of the ``.npy`` file ``np.save`` writes for a C-ordered array of ``shape`` and ``dtype``:
    its header (format 1.0, padded to 64 bytes) plus the data."""
    dt = np.dtype(dtype)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": np.lib.format.dtype_to_descr(dt), "fortran_order": False,
                                                  "shape": tuple(shape)})
    return header.tell() + int(np.prod(shape, dtype=np.int64)) * dt.itemsize


def store_bytes(fields: Mapping[str, Field], total: int, shard_size: int, first_shard: int = 0) -> int:
    """The exact bytes of the shard files (one ``.npy`` per field, the ``done`` marker) of shards ``first_shard``
    onward of a store of ``total`` items; ``store.json`` (a few hundred bytes) is not counted. These are file sizes:
    a file system allocates in blocks (4 KiB), so ``du`` may show up to one block more per file."""
    count = 0
    for k in range(first_shard, _num_shards(total, shard_size)):
        n = min(shard_size, total - k * shard_size)
        count += sum(npy_bytes((n, *f.shape), f.dtype) for f in fields.values())
        count += len(json.dumps(_done_record(n), separators=(",", ":"))) + 1  # as io.write_json writes it
    return count


def _layout_record(fields: Mapping[str, Field], shard_size: int, total: int) -> dict:
    """What ``store.json`` holds."""
    return {"fields": {k: f.to_json() for k, f in fields.items()}, "shard_size": shard_size, "total": total}


def _stored_layout(directory: Path) -> dict | None:
    """``store.json``'s record, or None when there is none or it is torn or garbage (it describes nothing
    reusable)."""
    meta = directory / "store.json"
    if not meta.exists():
        return None
    try:
        return json.loads(meta.read_text())
    except ValueError:
        return None


def _num_shards(total: int, shard_size: int) -> int:
    return (total + shard_size - 1) // shard_size


def _first_undone(directory: Path, num_shards: int) -> int:
    """Index of the first shard without a done marker (``num_shards`` when all are complete)."""
    return next((k for k in range(num_shards) if not (directory / f"{_shard_name(k)}.done.json").exists()),
                num_shards)


def first_pending_shard(directory: str | Path, fields: Mapping[str, Field], shard_size: int, total: int) -> int:
    """The shard a :class:`ShardWriter` opened on ``directory`` with this layout would resume at, found without
    writing anything: 0 when the directory holds no store of this layout (the writer would start over)."""
    directory = Path(directory)
    try:
        if _stored_layout(directory) != _layout_record(fields, shard_size, total):
            return 0
    except OSError:
        return 0
    return _first_undone(directory, _num_shards(total, shard_size))


@dataclass(frozen=True)
class Layout:
    """What ``store.json`` records."""

    fields: dict[str, Field]
    shard_size: int
    total: int


def read_layout(meta: Path) -> Layout:
    """Parse ``store.json``: ``fields`` (name → :class:`Field`), ``shard_size``, ``total``; a file that is not
    JSON or lacks a field is a :class:`ShardStoreError` naming it."""
    try:
        raw = json.loads(meta.read_text())
        fields = {str(k): Field(tuple(int(d) for d in v["shape"]), str(np.dtype(v["dtype"])))
                  for k, v in raw["fields"].items()}
        shard_size, total = int(raw["shard_size"]), int(raw["total"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ShardStoreError(f"{meta}: corrupt store layout ({describe(exc)}); "
                              "delete the store and re-run the stage that writes it") from None
    if shard_size < 1 or total < 0:
        raise ShardStoreError(f"{meta}: corrupt store layout (shard_size {shard_size}, total {total})")
    return Layout(fields, shard_size, total)


class ShardWriter:
    """Writes items shard by shard. ``write_shard(k, arrays)`` is atomic per shard; ``is_done(k)`` lets a
    resumed run skip finished shards."""

    def __init__(self, directory: str | Path, fields: dict[str, Field], shard_size: int, total: int):
        if shard_size < 1:
            raise ValueError("shard_size must be >= 1")
        self.dir = Path(directory)
        self.fields = fields
        self.shard_size = shard_size
        self.total = total
        self.dir.mkdir(parents=True, exist_ok=True)
        layout = _layout_record(fields, shard_size, total)
        meta = self.dir / "store.json"
        if meta.exists() and _stored_layout(self.dir) != layout:
            # Another layout (other params): nothing of the old store can be reused.
            for p in self.dir.glob("shard-*"):
                p.unlink()
        write_json(meta, layout, indent=1)

    @property
    def num_shards(self) -> int:
        return _num_shards(self.total, self.shard_size)

    def shard_range(self, k: int) -> range:
        return range(k * self.shard_size, min((k + 1) * self.shard_size, self.total))

    def is_done(self, k: int) -> bool:
        return (self.dir / f"{_shard_name(k)}.done.json").exists()

    def write_shard(self, k: int, arrays: dict[str, np.ndarray]) -> None:
        n = len(self.shard_range(k))
        if set(arrays) != set(self.fields):
            raise ValueError(f"shard {k}: expected fields {sorted(self.fields)}, got {sorted(arrays)}")
        for name, field in self.fields.items():
            arr = np.ascontiguousarray(arrays[name], dtype=field.dtype)
            if arr.shape != (n, *field.shape):
                raise ValueError(f"shard {k}.{name}: expected shape {(n, *field.shape)}, got {arr.shape}")
            with atomic_path(self.dir / f"{_shard_name(k)}.{name}.npy") as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, arr, allow_pickle=False)
        write_json(self.dir / f"{_shard_name(k)}.done.json", _done_record(n))

    def first_incomplete(self) -> int:
        """Index of the first shard without a done marker (``num_shards`` when all are complete)."""
        return _first_undone(self.dir, self.num_shards)


def all_finite(arr: np.ndarray, chunk: int = 1 << 18) -> bool:
    """Whether a float array holds no NaN and no infinity (other dtypes: True). Read from the exponent bits of a
    native IEEE array, ``chunk`` values at a time through a scratch buffer that stays in cache: on a training batch
    of fp16 features about half the time of copying it, a seventh of ``np.isfinite(arr).all()``'s."""
    dt = arr.dtype
    if dt.kind != "f":
        return True
    if dt.itemsize not in (2, 4, 8) or not dt.isnative or not arr.flags.c_contiguous or not arr.size:
        return bool(np.isfinite(arr).all())
    info, uint = np.finfo(dt), np.dtype(f"u{dt.itemsize}")
    bits, mask = arr.reshape(-1).view(uint), uint.type((1 << (8 * dt.itemsize - 1)) - 1)  # all but the sign
    not_finite = ((1 << info.nexp) - 1) << info.nmant  # every exponent bit set: an infinity or a NaN
    scratch = np.empty(min(chunk, bits.size), dtype=uint)
    for start in range(0, bits.size, chunk):
        part = bits[start:start + chunk]
        if int(np.bitwise_and(part, mask, out=scratch[:part.size]).max()) >= not_finite:
            return False
    return True


class ShardReader:
    """Random access over a complete store; arrays are memory-mapped per shard on first use. Float items are
    checked as they are read: a NaN or an infinity is a :class:`ShardStoreError` naming the shard file and field.
    ``rebuild``: the command that rewrites the store, for the error messages."""

    def __init__(self, directory: str | Path, rebuild: str = "the stage that writes it"):
        self.dir = Path(directory)
        self.rebuild = rebuild
        meta = self.dir / "store.json"
        if not meta.exists():
            raise ShardStoreError(f"{self.dir}: not a shard store (store.json missing); run the stage that writes it")
        layout = read_layout(meta)
        self.fields, self.shard_size, self.total = layout.fields, layout.shard_size, layout.total
        num_shards = _num_shards(self.total, self.shard_size)
        missing = [k for k in range(num_shards) if not (self.dir / f"{_shard_name(k)}.done.json").exists()]
        if missing:
            raise ShardStoreError(
                f"{self.dir}: incomplete store, shards {missing[:5]}{'…' if len(missing) > 5 else ''} "
                f"of {num_shards} unfinished; re-run the stage to resume"
            )
        self._maps: dict[tuple[int, str], np.ndarray] = {}

    def __len__(self) -> int:
        return self.total

    def _array(self, k: int, name: str) -> np.ndarray:
        key = (k, name)
        if key not in self._maps:
            self._maps[key] = self._open(k, name)
        return self._maps[key]

    def _open(self, k: int, name: str) -> np.ndarray:
        """Memory-map one shard's field, checked against the layout (a torn or garbage file is an error)."""
        path = self.dir / f"{_shard_name(k)}.{name}.npy"
        field = self.fields[name]
        n = min(self.shard_size, self.total - k * self.shard_size)
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise ShardStoreError(f"{path}: corrupt shard ({describe(exc)}); delete the store and re-run "
                                  f"{self.rebuild}") from None
        if arr.shape != (n, *field.shape) or arr.dtype != np.dtype(field.dtype):
            raise ShardStoreError(f"{path}: corrupt shard (shape {arr.shape} {arr.dtype}, store.json says "
                                  f"{(n, *field.shape)} {field.dtype}); delete the store and re-run {self.rebuild}")
        return arr

    def _nonfinite(self, name: str, indices: np.ndarray, items: np.ndarray) -> ShardStoreError:
        """The error for ``items`` (read at ``indices``) holding a NaN or an infinity: names the first such shard."""
        rows = ~np.isfinite(items.reshape(len(items), -1)).all(axis=1)
        k, i = divmod(int(indices[int(np.argmax(rows))]), self.shard_size)
        return ShardStoreError(f"{self.dir / f'{_shard_name(k)}.{name}.npy'}: non-finite values (NaN or inf) in field "
                               f"{name!r}, item {i} of the shard; the file is damaged: delete {self.dir} and re-run "
                               f"{self.rebuild}")

    def get(self, name: str, index: int) -> np.ndarray:
        if not 0 <= index < self.total:
            raise IndexError(index)
        k, i = divmod(index, self.shard_size)
        item = self._array(k, name)[i]
        if not all_finite(item):
            raise self._nonfinite(name, np.array([index]), item[None])
        return item

    def get_many(self, name: str, indices: np.ndarray) -> np.ndarray:
        """Gather items (any order) into one new array, reading shard by shard."""
        indices = np.asarray(indices, dtype=np.int64)
        field = self.fields[name]
        out = np.empty((len(indices), *field.shape), dtype=field.dtype)
        shards, offsets = np.divmod(indices, self.shard_size)
        for k in np.unique(shards):
            sel = np.nonzero(shards == k)[0]
            out[sel] = self._array(int(k), name)[offsets[sel]]
        if not all_finite(out):
            raise self._nonfinite(name, indices, out)
        return out

    def iter_shards(self, name: str) -> Iterator[np.ndarray]:
        for k in range(_num_shards(self.total, self.shard_size)):
            yield self._array(k, name)
