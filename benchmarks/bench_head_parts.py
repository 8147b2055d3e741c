"""Where a head-training step's time goes, part by part, and whether the deformable convolution can be cheaper:
forward + backward milliseconds of each variant's head and of its parts (alignment, SRM chains, SRM offsets + DCN,
fusion) at the embedded default's shapes, the step's samples/s at several batch sizes, and the DCN of
``fasrnet.models.alignment`` (grid_sample + matmul) side by side with a gather-based bilinear DCN computing the
same maths (values and gradients compared), in one run on one thread.

    python benchmarks/bench_head_parts.py                    # default shapes: C 16, 24x16 heatmaps, SRM width 16
    python benchmarks/bench_head_parts.py --batches 8 16 32 --steps 20

Run on demand, never in the test suite. Absolute times are only meaningful next to the CPU the script prints;
the ratios compare within one run (docs/synthetic.md, "What the wall time is made of").
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from profile_head_step import cpu_name  # a sibling script: benchmarks/ is on sys.path when run as one

from fasrnet.models.alignment import deform_conv2d_grid_sample
from fasrnet.models.fasrnet import VARIANTS, FaSRnetHead

J = 17


def fwd_bwd_ms(fn: Callable[[], torch.Tensor], steps: int) -> float:
    """Milliseconds of ``fn()`` + ``.sum().backward()``, after 3 warm-up calls."""
    for _ in range(3):
        fn().sum().backward()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn().sum().backward()
    return (time.perf_counter() - t0) / steps * 1000


def dcn_gather(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
               dilation: int, mask: torch.Tensor) -> torch.Tensor:
    """The same modulated 3x3 DCN as ``deform_conv2d_grid_sample``, with the four bilinear corners gathered from a
    zero-padded map (the alternative this benchmark weighs)."""
    b, c, h, w = x.shape
    g = mask.shape[1] // 9
    cg = c // g
    dt = x.dtype
    ky, kx = torch.meshgrid(torch.arange(3, dtype=dt) - 1, torch.arange(3, dtype=dt) - 1, indexing="ij")
    off = offset.view(b, g, 9, 2, h, w)
    py = torch.arange(h, dtype=dt).view(1, 1, 1, h, 1) + ky.reshape(1, 1, 9, 1, 1) * dilation + off[:, :, :, 0]
    px = torch.arange(w, dtype=dt).view(1, 1, 1, 1, w) + kx.reshape(1, 1, 9, 1, 1) * dilation + off[:, :, :, 1]
    y0, x0 = torch.floor(py), torch.floor(px)
    fy, fx = py - y0, px - x0
    y0, x0 = y0.long(), x0.long()
    padded = F.pad(x.reshape(b * g, cg, h, w), (1, 1, 1, 1)).reshape(b, g, cg, (h + 2) * (w + 2))
    acc = torch.zeros(b, g, cg, 9 * h * w, dtype=dt)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yy, xx = y0 + dy, x0 + dx
            inside = ((yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)).to(dt)
            idx = ((yy + 1).clamp(0, h + 1) * (w + 2) + (xx + 1).clamp(0, w + 1)).reshape(b, g, 1, 9 * h * w)
            acc = acc + torch.gather(padded, 3, idx.expand(b, g, cg, 9 * h * w)) * (wy * wx * inside).reshape(
                b, g, 1, 9 * h * w)
    cols = acc.view(b, g, cg, 9, h, w) * mask.view(b, g, 1, 9, h, w)
    out = torch.matmul(weight.reshape(weight.shape[0], c * 9), cols.reshape(b, c * 9, h * w)).view(b, -1, h, w)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--channels", type=int, default=16, help="feature channels C (model.backbone_width)")
    ap.add_argument("--size", type=int, nargs=2, default=(24, 16), metavar=("H", "W"), help="heatmap size")
    ap.add_argument("--srm-width", type=int, default=16)
    ap.add_argument("--batches", type=int, nargs="+", default=[8, 16, 32])
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    c, (h, w) = args.channels, args.size
    print(f"{cpu_name()}, torch {torch.__version__}, 1 thread, capability {torch.backends.cpu.get_cpu_capability()}; "
          f"C {c}, heatmaps {h}x{w}, SRM width {args.srm_width}, residual head")
    torch.manual_seed(0)
    for b in args.batches:
        feats = [torch.randn(b, c, h, w) for _ in range(3)]
        hms = [torch.randn(b, J, h, w) for _ in range(3)]
        print(f"\nbatch {b}: ms per forward + backward (samples/s)")
        for v in VARIANTS:
            head = FaSRnetHead(c, v, srm_width=args.srm_width, residual=True)
            ms = fwd_bwd_ms(lambda: head(*feats, *hms)["pred"], args.steps)
            print(f"  {v:10s} {ms:8.1f} ms ({b / ms * 1000:6.1f} samples/s)")
        head = FaSRnetHead(c, "fasrnet", srm_width=args.srm_width, residual=True)
        srm, stack = head.srm, torch.stack(feats, 1)
        combined = torch.randn(b, args.srm_width, h, w, requires_grad=True)
        parts = {
            "one alignment (FDA)": lambda: head.align_prev(feats[0], feats[1]),
            "fusion (TSA)": lambda: head.fusion(stack),
            "SRM whole": lambda: srm(hms[1], hms[0], hms[2]),
            "SRM difference chain": lambda: srm.diff_fuse(torch.cat([hms[0], hms[1], hms[2], hms[0]], 1)),
            "SRM support chain": lambda: srm.support_fuse(torch.cat(hms, 1)),
            "SRM combine chain": lambda: srm.combine(torch.cat(hms, 1)),
            "SRM offsets+masks+DCN": lambda: srm.dcns[0](hms[1].requires_grad_(), srm.offset_convs[0](combined),
                                                         srm.mask_convs[0](combined)),
        }
        for name, fn in parts.items():
            print(f"  part: {name:24s} {fwd_bwd_ms(fn, args.steps):8.1f} ms")
    b = args.batches[0]
    print(f"\nDCN alone, batch {b}: grid_sample (the package's) vs gather, same maths")
    for cin, groups in ((c, 1), (J, J)):  # the alignment's DCN and the SRM's (one group per joint)
        x = torch.randn(b, cin, h, w, requires_grad=True)
        off = (torch.randn(b, 18 * groups, h, w) * 2).requires_grad_()
        mask = torch.rand(b, 9 * groups, h, w).requires_grad_()
        wt = torch.randn(cin, cin, 3, 3, requires_grad=True)
        bias = torch.zeros(cin, requires_grad=True)
        times, grads = {}, {}
        for name, fn in (("grid_sample", deform_conv2d_grid_sample), ("gather", dcn_gather)):
            times[name] = fwd_bwd_ms(lambda: fn(x, off, wt, bias, 1, mask), args.steps)
            for t in (x, off, mask, wt):
                t.grad = None
            fn(x, off, wt, bias, 1, mask).sum().backward()
            grads[name] = [t.grad.clone() for t in (x, off, mask, wt)]
        rel = max(float((a - g).abs().max() / a.abs().max()) for a, g in zip(grads["grid_sample"], grads["gather"]))
        print(f"  C {cin:2d}, {groups:2d} group(s): grid_sample {times['grid_sample']:6.1f} ms, gather "
              f"{times['gather']:6.1f} ms, gather/grid_sample {times['gather'] / times['grid_sample']:.2f}x; "
              f"largest relative gradient difference {rel:.1e}")


if __name__ == "__main__":
    main()
