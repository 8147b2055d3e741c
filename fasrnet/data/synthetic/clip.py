"""One synthetic val video as a clip for ``fasrnet demo`` (``fasrnet synthesize --video FILE.mp4``).

The video is generated again from the params (:func:`~fasrnet.data.synthetic.video.generate_video` depends only
on the seed, the set's name, the split and the video's index, so it is the set's video frame for frame) and
written as ``FILE.mp4`` (MPEG-4 part 2, the set's frame size), beside it:

- ``FILE.boxes.json``: the video's detection boxes, in the pipeline's detection format, exactly as the set's
  ``detections/val_boxes.json`` holds them (``fasrnet demo --boxes``);
- ``FILE.degraded.json``: its degradation episodes (``{"video", "episodes": [{"kind", "target", "start",
  "stop"}]}``), which the demo finds beside the clip and flags in its overlay;
- ``FILE.gt.json``: its ground truth, in the set's PoseTrack format (docs/demo.md).

Every file is written atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fasrnet.data.posetrack import write_video
from fasrnet.data.synthetic.names import dataset_format
from fasrnet.data.synthetic.video import generate_video, video_names
from fasrnet.errors import FasrnetError
from fasrnet.io import atomic_path, write_json
from fasrnet.params import SynthesizeParams

#: What OpenCV's bundled FFmpeg writes into an .mp4 on every platform.
FOURCC = "mp4v"
#: The clip's frame rate (PoseTrack's videos are about 25 fps).
FPS = 25.0


@dataclass
class ClipSummary:
    video: str
    frames: int
    boxes: int
    degraded_frames: int
    mp4: Path
    boxes_file: Path
    degraded_file: Path
    gt_file: Path

    def line(self) -> str:
        return (f"{self.video} ({self.frames} frames, {self.boxes} boxes, {self.degraded_frames} frames with a "
                f"degradation) -> {self.mp4}; boxes {self.boxes_file}, degraded frames {self.degraded_file}, "
                f"ground truth {self.gt_file}")


def sidecar(mp4: Path, suffix: str) -> Path:
    """``clip.mp4`` → ``clip<suffix>`` (``.boxes.json``, ``.degraded.json``, ``.gt.json``)."""
    return mp4.with_name(mp4.stem + suffix)


def write_clip(params: SynthesizeParams, dataset: str, index: int, mp4: str | Path) -> ClipSummary:
    """Write val video ``index`` of synthetic set ``dataset`` as ``mp4`` with its boxes, episodes and GT."""
    mp4 = Path(mp4)
    if mp4.suffix.lower() != ".mp4":
        raise FasrnetError(f"--video {mp4}: expected a file name ending in .mp4")
    names = video_names(dataset, params)["val"]
    if not 0 <= index < len(names):
        raise FasrnetError(f"--video-index {index}: {dataset} has {len(names)} val videos (0 to {len(names) - 1})")
    gen = generate_video(params, dataset, "val", index, names[index])
    size = (params.image_width, params.image_height)
    with atomic_path(mp4) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*FOURCC), FPS, size)
        if not writer.isOpened():
            raise FasrnetError(f"{mp4}: OpenCV cannot write an {FOURCC} video here")
        try:
            for data in gen.jpegs:
                writer.write(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
        finally:
            writer.release()
    boxes_file, degraded_file, gt_file = (sidecar(mp4, s) for s in (".boxes.json", ".degraded.json", ".gt.json"))
    write_json(boxes_file, gen.detections)
    episodes = [e.to_json() for e in gen.episodes]
    write_json(degraded_file, {"video": gen.name, "dataset": dataset, "episodes": episodes}, indent=1)
    write_video(gen.video, gt_file, dataset_format(dataset))
    degraded = {t for e in gen.episodes for t in range(e.start, e.stop)}
    return ClipSummary(gen.name, len(gen.jpegs), len(gen.detections), len(degraded), mp4, boxes_file,
                       degraded_file, gt_file)
