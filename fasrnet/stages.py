"""The stage registry: every pipeline stage, its command, dependencies, outputs and the params keys it reads.

One source for both wirings (docs/workflow.md): ``dvc.yaml`` is generated from it (``fasrnet.workflow.dvc_yaml``,
checked current by a test), and the Snakemake rules are defined from it in a loop (:func:`snakemake_rules`,
``workflow/rules/stages.smk``): one rule per template, named as its DVC stage, with its outputs, log, threads,
priority and shell command; no path or command is written twice. Both take each stage's code as a dependency:
the digest file of its command's code, ``workflow/code/<subcommand>.json`` (:mod:`fasrnet.codedeps`). A test
resolves both workflows and compares them with :func:`instances`. Adding a run to ``params.yaml`` needs no edit
here; ``dvc.yaml`` names the runs' files through ``foreach`` over ``params.yaml`` (only the ``tables`` stage lists
each metrics file, so after adding or removing a run, ``fasrnet workflow dvc`` regenerates it, and a test says so).

Stages are *templates* over items (datasets or runs). Placeholders in paths: ``{dataset}``, ``{run}`` (the
item), ``{root}`` (``data.root``); a command holds at most its item, never a path from params.yaml (the CLI
derives those from params). DVC gets ``foreach`` blocks whose items come from ``params.yaml`` itself
(``${data.datasets}``, ``${runs.main}``, …); Snakemake gets wildcards. Commands never carry a value DVC pastes
in: DVC's pass the item as ``"$DVC_STAGE"`` (:data:`DVC_ITEM`), :func:`instances` and the Snakemake rules as a
shell-quoted word (``shlex.quote``, ``{…:q}``), so a hostile name in a hand-edited params.yaml reaches fasrnet
as one literal argument, which refuses it.

Params granularity decides what a change reruns: only the main runs list ``loss.alpha`` and ``model.variant``,
so ``dvc exp run -S loss.alpha=0.3`` retrains the main runs and what follows them (predict, evaluate, tables),
nothing upstream and none of the runs that pin their own alpha.

Runs with one resolved configuration (:mod:`fasrnet.runs`; by default ``main_syn17``, ``alpha_04``, ``seed_0``) train
once: ``fasrnet train`` derives a run's output from an equivalent run's complete one, and holds a lock per
configuration while it trains, so a second one waits and reuses (docs/resume.md). The DAGs hold no edge between
them: a Snakemake edge would need ``ancient()``, and Snakemake then skips the duplicate's own reasons to rerun.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from fasrnet.params import RUN_GROUPS, Params

#: Model keys every head reads (``model.variant`` only through the main runs, which take it from there).
MODEL_KEYS = ("model.backbone_width", "model.backbone_arch", "model.srm_dilations", "model.offset_conv",
              "model.init_std", "model.dcn_backend", "model.srm_width",
              "model.residual")
CODEC_KEYS = ("heatmap",)
#: What every training reads besides its run's resolved configuration (fasrnet.runs): the same for all runs.
#: ``backbone.bn`` because online training runs the backbone itself (``train`` makes its BatchNorm drift), so a
#: switch between eval and train must retrain even where extraction's outputs stay the same.
TRAIN_SHARED_PARAMS = ("train", *MODEL_KEYS, *CODEC_KEYS, "backbone.bn")


#: What backbone pretraining reads of the ``backbone`` section: all but ``bn`` (how later stages run the backbone).
PRETRAIN_KEYS = tuple(f"backbone.{k}" for k in ("source", "checkpoint", "epochs", "batch_size", "lr", "lr_steps",
                                                "seed", "pretrain_videos", "pretrain_degraded_fraction"))


@dataclass(frozen=True)
class Template:
    """A stage over items. ``over`` is ``datasets``, a run group, or ``None`` (a single stage)."""

    name: str
    cmd: str
    deps: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()  # DVC metrics (cached), also Snakemake outputs
    over: str | None = None
    torch: bool = False  # runs torch: takes --threads (Snakemake gives every job a CPU's share of the cores)
    gpu: bool = False  # runs on the GPU when there is one (``pick_device``): its rule holds one GPU_JOBS
    priority: int = 0  # Snakemake's: the backbone, then the data chain and the trainings (the long jobs) first
    report: tuple[str, ...] = ()  # outs whose files go into `snakemake --report` (docs/report.md)

    @property
    def rule(self) -> str:
        """Its benchmark and log directory: the name without the run group (``train_main`` → ``train``)."""
        return _base(self.name)

    @property
    def command(self) -> str:
        """Its subcommand (``fasrnet train --run {run}`` → ``train``): whose code digest it depends on."""
        return self.cmd.split()[1]


@dataclass(frozen=True)
class Instance:
    """One concrete stage: DVC's ``name@item`` (or ``name``), with resolved paths and params keys."""

    name: str
    template: str
    item: str | None
    cmd: str
    deps: tuple[str, ...]
    outs: tuple[str, ...]
    params: tuple[str, ...]
    metrics: tuple[str, ...] = field(default=())

    @property
    def command(self) -> str:
        """Its subcommand, whose code digest it depends on (fasrnet.codedeps)."""
        return self.cmd.split()[1]

    @property
    def benchmark(self) -> str:
        """Where its command records its wall time, peak RSS and CPU time (fasrnet.cli; docs/runtime.md)."""
        return benchmark_path(self.template, self.item)

    @property
    def log(self) -> str:
        """Snakemake's log of it (DVC prints to the terminal)."""
        return _per_item("logs", _base(self.template), self.item, "log")


