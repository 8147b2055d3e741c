"""Detection boxes: the pipeline's format, DCPose and mmpose adapters, malformed files, ``fasrnet boxes``."""

from __future__ import annotations

import json

import pytest

from fasrnet.cli import main
from fasrnet.data.boxes import (
    Box,
    convert,
    from_dcpose,
    from_mmpose,
    kept_detection,
    load_image_index,
    normalize_image_name,
    read_boxes,
    write_boxes,
)
from fasrnet.data.posetrack import Frame, Video, write_video
from fasrnet.errors import InputFormatError

IMG0 = "images/val/000342_mpii_test/000000.jpg"
IMG1 = "images/val/000342_mpii_test/000001.jpg"


def _good(**changes):
    entry = {"image_name": IMG0, "image_id": 10003420000, "category_id": 1, "bbox": [1.0, 2.0, 30.0, 40.0],
             "score": 0.9, "nframes": 2, "frame_id": 10003420000}
    entry.update(changes)
    return entry


def _dump(path, obj):
    path.write_text(json.dumps(obj))
    return path


def _merged():
    return {"images": [
        {"file_name": IMG0, "id": 10003420000, "frame_id": 10003420000, "nframes": 2, "vid_id": "000342"},
        {"file_name": IMG1, "id": 10003420001, "frame_id": 10003420001, "nframes": 2, "vid_id": "000342"},
    ], "annotations": [], "categories": []}


def test_pipeline_format_round_trip(tmp_path):
    boxes = [Box(IMG0, 10003420000, 1, (1.0, 2.0, 30.0, 40.0), 0.9, 2, 10003420000)]
    write_boxes(tmp_path / "b.json", boxes)
    assert read_boxes(tmp_path / "b.json") == boxes
    assert json.loads((tmp_path / "b.json").read_text()) == [_good()]


@pytest.mark.parametrize(
    ("entries", "field", "message"),
    [
        ([_good(), _good(bbox=[1, 2, 3])], "[1].bbox", "expected 4 numbers [x, y, w, h], got 3 numbers"),
        ([_good(bbox=[1, 2, "3", 4])], "[0].bbox[2]", "expected a finite number"),
        ([_good(bbox=[1, 2, -3, 4])], "[0].bbox", "must not be negative"),
        ([{k: v for k, v in _good().items() if k != "score"}], "[0].score", "missing"),
        ([_good(image_id="x")], "[0].image_id", "expected an integer"),
        ([_good(nframes=0)], "[0].nframes", "expected at least 1"),
        ([_good(), 5], "[1]", "expected an object"),
    ],
)
def test_malformed_box_file_names_file_and_field(tmp_path, entries, field, message):
    path = _dump(tmp_path / "val_boxes.json", entries)
    with pytest.raises(InputFormatError) as info:
        read_boxes(path)
    assert info.value.field == field and message in info.value.detail
    assert str(info.value).startswith(f"{path}: {field}: ")


def test_box_file_that_is_not_a_list(tmp_path):
    with pytest.raises(InputFormatError, match="expected a JSON list of boxes, got an object"):
        read_boxes(_dump(tmp_path / "b.json", {"boxes": []}))
    (tmp_path / "c.json").write_text("[{")
    with pytest.raises(InputFormatError, match=r"c\.json: not valid JSON"):
        read_boxes(tmp_path / "c.json")


def test_normalize_image_name():
    assert normalize_image_name("./DataSet/PoseTrack2018/images/val/x/000001.jpg") == "images/val/x/000001.jpg"
    assert normalize_image_name("val/x/000001.jpg") == "images/val/x/000001.jpg"
    assert normalize_image_name("images_renamed/bonn/x/00000001.jpg") == "images_renamed/bonn/x/00000001.jpg"
    assert normalize_image_name(IMG0) == IMG0


def test_dcpose_adapter_fills_ids_drops_other_categories_keeps_low_scores():
    entries = [
        {"image_name": "val/000342_mpii_test/000001.jpg", "bbox": [1, 2, 3, 4], "score": 0.05, "nframes": 2},
        {"image_name": IMG0, "bbox": [1, 2, 3, 4], "score": 0.9, "category_id": 2, "nframes": 2},
        _good(),
    ]
    boxes = from_dcpose(entries)
    assert [b.image_name for b in boxes] == [IMG1, IMG0]
    assert boxes[0].image_id == boxes[0].frame_id == 10003420001 and boxes[0].score == 0.05
    assert len(from_dcpose(entries, min_score=0.2)) == 1


def test_dcpose_adapter_without_nframes_needs_annotations(tmp_path):
    entries = [{"image_name": IMG1, "bbox": [1, 2, 3, 4], "score": 0.5}]
    with pytest.raises(InputFormatError) as info:
        from_dcpose(entries, tmp_path / "val_boxes.json")
    assert info.value.field == "[0].nframes" and "--ann" in info.value.detail
    # Per-video annotation files (2017 format here) fill the gap.
    video = Video("000342_mpii_test", [Frame(IMG0), Frame(IMG1), Frame("images/val/000342_mpii_test/000002.jpg")])
    write_video(video, tmp_path / "ann" / "val" / "000342_mpii_test.json", 17)
    boxes = from_dcpose(entries, tmp_path / "val_boxes.json", load_image_index(tmp_path / "ann"))
    assert (boxes[0].nframes, boxes[0].image_id) == (3, 10003420001)
    stray = [{"image_name": "images/val/000999_mpii_test/000000.jpg", "bbox": [1, 2, 3, 4], "score": 0.5}]
    with pytest.raises(InputFormatError, match=r"\[0\]\.image_name: .* is not an image of the annotations"):
        from_dcpose(stray, tmp_path / "val_boxes.json", load_image_index(tmp_path / "ann"))


