"""`fasrnet runtime` and the workflow's onsuccess: Snakemake benchmark TSVs (NA, "-" and 0 values included) read
into per-stage costs, the markdown and JSON written from generated files, bad files named in one error, the wall
time only when Snakemake gives it; and every stage has a benchmark file of its own (docs/runtime.md)."""

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from fasrnet.cli import main
from fasrnet.errors import FasrnetError
from fasrnet.host import machine
from fasrnet.tables.runtime import after_snakemake, collect, read_benchmark, stage_order, summarize, total

REPO = Path(__file__).resolve().parents[2]
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time"


def bench_line(s: float, rss: str = "100.50", cpu: str = "1.00") -> str:
    """One record as Snakemake writes it (TSV, two decimals, NA where nothing was sampled)."""
    return f"{s:.2f}\t0:00:{int(s):02d}\t{rss}\t300.00\t90.00\t95.00\t1.00\t2.00\t50.00\t{cpu}"


def write_bench(directory: Path, name: str, *lines: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


@pytest.fixture
def benchmarks(tmp_path):
    """A partial run's files: two trainings (one of them never sampled), a quick evaluation, the backbone, and a
    rule the registry does not know."""
    d = tmp_path / "results" / "benchmarks"
    write_bench(d, "train/main_syn17.tsv", bench_line(80.0, "1200.00", "150.00"))
    write_bench(d, "train/seed_1.tsv", bench_line(20.0, "NA", "NA"))
    write_bench(d, "evaluate/main_syn17.tsv", bench_line(0.3, "0", "0.00"))  # ended before the first sample
    write_bench(d, "backbone.tsv", bench_line(40.0, "900.25", "75.50"))
    write_bench(d, "zzz_custom/x.tsv", bench_line(1.0))
    return d


# ----------------------------------------------------------------------------------------------------------
# Parsing


def test_a_record_is_read_with_its_rule_and_item(tmp_path):
    path = write_bench(tmp_path, "train/main_syn17.tsv", bench_line(12.5, "512.00", "20.25"))
    (rec,) = read_benchmark(path, tmp_path)
    assert (rec.stage, rec.item, rec.s, rec.max_rss_mib, rec.cpu_s) == ("train", "main_syn17", 12.5, 512.0, 20.25)
    (single,) = read_benchmark(write_bench(tmp_path, "tables.tsv", bench_line(3.0)), tmp_path)
    assert (single.stage, single.item) == ("tables", None)


@pytest.mark.parametrize("rss, cpu", [("NA", "NA"), ("-", "-"), ("0", "0.00"), ("0.00", "NA")])
def test_unsampled_jobs_have_no_memory_or_cpu_figure(tmp_path, rss, cpu):
    # Snakemake writes NA when it took no sample, "-" for None, and zeros when the process was gone at the sample
    (rec,) = read_benchmark(write_bench(tmp_path, "crops/syn17.tsv", bench_line(0.4, rss, cpu)), tmp_path)
    assert rec.s == 0.4 and rec.max_rss_mib is None and rec.cpu_s is None


def test_repeated_benchmarks_and_extended_columns_are_read(tmp_path):
    path = tmp_path / "train" / "r.tsv"
    path.parent.mkdir()
    extended = HEADER + "\tjobid\trule_name"
    path.write_text(f"{extended}\n{bench_line(1.0)}\t3\ttrain\n\n{bench_line(2.0)}\t3\ttrain\n")
    assert [r.s for r in read_benchmark(path, tmp_path)] == [1.0, 2.0]


@pytest.mark.parametrize("text, message", [
    ("", r"empty"),
    (HEADER + "\n", r"no records after the header"),
    ("a\tb\n1\t2\n", r"line 1: not a Snakemake benchmark header \(no column s, max_rss, cpu_time\)"),
    (HEADER + "\n1.0\t0:00:01\n", r"line 2: expected 10 tab-separated values, got 2"),
    (HEADER + "\n" + bench_line(1.0, "lots"), r"line 2: max_rss: expected a number, NA or -, got 'lots'"),
    (HEADER + "\n" + bench_line(1.0, "nan"), r"line 2: max_rss: expected a finite non-negative number"),
    (HEADER + "\n" + bench_line(1.0, cpu="-3"), r"line 2: cpu_time: expected a finite non-negative number"),
    (HEADER + "\n" + "NA" + bench_line(1.0)[4:], r"line 2: s: expected the job's seconds, got 'NA'"),
])
def test_a_bad_file_is_an_error_naming_it(tmp_path, text, message):
    path = tmp_path / "train" / "bad.tsv"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(FasrnetError, match=re.escape(str(path)) + ": " + message):
        read_benchmark(path, tmp_path)


def test_an_unreadable_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "bin.tsv"
    path.write_bytes(b"\xff\xfe\x00s\tmax_rss")
    with pytest.raises(FasrnetError, match=re.escape(f"{path}: not a benchmark file (not UTF-8 text)")):
        read_benchmark(path, tmp_path)
    folder = tmp_path / "dir.tsv"
    folder.mkdir()
    with pytest.raises(FasrnetError, match=re.escape(f"{folder}: cannot read")):
        read_benchmark(folder, tmp_path)


def test_no_benchmark_files_is_an_error_that_says_who_writes_them(tmp_path):
    with pytest.raises(FasrnetError, match=r"no benchmark files .*every stage's command writes its own"):
        collect(tmp_path / "missing")


# ----------------------------------------------------------------------------------------------------------
# Summing and the machine


def test_stages_are_summed_in_pipeline_order(benchmarks):
    records = collect(benchmarks)
    costs = {c.stage: c for c in summarize(records)}
    assert list(costs) == ["backbone", "train", "evaluate", "zzz_custom"]  # registry order, unknown rules last
    train = costs["train"]
    assert (train.jobs, train.total_s, train.max_s, train.max_rss_mib, train.cpu_s, train.unsampled) == (
        2, 100.0, 80.0, 1200.0, 150.0, 1)
    ev = costs["evaluate"]
    assert ev.max_rss_mib is None and ev.cpu_s is None and ev.unsampled == 1
    grand = total(records)
    assert (grand.jobs, grand.total_s, grand.max_s, grand.max_rss_mib, grand.cpu_s, grand.unsampled) == (
        5, 141.3, 80.0, 1200.0, 226.5, 2)


def test_stage_order_names_the_registry_rules_without_their_run_group():
    from fasrnet.params import load_params
    from fasrnet.stages import snakemake_rules

    rules = {re.sub(r"_(main|ablation|alpha|seed)$", "", r.name)
             for r in snakemake_rules(load_params(REPO / "params.yaml"))}
    assert stage_order() == list(dict.fromkeys(stage_order())) and set(stage_order()) == rules


def test_machine_reads_model_and_vector_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse avx2 fma\n\n"
                       "processor\t: 1\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse avx2 fma\n")
    host = machine(cpuinfo)
    assert (host["cpu"], host["avx2"], host["avx512"]) == ("AMD EPYC 7B13", True, False)
    assert host["usable_cpus"] >= 1 and host["cpus"] >= host["usable_cpus"]
    unknown = machine(tmp_path / "none")
    assert (unknown["cpu"], unknown["avx2"], unknown["avx512"]) == (None, None, None)


