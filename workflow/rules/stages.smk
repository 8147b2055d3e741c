# Every stage's rule, from the stage registry (fasrnet/stages.py): one rule per stage template, named as its DVC
# stage (train_main, predict_backbone, ...), with the template's outputs, log, threads, priority and command; a torch
# stage's rule also holds its torch threads, a GPU stage's one gpu_jobs (common.smk). Nothing here restates a path
# or a command; to add a stage, add a template to the registry.
from fasrnet.tables.report import report_category


def stage_output(path, is_dir, in_report):
    """A registry output as Snakemake declares it; one the registry puts in the report (the tables rule's figures
    directory: the tables page and every figure) with its patterns and caption (docs/report.md)."""
    out = directory(path) if is_dir else path
    if not in_report:
        return out
    return report(out, patterns=["{name}.html", "{name}.png"], caption="../report/result.rst", category=report_category)


def stage_rule(spec):
    """One registry rule. A function, not a loop body: the rule's shell command reads `spec` when its job runs,
    so each rule must hold its own."""

    rule:
        name:
            spec.name
        input:
            stage_inputs(spec),
        output:
            *[stage_output(*out) for out in spec.outputs],
        log:
            spec.log,
        threads: JOB_THREADS
        resources:
            **({"torch_threads": TORCH_THREADS} if spec.torch else {}),
            **({GPU_JOBS: 1} if spec.gpu else {}),
        priority: spec.priority
        wildcard_constraints:
            **spec.wildcard_constraints,
        conda:
            "../envs/fasrnet.yaml"
        shell:
            spec.shell


for spec in RULES:
    stage_rule(spec)
