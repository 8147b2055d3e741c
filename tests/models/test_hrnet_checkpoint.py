"""HRNet: the official W48 checkpoint layout key for key, forward shapes, and checkpoint loading."""

import hashlib
import json
from pathlib import Path

import pytest
import torch

from fasrnet.models.checkpoint import CheckpointError, read_checkpoint
from fasrnet.models.hrnet import (
    HRNET_SPECS,
    build_hrnet,
    load_backbone,
    load_state_into,
    normalize_state_dict,
    to_mmpose,
)

# Key names and shapes of the official deep-high-resolution-net pose_hrnet_w48_384x288 checkpoint, as the project
# workspace gave them (tests/data/README.md says where the file came from): a byte-identical copy kept beside the
# test, so the check runs in any clone. Its sha256 pins the copy to the given file.
LAYOUT = Path(__file__).with_name("hrnet_w48_384x288_state_dict.json")
LAYOUT_SHA256 = "967d1b91ab536d8582f5804191cd393958c378db88c6a44b2b6b348c05e1f69f"


def _official_layout() -> dict:
    return json.loads(LAYOUT.read_text())


def test_layout_copy_is_the_given_file():
    assert hashlib.sha256(LAYOUT.read_bytes()).hexdigest() == LAYOUT_SHA256


def test_w48_state_dict_equals_the_official_checkpoint_key_for_key():
    ref = _official_layout()
    with torch.device("meta"):
        model = build_hrnet(48)
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert list(ours) == list(ref["state_dict"])  # same keys, same order
    for key, shape in ref["state_dict"].items():
        assert ours[key] == shape, key
    assert sum(p.numel() for p in model.parameters()) == ref["num_parameters"] == 63_595_745


def test_named_specs_cover_the_usual_widths():
    assert {"hrnet_w18", "hrnet_w32", "hrnet_w48"} <= set(HRNET_SPECS)
    assert HRNET_SPECS["hrnet_w32"].stages[-1].num_channels == (32, 64, 128, 256)


@pytest.mark.parametrize(("width", "size"), [(4, (64, 48)), (8, (96, 64))])
def test_forward_returns_highest_resolution_feature_and_heatmaps(width, size):
    model = build_hrnet(width).eval()
    with torch.no_grad():
        feat, hm = model(torch.randn(2, 3, *size))
    h, w = size[0] // 4, size[1] // 4
    assert feat.shape == (2, width, h, w) and hm.shape == (2, 17, h, w)
    assert (feat >= 0).all()  # after the last fuse ReLU
    assert torch.allclose(hm, model.final_layer(feat))


def _saved(tmp_path, obj, name="ckpt.pth"):
    path = tmp_path / name
    torch.save(obj, path)
    return path


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def source():
    torch.manual_seed(0)
    model = build_hrnet(4)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    return model


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda sd: sd, id="official"),
        pytest.param(lambda sd: {"module." + k: v for k, v in sd.items()}, id="dataparallel"),
        pytest.param(lambda sd: {"state_dict": sd, "epoch": 3}, id="wrapped"),
        pytest.param(lambda sd: {"meta": {"mmpose_version": "0.29.0"}, "state_dict": to_mmpose(sd, 0)},
                     id="mmpose0"),
        pytest.param(lambda sd: {"meta": {"mmpose_version": "1.3.1"}, "state_dict": to_mmpose(sd, 1)},
                     id="mmpose1"),
    ],
)
def test_load_backbone_accepts_official_and_mmpose_layouts(tmp_path, source, wrap):
    path = _saved(tmp_path, wrap(source.state_dict()))
    loaded = load_backbone(path, width=4)
    assert _same_state(loaded, source)


def test_mmpose_key_names():
    sd = {"final_layer.weight": torch.zeros(1), "conv1.weight": torch.zeros(1)}
    assert set(to_mmpose(sd, 0)) == {"keypoint_head.final_layer.weight", "backbone.conv1.weight"}
    assert set(to_mmpose(sd, 1)) == {"head.final_layer.weight", "backbone.conv1.weight"}
    assert normalize_state_dict(to_mmpose(sd, 1)).keys() == sd.keys()


def test_missing_and_unexpected_keys_are_listed(tmp_path, source):
    sd = dict(source.state_dict())
    del sd["final_layer.bias"]
    sd["keypoint_head.extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as info:
        load_backbone(_saved(tmp_path, sd), width=4)
    msg = str(info.value)
    assert "1 missing key(s): final_layer.bias" in msg
    assert "1 unexpected key(s): keypoint_head.extra.weight" in msg


def test_other_width_names_first_mismatching_key_and_both_shapes(tmp_path, source):
    with pytest.raises(CheckpointError) as info:
        load_backbone(_saved(tmp_path, source.state_dict()), width=8)
    msg = str(info.value)
    assert "transition1.0.0.weight" in msg
    assert "(4, 256, 3, 3)" in msg and "(8, 256, 3, 3)" in msg and "HRNet-W8" in msg


def test_unreadable_or_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_backbone(tmp_path / "nope.pth", width=4)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_backbone(bad, width=4)
    with pytest.raises(CheckpointError, match="no state dict found"):
        load_backbone(_saved(tmp_path, {"epoch": 1}), width=4)


@pytest.mark.parametrize("damage", ["empty", "truncated", "text"])
def test_damaged_checkpoint_is_one_error_naming_the_file(tmp_path, source, damage):
    good = _saved(tmp_path, source.state_dict(), "good.pth").read_bytes()
    bad = tmp_path / f"{damage}.pth"
    bad.write_bytes({"empty": b"", "truncated": good[: len(good) // 2], "text": b"hello"}[damage])
    with pytest.raises(CheckpointError) as info:  # torch raises EOFError with an empty message on some of these
        read_checkpoint(bad)
    msg = str(info.value)
    assert msg.startswith(f"{bad}: not a readable PyTorch checkpoint") and len(msg.splitlines()) == 1
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_backbone(bad, width=4)


def test_error_formatter_survives_an_exception_without_message(tmp_path, monkeypatch):
    path = tmp_path / "x.pth"
    path.write_bytes(b"PK")

    def load(*args, **kwargs):
        raise EOFError()

    monkeypatch.setattr(torch, "load", load)
    with pytest.raises(CheckpointError, match=r"x\.pth: not a readable PyTorch checkpoint \(EOFError\)$"):
        read_checkpoint(path)


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_tensor_is_rejected_naming_the_key(tmp_path, source, bad_value):
    state = {k: v.clone() for k, v in source.state_dict().items()}
    state["stage3.0.fuse_layers.1.0.0.0.weight"].view(-1)[3] = bad_value
    path = _saved(tmp_path, {"state_dict": state})
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert str(info.value).startswith(f"{path}: state_dict.stage3.0.fuse_layers.1.0.0.0.weight: ")
    assert ("1 NaN" if bad_value != bad_value else "1 infinite") in str(info.value)
    with pytest.raises(CheckpointError, match=r"memory: stage3\.0\.fuse_layers\.1\.0\.0\.0\.weight: "):
        load_state_into(build_hrnet(4), state, source="memory")  # a state dict that never was a file


def test_finite_checkpoint_still_loads(tmp_path, source):
    assert _same_state(load_backbone(_saved(tmp_path, source.state_dict()), width=4), source)
