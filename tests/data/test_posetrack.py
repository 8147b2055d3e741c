"""PoseTrack 2017/2018 readers and writers: round trips, conversion rules, malformed input."""

import json
from pathlib import Path

import numpy as np
import pytest

from fasrnet.cli import main
from fasrnet.data.posetrack import (
    Frame,
    Person,
    Video,
    read_split,
    read_video,
    to_2017,
    to_2018,
    write_video,
)
from fasrnet.errors import InputFormatError
from fasrnet.keypoints import KEYPOINTS, POSEVAL_TO_SLOT

_REPO = Path(__file__).resolve().parents[2]
# The given poseval fixtures, copied into the repository (tests/data/README.md says from where).
FIXTURES = _REPO / "tests" / "data" / "poseval_fixtures"


def _person(rng, track_id, with_scores=False):
    present = rng.random(17) < 0.8
    present[[3, 4]] = False  # ears are never annotated in PoseTrack
    kps = np.zeros((17, 3))
    kps[present, :2] = rng.uniform(1, 300, size=(present.sum(), 2))
    kps[present, 2] = 1
    person = Person(kps, present, track_id=track_id, head_box=(10.5, 20.25, 40.0, 66.0), bbox=(5.0, 6.0, 70.0, 150.0))
    if with_scores:
        person.scores = np.where(present, rng.random(17), 0.0)
        person.head_box = None
        person.bbox = None
    return person


def _video(with_scores=False):
    rng = np.random.default_rng(7)
    frames = []
    for t in range(5):
        persons = [_person(rng, k, with_scores) for k in range(t % 3)]
        regions = [np.array([[0.0, 0.0], [50.0, 0.0], [50.0, 40.5]])] if t == 2 else []
        frames.append(Frame(f"images/val/000342_mpii_test/{t:06d}.jpg", is_labeled=bool(persons), persons=persons,
                            ignore_regions=regions))
    return Video("000342_mpii_test", frames)


@pytest.mark.parametrize("fmt", [17, 18])
@pytest.mark.parametrize("with_scores", [False, True])
def test_round_trip(tmp_path, fmt, with_scores):
    video = _video(with_scores)
    path = tmp_path / "000342_mpii_test.json"
    write_video(video, path, fmt)
    back = read_video(path)
    if fmt == 17:  # the 2017 format has no person bbox
        for frame in video.frames:
            for person in frame.persons:
                person.bbox = None
    assert back == video


def test_2017_and_2018_writers_agree_through_the_readers(tmp_path):
    video = _video()
    write_video(video, tmp_path / "a17.json", 17)
    write_video(video, tmp_path / "a18.json", 18)
    a17, a18 = read_video(tmp_path / "a17.json"), read_video(tmp_path / "a18.json")
    for f17, f18 in zip(a17.frames, a18.frames):
        for p17, p18 in zip(f17.persons, f18.persons):
            assert np.array_equal(p17.present, p18.present)
            assert np.allclose(p17.keypoints, p18.keypoints)


def test_given_gt_reads_the_same_in_both_formats():
    for f18 in sorted((FIXTURES / "gt").glob("*.json")):
        v18, v17 = read_video(f18), read_video(FIXTURES / "gt17" / f18.name)
        assert v18.name == v17.name == f18.stem
        assert len(v18.frames) == len(v17.frames)
        for a, b in zip(v18.frames, v17.frames):
            assert a.image == b.image and a.is_labeled == b.is_labeled
            assert len(a.ignore_regions) == len(b.ignore_regions)
            assert len(a.persons) == len(b.persons)
            for p, q in zip(a.persons, b.persons):
                assert np.array_equal(p.present, q.present)
                assert np.allclose(p.keypoints[p.present, :2], q.keypoints[q.present, :2])
                assert p.track_id == q.track_id
                assert np.allclose(p.head_box, q.head_box)


