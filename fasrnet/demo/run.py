"""``fasrnet demo VIDEO --run NAME``: a trained run on one clip, the frozen backbone alone beside it
(docs/demo.md).

For every frame t and every person box of t, the box cuts frames t−1, t, t+1 (clamped at the clip's ends) with
one affine transform, exactly as the crops stage does (:func:`fasrnet.data.views.view_geometry` and ``cut``); the
frozen backbone runs on the three crops and its outputs are rounded to the feature cache's fp16, as ``fasrnet
extract`` stores them (the same :class:`fasrnet.inference.BackboneRunner`, in ``extract.precision``); the run's head
refines them (:func:`fasrnet.inference.scored_heatmaps`, as it trained; the flip test when ``heatmap.flip_test``)
and the keypoints go back to the frame as ``fasrnet predict`` maps them. So on a dataset's
frame folder with its box file the demo's ``poses.json`` scores what ``predict`` + ``evaluate`` score.

Writes into ``DIR`` (each file atomically; a failure leaves earlier outputs as they were):

- ``poses.json``: the run's poses, PoseTrack 2018 format, one video, every frame;
- ``poses_backbone.json``: the frozen backbone's own poses, the same way;
- ``overlay.mp4``: both side by side (:mod:`fasrnet.demo.overlay`);
- ``boxes.json``: the detector's boxes in the pipeline's format (only when the detector ran), for ``--boxes``;
- ``demo.json``: what ran (clip, run, boxes, degraded frames, counts) and its speed, with the device, thread
  count and machine.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from fasrnet import paths
from fasrnet.backbone import extraction_backbone, load_run_backbone
from fasrnet.codecs.heatmap import HeatmapCodec, flip_back
from fasrnet.data.boxes import Box, kept_detection, write_boxes
from fasrnet.data.posetrack import Frame, Person, Video, write_video
from fasrnet.data.views import PersonBox, cut, view_geometry
from fasrnet.demo.boxes import ScoredBox, clip_boxes
from fasrnet.demo.frames import MIN_FRAMES, open_frames, too_few_frames
from fasrnet.demo.marks import find_marks, parse_marks
from fasrnet.demo.overlay import OverlayWriter, Pose, compose, overlay_size
from fasrnet.errors import FasrnetError
from fasrnet.host import machine
from fasrnet.inference import BackboneRunner, scored_heatmaps, step_precision
from fasrnet.io import write_json
from fasrnet.models.detector import PersonDetector, load_person_detector
from fasrnet.models.fasrnet import FaSRnetHead
from fasrnet.params import Params
from fasrnet.predict import keypoints_to_image, load_head, predicted_person

POSES = "poses.json"
POSES_BACKBONE = "poses_backbone.json"
OVERLAY = "overlay.mp4"
DETECTED_BOXES = "boxes.json"
RECORD = "demo.json"


@dataclass
class DemoResult:
    """What one demo wrote (also ``demo.json``)."""

    clip: str
    video: str
    run: str
    out_dir: str
    frames: int
    persons: int
    boxes: str
    degraded_frames: int
    degraded_from: str | None
    overlay_size: tuple[int, int]
    seconds: float
    frames_per_second: float
    device: str
    threads: int
    machine: dict[str, Any]
    #: The ``warning:`` lines the demo printed (boxes outside the frame, marks past the clip), without the prefix.
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Models:
    backbone: BackboneRunner
    head: FaSRnetHead
    codec: HeatmapCodec
    device: torch.device
    flip_test: bool
    channels_last: bool = False  # the head's, as it trained (train.channels_last, train.precision)
    precision: Any = None


def default_out_dir(video_name: str, run: str) -> Path:
    """``results/demo/<clip>/<run>/``."""
    return paths.RESULTS / "demo" / video_name / run


def _heatmaps(m: _Models, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crops ``(B, 3 frames, 3, H, W)`` uint8 → scored heatmaps ``(B, J, h, w)`` of the backbone alone and of the
    head, from the backbone's fp16 outputs (the feature cache's precision), which stay on the device."""
    def scored(flip: bool) -> tuple[torch.Tensor, torch.Tensor]:
        feat, hm = m.backbone(images, flip=flip)
        return scored_heatmaps(None, feat, hm), scored_heatmaps(m.head, feat, hm, m.channels_last, m.precision)

    images = torch.from_numpy(crops)
    with torch.no_grad():
        base, refined = scored(False)
        if m.flip_test:
            base_f, refined_f = scored(True)
            base, refined = 0.5 * (base + flip_back(base_f)), 0.5 * (refined + flip_back(refined_f))
    return base.float().cpu().numpy(), refined.float().cpu().numpy()


