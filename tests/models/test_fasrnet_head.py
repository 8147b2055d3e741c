"""FaSRnet head: every variant's shapes and one training step, parameter counts at W48 (docs/model.md, §11),
gradients, determinism, initialisation, and the deformable convolution's layout and backends."""

import re

import pytest
import torch
import torch.nn.functional as F

from fasrnet.models.alignment import (
    DCNPack,
    FeatureAlignment,
    ModulatedDeformConv,
    deform_conv2d_grid_sample,
    set_dcn_backend,
)
from fasrnet.models.fasrnet import VARIANTS, FaSRnet, FaSRnetHead, build_head, get_variant
from fasrnet.models.fusion import TSAFusion
from fasrnet.models.hrnet import build_hrnet
from fasrnet.models.loss import fasrnet_loss
from fasrnet.models.semantic import RSBChain, SemanticRefinement
from fasrnet.params import ModelParams, Params

C, B, H, W = 4, 2, 16, 12


def _inputs(seed=0, b=B, c=C, h=H, w=W):
    g = torch.Generator().manual_seed(seed)
    feats = [torch.randn(b, c, h, w, generator=g).relu() for _ in range(3)]
    hms = [torch.rand(b, 17, h, w, generator=g) for _ in range(3)]
    return feats + hms


def _count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_has_the_right_outputs_and_trains_one_step(variant):
    torch.manual_seed(0)
    head = FaSRnetHead(C, variant).train()
    spec = get_variant(variant)
    out = head(*_inputs())
    assert (out["hr"] is not None) == spec.feature_refinement
    assert (out["final"] is not None) == spec.srm
    assert out["pred"] is out[spec.scored_output]
    for key in ("hr", "final"):
        if out[key] is not None:
            assert out[key].shape == (B, 17, H, W)
    target, weight = torch.rand(B, 17, H, W), torch.ones(B, 17)
    before = {k: v.clone() for k, v in head.state_dict().items()}
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    loss = fasrnet_loss(out, target, weight, alpha=0.4)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    changed = [k for k, v in head.state_dict().items() if v.dtype.is_floating_point and not torch.equal(v, before[k])]
    assert changed, "one optimiser step changed nothing"
    assert variant in VARIANTS[variant].name and VARIANTS[variant].removes


def test_variant_table_matches_params_choices():
    allowed = ModelParams.model_fields["variant"].annotation.__args__
    assert tuple(VARIANTS) == allowed


def test_smd_uses_five_dilations_and_replacing_a_neighbour_uses_the_current_frame():
    assert FaSRnetHead(C, "smd").srm.dilations == (3, 6, 9, 12, 15)
    torch.manual_seed(0)
    full = FaSRnetHead(C, "fasrnet").eval()
    torch.manual_seed(0)
    no_prev = FaSRnetHead(C, "no_prev").eval()
    fp, fc, fn, hp, hc, hn = _inputs()
    with torch.no_grad():
        expected = full(fc, fc, fn, hc, hc, hn)["final"]
        assert torch.allclose(no_prev(fp, fc, fn, hp, hc, hn)["final"], expected)


def test_parameter_counts_at_w48_match_the_official_model():
    with torch.device("meta"):
        head = FaSRnetHead(48, "fasrnet")
        fda, tsa, srm = FeatureAlignment(48), TSAFusion(48), SemanticRefinement(17)
        chains = [RSBChain(68, 34, 2), RSBChain(51, 17, 1), RSBChain(51, 64, 2)]
        backbone = build_hrnet(48)
    assert _count(head) == 1_799_694
    assert _count(fda) == 545_196 and _count(tsa) == 173_424 and _count(srm) == 535_045
    assert _count(head.final_layer) == 833
    assert [_count(c) for c in chains] == [99_670, 43_249, 125_124]
    dcn = [m for m in fda.modules() if isinstance(m, ModulatedDeformConv)]
    assert sum(_count(m) for m in dcn) == 83_136
    assert sum(_count(m.conv_offset_mask) for m in fda.modules() if isinstance(m, DCNPack)) == 46_764
    assert _count(backbone) + _count(head) == 65_395_439


def test_gradients_reach_every_head_parameter_and_never_the_frozen_backbone():
    torch.manual_seed(0)
    model = FaSRnet(build_hrnet(C), FaSRnetHead(C, "fasrnet"))
    model.train()
    assert not model.backbone.training and model.head.training
    frames = torch.randn(B, 3, 3, 4 * H, 4 * W)
    out = model(frames)
    assert out["final"].shape == out["backbone"].shape == (B, 17, H, W)
    fasrnet_loss(out, torch.rand(B, 17, H, W), torch.ones(B, 17)).backward()
    for name, p in model.head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert all(p.grad is None and not p.requires_grad for p in model.backbone.parameters())


