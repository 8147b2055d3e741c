"""fasrnet/inference.py: the one inference path (extract, predict, online training, demo). On the CPU in fp32 it
is the computation the pipeline ran before, bit for bit; half precisions and odd input layouts run; the extract
loop's writer thread hands its errors back; online training's worker processes cut the same batches as the
training thread; ``dcn_backend: auto`` picks a backend by measuring."""

import numpy as np
import pytest
import torch

from fasrnet import paths
from fasrnet.codecs.heatmap import HeatmapCodec
from fasrnet.features import FeatureStore, extract_shards, feature_fields
from fasrnet.inference import BackboneRunner, head_forward, normalize, resolve_precision, scored_heatmaps, to_host
from fasrnet.models.fasrnet import build_head
from fasrnet.models.hrnet import build_hrnet
from fasrnet.params import Params, load_params
from fasrnet.train import OnlineBatches, pick_dcn_backend


def _backbone(seed=0):
    torch.manual_seed(seed)
    net = build_hrnet(8, arch="lite")
    for m in net.modules():  # statistics of a batch, so outputs are not ~0 (fp16 would flush them)
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    with torch.no_grad():
        net.train()(normalize(torch.randint(0, 256, (4, 3, 64, 48), dtype=torch.uint8)))
    return net.eval()


def _images(b=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, 3, 64, 48), dtype=torch.uint8, generator=g)


def _former(net, images):
    """What ``features.run_backbone`` computed on a CPU before this module: fp32, then rounded to fp16."""
    b, t = images.shape[:2]
    with torch.no_grad():
        feat, hm = net(normalize(images.flatten(0, 1)))
    return feat.reshape(b, t, *feat.shape[1:]).to(torch.float16), hm.reshape(b, t, *hm.shape[1:]).to(torch.float16)


def test_auto_precision_is_fp16_on_cuda_and_fp32_on_a_cpu():
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("auto", torch.device("cuda")) == "fp16"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("int8", torch.device("cpu"))


def test_fp32_runner_on_a_cpu_is_the_former_computation_bit_for_bit():
    images = _images()
    runner = BackboneRunner(_backbone(), torch.device("cpu"))
    assert runner.describe() == "fp32"
    feat, hm = runner(images)
    ref_feat, ref_hm = _former(_backbone(), images)
    assert feat.dtype == torch.float16 and torch.equal(feat, ref_feat) and torch.equal(hm, ref_hm)
    # the flip test mirrors on the device: the same as mirroring the crops first
    flipped = runner(images, flip=True)
    ref = _former(_backbone(), torch.flip(images, dims=[-1]))
    assert all(torch.equal(a, b) for a, b in zip(flipped, ref))


@pytest.mark.parametrize("layout", ["channels_last", "transposed", "strided"])
def test_inputs_of_any_layout_give_the_contiguous_result(layout):
    """CUDA hands back tensors laid out otherwise than the CPU does; a `.view` on one crashed the first GPU run."""
    images = _images(2)
    if layout == "channels_last":
        odd = images.flatten(0, 1).contiguous(memory_format=torch.channels_last).view(images.shape)
    elif layout == "transposed":  # H and W strides swapped, dense but contiguous in no format
        odd = images.transpose(-1, -2).contiguous().transpose(-1, -2)
    else:  # every other crop of a larger batch
        odd = torch.stack([images, images], 1)[:, 0]
    assert torch.equal(odd, images) and not odd.is_contiguous()
    runner = BackboneRunner(_backbone(), torch.device("cpu"))
    assert all(torch.equal(a, b) for a, b in zip(runner(odd), runner(images)))


def test_bf16_runner_runs_channels_last_and_stays_close_to_fp32():
    images = _images(2)
    fp32 = BackboneRunner(_backbone(), torch.device("cpu"), "fp32")(images)
    runner = BackboneRunner(_backbone(), torch.device("cpu"), "bf16")
    assert runner.describe() == "bf16, channels_last"
    assert next(runner.backbone.parameters()).dtype == torch.bfloat16
    bf16 = runner(images)
    for a, b in zip(bf16, fp32):
        assert a.dtype == torch.float16 and a.shape == b.shape
        err = (a.float() - b.float()).abs().max() / b.float().abs().max()
        assert 0 < err < 0.1, err  # bf16 keeps 8 bits of mantissa: close, not equal


def test_scored_heatmaps_of_the_backbone_alone_is_frame_t():
    hm = torch.rand(2, 3, 17, 16, 12, dtype=torch.float16)
    out = scored_heatmaps(None, hm, hm)
    assert out.dtype == torch.float32 and torch.equal(out, hm[:, 1].float())


def test_head_forward_casts_outputs_to_fp32_under_bf16_autocast():
    head = build_head(Params().model, 8, "fasrnet").eval()
    feat, hm = torch.rand(2, 3, 8, 16, 12), torch.rand(2, 3, 17, 16, 12)
    with torch.no_grad():
        out = head_forward(head, feat, hm, True, torch.autocast("cpu", dtype=torch.bfloat16))
    assert all(v is None or v.dtype == torch.float32 for v in out.values())


