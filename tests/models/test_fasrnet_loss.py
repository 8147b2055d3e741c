"""The loss (Eqs. 17–19): visibility-weighted MSE, alpha mixing, single-output variants."""

import pytest
import torch

from fasrnet.models.loss import FaSRnetLoss, fasrnet_loss, joints_mse


def test_loss_is_zero_for_perfect_heatmaps():
    target = torch.rand(3, 17, 8, 6)
    weight = torch.ones(3, 17)
    assert fasrnet_loss({"hr": target.clone(), "final": target.clone()}, target, weight) == 0


def test_invisible_joints_are_ignored():
    torch.manual_seed(0)
    target = torch.rand(2, 17, 8, 6)
    pred = target.clone()
    pred[0, 4] += 10.0  # wildly wrong, but invisible
    weight = torch.ones(2, 17)
    weight[0, 4] = 0
    assert joints_mse(pred, target, weight) == 0
    weight[0, 4] = 1
    assert joints_mse(pred, target, weight) > 0


def test_mse_is_the_mean_over_joints_of_the_per_joint_mean_without_a_half():
    pred = torch.zeros(1, 17, 2, 2)
    target = torch.zeros(1, 17, 2, 2)
    target[0, 0] = 2.0  # joint 0 off by 2 everywhere: per-joint mean 4
    assert torch.isclose(joints_mse(pred, target, torch.ones(1, 17)), torch.tensor(4.0 / 17))


def test_alpha_mixes_the_two_levels_and_single_output_variants_use_their_own():
    torch.manual_seed(0)
    target, weight = torch.rand(2, 17, 4, 4), torch.ones(2, 17)
    hr, final = torch.rand(2, 17, 4, 4), torch.rand(2, 17, 4, 4)
    l1, l2 = joints_mse(hr, target, weight), joints_mse(final, target, weight)
    mixed = FaSRnetLoss(0.4)({"hr": hr, "final": final}, target, weight)
    assert torch.isclose(mixed, 0.4 * l1 + 0.6 * l2)
    assert torch.equal(fasrnet_loss({"hr": hr, "final": None}, target, weight), l1)
    assert torch.equal(fasrnet_loss({"hr": None, "final": final}, target, weight), l2)
    with pytest.raises(ValueError):
        fasrnet_loss({"hr": None, "final": None}, target, weight)
    with pytest.raises(ValueError):
        FaSRnetLoss(1.5)
