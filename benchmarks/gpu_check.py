"""GPU checks at the paper setting (issue 14, item 7): (a) DCN backend parity, (b) fp16 extract throughput,
(c) the cached-vs-online training step ratio. Run on demand, never in the test suite (a test runs ``--quick``).

    bash benchmarks/gpu_check.sh                         # with a CUDA device (sized for < 5 min on one H200)
    python benchmarks/gpu_check.py --device cpu --quick  # tiny shapes on the CPU: a smoke test of this file

(a) ``ModulatedDeformConv`` with ``backend="torchvision"`` (``torchvision.ops.deform_conv2d``, what ``auto`` picks
    on CUDA) vs ``backend="grid_sample"`` (the CPU path), fp32, TF32 off, at the paper's shapes: FDA (48 channels,
    96x72, 1 deformable group, dilations 1, 3, 5) and SRM (17 joints, 17 deformable groups, d = 1); offsets
    N(0, 2 px), masks in (0, 1). Forward values and the gradients of input, offset, mask and weight are compared
    elementwise with a bound derived from fp32 error analysis (``TOLERANCE`` below, printed with the results), and
    both are compared with an fp64 reference. The same bound at u = 2^-53 is then checked for the two backends in
    fp64, and a negative control (offsets moved by 0.01 px) must exceed it. Every case runs on inputs in three
    memory layouts (``LAYOUTS``: contiguous, channels_last, H and W transposed): CUDA kernels hand back tensors
    laid out otherwise than the CPU's, and the first GPU run crashed on a ``.view`` of one; the transposed inputs
    reproduce that on the CPU (``tests/benchmarks/test_gpu_check.py``).
(b) Frozen HRNet (width and arch of the params file: W48 standard), random weights (BatchNorm statistics
    calibrated on one random batch, so that features have a trained net's magnitudes), in each of ``EXTRACT_MODES``
    (``extract.precision`` fp16 and bf16, both channels_last; compiled with ``--compile-backbone``): crops/s end to
    end through ``features.extract_shards``, the loop ``fasrnet extract`` runs (uint8 crops of 3 frames from host
    memory → ``inference.BackboneRunner`` → fp16 features and heatmaps copied into pinned host memory on a side
    stream → the shard handed to the writer thread; disk writes left out), and of the forward alone, after
    warm-up, timed with ``torch.cuda.synchronize``; peak GPU memory.
(c) Head-training steps at the params file's batch size, the loop of ``train.Trainer`` (``inference.head_forward``):
    on the feature cache with the host's batches (``train.CachedBatches.batch`` on in-memory fp16 arrays: fp16 →
    fp32, Gaussian targets, to the device; the landed path), with batches made on the device
    (``batches.DeviceBatches``, resident) in fp32, bf16, bf16 + channels_last and bf16 + channels_last +
    ``torch.compile`` (``TRAIN_MODES``; each end to end and with the step alone), vs with
    the frozen backbone inside the loop on the 3 frames of every sample (``inference.BackboneRunner`` in
    ``extract.precision`` and targets encoded on the device, as ``train.OnlineBatches`` does; head fp32, and bf16 +
    channels_last). ``OnlineBatches`` also decodes JPEGs and cuts crops, in ``train.online_workers`` worker
    processes ahead of the step; that is left out here. Both modes run the same steps per epoch, so
    the per-step ratio is the epoch-time ratio.

Exit status: 0 when every parity check passes, 1 when one fails, 2 when there is no CUDA device (or bad arguments).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import itertools
import math
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

from fasrnet.batches import DeviceBatches
from fasrnet.codecs.heatmap import HeatmapCodec
from fasrnet.inference import BackboneRunner, head_forward, normalize, step_precision
from fasrnet.models.alignment import ModulatedDeformConv, deform_conv2d_grid_sample
from fasrnet.models.fasrnet import build_head
from fasrnet.models.hrnet import build_hrnet
from fasrnet.models.loss import fasrnet_loss
from fasrnet.params import load_params
from fasrnet.runs import resolve_run
from fasrnet.runtime import set_threads
from fasrnet.train import CachedBatches

REPO = Path(__file__).resolve().parents[1]
TENSORS = ("out", "input", "offset", "mask", "weight")
UNIT_ROUNDOFF = {torch.float32: 2.0**-24, torch.float64: 2.0**-53}
OFFSET_STD_PX = 2.0
NEGATIVE_CONTROL_PX = 0.01
FRAMES = 3  # t-1, t, t+1 per sample
#: Memory layouts the parity cases feed in. A CUDA kernel may hand back a tensor laid out otherwise than the CPU's
#: (the first GPU run crashed on a `.view` of one); running every case on these makes that class of bug show on the
#: CPU too. ``transposed``: H and W strides swapped, dense but not contiguous in either format.
LAYOUTS = ("contiguous", "channels_last", "transposed")

TOLERANCE = """\
tolerance, elementwise: |tv - gs| <= 2 (gamma_n S + delta D), i.e. twice what either backend may be off by.
  S = sum of |terms| of the element (each is a sum of n products; any summation order errs by <= gamma_n S,
      gamma_n = n u / (1 - n u), u = 2^-24): the same quantity on |x|, |w|, |grad| in fp64 (grid_sample path);
  delta = 8 u max|coordinate| px bounds the fp32 error of each sample position, and D bounds the element's
      sensitivity to them (|d bilinear / dp| <= 2 max|x| of the 3x3 pixels around the sample, per axis);
  offset gradients jump where a sample crosses a pixel row/column: elements within 2 delta of one are excluded
      (counted); n per element: out 9C+20, input C+#samples touching the pixel+16, offset and mask C+C/G+20,
      weight 4BHW+16."""


# --------------------------------------------------------------------------------------------------------------
# (a) DCN parity


def _positions(offset: torch.Tensor, h: int, w: int, dilation: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample positions (B, G, 9, H, W) of every tap, as DCNv2 defines them (row-major 3x3, dy then dx)."""
    b, dt, dev = offset.shape[0], offset.dtype, offset.device
    k = torch.arange(3, dtype=dt, device=dev) - 1
    ky, kx = torch.meshgrid(k, k, indexing="ij")
    off = offset.reshape(b, -1, 9, 2, h, w)
    py = torch.arange(h, dtype=dt, device=dev).reshape(1, 1, 1, h, 1) + ky.reshape(1, 1, 9, 1, 1) * dilation
    px = torch.arange(w, dtype=dt, device=dev).reshape(1, 1, 1, 1, w) + kx.reshape(1, 1, 9, 1, 1) * dilation
    return py + off[:, :, :, 0], px + off[:, :, :, 1]


