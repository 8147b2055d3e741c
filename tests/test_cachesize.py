"""The free-space check before the cache stages write (docs/data.md, §7): lines, margin, refusal, escape hatch."""

import shutil
from collections import namedtuple
from pathlib import Path

import pytest

from fasrnet import cachesize
from fasrnet.cachesize import MARGIN_BYTES, Projection, check_space, enforced, human, nearest_existing
from fasrnet.errors import FasrnetError

Usage = namedtuple("Usage", "total used free")


def _free(monkeypatch, free):
    monkeypatch.setattr(cachesize.shutil, "disk_usage", lambda path: Usage(10 * free, 9 * free, free))


def test_human_uses_decimal_units_and_three_digits():
    assert [human(n) for n in (812, 1990000, 53_100_000_000, 999_700, 2.4e12)] == [
        "812 B", "1.99 MB", "53.1 GB", "1 MB", "2.4 TB"]


def test_nearest_existing_parent(tmp_path):
    assert nearest_existing(tmp_path / "a" / "b" / "c") == tmp_path
    assert nearest_existing(Path("no-such-dir") / "x") == Path(".")


def test_cli_line_per_split_and_refusal_naming_directory_and_numbers(tmp_path, monkeypatch):
    work = tmp_path / "data" / "crops" / ".syn17.partial"
    train = Projection("crops", "syn17/train", 1234, 1234, 1234 * 1_990_000, work / "train")
    val = Projection("crops", "syn17/val", 10, 4, 4 * 1_990_000, work / "val")
    _free(monkeypatch, 55 * 10**9)
    lines = []
    check_space([train, val], echo=lines.append)
    assert lines == [f"crops syn17/train: 1,234 crops × 1.99 MB = 2.46 GB projected, 55 GB free on {tmp_path}",
                     f"crops syn17/val: 4 of 10 crops left × 1.99 MB = 7.96 MB projected, 55 GB free on {tmp_path}"]
    _free(monkeypatch, 2 * 10**9)
    with pytest.raises(FasrnetError) as exc:
        check_space([train, val], echo=lines.append)
    message = str(exc.value)
    assert "\n" not in message and f"into {work} " in message and f"2 GB free on {tmp_path}" in message
    assert "2.46 GB projected" in message and "500 MB margin" in message and "--no-space-check" in message
    check_space([train, val], enforce=False, echo=lines.append)  # the escape hatch: lines only


def test_margin_and_reclaimed_space(tmp_path, monkeypatch):
    need = 10**9
    proj = Projection("extract", "syn17/train", 10, 10, need, tmp_path / "w")
    _free(monkeypatch, need + MARGIN_BYTES)
    check_space([proj], echo=lambda line: None)
    _free(monkeypatch, need + MARGIN_BYTES - 1)
    with pytest.raises(FasrnetError, match="extract syn17/train"):
        check_space([proj], echo=lambda line: None)
    stale = Projection("extract", "syn17/train", 10, 10, need, tmp_path / "w", reclaim=1)  # deleted before writing
    check_space([stale], echo=lambda line: None)
    check_space([Projection("crops", "x/val", 0, 0, 0, tmp_path)], echo=lambda line: None)  # nothing to write


def test_environment_variable_turns_the_refusal_off(monkeypatch):
    monkeypatch.delenv(cachesize.SKIP_ENV, raising=False)
    assert enforced() and not enforced(no_space_check=True)
    monkeypatch.setenv(cachesize.SKIP_ENV, "0")
    assert enforced()
    monkeypatch.setenv(cachesize.SKIP_ENV, "1")
    assert not enforced()


def test_real_disk_usage_is_asked_at_an_existing_directory(tmp_path):
    lines = []
    check_space([Projection("crops", "syn17/test", 1, 1, 1, tmp_path / "not" / "yet")], echo=lines.append)
    assert lines[0].endswith(f"free on {tmp_path}") and shutil.disk_usage(tmp_path).free > 0
