# Shared set-up: validated params, the stage registry, per-stage params stamps, threads.
# Rules quote every name and path in their shell commands ({...:q}); params.py also restricts their alphabet.
import os
import sys

from fasrnet.errors import FasrnetError
from fasrnet.params import ParamsError, load_params
from fasrnet.stages import GPU_JOBS, instances, snakemake_rules
from fasrnet.workflow import write_code_digests, write_stamps

try:
    PARAMS = load_params("params.yaml")  # validated at every entry point, Snakemake's too
except ParamsError as exc:  # a user error: the CLI's one line per problem, not a traceback
    sys.exit("\n".join(f"error: {line}" for line in str(exc).splitlines()))
INSTANCES = {i.name: i for i in instances(PARAMS)}
RULES = snakemake_rules(PARAMS)
# Rewritten only when a stage's params change, so Snakemake reruns exactly the stages whose keys changed,
# whether params.yaml was edited by hand or by `dvc exp run -S`.
STAMPS = {name: str(path) for name, path in write_stamps(PARAMS).items()}
# Each stage command's code digest (fasrnet/codedeps.py), rewritten only when the digest changes: a comment or
# docstring edit reruns nothing, an expression change exactly the stages whose code holds it.
try:
    CODE = {name: str(path) for name, path in write_code_digests().items()}
except FasrnetError as exc:  # a module that does not parse: one line naming it, not a traceback
    sys.exit(f"error: {exc}")

# Every job claims a CPU's share of --cores, so at most one job runs per real CPU (each stage's process keeps a CPU
# busy; a third job beside two only slows both), and a torch job uses one torch thread per real CPU it holds:
# `--cores 8` on 2 CPUs runs two jobs at a time, torch ones with 1 thread each.
CPUS = len(os.sched_getaffinity(0))
# resource_settings: `workflow.cores` raises where Snakemake sets no core count (`--report`)
CORES = workflow.resource_settings.cores if isinstance(workflow.resource_settings.cores, int) else CPUS
JOB_THREADS = max(1, CORES // CPUS)
TORCH_THREADS = max(1, JOB_THREADS * CPUS // max(CORES, CPUS))
# Every job of a GPU stage (backbone, extract, train_*, predict_*) also holds one GPU_JOBS ("gpu_jobs"),
# unconstrained unless given: on a GPU worker with 16 CPUs, `--cores 16 --resources gpu_jobs=4` runs at most 4 of
# them at once on its GPU while the CPU-only stages take the other cores, one thread each
# (docs/workflow.md, "How Snakemake schedules the jobs").
# Backbone pretraining needs no dataset (it synthesizes its own set), so it runs as one torch job beside the data
# stages instead of taking every core after them.


def stage_inputs(spec):
    """An input function for a registry rule: the instance's deps, its command's code digest file and its params
    stamp."""

    def inputs(wildcards):
        inst = INSTANCES[spec.instance_name(wildcards.get(spec.wildcard) if spec.wildcard else None)]
        return [*inst.deps, CODE[inst.command], STAMPS[inst.name]]

    return inputs
