"""FaSRnet: the refinement head over a frozen HRNet, every ablation variant of Tables 6–8 as data, the
end-to-end wrapper and the initialisation (the loss, Eqs. 17–19, is in ``loss.py``).

The head consumes the backbone's outputs for frames t−1, t, t+1 (the training stage feeds them from the fp16
feature cache, cast to fp32):

    FaSRnetHead.forward(feat_prev, feat_cur, feat_next, hm_prev, hm_cur, hm_next) -> {"hr", "final", "pred"}

features ``B×C×h×w`` (C = backbone width, h×w = input/4), heatmaps ``B×J×h×w``. ``hr`` is H^r (the 1×1 conv on
the fused feature; None for ``no_fr``), ``final`` is H^final from the SRM (None for variants without SRM),
``pred`` is the heatmap the variant is scored on (``final`` if present, else ``hr``).

Variants (:data:`VARIANTS`, ``model.variant``; ``docs/model.md``, §7) — what each removes from full FaSRnet:

============  =========================  ====================================================================
variant       paper row (mAP)            removes / changes
============  =========================  ====================================================================
``fasrnet``   FaSRnet (82.97)            nothing: FDA + TSA + H^r, then SRM; scored on H^final
``baseline``  Table 6 Baseline (80.03)   alignment (TSA on raw neighbour features) and SRM; scored on H^r
``pcda``      Table 6 PCDA (82.26)       FDA → EDVR pyramid alignment; no SRM; scored on H^r
``fda``       Table 6 FDA (82.42)        SRM; scored on H^r
``no_att``    Table 6 w/o Att (82.13)    TSA → 1×1 conv + LReLU fusion; no SRM; scored on H^r
``no_fr``     Table 7 w/o FR (82.71)     all feature refinement: SRM refines the backbone's H_t
``smd``       Table 7 SMD (82.94)        SRM with five DCNs, d = 3, 6, 9, 12, 15, averaged
``no_prev``   Table 8 w/o P (82.54)      frame t−1: its features and heatmap replaced by frame t's
``no_next``   Table 8 w/o N (82.54)      frame t+1: its features and heatmap replaced by frame t's
============  =========================  ====================================================================

The loss of a variant without SRM is MSE(H^r) alone; of ``no_fr``, MSE(H^final) alone.

:class:`FaSRnet` runs backbone + head end to end on three frames (for the complexity count and for training with
an online backbone); the backbone is frozen and kept in eval mode (``docs/model.md``, §2 and §12: the official code
leaves its BatchNorm in train mode; with a feature cache we cannot, and do not).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from fasrnet.keypoints import NUM_KEYPOINTS
from fasrnet.models.alignment import (
    DCNBackend,
    FeatureAlignment,
    ModulatedDeformConv,
    OffsetConv,
    set_dcn_backend,
)
from fasrnet.models.fusion import ConvFusion, TSAFusion
from fasrnet.models.hrnet import HRNet
from fasrnet.models.semantic import COMBINE_CHANNELS, SemanticRefinement

if TYPE_CHECKING:
    from fasrnet.params import ModelParams

NUM_JOINTS = NUM_KEYPOINTS  # the head's heatmap channels: the 17 PoseTrack18 slots


# --------------------------------------------------------------------------------------------------------------
# Variants (docs/model.md, §7)


@dataclass(frozen=True)
class VariantSpec:
    """What one row of Tables 6–8 runs. ``removes`` says, in words, what it takes away from full FaSRnet."""

    name: str
    paper_row: str
    paper_map: float
    alignment: Literal["fda", "pcda"] | None
    fusion: Literal["tsa", "conv"] | None
    srm: bool
    srm_dilations: tuple[int, ...] | None = None  # None: model.srm_dilations
    replace: Literal["prev", "next"] | None = None  # this neighbour is replaced by the current frame
    removes: str = ""

    @property
    def feature_refinement(self) -> bool:
        return self.fusion is not None

    @property
    def scored_output(self) -> str:
        return "final" if self.srm else "hr"


VARIANTS: dict[str, VariantSpec] = {
    v.name: v
    for v in (
        VariantSpec("fasrnet", "FaSRnet (Tables 6-8)", 82.97, "fda", "tsa", True,
                    removes="nothing: FDA alignment + TSA fusion + H^r, then the SRM; scored on H^final"),
        VariantSpec("baseline", "Table 6 FaSRnet (Baseline)", 80.03, None, "tsa", False,
                    removes="feature alignment (TSA fuses the raw neighbour features) and the SRM; scored on H^r"),
        VariantSpec("pcda", "Table 6 FaSRnet (PCDA)", 82.26, "pcda", "tsa", False,
                    removes="the multi-dilation FDA (replaced by EDVR's pyramid alignment on a stride-2 pyramid) "
                            "and the SRM; scored on H^r"),
        VariantSpec("fda", "Table 6 FaSRnet (FDA)", 82.42, "fda", "tsa", False,
                    removes="the SRM; scored on H^r"),
        VariantSpec("no_att", "Table 6 FaSRnet w/o Att", 82.13, "fda", "conv", False,
                    removes="the attention fusion (replaced by a 1x1 conv + LReLU on the 3-frame stack) and the SRM; "
                            "scored on H^r"),
        VariantSpec("no_fr", "Table 7 FaSRnet w/o FR", 82.71, None, None, True,
                    removes="the whole feature refinement (no alignment, fusion or H^r): the SRM refines the "
                            "backbone's own H_t; scored on H^final"),
        VariantSpec("smd", "Table 7 FaSRnet (SMD)", 82.94, "fda", "tsa", True, srm_dilations=(3, 6, 9, 12, 15),
                    removes="nothing; the SRM's single d=1 DCN becomes five parallel DCNs (d = 3, 6, 9, 12, 15), "
                            "averaged"),
        VariantSpec("no_prev", "Table 8 FaSRnet w/o P", 82.54, "fda", "tsa", True, replace="prev",
                    removes="the previous frame: its features and heatmap are replaced by the current frame's"),
        VariantSpec("no_next", "Table 8 FaSRnet w/o N", 82.54, "fda", "tsa", True, replace="next",
                    removes="the next frame: its features and heatmap are replaced by the current frame's"),
    )
}
VARIANT_NAMES = tuple(VARIANTS)


def get_variant(name: str) -> VariantSpec:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown variant {name!r}; expected one of {', '.join(VARIANTS)}") from None


# --------------------------------------------------------------------------------------------------------------
# Initialisation (paper §4.1; docs/model.md, §8)


@torch.no_grad()
def init_head(module: nn.Module, std: float = 0.001) -> None:
    """Every conv N(0, std), bias 0; BatchNorm weight 1, bias 0; every DCN an identity kernel, bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, mean=0.0, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, ModulatedDeformConv):
            m.init_identity()


