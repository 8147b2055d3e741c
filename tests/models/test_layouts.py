"""The networks on inputs in the memory layouts CUDA hands back (channels_last, and dense but transposed strides):
the same values and gradients as on contiguous inputs. A ``.view`` that only works on a contiguous tensor passes
every CPU test with contiguous inputs and crashes on the GPU (it did, in benchmarks/gpu_check.py)."""

import pytest
import torch

from fasrnet.models.alignment import ModulatedDeformConv, deform_conv2d_grid_sample
from fasrnet.models.fasrnet import VARIANTS, FaSRnetHead

LAYOUTS = ("channels_last", "transposed")


def laid_out(t: torch.Tensor, layout: str) -> torch.Tensor:
    if layout == "channels_last":
        return t.contiguous(memory_format=torch.channels_last)
    return t.transpose(2, 3).contiguous().transpose(2, 3)  # H and W strides swapped: dense, not contiguous


def _inputs(groups: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    b, c, h, w = 2, 4 * groups, 7, 5
    return (torch.randn(b, c, h, w, generator=g), torch.randn(b, 18 * groups, h, w, generator=g),
            torch.sigmoid(torch.randn(b, 9 * groups, h, w, generator=g)))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("groups", [1, 3])
def test_grid_sample_deform_conv_takes_any_layout(layout, groups):
    x, off, mask = _inputs(groups)
    weight, bias = torch.randn(6, x.shape[1], 3, 3), torch.randn(6)
    ref = deform_conv2d_grid_sample(x, off, weight, bias, 2, mask)
    got = deform_conv2d_grid_sample(*(laid_out(t, layout) for t in (x, off)), laid_out(weight, layout), bias, 2,
                                    laid_out(mask, layout))
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("backend", ["grid_sample", "torchvision"])
def test_modulated_deform_conv_gradients_do_not_depend_on_the_layout(layout, backend):
    torch.manual_seed(0)
    dcn = ModulatedDeformConv(4, 4, dilation=3, deformable_groups=1, backend=backend)
    x, off, mask = _inputs(1)

    def run(*tensors):
        leaves = [t.clone().requires_grad_() for t in tensors]
        out = dcn(*leaves)
        grads = torch.autograd.grad(out.square().sum(), [*leaves, dcn.weight])
        return out.detach(), grads

    ref_out, ref_grads = run(x, off, mask)
    out, grads = run(*(laid_out(t, layout) for t in (x, off, mask)))
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    for got, ref in zip(grads, ref_grads):
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("variant", ["fasrnet", "baseline", "pcda"])
def test_the_head_and_its_gradients_do_not_depend_on_the_layout(layout, variant):
    assert variant in VARIANTS
    g = torch.Generator().manual_seed(1)
    inputs = [torch.randn(2, 4, 16, 12, generator=g).relu() for _ in range(3)] + \
             [torch.rand(2, 17, 16, 12, generator=g) for _ in range(3)]
    torch.manual_seed(0)
    head = FaSRnetHead(4, variant).train()

    def run(tensors):
        out = head(*tensors)
        loss = sum(v.square().mean() for k, v in out.items() if k in ("hr", "final") and v is not None)
        return out["pred"].detach(), torch.autograd.grad(loss, list(head.parameters()))

    ref_pred, ref_grads = run(inputs)
    pred, grads = run([laid_out(t, layout) for t in inputs])
    torch.testing.assert_close(pred, ref_pred, rtol=1e-4, atol=1e-5)
    for got, ref in zip(grads, ref_grads):
        torch.testing.assert_close(got, ref, rtol=1e-3, atol=1e-5)
