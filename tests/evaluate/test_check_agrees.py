"""``fasrnet annotations check`` and ``fasrnet evaluate`` give one verdict on a file: both refuse it with exit 2 and
the same one ``error: <file>: <JSON path>: …`` line, or both accept it (docs/metric.md, §11). Cases from a tester's
report: ids that are not integers, booleans among numbers, nested lists, absurd nesting, predictions of another
video, unknown prediction image ids (a counted warning, as poseval drops them: docs/metric.md, §3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fasrnet.cli import main
from fasrnet.errors import InputFormatError
from fasrnet.evaluate import evaluate_dirs

NAME = "000001_mpii_test.json"
REPO = Path(__file__).resolve().parents[2]


def _setup(pt, gt_format=18, pred_format=18):
    gt = pt.body(100, 100)
    frames = [pt.frame([pt.person(gt), pt.person(pt.body(400, 100))]) for _ in range(2)]
    preds = [pt.frame([pt.person(gt, scores=0.5)]) for _ in range(2)]
    return pt.write(frames, preds, gt_format, pred_format)


def _rewrite(path: Path, fn, raw: str | None = None) -> None:
    """Edit the parsed file; ``raw`` replaces the string ``"@RAW@"`` in the written text (NaN, 1e400, …)."""
    obj = json.loads(path.read_text())
    fn(obj)
    text = json.dumps(obj)
    path.write_text(text.replace('"@RAW@"', raw) if raw is not None else text)


def _ann(key, value):
    return lambda o: o["annotations"][0].update({key: value})


def _set_kp(q, value):
    return lambda o: o["annotations"][0]["keypoints"].__setitem__(q, value)


def _set_score(q, value):
    return lambda o: o["annotations"][0]["scores"].__setitem__(q, value)


def _point17(key, value):
    return lambda o: o["annolist"][0]["annorect"][0]["annopoints"][0]["point"][0].update({key: value})


def _half(o):
    o["annotations"][0]["image_id"] += 0.5


# name → (which file, GT format, prediction format, edit, raw text or None, expected "field: message" start)
REFUSED = {
    "gt image_id x+0.5": ("gt", 18, 18, _half, None, "annotations[0].image_id: expected an integer image id, got"),
    "gt image_id 1e400": ("gt", 18, 18, _ann("image_id", "@RAW@"), "1e400",
                          "annotations[0].image_id: expected an integer image id, got the number inf"),
    "gt image_id Infinity": ("gt", 18, 18, _ann("image_id", "@RAW@"), "Infinity",
                             "annotations[0].image_id: expected an integer image id, got the number inf"),
    "gt image_id string": ("gt", 18, 18, _ann("image_id", "10000010000"), None,
                           "annotations[0].image_id: expected an integer image id, got the string '10000010000'"),
    "gt image id boolean": ("gt", 18, 18, lambda o: o["images"][1].update(id=True), None,
                            "images[1].id: expected an integer image id, got a boolean"),
    "gt true among keypoints": ("gt", 18, 18, _set_kp(2, True), None,
                                "annotations[0].keypoints[2]: expected a number, got a boolean"),
    "pred nested keypoints 2018": ("pred", 18, 18, _set_kp(7, [1.0]), None,
                                   "annotations[0].keypoints[7]: expected a number, got a list of 1"),
    "pred nested scores 2018": ("pred", 18, 18, _set_score(0, [1.0]), None,
                                "annotations[0].scores[0]: expected a number, got a list of 1"),
    "pred nested x 2017": ("pred", 18, 17, _point17("x", [[1.0]]), None,
                           "annolist[0].annorect[0].annopoints[0].point[0].x: expected a number, got a list of 1"),
    "pred nested score 2017": ("pred", 18, 17, _point17("score", [[1.0]]), None,
                               "annolist[0].annorect[0].annopoints[0].point[0].score: expected a number, got a list"),
    "gt nested y 2017": ("gt", 17, 18, lambda o: o["annolist"][1]["annorect"][1]["annopoints"][0]["point"][3]
                         .update(y=[[5.0, 6.0]]), None,
                         "annolist[1].annorect[1].annopoints[0].point[3].y: expected a number, got a list of 2"),
    "pred image_id NaN": ("pred", 18, 18, _ann("image_id", "@RAW@"), "NaN",
                          "annotations[0].image_id: expected an integer image id, got the number nan"),
    "pred of another video": ("pred", 18, 18, lambda o: [img.update(file_name=img["file_name"].replace(
        "000001_mpii", "000002_mpii")) for img in o["images"]], None,
        "images[0].file_name: expected a frame of video 000001 (the file's name), got"),
    "pred 2017 of another video": ("pred", 18, 17, lambda o: o["annolist"][1]["image"][0].update(
        name="images/val/000002_mpii_test/000001.jpg"), None,
        "annolist[1].image[0].name: expected a frame of video 000001 (the file's name), got"),
    "gt unknown image_id": ("gt", 18, 18, _ann("image_id", 5), None,
                            "annotations[0].image_id: no image with id 5 in 'images'"),
    "gt duplicate image id": ("gt", 18, 18, lambda o: o["images"][1].update(id=o["images"][0]["id"]), None,
                              "images[1].id: duplicate image id"),
    "pred 18 scores": ("pred", 18, 18, lambda o: o["annotations"][0]["scores"].append(0.5), None,
                       "annotations[0].scores: expected 17 numbers, got 18"),
}


def _cli(argv: list[str], capsys) -> tuple[int, list[str]]:
    rc = main(argv)
    return rc, capsys.readouterr().err.splitlines()


def _both(pt, bad: Path, capsys, role: str = "auto") -> tuple[tuple[int, list[str]], tuple[int, list[str]]]:
    """(exit code, error/warning lines) of ``evaluate`` on the pair and of ``annotations check`` on ``bad``."""
    evaluate = _cli(["evaluate", "--gt", str(pt.gt), "--pred", str(pt.pred), "--episodes", "none"], capsys)
    check = _cli(["annotations", "check", "--role", role, str(bad)], capsys)
    return evaluate, check


@pytest.mark.parametrize("case", list(REFUSED))
def test_check_and_evaluate_refuse_alike(pt, case, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    which, gt_format, pred_format, edit, raw, expected = REFUSED[case]
    gt_path, pred_path = _setup(pt, gt_format, pred_format)
    bad = gt_path if which == "gt" else pred_path
    _rewrite(bad, edit, raw)
    evaluate, check = _both(pt, bad, capsys)
    assert evaluate[0] == check[0] == 2
    assert evaluate[1] == check[1] and len(check[1]) == 1
    assert check[1][0].startswith(f"error: {bad}: {expected}")


@pytest.mark.parametrize("which", ["gt", "pred"])
def test_absurd_nesting_is_an_input_error(pt, which, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    gt_path, pred_path = _setup(pt)
    bad = gt_path if which == "gt" else pred_path
    _rewrite(bad, lambda o: o.update(extra="@RAW@"), "[" * 200_000 + "]" * 200_000)
    evaluate, check = _both(pt, bad, capsys)
    assert evaluate[0] == check[0] == 2
    assert evaluate[1] == check[1] == [f"error: {bad}: arrays or objects nested too deeply to read (a PoseTrack "
                                       "file nests about 6 levels; docs/metric.md, §11)"]


def test_unknown_prediction_image_id_is_a_counted_warning_in_both(pt, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    _, pred_path = _setup(pt)
    expected = evaluate_dirs(pt.gt, pt.pred)
    _rewrite(pred_path, lambda o: o["annotations"].append(dict(o["annotations"][0], image_id=5, track_id=7)))
    warning = (f"warning: {pred_path}: 1 predicted persons have an image_id that names no image of their file; "
               "they are not scored (poseval drops them too)")
    evaluate, check = _both(pt, pred_path, capsys)
    assert evaluate == (0, [warning]) and check == (0, [warning])
    result = evaluate_dirs(pt.gt, pt.pred)
    assert result.columns == expected.columns and result.warnings == [warning.removeprefix("warning: ")]


def test_integral_float_ids_are_integers(pt, capsys, monkeypatch):
    """poseval compares ids with ``==``: 10000010000.0 is image 10000010000, scored as if it were written 1e10."""
    monkeypatch.chdir(REPO)
    gt_path, pred_path = _setup(pt)
    expected = evaluate_dirs(pt.gt, pt.pred)
    for path in (gt_path, pred_path):
        _rewrite(path, lambda o: [a.update(image_id=float(a["image_id"])) for a in o["annotations"]])
    assert evaluate_dirs(pt.gt, pt.pred).columns == expected.columns
    evaluate, check = _both(pt, gt_path, capsys)
    assert evaluate[0] == check[0] == 0


def test_prediction_of_another_video_under_a_plain_name(pt):
    """Files not named like a video: evaluate compares the prediction's video with its GT's (a pair rule)."""
    gt_path, pred_path = _setup(pt)
    for path in (gt_path, pred_path):
        path.rename(path.with_name("seq.json"))
    _rewrite(pt.pred / "seq.json", lambda o: [img.update(file_name=img["file_name"].replace(
        "000001_mpii", "000002_mpii")) for img in o["images"]])
    with pytest.raises(InputFormatError) as info:
        evaluate_dirs(pt.gt, pt.pred)
    assert info.value.field == "images[0].file_name" and "expected a frame of video 000001" in str(info.value)


# -- the former gaps (docs/metric.md, §11): rules the training reader had alone -----------------------------------


def _rect17(f, k, **fields):
    return lambda o: o["annolist"][f]["annorect"][k].update(fields)


def _regions18(xs, ys):
    return lambda o: o["images"][0].update(ignore_regions_x=xs, ignore_regions_y=ys)


def _gt_with_scores_and_unknown_id(o):
    for a in o["annotations"]:
        a["scores"] = [0.5] * 17
    o["annotations"][0]["image_id"] = 5


P17 = "annolist[0].annorect[0].annopoints[0].point[0]"

# name → (which file, GT format, prediction format, edit, `annotations check --role`, expected "field: message"
# start of the one error line, or None where both accept the file)
FORMER_GAPS = {
    "2017 scalar in a two-element list": ("gt", 17, 18, _point17("x", [1.0, 2.0]), "auto",
                                          f"{P17}.x: expected a one-element list, got 2 elements"),
    "2017 null joint id": ("pred", 18, 17, _point17("id", [None]), "auto",
                           f"{P17}.id: expected an integer joint id, got null"),
    "2017 non-integer joint id": ("gt", 17, 18, _point17("id", [2.5]), "auto",
                                  f"{P17}.id: expected an integer joint id, got the number 2.5"),
    "2018 ignore region x/y of unequal length": ("gt", 18, 18, _regions18([[0, 50, 50]], [[0, 0]]), "auto",
                                                 "images[0].ignore_regions_y[0]: expected 3 numbers, got 2"),
    "2018 ignore region polygons unequal": ("gt", 18, 18, _regions18([[0, 50, 50], [1, 2, 3]], [[0, 0, 50]]), "auto",
                                            "images[0].ignore_regions_y: expected 2 polygons like ignore_regions_x"),
    "2018 ignore_regions_x alone": ("gt", 18, 18, lambda o: o["images"][0].update(ignore_regions_x=[[0, 1, 1]]),
                                    "auto", "images[0]: ignore_regions_x and ignore_regions_y must appear together"),
    "2017 annopoints [{}]": ("gt", 17, 18, _rect17(0, 1, annopoints=[{}]), "auto", None),
    "2017 annopoints of two": ("gt", 17, 18, _rect17(0, 1, annopoints=[{}, {}]), "auto",
                               "annolist[0].annorect[1].annopoints: expected a one-element list, got 2 elements"),
    "2017 is_visible not a number": ("gt", 17, 18, _point17("is_visible", ["yes"]), "auto",
                                     f"{P17}.is_visible: expected a number, got the string 'yes'"),
    "pred 2017 is_visible": ("pred", 18, 17, _point17("is_visible", [True]), "auto",
                             f"{P17}.is_visible: expected a number, got a boolean"),
    "pred 2017 head box": ("pred", 18, 17, _rect17(0, 0, x1=["a"], y1=[0], x2=[1], y2=[1]), "auto",
                           "annolist[0].annorect[0].x1: expected a number, got the string 'a'"),
    "pred 2017 half a head box": ("pred", 18, 17, lambda o: o["annolist"][1]["annorect"][0].pop("y1"), "auto",
                                  "annolist[1].annorect[0].y1: missing"),
    "pred 2018 ignore region": ("pred", 18, 18, _regions18([[0, "a", 50]], [[0, 0, 50]]), "auto",
                                "images[0].ignore_regions_x[0][1]: expected a number, got the string 'a'"),
    "pred 2017 ignore region": ("pred", 18, 17, lambda o: o["annolist"][0].update(ignore_regions=[{"point": [
        {"x": [1.0, 2.0], "y": [1.0]}]}]), "auto",
        "annolist[0].ignore_regions[0].point[0].x: expected a one-element list, got 2 elements"),
    "gt 2017 point score": ("gt", 17, 18, _point17("score", ["high"]), "gt",
                            f"{P17}.score: expected a number, got the string 'high'"),
    "gt 2017 person score": ("gt", 17, 18, _rect17(1, 1, score=[None]), "auto",
                             "annolist[1].annorect[1].score: expected a number, got null"),
    "2017 frame without image": ("pred", 18, 17, lambda o: o["annolist"][1].pop("image"), "auto",
                                 "annolist[1].image: missing"),
    "role: GT with per-joint scores, checked as GT": ("gt", 18, 18, _gt_with_scores_and_unknown_id, "gt",
                                                      "annotations[0].image_id: no image with id 5 in 'images'"),
}


@pytest.mark.parametrize("case", list(FORMER_GAPS))
def test_former_gaps_get_one_verdict(pt, case, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    which, gt_format, pred_format, edit, role, expected = FORMER_GAPS[case]
    gt_path, pred_path = _setup(pt, gt_format, pred_format)
    bad = gt_path if which == "gt" else pred_path
    _rewrite(bad, edit)
    evaluate, check = _both(pt, bad, capsys, role)
    if expected is None:
        assert evaluate[0] == check[0] == 0 and not check[1]
        return
    assert evaluate[0] == check[0] == 2
    assert evaluate[1] == check[1] and len(check[1]) == 1
    assert check[1][0].startswith(f"error: {bad}: {expected}")


def test_role_auto_guesses_from_scores(pt, capsys, monkeypatch):
    """``--role auto`` (the default) takes a GT file with per-joint scores for predictions, whose unknown image ids
    are a warning: ``--role gt`` gives evaluate's verdict on a file of its --gt directory."""
    monkeypatch.chdir(REPO)
    gt_path, _ = _setup(pt)
    _rewrite(gt_path, _gt_with_scores_and_unknown_id)
    rc, err = _cli(["annotations", "check", str(gt_path)], capsys)
    assert rc == 0 and err[0].startswith(f"warning: {gt_path}: 1 predicted persons have an image_id")


def test_a_rule_of_training_alone_is_a_counted_warning(pt, capsys, monkeypatch):
    """Should the training reader refuse a file the loader accepts, the check warns (file, JSON path, the crops
    stage will refuse it), counts it and passes, as evaluate scores the file."""
    import fasrnet.evaluate.validate as validate

    monkeypatch.chdir(REPO)
    gt_path, _ = _setup(pt)

    def refuse(obj, path, **kwargs):
        raise InputFormatError(path, "images[0].some_field", "a rule of training alone")

    monkeypatch.setattr(validate, "parse_video", refuse)
    evaluate = _cli(["evaluate", "--gt", str(pt.gt), "--pred", str(pt.pred), "--episodes", "none"], capsys)
    assert evaluate[0] == 0
    rc = main(["annotations", "check", str(gt_path)])
    out, err = capsys.readouterr()
    assert rc == 0 and err.splitlines() == [
        f"warning: {gt_path}: images[0].some_field: a rule of training alone; the crops stage will refuse this "
        "file, which evaluate scores (docs/metric.md, §11)"]
    assert out.startswith("1 files OK: 2 frames, 2 with persons, 4 persons (1 ground truth, 0 predictions); 1 of them "
                          "the crops stage will refuse")