def test_end_to_end_equals_backbone_then_head():
    torch.manual_seed(0)
    model = FaSRnet(build_hrnet(C), FaSRnetHead(C, "fda")).eval()
    frames = torch.randn(B, 3, 3, 4 * H, 4 * W)
    with torch.no_grad():
        out = model(frames)
        fp, hp = model.backbone(frames[:, 0])
        fc, hc = model.backbone(frames[:, 1])
        fn, hn = model.backbone(frames[:, 2])
        ref = model.head(fp, fc, fn, hp, hc, hn)
    assert torch.allclose(out["hr"], ref["hr"], atol=1e-6)


def test_seeded_cpu_forward_is_deterministic():
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        head = FaSRnetHead(C, "fasrnet")
        with torch.no_grad():
            outs.append(head(*_inputs(seed=7))["final"])
    assert torch.equal(outs[0], outs[1])


def test_initialisation_follows_the_paper_and_model_md():
    torch.manual_seed(0)
    head = FaSRnetHead(16, "fasrnet")
    convs = [m for m in head.modules() if isinstance(m, torch.nn.Conv2d)]
    weights = torch.cat([m.weight.flatten() for m in convs])
    assert abs(weights.std().item() - 0.001) < 1e-4 and abs(weights.mean().item()) < 1e-4
    assert all(m.bias is None or not m.bias.any() for m in convs)
    for m in head.modules():
        if isinstance(m, ModulatedDeformConv):
            eye = torch.zeros_like(m.weight)
            for i in range(min(m.in_channels, m.out_channels)):
                eye[i, i, 1, 1] = 1
            assert torch.equal(m.weight, eye) and not m.bias.any()
        if isinstance(m, torch.nn.BatchNorm2d):
            assert (m.weight == 1).all() and not m.bias.any()


@pytest.mark.parametrize("backend", ["torchvision", "grid_sample"])
@pytest.mark.parametrize(("groups", "dilation"), [(1, 1), (1, 5), (3, 2)])
def test_dcn_with_zero_offsets_and_unit_masks_is_the_plain_dilated_conv(backend, groups, dilation):
    torch.manual_seed(0)
    dcn = ModulatedDeformConv(6, 5, dilation=dilation, deformable_groups=groups, backend=backend)
    with torch.no_grad():
        dcn.weight.normal_()
        dcn.bias.normal_()
    x = torch.randn(2, 6, 11, 9)
    zeros = torch.zeros(2, dcn.offset_channels, 11, 9)
    ones = torch.ones(2, dcn.mask_channels, 11, 9)
    expected = F.conv2d(x, dcn.weight, dcn.bias, padding=dilation, dilation=dilation)
    assert torch.allclose(dcn(x, zeros, ones), expected, atol=1e-5)


@pytest.mark.parametrize("backend", ["torchvision", "grid_sample"])
def test_offset_layout_is_dy_then_dx_per_tap(backend):
    # Shifting every tap by (dy, dx) = (0, 1) equals convolving the input shifted one pixel left.
    torch.manual_seed(0)
    dcn = ModulatedDeformConv(3, 3, backend=backend)
    with torch.no_grad():
        dcn.weight.normal_()
    x = torch.randn(1, 3, 8, 10)
    offset = torch.zeros(1, 18, 8, 10)
    offset[:, 1::2] = 1.0  # odd channels are dx
    shifted = torch.cat([x[..., 1:], torch.zeros_like(x[..., :1])], dim=-1)
    expected = F.conv2d(shifted, dcn.weight, dcn.bias, padding=1)
    out = dcn(x, offset, torch.ones(1, 9, 8, 10))
    assert torch.allclose(out[..., 1:], expected[..., 1:], atol=1e-5)  # column 0 reads x[0], not padding


