"""Which frames of the clip are degraded (blurred, defocused, occluded): flagged in ``overlay.mp4``.

From ``--degraded``: frame numbers and ranges (``12-18,40``), or a JSON file holding degradation episodes
(``{"episodes": [{"kind", "target", "start", "stop"}, …]}``, as ``fasrnet synthesize --video`` writes beside its
clip). Without it, found automatically: ``<clip>.degraded.json`` beside a video file, or, for a frame folder of a
synthetic set (``<set>/images/<split>/<video>/``), the set's ``meta.json`` episodes of that video
(docs/demo.md). Frames are numbered by :func:`~fasrnet.demo.frames.frame_key` (a video file's from 0).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fasrnet.data.jsonpath import JsonReader, read_json
from fasrnet.errors import FasrnetError

#: Frame number → what degrades it (``motion blur (whole frame)``, ``occlusion (track 2)``: a person by its track id).
Marks = dict[int, str]
SIDECAR_SUFFIX = ".degraded.json"
_RANGES = re.compile(r"^\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*$")


def episode_label(kind: str, target: Any) -> str:
    who = "whole frame" if target in ("frame", -1) else f"track {target}"
    return f"{kind.replace('_', ' ')} ({who})"


def _from_episodes(r: JsonReader, episodes: Any, where: str) -> Marks:
    marks: Marks = {}
    for i, item in enumerate(r.list(episodes, where, noun="a list of episodes")):
        w = f"{where}[{i}]"
        e = r.object(item, w)
        kind = r.string(r.get(e, "kind", w), f"{w}.kind", nonempty=True)
        start = r.integer(r.get(e, "start", w), f"{w}.start")
        stop = r.integer(r.get(e, "stop", w), f"{w}.stop")
        label = episode_label(kind, e.get("target", "frame"))
        for t in range(start, stop):
            marks[t] = f"{marks[t]}, {label}" if t in marks else label
    return marks


def read_marks_file(path: Path, video: str | None = None) -> Marks:
    """Episodes of a ``*.degraded.json`` file, or of ``video`` in a synthetic set's ``meta.json``."""
    r = JsonReader(path)
    obj = r.object(read_json(path), "")
    if "episodes" in obj:
        return _from_episodes(r, obj["episodes"], "episodes")
    splits = obj.get("splits")
    if isinstance(splits, dict):  # a synthetic set's meta.json
        for split, videos in splits.items():
            for i, v in enumerate(r.list(videos, f"splits.{split}")):
                if isinstance(v, dict) and v.get("name") == video:
                    return _from_episodes(r, v.get("episodes", []), f"splits.{split}[{i}].episodes")
        return {}
    raise r.fail("episodes", "missing (expected {\"episodes\": [{\"kind\", \"target\", \"start\", \"stop\"}, …]})")


def parse_marks(spec: str) -> Marks:
    """``--degraded``: ``12-18,40`` (frame numbers, ranges inclusive), or the path of an episodes JSON file."""
    if _RANGES.match(spec):
        marks: Marks = {}
        for part in spec.split(","):
            lo, _, hi = part.partition("-")
            a, b = int(lo), int(hi or lo)
            if b < a:
                raise FasrnetError(f"--degraded {spec}: range {part.strip()} ends before it starts")
            marks.update({t: "marked degraded" for t in range(a, b + 1)})
        return marks
    path = Path(spec)
    if not path.is_file():
        raise FasrnetError(f"--degraded {spec}: neither frame numbers (12-18,40) nor an episodes JSON file")
    return read_marks_file(path)


def find_marks(clip: Path, video_name: str) -> tuple[Marks, Path | None]:
    """The marks found beside the clip without ``--degraded`` (and the file they came from), or none."""
    if clip.is_file():
        sidecar = clip.with_name(clip.stem + SIDECAR_SUFFIX)
        return (read_marks_file(sidecar), sidecar) if sidecar.is_file() else ({}, None)
    folder = clip.resolve()
    if len(folder.parents) >= 3 and folder.parents[1].name == "images":
        meta = folder.parents[2] / "meta.json"
        if meta.is_file():
            return read_marks_file(meta, video_name), meta
    return {}, None