def test_to_host_copies_into_the_buffer():
    src = torch.arange(12, dtype=torch.float16).reshape(3, 4).t()  # not contiguous
    out = torch.empty(4, 3, dtype=torch.float16)
    to_host(src, out, None)
    assert torch.equal(out, src)


class _Writer:
    def __init__(self, fields, shard_size, total, fail_at=None):
        self.fields, self.shard_size, self.total, self.fail_at = fields, shard_size, total, fail_at
        self.shards = {}

    def shard_range(self, k):
        return range(k * self.shard_size, min((k + 1) * self.shard_size, self.total))

    def write_shard(self, k, arrays):
        if k == self.fail_at:
            raise OSError(f"no space left writing shard {k}")
        self.shards[k] = {name: a.copy() for name, a in arrays.items()}


class _Images:
    def __init__(self, images):
        self.images = images.numpy()

    def get_many(self, name, idx):
        assert name == "images"
        return self.images[idx]


@pytest.mark.parametrize("flip", [False, True])
def test_extract_shards_writes_the_runners_outputs_shard_by_shard(flip):
    images = _images(7)
    runner = BackboneRunner(_backbone(), torch.device("cpu"))
    fields = feature_fields((64, 48), runner.out_channels, runner.num_joints, flip)
    writer = _Writer(fields, 3, 7)
    batches = []
    extract_shards(_Images(images), writer, range(3), runner, 2, flip, batches.append)
    assert sorted(writer.shards) == [0, 1, 2] and batches == [2, 1, 2, 1, 1]
    got = {name: np.concatenate([writer.shards[k][name] for k in range(3)]) for name in fields}
    net = _backbone()
    parts = [images[s:s + 2] for s in (0, 3, 6)] + [images[2:3], images[5:6]]  # the batches run (a CPU
    order = [0, 3, 6, 2, 5]  # convolution's bits depend on the batch size), by their first crop
    for mirrored, names in ((False, ("feat", "heatmap")), (True, ("feat_flip", "heatmap_flip"))):
        if mirrored and not flip:
            continue
        outs = [_former(net, torch.flip(p, dims=[-1]) if mirrored else p) for p in parts]
        for name, k in zip(names, (0, 1)):
            ref = np.empty_like(got[name])
            for start, out in zip(order, outs):
                ref[start:start + len(out[k])] = out[k].numpy()
            assert np.array_equal(got[name], ref), name


def test_a_failing_shard_write_stops_the_extract_loop_with_its_error():
    runner = BackboneRunner(_backbone(), torch.device("cpu"))
    fields = feature_fields((64, 48), runner.out_channels, runner.num_joints, False)
    writer = _Writer(fields, 2, 8, fail_at=1)
    with pytest.raises(OSError, match="shard 1"):
        extract_shards(_Images(_images(8)), writer, range(4), runner, 2, False)
    assert 0 in writer.shards and 3 not in writer.shards


def test_online_worker_processes_cut_the_same_batches_as_the_training_thread(in_workspace):
    params = load_params("params.yaml")
    store = FeatureStore(paths.features_dir("syn17", "train"), paths.crops_dir("syn17", "train"))
    codec = HeatmapCodec.from_params(params.heatmap)
    from fasrnet.backbone import load_frozen_backbone

    batches = [np.array([5, 0, 3]), np.array([1, 4]), np.array([2, 6, 7])]
    made = {}
    for workers in (0, 2):
        source = OnlineBatches(params, "syn17", store, load_frozen_backbone(params), codec, torch.device("cpu"),
                               seed=3, workers=workers)
        made[workers] = [list(source.iterate(batches, epoch)) for epoch in (0, 1)]  # workers persist across epochs
    for ep0, ep2 in zip(made[0], made[2]):
        for b0, b2 in zip(ep0, ep2):
            assert all(torch.equal(x, y) for x, y in zip(b0, b2))
    # a new epoch draws new augmentation for the same crops (seen in the targets: the tiny backbone's fp16
    # features hardly depend on its input)
    assert not torch.equal(made[0][0][0][2], made[0][1][0][2])


def test_auto_dcn_backend_is_measured_and_set_on_the_head():
    model = Params().model
    torch.manual_seed(0)
    head = build_head(model, 8, "fasrnet").train()
    batch = [torch.rand(2, 3, 8, 16, 12), torch.rand(2, 3, 17, 16, 12), torch.rand(2, 17, 16, 12), torch.ones(2, 17)]
    buffers = {k: v.clone() for k, v in head.state_dict().items()}
    backend, seconds = pick_dcn_backend(head, batch, False, "fp32", False, steps=1)
    assert set(seconds) == {"torchvision", "grid_sample"} and backend == min(seconds, key=seconds.get)
    from fasrnet.models.alignment import ModulatedDeformConv

    dcns = [m for m in head.modules() if isinstance(m, ModulatedDeformConv)]
    assert dcns and all(m.backend == backend for m in dcns)
    # measured on a copy: the run's weights and BatchNorm statistics are untouched, no gradient left behind
    assert all(torch.equal(v, buffers[k]) for k, v in head.state_dict().items())
    assert all(p.grad is None for p in head.parameters())
    backend, seconds = pick_dcn_backend(head, batch, False, "bf16", True)
    assert backend == "grid_sample" and seconds == {}
