"""One inference path: crops → frozen backbone → head → scored heatmaps, on one device (docs/gpu.md).

``fasrnet extract``, ``fasrnet predict``, online head training (``train.online_backbone``) and ``fasrnet demo`` run
the networks through this module, so each gets the device-side treatment once:

- :class:`BackboneRunner`: the frozen backbone prepared for its device and precision (``extract.precision``: fp32;
  fp16 or bf16 with channels_last tensors, tensor cores' layout; ``auto`` = fp16 on CUDA, fp32 on a CPU) and
  optionally compiled. It takes uint8 crops wherever they are and returns the feature cache's fp16 features and
  heatmaps *on the device*: nothing goes through the host or numpy on the way.
- :func:`head_forward` and :func:`scored_heatmaps`: the head on frames t−1, t, t+1 under the training precision
  (``train.precision``, ``train.channels_last``), its outputs as fp32; head training's step, prediction and the
  demo run the same call.
- :func:`to_host`: a device tensor copied into host memory without stalling the device (pinned memory, a side
  stream), for the one place results leave it: a shard or a prediction file.

On a CPU every function is the computation the pipeline ran before (fp32, default layout), so the embedded
default's bytes do not change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import torch

from fasrnet.models.hrnet import HRNet

#: ImageNet normalisation of RGB inputs in [0, 1] (HRNet/DCPose).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
#: The precision of the backbone's outputs everywhere they are kept (the feature cache, online training, the demo).
OUTPUT_DTYPE = torch.float16
#: ``extract.precision`` values and the dtype each runs the backbone in (``auto``: :func:`resolve_precision`).
PRECISIONS: Mapping[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(..., 3, H, W)`` RGB → float, ImageNet-normalised."""
    mean = torch.tensor(MEAN, device=images.device).view(3, 1, 1)
    std = torch.tensor(STD, device=images.device).view(3, 1, 1)
    return (images.float() / 255.0 - mean) / std


def resolve_precision(precision: str, device: torch.device) -> str:
    """``extract.precision`` on ``device``: ``auto`` is fp16 on CUDA (the feature cache's own precision), fp32
    elsewhere (a CPU has no fast half-precision convolutions)."""
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be auto or one of {sorted(PRECISIONS)}, got {precision!r}")
    return precision


