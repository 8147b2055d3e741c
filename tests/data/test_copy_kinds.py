"""``fasrnet download --from`` on the kinds of copy researchers hold (docs/data.md, §8): PoseTrack18 v0.45 and
v0.2, PoseTrack21, PoseTrack17 raw and DCPose's images_renamed layout, each recognised from its files and recorded
in dataset.json; unknown, mixed and broken trees refused with one message, exit ≠ 0 and nothing adopted.

The trees are made here in tmp_path: real formats (the PoseTrack readers' writers, PoseTrack21's extra fields),
one frame per video, empty image files (the layout check looks for the files, it does not decode them)."""

from __future__ import annotations

import json

import pytest

from fasrnet.cli import main
from fasrnet.data.download import LayoutError, detect_kind
from fasrnet.data.posetrack import Frame, Person, Video, to_2017, to_2018


def _video(name: str, image_root: str, split: str, frame_name: str = "000000.jpg") -> Video:
    person = Person.empty(track_id=0, head_box=(10.0, 10.0, 30.0, 30.0))
    person.keypoints[5] = (40.0, 50.0, 1.0)
    person.keypoints[6] = (60.0, 50.0, 1.0)
    person.present[[5, 6]] = True
    return Video(name=name, frames=[Frame(image=f"{image_root}/{split}/{name}/{frame_name}", is_labeled=True,
                                          persons=[person])])


