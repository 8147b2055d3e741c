"""``fasrnet demo``: a trained run on a synthetic clip, as a frame folder and as an .mp4 written by ``fasrnet
synthesize --video``; its poses equal ``predict``'s and score the same mAP; the overlay video; clear errors that
leave earlier outputs intact; the detector path and its re-usable boxes.json."""

import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from fasrnet import paths
from fasrnet.cli import main
from fasrnet.codecs.heatmap import HeatmapCodec
from fasrnet.data.posetrack import read_video
from fasrnet.demo.overlay import DEGRADED_BGR, overlay_size, row_height, scale_factor
from fasrnet.evaluate import evaluate_dirs
from fasrnet.keypoints import KEYPOINTS
from fasrnet.params import load_params
from fasrnet.runs import resolve_run
from fasrnet.train import Trainer

#: The ears: not among poseval's 15 joints, and never annotated in the tiny set, so the tiny head's ear heatmaps
#: are flat and their argmax is decided by float noise of the batch composition.
EARS = [KEYPOINTS.index("left_ear"), KEYPOINTS.index("right_ear")]
EVALUATED = np.array([j not in EARS for j in range(len(KEYPOINTS))])


@pytest.fixture(scope="module")
def trained(workspace, tmp_path_factory):
    """A copy of the tiny workspace with main_syn17 trained and its val predictions written."""
    root = tmp_path_factory.mktemp("demo") / "ws"
    shutil.copytree(workspace, root, ignore=shutil.ignore_patterns("models/main_*", "results"))
    with pytest.MonkeyPatch.context() as m:
        m.chdir(root)
        params = load_params("params.yaml")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            if not (paths.run_dir("main_syn17") / "head.pt").exists():
                Trainer(params, resolve_run(params, "main_syn17"), progress=False).run()
            assert main(["predict", "--run", "main_syn17", "--split", "val", "--threads", "1"]) == 0
        finally:
            torch.set_num_threads(threads)
    return root


@pytest.fixture
def ws(trained, monkeypatch):
    monkeypatch.chdir(trained)
    params = load_params("params.yaml")
    video = sorted((trained / paths.dataset_dir(params, "syn17") / "annotations" / "val").glob("*.json"))[0].stem
    return trained, params, video


def _demo(*args):
    return main(["demo", *map(str, args), "--threads", "1"])


