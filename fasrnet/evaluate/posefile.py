"""What the loaders (``fasrnet/evaluate/loading.py``) hand to the matching and the AP: one GT or prediction file
after poseval's conversion (:class:`PoseFile`), its persons as one table of arrays (:class:`Persons`, joints in
poseval order 0–14), and the constants of poseval's joint numbering (``docs/metric.md``, §1–§3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fasrnet.errors import InputFormatError
from fasrnet.keypoints import POSEVAL_JOINTS

#: poseval joint names, in poseval id order 0–14 (``neck`` is PoseTrack18's ``head_bottom``).
JOINT_NAMES: tuple[str, ...] = tuple(name for name, _ in POSEVAL_JOINTS)
N_JOINTS = len(JOINT_NAMES)
#: Score poseval gives a predicted joint without one.
MIN_SCORE = -9999.0
#: Track ids must stay below this (poseval offsets them by ``sequence index × 10000``).
MAX_TRACK_ID = 10000


@dataclass
class Persons:
    """One row per person (GT or prediction) of the evaluated frames of one file, in file order.

    Joint arrays are in poseval order. ``extra`` holds, for the rare persons whose point list is not simply
    "at most one point per joint id 0–14" (2017 points with repeated or out-of-range ids, 2018 files whose
    category names a joint twice), the full point list ``[id or -1, x, y, score]`` in file order: the ignore
    regions act on every point, and only afterwards does the first point of each id count.
    """

    frame: np.ndarray  # (N,) int64: frame index within the file
    xy: np.ndarray  # (N, 15, 2) float64
    has: np.ndarray  # (N, 15) bool
    score: np.ndarray  # (N, 15) float64 (MIN_SCORE where the prediction has no score)
    head: np.ndarray  # (N, 4) float64: x1, y1, x2, y2
    head_ok: np.ndarray  # (N,) bool: the head box exists (needed only where GT meets predictions)
    has_points: np.ndarray  # (N,) bool: 2017 ``annopoints[0].point`` exists (poseval drops the person otherwise)
    has_tid: np.ndarray  # (N,) bool: the person has a ``track_id``
    src: np.ndarray  # (N, 2) int64: where the person is in the file (see PoseFile.person_where)
    extra: dict[int, np.ndarray] = field(default_factory=dict)
    head_problem: dict[int, tuple[str, str]] = field(default_factory=dict)  # row → (field, message)

    def __len__(self) -> int:
        return len(self.frame)

    @classmethod
    def empty(cls) -> Persons:
        return cls(
            frame=np.zeros(0, np.int64), xy=np.zeros((0, N_JOINTS, 2)), has=np.zeros((0, N_JOINTS), bool),
            score=np.zeros((0, N_JOINTS)), head=np.zeros((0, 4)), head_ok=np.zeros(0, bool),
            has_points=np.zeros(0, bool), has_tid=np.zeros(0, bool), src=np.zeros((0, 2), np.int64),
        )

    def take(self, rows: np.ndarray) -> Persons:
        """The given rows (an index array, in the order given)."""
        rows = np.asarray(rows, dtype=np.int64)
        out = Persons(
            frame=self.frame[rows], xy=self.xy[rows], has=self.has[rows], score=self.score[rows],
            head=self.head[rows], head_ok=self.head_ok[rows], has_points=self.has_points[rows],
            has_tid=self.has_tid[rows], src=self.src[rows],
        )
        if self.extra or self.head_problem:
            new = {int(old): i for i, old in enumerate(rows.tolist())}
            out.extra = {new[k]: v for k, v in self.extra.items() if k in new}
            out.head_problem = {new[k]: v for k, v in self.head_problem.items() if k in new}
        return out


@dataclass
class PoseFile:
    """One GT or prediction file after poseval's conversion.

    ``n_rects[f]`` is the number of person entries of frame ``f`` (what decides whether a GT frame is
    evaluated); ``persons`` holds the persons of the evaluated frames only; ``regions`` maps an evaluated GT
    frame to its ignore polygons (vertex arrays, shapely builds them later) with the JSON path of each.
    """

    path: str
    fmt: int  # 17 or 18
    n_rects: np.ndarray  # (F,) int64
    persons: Persons
    frame_where: list[str]  # JSON path of each frame ("annolist[3]" / "images[3]")
    frame_name: list[str]  # image name of each frame (for messages)
    regions: dict[int, list[tuple[np.ndarray, str]]] = field(default_factory=dict)
    n_fallback_scores: int = 0  # predicted persons (2018) / joints (2017) scored -9999 for want of a score
    n_unknown_image_ids: int = 0  # 2018 prediction annotations whose image_id names no image (dropped)

    @property
    def n_frames(self) -> int:
        return len(self.n_rects)

    def person_where(self, row: int) -> str:
        a, b = (int(v) for v in self.persons.src[row])
        if self.fmt == 18:
            return f"annotations[{a}]"
        if self.fmt == 17:
            return f"annolist[{a}].annorect[{b}]"
        return f"frames[{a}].persons[{b}]"  # in-memory Video

    def fail(self, where: str, message: str) -> InputFormatError:
        return InputFormatError(self.path, where, message)


def primary_joints(pts: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """The joints poseval sees in a point list: the first point of each id 0–14.

    Returns (xy (15, 2), has (15,), score (15,), plain) where ``plain`` says every point is such a first
    point (no repeated or out-of-range ids), i.e. the joint arrays describe the person completely.
    """
    xy = np.zeros((N_JOINTS, 2))
    has = np.zeros(N_JOINTS, bool)
    score = np.full(N_JOINTS, MIN_SCORE)
    plain = True
    for jid, x, y, s in pts:
        jid = int(jid)
        if jid < 0 or has[jid]:
            plain = False
            continue
        has[jid] = True
        xy[jid] = (x, y)
        score[jid] = s
    return xy, has, score, plain