def test_read_split_sorted_and_scores_from_predictions():
    videos = read_split(FIXTURES / "pred_noisy")
    assert [v.name for v in videos] == sorted(v.name for v in videos)
    person = next(p for f in videos[0].frames for p in f.persons)
    assert person.scores is not None and person.present.sum() == 17  # predictions include the ears


def _write(tmp_path, obj, name="000342_mpii_test.json"):
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return path


def _doc18(kps=None, **ann_extra):
    ann = {"id": 1, "image_id": 10003420000, "track_id": 0, "keypoints": kps if kps is not None else [0] * 51}
    ann.update(ann_extra)
    return {
        "images": [{"file_name": "images/val/000342_mpii_test/000000.jpg", "id": 10003420000, "is_labeled": True}],
        "annotations": [ann],
        "categories": [{"name": "person", "keypoints": list(KEYPOINTS)}],
    }


def test_2018_zero_triplet_is_absent_but_v0_with_coordinates_is_present(tmp_path):
    kps = [0] * 51
    kps[0:3] = [10, 20, 0]  # nose with v = 0 but real coordinates: annotated
    kps[3:6] = [0, 0, 1]  # head_bottom at the origin with v = 1: kept
    person = read_video(_write(tmp_path, _doc18(kps))).frames[0].persons[0]
    assert person.present[0] and person.present[1] and person.present.sum() == 2


def test_2017_first_point_with_an_id_counts_and_unknown_ids_are_ignored(tmp_path):
    doc = {"annolist": [{
        "image": [{"name": "images/val/000342_mpii_test/000000.jpg"}],
        "annorect": [{"track_id": [3], "annopoints": [{"point": [
            {"id": [13], "x": [1.0], "y": [2.0]},
            {"id": [13], "x": [9.0], "y": [9.0]},
            {"id": [15], "x": [5.0], "y": [5.0]},
        ]}]}],
    }]}
    person = read_video(_write(tmp_path, doc)).frames[0].persons[0]
    nose = POSEVAL_TO_SLOT[13]
    assert person.present.sum() == 1 and person.present[nose]
    assert tuple(person.keypoints[nose, :2]) == (1.0, 2.0)
    assert person.track_id == 3


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["annotations"][0].update(keypoints=[0] * 45),
         "000342_mpii_test.json: annotations[0].keypoints: expected 51 numbers, got 45"),
        (lambda d: d["annotations"][0]["keypoints"].__setitem__(4, "a"),
         "annotations[0].keypoints[4]: expected a number, got the string 'a'"),
        (lambda d: d["annotations"][0].update(image_id=5), "annotations[0].image_id: no image with id 5"),
        (lambda d: d["annotations"][0].pop("image_id"), "annotations[0].image_id: missing"),
        (lambda d: d["annotations"][0].update(bbox_head=[1, 2, 3]),
         "annotations[0].bbox_head: expected 4 numbers, got 3"),
        (lambda d: d["annotations"][0].update(track_id="x"), "annotations[0].track_id: expected an integer"),
        (lambda d: d["images"][0].pop("file_name"), "images[0].file_name: missing"),
        (lambda d: d.pop("images"), "images: missing"),
        (lambda d: d["categories"][0].update(name="dog"), "categories[0].name: expected 'person'"),
        (lambda d: d["categories"][0]["keypoints"].__setitem__(1, "neck"),
         "categories[0].keypoints: missing keypoint names ['head_bottom']"),
        (lambda d: d["images"][0].update(ignore_regions_x=[[1, 2, 3]]),
         "ignore_regions_x and ignore_regions_y must appear together"),
    ],
)
def test_malformed_2018_names_file_and_field(tmp_path, mutate, message):
    doc = _doc18()
    mutate(doc)
    with pytest.raises(InputFormatError) as info:
        read_video(_write(tmp_path, doc))
    assert message in str(info.value)
    assert str(tmp_path) in str(info.value)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["annolist"][0].pop("annorect"), "annolist[0].annorect: missing"),
        (lambda d: d["annolist"][0]["annorect"][0]["annopoints"][0]["point"][0].pop("x"),
         "annolist[0].annorect[0].annopoints[0].point[0].x: missing"),
        (lambda d: d["annolist"][0]["annorect"][0]["annopoints"][0]["point"][0].update(y=[1, 2]),
         "annolist[0].annorect[0].annopoints[0].point[0].y: expected a one-element list, got 2 elements"),
        (lambda d: d["annolist"][0]["annorect"][0].update(x2=["a"]),
         "annolist[0].annorect[0].x2: expected a number"),
        (lambda d: d.update(annolist={}), "annolist: expected a list"),
    ],
)
def test_malformed_2017_names_file_and_field(tmp_path, mutate, message):
    doc = to_2017(_video())
    doc["annolist"][0] = doc["annolist"][1]
    mutate(doc)
    with pytest.raises(InputFormatError) as info:
        read_video(_write(tmp_path, doc))
    assert message in str(info.value)