def _frames(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames


def _map(gt_file, pred_file, tmp_path, name):
    gt_dir, pred_dir = tmp_path / f"gt_{name}", tmp_path / f"pred_{name}"
    gt_dir.mkdir()
    pred_dir.mkdir()
    shutil.copy(gt_file, gt_dir / gt_file.name)
    shutil.copy(pred_file, pred_dir / gt_file.name)  # poseval pairs files by name
    return evaluate_dirs(gt_dir, pred_dir)


def test_demo_on_a_frame_folder_gives_predicts_poses_and_its_map(ws, tmp_path):
    root, params, video = ws
    ds = paths.dataset_dir(params, "syn17")
    folder = ds / "images" / "val" / video
    out = tmp_path / "out"
    assert _demo(folder, "--run", "main_syn17", "--boxes", ds / "detections" / "val_boxes.json", "--out", out) == 0

    gt = read_video(ds / "annotations" / "val" / f"{video}.json")
    mine = read_video(out / "poses.json")
    theirs = read_video(paths.predictions_dir("main_syn17", "val") / f"{video}.json")
    assert [f.image for f in mine.frames] == [f.image for f in gt.frames]  # every frame, named as the dataset's
    assert sum(len(f.persons) for f in mine.frames) > 0
    for a, b in zip(mine.frames, theirs.frames):
        assert len(a.persons) == len(b.persons)
        for p, q in zip(a.persons, b.persons):
            np.testing.assert_array_equal(p.keypoints[EVALUATED], q.keypoints[EVALUATED])
            np.testing.assert_array_equal(p.scores[EVALUATED], q.scores[EVALUATED])
            assert p.score == q.score and p.track_id == q.track_id
    gt_file = ds / "annotations" / "val" / f"{video}.json"
    ours, pipeline = _map(gt_file, out / "poses.json", tmp_path, "demo"), _map(
        gt_file, paths.predictions_dir("main_syn17", "val") / f"{video}.json", tmp_path, "predict")
    assert list(ours.columns) == list(pipeline.columns)
    np.testing.assert_array_equal(list(ours.columns.values()), list(pipeline.columns.values()))  # NaN = NaN
    np.testing.assert_array_equal(ours.ap, pipeline.ap)
    np.testing.assert_array_equal(ours.n_pred, pipeline.n_pred)
    # the backbone alone, beside it, is the backbone's own prediction
    assert main(["predict", "--backbone-only", "--dataset", "syn17", "--split", "val", "--threads", "1"]) == 0
    bb = read_video(paths.predictions_dir(paths.backbone_run_name("syn17"), "val") / f"{video}.json")
    for a, b in zip(read_video(out / "poses_backbone.json").frames, bb.frames):
        for p, q in zip(a.persons, b.persons):
            np.testing.assert_array_equal(p.keypoints[EVALUATED], q.keypoints[EVALUATED])

    # the overlay: one frame per clip frame, of the documented size; the synthetic set's episodes flagged
    record = json.loads((out / "demo.json").read_text())
    meta = json.loads((ds / "meta.json").read_text())
    episodes = next(v["episodes"] for v in meta["splits"]["val"] if v["name"] == video)
    degraded = sorted({t for e in episodes for t in range(e["start"], e["stop"])})
    assert record["degraded_frames"] == len(degraded) > 0
    assert record["frames"] == len(gt.frames) and record["threads"] == 1 and record["machine"]["cpus"] >= 1
    frames = _frames(out / "overlay.mp4")
    h, w = params.synthesize.image_height, params.synthesize.image_width
    assert len(frames) == len(gt.frames)
    assert (frames[0].shape[1], frames[0].shape[0]) == overlay_size(w, h, params.demo.panel_height_min)
    foot = row_height(scale_factor(h, params.demo.panel_height_min) * h)
    for t, f in enumerate(frames):  # the footer's colour says degraded (red) or clean (grey), lossy codec or not
        b, g, r = f[-foot // 2, -4].astype(int)
        assert (r > 150 and b < 100) == (t in degraded), (t, (b, g, r), DEGRADED_BGR)


def test_demo_on_the_synthesized_mp4(ws, tmp_path):
    root, params, video = ws
    mp4 = tmp_path / "clip" / "clip.mp4"
    assert main(["synthesize", "--datasets", "syn17", "--video", str(mp4)]) == 0
    for suffix in (".boxes.json", ".degraded.json", ".gt.json"):
        assert (mp4.with_name("clip" + suffix)).is_file()
    gt = read_video(mp4.with_name("clip.gt.json"))
    ds = paths.dataset_dir(params, "syn17")
    assert gt == read_video(ds / "annotations" / "val" / f"{video}.json")  # the set's val video 0, regenerated
    assert len(_frames(mp4)) == len(gt.frames)

    out = tmp_path / "out"
    assert _demo(mp4, "--run", "main_syn17", "--boxes", mp4.with_name("clip.boxes.json"), "--out", out) == 0
    poses = json.loads((out / "poses.json").read_text())
    h, w = params.synthesize.image_height, params.synthesize.image_width
    assert [i["file_name"] for i in poses["images"]] == [f"clip/{t:06d}.jpg" for t in range(len(gt.frames))]
    mine = read_video(out / "poses.json")
    assert [len(f.persons) for f in mine.frames] == [len(f.persons) for f in read_video(
        paths.predictions_dir("main_syn17", "val") / f"{video}.json").frames]
    codec = HeatmapCodec.from_params(params.heatmap)
    for f in mine.frames:  # frame pixels: inside the window the person's box cut from the frame
        for p in f.persons:
            center, scale = codec.box_to_center_scale(p.bbox)
            lo, hi = center - scale / 2, center + scale / 2
            assert ((p.keypoints[:, :2] >= lo - 1e-6) & (p.keypoints[:, :2] <= hi + 1e-6)).all()
            # (the tiny untrained model's guesses often sit in the crop's padding past the frame's edge: with a
            # trained one they are inside the frame, docs/demo.md measures it)
    record = json.loads((out / "demo.json").read_text())
    episodes = json.loads(mp4.with_name("clip.degraded.json").read_text())["episodes"]
    assert record["degraded_frames"] == len({t for e in episodes for t in range(e["start"], e["stop"])})
    assert record["degraded_from"] == str(mp4.with_name("clip.degraded.json"))
    frames = _frames(out / "overlay.mp4")
    assert len(frames) == len(gt.frames)
    assert (frames[0].shape[1], frames[0].shape[0]) == overlay_size(w, h, params.demo.panel_height_min)
    # PoseTrack 2018 format: it evaluates against the clip's GT (the video named as the GT's file)
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    shutil.copy(mp4.with_name("clip.gt.json"), gt_dir / f"{video}.json")
    doc = json.loads((out / "poses.json").read_text())
    for image in doc["images"]:
        image["file_name"] = image["file_name"].replace("clip/", f"images/val/{video}/")
    (pred_dir / f"{video}.json").write_text(json.dumps(doc))
    assert 0.0 <= evaluate_dirs(gt_dir, pred_dir).total <= 100.0


def test_degraded_frames_given_by_the_user(ws, tmp_path):
    root, params, video = ws
    ds = paths.dataset_dir(params, "syn17")
    out = tmp_path / "out"
    assert _demo(ds / "images" / "val" / video, "--run", "main_syn17", "--boxes", ds / "detections" / "val_boxes.json",
                 "--out", out, "--degraded", "1-2,5") == 0
    record = json.loads((out / "demo.json").read_text())
    assert record["degraded_frames"] == 3 and record["degraded_from"] == "1-2,5"


def _write_frames(folder, n, size=(64, 48)):
    folder.mkdir(parents=True)
    for t in range(n):
        cv2.imwrite(str(folder / f"{t:06d}.jpg"), np.full((size[1], size[0], 3), 40 * t, np.uint8))
    return folder


@pytest.mark.parametrize("case", ["unreadable_video", "two_frame_folder", "two_frame_mp4", "empty_boxes",
                                  "unknown_run", "untrained_run", "missing_clip", "no_detector_weights",
                                  "boxes_of_another_video"])
def test_demo_errors_are_one_line_and_write_nothing(ws, tmp_path, capsys, case):
    root, params, video = ws
    ds = paths.dataset_dir(params, "syn17")
    clip, boxes, run = ds / "images" / "val" / video, ds / "detections" / "val_boxes.json", "main_syn17"
    expected = {
        "unreadable_video": "not a video OpenCV can read",
        "two_frame_folder": "2 frames; the demo needs at least 3",
        "two_frame_mp4": "2 frames; the demo needs at least 3",
        "empty_boxes": "no person boxes in this file",
        "unknown_run": "unknown run 'main_syn71'; did you mean main_syn17?",
        "untrained_run": "no trained head; run `fasrnet train --run ablation_fda` first",
        "missing_clip": "no such video file or frame folder",
        "no_detector_weights": "fasrnet download --artefact detector_fasterrcnn_resnet50_fpn",
        "boxes_of_another_video": "none of them named 'other_video' like the clip",
    }[case]
    if case == "unreadable_video":
        clip = tmp_path / "broken.mp4"
        clip.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    elif case == "two_frame_folder":
        clip = _write_frames(tmp_path / "two", 2)
    elif case == "two_frame_mp4":
        clip = tmp_path / "two.mp4"
        wr = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 48))
        for t in range(2):
            wr.write(np.full((48, 64, 3), 90 * t, np.uint8))
        wr.release()
    elif case == "empty_boxes":
        boxes = tmp_path / "empty.json"
        boxes.write_text("[]")
    elif case == "unknown_run":
        run = "main_syn71"
    elif case == "untrained_run":
        run = "ablation_fda"
    elif case == "missing_clip":
        clip = tmp_path / "nothing.mp4"
    elif case == "no_detector_weights":
        boxes = None
    elif case == "boxes_of_another_video":  # a box file of two videos, neither of them the clip
        clip = shutil.copytree(clip, tmp_path / "other_video")
        two = json.loads(boxes.read_text())
        two += [{**b, "image_name": b["image_name"].replace(video, "999999_mpii_test")} for b in two]
        boxes = tmp_path / "two_videos.json"
        boxes.write_text(json.dumps(two))
    out = tmp_path / "out"
    capsys.readouterr()
    rc = _demo(clip, "--run", run, *(["--boxes", boxes] if boxes is not None else []), "--out", out)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("case", ["no_moov_atom", "undecodable_frames"])
