"""Crop geometry and the heatmap codec: boxes, affine round trips, Gaussian targets, decoding, flip test."""

import cv2
import numpy as np
import pytest
import torch

from fasrnet.codecs.heatmap import (
    HeatmapCodec,
    apply_affine,
    box_to_center_scale,
    crop_transform,
    decode,
    effective_sigma,
    encode,
    flip_average,
    flip_back,
    heatmap_to_image,
    invert_affine,
)
from fasrnet.keypoints import FLIP_PAIRS
from fasrnet.params import HeatmapParams


def test_box_to_center_scale_matches_aspect_ratio_and_enlarges_by_25_percent():
    center, scale = box_to_center_scale((10, 20, 30, 100), aspect_ratio=0.75)
    assert np.allclose(center, (25, 70))
    assert np.allclose(scale, (75 * 1.25, 100 * 1.25))  # too narrow: widened to 0.75 * h
    center, scale = box_to_center_scale((0, 0, 90, 60), aspect_ratio=0.75, enlarge=1.0)
    assert np.allclose(scale, (90, 120))  # too wide: heightened to w / 0.75


def test_crop_transform_maps_center_to_crop_center_and_scale_to_size():
    m = crop_transform((100, 50), (60, 80), (96, 128))
    assert np.allclose(apply_affine(np.array([[100, 50], [130, 90]]), m), [[48, 64], [96, 128]])


@pytest.mark.parametrize("rotation", [0.0, 30.0, -72.5])
@pytest.mark.parametrize("flip", [False, True])
def test_affine_round_trip(rotation, flip):
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 300, size=(20, 2))
    m = crop_transform((150, 120), (90, 120), (96, 128), rotation=rotation, flip=flip)
    inv = crop_transform((150, 120), (90, 120), (96, 128), rotation=rotation, flip=flip, inverse=True)
    assert np.allclose(apply_affine(apply_affine(pts, m), inv), pts)
    assert np.allclose(invert_affine(m), inv)


def test_rotation_preserves_distances_up_to_scale():
    m = crop_transform((0, 0), (100, 100), (50, 50), rotation=40)
    a, b = apply_affine(np.array([[0.0, 0.0], [10.0, 0.0]]), m)
    assert np.isclose(np.linalg.norm(b - a), 5.0)


def test_flipped_crop_is_the_mirrored_array():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, size=(120, 160, 3), dtype=np.uint8)
    args = ((80.3, 61.7), (70, 93.3), (48, 64))
    plain = cv2.warpAffine(image, crop_transform(*args), (48, 64), flags=cv2.INTER_LINEAR)
    flipped = cv2.warpAffine(image, crop_transform(*args, flip=True), (48, 64), flags=cv2.INTER_LINEAR)
    assert np.abs(flipped.astype(int) - plain[:, ::-1].astype(int)).max() <= 1


def test_encode_decode_within_a_quarter_pixel_at_heatmap_scale():
    rng = np.random.default_rng(2)
    w, h, stride = 24, 32, 4
    joints_hm = rng.uniform(1.0, [w - 2.0, h - 2.0], size=(17, 2))
    target, weight = encode(joints_hm * stride, np.ones(17), (w, h), sigma=1.0, stride=stride)
    assert target.shape == (17, h, w) and target.dtype == np.float32 and (weight == 1).all()
    assert np.isclose(target.max(), 1.0, atol=0.2)
    coords, maxvals = decode(target[None])
    assert np.abs(coords[0] - joints_hm).max() <= 0.25 + 1e-9
    assert (maxvals > 0.5).all()


def test_round_targets_peak_exactly_one_at_the_rounded_pixel():
    target, _ = encode(np.array([[4 * 10.4, 4 * 7.6]]), [1], (24, 32), sigma=2.0, subpixel=False)
    assert target[0, 8, 10] == 1.0 and target.max() == 1.0


def test_target_weights_follow_visibility_and_the_heatmap_window():
    joints = np.array([[40.0, 40.0], [40.0, 40.0], [-200.0, 40.0], [40.0, 1000.0], [np.nan, 3.0]])
    target, weight = encode(joints, [1, 0, 1, 1, 1], (24, 32), sigma=1.0)
    assert weight.tolist() == [1, 0, 0, 0, 0]
    assert target[1:].max() == 0


def test_decode_handles_borders_and_non_positive_heatmaps():
    hm = np.zeros((1, 3, 8, 6), dtype=np.float32)
    hm[0, 0, 0, 5] = 1.0  # corner: no neighbours on two sides, no shift there
    hm[0, 0, 1, 5] = 0.5
    hm[0, 1, 4, 2] = 1.0
    hm[0, 1, 4, 3] = 0.3  # larger right neighbour → +0.25 in x
    coords, maxvals = decode(torch.from_numpy(hm))
    assert coords[0, 0].tolist() == [5.0, 0.0]
    assert coords[0, 1].tolist() == [2.25, 4.0]
    assert coords[0, 2].tolist() == [0.0, 0.0] and maxvals[0, 2] == 0


