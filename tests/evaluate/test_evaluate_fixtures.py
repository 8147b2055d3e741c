"""The given poseval fixtures (tests/data/poseval_fixtures, copied from the project workspace): every number of
expected.json within 1e-9, the printed table verbatim, per-sequence results, the CLI, and --crosscheck."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from fasrnet.cli import main
from fasrnet.evaluate import HEADER, JOINT_NAMES, evaluate_dirs

TOL = 1e-9
SETS = ("perfect", "noisy", "noisy_annolist", "noisy_gt17")
HAVE_POSEVAL = importlib.util.find_spec("poseval") is not None


@pytest.fixture
def expected(fixtures_dir: Path) -> dict:
    return json.loads((fixtures_dir / "expected.json").read_text())


def _close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= TOL


@pytest.mark.parametrize("name", SETS)
def test_fixture_set(fixtures_dir, expected, name):
    exp = expected["sets"][name]
    r = evaluate_dirs(fixtures_dir / exp["gt_dir"], fixtures_dir / exp["pred_dir"])
    assert r.n_eval_frames == exp["n_eval_frames"]
    for col, v in exp["columns_full"].items():
        assert _close(r.columns[col], v), (col, r.columns[col], v)
    for field, arr in (("per_joint_ap", r.ap), ("per_joint_precision", r.precision), ("per_joint_recall", r.recall)):
        got = dict(zip(JOINT_NAMES, arr.tolist()))
        for joint, v in exp[field].items():
            assert _close(got[joint], v), (field, joint, got[joint], v)
    assert _close(r.mean_precision, exp["mean_precision"])
    assert _close(r.mean_recall, exp["mean_recall"])
    assert r.row() == exp["printed_row"]
    assert HEADER == expected["about"]["printed_header"]
    assert [f"{r.columns[c]:.1f}".rjust(5) for c in exp["printed"]] == [v.rjust(5) for v in exp["printed"].values()]


def test_per_sequence_equals_each_sequence_alone(fixtures_dir, tmp_path):
    r = evaluate_dirs(fixtures_dir / "gt", fixtures_dir / "pred_noisy", per_sequence=True)
    names = sorted(p.stem for p in (fixtures_dir / "gt").glob("*.json"))
    assert sorted(r.per_sequence) == names
    assert sum(s.n_eval_frames for s in r.per_sequence.values()) == r.n_eval_frames
    for name in names:
        (tmp_path / name / "gt").mkdir(parents=True)
        (tmp_path / name / "pred").mkdir(parents=True)
        shutil.copy(fixtures_dir / "gt" / f"{name}.json", tmp_path / name / "gt")
        shutil.copy(fixtures_dir / "pred_noisy" / f"{name}.json", tmp_path / name / "pred")
        alone = evaluate_dirs(tmp_path / name / "gt", tmp_path / name / "pred")
        np.testing.assert_array_equal(r.per_sequence[name].ap, alone.ap)
        assert r.per_sequence[name].columns == alone.columns


def test_cli(fixtures_dir, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # params.yaml
    out = tmp_path / "metrics.json"
    seq_dir = tmp_path / "seq"
    rc = main(["evaluate", "--gt", str(fixtures_dir / "gt"), "--pred", str(fixtures_dir / "pred_noisy"),
               "--out", str(out), "--per-sequence", str(seq_dir)])
    assert rc == 0
    lines = capsys.readouterr().out.splitlines()
    exp = expected["sets"]["noisy"]
    assert lines[:3] == [f"# evaluated frames: {exp['n_eval_frames']}", expected["about"]["printed_header"],
                         exp["printed_row"]]
    data = json.loads(out.read_text())
    assert data["n_eval_frames"] == exp["n_eval_frames"]
    for col, v in exp["columns_full"].items():
        assert abs(data["columns"][col] - v) <= TOL
    for field in ("per_joint_ap", "per_joint_precision", "per_joint_recall"):
        assert list(data[field]) == list(JOINT_NAMES)
        for joint, v in exp[field].items():
            assert abs(data[field][joint] - v) <= TOL
    assert sorted(data["per_sequence"]) == sorted(p.name.replace("_AP_metrics.json", "") for p in seq_dir.iterdir())


@pytest.mark.skipif(HAVE_POSEVAL, reason="poseval is importable here")
def test_crosscheck_without_poseval_fails_clearly(fixtures_dir, capsys, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    rc = main(["evaluate", "--gt", str(fixtures_dir / "gt"), "--pred", str(fixtures_dir / "pred_noisy"),
               "--crosscheck"])
    assert rc != 0
    assert "poseval package is not importable" in capsys.readouterr().err


@pytest.mark.skipif(not HAVE_POSEVAL, reason="the official poseval package is not importable")
@pytest.mark.parametrize("name", SETS)
def test_crosscheck_with_poseval(fixtures_dir, expected, name, monkeypatch, capsys):
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    exp = expected["sets"][name]
    rc = main(["evaluate", "--gt", str(fixtures_dir / exp["gt_dir"]), "--pred", str(fixtures_dir / exp["pred_dir"]),
               "--crosscheck"])
    assert rc == 0, capsys.readouterr().err
    assert "poseval agrees" in capsys.readouterr().out


def test_benchmark_generator_runs(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        import bench_evaluate
    finally:
        sys.path.pop(0)
    results = {}
    for fmt in (18, 17):
        gt_dir, pred_dir = bench_evaluate.generate(tmp_path / str(fmt), sequences=2, frames=10, persons=3,
                                                   pred_format=fmt)
        results[fmt] = r = evaluate_dirs(gt_dir, pred_dir)
        assert r.n_eval_frames == 20
        assert 0 < r.total < 100
    np.testing.assert_array_equal(results[17].ap, results[18].ap)  # same predictions in the other format
