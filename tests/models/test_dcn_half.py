"""The grid_sample deformable convolution on bf16 inputs (what bf16 autocast hands it): sampling positions stay
float32, so a wide map is sampled where it should be, not at positions rounded to bf16's half pixel."""

import pytest
import torch

from fasrnet.models.alignment import ModulatedDeformConv, deform_conv2d_grid_sample


def _inputs(width=120):
    cols = torch.arange(width, dtype=torch.float32)
    x = torch.sin(cols * 0.5).expand(1, 2, 6, width).contiguous()  # fast along x: a position error shows
    offset = torch.zeros(1, 2 * 9, 6, width)
    offset[:, 1::2] = 0.3  # every tap 0.3 px to the right: at x ≈ 100, bf16 rounds 100.3 to 100.5
    mask = torch.full((1, 9, 6, width), 0.5)
    weight = torch.zeros(2, 2, 3, 3)
    weight[0, 0, 1, 1] = weight[1, 1, 1, 1] = 1.0  # the centre tap: the output is x sampled at +0.3 px, × 0.5
    return x, offset, mask, weight


def test_bf16_inputs_are_sampled_at_float32_positions():
    x, offset, mask, weight = _inputs()
    ref = deform_conv2d_grid_sample(x, offset, weight, None, 1, mask)
    half = deform_conv2d_grid_sample(x.bfloat16(), offset.bfloat16(), weight, None, 1, mask.bfloat16())
    # bf16 inputs carry ~0.4 % error; positions rounded to half a pixel would move values by up to 0.1 here
    assert (half.float() - ref).abs().max() < 0.01
    s = torch.sin(torch.arange(120, dtype=torch.float32) * 0.5)
    expected = 0.5 * (0.7 * s[:-1] + 0.3 * s[1:])  # bilinear, 0.3 of the way to the right neighbour
    torch.testing.assert_close(ref[0, 0, 3, :-1], expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_autocast_with_bf16_inputs_runs_on_both_backends_close_to_fp32(layout):
    x, offset, mask, weight = (t.contiguous(memory_format=layout) for t in _inputs(40))
    for backend in ("grid_sample", "torchvision"):
        conv = ModulatedDeformConv(2, 2, 1, deformable_groups=1, backend=backend)
        with torch.no_grad():
            conv.weight.copy_(weight)
        ref = conv(x, offset, mask)
        with torch.autocast("cpu", dtype=torch.bfloat16):  # inputs as the convs before it hand them over: bf16
            got = conv(x.bfloat16(), offset.bfloat16(), mask.bfloat16())
        torch.testing.assert_close(got.float(), ref, rtol=0.02, atol=0.01)
