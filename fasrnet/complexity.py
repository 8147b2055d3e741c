"""Parameters and FLOPs of HRNet and FaSRnet (paper Table 5), measured on the real modules.

Counting conventions (all reported; Table 5's "GFLOPs" are in fact multiply-accumulates):

- ``flops`` = 2 × MAC (one multiply + one add), what ``torch.utils.flop_counter.FlopCounterMode`` reports for
  convolutions; ``macs`` = flops / 2.
- ``torchvision.ops.deform_conv2d`` is a custom op the flop counter does not see. We count each deformable conv
  analytically as the plain conv of the same shape (``B·Cout·H·W·Cin·9`` MACs, :meth:`ModulatedDeformConv.macs`)
  and add it; its bilinear sampling and mask multiplication (≈ 5 more ops per sampled input value) are not
  counted. ``dcn_macs`` gives that part separately.
- ``thop_style_macs`` emulates the counter the paper evidently used (thop, via DCPose's tooling): convolutions
  without their bias, BatchNorm as 4 ops per output element, activations/pooling/upsampling ≈ 0, and the DCN
  layers — modules thop does not know — contribute neither MACs nor their own weight and bias (their
  offset/mask convs, ordinary child convs, are counted). ``params_thop_style`` drops the DCN weights likewise.
  This reproduces Table 5: HRNet-W48 35.53 G vs 35.54, FaSRnet 117.60 G vs 117.66, and FaSRnet's 6.523e7
  parameters exactly. The remaining 0.06 G: the official offset/mask convs of the d = 5 and d = 3 alignment
  levels output 104×80 and 100×76 maps (the shape bug of ``docs/model.md``, §3), +0.049 G over both FDA
  modules; thop also counts the TSA's bilinear upsampling and average pooling, +0.005 G (``docs/model.md``, §11).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from fasrnet.codecs.heatmap import STRIDE
from fasrnet.models.alignment import ModulatedDeformConv
from fasrnet.models.fasrnet import FaSRnet, FaSRnetHead
from fasrnet.models.hrnet import build_hrnet

if TYPE_CHECKING:
    from fasrnet.params import Params

#: Table 5 of the paper (input 3×384×288 per frame).
PAPER_TABLE5 = {
    "hrnet": {"params": 6.36e7, "gflops": 35.54, "input": "3x384x288"},
    "fasrnet": {"params": 6.523e7, "gflops": 117.66, "input": "9x384x288"},
}
PAPER_INPUT_SIZE = (384, 288)
PAPER_WIDTH = 48


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def dcn_own_params(module: nn.Module) -> int:
    """Weights and biases of the deformable convs themselves (not their offset/mask convs)."""
    return sum(p.numel() for m in module.modules() if isinstance(m, ModulatedDeformConv) for p in m.parameters())


def measure(module: nn.Module, run: Callable[[], Any]) -> dict[str, float]:
    """Run ``run()`` once under the flop counter and layer hooks; return MAC/FLOP counts (plain numbers)."""
    dcn = [0]
    thop = [0]
    hooks = []

    def on_dcn(m: ModulatedDeformConv, inputs: Any, out: torch.Tensor) -> None:
        b, _, h, w = out.shape
        dcn[0] += m.macs(b, h, w)

    def on_conv(m: nn.Conv2d, inputs: Any, out: torch.Tensor) -> None:
        thop[0] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def on_bn(m: nn.BatchNorm2d, inputs: Any, out: torch.Tensor) -> None:
        thop[0] += 4 * out.numel()

    for m in module.modules():
        if isinstance(m, ModulatedDeformConv):
            hooks.append(m.register_forward_hook(on_dcn))
        elif isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(on_conv))
        elif isinstance(m, nn.BatchNorm2d):
            hooks.append(m.register_forward_hook(on_bn))
    try:
        start = time.perf_counter()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            run()
        seconds = time.perf_counter() - start
    finally:
        for h in hooks:
            h.remove()
    counted = counter.get_total_flops()
    flops = counted + 2 * dcn[0]
    return {
        "flops": flops,
        "macs": flops / 2,
        "gflops": flops / 1e9,
        "gmacs": flops / 2e9,
        "flop_counter_flops": counted,
        "dcn_macs": dcn[0],
        "thop_style_macs": thop[0],
        "thop_style_gmacs": thop[0] / 1e9,
        "cpu_seconds": round(seconds, 3),
    }


def measure_setting(width: int, input_size: tuple[int, int], variant: str = "fasrnet",
                    offset_conv: str = "padding1", srm_dilations: tuple[int, ...] = (1,),
                    arch: str = "standard", srm_width: int = 64, residual: bool = False) -> dict[str, Any]:
    """HRNet (family ``arch``) alone on one frame and FaSRnet (backbone ×3 + head) on three frames, batch 1."""
    torch.manual_seed(0)
    h, w = input_size
    backbone = build_hrnet(width, arch=arch).eval()
    # torchvision's op is invisible to the flop counter, so its DCN MACs are only counted (analytically) once
    head = FaSRnetHead(width, variant, srm_dilations=srm_dilations, offset_conv=offset_conv,
                       dcn_backend="torchvision", srm_width=srm_width, residual=residual).eval()
    model = FaSRnet(backbone, head).eval()
    frame = torch.randn(1, 3, h, w)
    frames = torch.randn(1, 3, 3, h, w)

    hrnet = {"params": count_params(backbone), **measure(backbone, lambda: backbone(frame))}
    feats = torch.randn(3, width, h // STRIDE, w // STRIDE).relu()
    hms = torch.randn(3, head.num_joints, h // STRIDE, w // STRIDE)
    head_only = {
        "params": count_params(head),
        **measure(head, lambda: head(feats[0:1], feats[1:2], feats[2:3], hms[0:1], hms[1:2], hms[2:3])),
    }
    total = count_params(model)
    full = {
        "params": total,
        "params_thop_style": total - dcn_own_params(model),
        "dcn_own_params": dcn_own_params(model),
        **measure(model, lambda: model(frames)),
    }
    return {
        "setting": {"backbone_width": width, "backbone_arch": arch, "input_size": [h, w], "frames": 3,
                    "variant": variant,
                    "offset_conv": offset_conv, "srm_dilations": list(srm_dilations), "srm_width": srm_width,
                    "residual": residual, "batch": 1},
        "hrnet": hrnet,
        "head": head_only,
        "fasrnet": full,
    }


def _round(x: float, nd: int = 2) -> float:
    return float(f"{x:.{nd}f}")


def complexity_report(params: Params, width: int = PAPER_WIDTH,
                      input_size: tuple[int, int] = PAPER_INPUT_SIZE) -> dict[str, Any]:
    """Table 5 at ``width``/``input_size`` (default: the paper's W48, 384×288, full FaSRnet) with the paper's
    values beside, plus the model ``params`` configures (its variant, width and input size)."""
    table5 = measure_setting(width, input_size, "fasrnet", params.model.offset_conv, (1,))
    m, hm = params.model, params.heatmap
    configured = measure_setting(m.backbone_width, (hm.input_size[0], hm.input_size[1]), m.variant,
                                 m.offset_conv, tuple(m.srm_dilations), m.backbone_arch, m.srm_width, m.residual)
    ours = {
        "hrnet": {"params": table5["hrnet"]["params"], "gflops": _round(table5["hrnet"]["gflops"]),
                  "gmacs": _round(table5["hrnet"]["gmacs"]),
                  "thop_style_gmacs": _round(table5["hrnet"]["thop_style_gmacs"])},
        "fasrnet": {"params": table5["fasrnet"]["params"],
                    "params_thop_style": table5["fasrnet"]["params_thop_style"],
                    "gflops": _round(table5["fasrnet"]["gflops"]), "gmacs": _round(table5["fasrnet"]["gmacs"]),
                    "thop_style_gmacs": _round(table5["fasrnet"]["thop_style_gmacs"])},
    }
    return {
        "table5": {"paper": PAPER_TABLE5, "ours": ours},
        "conventions": {
            "flops": "2 x multiply-accumulate (torch.utils.flop_counter for convolutions, plus deformable convs "
                     "counted analytically as plain convs of the same shape)",
            "macs": "flops / 2",
            "dcn_macs": "deformable convs' kernel MACs only (bilinear sampling and masking not counted)",
            "thop_style": "what thop counts (the paper's Table 5): conv MACs without bias, BatchNorm 4 ops per "
                          "element, deformable conv layers and their own weights not counted",
            "paper_gflops": "Table 5's GFLOPs are MACs counted by thop",
        },
        "measured": table5,
        "configured": configured,
    }
