"""Attention fusion (paper §3.1.2, Eqs. 8–10; ``docs/model.md``, §4): EDVR's temporal–spatial attention (TSA)
over the stack (aligned previous, current, aligned next), and the plain convolution fusion of the ``no_att``
ablation.

Input to both: ``B×T×C×H×W`` with T = 3 frames in the order (t−1, t, t+1), the centre being the current frame.
Output: the fused current feature ``F_t^final`` (B×C×H×W).

Paper vs code: Eq. 8 cites non-local attention and Eq. 9 applies a CNN to each weighted frame; neither is in the
official code, which uses TSA as below (per-pixel channel dot product with the centre embedding, one sigmoid
weight per pixel per frame, the centre frame weighted too). We follow the code. The two ×2 bilinear upsamplings
target the exact size of the finer map, so odd sizes work (identical to the code at 96×72).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fasrnet.models.alignment import LEAKY_SLOPE


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, LEAKY_SLOPE)


class TSAFusion(nn.Module):
    """Temporal–spatial attention fusion: ``forward(stack: B×T×C×H×W) -> B×C×H×W``."""

    def __init__(self, channels: int, num_frames: int = 3, center: int = 1):
        super().__init__()
        c, t = channels, num_frames
        self.center = center
        self.temporal_attn1 = nn.Conv2d(c, c, 3, padding=1)
        self.temporal_attn2 = nn.Conv2d(c, c, 3, padding=1)
        self.feat_fusion = nn.Conv2d(t * c, c, 1)
        self.spatial_attn1 = nn.Conv2d(t * c, c, 1)
        self.spatial_attn2 = nn.Conv2d(2 * c, c, 1)
        self.spatial_attn3 = nn.Conv2d(c, c, 3, padding=1)
        self.spatial_attn4 = nn.Conv2d(c, c, 1)
        self.spatial_attn5 = nn.Conv2d(c, c, 3, padding=1)
        self.spatial_attn_l1 = nn.Conv2d(c, c, 1)
        self.spatial_attn_l2 = nn.Conv2d(2 * c, c, 3, padding=1)
        self.spatial_attn_l3 = nn.Conv2d(c, c, 3, padding=1)
        self.spatial_attn_add1 = nn.Conv2d(c, c, 1)
        self.spatial_attn_add2 = nn.Conv2d(c, c, 1)

    @staticmethod
    def _pool(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.max_pool2d(x, 3, 2, 1), F.avg_pool2d(x, 3, 2, 1)], dim=1)

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = stack.shape
        # temporal attention: per-pixel similarity of every frame's embedding with the centre's
        ref = self.temporal_attn1(stack[:, self.center])
        emb = self.temporal_attn2(stack.reshape(b * t, c, h, w)).reshape(b, t, c, h, w)
        weight = torch.sigmoid((emb * ref.unsqueeze(1)).sum(dim=2, keepdim=True))  # B×T×1×H×W
        weighted = (stack * weight).reshape(b, t * c, h, w)
        feat = _lrelu(self.feat_fusion(weighted))
        # spatial attention: a 3-level pyramid on the weighted stack
        attn = _lrelu(self.spatial_attn1(weighted))
        attn = _lrelu(self.spatial_attn2(self._pool(attn)))
        level = _lrelu(self.spatial_attn_l1(attn))
        level = _lrelu(self.spatial_attn_l2(self._pool(level)))
        level = _lrelu(self.spatial_attn_l3(level))
        level = F.interpolate(level, size=attn.shape[-2:], mode="bilinear", align_corners=False)
        attn = _lrelu(self.spatial_attn3(attn)) + level
        attn = _lrelu(self.spatial_attn4(attn))
        attn = F.interpolate(attn, size=(h, w), mode="bilinear", align_corners=False)
        attn = self.spatial_attn5(attn)
        add = self.spatial_attn_add2(_lrelu(self.spatial_attn_add1(attn)))
        return feat * torch.sigmoid(attn) * 2 + add


class ConvFusion(nn.Module):
    """The ``no_att`` fusion: 1×1 conv over the concatenated stack, LReLU. ``forward(B×T×C×H×W) -> B×C×H×W``."""

    def __init__(self, channels: int, num_frames: int = 3):
        super().__init__()
        self.feat_fusion = nn.Conv2d(num_frames * channels, channels, 1)

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = stack.shape
        return _lrelu(self.feat_fusion(stack.reshape(b, t * c, h, w)))
