"""Batches built on the device (fasrnet/batches.py), run on the CPU: the same rows, values and targets as the host
path (CachedBatches), resident and streamed; the prefetching thread's errors and early stops; the targets encoded
with torch against numpy's."""

import threading

import numpy as np
import pytest
import torch

from fasrnet import paths
from fasrnet.batches import DeviceBatches, fits_on_device, iterate_batches, store_nbytes
from fasrnet.codecs.heatmap import HeatmapCodec, encode_batch, encode_batch_torch
from fasrnet.errors import FasrnetError
from fasrnet.features import FeatureStore
from fasrnet.params import load_params
from fasrnet.train import CachedBatches, epoch_batches


@pytest.mark.parametrize("subpixel", [True, False])
def test_torch_targets_equal_numpy_targets(subpixel):
    rng = np.random.default_rng(0)
    joints = rng.uniform(-20, 110, (64, 17, 2))  # some windows miss the heatmap entirely
    joints[3, 4] = np.nan
    joints[5, 6, 1] = np.inf
    visible = rng.random((64, 17)) < 0.8
    t_np, w_np = encode_batch(joints, visible, (24, 32), 2.0, 4.0, subpixel)
    t_pt, w_pt = encode_batch_torch(torch.from_numpy(joints), torch.from_numpy(visible), (24, 32), 2.0, 4.0, subpixel)
    assert t_pt.dtype == torch.float32 and w_pt.dtype == torch.float32
    np.testing.assert_array_equal(w_pt.numpy(), w_np)
    # float64 exp of two libraries may differ in the last bit; after the cast to float32 at most one float32 ulp
    np.testing.assert_allclose(t_pt.numpy(), t_np, rtol=2 ** -23, atol=1e-30)
    assert w_np.sum() < w_np.size  # the case covers joints without a target
    with pytest.raises(ValueError, match=r"joints must be \(N, J, 2\)"):
        encode_batch_torch(torch.zeros(3, 2), torch.ones(3), (24, 32), 2.0)


@pytest.fixture
def store(in_workspace):
    return FeatureStore(paths.features_dir("syn17", "train"), paths.crops_dir("syn17", "train"))


@pytest.fixture
def codec(in_workspace):
    return HeatmapCodec.from_params(load_params("params.yaml").heatmap)


@pytest.mark.parametrize("resident", [True, False])
def test_device_batches_equal_the_host_batches(store, codec, resident):
    host = CachedBatches(store, codec)
    device = DeviceBatches(store, codec, torch.device("cpu"), resident=resident, chunk=5)  # chunks of 5: several
    perm = np.random.default_rng(1).permutation(len(store))
    batches = epoch_batches(perm, 4)
    got = list(iterate_batches(device, batches, 0))
    assert len(got) == len(batches) and len(device) == len(store)
    for idx, made in zip(batches, got):
        want = host.batch(idx, 0)
        for a, b in zip(made[:2], want[:2]):  # features and heatmaps: the same fp32 values, bit for bit
            assert a.dtype == torch.float32 and torch.equal(a, b)
        torch.testing.assert_close(made[2], want[2], rtol=2 ** -23, atol=0.0)
        assert torch.equal(made[3], want[3])


def test_streaming_raises_a_read_error_at_the_training_loop_and_stops_its_thread(store, codec, monkeypatch):
    batches = epoch_batches(np.arange(len(store)), 4)
    device = DeviceBatches(store, codec, torch.device("cpu"), resident=False)
    real = store.reader.get_many
    calls = []

    def failing(name, idx):
        calls.append(name)
        if len(calls) > 4:  # the third batch
            raise FasrnetError("shard-00001.feat.npy: damaged")
        return real(name, idx)

    monkeypatch.setattr(store.reader, "get_many", failing)
    it = device.iterate(batches, 0)
    assert len(list(zip(range(2), it))) == 2
    with pytest.raises(FasrnetError, match="damaged"):
        next(it)
    assert not [t for t in threading.enumerate() if t.name == "fasrnet-batches"]


def test_streaming_stopped_early_joins_its_thread(store, codec):
    device = DeviceBatches(store, codec, torch.device("cpu"), resident=False, prefetch=1)
    it = device.iterate(epoch_batches(np.arange(len(store)), 2), 0)
    next(it)
    it.close()  # the training loop left the epoch (an error in the step, a stop)
    assert not [t for t in threading.enumerate() if t.name == "fasrnet-batches"]


def test_resident_only_on_a_gpu_and_within_the_share(store, monkeypatch):
    nbytes = store_nbytes(store)
    fields = [store.reader.get_many(n, np.arange(len(store))) for n in ("feat", "heatmap")]
    assert nbytes == sum(f.nbytes for f in fields)
    assert not fits_on_device(store, torch.device("cpu"), 1.0)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (4 * nbytes, 8 * nbytes))
    assert fits_on_device(store, torch.device("cuda"), 0.5)
    assert not fits_on_device(store, torch.device("cuda"), 0.2)
    assert not fits_on_device(store, torch.device("cuda"), 0.0)
