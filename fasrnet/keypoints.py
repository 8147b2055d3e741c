"""The joint vocabulary, the ground floor every layer imports (``docs/architecture.md``): PoseTrack18's 17 keypoint
slots, the ears (never annotated), the left/right flip pairs, the skeleton drawn in figures, poseval's 15-joint
numbering and its mapping to the slots (``docs/metric.md``, §2–§3), and poseval's head-size factor.

Plain tuples and numbers: importing this module costs nothing and pulls in nothing.
"""

from __future__ import annotations

#: The 17 keypoint slots of PoseTrack18 (COCO order; head_bottom/head_top sit in COCO's eye slots).
KEYPOINTS: tuple[str, ...] = (
    "nose", "head_bottom", "head_top", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
NUM_KEYPOINTS = len(KEYPOINTS)
#: Ears: placeholders for COCO compatibility, never annotated and never evaluated.
EAR_SLOTS: tuple[int, ...] = (3, 4)
#: Left/right slot pairs swapped by a horizontal flip.
FLIP_PAIRS: tuple[tuple[int, int], ...] = ((3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))
#: Limbs for drawing (pairs of slots).
SKELETON: tuple[tuple[int, int], ...] = (
    (16, 14), (14, 12), (15, 13), (13, 11), (12, 11), (6, 12), (5, 11), (6, 5), (6, 8), (5, 7),
    (8, 10), (7, 9), (1, 2), (0, 1), (1, 6), (1, 5),
)

#: poseval joint id (0–14) → (poseval name, 17-slot index). ``neck`` is PoseTrack18's head_bottom.
POSEVAL_JOINTS: tuple[tuple[str, int], ...] = (
    ("right_ankle", 16), ("right_knee", 14), ("right_hip", 12), ("left_hip", 11), ("left_knee", 13),
    ("left_ankle", 15), ("right_wrist", 10), ("right_elbow", 8), ("right_shoulder", 6),
    ("left_shoulder", 5), ("left_elbow", 7), ("left_wrist", 9), ("neck", 1), ("nose", 0), ("head_top", 2),
)
POSEVAL_TO_SLOT: tuple[int, ...] = tuple(slot for _, slot in POSEVAL_JOINTS)
SLOT_TO_POSEVAL: dict[int, int] = {slot: pid for pid, slot in enumerate(POSEVAL_TO_SLOT)}

#: poseval's PCKh head size: HEAD_FACTOR × the diagonal of the annotated head box (``docs/metric.md``).
HEAD_FACTOR = 0.6
