"""Input poseval would crash on → one InputFormatError naming the file and the JSON field; and the loading
rules that decide what poseval reads (first video only, missing scores)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fasrnet.cli import main
from fasrnet.errors import InputFormatError
from fasrnet.evaluate import JOINT_NAMES, evaluate_dirs

NAME = "000001_mpii_test.json"


def _setup(pt, gt_format=18, pred_format=18, n_frames=2):
    gt = pt.body(100, 100)
    frames = [pt.frame([pt.person(gt), pt.person(pt.body(400, 100))]) for _ in range(n_frames)]
    preds = [pt.frame([pt.person(gt, scores=0.5)]) for _ in range(n_frames)]
    return pt.write(frames, preds, gt_format, pred_format)


def _edit(path: Path, fn) -> None:
    obj = json.loads(path.read_text())
    fn(obj)
    path.write_text(json.dumps(obj))


def _error(pt) -> InputFormatError:
    with pytest.raises(InputFormatError) as info:
        evaluate_dirs(pt.gt, pt.pred)
    return info.value


def test_missing_prediction_file(pt):
    _setup(pt)
    (pt.pred / NAME).rename(pt.pred / "other.json")
    err = _error(pt)
    assert err.path == str(pt.pred / NAME) and "missing" in str(err)


def test_prediction_files_without_gt_are_ignored(pt):
    _setup(pt)
    (pt.pred / "000002_bonn_test.json").write_text("not even json")
    assert evaluate_dirs(pt.gt, pt.pred).n_eval_frames == 2


def test_frame_count_mismatch(pt):
    gt_path, pred_path = _setup(pt)
    _edit(pred_path, lambda o: (o["images"].pop(), None))
    err = _error(pt)
    assert err.path == str(pred_path) and "1 frames, but the ground truth" in str(err)


def test_missing_track_id_2018(pt):
    _, pred_path = _setup(pt)
    _edit(pred_path, lambda o: o["annotations"][1].pop("track_id"))
    assert str(_error(pt)) == f"{pred_path}: annotations[1].track_id: missing"


def test_missing_track_id_2017_only_matters_where_gt_meets_predictions(pt):
    _, pred_path = _setup(pt, pred_format=17)
    _edit(pred_path, lambda o: o["annolist"][1]["annorect"][0].pop("track_id"))
    err = _error(pt)
    assert err.path == str(pred_path) and err.field == "annolist[1].annorect[0].track_id"
    # the same prediction on a frame without GT persons: poseval never indexes the track ids there
    gt = pt.body(100, 100)
    pt.write([pt.frame([pt.person(gt)]), pt.frame([])], [pt.frame([pt.person(gt, scores=0.5)]),
                                                         pt.frame([pt.person(gt, scores=0.5)])], pred_format=17)
    _edit(pred_path, lambda o: o["annolist"][1]["annorect"][0].pop("track_id"))
    assert evaluate_dirs(pt.gt, pt.pred).n_eval_frames == 1


def test_duplicate_prediction_track_ids(pt):
    gt = pt.body(100, 100)
    _, pred_path = pt.write([pt.frame([pt.person(gt)])],
                            [pt.frame([pt.person(gt, scores=0.5, track=3), pt.person(gt, scores=0.4, track=3)])])
    err = _error(pt)
    assert err.field == "annotations[1].track_id" and "appears twice" in str(err)


def test_track_id_too_large(pt):
    gt_path, _ = _setup(pt)
    _edit(gt_path, lambda o: o["annotations"][2].update(track_id=10000))
    err = _error(pt)
    assert err.path == str(gt_path) and err.field == "annotations[2].track_id" and "below 10000" in str(err)


def test_missing_bbox_head_where_needed(pt):
    gt_path, _ = _setup(pt)
    _edit(gt_path, lambda o: o["annotations"][3].pop("bbox_head"))
    err = _error(pt)
    assert err.path == str(gt_path) and err.field == "annotations[3].bbox_head" and str(err).count("missing")


def test_missing_head_box_2017(pt):
    gt_path, _ = _setup(pt, gt_format=17)
    _edit(gt_path, lambda o: o["annolist"][0]["annorect"][1].pop("y2"))
    assert _error(pt).field == "annolist[0].annorect[1].y2"


def test_wrong_category(pt):
    _, pred_path = _setup(pt)
    _edit(pred_path, lambda o: o["categories"][0].update(name="people"))
    assert _error(pt).field == "categories[0].name"
    _edit(pred_path, lambda o: o["categories"][0].update(
        name="person", keypoints=["neck" if k == "head_bottom" else k for k in o["categories"][0]["keypoints"]]))
    err = _error(pt)
    assert err.field == "categories[0].keypoints" and "head_bottom" in str(err)
    _edit(pred_path, lambda o: o["categories"].append(dict(o["categories"][0])))
    assert _error(pt).field == "categories"


def test_malformed_keypoints(pt):
    _, pred_path = _setup(pt)
    _edit(pred_path, lambda o: o["annotations"][1].update(keypoints=o["annotations"][1]["keypoints"][:45]))
    assert str(_error(pt)) == f"{pred_path}: annotations[1].keypoints: expected 51 numbers, got 45"
    _edit(pred_path, lambda o: o["annotations"][1].update(keypoints=[None] * 51))
    assert str(_error(pt)) == f"{pred_path}: annotations[1].keypoints[0]: expected a number, got null"


def test_malformed_2017_point(pt):
    _, pred_path = _setup(pt, pred_format=17)
    _edit(pred_path, lambda o: o["annolist"][0]["annorect"][0]["annopoints"][0]["point"][2].pop("x"))
    assert _error(pt).field == "annolist[0].annorect[0].annopoints[0].point[2].x"
    _edit(pred_path, lambda o: o["annolist"][0]["annorect"][0]["annopoints"][0]["point"][2].update(x=5.0))
    err = _error(pt)
    assert err.field == "annolist[0].annorect[0].annopoints[0].point[2].x" and "one-element list" in str(err)


def test_bad_video_folder(pt):
    gt_path, _ = _setup(pt)
    _edit(gt_path, lambda o: o["images"][0].update(file_name="images/val/video_one/000000.jpg"))
    err = _error(pt)
    assert err.field == "images[0].file_name" and "<digits>_<mpii|bonn|mpiinew>" in str(err)


def test_degenerate_ignore_region(pt):
    gt = pt.body(100, 100)
    gt_path, _ = pt.write([pt.frame([pt.person(gt)], regions=[[(0.0, 0.0), (10.0, 10.0)]])],
                          [pt.frame([pt.person(gt, scores=0.5)])])
    err = _error(pt)
    assert err.path == str(gt_path) and "ignore_regions_x[0]" in err.field and "not a polygon" in str(err)


def test_not_json_and_missing_dirs(pt, tmp_path):
    gt_path, _ = _setup(pt)
    gt_path.write_text("{")
    assert "not valid JSON" in str(_error(pt))
    with pytest.raises(InputFormatError, match="directory not found"):
        evaluate_dirs(tmp_path / "nope", pt.pred)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFormatError, match="no \\*.json"):
        evaluate_dirs(tmp_path / "empty", pt.pred)


def test_cli_reports_one_error_line(pt, capsys, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    _, pred_path = _setup(pt)
    _edit(pred_path, lambda o: o["annotations"][1].pop("track_id"))
    assert main(["evaluate", "--gt", str(pt.gt), "--pred", str(pt.pred)]) == 2
    assert capsys.readouterr().err == f"error: {pred_path}: annotations[1].track_id: missing\n"


# -- what poseval reads ------------------------------------------------------------------------------------------


def test_only_the_first_video_of_a_2018_file_counts(pt):
    gt = pt.body(100, 100)
    gt_path, pred_path = pt.write([pt.frame([pt.person(gt)])], [pt.frame([pt.person(gt, scores=0.5)])])

    def add_video(o, score):
        img = dict(o["images"][0], file_name="images/val/000777_mpii_test/000000.jpg", id=17)
        o["images"].append(img)
        o["annotations"].append(dict(o["annotations"][0], image_id=17, scores=[score] * 17))

    _edit(gt_path, lambda o: add_video(o, 0.0))
    _edit(pred_path, lambda o: add_video(o, 0.9))
    r = evaluate_dirs(pt.gt, pt.pred)
    assert r.n_eval_frames == 1 and r.n_gt.tolist() == [1] * 15 and r.n_pred.tolist() == [1] * 15


def test_empty_scores_fall_back_to_minus_9999(pt):
    gt = pt.body(100, 100)
    _, pred_path = pt.write([pt.frame([pt.person(gt)])],
                            [pt.frame([pt.person(gt, scores=0.5), pt.person(pt.shift(gt, 1, 1), scores=0.4)])])
    _edit(pred_path, lambda o: o["annotations"][0].update(scores=[]))
    r = evaluate_dirs(pt.gt, pt.pred)
    # the first prediction (no scores: -9999) wins the PCKh tie; the second is an FP ranked above it → AP 50
    assert r.ap.tolist() == [50.0] * len(JOINT_NAMES)
    assert r.warnings
