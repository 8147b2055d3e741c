"""Synthetic PoseTrack generator: determinism, on-disk layout, labelling habits, GT-vs-GT evaluation, atomic
output, params validation, CLI."""

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from fasrnet.cli import main
from fasrnet.data import synthetic
from fasrnet.data.posetrack import VIDEO_NAME_RE, Person, Video, image_id_2018, read_video, write_video
from fasrnet.data.synthetic import degradations, render
from fasrnet.params import ParamsError, validate_params

#: Small enough for CI (a second or two per set on 2 cores), big enough to hold every joint and episode kind.
TINY = {
    "seed": 7,
    "image_width": 96,
    "image_height": 72,
    "videos": {"train": 2, "val": 2, "test": 1},
    "frames_per_video": 12,
    "min_people": 2,
    "max_people": 3,
    "crowd_fraction": 0.5,
    "detections": {"miss_rate": 0.0, "degraded_miss_rate": 0.0},
}
DETECTION_KEYS = {"image_name", "image_id", "category_id", "bbox", "score", "nframes", "frame_id"}


def _params(**overrides):
    raw = dict(TINY)
    raw.update(overrides)
    return validate_params({"synthesize": raw}).synthesize


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn")
    params = _params()
    summaries = {name: synthetic.synthesize_dataset(root, name, params) for name in ("syn17", "syn18")}
    return root, params, summaries


def test_same_seed_gives_byte_identical_files(generated, tmp_path):
    root, params, _ = generated
    for name in ("syn17", "syn18"):
        synthetic.synthesize_dataset(tmp_path, name, params)
        first, second = _hashes(root / name), _hashes(tmp_path / name)
        assert first == second
        assert len(first) > 50
    # syn17 and syn18 are different data, and another seed gives other images
    assert _hashes(root / "syn17") != _hashes(root / "syn18")
    other = tmp_path / "other"
    synthetic.synthesize_dataset(other, "syn18", _params(seed=8))
    assert _hashes(other / "syn18") != _hashes(root / "syn18")


def test_video_generation_is_independent_of_other_videos():
    params = _params()
    names = synthetic.video_names("syn18", params)
    alone = synthetic.generate_video(params, "syn18", "val", 1, names["val"][1])
    more = _params(videos={"train": 3, "val": 3, "test": 2})
    again = synthetic.generate_video(more, "syn18", "val", 1, names["val"][1])
    assert alone.jpegs == again.jpegs


@pytest.mark.parametrize(("name", "fmt"), [("syn17", 17), ("syn18", 18)])
def test_layout_and_annotation_habits(generated, name, fmt):
    root, params, summaries = generated
    base = root / name
    T, W, H = params.frames_per_video, params.image_width, params.image_height
    assert summaries[name].fmt == fmt
    assert (base / "meta.json").is_file()
    assert not list(root.glob(f".{name}.*"))  # no temporary directories left behind
    vid_ids = set()
    persons_seen = 0
    for split in synthetic.SPLITS:
        videos = sorted(p.name for p in (base / "images" / split).iterdir())
        assert len(videos) == getattr(params.videos, split)
        assert sorted(p.stem for p in (base / "annotations" / split).glob("*.json")) == videos
        labeled = synthetic.labeled_frames(split, T, params)
        for video_name in videos:
            match = VIDEO_NAME_RE.match(video_name)
            assert match and len(match.group(1)) == 6
            vid_ids.add(match.group(1))
            assert sorted(p.name for p in (base / "images" / split / video_name).iterdir()) == [
                f"{t:06d}.jpg" for t in range(T)
            ]
            path = base / "annotations" / split / video_name
            obj = json.loads(path.with_suffix(".json").read_text())
            assert ("annolist" in obj) == (fmt == 17)
            video = read_video(path.with_suffix(".json"))
            assert video.name == video_name
            assert [f.image for f in video.frames] == [f"images/{split}/{video_name}/{t:06d}.jpg" for t in range(T)]
            assert [t for t, f in enumerate(video.frames) if f.is_labeled] == labeled
            for t, frame in enumerate(video.frames):
                if split == "test" or not frame.is_labeled:
                    assert frame.persons == [] and frame.ignore_regions == []
                    continue
                track_ids = [p.track_id for p in frame.persons]
                assert len(set(track_ids)) == len(track_ids) and all(isinstance(i, int) for i in track_ids)
                for person in frame.persons:
                    persons_seen += 1
                    assert person.present.sum() >= params.labels.min_joints
                    assert not person.present[[3, 4]].any()  # ears never annotated
                    kp = person.keypoints[person.present]
                    assert (kp[:, 0] >= 0).all() and (kp[:, 0] <= W - 1).all()
                    assert (kp[:, 1] >= 0).all() and (kp[:, 1] <= H - 1).all()
                    x1, y1, x2, y2 = person.head_box
                    assert x2 > x1 and y2 > y1
                    if fmt == 18:
                        x, y, w, h = person.bbox
                        assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= W and y + h <= H
                for poly in frame.ignore_regions:
                    assert poly.shape[0] >= 3 and poly.shape[1] == 2
        img = cv2.imread(str(base / "images" / split / videos[0] / "000000.jpg"))
        assert img.shape == (H, W, 3)
    assert len(vid_ids) == sum(getattr(params.videos, s) for s in synthetic.SPLITS)  # distinct across splits
    assert persons_seen == summaries[name].persons > 0