# ----------------------------------------------------------------------------------------------------------
# The table and the JSON


def _table_rows(text: str) -> dict[str, list[str]]:
    rows = [[re.sub(r"^\*\*(.*)\*\*$", r"\1", c.strip()) for c in line.strip("|").split("|")]
            for line in text.splitlines() if line.startswith("| ") and not line.startswith("| stage")]
    return {row[0]: row[1:] for row in rows}


def test_cli_writes_the_table_and_json(benchmarks, tmp_path, capsys):
    out, js = tmp_path / "results" / "runtime.md", tmp_path / "results" / "runtime.json"
    assert main(["runtime", "--benchmarks", str(benchmarks), "--out", str(out), "--json", str(js)]) == 0
    assert "runtime: wrote" in capsys.readouterr().out
    text = out.read_text()
    rows = _table_rows(text)
    assert list(rows) == ["backbone", "train", "evaluate", "zzz_custom", "total"]
    assert rows["train"] == ["2", "100.0", "71%", "80.0", "1200*", "150.0*"]
    assert rows["evaluate"] == ["1", "0.3", "0%", "0.3", "–", "–"]
    assert rows["total"] == ["5", "141.3", "100%", "80.0", "1200*", "226.5*"]
    assert "Wall time: not recorded" in text and "it is not the run's wall time" in text
    assert "2 job(s) have no memory or CPU figures" in text
    assert re.search(r"^Machine: .*CPUs usable, AVX2 (yes|no|unknown), AVX-512 (yes|no|unknown)", text, re.M)
    doc = json.loads(js.read_text())
    assert doc["wall_s"] is None and doc["jobs_this_run"] is None
    assert [s["stage"] for s in doc["stages"]] == ["backbone", "train", "evaluate", "zzz_custom"]
    assert doc["total"]["total_s"] == 141.3 and len(doc["jobs"]) == 5
    assert {"file", "stage", "item", "s", "max_rss_mib", "cpu_s"} <= set(doc["jobs"][0])


