"""fasrnet/data/views.py's augmentation: HRNet's half-body box against hand-worked cases of the official formula
(its quirks included), and the draw order that leaves views without half-body exactly as they were."""

import numpy as np
import pytest

from fasrnet.codecs.heatmap import HeatmapCodec
from fasrnet.data.views import Augmentation, PersonBox, draw_augmentation, half_body_box, view_geometry
from fasrnet.params import CropsParams, HeatmapParams


class _Normal:
    """An rng whose standard normal draws are given: the upper/lower choice of ``half_body_box``."""

    def __init__(self, *normals):
        self.normals = list(normals)

    def standard_normal(self):
        return self.normals.pop(0)


def _person(points):
    """A GT person with ``points`` {slot: (x, y)} annotated, the other slots absent."""
    kps = np.zeros((17, 3))
    present = np.zeros(17, dtype=bool)
    for k, (x, y) in points.items():
        kps[k] = (x, y, 1)
        present[k] = True
    return kps, present


BODY = {5: (10, 20), 6: (30, 20), 9: (10, 60), 10: (30, 60),  # shoulders and wrists: the upper body
        11: (12, 80), 12: (28, 80), 13: (12, 100), 14: (28, 100), 15: (12, 120), 16: (28, 120)}  # the lower


def test_upper_body_when_the_normal_draw_is_below_one_half():
    kps, vis = _person(BODY)
    # upper: mean (20, 40); extent 20 x 40, widened to 0.75 x 40 = 30; x 1.5
    center, scale = half_body_box(kps, vis, _Normal(0.3), 0.75)
    assert np.allclose(center, [20, 40]) and np.allclose(scale, [45, 60])


def test_lower_body_otherwise():
    kps, vis = _person(BODY)
    # lower: mean (20, 100); extent 16 x 40 -> 30 x 40; x 1.5. A draw of 0.5 is not below 0.5.
    for z in (0.7, 0.5, 3.0):
        center, scale = half_body_box(kps, vis, _Normal(z), 0.75)
        assert np.allclose(center, [20, 100]) and np.allclose(scale, [45, 60])


def test_a_wide_selection_is_heightened_to_the_aspect_ratio():
    kps, vis = _person({5: (0, 0), 6: (100, 0), 7: (0, 10), 8: (100, 10)})
    center, scale = half_body_box(kps, vis, _Normal(0.0), 0.75)
    # extent 100 x 10 -> 100 x 133.33; x 1.5
    assert np.allclose(center, [50, 5]) and np.allclose(scale, [150, 200])


def test_quirks_two_joints_are_not_enough_to_be_chosen_but_enough_to_fall_back_on():
    # the upper body needs more than two joints to be chosen; the lower too; else the upper body, even with two
    kps, vis = _person({5: (0, 0), 6: (40, 0), 11: (0, 100), 12: (40, 100)})
    center, scale = half_body_box(kps, vis, _Normal(0.7), 0.75)  # lower asked for, has 2: upper taken
    assert np.allclose(center, [20, 0]) and np.allclose(scale, [60, 80])
    center, scale = half_body_box(kps, vis, _Normal(0.0), 0.75)  # upper asked for, has 2: lower has 2 too: upper
    assert np.allclose(center, [20, 0])
    kps, vis = _person({5: (0, 0), 11: (0, 100)})
    assert half_body_box(kps, vis, _Normal(0.0), 0.75) is None  # fewer than two: no box


def _params(**kw):
    return CropsParams(**kw)


def test_without_half_body_the_draws_are_the_former_ones():
    kps, vis = _person(BODY)
    pb = PersonBox(0, 0, 0, (0, 0, 40, 130), keypoints=kps, present=vis)
    p = _params()
    assert p.half_body_prob == 0.0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        s = float(np.clip(rng.standard_normal() * 0.35 + 1, 0.65, 1.35))
        g = float(np.clip(rng.standard_normal() * 45.0, -90.0, 90.0))
        r = g if rng.random() <= 0.6 else 0.0
        flip = bool(rng.random() < 0.5)
        assert draw_augmentation(np.random.default_rng(seed), p, pb, 0.75) == Augmentation(s, r, flip, None)


def test_half_body_draws_only_for_people_with_more_than_the_minimum_joints():
    kps, vis = _person(BODY)  # 10 visible joints
    pb = PersonBox(0, 0, 0, (0, 0, 40, 130), keypoints=kps, present=vis)
    off = draw_augmentation(np.random.default_rng(1), _params(), pb)
    # 10 joints are not more than 10: no draw for it, the same augmentation as without half-body
    assert draw_augmentation(np.random.default_rng(1), _params(half_body_prob=1.0, half_body_min_joints=10), pb) == off
    on = draw_augmentation(np.random.default_rng(1), _params(half_body_prob=1.0, half_body_min_joints=9), pb)
    assert on.half_body is not None
    # probability drawn, then the upper/lower normal, then scale, rotation, flip from the same stream
    rng = np.random.default_rng(1)
    assert rng.random() < 1.0
    z = rng.standard_normal()
    s = float(np.clip(rng.standard_normal() * 0.35 + 1, 0.65, 1.35))
    assert on.scale == s
    want = half_body_box(kps, vis, _Normal(z), 0.75)
    assert np.allclose(on.half_body[0], want[0]) and np.allclose(on.half_body[1], want[1])
    # a detection (no keypoints) never gets one
    det = PersonBox(0, 0, 0, (0, 0, 40, 130))
    assert draw_augmentation(np.random.default_rng(1), _params(half_body_prob=1.0), det) == off


@pytest.mark.parametrize("flip", [False, True])
def test_the_view_is_cut_around_the_half_body_box(flip):
    codec = HeatmapCodec.from_params(HeatmapParams(input_size=[128, 96]))
    kps, vis = _person(BODY)
    pb = PersonBox(0, 0, 0, (0, 0, 40, 130), keypoints=kps, present=vis)
    half = (np.array([20.0, 40.0]), np.array([45.0, 60.0]))
    view = view_geometry(pb, codec, Augmentation(1.0, 0.0, flip, half))
    assert np.allclose(view["center"], half[0]) and np.allclose(view["scale"], half[1])
    # the upper body fills the crop: shoulders and wrists inside, the lower body's joints outside (not visible)
    assert view["joints_vis"][[5, 6, 9, 10]].all() and not view["joints_vis"][[13, 14, 15, 16]].any()
