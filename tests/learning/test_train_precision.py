"""The head's step settings (train.precision, train.channels_last, train.compile; docs/gpu.md) at tiny shapes on
the CPU: bf16 autocast trains to finite weights close to fp32's but not equal, with the loss and the optimizer state
in fp32; channels_last trains; compile wraps the step's model while checkpoints keep the bare head's weights."""

import json

import pytest
import torch

from fasrnet.params import load_params
from fasrnet.runs import resolve_run
from fasrnet.train import Trainer


def _train(tmp_path, name, overrides=(), epochs=1):
    params = load_params("params.yaml", [f"train.epochs={epochs}", "train.val_every=0", *overrides])
    out = tmp_path / name
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        Trainer(params, resolve_run(params, "main_syn17"), out_dir=out, progress=False).run()
    finally:
        torch.set_num_threads(threads)
    return torch.load(out / "head.pt", weights_only=True)["model"], out


@pytest.fixture
def fp32(in_workspace, tmp_path):
    return _train(tmp_path, "fp32")[0]


@pytest.mark.parametrize("dcn_backend,channels_last", [("grid_sample", False), ("torchvision", False),
                                                       ("grid_sample", True)])
def test_bf16_autocast_trains_close_to_fp32(in_workspace, tmp_path, fp32, dcn_backend, channels_last, monkeypatch):
    import fasrnet.train as train

    seen = []
    real_loss = train.fasrnet_loss

    def loss(outputs, target, weight, alpha):
        seen.append({k: v.dtype for k, v in outputs.items() if v is not None})
        value = real_loss(outputs, target, weight, alpha)
        seen[-1]["loss"] = value.dtype
        return value

    monkeypatch.setattr(train, "fasrnet_loss", loss)
    bf16, out = _train(tmp_path, f"bf16_{dcn_backend}_{channels_last}",
                       ["train.precision=bf16", f"model.dcn_backend={dcn_backend}",
                        f"train.channels_last={str(channels_last).lower()}"])
    assert seen and all(set(d.values()) == {torch.float32} for d in seen)  # the loss in fp32
    assert bf16.keys() == fp32.keys()
    assert all(v.dtype == fp32[k].dtype for k, v in bf16.items())  # weights (and so Adam's state) stay fp32
    assert all(torch.isfinite(v).all() for v in bf16.values() if v.is_floating_point())
    moved = [k for k, v in bf16.items() if v.is_floating_point() and not torch.equal(v, fp32[k])]
    assert moved  # bf16 is not a no-op
    for k in moved:  # one epoch on a few crops: bf16 rounding moves weights by far less than they are
        torch.testing.assert_close(bf16[k], fp32[k], rtol=0.05, atol=0.02)


def test_channels_last_trains_like_contiguous(in_workspace, tmp_path, fp32):
    cl, out = _train(tmp_path, "cl", ["train.channels_last=true"])
    assert cl.keys() == fp32.keys()
    assert all(torch.isfinite(v).all() for v in cl.values() if v.is_floating_point())
    # The same function (tests/models/test_layouts.py: values and gradients layout-independent); over an epoch
    # Adam turns float-noise gradients near zero into lr-sized steps, so the weights are compared through the loss.
    base = json.loads((tmp_path / "fp32" / "run.json").read_text())["final_loss"]
    assert json.loads((out / "run.json").read_text())["final_loss"] == pytest.approx(base, rel=1e-3)


def test_compile_wraps_the_step_and_checkpoints_hold_the_bare_head(in_workspace, tmp_path, fp32, monkeypatch):
    compiled = []

    def fake_compile(model, *args, **kwargs):  # the wiring, not inductor (minutes on a CPU)
        compiled.append(model)
        return model

    monkeypatch.setattr(torch, "compile", fake_compile)
    weights, _ = _train(tmp_path, "compiled", ["train.compile=true"])
    assert len(compiled) == 1 and type(compiled[0]).__name__ == "FaSRnetHead"
    assert weights.keys() == fp32.keys() and not any(k.startswith("_orig_mod") for k in weights)
    for k, v in weights.items():  # the same computation
        assert torch.equal(v, fp32[k])