def test_invalid_json_names_file_line_and_column(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"images": [}')
    with pytest.raises(InputFormatError, match=r"bad\.json: not valid JSON: .* \(line 1, column 13\)"):
        read_video(path)


def test_2018_image_ids_follow_posetrack_scheme():
    doc = to_2018(_video())
    assert [im["id"] for im in doc["images"][:2]] == [10003420000, 10003420001]
    assert doc["images"][2]["ignore_regions_x"] == [[0.0, 50.0, 50.0]]


def test_cli_annotations_check_reports_truncated_keypoints(tmp_path, capsys):
    good = tmp_path / "val" / "000342_mpii_test.json"
    good.parent.mkdir()
    write_video(_video(), good, 18)
    assert main(["annotations", "check", str(tmp_path)]) == 0
    assert "1 files OK" in capsys.readouterr().out

    doc = json.loads(good.read_text())
    doc["annotations"][0]["keypoints"] = doc["annotations"][0]["keypoints"][:45]
    good.write_text(json.dumps(doc))
    assert main(["annotations", "check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "val/000342_mpii_test.json: annotations[0].keypoints: expected 51 numbers, got 45" in err


def _poke(obj, keys, value):
    node = obj
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.parametrize(("fmt", "keys", "field"), [
    (18, ("annotations", 0, "keypoints", 1), "annotations[0].keypoints[1]"),
    (18, ("annotations", 1, "bbox_head", 2), "annotations[1].bbox_head[2]"),
    (18, ("images", 2, "ignore_regions_y", 0, 1), "images[2].ignore_regions_y[0][1]"),
    (17, ("annolist", 1, "annorect", 0, "annopoints", 0, "point", 0, "x", 0),
     "annolist[1].annorect[0].annopoints[0].point[0].x"),
    (17, ("annolist", 2, "annorect", 1, "y2", 0), "annolist[2].annorect[1].y2"),
])
def test_non_finite_numbers_are_rejected_with_their_json_path(tmp_path, fmt, keys, field, token):
    """JSON NaN / Infinity literals and overflowing ones (1e400) load as float nan/inf; the reader rejects them."""
    path = tmp_path / "000342_mpii_test.json"
    write_video(_video(), path, fmt)
    obj = json.loads(path.read_text())
    _poke(obj, keys, "@X@")
    path.write_text(json.dumps(obj).replace('"@X@"', token))
    with pytest.raises(InputFormatError) as info:
        read_video(path)
    value = {"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf", "1e400": "inf"}[token]
    assert str(info.value) == f"{path}: {field}: expected a finite number, got the number {value}"


def test_prediction_scores_must_be_finite(tmp_path):
    path = tmp_path / "000342_mpii_test.json"
    write_video(_video(with_scores=True), path, 18)
    obj = json.loads(path.read_text())
    _poke(obj, ("annotations", 0, "scores", 0), "@X@")
    path.write_text(json.dumps(obj).replace('"@X@"', "NaN"))
    with pytest.raises(InputFormatError, match=r"annotations\[0\]\.scores\[0\]: expected a finite number, got "
                                               r"the number nan$"):
        read_video(path)
