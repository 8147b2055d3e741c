"""Helpers for the evaluation tests: tiny PoseTrack GT/prediction directories written from compact Python lists.

A person is ``person({joint name: (x, y) or (x, y, v)}, head=(x, y, w, h), scores=...)`` with poseval joint names
(``neck`` is PoseTrack18's ``head_bottom``); a frame is ``frame([persons], regions=[[(x, y), ...]], labeled=...)``.
``pt.evaluate(gt_frames, pred_frames)`` writes one sequence (2018 format unless asked) and runs
:func:`fasrnet.evaluate.evaluate_dirs`.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fasrnet.evaluate import JOINT_NAMES, EvalResult, evaluate_dirs
from fasrnet.keypoints import KEYPOINTS, POSEVAL_JOINTS

_REPO = Path(__file__).resolve().parents[2]
# The given poseval fixtures, copied into the repository (tests/data/README.md says from where).
FIXTURES = _REPO / "tests" / "data" / "poseval_fixtures"
SLOT = {name: slot for name, slot in POSEVAL_JOINTS}
PID = {name: pid for pid, (name, _) in enumerate(POSEVAL_JOINTS)}
#: A head box whose head size is exactly 30 px (0.6 × 50): the PCKh radius is 15 px.
HEAD = (0.0, 0.0, 30.0, 40.0)


def body(x0: float, y0: float, names: tuple[str, ...] = JOINT_NAMES) -> dict[str, tuple[float, float]]:
    """All (or the named) 15 joints on a 5 × 3 grid with 20 px spacing, from (x0, y0)."""
    return {n: (x0 + 20.0 * (PID[n] % 5), y0 + 20.0 * (PID[n] // 5)) for n in names}


def shift(joints: dict[str, tuple], dx: float, dy: float, only: tuple[str, ...] | None = None) -> dict[str, tuple]:
    """Move the joints (or only the named ones) by (dx, dy)."""
    return {n: ((p[0] + dx, p[1] + dy) + tuple(p[2:])) if only is None or n in only else p for n, p in joints.items()}


def person(joints: dict[str, tuple], head: tuple[float, ...] | None = HEAD, scores: Any = None,
           track: int | None = None, ears: tuple[float, float] | None = None) -> dict[str, Any]:
    """``scores``: None (no scores), a number for every joint, or {joint name: score} (others 0.01)."""
    return {"joints": joints, "head": head, "scores": scores, "track": track, "ears": ears}


def frame(persons: list[dict[str, Any]], regions: list[list[tuple[float, float]]] | None = None,
          labeled: bool = True) -> dict[str, Any]:
    return {"persons": persons, "regions": regions or [], "labeled": labeled}


def _scores(p: dict[str, Any]) -> list[float] | None:
    sc = p["scores"]
    if sc is None:
        return None
    out = [0.01] * 17
    for name, slot in SLOT.items():
        out[slot] = float(sc) if not isinstance(sc, dict) else float(sc.get(name, 0.01))
    return out


def to_2018(frames: list[dict[str, Any]], video: str = "000001_mpii_test") -> dict[str, Any]:
    images, anns = [], []
    for f, fr in enumerate(frames):
        image_id = 10000000000 + int(video[:6]) * 10000 + f
        img: dict[str, Any] = {"file_name": f"images/val/{video}/{f:06d}.jpg", "id": image_id, "frame_id": image_id,
                               "vid_id": video[:6], "is_labeled": fr["labeled"]}
        if fr["regions"]:
            img["ignore_regions_x"] = [[p[0] for p in r] for r in fr["regions"]]
            img["ignore_regions_y"] = [[p[1] for p in r] for r in fr["regions"]]
        images.append(img)
        for k, p in enumerate(fr["persons"]):
            kp = [0.0] * 51
            for name, pos in p["joints"].items():
                slot = SLOT[name]
                kp[3 * slot: 3 * slot + 3] = [pos[0], pos[1], pos[2] if len(pos) > 2 else 1]
            if p["ears"] is not None:
                for slot in (3, 4):
                    kp[3 * slot: 3 * slot + 3] = [p["ears"][0], p["ears"][1], 1]
            ann: dict[str, Any] = {"id": image_id * 100 + k, "image_id": image_id, "category_id": 1, "keypoints": kp,
                                   "track_id": k if p["track"] is None else p["track"]}
            if p["head"] is not None:
                ann["bbox_head"] = list(p["head"])
            sc = _scores(p)
            if sc is not None:
                ann["scores"] = sc
            anns.append(ann)
    cat = {"supercategory": "person", "id": 1, "name": "person", "keypoints": list(KEYPOINTS)}
    return {"images": images, "annotations": anns, "categories": [cat]}


def to_2017(frames: list[dict[str, Any]], video: str = "000001_mpii_test") -> dict[str, Any]:
    annolist = []
    for f, fr in enumerate(frames):
        rects = []
        for k, p in enumerate(fr["persons"]):
            sc = _scores(p)
            points = []
            for name, pos in p["joints"].items():
                if tuple(pos[:3]) == (0, 0, 0):
                    continue
                pt: dict[str, Any] = {"id": [PID[name]], "x": [pos[0]], "y": [pos[1]]}
                if sc is not None:
                    pt["score"] = [sc[SLOT[name]]]
                points.append(pt)
            rect: dict[str, Any] = {"track_id": [k if p["track"] is None else p["track"]],
                                    "annopoints": [{"point": points}]}
            if p["head"] is not None:
                x, y, w, h = p["head"]
                rect.update(x1=[x], y1=[y], x2=[x + w], y2=[y + h])
            rects.append(rect)
        entry: dict[str, Any] = {"image": [{"name": f"images/val/{video}/{f:06d}.jpg"}], "imgnum": [f + 1],
                                 "is_labeled": [int(fr["labeled"])], "annorect": rects}
        if fr["regions"]:
            entry["ignore_regions"] = [{"point": [{"x": [x], "y": [y]} for x, y in r]} for r in fr["regions"]]
        annolist.append(entry)
    return {"annolist": annolist}


def write_seq(path: Path, frames: list[dict[str, Any]], fmt: int = 18) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    video = path.stem
    path.write_text(json.dumps(to_2018(frames, video) if fmt == 18 else to_2017(frames, video)))
    return path


class _Case:
    def __init__(self, root: Path):
        self.root = root
        self.gt = root / "gt"
        self.pred = root / "pred"

    def write(self, gt_frames: list, pred_frames: list, gt_format: int = 18, pred_format: int = 18,
              name: str = "000001_mpii_test") -> tuple[Path, Path]:
        return (write_seq(self.gt / f"{name}.json", gt_frames, gt_format),
                write_seq(self.pred / f"{name}.json", pred_frames, pred_format))

    def evaluate(self, gt_frames: list, pred_frames: list, gt_format: int = 18, pred_format: int = 18,
                 per_sequence: bool = False) -> EvalResult:
        self.write(gt_frames, pred_frames, gt_format, pred_format)
        return evaluate_dirs(self.gt, self.pred, per_sequence=per_sequence)


@pytest.fixture
def pt(tmp_path: Path) -> SimpleNamespace:
    case = _Case(tmp_path)
    return SimpleNamespace(body=body, shift=shift, person=person, frame=frame, write_seq=write_seq, to_2018=to_2018,
                           to_2017=to_2017, write=case.write, evaluate=case.evaluate, gt=case.gt, pred=case.pred,
                           root=tmp_path, HEAD=HEAD, JOINTS=JOINT_NAMES)


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