def _estimate(m: _Models, window: list[np.ndarray], boxes: list[ScoredBox], t: int, batch_size: int
              ) -> tuple[list[Person], list[Person]]:
    """The persons of the middle frame of ``window`` (t−1, t, t+1): (backbone alone, head), in box order."""
    if not boxes:
        return [], []
    views = [view_geometry(PersonBox(0, t, k, box, score, k), m.codec, None) for k, (box, score) in enumerate(boxes)]
    center = np.stack([v["center"] for v in views])
    scale = np.stack([v["scale"] for v in views])
    rotation = np.array([v["rotation"] for v in views], dtype=np.float64)
    score = np.array([s for _, s in boxes], dtype=np.float64)
    out: tuple[list[Person], list[Person]] = ([], [])
    for s in range(0, len(views), batch_size):
        part = slice(s, s + batch_size)
        crops = np.stack([cut(window, v["matrix"], m.codec.input_wh) for v in views[part]])
        for persons, hm in zip(out, _heatmaps(m, crops)):
            coords, scores = keypoints_to_image(hm, center[part], scale[part], rotation[part], score[part], m.codec)
            for k, (c, q) in enumerate(zip(coords, scores)):
                person = predicted_person(c, q, s + k, float(score[s + k]))
                person.bbox = boxes[s + k][0]  # the box it was cut with (x, y, w, h), for readers of poses.json
                persons.append(person)
    return out


def _pose(person: Person) -> Pose:
    return person.keypoints[:, :2], person.scores if person.scores is not None else np.ones(len(person.keypoints))


def _detected(detector: PersonDetector, rgb: np.ndarray, threshold: float) -> list[ScoredBox]:
    found = [((float(x), float(y), float(w), float(h)), float(s)) for x, y, w, h, s in detector.detect(rgb)]
    return [(box, s) for box, s in found if kept_detection(box, s, threshold)]


def _outside(box: ScoredBox, width: int, height: int) -> bool:
    """The box (x, y, w, h) has no pixel in the ``width`` × ``height`` frame: its crop would be padding only."""
    (x, y, w, h), _ = box
    return x + w <= 0 or y + h <= 0 or x >= width or y >= height


