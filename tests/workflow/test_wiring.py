"""Snakemake and DVC are wired from one stage registry: same stages (one Snakemake rule per registry template,
named as its DVC stage), commands, deps (code included), outs and params keys."""

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from fasrnet.codedeps import digest_path
from fasrnet.params import load_params
from fasrnet.stages import GPU_JOBS, instances, templates
from fasrnet.workflow import CODE_STAGE, check_dvc_yaml, stamp_path, write_stamps

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def params():
    return load_params(REPO / "params.yaml")


@pytest.fixture(scope="module")
def registry(params):
    return {i.name: i for i in instances(params)}


def test_committed_dvc_yaml_is_generated_from_the_registry(params):
    assert check_dvc_yaml(params, REPO / "dvc.yaml") == []


def test_dvc_resolves_exactly_the_registry_stages(registry):
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        stages = {s.addressing: s for s in repo.index.stages}
    assert set(stages) == set(registry) | {CODE_STAGE}
    # the code stage reads the package and writes every stage command's digest file
    code = stages[CODE_STAGE]
    assert [d.def_path for d in code.deps] == ["fasrnet"]
    assert {o.def_path for o in code.outs} == {digest_path(inst.command).as_posix() for inst in registry.values()}
    assert all(o.persist and not o.use_cache for o in code.outs)
    for name, inst in registry.items():
        stage = stages[name]
        # DVC's command names its item through the stage name in the environment, the registry's quotes it
        dvc_argv = [inst.item if word == "$DVC_STAGE" else word for word in shlex.split(stage.cmd)]
        assert dvc_argv == shlex.split(inst.cmd), name
        deps = [d.def_path for d in stage.deps if not d.def_path.endswith("params.yaml")]
        assert deps == [*inst.deps, digest_path(inst.command).as_posix()], name
        params = [k for d in stage.deps if d.def_path.endswith("params.yaml") for k in d.params]
        assert sorted(params) == sorted(inst.params), name
        assert [o.def_path for o in stage.outs] == [*inst.outs, *inst.metrics], name