# --------------------------------------------------------------------------------------------------------------
# Head


class FaSRnetHead(nn.Module):
    """Feature refinement (alignment + fusion + H^r) and semantic refinement, as the variant prescribes.

    ``srm_width`` is the SRM's width W (64: the paper's module; smaller: the CPU-sized module of the embedded
    default, see ``semantic.py``). ``residual`` makes both refinements corrections: H^r = H_t + conv(F^final)
    and H^final = H^r + SRM(…), so that the untrained head reproduces the frozen backbone (the paper's head:
    ``False``).

    ``forward(feat_prev, feat_cur, feat_next, hm_prev, hm_cur, hm_next) -> dict(hr, final, pred)``; see the
    module docstring for shapes.
    """

    def __init__(self, channels: int, variant: str | VariantSpec = "fasrnet", num_joints: int = NUM_JOINTS,
                 srm_dilations: Sequence[int] = (1,), offset_conv: OffsetConv = "padding1",
                 init_std: float = 0.001, dcn_backend: DCNBackend = "auto", srm_width: int = COMBINE_CHANNELS,
                 residual: bool = False):
        super().__init__()
        spec = get_variant(variant) if isinstance(variant, str) else variant
        self.spec = spec
        self.channels = channels
        self.num_joints = num_joints
        self.align_prev: FeatureAlignment | None = None
        self.align_next: FeatureAlignment | None = None
        if spec.alignment is not None:
            pyramid = spec.alignment == "pcda"
            self.align_prev = FeatureAlignment(channels, pyramid=pyramid, offset_conv=offset_conv)
            self.align_next = FeatureAlignment(channels, pyramid=pyramid, offset_conv=offset_conv)
        self.fusion: nn.Module | None = None
        self.final_layer: nn.Conv2d | None = None
        if spec.fusion is not None:
            self.fusion = TSAFusion(channels) if spec.fusion == "tsa" else ConvFusion(channels)
            self.final_layer = nn.Conv2d(channels, num_joints, 1)
        self.srm: SemanticRefinement | None = None
        if spec.srm:
            dil = spec.srm_dilations if spec.srm_dilations is not None else tuple(srm_dilations)
            self.srm = SemanticRefinement(num_joints, dil, width=srm_width, residual=residual)
        self.residual = bool(residual)
        init_head(self, init_std)
        set_dcn_backend(self, dcn_backend)

    def forward(self, feat_prev: torch.Tensor, feat_cur: torch.Tensor, feat_next: torch.Tensor,
                hm_prev: torch.Tensor, hm_cur: torch.Tensor, hm_next: torch.Tensor
                ) -> dict[str, torch.Tensor | None]:
        if self.spec.replace == "prev":
            feat_prev, hm_prev = feat_cur, hm_cur
        elif self.spec.replace == "next":
            feat_next, hm_next = feat_cur, hm_cur
        hr = None
        if self.fusion is not None:
            if self.align_prev is not None and self.align_next is not None:
                feat_prev = self.align_prev(feat_prev, feat_cur)
                feat_next = self.align_next(feat_next, feat_cur)
            fused = self.fusion(torch.stack([feat_prev, feat_cur, feat_next], dim=1))
            hr = self.final_layer(fused)
            if self.residual:  # a correction of the backbone's own heatmap of frame t
                hr = hr + hm_cur
        final = None
        if self.srm is not None:
            final = self.srm(hr if hr is not None else hm_cur, hm_prev, hm_next)
        pred = final if final is not None else hr
        return {"hr": hr, "final": final, "pred": pred}


