"""Degraded vs clean frames of a synthetic set: the subsets partition the evaluated frames, a perfect prediction
scores 100 on both, damage on degraded frames shows only there, and real (non-synthetic) sets get no subsets."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fasrnet.cli import main
from fasrnet.data import synthetic
from fasrnet.data.posetrack import read_video, write_video
from fasrnet.errors import InputFormatError
from fasrnet.evaluate.api import evaluate_dirs
from fasrnet.evaluate.episodes import degraded_frames, evaluate_subsets, find_meta
from fasrnet.params import validate_params

TINY = {"seed": 3, "image_width": 96, "image_height": 72, "videos": {"train": 1, "val": 2, "test": 1},
        "frames_per_video": 16, "min_people": 2, "max_people": 3, "degraded_fraction": 0.4}


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    root = tmp_path_factory.mktemp("episodes")
    synthetic.synthesize_dataset(root, "syn18", validate_params({"synthesize": TINY}).synthesize)
    return root / "syn18"


def _predictions(gt_dir: Path, out: Path, shift_degraded: float = 0.0) -> Path:
    """GT as predictions (score 1); persons in degraded frames moved by ``shift_degraded`` pixels."""
    episodes = degraded_frames(gt_dir.parent.parent / "meta.json", gt_dir.name)
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(gt_dir.glob("*.json")):
        video = read_video(path)
        frames = []
        for t, fr in enumerate(video.frames):
            persons = []
            for p in fr.persons:
                kps = p.keypoints.copy()
                if t in episodes[path.stem]:
                    kps[:, :2] += shift_degraded
                persons.append(replace(p, keypoints=kps, scores=np.ones(len(kps)), score=1.0))
            frames.append(replace(fr, persons=persons))
        write_video(replace(video, frames=frames), out / path.name, 18)
    return out


def test_subsets_partition_the_evaluated_frames(syn, tmp_path):
    gt = syn / "annotations" / "val"
    pred = _predictions(gt, tmp_path / "perfect")
    subsets = evaluate_subsets(gt, pred, find_meta(gt))
    whole = evaluate_dirs(gt, pred)
    assert subsets["degraded"].n_eval_frames > 0 and subsets["clean"].n_eval_frames > 0
    assert subsets["degraded"].n_eval_frames + subsets["clean"].n_eval_frames == whole.n_eval_frames
    assert subsets["degraded"].columns["Total"] == pytest.approx(100.0)
    assert subsets["clean"].columns["Total"] == pytest.approx(100.0)


def test_damage_on_degraded_frames_shows_only_there(syn, tmp_path):
    gt = syn / "annotations" / "val"
    pred = _predictions(gt, tmp_path / "shifted", shift_degraded=40.0)
    subsets = evaluate_subsets(gt, pred, find_meta(gt))
    assert subsets["clean"].columns["Total"] == pytest.approx(100.0)
    assert subsets["degraded"].columns["Total"] < 50.0
    assert evaluate_dirs(gt, pred).columns["Total"] < 100.0


def test_cli_writes_subsets_for_synthetic_sets_only(syn, tmp_path, capsys):
    gt = syn / "annotations" / "val"
    pred = _predictions(gt, tmp_path / "perfect")
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--out", str(tmp_path / "m.json")]) == 0
    data = json.loads((tmp_path / "m.json").read_text())
    assert set(data["subsets"]) == {"episodes", "split_by", "degraded", "clean"}
    assert "by frame, from the degradation episodes" in capsys.readouterr().out
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--out", str(tmp_path / "n.json"),
                 "--episodes", "none"]) == 0
    assert "subsets" not in json.loads((tmp_path / "n.json").read_text())
    # A GT tree without a synthetic meta.json (real PoseTrack) gets no subsets.
    (tmp_path / "real" / "annotations").mkdir(parents=True)
    real = tmp_path / "real" / "annotations" / "val"
    real.symlink_to(gt.resolve(), target_is_directory=True)
    assert find_meta(real) is None
    (tmp_path / "real" / "meta.json").write_text(json.dumps({"generator": "someone else"}))
    assert find_meta(real) is None


def test_meta_without_the_video_names_the_file(syn, tmp_path):
    gt = syn / "annotations" / "val"
    meta = json.loads((syn / "meta.json").read_text())
    meta["splits"]["val"] = meta["splits"]["val"][:1]
    bad = tmp_path / "meta.json"
    bad.write_text(json.dumps(meta))
    with pytest.raises(InputFormatError, match=r"meta\.json.*splits\.val.*no entry for video"):
        evaluate_subsets(gt, _predictions(gt, tmp_path / "p"), bad)
    bad.write_text(json.dumps({"splits": {"val": [{"name": "x"}]}}))
    with pytest.raises(InputFormatError, match=r"splits\.val.*missing 'episodes'"):
        degraded_frames(bad, "val")