def _snakemake_jobs(*args):
    out = subprocess.run(["snakemake", "-n", "--cores", "8", *args], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    jobs, current = [], None
    for line in out.splitlines():
        if m := re.match(r"^(?:local)?rule (\w+):$", line):
            current = {"rule": m.group(1)}
            jobs.append(current)
        elif current is not None and (m := re.match(r"^    (input|output|log|resources): (.*)$", line)):
            current[m.group(1)] = [p.strip() for p in m.group(2).split(",")]
    return jobs


@pytest.fixture(scope="module")
def snakemake_jobs():
    return {tuple(job["output"]): job for job in _snakemake_jobs() if job["rule"] != "all"}


def test_snakemake_dag_matches_the_registry(registry, snakemake_jobs):
    jobs = snakemake_jobs
    assert len(jobs) == len(registry)
    for name, inst in registry.items():
        job = jobs[(*inst.outs, *inst.metrics)]
        assert job["rule"] == inst.template, name
        assert job["input"] == [*inst.deps, digest_path(inst.command).as_posix(), str(stamp_path(name))], name
        assert job["log"] == [inst.log], name


def test_duplicate_runs_have_no_edge_to_their_canonical_run(params, snakemake_jobs):
    # main_syn17, alpha_04 and seed_0 resolve to one configuration: fasrnet train's lock orders them
    # (tests/learning/test_reuse.py). A Snakemake edge (ancient) would hide a duplicate's own reasons to rerun.
    from fasrnet.runs import canonical_runs

    assert canonical_runs(params)["alpha_04"] == canonical_runs(params)["seed_0"] == "main_syn17"
    for out in ("models/alpha_04", "models/seed_0"):
        assert "models/main_syn17" not in snakemake_jobs[(out,)]["input"], out


def test_gpu_jobs_hold_one_gpu_job_and_a_limit_plans_every_stage(registry):
    # --resources gpu_jobs=N caps the jobs sharing a worker's GPU (docs/gpu.md, "Several jobs on one GPU"): the
    # stages that run on the GPU when there is one. The CPU-only stages (complexity's torch runs on the CPU) hold
    # none, so the limit never holds them back; without the flag nothing is limited.
    assert GPU_JOBS == "gpu_jobs"  # the name README and the docs give; `gpu` is the SLURM plugin's --gpus
    gpu = {t.name for t in templates() if t.gpu}
    torch = {t.name for t in templates() if t.torch}
    assert gpu == {"backbone", "adapt_backbone", "extract", "predict_backbone", "predict_backbone_adapted",
                   *(f"{s}_{g}" for s in ("train", "predict") for g in ("main", "ablation", "alpha", "seed"))}
    assert torch == gpu | {"complexity"}
    jobs = [job for job in _snakemake_jobs("--resources", f"{GPU_JOBS}=1") if job["rule"] != "all"]
    assert len(jobs) == len(registry)
    for job in jobs:
        resources = dict(r.split("=", 1) for r in job["resources"])
        assert resources.get(GPU_JOBS) == ("1" if job["rule"] in gpu else None), job
        assert ("torch_threads" in resources) == (job["rule"] in torch), job


def test_snakemake_lint_is_clean():
    result = subprocess.run(["snakemake", "--lint"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


def test_alpha_change_touches_only_the_main_runs_stamps(params, registry, tmp_path):
    before, after = tmp_path / "before", tmp_path / "after"
    before.mkdir()
    after.mkdir()
    write_stamps(params, before)
    changed = load_params(REPO / "params.yaml", ["loss.alpha=0.3"])
    write_stamps(changed, after)
    differing = {p.name for p in before.iterdir() if p.read_text() != (after / p.name).read_text()}
    expected = {stamp_path(n).name for n, i in registry.items() if i.template in ("train_main", "tables")}
    assert differing == expected and len(expected) == 3


@pytest.mark.parametrize("bn", ["adapt", "train"])
def test_backbone_bn_change_keeps_the_committed_wiring(params, registry, bn, tmp_path):
    # `dvc exp run -S backbone.bn=adapt` runs from the committed dvc.yaml: it must still be the registry's, with the
    # adapted backbone before extraction; only the stages that read the key (extraction, every training: online ones
    # run the backbone, and the tables' note) see a new stamp.
    overrides = [f"backbone.bn={bn}"] + (["train.online_backbone=true"] if bn == "train" else [])
    changed = load_params(REPO / "params.yaml", overrides)
    assert check_dvc_yaml(changed, REPO / "dvc.yaml") == []
    assert {i.name: i.deps for i in instances(changed)} == {n: i.deps for n, i in registry.items()}
    assert all(f"models/backbone_adapted/{i.item}" in i.deps for i in registry.values() if i.template == "extract")
    if bn == "adapt":
        before, after = tmp_path / "before", tmp_path / "after"
        before.mkdir()
        after.mkdir()
        write_stamps(params, before)
        write_stamps(changed, after)
        differing = {p.name for p in before.iterdir() if p.read_text() != (after / p.name).read_text()}
        readers = {n for n, i in registry.items()
                   if i.template in ("extract", "tables") or i.template.startswith("train_")}
        assert differing == {stamp_path(n).name for n in readers}


def test_stamps_are_rewritten_only_when_values_change(params, tmp_path):
    write_stamps(params, tmp_path)
    mtimes = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    write_stamps(params, tmp_path)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == mtimes


def test_paper_setting_dry_run_resolves_every_stage(tmp_path):
    paper = load_params(REPO / "params-paper.yaml")
    assert paper.model.backbone_width == 48 and paper.heatmap.input_size == [384, 288]
    assert paper.train.lr_steps == [9, 17, 21, 25] and paper.backbone.source == "checkpoint"
    # the official recipe: online, BatchNorm in train mode, half-body, best epoch kept beside the final one
    assert paper.train.online_backbone and paper.backbone.bn == "train" and paper.train.val_every == 1
    assert (paper.crops.half_body_prob, paper.crops.half_body_min_joints) == (0.3, 8)
    shutil.copytree(REPO / "workflow", tmp_path / "workflow")
    shutil.copytree(REPO / "fasrnet", tmp_path / "fasrnet")  # the code every stage depends on
    shutil.copy(REPO / "Snakefile", tmp_path / "Snakefile")
    shutil.copy(REPO / "params-paper.yaml", tmp_path / "params.yaml")
    out = subprocess.run(["snakemake", "-n", "--cores", "8"], cwd=tmp_path, capture_output=True, text=True,
                         check=True).stdout
    out = out.split("Job stats:")[1].split("Reasons:")[0]  # the job table (a dry run prints it twice)
    total = int(re.search(r"^total\s+(\d+)$", out, re.M).group(1))
    assert total == len(instances(paper)) + 1  # every stage, plus `all`
    trains = sum(int(n) for n in re.findall(r"^train_\w+\s+(\d+)$", out, re.M))
    assert re.search(r"^acquire\s+2$", out, re.M) and trains == 30
    assert re.search(r"^adapt_backbone\s+2$", out, re.M)  # the control row's adapted backbones