def benchmark_path(template: str, item: str | None) -> str:
    """``results/benchmarks/<rule>/<item>.tsv`` (``<rule>.tsv`` for a single stage); ``<rule>`` is the template's
    name without its run group, so ``fasrnet runtime`` sums every group's trainings as ``train``."""
    return _per_item("results/benchmarks", _base(template), item, "tsv")


def _base(name: str) -> str:
    return re.sub(rf"_({'|'.join(RUN_GROUPS)})$", "", name)


def _per_item(directory: str, rule: str, item: str | None, suffix: str) -> str:
    return f"{directory}/{rule}/{item}.{suffix}" if item is not None else f"{directory}/{rule}.{suffix}"


def _train_params(group: str) -> tuple[str, ...]:
    keys = (f"runs.{group}.{{run}}", *TRAIN_SHARED_PARAMS)
    return keys + (("loss.alpha", "model.variant") if group == "main" else ())


def templates() -> list[Template]:
    """Every stage template in pipeline order."""
    feats = ("data/features/{dataset}", "data/crops/{dataset}")
    out: list[Template] = [
        Template("acquire", "fasrnet acquire --dataset {dataset}", outs=("{root}/{dataset}",),
                 params=("data.root", "synthesize", "download"), over="datasets", priority=1),
        Template("crops", "fasrnet crops --dataset {dataset}", deps=("{root}/{dataset}",),
                 outs=("data/crops/{dataset}",), params=("data.root", "crops", *CODEC_KEYS), over="datasets",
                 priority=1),
        # The backbone pretrains on a synthetic set of its own (fasrnet/backbone.py), never on the datasets' crops:
        # it depends on params only, and runs beside the data stages.
        # It is the longest link of the chain to the first training (pretraining ≈ both datasets' acquire and crops
        # together), so it starts first and keeps a CPU to itself while they share the other.
        Template("backbone", "fasrnet backbone", outs=("models/backbone",),
                 params=(*PRETRAIN_KEYS, "model.backbone_width", "model.backbone_arch", "train.device",
                         "download.weights", "download.weights_dir", "synthesize", "crops", *CODEC_KEYS),
                 torch=True, gpu=True, priority=2),
        # BatchNorm re-estimated over the train crops (fasrnet/adapt.py): what backbone.bn: adapt extracts with,
        # and the control row of Tables 1 and 3 whatever backbone.bn is. Extraction depends on it whatever
        # backbone.bn is, so the wiring does not change with a param (`dvc exp run -S backbone.bn=adapt` runs the
        # stages in order from the committed dvc.yaml); with eval it costs one more job before extraction.
        Template("adapt_backbone", "fasrnet adapt-backbone --dataset {dataset}",
                 deps=("data/crops/{dataset}", "models/backbone"), outs=("models/backbone_adapted/{dataset}",),
                 params=("backbone.checkpoint", "extract.batch_size", "extract.device", "model.backbone_width",
                         "model.backbone_arch"), over="datasets", torch=True, gpu=True, priority=1),
        Template("extract", "fasrnet extract --dataset {dataset}",
                 deps=("data/crops/{dataset}", "models/backbone", "models/backbone_adapted/{dataset}"),
                 outs=("data/features/{dataset}",),
                 params=("extract", "backbone.checkpoint", "backbone.bn", "model.backbone_width",
                         "model.backbone_arch", *CODEC_KEYS), over="datasets", torch=True, gpu=True, priority=1),
        Template("complexity", "fasrnet complexity --out results/metrics/complexity.json",
                 metrics=("results/metrics/complexity.json",), params=("model", *CODEC_KEYS), torch=True),
    ]
    # The backbone alone reads the cache, or with backbone.bn: adapt runs the checkpoint's on the crops; the
    # adapted one (Tables 1 and 3's control row) the other way round (fasrnet/commands/predict.py).
    for suffix, flag, weights in (("", "", "models/backbone"),
                                  ("_adapted", " --adapted", "models/backbone_adapted/{dataset}")):
        out += [
            Template(f"predict_backbone{suffix}",
                     f"fasrnet predict --backbone-only{flag} --dataset {{dataset}} --split val",
                     deps=(*feats, weights), outs=(f"results/predictions/backbone{suffix}_{{dataset}}",),
                     params=("train.batch_size", "train.device", "extract.precision", *CODEC_KEYS), over="datasets",
                     torch=True, gpu=True),
            Template(f"evaluate_backbone{suffix}",
                     f"fasrnet evaluate --backbone-only{flag} --dataset {{dataset}}",
                     deps=("{root}/{dataset}", f"results/predictions/backbone{suffix}_{{dataset}}"),
                     metrics=(f"results/metrics/backbone{suffix}_{{dataset}}.json",), over="datasets"),
        ]
    for group in RUN_GROUPS:
        splits = "val test" if group == "main" else "val"
        out += [
            # Trainings before predictions and evaluations: the long jobs start first and the short ones fill
            # the CPUs at the end, instead of one last training running beside an idle CPU.
            Template(f"train_{group}", "fasrnet train --run {run}",
                     deps=(*feats, "{root}/{dataset}"), outs=("models/{run}",), params=_train_params(group),
                     over=group, torch=True, gpu=True, priority=1),
            Template(f"predict_{group}", f"fasrnet predict --run {{run}} --split {splits}",
                     deps=("models/{run}", *feats), outs=("results/predictions/{run}",),
                     params=("train.batch_size", "train.device", "train.precision", "train.channels_last",
                             *CODEC_KEYS), over=group, torch=True, gpu=True),
            Template(f"evaluate_{group}",
                     "fasrnet evaluate --run {run}",
                     deps=("{root}/{dataset}", "results/predictions/{run}"),
                     metrics=("results/metrics/{run}.json",), over=group),
        ]
    # Tables list every metrics file; outs in the order Snakemake's rule declares them.
    out.append(Template("tables", "fasrnet tables --strict",
                        deps=("results/metrics/complexity.json", "results/metrics/backbone_{each_dataset}.json",
                              "results/metrics/backbone_adapted_{each_dataset}.json",
                              "results/metrics/{each_run}.json", "models/{each_run}",
                              "results/predictions/backbone_{each_dataset}", "results/predictions/{each_main_run}",
                              "{root}/{each_dataset}"),
                        outs=("results/tables.md", "results/figures"), metrics=("results/summary.json",),
                        report=("results/figures",),
                        params=("runs", "data", "model", "heatmap", "loss.alpha", "train.seed", "train.epochs",
                                "backbone.source", "backbone.checkpoint", "backbone.bn")))
    return out


