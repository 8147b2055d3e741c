"""Atomic writes: a failure never replaces or half-writes an earlier good output."""

import pytest

from fasrnet.io import atomic_dir, atomic_path, write_json, write_text


def test_write_text_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    write_text(target, "first")
    write_text(target, "second")
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]  # no temp files left


def test_failed_atomic_path_keeps_earlier_file(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"good": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text().strip() == '{"good":1}'
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_atomic_path_keeps_suffix_for_format_sniffing_libraries(tmp_path):
    with atomic_path(tmp_path / "fig.png") as tmp:
        assert tmp.suffix == ".png"
        tmp.write_bytes(b"x")


def test_failed_atomic_dir_keeps_earlier_directory(tmp_path):
    target = tmp_path / "dataset"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("good")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "a.txt").write_text("bad")
            raise RuntimeError("killed")
    assert (target / "a.txt").read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["dataset"]


def test_atomic_dir_replaces_earlier_directory(tmp_path):
    target = tmp_path / "dataset"
    with atomic_dir(target) as tmp:
        (tmp / "old.txt").write_text("old")
    with atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["dataset"]


def test_outputs_get_the_usual_permissions_not_mkstemps_private_ones(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        write_text(tmp_path / "f.txt", "x")
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "a").write_text("x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_save_torch_gives_equal_bytes_for_equal_objects_however_built(tmp_path):
    import io

    import torch

    from fasrnet.io import save_torch

    fresh = {"lr": 0.1, "history": [{"lr": 0.1, "epoch": 1}], "w": torch.arange(4.0)}
    buf = io.BytesIO()
    torch.save(fresh, buf)
    loaded = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)  # same content, other string objects
    save_torch(tmp_path / "a.pt", fresh)
    save_torch(tmp_path / "b.pt", loaded)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    assert torch.equal(torch.load(tmp_path / "a.pt")["w"], fresh["w"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "b.pt"]


def _unit(tmp_path, fingerprint, stage_out=None):
    from fasrnet.resume import Unit, work_dir_for

    target = tmp_path / "out" / "split"
    return Unit(target, work_dir_for(target, stage_out), fingerprint)


def _complete(d):
    return (d / "done").exists()


def test_unit_builds_in_a_work_dir_outside_the_output_and_swaps_in_when_complete(tmp_path):
    unit = _unit(tmp_path, {"seed": 0}, stage_out=tmp_path / "out")
    assert unit.work == tmp_path / ".out.partial" / "split"
    assert unit.open(_complete) == "fresh"
    (unit.work / "a").write_text("seed 0")
    (unit.work / ".a.x1.tmp").write_text("killed write")
    assert unit.open(_complete) == "resume"  # same fingerprint: the partial work is kept, its temp files not
    assert sorted(p.name for p in unit.work.iterdir()) == ["a", "fingerprint.json"]
    (unit.work / "done").write_text("")
    unit.commit()
    assert sorted(p.name for p in unit.target.iterdir()) == ["a", "done", "fingerprint.json", "manifest.json"]
    assert not (tmp_path / ".out.partial").exists()
    assert unit.open(_complete) == "current"


def test_unit_with_another_fingerprint_starts_over_and_keeps_the_old_output_until_done(tmp_path):
    first = _unit(tmp_path, {"seed": 0})
    first.open(_complete)
    (first.work / "done").write_text("seed 0")
    first.commit()
    second = _unit(tmp_path, {"seed": 1})
    assert second.open(_complete) == "fresh"
    assert (second.target / "done").read_text() == "seed 0"  # untouched while the new one is built
    (second.work / "done").write_text("seed 1")
    (second.target.parent / ".split.abc.old").mkdir()  # what a kill between the two renames leaves
    second.commit()
    assert (second.target / "done").read_text() == "seed 1"
    assert second.open(_complete) == "current"
    assert sorted(p.name for p in second.target.parent.iterdir()) == ["split"]


def test_unreadable_fingerprint_matches_nothing(tmp_path):
    unit = _unit(tmp_path, {"seed": 0})
    unit.open(_complete)
    (unit.work / "fingerprint.json").write_text("{torn")
    assert unit.open(_complete) == "fresh"


def test_atomic_dir_removes_what_a_killed_build_left_beside_it(tmp_path):
    (tmp_path / ".dataset.k1ll3d.tmp").mkdir()  # a SIGKILLed atomic_dir's temporary directory
    (tmp_path / ".dataset.x.old").mkdir()
    with atomic_dir(tmp_path / "dataset") as tmp:
        (tmp / "a.txt").write_text("good")
    assert [p.name for p in tmp_path.iterdir()] == ["dataset"]