def test_image_keypoints_survive_crop_encode_decode_and_back():
    codec = HeatmapCodec(input_size=(128, 96), sigma=3.0)
    rng = np.random.default_rng(3)
    center, scale = codec.box_to_center_scale((50, 40, 60, 150))
    inside = rng.uniform([0.2, 0.2], [0.8, 0.8], size=(17, 2)) * scale + center - scale / 2
    m = codec.crop_transform(center, scale, rotation=15.0)
    target, weight = codec.encode(apply_affine(inside, m), np.ones(17))
    coords, _ = codec.decode(target[None])
    back = codec.to_image(coords[0], center, scale, rotation=15.0)
    pixel = scale[0] / codec.heatmap_wh[0]  # image pixels per heatmap pixel
    assert np.abs(back - inside).max() <= 0.25 * pixel * np.sqrt(2) + 1e-6


def test_heatmap_to_image_inverts_the_heatmap_scale_transform():
    center, scale = (200.0, 150.0), (90.0, 120.0)
    pts = np.array([[0.0, 0.0], [23.0, 31.0], [12.0, 16.0]])
    img = heatmap_to_image(pts, center, scale, (24, 32))
    assert np.allclose(apply_affine(img, crop_transform(center, scale, (24, 32))), pts)
    assert np.allclose(img[2], center)


def test_sigma_is_stated_at_a_96_pixel_heatmap():
    assert effective_sigma(3.0, 96) == 3.0 and effective_sigma(3.0, 32) == 1.0
    codec = HeatmapCodec.from_params(HeatmapParams(input_size=[128, 96]))
    assert codec.heatmap_wh == (24, 32) and codec.heatmap_sigma == 1.0 and codec.aspect_ratio == 0.75
    paper = HeatmapCodec.from_params(HeatmapParams(input_size=[384, 288]))
    assert paper.heatmap_wh == (72, 96) and paper.heatmap_sigma == 3.0


def test_flip_back_swaps_left_right_channels_and_mirrors():
    hm = torch.zeros(1, 17, 8, 6)
    hm[0, 5, 2, 1] = 1.0  # left shoulder seen at x=1 in the flipped crop
    back = flip_back(hm, shift_pixel=False)
    assert back[0, 6, 2, 4] == 1.0 and back[0, 5].sum() == 0  # right shoulder at x = 6 - 1 - 1
    shifted = flip_back(hm)
    assert shifted[0, 6, 2, 5] == 1.0


def test_flip_back_undoes_an_equivariant_prediction_and_flip_average_uses_it():
    torch.manual_seed(0)
    hm = torch.rand(2, 17, 8, 6)
    perm = list(range(17))
    for a, b in FLIP_PAIRS:
        perm[a], perm[b] = b, a
    on_mirrored_crop = torch.flip(hm, dims=[-1])[:, perm]
    assert torch.equal(flip_back(on_mirrored_crop, shift_pixel=False), hm)
    shifted = torch.cat([hm[..., :1], hm[..., :-1]], dim=-1)
    assert torch.allclose(flip_average(hm, on_mirrored_crop), 0.5 * (hm + shifted))


def _reference_encode(joints, vis, size, sigma, stride, subpixel):
    """The per-joint formula, written out (what the encoder computed before it was vectorised)."""
    w, h = size
    radius = 3.0 * sigma
    target, weight = np.zeros((len(joints), h, w), np.float32), np.zeros(len(joints), np.float32)
    for j, (x, y) in enumerate(np.asarray(joints, np.float64)):
        if not vis[j] or not (np.isfinite(x) and np.isfinite(y)):
            continue
        mx, my = x / stride, y / stride
        if not subpixel:
            mx, my = float(int(mx + 0.5)), float(int(my + 0.5))
        if mx + radius < 0 or my + radius < 0 or mx - radius > w - 1 or my - radius > h - 1:
            continue
        dx, dy = np.arange(w, dtype=np.float64) - mx, np.arange(h, dtype=np.float64) - my
        gx = np.where(np.abs(dx) <= radius, np.exp(-(dx**2) / (2 * sigma**2)), 0.0)
        gy = np.where(np.abs(dy) <= radius, np.exp(-(dy**2) / (2 * sigma**2)), 0.0)
        target[j], weight[j] = np.outer(gy, gx), 1.0
    return target, weight


@pytest.mark.parametrize("subpixel", [True, False])
def test_batch_encoding_is_bit_identical_to_the_per_joint_formula(subpixel):
    from fasrnet.codecs.heatmap import encode_batch

    rng = np.random.default_rng(0)
    joints = rng.uniform(-30, 100, (64, 17, 2))  # some far outside the heatmap window
    joints[0, 3] = np.nan
    joints[1, 4] = np.inf
    joints[2, 5] = (-0.7 * 4, 3.3 * 4)  # rounds toward zero at a negative coordinate, as int() does
    vis = rng.random((64, 17)) > 0.2
    target, weight = encode_batch(joints, vis, (16, 24), 0.75, 4, subpixel)
    ref = [_reference_encode(j, v, (16, 24), 0.75, 4, subpixel) for j, v in zip(joints, vis)]
    assert target.dtype == np.float32 and weight.dtype == np.float32
    assert np.array_equal(target, np.stack([t for t, _ in ref]))
    assert np.array_equal(weight, np.stack([w for _, w in ref]))
    assert 0 < weight.sum() < weight.size
    one = encode(joints[7], vis[7], (16, 24), 0.75, 4, subpixel)  # one crop: the same numbers
    assert np.array_equal(one[0], target[7]) and np.array_equal(one[1], weight[7])