def error_bounds(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor,
                 bias: torch.Tensor, grad_out: torch.Tensor, dilation: int, u: float
                 ) -> tuple[dict[str, torch.Tensor], torch.Tensor, float]:
    """Per-element tolerances for one backend pair (see ``TOLERANCE``); inputs in fp64. Returns the tolerances
    (shapes of out and the four gradients), the mask of offset-gradient elements near a pixel boundary, delta."""
    b, c, h, w = x.shape
    co = weight.shape[0]
    groups = mask.shape[1] // 9
    cg = c // groups
    hw = h * w
    py, px = _positions(offset, h, w, dilation)
    delta = 8 * u * max(float(py.abs().max()), float(px.abs().max()), h, w)

    # S: the same convolution on absolute values, where every term is non-negative.
    xa, ma, wa = x.abs().requires_grad_(), mask.clone().requires_grad_(), weight.abs().requires_grad_()
    out_abs = deform_conv2d_grid_sample(xa, offset, wa, None, dilation, ma)
    s_x, s_mask, s_w = torch.autograd.grad(out_abs, [xa, ma, wa], grad_out.abs())
    s_out = out_abs.detach() + bias.abs().reshape(1, -1, 1, 1)

    # max|x| over the 3x3 pixels around each sample (zero outside), per channel: (B, C, 9, HW).
    mpool = F.max_pool2d(F.pad(x.abs(), (2, 2, 2, 2)), 3, stride=1)  # row i+1 = max of rows i-1..i+1
    ry, rx = torch.round(py).long(), torch.round(px).long()
    idx = ((ry.clamp(-1, h) + 1) * (w + 2) + rx.clamp(-1, w) + 1).reshape(b, groups, 9 * hw)
    near = torch.gather(mpool.reshape(b, c, -1), 2, idx.repeat_interleave(cg, dim=1)).reshape(b, c, 9, hw)
    m_c = mask.reshape(b, groups, 9, hw).repeat_interleave(cg, dim=1)  # (B, C, 9, HW)
    w_abs = weight.abs().reshape(co, c, 9)
    g_abs = grad_out.abs().reshape(b, co, hw)
    a = torch.einsum("bop,ock->bckp", g_abs, w_abs)  # sum_o |g| |w|
    d_mask = 4 * (a * near).reshape(b, groups, cg, 9, hw).sum(2)
    m_g = mask.reshape(b, groups, 9, hw)

    # input: the bilinear weight of pixel q moves by <= 2 delta for every sample whose 3x3 around it holds q.
    contrib = (a * m_c).reshape(b, c, 9 * hw)
    d_x = torch.zeros(b, c, hw, dtype=x.dtype, device=x.device)
    count = torch.zeros(b, groups, hw, dtype=x.dtype, device=x.device)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            yy, xx = ry + dy, rx + dx
            valid = ((yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)).reshape(b, groups, 9 * hw).to(x.dtype)
            flat = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).reshape(b, groups, 9 * hw)
            d_x.scatter_add_(2, flat.repeat_interleave(cg, dim=1), contrib * valid.repeat_interleave(cg, dim=1))
            count.scatter_add_(2, flat, valid)
    d_x = 2 * d_x

    def gamma(n: torch.Tensor | float) -> torch.Tensor | float:
        return n * u / (1 - n * u)

    n_x = (co + 16 + count).repeat_interleave(cg, dim=1)
    tol = {
        "out": 2 * (gamma(9 * c + 20) * s_out
                    + delta * 4 * torch.einsum("ock,bckp->bop", w_abs, m_c * near).reshape(b, co, h, w)),
        "input": 2 * (gamma(n_x) * s_x.reshape(b, c, hw) + delta * d_x).reshape(b, c, h, w),
        "mask": 2 * (gamma(co + cg + 20) * s_mask + delta * d_mask.view_as(mask)),
        "weight": 2 * (gamma(4 * b * hw + 16) * s_w
                       + delta * 4 * torch.einsum("bop,bckp->ock", g_abs, m_c * near).view_as(weight)),
    }
    off_t = (2 * (gamma(co + cg + 20) * m_g * d_mask / 2 + delta * m_g * d_mask)).reshape(b, groups, 9, 1, h, w)
    tol["offset"] = off_t.expand(b, groups, 9, 2, h, w).reshape(offset.shape)
    # Offset gradients: where a coordinate is within 2 delta of an integer, the two may use different cells.
    frac = torch.stack([py, px], dim=3)
    boundary = ((frac - torch.round(frac)).abs() <= 2 * delta).reshape(offset.shape)
    return tol, boundary, delta


