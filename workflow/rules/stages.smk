# Every stage's rule, from the stage registry (fasrnet/stages.py): one rule per stage template, named as its DVC
# stage (train_main, predict_backbone, ...), with the template's outputs, log, threads, priority and command. Nothing
# here restates a path or a command; to add a stage, add a template to the registry.


def stage_rule(spec):
    """One registry rule. A function, not a loop body: the rule's shell command reads `spec` when its job runs,
    so each rule must hold its own."""

    rule:
        name:
            spec.name
        input:
            stage_inputs(spec),
        output:
            *[directory(path) if is_dir else path for path, is_dir in spec.outputs],
        log:
            spec.log,
        threads: JOB_THREADS if spec.torch else 1
        resources:
            **({"torch_threads": TORCH_THREADS} if spec.torch else {}),
        priority: spec.priority
        wildcard_constraints:
            **spec.wildcard_constraints,
        conda:
            "../envs/fasrnet.yaml"
        shell:
            spec.shell


for spec in RULES:
    stage_rule(spec)