# --------------------------------------------------------------------------------------------------------------
# End to end


class FaSRnet(nn.Module):
    """Frozen HRNet + :class:`FaSRnetHead` on three frames.

    ``forward(frames: B×3×3×H×W, ordered t−1, t, t+1) -> dict(hr, final, pred, backbone)`` where ``backbone``
    is the backbone's own heatmap of frame t. The backbone always runs in eval mode without gradients.
    """

    def __init__(self, backbone: HRNet, head: FaSRnetHead):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.backbone.requires_grad_(False)
        self.backbone.eval()

    def train(self, mode: bool = True) -> FaSRnet:
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor | None]:
        b, t, c, h, w = frames.shape
        if t != 3:
            raise ValueError(f"expected 3 frames (t-1, t, t+1), got {t}")
        with torch.no_grad():
            feats, hms = self.backbone(frames.transpose(0, 1).reshape(t * b, c, h, w))
        fp, fc, fn = feats.split(b)
        hp, hc, hn = hms.split(b)
        out = self.head(fp, fc, fn, hp, hc, hn)
        out["backbone"] = hc
        return out


def build_head(model: ModelParams | Mapping[str, Any], channels: int | None = None, variant: str | None = None,
               dcn_backend: DCNBackend | None = None) -> FaSRnetHead:
    """The one way the pipeline builds a head: the architecture ``model`` describes — ``params.model``, or the
    ``config.model`` dict a head checkpoint stores (one written before ``srm_width``/``residual`` existed gets the
    paper's head) — with ``channels`` feature channels (default ``backbone_width``), ``variant`` (a run's; default
    the model's) and ``dcn_backend`` (default the model's; the backends are numerically equivalent, so a
    checkpoint's head may run on another)."""
    m = model if isinstance(model, Mapping) else model.model_dump()
    return FaSRnetHead(
        int(channels if channels is not None else m["backbone_width"]),
        variant=variant if variant is not None else m["variant"],
        srm_dilations=tuple(m["srm_dilations"]),
        offset_conv=m["offset_conv"],
        init_std=m["init_std"],
        dcn_backend=dcn_backend if dcn_backend is not None else m["dcn_backend"],
        srm_width=m.get("srm_width", COMBINE_CHANNELS),
        residual=m.get("residual", False),
    )

