"""A run name that is a shell payload never runs: params refuse it, Snakemake stops before any rule, and DVC's
command hands it to fasrnet literally (through $DVC_STAGE), which refuses it. No path from params.yaml reaches a
shell command."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PAYLOAD = "x`touch pwned`"
ALPHABET = "expected ASCII letters A-Z a-z, digits 0-9, '_' and '-', not starting with '-'"
REFUSAL = f"params.yaml: runs.main: run name {PAYLOAD!r}: {ALPHABET}"


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    # PYTHONPATH: fasrnet, also as DVC's and Snakemake's subprocess, is this checkout's
    env = dict(os.environ, PYTHONPATH=str(REPO), DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _params(tmp: Path, **changes: object) -> None:
    """The shipped params.yaml with one main run (``run``) and any ``data`` changes, written into ``tmp``."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["runs"] = {"main": {changes.pop("run", "main_syn17"): {"dataset": "syn17"}}}
    raw["data"].update(changes)
    (tmp / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def _no_pwned(root: Path) -> None:
    assert not list(root.rglob("pwned")) and not (REPO / "pwned").exists()


@pytest.fixture
def workflow_copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "workflow", tmp_path / "workflow")
    shutil.copytree(REPO / "fasrnet", tmp_path / "fasrnet", ignore=shutil.ignore_patterns("__pycache__"))  # stage deps
    shutil.copy(REPO / "Snakefile", tmp_path / "Snakefile")
    return tmp_path


@pytest.mark.parametrize(("changes", "message"), [
    ({"run": PAYLOAD}, REFUSAL),
    ({"root": PAYLOAD}, f"params.yaml: data.root: path {PAYLOAD!r}: expected letters, digits, space and "
                        "._-/+@=,:~, not starting with '-' or a space"),
])
def test_params_check_refuses_a_payload_name(tmp_path, changes, message):
    _params(tmp_path, **changes)
    result = _run(["fasrnet", "params", "check"], tmp_path)
    assert result.returncode == 2 and result.stderr == f"error: {message}\n"
    _no_pwned(tmp_path)


@pytest.mark.parametrize("dry_run", [["-n"], []], ids=["dry-run", "run"])
def test_snakemake_stops_on_a_payload_run_before_any_rule(workflow_copy, dry_run):
    _params(workflow_copy, run=PAYLOAD)
    result = _run(["snakemake", *dry_run, "--cores", "1"], workflow_copy)
    assert result.returncode != 0 and f"error: {REFUSAL}" in result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    _no_pwned(workflow_copy)


def test_snakemake_commands_carry_no_path_from_params(workflow_copy):
    # The CLI derives every path from params.yaml itself: a root with a space (or anything else) never reaches a
    # shell command, only the rules' inputs and outputs
    _params(workflow_copy, root="data/my raw")
    result = _run(["snakemake", "-n", "-p", "--cores", "1", "results/metrics/main_syn17.json"], workflow_copy)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    commands = [line for line in result.stdout.splitlines() if line.startswith("Shell command: ")]
    assert any("fasrnet evaluate --run main_syn17" in c for c in commands)
    assert commands and not any("my raw" in c for c in commands)
    assert "data/my raw/syn17" in result.stdout


@pytest.mark.parametrize("payload", [PAYLOAD, "x'$(touch pwned)'"], ids=["backtick", "single-quote"])
def test_dvc_hands_a_payload_run_to_fasrnet_literally(tmp_path, payload):
    # The committed dvc.yaml, as a user would have it; params.yaml edited by hand, never checked. DVC pastes
    # ${key} into commands unescaped, so its commands name the run only through $DVC_STAGE: no quoting to break.
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    shutil.copytree(REPO / "fasrnet", tmp_path / "fasrnet", ignore=shutil.ignore_patterns("__pycache__"))  # code deps
    shutil.copytree(REPO / "workflow" / "code", tmp_path / "workflow" / "code")  # each stage's code digest
    _params(tmp_path, run=payload)
    for dep in ("data/features/syn17", "data/crops/syn17", "data/raw/syn17"):  # train's deps must exist to run
        (tmp_path / dep).mkdir(parents=True)
        (tmp_path / dep / "f").write_text("x")
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        assert _run(cmd, tmp_path).returncode == 0
    result = _run(["dvc", "repro", "-s", f"train_main@{payload}"], tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    _no_pwned(tmp_path)
    assert '> fasrnet train --run "$DVC_STAGE"' in out  # it ran
    assert f"error: params.yaml: runs.main: run name {payload!r}: {ALPHABET}" in out.splitlines()  # refused as is