def _write(root, rel: str, obj) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _touch(root, rel: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(b"")


def make_copy(root, kind: str, counts: dict[str, int]):
    """A copy of ``kind`` with ``counts`` videos per split."""
    for split, n in counts.items():
        for k in range(n):
            name = f"{k + 1:06d}_mpii_test"
            if kind in ("posetrack18", "posetrack21"):
                video = _video(name, "images", split)
                obj = to_2018(video)
                folder = "annotations"
                if kind == "posetrack21":
                    folder = "posetrack_data"
                    obj["images"][0]["has_labeled_person"] = True
                    for ann in obj["annotations"]:
                        ann["person_id"] = 7
                _write(root, f"{folder}/{split}/{name}.json", obj)
            else:  # PoseTrack17 annolist: raw (images/) or DCPose's renamed frames (images_renamed/, %08d from 1)
                renamed = kind == "posetrack17_dcpose"
                # the release keeps its frames in source folders (images/mpii_5sec/…), not in split folders
                video = _video(name, "images_renamed" if renamed else "images", split if renamed else "mpii_5sec",
                               "00000001.jpg" if renamed else "00000000.jpg")
                _write(root, f"annotations/{split}/{name}.json", to_2017(video))
            _touch(root, video.frames[0].image)
    return root


def _params(tmp_path) -> str:
    f = tmp_path / "params.yaml"
    f.write_text(f"data:\n  root: {tmp_path / 'raw'}\n")
    return str(f)


def _adopt(tmp_path, copy, dataset, *extra, pre=()):
    return main(["--params", _params(tmp_path), *pre, "download", "--from", str(copy), "--dataset", dataset,
                 "--what", "images,labels", *extra])


KNOWN = [
    ("posetrack18", "posetrack18", {"val": 170}, "v0.45", "PoseTrack18 v0.45 labels"),
    ("posetrack18", "posetrack18", {"val": 74}, "v0.2", "PoseTrack18 v0.2 labels"),
    ("posetrack21", "posetrack21", {"val": 170}, "v0.1", "PoseTrack21 labels"),
    ("posetrack17", "posetrack17", {"val": 50}, "v0.75", "PoseTrack17 v0.75 labels"),
    ("posetrack17_dcpose", "posetrack17", {"val": 50}, "v0.75", "PoseTrack17 v0.75 labels"),
]


@pytest.mark.parametrize(("kind", "dataset", "counts", "version", "labels"), KNOWN,
                         ids=["pt18-v0.45", "pt18-v0.2", "pt21", "pt17-raw", "pt17-dcpose-renamed"])
def test_each_kind_is_named_with_its_version_and_recorded(tmp_path, capsys, kind, dataset, counts, version, labels):
    copy = make_copy(tmp_path / "copy", kind, counts)
    found = detect_kind(copy)
    assert (found.kind, found.label_version, found.labels) == (kind, version, labels)
    assert _adopt(tmp_path, copy, dataset) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    layout = "DCPose's images_renamed layout" if kind == "posetrack17_dcpose" else f"{labels.split()[0]} layout"
    assert f"{dataset}: found {labels}, {layout} (val {counts['val']} videos) in {copy}" in err
    assert f"layout OK: {dataset} ({labels};" in err
    record = json.loads((tmp_path / "raw" / dataset / "dataset.json").read_text())
    assert record["kind"] == kind and record["label_version"] == version and record["labels"] == labels
    image_entry = "images_renamed" if kind == "posetrack17_dcpose" else "images"
    assert (tmp_path / "raw" / dataset / image_entry).is_symlink()
    # --verify-only names the recorded labels again
    assert main(["--params", _params(tmp_path), "download", "--dataset", dataset, "--verify-only",
                 "--expect", f"val={counts['val']}"]) == 0
    assert f"{dataset}: {labels} (adopted;" in capsys.readouterr().err


def _refused(tmp_path, capsys, copy, dataset, pre=()) -> list[str]:
    assert _adopt(tmp_path, copy, dataset, pre=pre) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    raw = tmp_path / "raw"
    # only the dataset's lock file (fasrnet.locks: beside the output, never deleted) may be there
    assert not raw.exists() or [p.name for p in raw.iterdir() if not p.name.endswith(".lock")] == [], \
        "nothing may be adopted from a refused copy"
    return errors


def test_unknown_version_is_one_message_saying_what_was_found(tmp_path, capsys):
    copy = make_copy(tmp_path / "copy", "posetrack18", {"val": 5})
    errors = _refused(tmp_path, capsys, copy, "posetrack18")
    assert len(errors) == 1, errors
    assert "annotations/ holds PoseTrack18 files (val 5 videos), which match no label version" in errors[0]
    assert "v0.45: 593/170/375; v0.2: 593/74/375" in errors[0] and "--expect val=5" in errors[0]


def test_mixed_tree_is_one_message(tmp_path, capsys):
    copy = make_copy(tmp_path / "copy", "posetrack18", {"val": 3})
    make_copy(tmp_path / "other", "posetrack17", {"val": 2})
    for f in (tmp_path / "other/annotations/val").glob("*.json"):
        f.rename(copy / "annotations/val" / f"9{f.name}")
    errors = _refused(tmp_path, capsys, copy, "posetrack18")
    assert errors == [f"error: {copy}: mixed tree: annotations/ holds files of several formats "
                      "(val: 3 PoseTrack18, 2 PoseTrack17 annolist); a copy holds one release"]


def test_a_copy_of_another_dataset_names_the_right_one(tmp_path, capsys):
    copy = make_copy(tmp_path / "copy", "posetrack21", {"val": 170})
    errors = _refused(tmp_path, capsys, copy, "posetrack18")
    assert len(errors) == 1 and errors[0].endswith("adopt it with --dataset posetrack21"), errors


def test_missing_frame_is_named_and_nothing_is_adopted(tmp_path, capsys):
    copy = make_copy(tmp_path / "copy", "posetrack18", {"val": 74})
    (copy / "images/val/000007_mpii_test/000000.jpg").unlink()
    errors = _refused(tmp_path, capsys, copy, "posetrack18")
    assert errors[1:] == ["error: posetrack18: images/val/000007_mpii_test/000000.jpg referenced by "
                          "annotations/val/000007_mpii_test.json: not found"], errors


def test_truncated_json_is_named(tmp_path, capsys):
    copy = make_copy(tmp_path / "copy", "posetrack18", {"val": 170})
    path = copy / "annotations/val/000012_mpii_test.json"
    path.write_text(path.read_text()[:-40])
    errors = _refused(tmp_path, capsys, copy, "posetrack18")
    assert len(errors) == 1 and errors[0].startswith(f"error: {path}: not valid JSON:"), errors


@pytest.mark.parametrize("variant", ["dcpose", "mmpose"])
def test_box_file_with_a_bad_field_is_named(tmp_path, capsys, variant):
    copy = make_copy(tmp_path / "copy", "posetrack18", {"val": 74})
    if variant == "dcpose":
        path = copy / "posetrack18_precomputed_boxes" / "val_boxes.json"
        entry = {"image_name": "images/val/000001_mpii_test/000000.jpg", "bbox": [1, 2, 3], "score": 0.9,
                 "nframes": 1}
        field = "[0].bbox: expected 4 numbers [x, y, w, h], got 3 numbers"
    else:
        path = copy / "annotations" / "posetrack18_val_human_detections.json"
        entry = {"image_id": 10000010000, "bbox": [1, 2, 3, 4], "category_id": 1}
        field = "[0].score: missing"
    _write(copy, str(path.relative_to(copy)), [entry])
    errors = _refused(tmp_path, capsys, copy, "posetrack18", pre=("-S", f"download.boxes_source={variant}"))
    assert errors == [f"error: {path}: {field}"], errors


def test_detect_kind_without_annotations(tmp_path):
    (tmp_path / "images/val").mkdir(parents=True)
    with pytest.raises(LayoutError, match="no annotation files: expected annotations/<split>/<video>.json"):
        detect_kind(tmp_path)


def test_posetrack21_has_nothing_to_download_and_says_how_to_get_it(tmp_path, capsys):
    assert main(["--params", _params(tmp_path), "download", "--dataset", "posetrack21"]) == 2
    err = capsys.readouterr().err
    assert "error: posetrack21: nothing to download (no public files); Obtained by request from its authors" in err
    assert "--from DIR --dataset posetrack21" in err


def test_the_version_table_agrees_with_the_manifest():
    """--verify-only checks the manifest's counts, --from the version table of kinds.py: one set of numbers."""
    from fasrnet.data.download import load_manifest
    from fasrnet.data.download.kinds import VERSIONS

    datasets = load_manifest().datasets
    assert set(datasets) == set(VERSIONS)
    for name, info in datasets.items():
        assert VERSIONS[name][info.release] == info.expected_videos, name
