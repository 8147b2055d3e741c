"""benchmarks/gpu_check.py (the GPU checks of issue 14) runs end to end in its CPU quick mode: parity passes
with its derived tolerance (the negative control included) on every memory layout, and both timing sections print
their numbers."""

import importlib.util
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_quick_mode_passes_and_prints_every_section(gpu_check, capsys):
    assert gpu_check.main(["--device", "cpu", "--quick"]) == 0
    out = capsys.readouterr().out
    for layout in gpu_check.LAYOUTS:
        assert f"parity ({layout}): PASS" in out
    assert out.count("detected (PASS)") == len(gpu_check.LAYOUTS)
    assert out.count("fp64: tv vs gs within the same bound") == 4 * len(gpu_check.LAYOUTS)
    assert "crops/s" in out and "ratio online / cached" in out


def test_the_parity_inputs_really_have_their_layouts(gpu_check):
    # a CUDA kernel hands back tensors laid out otherwise than the CPU's: the first GPU run crashed on a `.view` of
    # one (benchmarks/gpu_check.py, error_bounds), which the transposed inputs reproduce on the CPU
    x = {layout: gpu_check.make_inputs(1, 8, 1, 16, 12, seed=0, layout=layout)["x"] for layout in gpu_check.LAYOUTS}
    assert x["contiguous"].is_contiguous()
    cl = torch.channels_last
    assert x["channels_last"].is_contiguous(memory_format=cl) and not x["channels_last"].is_contiguous()
    assert not x["transposed"].is_contiguous() and not x["transposed"].is_contiguous(memory_format=cl)
    assert all(torch.equal(t, x["contiguous"]) for t in x.values())


def test_the_error_bounds_do_not_depend_on_the_layout(gpu_check):
    bounds = {}
    for layout in gpu_check.LAYOUTS:
        inputs = gpu_check.make_inputs(1, 8, 1, 16, 12, seed=0, layout=layout)
        bounds[layout] = gpu_check.error_bounds(**inputs, dilation=3, u=2.0**-24)
    for layout in gpu_check.LAYOUTS[1:]:
        tol, boundary, delta = bounds[layout]
        assert delta == bounds["contiguous"][2] and torch.equal(boundary, bounds["contiguous"][1])
        for name, t in tol.items():
            assert torch.allclose(t, bounds["contiguous"][0][name], rtol=1e-12, atol=0), (layout, name)