def dcn_results(backend: str, inputs: dict[str, torch.Tensor], dilation: int, groups: int,
                device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Forward values and input/offset/mask/weight gradients of ``ModulatedDeformConv`` on ``backend``."""
    x, off, mask, weight, bias, grad_out = (inputs[k].to(device, dtype, copy=True)
                                            for k in ("x", "offset", "mask", "weight", "bias", "grad_out"))
    c = x.shape[1]
    dcn = ModulatedDeformConv(c, c, dilation=dilation, deformable_groups=groups, backend=backend).to(device, dtype)
    with torch.no_grad():
        dcn.weight.copy_(weight)
        dcn.bias.copy_(bias)
    x, off, mask = (t.requires_grad_() for t in (x, off, mask))
    out = dcn(x, off, mask)
    grads = torch.autograd.grad(out, [x, off, mask, dcn.weight], grad_out)
    return dict(zip(TENSORS, (out.detach(), *grads)))


def with_layout(t: torch.Tensor, layout: str) -> torch.Tensor:
    """``t`` with the same values in memory layout ``layout`` (one of :data:`LAYOUTS`; 4-D tensors only)."""
    if t.dim() != 4 or layout == "contiguous":
        return t
    if layout == "channels_last":
        return t.contiguous(memory_format=torch.channels_last)
    if layout == "transposed":
        return t.transpose(2, 3).contiguous().transpose(2, 3)
    raise ValueError(f"layout {layout!r}: not one of {', '.join(LAYOUTS)}")


def make_inputs(batch: int, c: int, groups: int, h: int, w: int, seed: int,
                layout: str = "contiguous") -> dict[str, torch.Tensor]:
    """Random fp32-representable inputs (held in fp64, so every precision sees the same values), the 4-D ones in
    memory layout ``layout``."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    out = {
        "x": r(batch, c, h, w),
        "offset": r(batch, 18 * groups, h, w) * OFFSET_STD_PX,
        "mask": torch.sigmoid(r(batch, 9 * groups, h, w)),  # in (0, 1)
        "weight": r(c, c, 3, 3) / math.sqrt(9 * c),
        "bias": r(c) * 0.1,
        "grad_out": r(batch, c, h, w),
    }
    return {k: with_layout(v.float().double(), layout) for k, v in out.items()}


