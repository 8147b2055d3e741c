"""PoseTrack multi-person pose estimation mAP, computed exactly as the official poseval tool computes it
(``python -m poseval.evaluate -e``), from PoseTrack 2017 or 2018 files; ``docs/metric.md`` describes it step by
step.

>>> from fasrnet.evaluate import evaluate_dirs
>>> result = evaluate_dirs("gt/", "pred/")          # doctest: +SKIP
>>> print(result.table())                            # doctest: +SKIP
& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\
& 85.7 & 87.7 & 81.8 & 84.6 & 87.4 & 80.5 & 77.9 & 83.8 \\\\
"""

from fasrnet.evaluate.ap import COLUMN_NAMES, COLUMNS
from fasrnet.evaluate.api import evaluate_dirs, evaluate_files, evaluate_videos
from fasrnet.evaluate.loading import load_file, load_pair
from fasrnet.evaluate.posefile import JOINT_NAMES, PoseFile
from fasrnet.evaluate.report import HEADER
from fasrnet.evaluate.result import EvalResult

__all__ = [
    "COLUMNS",
    "COLUMN_NAMES",
    "HEADER",
    "JOINT_NAMES",
    "EvalResult",
    "PoseFile",
    "evaluate_dirs",
    "evaluate_files",
    "evaluate_videos",
    "load_file",
    "load_pair",
]
