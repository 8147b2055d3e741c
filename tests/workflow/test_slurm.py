"""The workflow through a real SLURM cluster (tests/workflow/slurm_cluster.py: munge, slurmctld, slurmd on
loopback) with snakemake-executor-plugin-slurm and workflow/profiles/slurm: every job goes through sbatch, the GPU
stages ask for a GPU and the CPU stages for none, the metrics equal those of the same configuration run locally
(tests/workflow/conftest.py), and a job that fails fails the workflow with SLURM's state in the message.

The profile is the repository's, changed only where a user changes it for their own cluster (README, "Beyond one
machine"): job sizes that fit this 2-core node, and the plugin's status options for a cluster without accounting.

Skips where the cluster cannot run (not root, packages missing) unless ``CI=true`` as root: there a broken set-up
fails the run (.ci/run installs the packages)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from slurm_cluster import ClusterUnavailable, LocalSlurm  # noqa: E402
from tiny_project import REPO, env, lock_outs, metrics_of  # noqa: E402

PROFILE = REPO / "workflow" / "profiles" / "slurm" / "config.yaml"
#: Rules the tiny run submits (complexity's output is made beforehand) and which of them ask for a GPU.
GPU_RULES = {"backbone", "adapt_backbone", "extract", "train_main", "predict_main", "predict_backbone_adapted"}
CPU_RULES = {"acquire", "crops", "predict_backbone", "evaluate_backbone", "evaluate_backbone_adapted", "evaluate_main",
             "tables"}
#: What a user adapts (README): sizes for this node (2 CPUs; one torch thread per job, as the local run used),
#: and the plugin's options for a cluster without accounting (squeue for status; finished jobs stay listed for
#: slurm.conf's MinJobAge) with short waits.
JOB_MEMORY_MB = 1000
CLUSTER_OPTIONS = {
    "slurm-status-command": "squeue",
    "slurm-no-account": True,
    "slurm-init-seconds-before-status-checks": 1,
    "seconds-between-status-checks": 2,
    "slurm-keep-successful-logs": True,
    "latency-wait": 10,
}


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    try:
        LocalSlurm.check()
    except ClusterUnavailable as exc:
        if os.environ.get("CI") == "true" and os.geteuid() == 0:
            pytest.fail(f"SLURM test cluster unavailable in CI: {exc}")
        pytest.skip(f"SLURM test cluster unavailable: {exc}")
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("snakemake-executor-plugin-slurm is not installed (pip install -e '.[test]')")
        pytest.skip("snakemake-executor-plugin-slurm is not installed")
    slurm = LocalSlurm(tmp_path_factory.mktemp("slurm")).start()
    yield slurm
    slurm.stop()


def cluster_profile(dest: Path) -> Path:
    """workflow/profiles/slurm as a user adapts it to this cluster; every other setting (partitions, GPU requests,
    runtimes, rerun triggers) stays as the repository has it."""
    config = yaml.safe_load(PROFILE.read_text())
    config["set-threads"] = {rule: 1 for rule in config["set-threads"]}
    config["default-resources"]["mem_mb"] = JOB_MEMORY_MB
    for resources in config["set-resources"].values():
        resources["mem_mb"] = JOB_MEMORY_MB
        if "cpus_per_task" in resources:
            resources["cpus_per_task"] = 1
        if "torch_threads" in resources:
            resources["torch_threads"] = 1
    config.update(CLUSTER_OPTIONS)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


def test_the_profile_asks_gpus_for_the_gpu_stages_only():
    resources = yaml.safe_load(PROFILE.read_text())["set-resources"]
    assert {rule for rule, r in resources.items() if r.get("gpu") or r.get("gres")} == GPU_RULES | {
        "train_ablation", "train_alpha", "train_seed", "predict_ablation", "predict_alpha", "predict_seed"}


def _snakemake(root: Path, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["snakemake", "--workflow-profile", str(profile), "all"], cwd=root, env=env(root),
                          capture_output=True, text=True)


def _submitted(output: str) -> dict[int, str]:
    """SLURM job id → the rule Snakemake submitted it for (from the plugin's log paths)."""
    pattern = r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_(\w+)/"
    return {int(job): rule for job, rule in re.findall(pattern, output)}


def test_the_workflow_runs_through_sbatch_and_matches_the_local_run(cluster, shared_project, tmp_path):
    root = shared_project.clone(tmp_path / "project")
    complexity = "results/metrics/complexity.json"  # made beforehand, as in the local run (tiny_project)
    (root / complexity).parent.mkdir(parents=True)
    (root / complexity).write_bytes(shared_project.metrics[complexity])
    profile = cluster_profile(tmp_path / "profile")

    (root / "dvc.lock").unlink()  # the hand-over writes it anew from what the jobs made
    result = _snakemake(root, profile)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    submitted = _submitted(output)
    assert set(submitted.values()) == GPU_RULES | CPU_RULES, output[-3000:]
    jobs = cluster.jobs()
    for job, rule in submitted.items():
        assert jobs[job]["State"] == "COMPLETED", (rule, jobs[job])
        assert jobs[job]["WorkDir"] == str(root)
        wants_gpu = rule in GPU_RULES
        assert jobs[job]["Partition"] == ("gpu" if wants_gpu else "cpu"), (rule, jobs[job])
        assert (jobs[job]["tres-per-job"] == "gres:gpu:1") == wants_gpu, (rule, jobs[job])
        assert next((root / ".snakemake" / "slurm_logs" / f"rule_{rule}").rglob(f"{job}.log")).exists()
    ran_in = []  # each stage's own record of the job that ran it (fasrnet.record)
    for path in (root / "results" / "benchmarks").rglob("*.tsv"):
        header, line = path.read_text().splitlines()
        ran_in.append(int(dict(zip(header.split("\t"), line.split("\t")))["slurm_job_id"]))
    assert sorted(ran_in) == sorted(submitted)

    # bit for bit as the local run (same seeds, one torch thread each): the metrics, and every output the
    # hand-over recorded in a dvc.lock of its own
    assert metrics_of(root) == shared_project.metrics
    outs = lock_outs(root)
    assert outs == shared_project.outs

    # A failing job fails the workflow, with SLURM's verdict in the message.
    (root / "results" / "metrics" / "main_syn17.json").write_text("{not json")  # newer than tables.md: rerun
    failed = _snakemake(root, profile)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "Error in rule tables" in output and "SLURM status is: 'FAILED'" in output, output[-4000:]