def _spans(numbers: list[int]) -> str:
    """``[3, 4, 5, 9]`` → ``3–5, 9`` (sorted, distinct numbers)."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a}–{b}" if b > a else f"{a}" for a, b in spans)


def _unmatched_marks(marks: dict[int, str], frames: list[int], source: str) -> str | None:
    """The warning for marked frame numbers that are no frame of the clip (``frames``: its frame numbers)."""
    extra = sorted(set(marks) - set(frames))
    if not extra:
        return None
    n = f"{len(extra)} marked frame{'s' if len(extra) != 1 else ''} ({_spans(extra)})"
    if frames and extra[0] > max(frames) and frames == list(range(frames[0], frames[0] + len(frames))):
        return f"{source}: {n} {'are' if len(extra) != 1 else 'is'} past the clip's {len(frames)} frames (ignored)"
    return f"{source}: {n} {'are' if len(extra) != 1 else 'is'} no frame of the clip (its frames: " \
           f"{_spans(sorted(frames)) or 'none numbered'}; ignored)"


def _out_dir(out: Path) -> Path:
    """``--out`` as a folder to write into: an existing file (or a file on its way) is an error naming it."""
    for part in (out, *out.parents):
        if part.exists() and not part.is_dir():
            which = "is" if part == out else f"lies under {part}, which is"
            raise FasrnetError(f"{out}: the output folder {which} an existing file, not a folder; give a folder "
                               "(--out DIR, created if missing)")
    return out


def _load_models(params: Params, run_name: str, device: torch.device) -> _Models:
    head = load_head(params, run_name, device)
    # the backbone the run was trained on: drifted by its training (backbone.bn: train), adapted to its dataset
    # (adapt), or the checkpoint's
    net = load_run_backbone(params, run_name)
    if net is None:
        net, _ = extraction_backbone(params, params.runs.named(run_name).dataset)
    backbone = BackboneRunner(net, device, params.extract.precision)
    if backbone.out_channels != head.channels:
        raise FasrnetError(f"{paths.run_dir(run_name) / 'head.pt'}: the head was trained on {head.channels}-channel "
                           f"features, but {params.backbone.checkpoint} gives {backbone.out_channels}; the run was "
                           "trained with another backbone (re-run the pipeline, or point backbone.checkpoint at it)")
    return _Models(backbone, head, HeatmapCodec.from_params(params.heatmap), device, params.heatmap.flip_test,
                   params.train.channels_last, step_precision(params.train.precision, device))


def run_demo(params: Params, clip: str | Path, run_name: str, out_dir: str | Path | None = None,
             boxes_file: str | Path | None = None, degraded: str | None = None,
             device: torch.device | None = None, progress: bool = True) -> DemoResult:
    """Run ``run_name``'s head and its frozen backbone on every frame of ``clip`` and write ``out_dir`` (default
    :func:`default_out_dir`). Everything is checked before the first frame is estimated: the run (its params
    entry and trained head), the clip, the box file or the detector's weights, the degraded marks."""
    started = time.perf_counter()
    device = device or torch.device("cpu")
    params.runs.named(run_name)  # an unknown run: the closest defined name
    clip = Path(clip)
    if out_dir is not None:
        _out_dir(Path(out_dir))
    source = open_frames(clip, params.demo.fps)
    threshold = params.crops.det_score_threshold
    boxes = clip_boxes(boxes_file, source.name, threshold) if boxes_file is not None else None
    detector = None if boxes is not None else load_person_detector(params.demo.detector,
                                                                   Path(params.download.weights_dir), device)
    marks, marks_from = (parse_marks(degraded), degraded) if degraded else find_marks(clip, source.name)
    models = _load_models(params, run_name, device)
    out = _out_dir(Path(out_dir) if out_dir is not None else default_out_dir(source.name, run_name))
    out.mkdir(parents=True, exist_ok=True)

    frames = iter(source)
    first = list(islice(frames, MIN_FRAMES))
    if len(first) < MIN_FRAMES:
        raise too_few_frames(clip, len(first), source.count if source.is_video_file else 0)
    h, w = first[0][2].shape[:2]
    size = overlay_size(w, h, params.demo.panel_height_min)
    labels = ("HRNet backbone alone", f"FaSRnet: {run_name}")
    video_bb, video_fr = Video(source.name), Video(source.name)
    detected: list[tuple[str, int, ScoredBox]] = []
    bar = tqdm(total=source.count or None, desc=f"demo {source.name}", unit="frame", disable=not progress)
    with bar, OverlayWriter(out / OVERLAY, source.fps, size) as writer:
        pending = first  # frames read ahead of the one estimated: t+1 is needed for t
        prev = None
        t = flagged = outside = 0
        numbers: list[int] = []
        while pending:
            name, key, rgb = pending[0]
            if len(pending) < 2:
                pending += list(islice(frames, 1))
            nxt = pending[1][2] if len(pending) > 1 else rgb
            window = [prev if prev is not None else rgb, rgb, nxt]
            if isinstance(key, int):
                numbers.append(key)
            if boxes is not None:
                frame_boxes = [b for b in boxes.take(key) if not _outside(b, w, h)]
                outside += len(boxes.by_key.get(key, [])) - len(frame_boxes)
            else:
                frame_boxes = _detected(detector, rgb, threshold)  # type: ignore[union-attr]
                detected += [(name, t, b) for b in frame_boxes]
            bb, fr = _estimate(models, window, frame_boxes, t, params.demo.batch_size)
            video_bb.frames.append(Frame(image=name, is_labeled=bool(bb), persons=bb))
            video_fr.frames.append(Frame(image=name, is_labeled=bool(fr), persons=fr))
            mark = marks.get(key) if isinstance(key, int) else None
            flagged += mark is not None
            footer = f"frame {key}" + (f" ({t + 1}/{source.count})" if source.count else "")
            writer.write(compose(rgb, [_pose(p) for p in bb], [_pose(p) for p in fr], labels, footer, mark,
                                 params.demo.draw_threshold, params.demo.panel_height_min))
            bar.update(1)
            prev = rgb
            pending.pop(0)
            t += 1
        if boxes is not None:
            boxes.check_all_used()
        warnings = [line for line in (
            f"{boxes_file}: {outside} box{'es' if outside != 1 else ''} {'lie' if outside != 1 else 'lies'} wholly "
            f"outside the {w}×{h} frame (dropped)" if outside else None,
            _unmatched_marks(marks, numbers, f"--degraded {degraded}" if degraded else str(marks_from)),
        ) if line]
        for line in warnings:
            bar.write(f"warning: {line}", file=sys.stderr)  # below the progress bar, not through it
        write_video(video_fr, out / POSES, 18)
        write_video(video_bb, out / POSES_BACKBONE, 18)
        if detector is not None:
            write_boxes(out / DETECTED_BOXES, [Box(n, k + 1, 1, b, s, t, k + 1) for n, k, (b, s) in detected])
    seconds = time.perf_counter() - started
    result = DemoResult(
        clip=str(clip), video=source.name, run=run_name, out_dir=str(out), frames=t,
        persons=sum(len(f.persons) for f in video_fr.frames),
        boxes=str(boxes_file) if boxes is not None else f"detector {params.demo.detector}",
        degraded_frames=flagged, degraded_from=str(marks_from) if marks_from else None, overlay_size=size,
        seconds=round(seconds, 3), frames_per_second=round(t / seconds, 3) if seconds > 0 else 0.0,
        device=str(device), threads=torch.get_num_threads(), machine=machine(), warnings=warnings)
    write_json(out / RECORD, asdict(result), indent=1)
    return result