def test_mmpose_adapter_looks_up_image_ids(tmp_path):
    index = load_image_index(_dump(tmp_path / "posetrack18_val.json", _merged()))
    dets = [{"image_id": 10003420001, "bbox": [5, 6, 7, 8], "score": 0.3, "category_id": 1},
            {"image_id": 10003420000, "bbox": [1, 1, 2, 2], "score": 0.8, "category_id": 3}]
    boxes = from_mmpose(dets, index)
    assert boxes == [Box(IMG1, 10003420001, 1, (5.0, 6.0, 7.0, 8.0), 0.3, 2, 10003420001)]
    with pytest.raises(InputFormatError) as info:
        from_mmpose([{"image_id": 42, "bbox": [1, 2, 3, 4], "score": 1.0}], index, tmp_path / "dets.json")
    assert info.value.field == "[0].image_id" and "no image with id 42" in info.value.detail


def test_merged_json_without_nframes_counts_the_video_frames(tmp_path):
    merged = _merged()
    for img in merged["images"]:
        del img["nframes"], img["frame_id"]
    index = load_image_index(_dump(tmp_path / "m.json", merged))
    assert index.by_id[10003420001].nframes == 2 and index.by_id[10003420001].frame_id == 10003420001


def test_convert_requires_annotations_for_mmpose(tmp_path):
    dets = _dump(tmp_path / "dets.json", [{"image_id": 1, "bbox": [1, 2, 3, 4], "score": 1.0}])
    with pytest.raises(InputFormatError, match="pass the merged val JSON"):
        convert("mmpose", dets, tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()


def test_cli_boxes_convert_and_check(tmp_path, capsys):
    ann = _dump(tmp_path / "posetrack18_val.json", _merged())
    dets = _dump(tmp_path / "dets.json", [
        {"image_id": 10003420000, "bbox": [1, 2, 3, 4], "score": 0.9, "category_id": 1},
        {"image_id": 10003420001, "bbox": [1, 2, 3, 4], "score": 0.1, "category_id": 1},
    ])
    out = tmp_path / "detections" / "val_boxes.json"
    rc = main(["boxes", "convert", "--from-format", "mmpose", "--in", str(dets), "--ann", str(ann),
               "--out", str(out), "--min-score", "0.2"])
    assert rc == 0
    assert "1 boxes written (2 read" in capsys.readouterr().out
    assert [b.image_name for b in read_boxes(out)] == [IMG0]
    assert main(["boxes", "check", str(out)]) == 0
    bad = _dump(tmp_path / "bad.json", [_good(bbox=[1, 2])])
    assert main(["boxes", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"error: {bad}: [0].bbox: expected 4 numbers" in err
    dc = _dump(tmp_path / "dc.json", [{"image_name": "val/000342_mpii_test/000000.jpg", "bbox": [1, 2, 3, 4],
                                       "score": 0.5, "nframes": 2}])
    assert main(["boxes", "convert", "--from-format", "dcpose", "--in", str(dc), "--out", str(out)]) == 0
    assert read_boxes(out)[0].image_id == 10003420000


@pytest.mark.parametrize(("bbox", "score", "kept"), [
    ((0.0, 0.0, 10.0, 20.0), 0.5, True),  # the threshold itself is kept
    ((0.0, 0.0, 10.0, 20.0), 0.49, False),
    ((0.0, 0.0, 0.0, 20.0), 0.9, False),  # no width: the crop would be empty
    ((0.0, 0.0, 10.0, 0.0), 0.9, False),
])
def test_kept_detection_is_score_at_least_the_threshold_and_a_positive_size(bbox, score, kept):
    assert kept_detection(bbox, score, 0.5) is kept


NONFINITE = {"NaN": "the number nan", "Infinity": "the number inf", "-Infinity": "the number -inf",
             "1e400": "the number inf", "1" + "0" * 400: "an integer too large for a float (1329 bits)"}


@pytest.mark.parametrize("token", list(NONFINITE))
@pytest.mark.parametrize(("key", "field"), [("bbox", "[1].bbox[2]"), ("score", "[1].score")])
def test_non_finite_bbox_or_score_is_rejected_by_reader_and_adapter(tmp_path, token, key, field):
    """JSON NaN / Infinity / 1e400 literals (the json module reads them as floats) and integers too large for a
    float, in the pipeline's format and through the DCPose adapter."""
    bad = _good(bbox=[1.0, 2.0, "@X@", 40.0]) if key == "bbox" else _good(score="@X@")
    path = tmp_path / "val_boxes.json"
    path.write_text(json.dumps([_good(), bad]).replace('"@X@"', token))
    expected = f"{path}: {field}: expected a finite number, got {NONFINITE[token]}"
    with pytest.raises(InputFormatError) as info:
        read_boxes(path)
    assert str(info.value) == expected
    with pytest.raises(InputFormatError) as info:
        convert("dcpose", path, tmp_path / "out.json")
    assert str(info.value) == expected and not (tmp_path / "out.json").exists()
