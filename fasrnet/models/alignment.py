"""Feature alignment (paper §3.1.1, Eqs. 1–7; ``docs/model.md``, §3): modulated deformable convolution that warps a
neighbour frame's feature map onto the current frame's.

- :class:`ModulatedDeformConv` — DCNv2 (offsets and masks supplied) on ``torchvision.ops.deform_conv2d``, or
  on an equivalent pure-PyTorch path (``grid_sample`` + matmul) whose backward is ~15× faster on CPU
  (``backend``: ``"auto"`` = torchvision on CUDA, grid_sample on CPU; a test checks the two agree in values and
  gradients). Offset layout: for deformable group ``g`` and kernel tap ``k`` (row-major over the 3×3 window),
  channel ``2·(g·9 + k)`` is the vertical (dy) and ``2·(g·9 + k) + 1`` the horizontal (dx) displacement —
  DCNv2's layout; a test pins it (zero offsets and unit masks give the plain dilated convolution).
- :class:`DCNPack` — a DCN whose 18 offsets and 9 masks (sigmoid) come from a 3×3 conv on an offset feature.
- :class:`FeatureAlignment` — the paper's **FDA** (three levels at full resolution with dilations 5 → 3 → 1,
  then a cascade d = 1 stage) or, with ``pyramid=True``, EDVR's **PCD** alignment (the ``pcda`` ablation: the
  same levels on a stride-2 pyramid, d = 1 at ¼, 3 at ½, 5 at full resolution).

Differences from the paper and the official code (``docs/model.md``, §12 lists them all; the README's "Paper vs
code" table the ones that are params):
- **Offset-conv shape bug.** In the official d = 5 and d = 3 levels the 3×3 offset/mask conv is padded by d but
  not dilated, so it outputs a larger map (104×80 and 100×76 at 96×72) that their unchecked CUDA kernel reads as
  if it were 96×72. ``offset_conv="padding1"`` (default) keeps the conv exactly as written (3×3, same parameters)
  with padding 1; ``"dilated"`` dilates it by d instead (padding d). Both give the right shape.
- Concatenations are plain ``[a, b]`` channel blocks; the official code interleaves channels (a0, b0, a1, …),
  which only matters when loading the authors' weights (a fixed channel permutation of the first conv).
- The paper's shared base offset feature O_0 (Eq. 1) does not exist in the code: each level has its own conv
  of ``F_{t+i} ⊕ F_t``; the DCN of every level samples the raw neighbour feature (as Eqs. 3 and 5 say), but the
  cascade DCN samples the last level's aligned feature, where Eq. 7 has the raw neighbour (the code is followed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

OffsetConv = Literal["padding1", "dilated"]
DCNBackend = Literal["auto", "torchvision", "grid_sample"]
DCN_BACKENDS: tuple[str, ...] = ("auto", "torchvision", "grid_sample")
LEAKY_SLOPE = 0.1


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, LEAKY_SLOPE)


def _conv3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=1, padding=1, bias=True)


def deform_conv2d_grid_sample(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                              bias: torch.Tensor | None, dilation: int, mask: torch.Tensor) -> torch.Tensor:
    """``torchvision.ops.deform_conv2d`` for a 3×3 kernel, stride 1, ``padding = dilation``, in plain PyTorch.

    Every tap of every output pixel samples ``x`` bilinearly at ``p + d·k + Δ`` (zero outside the map, as DCNv2:
    ``grid_sample`` with ``align_corners=True`` and zero padding), is scaled by its mask, and the 9 taps ×
    channels are contracted with the kernel by one matmul.
    """
    b, c, h, w = x.shape
    groups = mask.shape[1] // 9
    if x.dtype in (torch.float16, torch.bfloat16):
        # Sampling positions reach the map's size (96 px at 384×288): bf16 would round them to half a pixel. They,
        # the sampling and the mask are float32 (what autocast gives grid_sample anyway); the matmul follows autocast.
        x, offset, mask = x.float(), offset.float(), mask.float()
    dt, dev = x.dtype, x.device
    ky, kx = torch.meshgrid(torch.arange(3, dtype=dt, device=dev) - 1, torch.arange(3, dtype=dt, device=dev) - 1,
                            indexing="ij")
    off = offset.view(b, groups, 9, 2, h, w)
    base_y = torch.arange(h, dtype=dt, device=dev).view(1, 1, 1, h, 1) + ky.reshape(1, 1, 9, 1, 1) * dilation
    base_x = torch.arange(w, dtype=dt, device=dev).view(1, 1, 1, 1, w) + kx.reshape(1, 1, 9, 1, 1) * dilation
    py, px = base_y + off[:, :, :, 0], base_x + off[:, :, :, 1]
    grid = torch.stack([px * (2.0 / max(w - 1, 1)) - 1.0, py * (2.0 / max(h - 1, 1)) - 1.0], dim=-1)
    sampled = F.grid_sample(x.reshape(b * groups, c // groups, h, w), grid.view(b * groups, 9 * h, w, 2),
                            mode="bilinear", padding_mode="zeros", align_corners=True)
    cols = sampled.view(b, groups, c // groups, 9, h, w) * mask.view(b, groups, 1, 9, h, w)
    out = torch.matmul(weight.reshape(weight.shape[0], c * 9), cols.reshape(b, c * 9, h * w))
    out = out.view(b, weight.shape[0], h, w)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


class ModulatedDeformConv(nn.Module):
    """Modulated deformable 3×3 convolution (DCNv2), stride 1, ``padding = dilation`` (size-preserving).

    ``forward(x: B×Cin×H×W, offset: B×(2·G·9)×H×W, mask: B×(G·9)×H×W) -> B×Cout×H×W`` with ``G`` =
    ``deformable_groups``. Masks are used as given (callers apply a sigmoid where the design has one).
    """

    kernel_size = 3

    def __init__(self, in_channels: int, out_channels: int, dilation: int = 1, deformable_groups: int = 1,
                 bias: bool = True, backend: DCNBackend = "auto"):
        super().__init__()
        if backend not in DCN_BACKENDS:
            raise ValueError(f"backend must be one of {DCN_BACKENDS}, got {backend!r}")
        if in_channels % deformable_groups:
            raise ValueError(f"in_channels {in_channels} not divisible by deformable_groups {deformable_groups}")
        self.backend = backend
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.dilation = dilation
        self.deformable_groups = deformable_groups
        k = self.kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, k, k))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.init_identity()

    @property
    def offset_channels(self) -> int:
        return 2 * self.deformable_groups * self.kernel_size**2

    @property
    def mask_channels(self) -> int:
        return self.deformable_groups * self.kernel_size**2

    @torch.no_grad()
    def init_identity(self) -> None:
        """Identity kernel (1 at the centre tap of channel i → i), bias 0 (``docs/model.md``, §8)."""
        self.weight.zero_()
        c = self.kernel_size // 2
        for i in range(min(self.in_channels, self.out_channels)):
            self.weight[i, i, c, c] = 1.0
        if self.bias is not None:
            self.bias.zero_()

    def forward(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        d = self.dilation
        backend = self.backend
        if backend == "auto":
            backend = "torchvision" if x.is_cuda else "grid_sample"
        if backend == "grid_sample":
            return deform_conv2d_grid_sample(x, offset, self.weight, self.bias, d, mask)
        # imported here: torchvision costs every process ~1 s at start-up, and CPU runs use grid_sample
        from torchvision.ops import deform_conv2d

        if torch.is_autocast_enabled(x.device.type):
            # torchvision's op has no autocast rule (bf16 inputs beside fp32 weights fail): it runs in fp32
            with torch.autocast(x.device.type, enabled=False):
                return deform_conv2d(x.float(), offset.float(), self.weight, self.bias, stride=(1, 1),
                                     padding=(d, d), dilation=(d, d), mask=mask.float())
        return deform_conv2d(x, offset, self.weight, self.bias, stride=(1, 1), padding=(d, d),
                             dilation=(d, d), mask=mask)

    def macs(self, batch: int, height: int, width: int) -> int:
        """Multiply-accumulates of the kernel (as for a plain conv of the same shape; bilinear sampling and
        mask multiplication not included)."""
        return batch * self.out_channels * height * width * self.in_channels * self.kernel_size**2

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size=3, dilation={self.dilation}, "
                f"deformable_groups={self.deformable_groups}, backend={self.backend}")


def set_dcn_backend(module: nn.Module, backend: DCNBackend) -> nn.Module:
    """Switch every :class:`ModulatedDeformConv` inside ``module`` to ``backend``; returns ``module``."""
    if backend not in DCN_BACKENDS:
        raise ValueError(f"backend must be one of {DCN_BACKENDS}, got {backend!r}")
    for m in module.modules():
        if isinstance(m, ModulatedDeformConv):
            m.backend = backend
    return module


class DCNPack(nn.Module):
    """A 1-group DCN whose offsets and masks come from an offset feature (EDVR's ``DCNv2Pack``).

    ``conv_offset_mask`` (3×3, C → 27) gives 18 offsets and 9 masks (sigmoid); ``offset_conv`` chooses how that
    conv is shaped at dilation d > 1 (see the module docstring).
    """

    def __init__(self, channels: int, dilation: int, offset_conv: OffsetConv = "padding1"):
        super().__init__()
        self.dcn = ModulatedDeformConv(channels, channels, dilation=dilation, deformable_groups=1)
        dil = dilation if offset_conv == "dilated" else 1
        if offset_conv not in ("padding1", "dilated"):
            raise ValueError(f"offset_conv must be 'padding1' or 'dilated', got {offset_conv!r}")
        self.conv_offset_mask = nn.Conv2d(channels, self.dcn.offset_channels + self.dcn.mask_channels, 3,
                                          padding=dil, dilation=dil, bias=True)

    def forward(self, x: torch.Tensor, offset_feature: torch.Tensor) -> torch.Tensor:
        om = self.conv_offset_mask(offset_feature)
        n = self.dcn.offset_channels
        return self.dcn(x, om[:, :n], torch.sigmoid(om[:, n:]))


class _Level(nn.Module):
    """One alignment level: offset feature from ``nbr ⊕ ref`` (and the previous level's), DCN on ``nbr``,
    merge with the previous level's aligned feature."""

    def __init__(self, channels: int, dilation: int, first: bool, offset_conv: OffsetConv):
        super().__init__()
        c = channels
        self.first = first
        self.offset_conv1 = _conv3(2 * c, c)
        self.offset_conv2 = _conv3(c if first else 2 * c, c)
        self.offset_conv3 = None if first else _conv3(c, c)
        self.dcn_pack = DCNPack(c, dilation, offset_conv)
        self.feat_conv = None if first else _conv3(2 * c, c)

    def forward(self, nbr: torch.Tensor, ref: torch.Tensor, prev_offset: torch.Tensor | None,
                prev_feat: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        offset = _lrelu(self.offset_conv1(torch.cat([nbr, ref], dim=1)))
        if self.offset_conv3 is None:
            offset = _lrelu(self.offset_conv2(offset))
        else:
            offset = _lrelu(self.offset_conv2(torch.cat([offset, prev_offset], dim=1)))
            offset = _lrelu(self.offset_conv3(offset))
        feat = self.dcn_pack(nbr, offset)
        if self.feat_conv is not None:
            feat = self.feat_conv(torch.cat([feat, prev_feat], dim=1))
        return offset, feat


class FeatureAlignment(nn.Module):
    """Align a neighbour frame's features to the current frame's: ``forward(nbr, ref) -> aligned`` (B×C×H×W).

    ``pyramid=False`` (FDA, the paper's module): levels with ``dilations`` (default 5, 3, 1) in sequence at full
    resolution; each level's offset feature is built from ``nbr ⊕ ref`` and the previous level's offset feature;
    its DCN samples ``nbr``; its output is merged (conv) with the previous level's aligned feature; LReLU after
    every level but the last. Then the cascade: offsets from ``aligned ⊕ ref`` (two convs), a d = 1 DCN on the
    aligned feature, LReLU.

    ``pyramid=True`` (PCDA, the ``pcda`` ablation = EDVR's PCD): ``nbr`` and ``ref`` are downsampled twice
    (3×3 stride-2 conv + 3×3 conv, LReLU each, separate for nbr and ref); the levels run coarse to fine on ¼, ½ and
    full resolution with ``dilations`` (default 1, 3, 5); the previous level's offset feature is upsampled
    ×2 (bilinear) and doubled, its aligned feature upsampled ×2; the same cascade follows.
    """

    def __init__(self, channels: int, dilations: Sequence[int] | None = None, pyramid: bool = False,
                 offset_conv: OffsetConv = "padding1"):
        super().__init__()
        c = channels
        self.pyramid = pyramid
        if dilations is None:
            dilations = (1, 3, 5) if pyramid else (5, 3, 1)
        self.dilations = tuple(int(d) for d in dilations)
        if pyramid:
            def down() -> nn.Sequential:
                return nn.Sequential(nn.Conv2d(c, c, 3, stride=2, padding=1), nn.LeakyReLU(LEAKY_SLOPE),
                                     _conv3(c, c), nn.LeakyReLU(LEAKY_SLOPE))
            n_down = len(self.dilations) - 1
            self.nbr_down = nn.ModuleList(down() for _ in range(n_down))
            self.ref_down = nn.ModuleList(down() for _ in range(n_down))
        self.levels = nn.ModuleList(
            _Level(c, d, first=(i == 0), offset_conv=offset_conv) for i, d in enumerate(self.dilations)
        )
        self.cas_offset_conv1 = _conv3(2 * c, c)
        self.cas_offset_conv2 = _conv3(c, c)
        self.cas_dcn_pack = DCNPack(c, 1, offset_conv)

    def forward(self, nbr: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        if self.pyramid:
            nbrs, refs = [nbr], [ref]
            for nd, rd in zip(self.nbr_down, self.ref_down):
                nbrs.append(nd(nbrs[-1]))
                refs.append(rd(refs[-1]))
            nbrs, refs = nbrs[::-1], refs[::-1]  # coarse to fine
        else:
            nbrs = [nbr] * len(self.levels)
            refs = [ref] * len(self.levels)
        offset = feat = None
        last = len(self.levels) - 1
        for i, level in enumerate(self.levels):
            if self.pyramid and offset is not None:
                size = nbrs[i].shape[-2:]
                offset = F.interpolate(offset, size=size, mode="bilinear", align_corners=False) * 2
                feat = F.interpolate(feat, size=size, mode="bilinear", align_corners=False)
            offset, feat = level(nbrs[i], refs[i], offset, feat)
            if i < last:
                feat = _lrelu(feat)
        offset = _lrelu(self.cas_offset_conv2(_lrelu(self.cas_offset_conv1(torch.cat([feat, ref], dim=1)))))
        return _lrelu(self.cas_dcn_pack(feat, offset))
