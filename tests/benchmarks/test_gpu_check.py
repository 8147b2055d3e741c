"""benchmarks/gpu_check.py (the GPU checks of issue 14) runs end to end in its CPU quick mode: parity passes
with its derived tolerance (the negative control included), and both timing sections print their numbers."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def test_cpu_quick_mode_passes_and_prints_every_section(capsys):
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--device", "cpu", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "parity: PASS" in out and "negative control" in out and "detected (PASS)" in out
    assert out.count("fp64: tv vs gs within the same bound") == 4
    assert "crops/s" in out and "ratio online / cached" in out
