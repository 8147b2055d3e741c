"""Frame images read as RGB arrays, verified as they are decoded (:class:`ImageCache`): the crops stage, head
training's online views and the demo's frame folders read their frames through it.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from fasrnet.errors import FasrnetError


class ImageCache:
    """A small LRU of decoded RGB frames: crops walk videos in frame order, so t−1, t, t+1 are reused.

    Frames are verified as they are decoded: ``cv2.imread`` decodes a truncated JPEG as far as it goes and pads
    the rest with grey, without an error. So a JPEG must end with its EOI marker (FF D9; NUL padding after it is
    allowed) and a PNG with its IEND chunk, and whatever OpenCV cannot decode is an error naming the file.
    """

    #: End of a JPEG (EOI marker) and of a PNG (the IEND chunk with its CRC).
    _JPEG_SOI, _JPEG_EOI = b"\xff\xd8", b"\xff\xd9"
    _PNG_SIG, _PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"

    def __init__(self, root: Path, capacity: int = 8):
        self.root = root
        self.capacity = capacity
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()

    @classmethod
    def _truncated(cls, data: bytes) -> str | None:
        """Why ``data`` is a cut-off JPEG/PNG, or None (other formats are left to the decoder)."""
        if data.startswith(cls._JPEG_SOI) and not data[-4096:].rstrip(b"\x00").endswith(cls._JPEG_EOI):
            return "truncated JPEG (no end-of-image marker FF D9 at the end)"
        if data.startswith(cls._PNG_SIG) and not data.endswith(cls._PNG_END):
            return "truncated PNG (no IEND chunk at the end)"
        return None

    def get(self, rel: str) -> np.ndarray:
        if rel in self._items:
            self._items.move_to_end(rel)
            return self._items[rel]
        path = self.root / rel
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise FasrnetError(f"{path}: image missing") from None
        except OSError as exc:
            raise FasrnetError(f"{path}: image unreadable: {exc.strerror or exc}") from None
        problem = "empty file" if not data else self._truncated(data)
        if problem is not None:
            raise FasrnetError(f"{path}: {problem}; re-download or re-extract the frame")
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise FasrnetError(f"{path}: not a decodable image ({len(data)} bytes)")
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        self._items[rel] = img
        if len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return img