@pytest.mark.parametrize(("groups", "dilation"), [(1, 3), (17, 1)])
def test_grid_sample_backend_equals_torchvision_in_values_and_gradients(groups, dilation):
    torch.manual_seed(0)
    c = 17 if groups == 17 else 6
    x = torch.randn(2, c, 9, 7, dtype=torch.float64, requires_grad=True)
    w = torch.randn(c, c, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(c, dtype=torch.float64, requires_grad=True)
    off = (torch.randn(2, 18 * groups, 9, 7, dtype=torch.float64) * 2).requires_grad_()
    mask = torch.rand(2, 9 * groups, 9, 7, dtype=torch.float64, requires_grad=True)
    from torchvision.ops import deform_conv2d

    ref = deform_conv2d(x, off, w, b, padding=(dilation, dilation), dilation=(dilation, dilation), mask=mask)
    ours = deform_conv2d_grid_sample(x, off, w, b, dilation, mask)
    assert torch.allclose(ours, ref, atol=1e-10)
    g_ref = torch.autograd.grad(ref.square().sum(), [x, off, w, b, mask])
    g_ours = torch.autograd.grad(ours.square().sum(), [x, off, w, b, mask])
    for a, o in zip(g_ref, g_ours):
        assert torch.allclose(a, o, atol=1e-8)


@pytest.mark.parametrize("offset_conv", ["padding1", "dilated"])
def test_offset_conv_fix_keeps_shapes_at_every_dilation_and_odd_sizes(offset_conv):
    torch.manual_seed(0)
    for pyramid in (False, True):
        align = FeatureAlignment(C, pyramid=pyramid, offset_conv=offset_conv)
        nbr, ref = torch.randn(1, C, 13, 9), torch.randn(1, C, 13, 9)
        assert align(nbr, ref).shape == (1, C, 13, 9)
    pack = DCNPack(C, 5, offset_conv)
    assert pack.conv_offset_mask.dilation == ((5, 5) if offset_conv == "dilated" else (1, 1))


def test_build_head_reads_params_and_backend_switch_applies_everywhere():
    params = Params(model=ModelParams(backbone_width=6, variant="smd", dcn_backend="torchvision"))
    head = build_head(params.model)
    assert head.channels == 6 and head.spec.name == "smd"
    dcns = [m for m in head.modules() if isinstance(m, ModulatedDeformConv)]
    assert dcns and all(m.backend == "torchvision" for m in dcns)
    set_dcn_backend(head, "grid_sample")
    assert all(m.backend == "grid_sample" for m in dcns)
    with pytest.raises(ValueError, match="unknown variant"):
        FaSRnetHead(C, "nope")


def test_srm_width_64_is_the_papers_module_and_a_narrower_one_is_smaller():
    with torch.device("meta"):
        paper, default = SemanticRefinement(17), SemanticRefinement(17, width=64)
        narrow = SemanticRefinement(17, width=16)
    assert _count(paper) == _count(default) == 535_045
    assert narrow.combine[0].conv_out.conv.out_channels == 16
    assert narrow.offset_convs[0].in_channels == narrow.mask_convs[0].in_channels == 16
    # every RSB branch is scaled by W/64, but never below MIN_BRANCH
    assert [b.branch for c in (narrow.diff_fuse, narrow.support_fuse, narrow.combine) for b in c] == [6, 3, 5, 5, 2]
    assert _count(narrow) < _count(paper) / 4
    head = FaSRnetHead(C, "fasrnet", srm_width=16)
    assert head(*_inputs())["final"].shape == (B, 17, H, W)


@pytest.mark.parametrize("variant", ["fasrnet", "no_fr", "fda", "baseline"])
def test_residual_head_starts_as_the_backbone_and_the_papers_head_does_not(variant):
    torch.manual_seed(0)
    inputs = _inputs(seed=1)
    hm_cur = inputs[4]
    residual = FaSRnetHead(C, variant, srm_width=16, residual=True).eval()
    paper = FaSRnetHead(C, variant).eval()
    with torch.no_grad():
        pred = residual(*inputs)["pred"]
        paper_pred = paper(*inputs)["pred"]
    # corrections start near 0 (weights ~ N(0, 0.001), DCN masks ~ 0): the untrained head is the backbone
    assert (pred - hm_cur).abs().max() < 1e-2
    assert (paper_pred - hm_cur).abs().max() > 0.5


def test_build_head_reads_srm_width_and_residual():
    params = Params(model=ModelParams(backbone_width=C, srm_width=8, residual=True))
    head = build_head(params.model)
    assert head.srm is not None and head.srm.width == 8 and head.srm.residual and head.residual


def test_the_params_variant_names_are_the_models_variants():
    from typing import get_args

    from fasrnet.params import ABLATION_VARIANTS, VariantName

    assert get_args(VariantName) == tuple(VARIANTS)
    assert ABLATION_VARIANTS == tuple(v for v in VARIANTS if v != "fasrnet")


def test_build_head_from_a_checkpoints_model_dict_is_the_same_head():
    # fasrnet predict rebuilds a trained head from the dict its checkpoint stores: same modules, same weights
    params = Params(model=ModelParams(backbone_width=6, srm_width=8, residual=True))
    torch.manual_seed(0)
    a = build_head(params.model, variant="smd")
    torch.manual_seed(0)
    b = build_head(params.model.model_dump(mode="json"), variant="smd", dcn_backend="torchvision")
    assert re.sub(r"backend=\w+", "", repr(a)) == re.sub(r"backend=\w+", "", repr(b))
    assert {m.backend for m in b.modules() if isinstance(m, ModulatedDeformConv)} == {"torchvision"}
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    old = {k: v for k, v in params.model.model_dump(mode="json").items() if k not in ("srm_width", "residual")}
    assert build_head(old).srm.width == 64 and not build_head(old).residual  # a head from before the keys: the paper's