def share(used: float) -> str:
    """How much of a tolerance a difference uses: a percentage, or a multiple when far over."""
    return f"{used:.1%}" if used < 10 else f"{used:.0f}x" if used < 1e5 else f"{used:.0e}x"


@contextlib.contextmanager
def no_tf32() -> Iterator[None]:
    """fp32 means fp32 (cuBLAS and cuDNN may otherwise use TF32 on Ampere and later)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def parity(device: torch.device, quick: bool, batch: int, layout: str = "contiguous") -> bool:
    print(f"(a) ModulatedDeformConv parity on {device.type}: torchvision (tv) vs grid_sample (gs), fp32, TF32 off; "
          f"offsets N(0, {OFFSET_STD_PX:g} px), masks in (0, 1); inputs {layout}")
    print(TOLERANCE)
    c_fda, hw = (8, (16, 12)) if quick else (48, (96, 72))
    b = 1 if quick else batch
    cases = [(f"FDA C{c_fda} {hw[0]}x{hw[1]} d{d} B{b}", c_fda, 1, d) for d in (1, 3, 5)]
    cases.append((f"SRM J17 G17 {hw[0]}x{hw[1]} d1 B{b}", 17, 17, 1))
    print("  rel = max|tv-gs| / max|fp64 result|; of tol = max of |tv-gs| / tolerance;\n"
          "  tv err, gs err = max|fp32 - fp64| (fp64: the grid_sample path);\n"
          "  excluded = offset-gradient elements at a pixel boundary (left out of every column: there fp32 and fp64\n"
          "  may pick different bilinear cells, and the gradient jumps)")
    print(f"  {'case':<26}{'tensor':<8}{'max|tv-gs|':>11}{'rel':>9}{'of tol':>9}{'tv err':>9}{'gs err':>9}"
          f"{'excluded':>16}")
    ok = True
    with no_tf32():
        for n, (name, c, groups, d) in enumerate(cases):
            inputs = make_inputs(b, c, groups, *hw, seed=n, layout=layout)
            dev_in = {k: v.to(device) for k, v in inputs.items()}
            tv, gs = (dcn_results(be, inputs, d, groups, device, torch.float32)
                      for be in ("torchvision", "grid_sample"))
            ref = dcn_results("grid_sample", inputs, d, groups, device, torch.float64)
            tv64 = dcn_results("torchvision", inputs, d, groups, device, torch.float64)
            tol32, boundary32, _ = error_bounds(**dev_in, dilation=d, u=UNIT_ROUNDOFF[torch.float32])
            tol64, boundary64, _ = error_bounds(**dev_in, dilation=d, u=UNIT_ROUNDOFF[torch.float64])
            used64 = 0.0
            for t in TENSORS:
                diff = (tv[t].double() - gs[t].double()).abs()
                keep = ~boundary32 if t == "offset" else torch.ones_like(diff, dtype=torch.bool)
                used = float((diff / tol32[t].clamp_min(1e-300))[keep].max())
                scale = float(ref[t].abs().max())
                err_tv = float((tv[t].double() - ref[t]).abs()[keep].max())
                err_gs = float((gs[t].double() - ref[t]).abs()[keep].max())
                excluded = f"{int((~keep).sum())}/{keep.numel()}" if t == "offset" else ""
                ok &= used <= 1.0
                row = (f"  {name if t == 'out' else '':<26}{t:<8}{float(diff[keep].max()):>11.2e}"
                       f"{float(diff[keep].max()) / scale:>9.1e}{share(used):>9}{err_tv:>9.1e}{err_gs:>9.1e}"
                       f"{excluded:>16}" + ("" if used <= 1.0 else "  FAIL"))
                print(row.rstrip())
                keep64 = ~boundary64 if t == "offset" else torch.ones_like(diff, dtype=torch.bool)
                diff64 = (tv64[t] - ref[t]).abs()
                used64 = max(used64, float((diff64 / tol64[t].clamp_min(1e-300))[keep64].max()))
            ok64 = used64 <= 1.0
            ok &= ok64
            print(f"  {'':<26}fp64: tv vs gs within the same bound at u = 2^-53: {share(used64)} of it used "
                  + ("PASS" if ok64 else "FAIL"))
            if n == 1:  # negative control on the d = 3 case: moved sampling positions must be detected
                moved = dict(inputs, offset=inputs["offset"] + NEGATIVE_CONTROL_PX)
                gs_moved = dcn_results("grid_sample", moved, d, groups, device, torch.float32)
                over = float(((tv["out"].double() - gs_moved["out"].double()).abs() / tol32["out"]).max())
                caught = over > 1.0
                ok &= caught
                print(f"  {'':<26}negative control: gs with offsets +{NEGATIVE_CONTROL_PX:g} px reaches "
                      f"{share(over)} of the out tolerance: "
                      + ("detected (PASS)" if caught else "NOT detected (FAIL)"))
    print(f"  parity ({layout}): {'PASS' if ok else 'FAIL'}")
    return ok


# --------------------------------------------------------------------------------------------------------------
# (b) extract throughput and (c) training steps


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, warmup: int, iters: int) -> float:
    """Mean seconds per call of ``fn`` after ``warmup`` calls (device synchronised around the timed calls); the
    GPU memory peak is counted from here (:func:`peak_gib`)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(warmup):
        fn()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    sync(device)
    return (time.perf_counter() - t0) / iters


