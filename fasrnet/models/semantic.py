"""Semantic refinement (paper §3.2, Eqs. 11–16; ``docs/model.md``, §5): refine the feature-refined heatmaps H^r
with the neighbours' heatmaps and their differences, through RSN blocks and a modulated deformable convolution.

``SemanticRefinement.forward(hr, hm_prev, hm_next) -> H^final`` (all B×J×H×W), with neighbour weights
w_p = w_n = 0.5 (DCPose's margin weighting for frames t∓1):

- difference branch: per joint (dA, w_p·dA, dB, w_n·dB) with dA = H^r − H_{t−1}, dB = H^r − H_{t+1}
  (joint-major, 4J channels) → RSB chain (4J → 2J, 2 blocks) = D_a;
- support branch: per joint (H^r, w_p·H_{t−1}, w_n·H_{t+1}) (3J channels) → RSB chain (3J → J, 1 block) = H_a;
- combine: [D_a, H_a] → RSB chain (3J → W, 2 blocks), W = ``width`` (64 in the paper and the official code);
- for each dilation d: offsets (3×3 conv W → J·2·9) and masks (3×3 conv W → J·9), dilation d, no bias, masks
  **without** sigmoid (as the official code); a DCN J → J with J deformable groups samples H_a; the branches are
  averaged.

``width`` (``model.srm_width``) sizes the module for a CPU: W is the combine chain's width, and every RSB's branch
width ``⌊in·26/64⌋`` is scaled by W/64 too (at least :data:`MIN_BRANCH`). At W = 64 it is the paper's module
exactly; the embedded default uses a narrower one (docs/synthetic.md), which the tables label. ``residual``
(``model.residual``) returns H^r + the averaged DCN output instead of the DCN output alone: the untrained module
(masks ≈ 0) passes H^r through, and training learns a correction (the paper's module: ``False``).

Paper vs code: Eq. 13 feeds H^r into the difference branch; the code does not (followed here). The paper's single
d = 1 DCN is the default; the ``smd`` ablation uses dilations 3, 6, 9, 12, 15.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fasrnet.models.alignment import ModulatedDeformConv

NEIGHBOUR_WEIGHT = 0.5
COMBINE_CHANNELS = 64  # the paper's (and official code's) width W
MIN_BRANCH = 2  # narrowest RSB branch of a scaled-down module


class ConvBN(nn.Module):
    """Conv (with bias, as RSN) + BatchNorm + optional ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, relu: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=True)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return torch.relu(x) if self.relu else x


class RSB(nn.Module):
    """Residual steps block (RSN, Cai et al. 2020).

    ``b = ⌊in·26/64⌋`` (scaled by ``width / 64``, at least :data:`MIN_BRANCH`, for a narrower module); a 1×1
    conv makes 4 chunks of b channels; chunk k (1–4) runs through k 3×3 conv+BN+ReLU units, unit m of chunk k
    also receiving unit m of chunk k−1 (10 units in all); the last unit of every chunk is concatenated, 1×1 conv
    + BN to ``out``, plus the shortcut (a 1×1 conv+BN projection if given), ReLU.
    """

    def __init__(self, cin: int, cout: int, projection: bool, width: int = COMBINE_CHANNELS):
        super().__init__()
        # integer maths, so that width 64 gives exactly the paper's ⌊in·26/64⌋
        b = cin * 26 * width // (64 * COMBINE_CHANNELS)
        if width != COMBINE_CHANNELS:
            b = max(b, MIN_BRANCH)
        self.branch = b
        self.conv_in = ConvBN(cin, 4 * b, 1)
        # units[k][m]: chunk k (0-based) unit m, m = 0..k
        self.units = nn.ModuleList(nn.ModuleList(ConvBN(b, b, 3) for _ in range(k + 1)) for k in range(4))
        self.conv_out = ConvBN(4 * b, cout, 1, relu=False)
        self.shortcut = ConvBN(cin, cout, 1, relu=False) if projection else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chunks = torch.split(self.conv_in(x), self.branch, dim=1)
        prev: list[torch.Tensor] = []
        ends = []
        for k, units in enumerate(self.units):
            outs = []
            for m, unit in enumerate(units):
                inp = chunks[k] if m == 0 else outs[-1]
                if m < len(prev):
                    inp = inp + prev[m]
                outs.append(unit(inp))
            ends.append(outs[-1])
            prev = outs
        out = self.conv_out(torch.cat(ends, dim=1))
        shortcut = x if self.shortcut is None else self.shortcut(x)
        return torch.relu(out + shortcut)


class RSBChain(nn.Sequential):
    """``num_blocks`` RSB blocks ``cin → cout``; the first has a projection shortcut (always, as DCPose)."""

    def __init__(self, cin: int, cout: int, num_blocks: int, width: int = COMBINE_CHANNELS):
        super().__init__(*[RSB(cin if i == 0 else cout, cout, projection=(i == 0), width=width)
                           for i in range(num_blocks)])


def interleave(*maps: torch.Tensor) -> torch.Tensor:
    """Joint-major concatenation: ``(a0, b0, …, a1, b1, …)`` of same-shaped B×J×H×W maps."""
    b, j, h, w = maps[0].shape
    return torch.stack(maps, dim=2).reshape(b, j * len(maps), h, w)


class SemanticRefinement(nn.Module):
    """The SRM: ``forward(hr, hm_prev, hm_next) -> H^final`` (B×J×H×W each); see the module docstring
    (``width``: W; ``residual``: H^final = H^r + the DCN output)."""

    def __init__(self, num_joints: int = 17, dilations: Sequence[int] = (1,), width: int = COMBINE_CHANNELS,
                 residual: bool = False):
        super().__init__()
        self.residual = bool(residual)
        j = num_joints
        self.num_joints = j
        self.width = int(width)
        if self.width < 1:
            raise ValueError(f"SemanticRefinement width must be >= 1, got {width}")
        self.dilations = tuple(int(d) for d in dilations)
        if not self.dilations:
            raise ValueError("SemanticRefinement needs at least one dilation")
        w = self.width
        self.diff_fuse = RSBChain(4 * j, 2 * j, 2, width=w)
        self.support_fuse = RSBChain(3 * j, j, 1, width=w)
        self.combine = RSBChain(3 * j, w, 2, width=w)
        self.offset_convs = nn.ModuleList(
            nn.Conv2d(w, 2 * j * 9, 3, padding=d, dilation=d, bias=False) for d in self.dilations
        )
        self.mask_convs = nn.ModuleList(
            nn.Conv2d(w, j * 9, 3, padding=d, dilation=d, bias=False) for d in self.dilations
        )
        self.dcns = nn.ModuleList(
            ModulatedDeformConv(j, j, dilation=d, deformable_groups=j) for d in self.dilations
        )

    def forward(self, hr: torch.Tensor, hm_prev: torch.Tensor, hm_next: torch.Tensor) -> torch.Tensor:
        wp = wn = NEIGHBOUR_WEIGHT
        d_a, d_b = hr - hm_prev, hr - hm_next
        diff = self.diff_fuse(interleave(d_a, wp * d_a, d_b, wn * d_b))
        support = self.support_fuse(interleave(hr, wp * hm_prev, wn * hm_next))
        combined = self.combine(torch.cat([diff, support], dim=1))
        out = None
        for offset_conv, mask_conv, dcn in zip(self.offset_convs, self.mask_convs, self.dcns):
            warped = dcn(support, offset_conv(combined), mask_conv(combined))
            out = warped if out is None else out + warped
        out = out / len(self.dcns)
        return hr + out if self.residual else out
