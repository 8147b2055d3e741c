"""NaN / ±Inf numbers (JSON ``NaN``, ``Infinity``, ``-Infinity`` and overflowing literals such as ``1e400``) are
rejected by evaluate and by ``fasrnet annotations check`` with one and the same message naming the file and the
JSON path, whichever parser reads the file (orjson refuses these tokens, the json module reads them as floats)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import fasrnet.data.jsonpath as jsonpath
from fasrnet.cli import main
from fasrnet.errors import InputFormatError
from fasrnet.evaluate import evaluate_dirs
from fasrnet.evaluate.validate import check_file, guess_role

NAME = "000001_mpii_test.json"
MARK = "@TOKEN@"  # placeholder string, replaced by a raw JSON token in the file text
TOKEN = json.dumps(MARK)


def _setup(pt, gt_format: int, pred_format: int) -> tuple[Path, Path]:
    gt = pt.body(100, 100)
    frames = [pt.frame([pt.person(gt), pt.person(pt.body(400, 100))], regions=[[(600, 0), (700, 0), (700, 50)]])
              for _ in range(2)]
    preds = [pt.frame([pt.person(gt, scores=0.5), pt.person(pt.body(400, 100), scores=0.7)]) for _ in range(2)]
    return pt.write(frames, preds, gt_format, pred_format)


def _inject(path: Path, edit, token: str) -> None:
    """Apply ``edit`` to the parsed file (it stores TOKEN somewhere) and write the raw ``token`` there."""
    obj = json.loads(path.read_text())
    edit(obj)
    text = json.dumps(obj)
    assert TOKEN in text
    path.write_text(text.replace(TOKEN, token, 1))


def _set(*keys):
    def edit(obj):
        node = obj
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = MARK
    return edit


def _drop(keys, then):
    """Remove a key somewhere (to force the loader's per-person path), then apply ``then``."""
    def edit(obj):
        node = obj
        for k in keys[:-1]:
            node = node[k]
        node.pop(keys[-1])
        then(obj)
    return edit


def _float_id(then):
    """A joint id written as 0.0 (valid, but irregular: the loader reads the file person by person)."""
    def edit(obj):
        obj["annolist"][0]["annorect"][0]["annopoints"][0]["point"][0]["id"] = [0.0]
        then(obj)
    return edit


def _bbox(obj):  # a 2018 bbox: read by poseval's converter, not scored
    obj["annotations"][1]["bbox"] = [1.0, MARK, 3.0, 4.0]


P17 = ("annolist", 1, "annorect", 1, "annopoints", 0, "point")
# (file, GT format, prediction format, edit, JSON path in the message)
CASES = {
    "2018 pred score": ("pred", 18, 18, _set("annotations", 3, "scores", 16), "annotations[3].scores[16]"),
    "2018 pred x": ("pred", 18, 18, _set("annotations", 0, "keypoints", 0), "annotations[0].keypoints[0]"),
    "2018 gt keypoint v": ("gt", 18, 18, _set("annotations", 2, "keypoints", 50), "annotations[2].keypoints[50]"),
    "2018 gt head box": ("gt", 18, 18, _set("annotations", 1, "bbox_head", 3), "annotations[1].bbox_head[3]"),
    "2018 gt head box, per person": ("gt", 18, 18, _drop(("annotations", 0, "bbox_head"),
                                                         _set("annotations", 1, "bbox_head", 2)),
                                     "annotations[1].bbox_head[2]"),
    "2018 pred score, per person": ("pred", 18, 18, _drop(("annotations", 0, "scores"),
                                                          _set("annotations", 2, "scores", 0)),
                                    "annotations[2].scores[0]"),
    "2018 pred bbox": ("pred", 18, 18, _bbox, "annotations[1].bbox[1]"),
    "2018 gt ignore region": ("gt", 18, 18, _set("images", 1, "ignore_regions_y", 0, 2),
                              "images[1].ignore_regions_y[0][2]"),
    "2017 pred score": ("pred", 17, 17, _set(*P17, 3, "score", 0),
                        "annolist[1].annorect[1].annopoints[0].point[3].score"),
    "2017 gt y": ("gt", 17, 17, _set(*P17, 14, "y", 0), "annolist[1].annorect[1].annopoints[0].point[14].y"),
    "2017 gt y, per person": ("gt", 17, 17, _float_id(_set(*P17, 2, "y", 0)),
                              "annolist[1].annorect[1].annopoints[0].point[2].y"),
    "2017 pred x, per person": ("pred", 17, 17, _drop(("annolist", 0, "annorect", 0, "annopoints", 0, "point", 0,
                                                       "score"), _set(*P17, 2, "x", 0)),
                                "annolist[1].annorect[1].annopoints[0].point[2].x"),
    "2017 gt head box": ("gt", 17, 17, _set("annolist", 0, "annorect", 1, "x2", 0), "annolist[0].annorect[1].x2"),
    "2017 gt track id": ("gt", 17, 17, _set("annolist", 1, "annorect", 0, "track_id", 0),
                         "annolist[1].annorect[0].track_id"),
    "2017 gt ignore region": ("gt", 17, 17, _set("annolist", 0, "ignore_regions", 0, "point", 1, "x", 0),
                              "annolist[0].ignore_regions[0].point[1].x"),
    "2017 pred joint id": ("pred", 17, 17, _set(*P17, 0, "id", 0),
                           "annolist[1].annorect[1].annopoints[0].point[0].id"),
}
TOKENS = {"NaN": "nan", "Infinity": "inf", "1e400": "inf"}


@pytest.fixture(params=["orjson", "json"])
def parser(request, monkeypatch):
    """Both code paths of jsonpath.read_json: orjson (which refuses the tokens, so the json module reads the file
    anyway) and the json module alone."""
    if request.param == "orjson":
        pytest.importorskip("orjson")
    else:
        monkeypatch.setattr(jsonpath, "orjson", None)
    return request.param


def _cli_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    return err[0][len("error: "):]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "1e400"])
@pytest.mark.parametrize("case", list(CASES))
def test_nonfinite_rejected_by_evaluate_and_check_alike(pt, parser, case, token, capsys):
    which, gt_format, pred_format, edit, field = CASES[case]
    gt_path, pred_path = _setup(pt, gt_format, pred_format)
    bad = gt_path if which == "gt" else pred_path
    _inject(bad, edit, token)
    with pytest.raises(InputFormatError) as info:
        evaluate_dirs(pt.gt, pt.pred)
    err = info.value
    assert (err.path, err.field) == (str(bad), field)
    assert err.detail == f"expected a finite number, got the number {TOKENS[token]}"
    with pytest.raises(InputFormatError) as checked:
        check_file(bad)
    assert str(checked.value) == str(err)
    assert _cli_error(["annotations", "check", str(bad)], capsys) == str(err)
    evaluate = ["evaluate", "--gt", str(pt.gt), "--pred", str(pt.pred), "--episodes", "none"]
    assert _cli_error(evaluate, capsys) == str(err)


