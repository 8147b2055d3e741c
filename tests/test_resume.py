"""Verified outputs (docs/resume.md, "Verified outputs"): the manifest a unit gets at commit, and what makes a unit
in place no longer current. The stages' own damage tests are in tests/learning/test_extract_stage.py and
test_crops_stage.py."""

import json
import shutil

import pytest

from fasrnet import resume
from fasrnet.resume import MANIFEST, Unit, manifest_problem, work_dir_for


def _complete(d):
    return (d / "done").exists()


@pytest.fixture
def committed(tmp_path, monkeypatch):
    """A committed unit with a small file, a big (sampled) file and the completion marker; sampled from 4 KiB."""
    monkeypatch.setattr(resume, "WHOLE_BYTES", 4096)
    monkeypatch.setattr(resume, "SAMPLE_BYTES", 1024)
    target = tmp_path / "out" / "split"
    unit = Unit(target, work_dir_for(target, tmp_path / "out"), {"seed": 0})
    assert unit.open(_complete) == "fresh"
    (unit.work / "small.json").write_text('{"a": 1}\n')
    (unit.work / "sub").mkdir()
    (unit.work / "sub" / "big.npy").write_bytes(bytes(range(256)) * 64)  # 16 KiB
    (unit.work / "done").write_text("")
    unit.commit()
    return unit


def test_commit_records_every_file_whole_when_small_and_by_its_ends_when_big(committed):
    files = json.loads((committed.target / MANIFEST).read_text())["files"]
    assert sorted(files) == ["done", "fingerprint.json", "small.json", "sub/big.npy"]  # not the manifest itself
    assert files["small.json"] == {"size": 9, "sha256": resume.file_sha256(committed.target / "small.json")}
    assert files["sub/big.npy"]["size"] == 16384 and files["sub/big.npy"]["ends"] == 1024
    assert manifest_problem(committed.target) is None and committed.open(_complete) == "current"


def _rewrite(path, offset, data):
    raw = bytearray(path.read_bytes())
    raw[offset:offset + len(data)] = data
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("damage, problem", [
    (lambda t: (t / "sub" / "big.npy").write_bytes((t / "sub" / "big.npy").read_bytes()[:-1]),
     "sub/big.npy is 16383 bytes, manifest.json says 16384"),
    (lambda t: (t / "sub" / "big.npy").unlink(), "sub/big.npy missing"),
    (lambda t: (t / "small.json").write_text('{"a": 2}\n'), "small.json has other bytes"),  # same size
    (lambda t: _rewrite(t / "sub" / "big.npy", 10, b"\xff\xff"), "sub/big.npy has other bytes"),  # first KiB
    (lambda t: _rewrite(t / "sub" / "big.npy", 16000, b"\xff\xff"), "sub/big.npy has other bytes"),  # last KiB
    (lambda t: (t / "extra.npy").write_bytes(b"x"), "extra.npy is not in manifest.json"),
    (lambda t: (t / MANIFEST).unlink(), "no manifest.json"),  # as the code before manifests wrote units
    (lambda t: (t / MANIFEST).write_text("{garbled"), "manifest.json unreadable"),
])
def test_a_changed_unit_is_no_longer_current_and_is_started_over(committed, capsys, damage, problem):
    damage(committed.target)
    assert problem in manifest_problem(committed.target)
    assert not committed.is_current(_complete)
    assert committed.open(_complete) == "fresh"  # built anew in the work directory; the damaged one stays until then
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and f"{committed.target}: changed since it was written ({problem}" in err


def test_a_change_between_the_sampled_ends_of_a_big_file_is_not_seen(committed):
    _rewrite(committed.target / "sub" / "big.npy", 8000, b"\xff\xff")  # the documented limit: dvc status sees it
    assert committed.is_current(_complete)


def test_a_unit_restored_as_a_copy_is_current(committed):
    """What `dvc checkout` and `dvc pull` do: new files (other inodes, dates) with the recorded bytes."""
    saved = committed.target.parent / "saved"
    shutil.copytree(committed.target, saved)
    shutil.rmtree(committed.target)
    assert not committed.is_current(_complete)
    shutil.copytree(saved, committed.target, copy_function=shutil.copy)  # no dates kept
    shutil.rmtree(saved)
    assert committed.is_current(_complete)


def test_hidden_files_are_not_part_of_the_unit(committed):
    (committed.target / ".snakemake_timestamp").write_text("")
    assert committed.is_current(_complete)