@pytest.mark.parametrize("name", ["syn17", "syn18"])
def test_detection_files_cover_val_and_test(generated, name):
    root, params, _ = generated
    base = root / name
    T = params.frames_per_video
    assert not (base / "detections" / "train_boxes.json").exists()
    for split in ("val", "test"):
        boxes = json.loads((base / "detections" / f"{split}_boxes.json").read_text())
        assert isinstance(boxes, list) and boxes
        frames_with_boxes = set()
        for box in boxes:
            assert set(box) == DETECTION_KEYS
            assert box["category_id"] == 1 and 0.0 <= box["score"] <= 1.0 and box["nframes"] == T
            assert (base / box["image_name"]).is_file()
            parts = box["image_name"].split("/")
            assert parts[:2] == ["images", split]
            vid, frame = parts[2].split("_")[0], int(parts[3].split(".")[0])
            assert box["image_id"] == box["frame_id"] == image_id_2018(vid, frame)
            x, y, w, h = box["bbox"]
            assert w > 0 and h > 0 and x >= 0 and y >= 0
            frames_with_boxes.add(box["image_name"])
        n_frames = T * getattr(params.videos, split)
        assert len(frames_with_boxes) >= 0.8 * n_frames  # unlabeled frames too, not only labeled ones
    # with misses switched off, every annotated val person of a labeled frame has a box nearby
    boxes = json.loads((base / "detections" / "val_boxes.json").read_text())
    by_image = {}
    for box in boxes:
        by_image.setdefault(box["image_name"], []).append(box["bbox"])
    for path in sorted((base / "annotations" / "val").glob("*.json")):
        for frame in read_video(path).frames:
            for person in frame.persons:
                if person.present.sum() >= 8:
                    assert frame.image in by_image


def test_meta_lists_episodes_and_degraded_fraction_is_a_param(generated):
    root, params, summaries = generated
    meta = json.loads((root / "syn18" / "meta.json").read_text())
    assert meta["format"] == 18 and meta["params"] == params.model_dump(mode="json")
    episodes = [e for split in meta["splits"].values() for v in split for e in v["episodes"]]
    assert {e["kind"] for e in episodes} == set(synthetic.KINDS)
    assert {"frame", "person"} == {"frame" if e["target"] == "frame" else "person" for e in episodes}
    for e in episodes:
        assert 1 <= e["stop"] - e["start"] <= params.episode_max_frames
    share = summaries["syn18"].degraded_person_frames / summaries["syn18"].person_frames
    assert 0.15 < share < 0.6
    clean = synthetic.generate_video(_params(degraded_fraction=0.0), "syn18", "train", 0, "000001_bonn_train")
    assert clean.episodes == []


def test_episodes_leave_clean_neighbours():
    rng = np.random.default_rng(0)
    weights = np.full(3, 1 / 3)
    episodes = degradations.schedule(rng, 40, 0.5, 3, list(synthetic.KINDS), weights, 0)
    covered = np.zeros(40, bool)
    for e in episodes:
        assert not covered[max(0, e.start - 1): e.stop + 1].any()
        covered[e.start: e.stop] = True
    assert 0.3 <= covered.mean() <= 0.55


def _with_scores(video: Video) -> Video:
    frames = []
    for frame in video.frames:
        persons = [
            Person(keypoints=p.keypoints.copy(), present=p.present.copy(), track_id=p.track_id,
                   scores=np.where(p.present, 1.0, 0.0), score=1.0)
            for p in frame.persons
        ]
        frames.append(type(frame)(image=frame.image, is_labeled=frame.is_labeled, persons=persons))
    return Video(name=video.name, frames=frames)


@pytest.mark.parametrize(("name", "fmt"), [("syn17", 17), ("syn18", 18)])
def test_gt_evaluated_against_itself_is_perfect(generated, tmp_path, name, fmt):
    evaluate = pytest.importorskip("fasrnet.evaluate")
    root, _, _ = generated
    gt_dir = root / name / "annotations" / "val"
    pred_dir = tmp_path / "pred"
    for path in sorted(gt_dir.glob("*.json")):
        write_video(_with_scores(read_video(path)), pred_dir / path.name, fmt)
    result = evaluate.evaluate_dirs(gt_dir, pred_dir)
    assert result.n_eval_frames > 0
    has_gt = result.n_gt > 0
    assert has_gt.sum() >= 12
    assert np.allclose(result.ap[has_gt], 100.0)
    assert np.allclose(result.precision[has_gt], 100.0) and np.allclose(result.recall[has_gt], 100.0)