def test_negative_infinity_and_huge_integers(pt, parser):
    gt_path, pred_path = _setup(pt, 18, 18)
    _inject(pred_path, _set("annotations", 0, "keypoints", 1), "-Infinity")
    with pytest.raises(InputFormatError, match=r"keypoints\[1\]: expected a finite number, got the number -inf$"):
        check_file(pred_path)
    _setup(pt, 18, 18)
    _inject(gt_path, _set("annotations", 0, "keypoints", 3), "1" + "0" * 400)  # an integer: no float can hold it
    with pytest.raises(InputFormatError) as info:
        evaluate_dirs(pt.gt, pt.pred)
    assert info.value.field == "annotations[0].keypoints[3]"
    assert info.value.detail == "expected a finite number, got an integer too large for a float (1329 bits)"


def test_first_offender_in_file_order_is_named(pt):
    """The vectorised check names the same point the person-by-person reading would: the first in file order."""
    gt_path, _ = _setup(pt, 17, 17)

    def two(obj):
        obj["annolist"][1]["annorect"][0]["annopoints"][0]["point"][5]["x"] = [MARK]
        obj["annolist"][0]["annorect"][1]["annopoints"][0]["point"][7]["y"] = ["@SECOND@"]

    _inject(gt_path, two, "NaN")
    gt_path.write_text(gt_path.read_text().replace('"@SECOND@"', "Infinity"))
    with pytest.raises(InputFormatError) as info:
        evaluate_dirs(pt.gt, pt.pred)
    assert info.value.field == "annolist[0].annorect[1].annopoints[0].point[7].y"


def test_finite_files_pass_the_check_with_their_role(pt, capsys):
    gt_path, pred_path = _setup(pt, 18, 17)
    assert check_file(gt_path).role == "gt" and check_file(pred_path).role == "pred"
    assert guess_role(json.loads(gt_path.read_text())) == "gt"
    assert main(["annotations", "check", str(pt.gt), str(pt.pred)]) == 0
    out = capsys.readouterr().out
    assert "2 files OK: 4 frames, 4 with persons, 8 persons (1 ground truth, 1 predictions)" in out


def _tid(obj):
    obj["annotations"][0]["track_id"] = 10000


def _no_categories(obj):
    obj.pop("categories")


def _bad_folder(obj):
    obj["images"][0]["file_name"] = "images/val/video/000000.jpg"


def _dup_tid(obj):
    obj["annotations"][1]["track_id"] = obj["annotations"][0]["track_id"]


# Files evaluate rejects for reasons other than non-finite numbers (the check once accepted all of them).
OTHER = {
    "gt track id too large": ("gt", _tid, "annotations[0].track_id: track id 10000 must be below 10000"),
    "gt without categories": ("gt", _no_categories, "categories: missing"),
    "gt video folder": ("gt", _bad_folder, "images[0].file_name: video folder 'video'"),
    "pred duplicate track id": ("pred", _dup_tid, "annotations[1].track_id: track id 0 appears twice"),
}


@pytest.mark.parametrize("case", list(OTHER))
def test_check_rejects_what_evaluate_rejects(pt, case, capsys):
    which, edit, expected = OTHER[case]
    gt_path, pred_path = _setup(pt, 18, 18)
    bad = gt_path if which == "gt" else pred_path
    obj = json.loads(bad.read_text())
    edit(obj)
    bad.write_text(json.dumps(obj))
    with pytest.raises(InputFormatError) as info:
        evaluate_dirs(pt.gt, pt.pred)
    assert str(info.value).startswith(f"{bad}: {expected}")
    assert _cli_error(["annotations", "check", str(bad)], capsys) == str(info.value)


def test_in_memory_predictions_with_nan_scores_are_rejected(pt):
    import numpy as np

    from fasrnet.data.jsonpath import NonFiniteError
    from fasrnet.data.posetrack import read_video
    from fasrnet.evaluate import evaluate_videos

    gt_path, pred_path = _setup(pt, 18, 18)
    gt, pred = read_video(gt_path), read_video(pred_path)
    pred.frames[1].persons[0].scores[16] = np.nan  # slot 16 (right ankle): what a diverged model writes
    with pytest.raises(NonFiniteError, match=r"frames\[1\]\.persons\[0\]\.scores\[16\]: expected a finite number"):
        evaluate_videos([gt], [pred])