def peak_gib(device: torch.device) -> str:
    if device.type != "cuda":
        return ""
    return f", peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB"


#: (b)'s modes: name, extract.precision, extract.compile. The first is what ``auto`` runs on CUDA.
EXTRACT_MODES = (
    ("fp16, channels_last (extract.precision auto)", "fp16", False),
    ("bf16, channels_last", "bf16", False),
    ("bf16, channels_last, compiled", "bf16", True),
)


class _Images:
    """The crop store's ``images`` field in memory (what ``features.extract_shards`` reads)."""

    def __init__(self, images: torch.Tensor):
        self.images = images.numpy()

    def get_many(self, name: str, idx: np.ndarray) -> np.ndarray:
        return self.images[idx % len(self.images)]


class _NoDisk:
    """A ``ShardWriter`` that keeps nothing: the extract loop without disk writes."""

    def __init__(self, fields: dict, shard_size: int, total: int):
        self.fields, self.shard_size, self.total = fields, shard_size, total

    def shard_range(self, k: int) -> range:
        return range(k * self.shard_size, min((k + 1) * self.shard_size, self.total))

    def write_shard(self, k: int, arrays: dict[str, np.ndarray]) -> None:
        for a in arrays.values():
            a.sum(dtype=np.float32)  # read it, as a writer would


