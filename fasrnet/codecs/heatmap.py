"""Crop geometry and the heatmap codec — the one place that defines how a person box becomes a network input
and how a heatmap peak becomes an image coordinate.

Conventions (those of HRNet/DCPose, so the official checkpoint sees what it was trained on):

- A box ``(x, y, w, h)`` becomes a **center** ``(x + w/2, y + h/2)`` and a **scale** ``(w, h)`` in image pixels,
  widened or heightened to the input aspect ratio, then enlarged by 25% (:func:`box_to_center_scale`). (HRNet
  stores the scale in units of 200 px; we keep pixels.)
- :func:`crop_transform` maps image pixels to crop pixels: the center goes to the crop's center ``(W/2, H/2)``,
  the scale to the crop size, rotated like HRNet's ``get_affine_transform``; ``flip`` mirrors the crop array
  (``x → W − 1 − x``), so a flipped crop is exactly ``crop[:, ::-1]``. Pixel centres are at integer coordinates
  (``cv2.warpAffine``'s convention).
- Heatmap coordinates are crop coordinates divided by the stride (4): ``x_hm = x_in / 4`` (HRNet's targets), so
  the same :func:`crop_transform` with the heatmap size maps image points straight to heatmap points.
- Targets (:func:`encode`): a Gaussian of peak 1 and standard deviation ``sigma`` (heatmap pixels), cut at
  3σ, centred on the joint — at its sub-pixel position by default, or at the rounded pixel as the official
  code does (``subpixel=False``); target weight = visibility, 0 when the window lies outside the heatmap.
- Decoding (:func:`decode`): argmax, then a quarter-pixel step toward the larger neighbour on each axis, where
  both neighbours exist; confidence = the heatmap maximum. With sub-pixel targets, decode(encode(p)) is within
  0.25 px of p at heatmap scale.
- Flip test (:func:`flip_back`, :func:`flip_average`): mirror the heatmaps of the flipped crop back, swap
  PoseTrack's left/right channels, shift one pixel right (HRNet's ``SHIFT_HEATMAP``), average.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from fasrnet.keypoints import FLIP_PAIRS

if TYPE_CHECKING:
    from fasrnet.params import HeatmapParams

#: Heatmaps are 1/STRIDE of the network input (HRNet's output stride; ``fasrnet.models.hrnet`` builds to it).
STRIDE = 4
#: The box enlargement of the paper ("enlarged by 25%") and of the official code.
BOX_ENLARGE = 1.25
#: The heatmap height at which ``heatmap.sigma`` is stated (the paper's 96×72 grid).
SIGMA_REFERENCE_HEIGHT = 96


# --------------------------------------------------------------------------------------------------------------
# Crop geometry


def box_to_center_scale(
    box: Sequence[float], aspect_ratio: float, enlarge: float = BOX_ENLARGE
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y, w, h)`` → ``(center (2,), scale (2,) = (w, h) in pixels)``.

    ``aspect_ratio`` is the crop's width / height (0.75 for 288×384): the box grows along one axis to match it,
    then both sides are multiplied by ``enlarge``.
    """
    x, y, w, h = (float(v) for v in box)
    if aspect_ratio <= 0:
        raise ValueError(f"aspect_ratio must be positive, got {aspect_ratio}")
    center = np.array([x + w * 0.5, y + h * 0.5], dtype=np.float64)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    else:
        w = h * aspect_ratio
    return center, np.array([w, h], dtype=np.float64) * enlarge


