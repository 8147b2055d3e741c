"""A PNG preview of written synthetic sets, read back from disk: frames around degradation episodes with the GT
skeletons, head boxes and ignore regions drawn (``fasrnet synthesize --preview``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fasrnet.data.posetrack import Person, read_video
from fasrnet.data.synthetic.degradations import Episode
from fasrnet.errors import FasrnetError
from fasrnet.io import atomic_path
from fasrnet.keypoints import SKELETON

_PREVIEW_COLORS = {"left": (255, 160, 40), "right": (40, 160, 255), "centre": (60, 230, 60)}


def _draw_skeleton(img: np.ndarray, person: Person) -> None:
    """Draw a GT person's limbs (left blue, right orange, centre green), joints and head box into ``img``."""
    kp, present = person.keypoints, person.present
    for a, b in SKELETON:
        if present[a] and present[b]:
            if a >= 5 and b >= 5 and a % 2 == b % 2:
                side = "left" if a % 2 == 1 else "right"
            else:
                side = "centre"
            cv2.line(img, (int(round(kp[a, 0])), int(round(kp[a, 1]))), (int(round(kp[b, 0])), int(round(kp[b, 1]))),
                     _PREVIEW_COLORS[side], 1, cv2.LINE_AA)
    for j in np.nonzero(present)[0]:
        cv2.circle(img, (int(round(kp[j, 0])), int(round(kp[j, 1]))), 2, (255, 255, 255), -1, cv2.LINE_AA)
    if person.head_box is not None:
        x1, y1, x2, y2 = person.head_box
        cv2.rectangle(img, (int(x1), int(y1)), (int(round(x2)), int(round(y2))), (0, 255, 255), 1)


def render_preview(dataset_dirs: list[str | Path], png: str | Path, rows_per_dataset: int = 3,
                   columns: int = 4) -> Path:
    """A PNG grid read back from disk: each row shows consecutive frames around a degradation episode of a
    train or val video, GT skeletons drawn (left limbs blue, right limbs orange, head box yellow), ignore regions
    red; the degraded frames' captions are red."""
    tiles: list[np.ndarray] = []
    for directory in dataset_dirs:
        directory = Path(directory)
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        candidates: list[tuple[int, int, str, dict[str, Any], Episode]] = []
        for split in ("train", "val"):
            for v in meta["splits"][split]:
                labeled = set(v["labeled"])
                for e in v["episodes"]:
                    ep = Episode(e["kind"], -1 if e["target"] == "frame" else int(e["target"]), e["start"], e["stop"])
                    # prefer episodes whose clean neighbours are labeled (skeletons on both sides)
                    rank = 0 if ep.start - 1 in labeled and ep.stop in labeled else 1
                    candidates.append((rank, len(candidates), split, v, ep))
        candidates.sort(key=lambda c: c[:2])
        picks: list[tuple[str, dict[str, Any], Episode | None]] = []
        seen: set[tuple[str, bool]] = set()
        videos: set[str] = set()
        # one row per degradation kind and level, from different videos first; then relax
        for new_video, new_kind in ((True, True), (False, True), (False, False)):
            for _, _, split, v, ep in candidates:
                key = (ep.kind, ep.target < 0)
                if len(picks) >= rows_per_dataset or any(ep is q for _, _, q in picks):
                    continue
                if (new_video and v["name"] in videos) or (new_kind and key in seen):
                    continue
                seen.add(key)
                videos.add(v["name"])
                picks.append((split, v, ep))
        if not picks and meta["splits"]["train"]:
            picks.append(("train", meta["splits"]["train"][0], None))
        for split, v, ep in picks:
            video = read_video(directory / "annotations" / split / f"{v['name']}.json")
            start = ep.start if ep is not None else v["nframes"] // 2
            first = max(0, min(start - 1, v["nframes"] - columns))
            row = []
            for t in range(first, min(first + columns, v["nframes"])):
                frame = video.frames[t]
                img = cv2.imread(str(directory / frame.image), cv2.IMREAD_COLOR)
                for person in frame.persons:
                    _draw_skeleton(img, person)
                for poly in frame.ignore_regions:
                    cv2.polylines(img, [np.round(poly).astype(np.int32)], True, (0, 0, 255), 1)
                inside = ep is not None and ep.start <= t < ep.stop
                label = f"{directory.name} {v['name']} #{t}"
                if ep is not None and inside:
                    label += f" {ep.kind} ({'frame' if ep.target < 0 else f'track {ep.target}'})"
                cv2.rectangle(img, (0, 0), (img.shape[1], 13), (0, 0, 0), -1)
                cv2.putText(img, label, (2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.32,
                            (80, 80, 255) if inside else (255, 255, 255), 1, cv2.LINE_AA)
                row.append(img)
            tiles.append(np.concatenate(row, axis=1))
    if not tiles:
        raise FasrnetError("no frames to preview")
    width = max(t.shape[1] for t in tiles)
    grid = np.concatenate([np.pad(t, ((0, 2), (0, width - t.shape[1]), (0, 0))) for t in tiles], axis=0)
    png = Path(png)
    ok, buf = cv2.imencode(".png", grid)
    if not ok:  # pragma: no cover
        raise FasrnetError(f"{png}: PNG encoding failed")
    with atomic_path(png) as tmp:
        tmp.write_bytes(buf.tobytes())
    return png
