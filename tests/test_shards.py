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


@pytest.mark.parametrize("text", ["{not json", '{"fields": {}}', '{"fields": {"x": {"shape": [2]}}, '
                                  '"shard_size": 4, "total": 4}', "[]"])
def test_corrupt_store_json_is_an_error_naming_it(tmp_path, text):
    (tmp_path / "store.json").write_text(text)
    with pytest.raises(ShardStoreError, match=r"store\.json: corrupt store layout"):
        ShardReader(tmp_path)
    w = ShardWriter(tmp_path, FIELDS, shard_size=4, total=4)  # a writer just starts the store over
    assert w.first_incomplete() == 0


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other shape"])
def test_corrupt_shard_is_an_error_naming_it(tmp_path, damage):
    rng = np.random.default_rng(0)
    w = ShardWriter(tmp_path, FIELDS, shard_size=4, total=4)
    w.write_shard(0, _arrays(rng, 4))
    path = tmp_path / "shard-00000.x.npy"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:-10])
    elif damage == "garbage":
        path.write_bytes(b"garbage")
    else:
        np.save(path, np.zeros((3, 2, 3), dtype="float16"))
    reader = ShardReader(tmp_path)
    with pytest.raises(ShardStoreError, match=r"shard-00000\.x\.npy: corrupt shard"):
        reader.get("x", 0)
    assert reader.get("y", 0) is not None  # the other field is fine


@pytest.mark.parametrize("shape, dtype", [((4, 2, 3), "float16"), ((1,), "int64"), ((3, 3, 3, 384, 288), "uint8"),
                                          ((0, 17), "float32"), ((5, 3, 48, 96, 72), "float16")])
def test_npy_bytes_is_the_size_np_save_writes(tmp_path, shape, dtype):
    from fasrnet.shards import npy_bytes

    path = tmp_path / "a.npy"
    np.save(path, np.zeros(shape, dtype=dtype), allow_pickle=False)
    assert npy_bytes(shape, dtype) == path.stat().st_size


def test_store_bytes_equals_the_shard_files_written_and_counts_only_what_a_resume_writes(tmp_path):
    from fasrnet.shards import first_pending_shard, store_bytes

    rng = np.random.default_rng(0)
    data = _arrays(rng, 10)
    assert first_pending_shard(tmp_path, FIELDS, 4, 10) == 0  # no store yet
    w = ShardWriter(tmp_path, FIELDS, shard_size=4, total=10)
    for k in range(w.num_shards):
        r = w.shard_range(k)
        w.write_shard(k, {n: a[r.start:r.stop] for n, a in data.items()})
    sizes = {p.name: p.stat().st_size for p in tmp_path.glob("shard-*")}
    assert store_bytes(FIELDS, 10, 4) == sum(sizes.values())
    (tmp_path / "shard-00001.done.json").unlink()  # shards 1.. are what a resumed writer rewrites
    assert first_pending_shard(tmp_path, FIELDS, 4, 10) == 1
    assert store_bytes(FIELDS, 10, 4, first_shard=1) == sum(
        size for name, size in sizes.items() if not name.startswith("shard-00000."))
    assert first_pending_shard(tmp_path, FIELDS, 5, 10) == 0  # another layout: the writer would start over


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_item_is_an_error_naming_the_shard_file_and_field(tmp_path, bad):
    rng = np.random.default_rng(0)
    data = _arrays(rng, 10)
    w = ShardWriter(tmp_path, FIELDS, shard_size=4, total=10)
    for k in range(w.num_shards):
        r = w.shard_range(k)
        w.write_shard(k, {n: a[r.start:r.stop] for n, a in data.items()})
    path = tmp_path / "shard-00001.x.npy"
    arr = np.load(path)
    arr[2, 1, 0] = bad  # item 6 of the store; the file keeps its size
    size = path.stat().st_size
    np.save(path, arr)
    assert path.stat().st_size == size
    reader = ShardReader(tmp_path, rebuild="`fasrnet extract --dataset d --split s`")
    assert np.array_equal(reader.get_many("x", np.array([0, 9, 5])), data["x"][[0, 9, 5]])  # other items read
    message = (rf"{path}: non-finite values \(NaN or inf\) in field 'x', item 2 of the shard; the file is damaged: "
               rf"delete {tmp_path} and re-run `fasrnet extract --dataset d --split s`")
    with pytest.raises(ShardStoreError, match=message):
        reader.get_many("x", np.array([0, 9, 6, 5]))
    with pytest.raises(ShardStoreError, match=message):
        reader.get("x", 6)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", ">f4"])
def test_all_finite_reads_the_exponent_bits_of_every_float_width(dtype):
    from fasrnet.shards import all_finite

    values = np.array([0.0, -0.0, 1.5, -65504.0, 6e-8], dtype=dtype)
    assert all_finite(values) and all_finite(values, chunk=2) and all_finite(values[:0]) and all_finite(np.arange(3))
    for bad in (np.nan, np.inf, -np.inf, -np.nan):
        assert not all_finite(np.append(values, bad).astype(dtype))
        assert not all_finite(np.append(values, bad).astype(dtype), chunk=2)  # in the last, partial chunk