def crop_transform(
    center: Sequence[float],
    scale: Sequence[float],
    output_size: Sequence[int],
    rotation: float = 0.0,
    flip: bool = False,
    inverse: bool = False,
) -> np.ndarray:
    """The 2×3 affine matrix from image pixels to crop pixels (or back, with ``inverse``).

    ``output_size`` is ``(width, height)``; ``rotation`` in degrees, in the sense of HRNet's
    ``get_affine_transform`` (a positive angle turns the crop's content counter-clockwise on screen);
    ``flip`` mirrors the crop horizontally (``x → width − 1 − x``). Use with ``cv2.warpAffine(img, M, (w, h))``.
    """
    cx, cy = float(center[0]), float(center[1])
    sw, sh = float(scale[0]), float(scale[1])
    ow, oh = float(output_size[0]), float(output_size[1])
    if sw <= 0 or sh <= 0:
        raise ValueError(f"scale must be positive, got {tuple(scale)}")
    theta = math.radians(rotation)
    c, s = math.cos(theta), math.sin(theta)
    # dst = D · R(−θ) · (src − center) + (ow/2, oh/2)
    linear = np.array([[ow / sw, 0.0], [0.0, oh / sh]]) @ np.array([[c, s], [-s, c]])
    offset = np.array([ow * 0.5, oh * 0.5]) - linear @ np.array([cx, cy])
    if flip:
        linear = np.array([[-1.0, 0.0], [0.0, 1.0]]) @ linear
        offset = np.array([ow - 1.0 - offset[0], offset[1]])
    matrix = np.concatenate([linear, offset[:, None]], axis=1)
    return invert_affine(matrix) if inverse else matrix


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2×3 affine matrix."""
    full = np.vstack([np.asarray(matrix, dtype=np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def apply_affine(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2×3 matrix to ``(..., 2)`` points."""
    pts = np.asarray(points, dtype=np.float64)
    m = np.asarray(matrix, dtype=np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def heatmap_to_image(
    coords: np.ndarray,
    center: Sequence[float],
    scale: Sequence[float],
    heatmap_size: Sequence[int],
    rotation: float = 0.0,
) -> np.ndarray:
    """Heatmap coordinates ``(..., 2)`` of a crop → image pixels, through the crop's inverse affine."""
    inv = crop_transform(center, scale, heatmap_size, rotation=rotation, inverse=True)
    return apply_affine(coords, inv)


# --------------------------------------------------------------------------------------------------------------
# Targets


def effective_sigma(sigma: float, heatmap_height: int) -> float:
    """``heatmap.sigma`` is stated for a 96-pixel-high heatmap (paper/code); scale it to ``heatmap_height``."""
    return float(sigma) * heatmap_height / SIGMA_REFERENCE_HEIGHT


def encode(
    joints: np.ndarray,
    visible: np.ndarray,
    heatmap_size: Sequence[int],
    sigma: float,
    stride: float = STRIDE,
    subpixel: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian targets ``(J, H, W)`` float32 and target weights ``(J,)`` float32.

    ``joints`` ``(J, 2)`` are in crop (network input) pixels, ``visible`` ``(J,)`` truthy where the joint is
    labelled visible; ``heatmap_size`` is ``(width, height)``; ``sigma`` in heatmap pixels.
    """
    joints = np.asarray(joints, dtype=np.float64).reshape(-1, 2)
    vis = np.asarray(visible).reshape(-1).astype(bool)
    if len(vis) != len(joints):
        raise ValueError(f"{len(joints)} joints but {len(vis)} visibility flags")
    target, weight = encode_batch(joints[None], vis[None], heatmap_size, sigma, stride, subpixel)
    return target[0], weight[0]


def encode_batch(
    joints: np.ndarray,
    visible: np.ndarray,
    heatmap_size: Sequence[int],
    sigma: float,
    stride: float = STRIDE,
    subpixel: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`encode` of ``N`` crops at once: ``joints`` ``(N, J, 2)``, ``visible`` ``(N, J)`` → targets
    ``(N, J, H, W)`` float32 and weights ``(N, J)`` float32. Per joint: a Gaussian of ``sigma`` at the joint /
    ``stride`` (rounded to a pixel unless ``subpixel``), cut at 3σ, weight 1; zero and weight 0 for a joint not
    visible, not finite, or whose window misses the heatmap. float64 maths, vectorised over crops and joints (a
    training step no longer loops in Python), cast to float32."""
    w, h = int(heatmap_size[0]), int(heatmap_size[1])
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[-1] != 2:
        raise ValueError(f"joints must be (N, J, 2), got shape {joints.shape}")
    vis = np.asarray(visible).astype(bool).reshape(joints.shape[:2])
    radius = 3.0 * sigma
    with np.errstate(invalid="ignore"):
        mx, my = joints[..., 0] / stride, joints[..., 1] / stride
        if not subpixel:
            mx, my = np.trunc(mx + 0.5), np.trunc(my + 0.5)  # int(v + 0.5), as encode
        ok = vis & np.isfinite(mx) & np.isfinite(my)
        ok &= ~((mx + radius < 0) | (my + radius < 0) | (mx - radius > w - 1) | (my - radius > h - 1))
    mx, my = np.where(ok, mx, 0.0), np.where(ok, my, 0.0)
    dx = np.arange(w, dtype=np.float64) - mx[..., None]
    dy = np.arange(h, dtype=np.float64) - my[..., None]
    gx = np.where(np.abs(dx) <= radius, np.exp(-(dx**2) / (2 * sigma**2)), 0.0)
    gy = np.where(np.abs(dy) <= radius, np.exp(-(dy**2) / (2 * sigma**2)), 0.0)
    target = (gy[..., :, None] * gx[..., None, :]).astype(np.float32)
    target[~ok] = 0.0
    return target, ok.astype(np.float32)


def encode_batch_torch(
    joints: torch.Tensor,
    visible: torch.Tensor,
    heatmap_size: Sequence[int],
    sigma: float,
    stride: float = STRIDE,
    subpixel: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`encode_batch` on the tensors' device (a GPU's targets never cross the host): the same float64 maths,
    cast to float32. ``joints`` ``(N, J, 2)``, ``visible`` ``(N, J)`` → targets ``(N, J, H, W)``, weights
    ``(N, J)``. Equal to :func:`encode_batch` up to the last bit of ``exp`` (the two libraries' float64 ``exp``
    may round differently): the CPU pipeline keeps the numpy one."""
    w, h = int(heatmap_size[0]), int(heatmap_size[1])
    if joints.ndim != 3 or joints.shape[-1] != 2:
        raise ValueError(f"joints must be (N, J, 2), got shape {tuple(joints.shape)}")
    j = joints.to(torch.float64)
    vis = visible.reshape(j.shape[:2]).to(torch.bool)
    radius = 3.0 * sigma
    mx, my = j[..., 0] / stride, j[..., 1] / stride
    if not subpixel:
        mx, my = torch.trunc(mx + 0.5), torch.trunc(my + 0.5)
    ok = vis & torch.isfinite(mx) & torch.isfinite(my)
    ok &= ~((mx + radius < 0) | (my + radius < 0) | (mx - radius > w - 1) | (my - radius > h - 1))
    zero = torch.zeros((), dtype=torch.float64, device=j.device)
    mx, my = torch.where(ok, mx, zero), torch.where(ok, my, zero)
    dx = torch.arange(w, dtype=torch.float64, device=j.device) - mx[..., None]
    dy = torch.arange(h, dtype=torch.float64, device=j.device) - my[..., None]
    gx = torch.where(dx.abs() <= radius, torch.exp(-(dx * dx) / (2 * sigma**2)), zero)
    gy = torch.where(dy.abs() <= radius, torch.exp(-(dy * dy) / (2 * sigma**2)), zero)
    target = (gy[..., :, None] * gx[..., None, :]).to(torch.float32)
    target[~ok] = 0.0
    return target, ok.to(torch.float32)


# --------------------------------------------------------------------------------------------------------------
# Decoding


def _as_numpy(heatmaps: Any) -> np.ndarray:
    if isinstance(heatmaps, torch.Tensor):
        return heatmaps.detach().float().cpu().numpy()
    return np.asarray(heatmaps, dtype=np.float32)


def decode(heatmaps: Any, shift: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """``(N, J, H, W)`` heatmaps → ``(coords (N, J, 2) in heatmap pixels, maxvals (N, J))``.

    Argmax, then ``shift`` pixels toward the larger neighbour on each axis (where both neighbours exist).
    A heatmap whose maximum is not positive decodes to (0, 0), as in HRNet.
    """
    hm = _as_numpy(heatmaps)
    if hm.ndim != 4:
        raise ValueError(f"expected (N, J, H, W) heatmaps, got shape {hm.shape}")
    n, j, h, w = hm.shape
    flat = hm.reshape(n, j, -1)
    idx = flat.argmax(axis=2)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0]
    px, py = idx % w, idx // w
    coords = np.stack([px, py], axis=-1).astype(np.float64)
    ni, ji = np.meshgrid(np.arange(n), np.arange(j), indexing="ij")
    inner_x = (px > 0) & (px < w - 1)
    inner_y = (py > 0) & (py < h - 1)
    dx = np.zeros((n, j))
    dy = np.zeros((n, j))
    dx[inner_x] = hm[ni[inner_x], ji[inner_x], py[inner_x], px[inner_x] + 1] - \
        hm[ni[inner_x], ji[inner_x], py[inner_x], px[inner_x] - 1]
    dy[inner_y] = hm[ni[inner_y], ji[inner_y], py[inner_y] + 1, px[inner_y]] - \
        hm[ni[inner_y], ji[inner_y], py[inner_y] - 1, px[inner_y]]
    coords[..., 0] += np.sign(dx) * shift
    coords[..., 1] += np.sign(dy) * shift
    coords[maxvals <= 0] = 0.0
    return coords, maxvals.astype(np.float64)


def flip_back(
    heatmaps: torch.Tensor, flip_pairs: Sequence[tuple[int, int]] = FLIP_PAIRS, shift_pixel: bool = True
) -> torch.Tensor:
    """Heatmaps ``(N, J, H, W)`` predicted on horizontally flipped crops → the unflipped frame: mirror the
    width axis, swap left/right channels, and (HRNet's ``SHIFT_HEATMAP``) move one pixel right, which
    compensates the ¾-pixel offset between mirroring the input and mirroring the stride-4 heatmap."""
    out = torch.flip(heatmaps, dims=[-1])
    perm = list(range(out.shape[1]))
    for a, b in flip_pairs:
        perm[a], perm[b] = b, a
    out = out[:, perm]
    if shift_pixel:
        out = torch.cat([out[..., :1], out[..., :-1]], dim=-1)
    return out


def flip_average(
    heatmaps: torch.Tensor, flipped_heatmaps: torch.Tensor, flip_pairs: Sequence[tuple[int, int]] = FLIP_PAIRS
) -> torch.Tensor:
    """The flip-test heatmaps: mean of the plain prediction and the flipped-back prediction on mirrored crops."""
    return 0.5 * (heatmaps + flip_back(flipped_heatmaps, flip_pairs))


# --------------------------------------------------------------------------------------------------------------
# Codec bound to params


@dataclass(frozen=True)
class HeatmapCodec:
    """The crop and heatmap geometry of one setting. ``input_size`` is ``(height, width)`` (as in params)."""

    input_size: tuple[int, int] = (128, 96)
    sigma: float = 3.0  # stated at a 96-pixel-high heatmap; see effective_sigma
    shift: float = 0.25
    subpixel: bool = True
    enlarge: float = BOX_ENLARGE
    stride: int = STRIDE

    @classmethod
    def from_params(cls, params: HeatmapParams) -> HeatmapCodec:
        return cls(
            input_size=(params.input_size[0], params.input_size[1]),
            sigma=params.sigma,
            shift=params.shift,
            subpixel=params.target == "subpixel",
            enlarge=params.box_enlarge,
        )

    @property
    def input_wh(self) -> tuple[int, int]:
        return self.input_size[1], self.input_size[0]

    @property
    def heatmap_wh(self) -> tuple[int, int]:
        return self.input_size[1] // self.stride, self.input_size[0] // self.stride

    @property
    def aspect_ratio(self) -> float:
        return self.input_size[1] / self.input_size[0]

    @property
    def heatmap_sigma(self) -> float:
        return effective_sigma(self.sigma, self.heatmap_wh[1])

    def box_to_center_scale(self, box: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        return box_to_center_scale(box, self.aspect_ratio, self.enlarge)

    def crop_transform(self, center: Sequence[float], scale: Sequence[float], rotation: float = 0.0,
                       flip: bool = False) -> np.ndarray:
        """Image → network-input crop."""
        return crop_transform(center, scale, self.input_wh, rotation, flip)

    def encode(self, joints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Joints in crop pixels → (targets (J, h, w), weights (J,))."""
        return encode(joints, visible, self.heatmap_wh, self.heatmap_sigma, self.stride, self.subpixel)

    def encode_batch(self, joints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Joints of N crops ``(N, J, 2)`` → (targets (N, J, h, w), weights (N, J)); see :func:`encode_batch`."""
        return encode_batch(joints, visible, self.heatmap_wh, self.heatmap_sigma, self.stride, self.subpixel)

    def encode_tensors(self, joints: np.ndarray, visible: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`encode_batch` as CPU tensors: the training targets of head training and backbone pretraining."""
        t, w = self.encode_batch(np.asarray(joints), np.asarray(visible))
        return torch.from_numpy(t), torch.from_numpy(w)

    def encode_on_device(self, joints: torch.Tensor, visible: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`encode_batch_torch` with this codec's settings, on the tensors' device."""
        return encode_batch_torch(joints, visible, self.heatmap_wh, self.heatmap_sigma, self.stride, self.subpixel)

    def decode(self, heatmaps: Any) -> tuple[np.ndarray, np.ndarray]:
        """(N, J, h, w) → (heatmap coords (N, J, 2), maxvals (N, J))."""
        return decode(heatmaps, self.shift)

    def to_image(self, coords: np.ndarray, center: Sequence[float], scale: Sequence[float],
                 rotation: float = 0.0) -> np.ndarray:
        """Heatmap coords of one crop → image pixels."""
        return heatmap_to_image(coords, center, scale, self.heatmap_wh, rotation)


def joints_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Visibility-weighted heatmap MSE: ``pred``/``target`` B×J×H×W, ``weight`` B×J (or B×J×1). Per joint the mean
    over batch × pixels of ``((pred − target) · v_j)²``, averaged over the joints (no ½, as DCPose/FaSRnet); the
    loss of backbone pretraining and each term of the head's loss (fasrnet.models.loss)."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    w = weight.reshape(weight.shape[0], weight.shape[1], 1, 1).to(pred.dtype)
    return (((pred - target) * w) ** 2).mean()