@pytest.mark.parametrize(("name", "fmt"), [("syn17", 17), ("syn18", 18)])
def test_annotations_round_trip(generated, tmp_path, name, fmt):
    root, _, _ = generated
    for path in sorted((root / name / "annotations").rglob("*.json")):
        video = read_video(path)
        write_video(video, tmp_path / path.name, fmt)
        assert read_video(tmp_path / path.name) == video
        assert (tmp_path / path.name).read_bytes() == path.read_bytes()


def test_failed_run_leaves_earlier_output_intact(tmp_path, monkeypatch):
    params = _params(videos={"train": 1, "val": 1, "test": 1}, frames_per_video=8)
    synthetic.synthesize_dataset(tmp_path, "syn18", params)
    before = _hashes(tmp_path / "syn18")
    real = render.render_frame
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 11:
            raise RuntimeError("renderer died")
        return real(*args, **kwargs)

    monkeypatch.setattr(render, "render_frame", flaky)
    with pytest.raises(RuntimeError, match="renderer died"):
        synthetic.synthesize_dataset(tmp_path, "syn18", _params(videos={"train": 1, "val": 1, "test": 1},
                                                                  frames_per_video=8, seed=99))
    assert _hashes(tmp_path / "syn18") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["syn18"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"frames_per_video": 2}, r"synthesize\.frames_per_video: got 2; expected greater than or equal to 8"),
        ({"image_width": 10}, r"synthesize\.image_width: got 10"),
        ({"labels": {"val_stride": 0}}, r"synthesize\.labels\.val_stride: got 0"),
        ({"detections": {"jitter": -1.0}}, r"synthesize\.detections\.jitter: got -1\.0"),
        ({"degraded_fraction": 1.5}, r"synthesize\.degraded_fraction: got 1\.5"),
        ({"degraded_fractoin": 0.2},
         r"unknown key synthesize\.degraded_fractoin; did you mean synthesize\.degraded_fraction\?"),
        ({"min_people": 3, "max_people": 2}, r"min_people \(3\) must not exceed max_people \(2\)"),
        ({"detections": {"true_score_min": 0.9, "true_score_max": 0.5}}, r"true_score_min \(0\.9\) must not exceed"),
        ({"motion_blur_weight": 0.0, "defocus_weight": 0.0, "occlusion_weight": 0.0}, r"must not all be 0"),
    ],
)
def test_invalid_params_name_the_key(raw, expected):
    with pytest.raises(ParamsError, match=expected):
        validate_params({"synthesize": raw})


def test_cli_synthesize_with_preview(tmp_path, capsys):
    params_file = tmp_path / "params.yaml"
    tiny = dict(TINY, videos={"train": 1, "val": 1, "test": 1}, frames_per_video=8)
    params_file.write_text(yaml.safe_dump({"data": {"root": str(tmp_path / "raw")}, "synthesize": tiny}))
    png = tmp_path / "preview.png"
    assert main(["--params", str(params_file), "synthesize", "--datasets", "syn18", "--preview", str(png)]) == 0
    out = capsys.readouterr().out
    assert "syn18 (PoseTrack 18 format)" in out and "preview:" in out
    assert (tmp_path / "raw" / "syn18" / "meta.json").is_file() and not (tmp_path / "raw" / "syn17").exists()
    preview = cv2.imread(str(png))
    assert preview is not None and preview.shape[1] >= 4 * tiny["image_width"]



def _label_colors_by_definition(lab, groups, shades, tiles, y0, x0, oy, ox):
    """Each labelled pixel: its group's tile at the pixel's place relative to the person's anchor, times the
    label's shade, times 0.72 where a 4-neighbour has another label; label 0 (nobody) black."""
    h, w = lab.shape
    iy = ((np.arange(h) + y0 - oy) % render.TILE)[:, None]
    ix = ((np.arange(w) + x0 - ox) % render.TILE)[None, :]
    col = tiles[groups[lab], iy, ix] * shades[lab][..., None]
    edge = np.zeros(lab.shape, bool)
    edge[1:, :] |= lab[1:, :] != lab[:-1, :]
    edge[:-1, :] |= lab[:-1, :] != lab[1:, :]
    edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
    edge[:, :-1] |= lab[:, :-1] != lab[:, 1:]
    col[edge] *= 0.72
    return col * (lab > 0).astype(np.float32)[..., None]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_label_colors_equal_their_definition_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    tiles = rng.uniform(0, 255, (7, render.TILE, render.TILE, 3)).astype(np.float32)
    h, w = (int(v) for v in rng.integers(1, 90, 2))
    labels = int(rng.integers(2, 30))
    lab = rng.integers(0, labels, (h, w)).astype(np.uint8)
    lab[:, : w // 3] = 0  # background beside blobs, like a person's ROI
    lab[h // 2:, w // 2:] = labels - 1
    groups = rng.integers(0, 7, labels).astype(np.intp)
    shades = rng.uniform(0.5, 1.2, labels).astype(np.float32)
    origin = [int(v) for v in rng.integers(-70, 70, 4)]
    fast = render._label_colors(lab, groups, shades, tiles, *origin)
    slow = _label_colors_by_definition(lab, groups, shades, tiles, *origin)
    assert fast.dtype == slow.dtype == np.float32
    assert fast.tobytes() == slow.tobytes()
