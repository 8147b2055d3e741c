"""HRNet pose network (Sun et al., 2019) for any width, with the official checkpoint's parameter layout.

The architecture is data (:class:`HRNetSpec`, :data:`HRNET_SPECS`, timm style): a stem of two stride-2 3×3
convs (64 channels), ``layer1`` (4 bottlenecks → 256 channels), then stages 2–4 of parallel branches at widths
``C, 2C, 4C, 8C`` joined by transitions and exchanged by fuse layers; the last module of stage 4 only fuses into
the highest-resolution branch. ``final_layer`` is the 1×1 conv C → J on that branch.

At width 48 ``state_dict()`` has exactly the keys and shapes of the official deep-high-resolution-net
``pose_hrnet_w48_384x288`` checkpoint (63,595,745 parameters; ``tests/models/hrnet_w48_384x288_state_dict.json``
lists them), so that file loads with ``strict=True``. :func:`load_backbone` also accepts the mmpose 0.x / 1.x layouts.

``forward(x)`` returns ``(feature, heatmaps)``: the stage-4 highest-resolution branch after its last fuse ReLU,
``B×C×H/4×W/4`` (non-negative), and ``final_layer`` on it, ``B×J×H/4×W/4`` (``docs/model.md``, §2).

Two deliberate generalisations, both identical to the official code at input sizes divisible by 32: fuse-layer
upsampling and transitions take their target size from the branch they feed (nearest-neighbour to that exact
size) instead of a fixed ``scale_factor``, so any input size works.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fasrnet.models.checkpoint import CheckpointError, check_finite_tensors, read_checkpoint

BN_MOMENTUM = 0.1
STEM_CHANNELS = 64


# --------------------------------------------------------------------------------------------------------------
# Architecture as data


@dataclass(frozen=True)
class StageSpec:
    """One HRNet stage: ``num_modules`` HR modules of ``num_branches`` parallel branches."""

    num_modules: int
    num_branches: int
    block: str  # "basic" | "bottleneck"
    num_blocks: tuple[int, ...]
    num_channels: tuple[int, ...]


@dataclass(frozen=True)
class HRNetSpec:
    """The whole network: stage 1 (``layer1``) and stages 2–4, plus the number of heatmap channels."""

    width: int
    stages: tuple[StageSpec, ...] = field(default=())
    num_joints: int = 17
    final_conv_kernel: int = 1
    stem_channels: int = STEM_CHANNELS

    @classmethod
    def for_width(cls, width: int, num_joints: int = 17) -> HRNetSpec:
        """The standard pose HRNet (the official w32/w48 configs) at any width ``C``: branches ``C·2^k``."""
        if width < 1:
            raise ValueError(f"HRNet width must be positive, got {width}")
        ch = tuple(width * 2**k for k in range(4))
        stages = (
            StageSpec(1, 1, "bottleneck", (4,), (64,)),
            StageSpec(1, 2, "basic", (4, 4), ch[:2]),
            StageSpec(4, 3, "basic", (4, 4, 4), ch[:3]),
            StageSpec(3, 4, "basic", (4, 4, 4, 4), ch),
        )
        return cls(width=width, stages=stages, num_joints=num_joints)

    @classmethod
    def lite(cls, width: int, num_joints: int = 17) -> HRNetSpec:
        """A shallow HRNet for CPU runs (the embedded default): the same four-branch design and tap, with a
        32-channel stem, a 2-bottleneck ``layer1`` of 16 planes (64 channels) and one module of 2 blocks per
        branch in stages 2–4 — about a quarter of the standard net's compute at the same width."""
        if width < 1:
            raise ValueError(f"HRNet width must be positive, got {width}")
        ch = tuple(width * 2**k for k in range(4))
        stages = (
            StageSpec(1, 1, "bottleneck", (2,), (16,)),
            StageSpec(1, 2, "basic", (2, 2), ch[:2]),
            StageSpec(1, 3, "basic", (2, 2, 2), ch[:3]),
            StageSpec(1, 4, "basic", (2, 2, 2, 2), ch),
        )
        return cls(width=width, stages=stages, num_joints=num_joints, stem_channels=32)

    @classmethod
    def named(cls, arch: str, width: int, num_joints: int = 17) -> HRNetSpec:
        """``arch`` ∈ :data:`HRNET_ARCHS` at ``width``."""
        if arch not in HRNET_ARCHS:
            raise ValueError(f"unknown HRNet architecture {arch!r}; expected one of {', '.join(HRNET_ARCHS)}")
        return getattr(cls, HRNET_ARCHS[arch])(width, num_joints)


