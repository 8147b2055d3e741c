"""Writing a synthetic dataset: every split's videos, annotations and box files, and ``meta.json`` (the params
and every video's degradation episodes), atomically under ``<root>/<name>/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from fasrnet.data.posetrack import Frame, Video, write_video
from fasrnet.data.synthetic.names import GENERATOR_VERSION, dataset_format
from fasrnet.data.synthetic.video import GeneratedVideo, generate_video, video_names
from fasrnet.errors import FasrnetError
from fasrnet.io import atomic_dir, write_json
from fasrnet.params import SynthesizeParams
from fasrnet.paths import SPLITS


@dataclass
class DatasetSummary:
    """What :func:`synthesize_dataset` wrote."""

    name: str
    path: Path
    fmt: int
    videos: dict[str, int] = field(default_factory=dict)
    frames: int = 0
    labeled_frames: int = 0
    persons: int = 0
    detections: int = 0
    degraded_person_frames: int = 0
    person_frames: int = 0

    def line(self) -> str:
        vids = ", ".join(f"{v} {k}" for k, v in self.videos.items())
        share = self.degraded_person_frames / max(1, self.person_frames)
        return (f"{self.name} (PoseTrack {self.fmt} format) -> {self.path}: videos {vids}; {self.frames} frames, "
                f"{self.labeled_frames} labeled, {self.persons} annotated persons, {self.detections} val/test boxes, "
                f"{share:.0%} of person-frames degraded")


def synthesize_dataset(out_dir: str | Path, name: str, params: SynthesizeParams, fmt: int | None = None,
                       progress: bool = False,
                       on_video: Callable[[GeneratedVideo], None] | None = None) -> DatasetSummary:
    """Generate dataset ``name`` into ``out_dir/name`` atomically (an earlier copy survives a failed run)."""
    fmt = dataset_format(name) if fmt is None else fmt
    if fmt not in (17, 18):
        raise FasrnetError(f"format must be 17 or 18, got {fmt!r}")
    target = Path(out_dir) / name
    names = video_names(name, params)
    total = sum(len(v) for v in names.values())
    summary = DatasetSummary(name=name, path=target, fmt=fmt, videos={s: len(v) for s, v in names.items()})
    meta_videos: dict[str, list[dict[str, Any]]] = {}
    with atomic_dir(target) as tmp, tqdm(total=total, desc=name, unit="video", disable=not progress) as bar:
        for split in SPLITS:
            boxes: list[dict[str, Any]] = []
            meta_videos[split] = []
            for index, video_name in enumerate(names[split]):
                gen = generate_video(params, name, split, index, video_name)
                folder = tmp / "images" / split / video_name
                folder.mkdir(parents=True, exist_ok=True)
                for t, data in enumerate(gen.jpegs):
                    (folder / f"{t:06d}.jpg").write_bytes(data)
                video = gen.video
                if split == "test":  # like the real test set: frames only, no persons or ignore regions
                    video = Video(name=video.name, frames=[Frame(image=f.image, is_labeled=f.is_labeled)
                                                           for f in video.frames])
                write_video(video, tmp / "annotations" / split / f"{video_name}.json", fmt)
                boxes += gen.detections
                summary.frames += len(gen.jpegs)
                if split != "test":
                    summary.labeled_frames += len(gen.labeled)
                    summary.persons += sum(len(f.persons) for f in video.frames)
                meta_videos[split].append({
                    "name": video_name, "nframes": len(gen.jpegs), "labeled": gen.labeled,
                    "episodes": [e.to_json() for e in gen.episodes],
                })
                for f in gen.video.frames:
                    for p in f.persons:
                        summary.person_frames += 1
                        t = f.index
                        summary.degraded_person_frames += any(
                            e.start <= t < e.stop and e.target in (-1, p.track_id) for e in gen.episodes)
                if on_video is not None:
                    on_video(gen)
                bar.update(1)
            if split != "train":
                write_json(tmp / "detections" / f"{split}_boxes.json", boxes)
                summary.detections += len(boxes)
        meta = {
            "generator": "fasrnet.data.synthetic",
            "version": GENERATOR_VERSION,
            "name": name,
            "format": fmt,
            "params": params.model_dump(mode="json"),
            "splits": meta_videos,
        }
        write_json(tmp / "meta.json", meta, indent=1)
    return summary
