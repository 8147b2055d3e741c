"""`fasrnet complexity` (Table 5) and the model/heatmap params sections."""

import json

import pytest

from fasrnet.cli import main
from fasrnet.complexity import PAPER_TABLE5, measure_setting
from fasrnet.params import ParamsError, validate_params


def test_measure_counts_deformable_convs_analytically():
    r = measure_setting(4, (64, 48))
    head, full, hrnet = r["head"], r["fasrnet"], r["hrnet"]
    assert head["dcn_macs"] > 0 and hrnet["dcn_macs"] == 0
    assert head["flops"] == head["flop_counter_flops"] + 2 * head["dcn_macs"]
    assert full["params"] == hrnet["params"] + head["params"]
    assert full["params_thop_style"] == full["params"] - full["dcn_own_params"]
    # three backbone passes plus the head, batch 1
    assert full["flops"] == pytest.approx(3 * hrnet["flops"] + head["flops"], rel=1e-9)


def test_cli_writes_table5_json_with_paper_values(tmp_path, capsys):
    out = tmp_path / "complexity.json"
    params = tmp_path / "params.yaml"
    params.write_text("model:\n  backbone_width: 4\nheatmap:\n  input_size:\n    - 64\n    - 32\n")
    assert main(["--params", str(params), "complexity", "--out", str(out), "--width", "4",
                 "--input-size", "64", "48"]) == 0
    report = json.loads(out.read_text())
    assert set(report) == {"table5", "conventions", "measured", "configured"}
    assert report["table5"]["paper"] == PAPER_TABLE5
    ours = report["table5"]["ours"]
    assert ours["fasrnet"]["gflops"] == pytest.approx(2 * ours["fasrnet"]["gmacs"], abs=0.02)
    assert report["measured"]["setting"]["input_size"] == [64, 48]
    assert report["configured"]["setting"]["input_size"] == [64, 32]
    assert "hrnet" in capsys.readouterr().out
    assert main(["complexity", "--out", str(out), "--width", "0"]) == 2


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"heatmap": {"input_size": [100, 96]}}, "multiples of 32"),
        ({"heatmap": {"input_size": [128]}}, "heatmap.input_size"),
        ({"model": {"variant": "nope"}}, "model.variant"),
        ({"model": {"srm_dilations": [0]}}, "model.srm_dilations.0"),
        ({"model": {"offset_conv": "raw"}}, "model.offset_conv"),
    ],
)
def test_bad_model_and_heatmap_params_are_rejected(raw, message):
    with pytest.raises(ParamsError, match=message):
        validate_params(raw)