def test_cli_bad_file_exits_2_naming_it(tmp_path, capsys):
    bad = tmp_path / "b" / "train" / "x.tsv"
    bad.parent.mkdir(parents=True)
    bad.write_text("garbage\n")
    out = tmp_path / "runtime.md"
    assert main(["runtime", "--benchmarks", str(tmp_path / "b"), "--out", str(out), "--json",
                 str(tmp_path / "r.json")]) == 2
    assert f"error: {bad}: line 1: not a Snakemake benchmark header" in capsys.readouterr().err
    assert not out.exists()


def _job(rule: str, **wildcards: str) -> SimpleNamespace:
    return SimpleNamespace(rule=SimpleNamespace(name=rule), wildcards=wildcards)


def _fake_workflow(started: datetime, jobs: list[SimpleNamespace]) -> SimpleNamespace:
    jobs = [*jobs, _job("all")]
    return SimpleNamespace(start_time=started, dag=SimpleNamespace(needrun_jobs=lambda exclude_finished: iter(jobs)))


def test_onsuccess_writes_the_wall_time_and_the_jobs_of_this_run(benchmarks, tmp_path, monkeypatch):
    monkeypatch.chdir(benchmarks.parents[1])  # Snakemake's working directory: its job paths are relative
    # registry rules, as Snakemake names them: their commands wrote train/main_syn17.tsv and backbone.tsv
    ran = [_job("train_main", run="main_syn17"), _job("backbone")]
    workflow = _fake_workflow(datetime.now() - timedelta(seconds=125), ran)
    written = after_snakemake(workflow)
    assert written == [Path("results/runtime.md"), Path("results/runtime.json")]
    text = Path("results/runtime.md").read_text()
    assert re.search(r"Wall time: 2 min 5 s \(12[5-9] s\) for the Snakemake run that wrote this table", text)
    assert "that run made 2 of the 5 jobs below, the others are from earlier runs" in text
    doc = json.loads(Path("results/runtime.json").read_text())
    assert 125 <= doc["wall_s"] < 130 and doc["jobs_this_run"] == 2
    assert {j["file"]: j["this_run"] for j in doc["jobs"]}["results/benchmarks/backbone.tsv"] is True


def test_onsuccess_without_snakemake_internals_omits_the_wall_time(benchmarks, monkeypatch):
    monkeypatch.chdir(benchmarks.parents[1])
    after_snakemake(SimpleNamespace())
    doc = json.loads(Path("results/runtime.json").read_text())
    assert doc["wall_s"] is None and doc["jobs_this_run"] is None


def test_onsuccess_never_fails_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert after_snakemake(SimpleNamespace()) == []  # no benchmark files (a run of rules without any)
    assert not Path("results/runtime.md").exists()
    write_bench(tmp_path / "results" / "benchmarks", "train/x.tsv", "not a record")
    assert after_snakemake(SimpleNamespace()) == []
    assert "warning: runtime table not written: results/benchmarks/train/x.tsv: line 2" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------------
# The workflow


def test_every_stage_instance_has_its_own_benchmark_file_named_after_its_rule_and_item():
    from fasrnet.params import load_params
    from fasrnet.stages import instances

    every = instances(load_params(REPO / "params.yaml"))
    paths = {inst.benchmark for inst in every}
    assert len(paths) == len(every)  # no two stages share one
    named = {inst.name: inst.benchmark for inst in every}
    assert named["train_seed@seed_3"] == "results/benchmarks/train/seed_3.tsv"  # every group's trainings: `train`
    assert named["predict_backbone@syn18"] == "results/benchmarks/predict_backbone/syn18.tsv"
    assert named["tables"] == "results/benchmarks/tables.tsv"
    assert {inst.benchmark.split("/")[2].removesuffix(".tsv") for inst in every} == set(stage_order())


def test_the_snakefile_writes_the_table_on_success():
    snakefile = (REPO / "workflow" / "Snakefile").read_text()
    assert re.search(r"^onsuccess:\n(?:    .*\n|\n)*    after_snakemake\(workflow\)$", snakefile, re.M)
