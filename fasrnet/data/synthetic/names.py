"""The synthetic sets' vocabulary: dataset names and formats, splits, video sources, degradation kinds.

The bottom of :mod:`fasrnet.data.synthetic`: every other module of the package may import it. A dataset's name
also keys its random streams (:func:`name_key`), so ``syn17`` and ``syn18`` are different data from one seed.
"""

from __future__ import annotations

import zlib

from fasrnet.errors import FasrnetError

#: Synthetic dataset names and the PoseTrack format each is written in.
DATASET_FORMATS: dict[str, int] = {"syn17": 17, "syn18": 18}
SOURCES: tuple[str, ...] = ("bonn", "mpii", "mpiinew")
KINDS: tuple[str, ...] = ("motion_blur", "defocus", "occlusion")
GENERATOR_VERSION = 1
VIDEO_SUFFIX = {"train": "train", "val": "test", "test": "test"}  # PoseTrack names val videos ``..._test`` too


def dataset_format(name: str) -> int:
    """17 or 18: the PoseTrack format a synthetic dataset is written in."""
    try:
        return DATASET_FORMATS[name]
    except KeyError:
        raise FasrnetError(
            f"unknown synthetic dataset {name!r}; expected one of {', '.join(DATASET_FORMATS)}"
        ) from None


def name_key(name: str) -> int:
    """A dataset name's seed key (CRC-32 of its UTF-8 bytes): stable across runs and Python versions."""
    return zlib.crc32(name.encode("utf-8"))
