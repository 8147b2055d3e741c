"""Networks and geometry: HRNet (official checkpoint layout), the heatmap codec, the FaSRnet head with every
ablation variant of Tables 6–8, and the loss. ``docs/model.md`` describes the network as built."""

from fasrnet.models.alignment import FeatureAlignment, ModulatedDeformConv, set_dcn_backend
from fasrnet.models.fasrnet import VARIANTS, FaSRnet, FaSRnetHead, VariantSpec, build_head, get_variant, init_head
from fasrnet.models.fusion import ConvFusion, TSAFusion
from fasrnet.models.heatmap import HeatmapCodec
from fasrnet.models.hrnet import (
    STRIDE,
    CheckpointError,
    HRNet,
    HRNetSpec,
    build_hrnet,
    load_backbone,
    load_state_into,
    normalize_state_dict,
)
from fasrnet.models.loss import FaSRnetLoss, fasrnet_loss, joints_mse
from fasrnet.models.semantic import SemanticRefinement

__all__ = [
    "STRIDE",
    "VARIANTS",
    "CheckpointError",
    "ConvFusion",
    "FaSRnet",
    "FaSRnetHead",
    "FaSRnetLoss",
    "FeatureAlignment",
    "HRNet",
    "HRNetSpec",
    "HeatmapCodec",
    "ModulatedDeformConv",
    "SemanticRefinement",
    "TSAFusion",
    "VariantSpec",
    "build_head",
    "build_hrnet",
    "fasrnet_loss",
    "get_variant",
    "init_head",
    "joints_mse",
    "load_backbone",
    "load_state_into",
    "normalize_state_dict",
    "set_dcn_backend",
]
