"""A stage's command records its own benchmark file and params stamp (fasrnet.record): under DVC, under Snakemake
and by hand alike when it is the registry's command, never for other arguments or other params."""

import os
import socket
import time
from pathlib import Path

import pytest
import yaml

from fasrnet.cli import main
from fasrnet.params import load_params
from fasrnet.record import stage_of, stamp_path
from fasrnet.tables.runtime import read_benchmark

REPO = Path(__file__).resolve().parents[1]
SMALL = {"image_width": 96, "image_height": 64, "frames_per_video": 8, "videos": {"train": 1, "val": 1, "test": 1},
         "min_people": 1, "max_people": 1}


@pytest.fixture
def project(tmp_path, monkeypatch):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["synthesize"].update(SMALL)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_STAGE", raising=False)
    return tmp_path


@pytest.mark.parametrize(("argv", "stage"), [
    (["acquire", "--dataset", "syn17"], "acquire@syn17"),
    (["train", "--run", "seed_3", "--threads", "2"], "train_seed@seed_3"),  # Snakemake adds --threads
    (["predict", "--run", "main_syn18", "--split", "val", "test", "--threads=1"], "predict_main@main_syn18"),
    (["tables", "--strict"], "tables"),
    (["predict", "--run", "main_syn18", "--split", "val"], None),  # not the stage's command: another split set
    (["tables"], None),
    (["evaluate", "--gt", "a", "--pred", "b"], None),
])
def test_a_command_is_a_stage_only_when_it_is_the_registry_command(argv, stage, monkeypatch):
    monkeypatch.delenv("DVC_STAGE", raising=False)
    inst = stage_of(load_params(REPO / "params.yaml"), argv)
    assert (inst.name if inst else None) == stage


def test_under_dvc_the_stage_is_its_name_if_the_subcommand_matches(monkeypatch):
    params = load_params(REPO / "params.yaml")
    monkeypatch.setenv("DVC_STAGE", "train_main@main_syn17")
    assert stage_of(params, ["train", "--run", "train_main@main_syn17"]).name == "train_main@main_syn17"
    assert stage_of(params, ["evaluate", "--run", "train_main@main_syn17"]) is None
    monkeypatch.setenv("DVC_STAGE", "some_other_stage")
    assert stage_of(params, ["train", "--run", "main_syn17"]) is None


def test_a_stage_writes_its_benchmark_and_a_stamp_dated_at_its_start(project):
    before = time.time()
    assert main(["acquire", "--dataset", "syn17"]) == 0
    (record,) = read_benchmark(project / "results/benchmarks/acquire/syn17.tsv", project / "results/benchmarks")
    assert record.stage == "acquire" and record.item == "syn17"
    assert 0 < record.s < time.time() - before + 1 and record.max_rss_mib > 10 and record.cpu_s > 0
    stamp = project / stamp_path("acquire@syn17")
    assert yaml.safe_load(stamp.read_text())["synthesize"]["image_width"] == 96
    # older than what the stage made, so Snakemake takes those outputs as current
    assert before - 1 <= stamp.stat().st_mtime <= (project / "data/raw/syn17").stat().st_mtime


def test_the_benchmark_says_where_the_stage_ran(project, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4711")
    assert main(["acquire", "--dataset", "syn17"]) == 0
    header, line = (project / "results/benchmarks/acquire/syn17.tsv").read_text().splitlines()
    row = dict(zip(header.split("\t"), line.split("\t")))
    assert row["host"] == socket.gethostname() and row["slurm_job_id"] == "4711"
    monkeypatch.delenv("SLURM_JOB_ID")
    assert main(["acquire", "--dataset", "syn17"]) == 0
    assert (project / "results/benchmarks/acquire/syn17.tsv").read_text().splitlines()[1].endswith("\t")


def test_an_unchanged_stamp_keeps_its_date(project):
    stamp = project / stamp_path("acquire@syn17")
    stamp.parent.mkdir(parents=True)
    assert main(["acquire", "--dataset", "syn17"]) == 0
    os.utime(stamp, (1000, 1000))
    assert main(["acquire", "--dataset", "syn17"]) == 0  # same params: the stamp says nothing new
    assert stamp.stat().st_mtime == 1000


def test_other_params_or_a_failure_record_nothing(project, capsys):
    assert main(["-S", "synthesize.seed=5", "acquire", "--dataset", "syn17"]) == 0
    assert main(["--params", "params.yaml", "acquire", "--dataset", "syn17"]) == 0
    assert main(["acquire", "--dataset", "posetrack17"]) == 2
    assert not (project / "results").exists() and not (project / ".fasrnet").exists()


def test_imports_are_recorded_on_request(project, monkeypatch):
    monkeypatch.setenv("FASRNET_RECORD_IMPORTS", str(project / "imports"))
    assert main(["params", "check"]) == 0
    modules = yaml.safe_load((project / "imports/params.json").read_text())
    assert "fasrnet.cli" in modules and "fasrnet.params" in modules


def test_a_rank_other_than_0_records_nothing(project, monkeypatch):
    monkeypatch.setenv("RANK", "1")  # torchrun's other processes: rank 0 writes the job's files
    assert main(["acquire", "--dataset", "syn17"]) == 0
    assert not (project / "results").exists() and not (project / ".fasrnet").exists()


def test_a_bookkeeping_failure_is_a_warning_not_a_failed_stage(project, capsys):
    (project / "results").write_text("a file where the benchmarks' directory should be")
    assert main(["acquire", "--dataset", "syn17"]) == 0
    assert "benchmark file or params stamp not recorded" in capsys.readouterr().err