def stage_commands() -> list[str]:
    """The subcommands the stages run, in pipeline order, each once: one code digest file each (fasrnet.codedeps)."""
    return list(dict.fromkeys(t.command for t in templates()))


def items(params: Params, over: str | None) -> dict[str, str]:
    """item → dataset for a template's items (``{None: ""}`` for a single stage)."""
    if over is None:
        return {"": ""}
    if over == "datasets":
        return {ds: ds for ds in params.data.datasets}
    return {name: run.dataset for name, run in params.runs.items() if run.group == over}


def _fill(text: str, root: str, run: str, dataset: str) -> str:
    return text.replace("{root}", root).replace("{run}", run).replace("{dataset}", dataset)


def _command(cmd: str, item: str) -> str:
    """A template's command with its item (``{run}`` or ``{dataset}``) as one shell-quoted word."""
    return cmd.replace("{run}", shlex.quote(item)).replace("{dataset}", shlex.quote(item))


#: What DVC's commands say instead of the item. DVC pastes ``${...}`` into a command unescaped before the shell
#: runs it, and it never validates params.yaml, so no value from params.yaml may appear in a command: the item
#: reaches fasrnet through the stage name that DVC sets in the environment (``train_main@main_syn17``), and the
#: CLI takes the part after the last ``@`` (fasrnet.cli), then validates it with params.yaml.
DVC_ITEM = '"$DVC_STAGE"'


def expand_each(paths: tuple[str, ...], params: Params) -> list[str]:
    """Expand ``{each_dataset}``, ``{each_run}`` and ``{each_main_run}`` (a single stage's deps on every item)."""
    each = {
        "{each_dataset}": list(params.data.datasets),
        "{each_run}": [name for name, _ in params.runs.items()],
        "{each_main_run}": list(params.runs.main),
    }
    out = []
    for p in paths:
        key = next((k for k in each if k in p), None)
        out.extend([p.replace(key, v) for v in each[key]] if key else [p])
    return out


