"""ImageCache verifies frames as it decodes them: cv2.imread silently decodes half a JPEG (the rest grey)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fasrnet.data.images import ImageCache
from fasrnet.errors import FasrnetError


def _frame() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)


@pytest.fixture
def images(tmp_path: Path) -> Path:
    for ext in ("jpg", "png"):
        assert cv2.imwrite(str(tmp_path / f"full.{ext}"), _frame())
        data = (tmp_path / f"full.{ext}").read_bytes()
        (tmp_path / f"half.{ext}").write_bytes(data[: len(data) // 2])
    (tmp_path / "padded.jpg").write_bytes((tmp_path / "full.jpg").read_bytes() + b"\0" * 16)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_bytes(b"not an image at all")
    return tmp_path


def test_whole_images_decode_as_imread_does(images):
    cache = ImageCache(images)
    for name in ("full.jpg", "full.png", "padded.jpg"):
        expected = cv2.cvtColor(cv2.imread(str(images / name), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert np.array_equal(cache.get(name), expected), name
    assert np.array_equal(cache.get("full.png"), _frame()[:, :, ::-1])  # lossless: the pixels written, as RGB


@pytest.mark.parametrize(("name", "message"), [
    ("half.jpg", "truncated JPEG (no end-of-image marker FF D9 at the end)"),
    ("half.png", "truncated PNG (no IEND chunk at the end)"),
    ("empty.jpg", "empty file"),
    ("text.jpg", "not a decodable image (19 bytes)"),
    ("missing.jpg", "image missing"),
])
def test_damaged_image_is_an_error_naming_the_file(images, name, message):
    assert cv2.imread(str(images / "half.jpg")) is not None  # what the cache used to accept: a half-grey frame
    with pytest.raises(FasrnetError) as info:
        ImageCache(images).get(name)
    assert str(info.value).startswith(f"{images / name}: {message}")
