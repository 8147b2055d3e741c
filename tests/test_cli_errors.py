"""The CLI's error boundary: every expected failure is one ``error:`` line naming the file, exit 2, no traceback;
bugs keep their traceback."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fasrnet.io
from fasrnet.cli import main
from fasrnet.errors import FasrnetError

REPO = Path(__file__).resolve().parents[1]
PARAMS = str(REPO / "params.yaml")


def _one_error(capsys: pytest.CaptureFixture[str], rc: int, *names: str) -> str:
    """The single error line, after checking it is alone, names every one of ``names`` and came with exit 2."""
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert all(name in lines[0] for name in names), err
    assert "Traceback" not in err
    return lines[0]


def _write(path: Path, data: bytes | None) -> Path:
    if data is None:
        path.mkdir()
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize(("data", "expected"), [
    (None, "cannot read params file: Is a directory"),
    (b"loss:\n  alpha: 0.3 \xff\n", "not UTF-8 text (byte 0xff at offset 19)"),
    (b"", "expected a mapping of sections at the top level, got an empty file"),
    (b"# only a comment\n", "expected a mapping of sections at the top level, got an empty file"),
    (b"- 1\n", "expected a mapping of sections at the top level, got list"),
], ids=["directory", "not-utf8", "empty", "comment-only", "list"])
def test_bad_params_file_is_one_error(tmp_path, capsys, data, expected):
    path = _write(tmp_path / "p.yaml", data)
    line = _one_error(capsys, main(["--params", str(path), "params", "show"]), str(path))
    assert line == f"error: {path}: {expected}"


def test_missing_explicit_params_file_is_an_error(tmp_path, capsys):
    path = tmp_path / "nope.yaml"
    line = _one_error(capsys, main(["--params", str(path), "params", "show"]))
    assert line == f"error: {path}: params file not found"


def test_missing_default_params_file_uses_the_defaults_with_a_note(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["params", "show"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "note: params.yaml not found; using the built-in defaults\n"
    assert "alpha: 0.4" in captured.out


def test_params_check_fails_without_a_params_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _one_error(capsys, main(["params", "check"]))
    assert line == "error: params.yaml: params file not found"


def test_override_that_is_not_yaml_is_one_error(capsys):
    line = _one_error(capsys, main(["--params", PARAMS, "-S", "loss.alpha=[1", "params", "check"]), "loss.alpha=[1")
    assert line.startswith("error: override 'loss.alpha=[1': value is not valid YAML (line 1, column 3)")


SEEDS = ["synthesize.seed", "crops.seed", "backbone.seed", "train.seed", "runs.seed.seed_1.seed"]


@pytest.mark.parametrize("key", SEEDS)
@pytest.mark.parametrize("value", [10**23, 2**32, -1])
def test_seed_out_of_range_is_one_error(capsys, key, value):
    rc = main(["--params", PARAMS, "-S", f"{key}={value}", "params", "check"])
    _one_error(capsys, rc, PARAMS, key, str(value))


@pytest.mark.parametrize("key", SEEDS)
def test_largest_seed_is_accepted(capsys, key):
    assert main(["--params", PARAMS, "-S", f"{key}={2**32 - 1}", "params", "check"]) == 0


def test_seed_out_of_range_in_the_file_is_one_error(tmp_path, capsys):
    path = _write(tmp_path / "p.yaml", b"train:\n  seed: 100000000000000000000000\n")
    line = _one_error(capsys, main(["--params", str(path), "params", "check"]))
    assert line == f"error: {path}: train.seed: got 100000000000000000000000; expected less than 4294967296"


def test_output_that_is_a_directory_is_one_error(tmp_path, capsys):
    out = tmp_path / "dvc.yaml"
    out.mkdir()
    line = _one_error(capsys, main(["--params", PARAMS, "workflow", "dvc", "--out", str(out)]))
    assert line == f"error: {out}: Is a directory"


def _failing_write(exc: BaseException):
    def write_bytes(path, data):
        raise exc

    return write_bytes


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EPERM, errno.EACCES, errno.EROFS])
def test_oserror_on_an_output_is_one_error_naming_it(tmp_path, capsys, monkeypatch, code):
    out = tmp_path / "dvc.yaml"
    monkeypatch.setattr(fasrnet.io, "write_bytes", _failing_write(OSError(code, os.strerror(code), str(out))))
    line = _one_error(capsys, main(["--params", PARAMS, "workflow", "dvc", "--out", str(out)]))
    assert line == f"error: {out}: {os.strerror(code)}"


def test_full_disk_without_a_file_name_is_still_one_error(tmp_path, capsys, monkeypatch):
    # What a write() on a full disk raises: no file name to give
    monkeypatch.setattr(fasrnet.io, "write_bytes", _failing_write(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))))
    line = _one_error(capsys, main(["--params", PARAMS, "workflow", "dvc", "--out", str(tmp_path / "d.yaml")]))
    assert line == f"error: [Errno {errno.ENOSPC}] {os.strerror(errno.ENOSPC)}"


def test_a_full_disk_inside_an_atomic_write_names_the_output(tmp_path, capsys, monkeypatch):
    # The real path: write()/fsync() fail with no file name; the atomic write names its output and cleans up
    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fasrnet.io.os, "fsync", fsync)
    out = tmp_path / "d.yaml"
    line = _one_error(capsys, main(["--params", PARAMS, "workflow", "dvc", "--out", str(out)]))
    assert line == f"error: {out}: {os.strerror(errno.ENOSPC)}"
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file


def test_a_reader_that_leaves_the_pipe_ends_the_command_quietly():
    # `fasrnet params show | head`: the reader is gone before the command writes; no traceback, no error line
    proc = subprocess.Popen([sys.executable, "-m", "fasrnet.cli", "--params", PARAMS, "params", "show"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1 and err == ""


@pytest.mark.parametrize(("exc", "expected"), [
    (FasrnetError(""), "error: FasrnetError"),
    (FasrnetError("\n"), "error: FasrnetError"),
    (OSError(errno.EPERM, "", "out.json"), "error: out.json: PermissionError"),
], ids=["empty", "blank-lines", "oserror-no-strerror"])
def test_an_empty_message_still_gives_one_error_line(tmp_path, capsys, monkeypatch, exc, expected):
    monkeypatch.setattr(fasrnet.io, "write_bytes", _failing_write(exc))
    rc = main(["--params", PARAMS, "workflow", "dvc", "--out", str(tmp_path / "d.yaml")])
    assert _one_error(capsys, rc) == expected


@pytest.mark.parametrize("exc", [ValueError("a bug"), OSError(errno.EINVAL, "Invalid argument")],
                         ids=["valueerror", "oserror-without-file"])
def test_a_bug_keeps_its_traceback(tmp_path, monkeypatch, exc):
    monkeypatch.setattr(fasrnet.io, "write_bytes", _failing_write(exc))
    with pytest.raises(type(exc)):
        main(["--params", PARAMS, "workflow", "dvc", "--out", str(tmp_path / "d.yaml")])


def test_interrupt_exits_130(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fasrnet.io, "write_bytes", _failing_write(KeyboardInterrupt()))
    assert main(["--params", PARAMS, "workflow", "dvc", "--out", str(tmp_path / "d.yaml")]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_checkpoint_error_with_an_empty_message_does_not_raise_in_the_formatter(tmp_path, monkeypatch):
    import torch

    from fasrnet.models.checkpoint import CheckpointError, read_checkpoint

    def load(*args, **kwargs):
        raise RuntimeError()

    monkeypatch.setattr(torch, "load", load)
    path = _write(tmp_path / "w.pth", b"x")
    with pytest.raises(CheckpointError, match=r"w\.pth: not a readable PyTorch checkpoint \(RuntimeError\)$"):
        read_checkpoint(path)


def test_the_installed_command_prints_no_traceback(tmp_path):
    path = _write(tmp_path / "p.yaml", None)
    result = subprocess.run([sys.executable, "-m", "fasrnet.cli", "--params", str(path), "params", "check"],
                            capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert result.returncode == 2
    assert result.stderr == f"error: {path}: cannot read params file: Is a directory\n"


def test_a_disk_filling_up_in_the_middle_of_a_shard_is_one_error(tmp_path, capsys, monkeypatch):
    # A real short write: past RLIMIT_FSIZE write() stops short (EFBIG) as it does on a full disk (ENOSPC), and
    # np.save's tofile reports it with neither an errno nor a file name ("147456 requested and 29872 written")
    import resource

    import yaml

    monkeypatch.chdir(tmp_path)
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({
        "data": {"root": "raw", "datasets": ["syn17"]},
        "synthesize": {"image_width": 64, "image_height": 64, "frames_per_video": 8, "min_people": 1,
                       "max_people": 1, "videos": {"train": 1, "val": 1, "test": 1}},
        "crops": {"shard_size": 4},
        "heatmap": {"input_size": [64, 64]},
        "runs": {"main": {"main_syn17": {"dataset": "syn17"}}, "ablation": {}, "alpha": {}, "seed": {}}}))
    assert main(["--params", str(params), "synthesize"]) == 0
    limit = 30_000  # a shard of crops is 4 x 3 frames x 64 x 64 x 3 bytes; the JSON and JPEG files are smaller

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run([sys.executable, "-m", "fasrnet", "--params", str(params), "crops", "--dataset", "syn17",
                             "--split", "val"], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                            preexec_fn=limited, env=dict(os.environ, FASRNET_NO_SPACE_CHECK="1"))
    lines = [line for line in result.stderr.replace("\r", "\n").splitlines()
             if line.strip() and not line.startswith("crops ")]  # not the progress bar
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "shard-00000.images.npy: write failed: " in lines[0] and " requested and " in lines[0], lines[0]
    assert lines[0].endswith(" free on its disk)")
    assert not list(tmp_path.rglob("*.tmp*"))  # the shard's temporary file is gone