#: Architecture families: ``standard`` is the official pose HRNet (any width); ``lite`` the CPU-sized one.
HRNET_ARCHS: dict[str, str] = {"standard": "for_width", "lite": "lite"}

#: Named variants (``hrnet_w48`` is the paper's backbone; the small ones serve the embedded default).
HRNET_SPECS: dict[str, HRNetSpec] = {
    f"hrnet_w{w}": HRNetSpec.for_width(w) for w in (8, 16, 18, 32, 48)
}


# --------------------------------------------------------------------------------------------------------------
# Blocks


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


def _make_blocks(block: type[BasicBlock] | type[Bottleneck], inplanes: int, planes: int, num: int) -> nn.Sequential:
    downsample = None
    if inplanes != planes * block.expansion:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, planes * block.expansion, 1, bias=False),
            nn.BatchNorm2d(planes * block.expansion, momentum=BN_MOMENTUM),
        )
    layers = [block(inplanes, planes, 1, downsample)]
    layers += [block(planes * block.expansion, planes) for _ in range(1, num)]
    return nn.Sequential(*layers)


class _Upsample(nn.Module):
    """Nearest-neighbour upsampling to the size of the branch being fed (parameter-free)."""

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return F.interpolate(x, size=size, mode="nearest")


class HRModule(nn.Module):
    """Parallel branches followed by the all-to-all fuse (only into branch 0 if not ``multi_scale_output``)."""

    def __init__(self, block: str, num_blocks: tuple[int, ...], in_channels: list[int],
                 num_channels: tuple[int, ...], multi_scale_output: bool = True):
        super().__init__()
        cls = BLOCKS[block]
        n = len(num_channels)
        self.num_branches = n
        self.multi_scale_output = multi_scale_output
        self.branches = nn.ModuleList(
            _make_blocks(cls, in_channels[i], num_channels[i], num_blocks[i]) for i in range(n)
        )
        self.out_channels = [c * cls.expansion for c in num_channels]
        ch = self.out_channels
        fuse: list[nn.ModuleList] = []
        if n > 1:
            for i in range(n if multi_scale_output else 1):
                row: list[nn.Module | None] = []
                for j in range(n):
                    if j > i:
                        row.append(nn.Sequential(
                            nn.Conv2d(ch[j], ch[i], 1, bias=False),
                            nn.BatchNorm2d(ch[i], momentum=BN_MOMENTUM),
                            _Upsample(),
                        ))
                    elif j == i:
                        row.append(None)
                    else:
                        downs: list[nn.Module] = []
                        for k in range(i - j):
                            last = k == i - j - 1
                            cout = ch[i] if last else ch[j]
                            parts: list[nn.Module] = [
                                _conv3x3(ch[j], cout, stride=2), nn.BatchNorm2d(cout, momentum=BN_MOMENTUM)
                            ]
                            if not last:
                                parts.append(nn.ReLU(inplace=True))
                            downs.append(nn.Sequential(*parts))
                        row.append(nn.Sequential(*downs))
                fuse.append(nn.ModuleList(row))
        self.fuse_layers = nn.ModuleList(fuse) if fuse else None
        self.relu = nn.ReLU(inplace=True)

    @staticmethod
    def _fuse_input(layer: nn.Module, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if isinstance(layer, nn.Sequential) and isinstance(layer[-1], _Upsample):
            return layer[-1](layer[1](layer[0](x)), size)
        return layer(x)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if self.fuse_layers is None:
            return xs
        out = []
        for i, row in enumerate(self.fuse_layers):
            size = (xs[i].shape[-2], xs[i].shape[-1])
            y = xs[i]
            for j, layer in enumerate(row):
                if j != i:
                    y = y + self._fuse_input(layer, xs[j], size)
            out.append(self.relu(y))
        return out


def _make_transition(pre: list[int], cur: tuple[int, ...]) -> nn.ModuleList:
    layers: list[nn.Module | None] = []
    for i, c in enumerate(cur):
        if i < len(pre):
            if c != pre[i]:
                layers.append(nn.Sequential(
                    _conv3x3(pre[i], c), nn.BatchNorm2d(c, momentum=BN_MOMENTUM), nn.ReLU(inplace=True)
                ))
            else:
                layers.append(None)
        else:
            downs = []
            for k in range(i + 1 - len(pre)):
                cin = pre[-1]
                cout = c if k == i - len(pre) else cin
                downs.append(nn.Sequential(
                    _conv3x3(cin, cout, stride=2), nn.BatchNorm2d(cout, momentum=BN_MOMENTUM), nn.ReLU(inplace=True)
                ))
            layers.append(nn.Sequential(*downs))
    return nn.ModuleList(layers)


class HRNet(nn.Module):
    """HRNet pose network. ``forward(x: B×3×H×W) -> (feature B×C×H/4×W/4, heatmaps B×J×H/4×W/4)``."""

    def __init__(self, spec: HRNetSpec | int):
        super().__init__()
        if isinstance(spec, int):
            spec = HRNetSpec.for_width(spec)
        self.spec = spec
        self.width = spec.width
        self.num_joints = spec.num_joints
        stem = spec.stem_channels
        self.conv1 = nn.Conv2d(3, stem, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(stem, stem, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(stem, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)

        s1 = spec.stages[0]
        block1 = BLOCKS[s1.block]
        self.layer1 = _make_blocks(block1, stem, s1.num_channels[0], s1.num_blocks[0])
        pre = [s1.num_channels[0] * block1.expansion]
        for k, stage in enumerate(spec.stages[1:], start=2):
            expansion = BLOCKS[stage.block].expansion
            cur = tuple(c * expansion for c in stage.num_channels)
            setattr(self, f"transition{k - 1}", _make_transition(pre, cur))
            last_stage = k == len(spec.stages)
            modules = []
            inch = list(cur)
            for m in range(stage.num_modules):
                multi = not (last_stage and m == stage.num_modules - 1)
                module = HRModule(stage.block, stage.num_blocks, inch, stage.num_channels, multi)
                inch = module.out_channels
                modules.append(module)
            setattr(self, f"stage{k}", nn.Sequential(*modules))
            pre = inch
        self.out_channels = pre[0]
        self.final_layer = nn.Conv2d(
            pre[0], spec.num_joints, spec.final_conv_kernel, padding=1 if spec.final_conv_kernel == 3 else 0
        )
        self.num_stages = len(spec.stages)
        self.init_weights()

    def init_weights(self) -> None:
        """The official random init (conv N(0, 0.001), BN 1/0); real use loads a checkpoint over it."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The stage-4 highest-resolution branch after the last fuse ReLU (B×C×H/4×W/4)."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]
        for k in range(2, self.num_stages + 1):
            transition = getattr(self, f"transition{k - 1}")
            xs = []
            for i, layer in enumerate(transition):
                if layer is None:
                    xs.append(ys[i])
                else:
                    xs.append(layer(ys[i] if i < len(ys) else ys[-1]))
            for module in getattr(self, f"stage{k}"):
                xs = module(xs)
            ys = xs
        return ys[0]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = self.forward_features(x)
        return feature, self.final_layer(feature)


def build_hrnet(width: int, num_joints: int = 17, arch: str = "standard") -> HRNet:
    """HRNet-W``width`` of architecture family ``arch`` with ``num_joints`` heatmaps (random init)."""
    return HRNet(HRNetSpec.named(arch, width, num_joints))


# --------------------------------------------------------------------------------------------------------------
# Checkpoints

#: Head prefixes of the layouts we accept, mapped to the official ``final_layer.``.
_HEAD_PREFIXES = ("keypoint_head.final_layer.", "head.final_layer.")


def _unwrap(obj: Any, source: str) -> dict[str, torch.Tensor]:
    """Find the tensor mapping inside a checkpoint object (``state_dict`` / ``model`` wrappers)."""
    for _ in range(3):
        if isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
        if isinstance(obj, Mapping):
            for key in ("state_dict", "model", "module"):
                if key in obj and isinstance(obj[key], Mapping):
                    obj = obj[key]
                    break
            else:
                break
        else:
            break
    raise CheckpointError(
        f"{source}: no state dict found (expected a mapping of tensors, possibly under 'state_dict')"
    )


def normalize_state_dict(state: Mapping[str, Any], source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Map any accepted layout to the official deep-high-resolution-net key names.

    Accepted: the official layout (optionally every key prefixed ``module.``, as DataParallel saves it); mmpose
    0.x (``backbone.*`` + ``keypoint_head.final_layer.*``); mmpose 1.x (``backbone.*`` + ``head.final_layer.*``);
    any of these inside a ``state_dict`` (or ``model``) wrapper. Keys outside these prefixes are kept as they are
    so that the strict load reports them as unexpected.
    """
    sd = _unwrap(state, source)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    if any(k.startswith("backbone.") for k in sd):
        out: dict[str, torch.Tensor] = {}
        for k, v in sd.items():
            if k.startswith("backbone."):
                out[k[len("backbone."):]] = v
                continue
            for prefix in _HEAD_PREFIXES:
                if k.startswith(prefix):
                    out["final_layer." + k[len(prefix):]] = v
                    break
            else:
                out[k] = v
        sd = out
    return sd


def _listing(keys: list[str], limit: int = 20) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", … ({len(keys) - limit} more)" if len(keys) > limit else "")


def load_state_into(model: nn.Module, state: Mapping[str, Any], source: str = "checkpoint") -> None:
    """Strictly load ``state`` (any accepted layout) into ``model``; errors list missing/unexpected keys and
    name the first key whose shape differs (which is what a checkpoint of another width looks like), or the
    first tensor with NaN / ±Inf entries (named as in ``state``)."""
    check_finite_tensors(_unwrap(state, source), source)
    sd = normalize_state_dict(state, source)
    own = model.state_dict()
    for key, value in own.items():
        if key in sd and tuple(sd[key].shape) != tuple(value.shape):
            width = getattr(model, "width", None)
            hint = f" (the network is HRNet-W{width}; is the checkpoint another width?)" if width else ""
            raise CheckpointError(
                f"{source}: shape mismatch at {key}: checkpoint {tuple(sd[key].shape)}, "
                f"network {tuple(value.shape)}{hint}"
            )
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {_listing(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {_listing(unexpected)}")
        raise CheckpointError(f"{source}: does not match the network: " + "; ".join(parts))
    model.load_state_dict(sd, strict=True)


def load_backbone(path: str | Path, width: int, num_joints: int = 17, arch: str = "standard",
                  recreate: str = "") -> HRNet:
    """Build HRNet-W``width`` (family ``arch``) and fill it from ``path`` (official, ``module.``-prefixed or
    mmpose layout); ``recreate`` as :func:`~fasrnet.models.checkpoint.read_checkpoint`'s."""
    model = build_hrnet(width, num_joints, arch)
    load_state_into(model, read_checkpoint(path, recreate), source=str(path))
    return model


def to_mmpose(state: Mapping[str, torch.Tensor], version: int = 1) -> dict[str, torch.Tensor]:
    """Official-layout state dict → the mmpose layout (``version`` 0 or 1); the inverse of the loader's mapping."""
    head = "keypoint_head.final_layer." if version == 0 else "head.final_layer."
    return {
        (head + k[len("final_layer."):]) if k.startswith("final_layer.") else "backbone." + k: v
        for k, v in state.items()
    }