def extract_throughput(backbone: torch.nn.Module, name: str, size: tuple[int, int], batch: int,
                       device: torch.device, warmup: int, iters: int, compile_backbone: bool = False) -> None:
    from fasrnet.features import extract_shards, feature_fields

    pool = torch.randint(0, 256, (2 * batch, FRAMES, 3, *size), dtype=torch.uint8)
    fields = feature_fields(size, backbone.out_channels, backbone.num_joints, flip=False)
    print(f"(b) extraction: {name} (random weights, eval), {size[0]}x{size[1]}, batch {batch} crops x {FRAMES} "
          f"frames, shards of 2 batches; {warmup} warm-up + {iters} timed batches per mode. End to end: "
          "``features.extract_shards`` as ``fasrnet extract`` runs it (uint8 crops from host memory -> backbone -> "
          "fp16 features + heatmaps in pinned host memory, the shard handed to the writer thread; disk writes left "
          "out); alone: the forward on an input already on the device")
    for mode, precision, compiled in EXTRACT_MODES:
        if compiled and not compile_backbone:
            print(f"  {mode}: skipped (--compile-backbone runs it; bf16 alone measured as fast as fp16 compiled)")
            continue
        runner = BackboneRunner(copy.deepcopy(backbone), device, precision, compile=compiled)
        first = ""
        if compiled:
            t0 = time.perf_counter()
            runner(pool[:batch])
            sync(device)
            first = f"; first batch (compilation) {time.perf_counter() - t0:.1f} s"

        def end_to_end(batches: int) -> None:
            total = batches * batch
            writer = _NoDisk(fields, 2 * batch, total)
            extract_shards(_Images(pool), writer, range(-(-total // (2 * batch))), runner, batch, False)

        end_to_end(warmup)
        sync(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        end_to_end(iters)
        sync(device)
        s = (time.perf_counter() - t0) / iters
        peak = peak_gib(device)
        x = normalize(pool[:batch].to(device).flatten(0, 1)).to(runner.dtype)
        if runner.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)

        @torch.no_grad()
        def forward() -> None:
            runner.forward(x)

        alone = timed(forward, device, warmup, iters)
        print(f"  {mode}: {batch / s:7.1f} crops/s end to end ({s * 1000:.1f} ms/batch){peak}; "
              f"forward alone {batch / alone:7.1f} crops/s{first}")


def random_backbone(width: int, arch: str, size: tuple[int, int], device: torch.device) -> torch.nn.Module:
    """A random HRNet, fp32 on ``device``, its BatchNorm statistics calibrated on a random batch: with the raw init
    (conv std 0.001) features are ~1e-8 and underflow fp16 to zeros. Each mode prepares a copy of it
    (``inference.BackboneRunner``)."""
    net = build_hrnet(width, arch=arch).to(device)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # running statistics = this batch's
    with torch.no_grad():
        net.train()(normalize(torch.randint(0, 256, (4, 3, *size), dtype=torch.uint8, device=device)))
    return net.eval()


class _ArrayStore:
    """What the batch sources read of a ``FeatureStore``: ``reader.get_many``, ``crops.arrays`` and its length."""

    def __init__(self, arrays: dict[str, np.ndarray], crops: dict[str, np.ndarray]):
        self.reader = SimpleNamespace(get_many=lambda name, idx: arrays[name][idx])
        self.crops = SimpleNamespace(arrays=crops)
        self._n = len(crops["joints"])

    def __len__(self) -> int:
        return self._n


#: (c)'s modes: name, batch source (host: CachedBatches; device: DeviceBatches, resident; online), train.precision,
#: train.channels_last, train.compile. The first is the landed pipeline's step.
TRAIN_MODES = (
    ("cached, host batches, fp32", "host", "fp32", False, False),
    ("cached, device batches, fp32", "device", "fp32", False, False),
    ("cached, device batches, bf16", "device", "bf16", False, False),
    ("cached, device batches, bf16 + channels_last", "device", "bf16", True, False),
    ("cached, device batches, bf16 + channels_last + compile", "device", "bf16", True, True),
    ("online (backbone in the loop, extract.precision), fp32", "online", "fp32", False, False),
    ("online (backbone in the loop, extract.precision), bf16 + channels_last", "online", "bf16", True, False),
)


def training_steps(params, backbone: torch.nn.Module, codec: HeatmapCodec, channels: int, batch: int,
                   device: torch.device, warmup: int, steps: int, compile_head: bool = True) -> None:
    run = resolve_run(params, next(iter(params.runs.main)))  # the first main run (the paper's FaSRnet)
    joints_n = backbone.num_joints
    hh, ww = codec.heatmap_wh[1], codec.heatmap_wh[0]
    pool = 2 * batch  # distinct items, so no step reuses the previous step's arrays
    rng = np.random.default_rng(0)
    feat = np.maximum(rng.standard_normal((pool, FRAMES, channels, hh, ww), dtype=np.float32), 0).astype(np.float16)
    heat = rng.random((pool, FRAMES, joints_n, hh, ww), dtype=np.float32).astype(np.float16)
    joints = rng.uniform([0, 0], codec.input_wh, size=(pool, joints_n, 2))
    vis = np.ones((pool, joints_n), dtype=np.float32)
    images = torch.randint(0, 256, (pool, FRAMES, 3, *codec.input_size), dtype=torch.uint8)
    store = _ArrayStore({"feat": feat, "heatmap": heat}, {"joints": joints, "joints_vis": vis})
    sources = {"host": CachedBatches(store, codec).batch,
               "device": DeviceBatches(store, codec, device, resident=True).batch}

    runner = BackboneRunner(copy.deepcopy(backbone), device, params.extract.precision)
    joints_d = torch.as_tensor(joints, device=device)
    vis_d = torch.as_tensor(vis.astype(bool), device=device)

    def online(idx: np.ndarray, epoch: int) -> tuple[torch.Tensor, ...]:  # OnlineBatches._finish: crops already cut
        f, h = runner(images[idx])
        if device.type == "cuda":
            target, weight = codec.encode_on_device(joints_d[idx], vis_d[idx])
        else:
            target, weight = codec.encode_tensors(joints[idx], vis[idx])
        return f.float(), h.float(), target, weight

    sources["online"] = online
    print(f"(c) head training ({run.variant}, batch {batch}, features {channels}x{hh}x{ww} x {FRAMES} frames, "
          f"dcn_backend {params.model.dcn_backend}): {warmup} warm-up + {steps} timed steps per mode; samples/s "
          "end to end (batch made, step, loss read back) and of the step alone (inputs already on the device)")
    per_step = {}
    for name, kind, precision_name, channels_last, compiled in TRAIN_MODES:
        if compiled and not compile_head:
            print(f"  {name}: skipped (--no-compile or --quick)")
            continue
        torch.manual_seed(run.seed)
        head = build_head(params.model, channels, run.variant).to(device).train()
        if channels_last:
            head = head.to(memory_format=torch.channels_last)
        model = torch.compile(head) if compiled else head
        optimizer = torch.optim.Adam(head.parameters(), lr=params.train.lr)
        precision = step_precision(precision_name, device)
        source = sources[kind]
        data_s: list[float] = []
        batches = itertools.count()
        fixed = [x.to(device) for x in source(np.arange(batch), 0)]

        def step(made: list[torch.Tensor] | None = None) -> None:  # the body of Trainer's epoch loop
            if made is None:
                k = next(batches)
                idx = np.arange(k * batch, (k + 1) * batch) % pool
                t0 = time.perf_counter()
                made = [x.to(device) for x in source(idx, 0)]
                sync(device)
                data_s.append(time.perf_counter() - t0)
            f, h, target, weight = made
            out = head_forward(model, f, h, channels_last, precision)
            loss = fasrnet_loss(out, target, weight, run.alpha)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss.item()

        first = ""
        if compiled:
            t0 = time.perf_counter()
            step(fixed)
            sync(device)
            first = f"; first step (compilation) {time.perf_counter() - t0:.1f} s"
        s = timed(step, device, warmup, steps)
        alone = timed(lambda: step(fixed), device, warmup, steps)
        data = float(np.mean(data_s[warmup:]))
        per_step[kind, precision_name, channels_last, compiled] = s
        print(f"  {name}: {s * 1000:8.1f} ms/step = {batch / s:7.1f} samples/s end to end (data {data / s:.0%}); "
              f"step alone {batch / alone:7.1f} samples/s{first}{peak_gib(device)}")
    for precision_name, channels_last in (("fp32", False), ("bf16", True)):
        cached = per_step[("device", precision_name, channels_last, False)]
        online_s = per_step[("online", precision_name, channels_last, False)]
        print(f"  ratio online / cached (device batches), head {precision_name}"
              f"{' + channels_last' if channels_last else ''}, per step (= per epoch): {online_s / cached:.2f}x "
              "(crop cutting left out: worker processes do it ahead of the step, train.online_workers)")


# --------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    ap.add_argument("--quick", action="store_true", help="tiny shapes and HRNet-W8 lite: a smoke test in seconds")
    ap.add_argument("--params", default=str(REPO / "params-paper.yaml"),
                    help="backbone, input size, batch size, head (default: params-paper.yaml)")
    ap.add_argument("--steps", type=int, default=None, help="timed training steps per mode (default 10; quick 2)")
    ap.add_argument("--iters", type=int, default=None, help="timed extract batches (default 10; quick 2)")
    ap.add_argument("--parity-batch", type=int, default=8, help="batch of the parity cases (default 8)")
    ap.add_argument("--skip", nargs="*", default=[], choices=["parity", "extract", "train"], help="sections to skip")
    ap.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=LAYOUTS,
                    help="memory layouts of the parity inputs (default: all three)")
    ap.add_argument("--compile-backbone", action="store_true",
                    help="also time (b)'s compiled backbone (a second compilation: over the 4-minute budget)")
    ap.add_argument("--no-compile", action="store_true",
                    help="skip (c)'s torch.compile mode (its first step compiles; skipped with --quick)")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA device (torch.cuda.is_available() is False); this check needs a GPU — "
              "`python benchmarks/gpu_check.py --device cpu --quick` smoke-tests it on the CPU", file=sys.stderr)
        return 2
    set_threads(None)  # FASRNET_THREADS, else torch's default
    params = load_params(args.params, required=True)
    steps = args.steps or (2 if args.quick else 10)
    iters = args.iters or (2 if args.quick else 10)
    warmup = 1 if args.quick else 3
    if args.quick:
        width, arch, size, batch = 8, "lite", (64, 48), 2
    else:
        width, arch = params.model.backbone_width, params.model.backbone_arch
        size, batch = tuple(params.heatmap.input_size), params.train.batch_size
    if device.type == "cuda":
        if device.index is None:  # torch.cuda.set_device refuses a device without an index
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
        cap = ".".join(map(str, torch.cuda.get_device_capability(device)))
        where = f"{torch.cuda.get_device_name(device)} (capability {cap})"
    else:
        where = f"CPU, {torch.get_num_threads()} torch thread(s)"
    print(f"gpu_check: {where}; torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}; params {Path(args.params).name}"
          + ("; --quick (tiny shapes)" if args.quick else ""))
    print("  defaults kept for (b) and (c), as the pipeline runs: "
          f"matmul TF32 {torch.backends.cuda.matmul.allow_tf32}, cuDNN TF32 {torch.backends.cudnn.allow_tf32}, "
          f"cuDNN benchmark {torch.backends.cudnn.benchmark}")
    t_all = time.perf_counter()
    ok = True
    if "parity" not in args.skip:
        for layout in args.layouts:
            t0 = time.perf_counter()
            ok &= parity(device, args.quick, args.parity_batch, layout)
            print(f"  ({time.perf_counter() - t0:.1f} s)")
    if "extract" not in args.skip or "train" not in args.skip:
        name = f"HRNet-W{width} {arch}"
        backbone = random_backbone(width, arch, size, device)
        if "extract" not in args.skip:
            t0 = time.perf_counter()
            extract_throughput(backbone, name, size, params.extract.batch_size if not args.quick else batch,
                               device, warmup, iters, compile_backbone=args.compile_backbone and not args.quick)
            print(f"  ({time.perf_counter() - t0:.1f} s)")
        if "train" not in args.skip:
            t0 = time.perf_counter()
            codec = HeatmapCodec.from_params(params.heatmap.model_copy(update={"input_size": list(size)}))
            training_steps(params, backbone, codec, backbone.out_channels, batch, device, warmup, steps,
                           compile_head=not (args.no_compile or args.quick))
            print(f"  ({time.perf_counter() - t0:.1f} s)")
    print(f"gpu_check: {'PASS' if ok else 'FAIL'} ({time.perf_counter() - t_all:.1f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