class BackboneRunner:
    """The frozen ``backbone`` ready to run on ``device``: eval mode, no gradients; in fp16 or bf16 its weights
    are cast and its inputs laid out channels_last; with ``compile``, ``torch.compile``'d (the first batch
    compiles). ``runner(images)``: uint8 crops ``(B, T, 3, H, W)`` → features ``(B, T, C, h, w)`` and heatmaps
    ``(B, T, J, h, w)``, fp16, on ``device``.

    ``bn_train`` (``backbone.bn: train``, the official code's way): BatchNorm normalises each call's B·T frames with
    their own statistics and moves its running statistics toward them (the checkpoint's momentum); the weights stay
    fp32 (a half precision runs as autocast) so the running statistics accumulate in fp32."""

    def __init__(self, backbone: HRNet, device: torch.device, precision: str = "auto", compile: bool = False,
                 bn_train: bool = False):
        self.device = device
        self.precision = resolve_precision(precision, device)
        self.dtype = PRECISIONS[self.precision]
        self.channels_last = self.dtype != torch.float32
        self.bn_train = bn_train
        net = backbone.train(bn_train).requires_grad_(False).to(device)
        if self.dtype != torch.float32 and not bn_train:
            net = net.to(self.dtype)
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        self.backbone = net
        self.forward: Any = torch.compile(net) if compile else net
        self.out_channels = backbone.out_channels
        self.num_joints = backbone.num_joints

    def describe(self) -> str:
        """The settings, for a progress line or a record: ``fp16, channels_last``."""
        return self.precision + (", channels_last" if self.channels_last else "") + (
            ", compiled" if self.forward is not self.backbone else "")

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, flip: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 ``(B, T, 3, H, W)`` (host or device; pinned host memory is copied without blocking) → fp16
        ``feat (B, T, C, h, w)`` and ``heatmap (B, T, J, h, w)`` on the device. ``flip``: the crops mirrored
        left–right first (the flip test), on the device."""
        b, t = images.shape[:2]
        x = images.to(self.device, non_blocking=True)
        if flip:
            x = torch.flip(x, dims=[-1])
        # one layout whatever the crops' strides: a CPU convolution's bits depend on its input's layout
        x = normalize(x.flatten(0, 1))
        if not self.bn_train:
            x = x.to(self.dtype)
        x = x.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        if self.bn_train and self.dtype != torch.float32:
            with torch.autocast(self.device.type, dtype=self.dtype):
                feat, hm = self.forward(x)
        else:
            feat, hm = self.forward(x)
        return (feat.reshape(b, t, *feat.shape[1:]).to(OUTPUT_DTYPE),
                hm.reshape(b, t, *hm.shape[1:]).to(OUTPUT_DTYPE))


def step_precision(precision: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """What the head's forward runs under: bf16 autocast for ``train.precision: bf16``, else nothing."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def head_forward(model: torch.nn.Module, feat: torch.Tensor, hm: torch.Tensor, channels_last: bool = False,
                 precision: contextlib.AbstractContextManager[Any] | None = None) -> dict[str, torch.Tensor | None]:
    """The head on a batch ``feat (B,3,C,h,w)``, ``hm (B,3,J,h,w)``: frames t−1, t, t+1 (as channels_last tensors
    if asked) under ``precision`` (:func:`step_precision`; none: fp32); its outputs as fp32, so a loss is computed
    in fp32. Training's step, prediction, the demo and ``benchmarks/gpu_check.py`` all run it."""
    frames = [x[:, k] for x in (feat, hm) for k in range(3)]
    if channels_last:
        frames = [f.contiguous(memory_format=torch.channels_last) for f in frames]
    with precision if precision is not None else contextlib.nullcontext():
        out = model(*frames)
    return {k: None if v is None else v.float() for k, v in out.items()}


def scored_heatmaps(head: torch.nn.Module | None, feat: torch.Tensor, hm: torch.Tensor, channels_last: bool = False,
                    precision: contextlib.AbstractContextManager[Any] | None = None) -> torch.Tensor:
    """The heatmaps scored for frame t from the backbone's outputs on t−1, t, t+1 (``feat`` (B, 3, C, h, w),
    ``hm`` (B, 3, J, h, w)) → (B, J, h, w) fp32: the head's refined ``pred`` (:func:`head_forward`), or with
    ``head=None`` the backbone's own heatmap of frame t (the single-frame baseline)."""
    if head is None:
        return hm[:, 1].float()
    pred = head_forward(head, feat.float(), hm.float(), channels_last, precision)["pred"]
    assert pred is not None
    return pred


def to_host(tensor: torch.Tensor, out: torch.Tensor, stream: torch.cuda.Stream | None = None) -> None:
    """Copy ``tensor`` into the host tensor ``out`` (same shape). From a CUDA device into pinned memory the copy is
    queued on ``stream`` after the work that made ``tensor`` and returns at once: the device goes on with the next
    batch while the copy runs; the caller synchronises (an event, or ``stream.synchronize()``) before reading
    ``out``. Anything else is a plain copy."""
    if tensor.is_cuda and stream is not None and out.is_pinned():
        stream.wait_stream(torch.cuda.current_stream(tensor.device))
        with torch.cuda.stream(stream):
            out.copy_(tensor, non_blocking=True)
        tensor.record_stream(stream)  # its memory is not reused before the copy has read it
        return
    out.copy_(tensor)


def host_buffer(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """An empty host tensor for results of ``device``: pinned when ``device`` is CUDA (so :func:`to_host` does not
    block), ordinary memory on a CPU."""
    return torch.empty(shape, dtype=dtype, pin_memory=device.type == "cuda")
