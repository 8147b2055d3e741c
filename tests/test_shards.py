"""Shard store: resumable writes, completeness, memory-mapped reads."""

import numpy as np
import pytest

from fasrnet.shards import Field, ShardReader, ShardStoreError, ShardWriter

FIELDS = {"x": Field((2, 3), "float16"), "y": Field((), "int64")}


def _arrays(rng, n):
    return {"x": rng.random((n, 2, 3)).astype("float16"), "y": rng.integers(0, 100, n)}


def test_round_trip_and_gather(tmp_path):
    rng = np.random.default_rng(0)
    data = _arrays(rng, 10)
    w = ShardWriter(tmp_path, FIELDS, shard_size=4, total=10)
    assert w.num_shards == 3
    for k in range(w.num_shards):
        r = w.shard_range(k)
        w.write_shard(k, {n: a[r.start:r.stop] for n, a in data.items()})
    reader = ShardReader(tmp_path)
    assert len(reader) == 10
    assert np.array_equal(reader.get("x", 9), data["x"][9])
    idx = np.array([9, 0, 5, 4])
    assert np.array_equal(reader.get_many("y", idx), data["y"][idx])


def test_incomplete_store_is_refused_and_resume_starts_at_first_unfinished(tmp_path):
    rng = np.random.default_rng(0)
    data = _arrays(rng, 10)
    w = ShardWriter(tmp_path, FIELDS, shard_size=4, total=10)
    w.write_shard(0, {n: a[0:4] for n, a in data.items()})
    # A killed writer leaves shard 1's field files but no done marker.
    np.save(tmp_path / "shard-00001.x.npy", data["x"][4:8])
    with pytest.raises(ShardStoreError, match=r"incomplete store, shards \[1, 2\]"):
        ShardReader(tmp_path)
    again = ShardWriter(tmp_path, FIELDS, shard_size=4, total=10)
    assert again.first_incomplete() == 1


def test_changed_layout_discards_old_shards(tmp_path):
    rng = np.random.default_rng(0)
    w = ShardWriter(tmp_path, FIELDS, shard_size=4, total=4)
    w.write_shard(0, _arrays(rng, 4))
    w2 = ShardWriter(tmp_path, FIELDS, shard_size=2, total=4)
    assert w2.first_incomplete() == 0


def test_wrong_shape_is_rejected(tmp_path):
    w = ShardWriter(tmp_path, FIELDS, shard_size=4, total=4)
    with pytest.raises(ValueError, match="expected shape"):
        w.write_shard(0, {"x": np.zeros((4, 3, 3)), "y": np.zeros(4)})