def instances(params: Params) -> list[Instance]:
    """Every concrete stage for ``params`` (what ``dvc repro`` and ``snakemake all`` run)."""
    out = []
    root = params.data.root
    for t in templates():
        for item, dataset in items(params, t.over).items():
            run = item if t.over not in (None, "datasets") else ""
            fill = lambda s: _fill(s, root, run, dataset)  # noqa: E731
            out.append(Instance(
                name=f"{t.name}@{item}" if t.over else t.name, template=t.name, item=item or None,
                cmd=_command(t.cmd, item), deps=tuple(map(fill, expand_each(t.deps, params))),
                outs=tuple(map(fill, t.outs)), params=tuple(map(fill, t.params)), metrics=tuple(map(fill, t.metrics))))
    return out


def stamp_values(params: Params, keys: tuple[str, ...]) -> dict[str, Any]:
    """The current values of dotted ``keys`` (what a stage reads), for Snakemake's params stamps."""
    raw = params.model_dump(mode="json")
    values = {}
    for key in keys:
        node: Any = raw
        for part in key.split("."):
            node = node[part]
        values[key] = node
    return values


# --------------------------------------------------------------------------------------------------------------
# Snakemake

#: The Snakemake resource every GPU stage's rule (``Template.gpu``) holds one of, so that ``--resources gpu_jobs=N``
#: lets at most N of them share a worker's GPU while the CPU-only stages take the other cores (docs/workflow.md,
#: "How Snakemake schedules the jobs"; docs/gpu.md, "Several jobs on one GPU"). Unconstrained unless given: CPU
#: runs are unchanged. Not ``gpu``, which the SLURM plugin reads as ``--gpus`` (workflow/profiles/slurm).
GPU_JOBS = "gpu_jobs"


@dataclass(frozen=True)
class SnakemakeRule:
    """One Snakemake rule per template with items (``workflow/rules/stages.smk`` defines them in a loop): the
    template's name, its outputs with the item as a wildcard, constrained to the items params.yaml names."""

    name: str
    wildcard: str | None  # "dataset" or "run"; None for a single stage
    items: tuple[str, ...]
    outputs: tuple[tuple[str, bool, bool], ...]  # (path pattern, is a directory, goes into the report)
    log: str
    shell: str
    torch: bool
    gpu: bool
    priority: int

    @property
    def wildcard_constraints(self) -> dict[str, str]:
        return {self.wildcard: "|".join(map(re.escape, self.items))} if self.wildcard else {}

    def instance_name(self, item: str | None) -> str:
        return f"{self.name}@{item}" if self.wildcard else self.name


#: An out with one of these suffixes is a file; any other out is a directory.
FILE_SUFFIXES = (".md", ".json", ".csv", ".tsv", ".txt", ".html", ".png", ".pth")


def _is_directory(path: str) -> bool:
    return not path.endswith(FILE_SUFFIXES)


def snakemake_shell(t: Template) -> str:
    """The template's command for Snakemake's ``shell:``: the item as a quoted wildcard, the torch stages' thread
    count from the rule's resources, the output to the rule's log."""
    wildcard = "dataset" if t.over == "datasets" else "run"
    cmd = t.cmd.replace("{run}", "{wildcards.run:q}").replace("{dataset}", f"{{wildcards.{wildcard}:q}}")
    if t.torch:
        cmd += " --threads {resources.torch_threads}"
    return cmd + " > {log:q} 2>&1"


def snakemake_rules(params: Params) -> list[SnakemakeRule]:
    """Every rule of the workflow but ``all``, in pipeline order."""
    out = []
    root = params.data.root
    for t in templates():
        chosen = items(params, t.over)
        if t.over and not chosen:
            continue  # a run group without runs has no rule (as it has no DVC stage)
        wildcard = None if t.over is None else "dataset" if t.over == "datasets" else "run"
        log = _per_item("logs", t.rule, None if wildcard is None else f"{{{wildcard}}}", "log")
        paths = [p.replace("{root}", root) for p in (*t.outs, *t.metrics)]
        out.append(SnakemakeRule(
            name=t.name, wildcard=wildcard, items=tuple(chosen) if t.over else (),
            outputs=tuple((p, _is_directory(p), p in t.report) for p in paths), log=log, shell=snakemake_shell(t),
            torch=t.torch, gpu=t.gpu, priority=t.priority))
    return out
