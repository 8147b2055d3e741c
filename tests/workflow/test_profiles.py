"""The Snakemake workflow profiles parse and name only rules that exist; the SLURM profile gives the torch stages
a GPU and keeps the others on CPUs (checked without snakemake-executor-plugin-slurm installed)."""

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "workflow" / "profiles"
GROUPS = ("main", "ablation", "alpha", "seed")
#: Rules are the registry's stages, one per run group (fasrnet.stages.snakemake_rules).
GPU_RULES = {"backbone", "adapt_backbone", "extract", "predict_backbone_adapted",
             *(f"{stage}_{g}" for stage in ("train", "predict") for g in GROUPS)}
TORCH_RULES = GPU_RULES  # rules whose shell passes --threads {resources.torch_threads}


def _rule_names() -> set[str]:
    from fasrnet.params import load_params
    from fasrnet.stages import snakemake_rules

    names = {r.name for r in snakemake_rules(load_params(REPO / "params.yaml"))}
    return names | set(re.findall(r"^rule\s+(\w+)\s*:", (REPO / "Snakefile").read_text(), re.M))


def _profile(name: str) -> dict:
    return yaml.safe_load((PROFILES / name / "config.yaml").read_text())


def test_rule_names_are_found():
    assert {"acquire", "crops", "backbone", "extract", "complexity", "train_main", "train_seed", "predict_alpha",
            "evaluate_ablation", "predict_backbone", "evaluate_backbone", "tables", "all"} <= _rule_names()


@pytest.mark.parametrize("name", sorted(p.name for p in PROFILES.iterdir() if (p / "config.yaml").exists()))
def test_profile_parses_and_names_only_existing_rules(name):
    config = _profile(name)
    assert isinstance(config, dict)
    rules = _rule_names()
    for key in ("set-resources", "set-threads"):
        unknown = set(config.get(key) or {}) - rules
        assert not unknown, f"{name}: {key} names rules that do not exist: {sorted(unknown)}"


def test_slurm_profile_gpus_threads_and_defaults():
    config = _profile("slurm")
    assert config["executor"] == "slurm"
    assert config["jobs"] >= 1 and config["latency-wait"] >= 5
    defaults = config["default-resources"]
    assert {"slurm_partition", "runtime", "mem_mb", "cpus_per_task"} <= set(defaults)
    assert "gpu" not in defaults and "gres" not in defaults
    resources = config["set-resources"]
    for rule, res in resources.items():
        gpu = res.get("gpu", 0) or ("gpu" in str(res.get("gres", ""))) or ("gpu" in str(res.get("slurm_extra", "")))
        assert bool(gpu) == (rule in GPU_RULES), rule
        assert isinstance(res.get("runtime", defaults["runtime"]), int), rule  # minutes
    assert GPU_RULES <= set(resources)
    for rule in TORCH_RULES:  # torch's threads = the CPUs SLURM gives the job = Snakemake's threads
        res = resources[rule]
        assert res["torch_threads"] == res["cpus_per_task"] == config["set-threads"][rule], rule
    # the settings of the default profile it replaces are kept
    default = _profile("default")
    for key in ("rerun-triggers", "rerun-incomplete", "printshellcmds"):
        assert config[key] == default[key], key