def test_a_broken_video_file_prints_exactly_one_error_line(ws, tmp_path, case):
    """FFmpeg's own log lines ("moov atom not found", "header damaged") do not precede the error line: checked in a
    fresh process, as OpenCV sets FFmpeg's log level once, when its FFmpeg backend first starts."""
    root, params, video = ws
    clip = tmp_path / "clip.mp4"
    if case == "no_moov_atom":
        clip.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
        expected = f"error: {clip}: not a video OpenCV can read (a file of 212 bytes)"
    else:  # a container that declares 12 frames, none of which decodes
        wr = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 48))
        for t in range(12):
            wr.write(np.random.default_rng(t).integers(0, 255, (48, 64, 3), dtype=np.uint8))
        wr.release()
        data = bytearray(clip.read_bytes())
        start, stop = data.index(b"mdat") + 4, data.index(b"moov") - 4
        data[start:stop] = bytes(stop - start)
        clip.write_bytes(bytes(data))
        expected = f"error: {clip}: only 0 of the 12 frames the file declares could be decoded (a damaged video file)"
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([{"image_name": "clip/000000.jpg", "bbox": [1, 1, 20, 30], "score": 0.9}]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_FFMPEG")}
    result = subprocess.run([sys.executable, "-m", "fasrnet", "demo", str(clip), "--run", "main_syn17", "--boxes",
                             str(boxes), "--out", str(tmp_path / "out"), "--threads", "1"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(expected), result.stderr


def _demo_with_stderr(capsys, *args):
    capsys.readouterr()
    rc = _demo(*args)
    captured = capsys.readouterr()
    return rc, [line for line in captured.err.replace("\r", "\n").splitlines() if line.startswith(("warning:",
                                                                                                   "error:"))]


def test_boxes_wholly_outside_the_frame_are_dropped_with_one_warning(ws, tmp_path, capsys):
    root, params, video = ws
    ds = paths.dataset_dir(params, "syn17")
    clip, boxes = ds / "images" / "val" / video, ds / "detections" / "val_boxes.json"
    w, h = params.synthesize.image_width, params.synthesize.image_height
    assert _demo(clip, "--run", "main_syn17", "--boxes", boxes, "--out", tmp_path / "plain") == 0
    entries = [b for b in json.loads(boxes.read_text()) if f"/{video}/" in b["image_name"]]
    far = [[w + 5, 10, 20, 30], [-40, 10, 30, 30], [10, h, 20, 30]]  # right of, left of and below the frame
    entries += [{**entries[k], "bbox": bbox, "score": 0.99} for k, bbox in enumerate(far)]
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps(entries))
    rc, lines = _demo_with_stderr(capsys, clip, "--run", "main_syn17", "--boxes", extra, "--out", tmp_path / "out")
    assert rc == 0
    assert lines == [f"warning: {extra}: 3 boxes lie wholly outside the {w}×{h} frame (dropped)"]
    assert (tmp_path / "out" / "poses.json").read_bytes() == (tmp_path / "plain" / "poses.json").read_bytes()
    assert json.loads((tmp_path / "out" / "demo.json").read_text())["warnings"] == [lines[0].removeprefix(
        "warning: ")]


def test_degraded_frames_past_the_clip_are_one_warning(ws, tmp_path, capsys):
    root, params, video = ws
    ds = paths.dataset_dir(params, "syn17")
    clip = ds / "images" / "val" / video
    n = len(list(clip.glob("*.jpg")))
    first = min(int(f.stem) for f in clip.glob("*.jpg"))
    last = first + n - 1
    spec = f"{last - 1}-{last + 70}"
    rc, lines = _demo_with_stderr(capsys, clip, "--run", "main_syn17", "--boxes", ds / "detections" / "val_boxes.json",
                                  "--out", tmp_path / "out", "--degraded", spec)
    assert rc == 0
    assert lines == [f"warning: --degraded {spec}: 70 marked frames ({last + 1}–{last + 70}) are past the clip's {n} "
                     "frames (ignored)"]
    assert json.loads((tmp_path / "out" / "demo.json").read_text())["degraded_frames"] == 2


@pytest.mark.parametrize("where", ["out", "parent"])
def test_an_out_that_is_an_existing_file_is_an_error_naming_it(ws, tmp_path, capsys, where):
    root, params, video = ws
    ds = paths.dataset_dir(params, "syn17")
    afile = tmp_path / "results.txt"
    afile.write_text("keep me")
    out = afile if where == "out" else afile / "demo"
    rc, lines = _demo_with_stderr(capsys, ds / "images" / "val" / video, "--run", "main_syn17", "--boxes",
                                  ds / "detections" / "val_boxes.json", "--out", out)
    assert rc == 2
    which = "is" if where == "out" else f"lies under {afile}, which is"
    assert lines == [f"error: {out}: the output folder {which} an existing file, not a folder; give a folder "
                     "(--out DIR, created if missing)"]
    assert afile.read_text() == "keep me"


def test_a_failure_after_the_last_frame_keeps_the_earlier_outputs(ws, tmp_path):
    root, params, video = ws
    ds = paths.dataset_dir(params, "syn17")
    clip, out = ds / "images" / "val" / video, tmp_path / "out"
    boxes = ds / "detections" / "val_boxes.json"
    assert _demo(clip, "--run", "main_syn17", "--boxes", boxes, "--out", out) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    stray = json.loads(boxes.read_text())
    stray = [b for b in stray if f"/{video}/" in b["image_name"]]
    stray.append({**stray[0], "image_name": stray[0]["image_name"].replace("000000.jpg", "000999.jpg")})
    bad = tmp_path / "stray.json"
    bad.write_text(json.dumps(stray))
    assert _demo(clip, "--run", "main_syn17", "--boxes", bad, "--out", out) == 2  # found after the last frame
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no temporary file left, nothing replaced


class _OneBox(torch.nn.Module):
    """A stand-in detector: one person box (and one car) in every frame."""

    def forward(self, images):
        return [{"boxes": torch.tensor([[10.0, 8.0, 60.0, 90.0], [0.0, 0.0, 5.0, 5.0]]),
                 "labels": torch.tensor([1, 3]), "scores": torch.tensor([0.9, 0.99])} for _ in images]


def test_detector_boxes_are_written_and_reused(ws, tmp_path, monkeypatch):
    from fasrnet.demo import run as demo_run
    from fasrnet.models.detector import PersonDetector

    root, params, video = ws
    ds = paths.dataset_dir(params, "syn17")
    clip = ds / "images" / "val" / video
    seen = {}

    def fake(name, weights_dir, device, manifest=None):
        seen["name"] = name
        return PersonDetector(_OneBox(), device, name)

    monkeypatch.setattr(demo_run, "load_person_detector", fake)
    out = tmp_path / "detected"
    assert _demo(clip, "--run", "main_syn17", "--out", out) == 0
    assert seen["name"] == params.demo.detector
    written = json.loads((out / "boxes.json").read_text())
    n = len(read_video(ds / "annotations" / "val" / f"{video}.json").frames)
    assert len(written) == n and {b["category_id"] for b in written} == {1}
    assert written[0]["bbox"] == [10.0, 8.0, 50.0, 82.0] and written[0]["nframes"] == n
    assert main(["boxes", "check", str(out / "boxes.json")]) == 0  # the pipeline's detection format
    again = tmp_path / "again"
    assert _demo(clip, "--run", "main_syn17", "--boxes", out / "boxes.json", "--out", again) == 0
    assert (again / "poses.json").read_bytes() == (out / "poses.json").read_bytes()
