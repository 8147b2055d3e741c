"""The stage registry: every pipeline stage, its command, dependencies, outputs and the params keys it reads.

One source for both wirings: ``dvc.yaml`` is generated from it (:func:`dvc_yaml`, checked current by a test) and
the Snakemake rules (``workflow/rules/*.smk``) take their inputs, outputs and params stamps from it
(:func:`instances`). A test resolves both workflows and compares them with :func:`instances`.

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
once: ``fasrnet train`` derives a run's output from an equivalent run's complete one (docs/resume.md). For
Snakemake a duplicate's train instance also lists its canonical run's output as an order-only input
(:attr:`Instance.order_only`, added as ``ancient()``), so the two never train at once and the duplicate always
reuses; DVC, whose ``foreach`` cannot give one item deps of its own, runs its stages one at a time and relies on
the reuse alone.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from fasrnet.params import Params
from fasrnet.runs import canonical_runs

RUN_GROUPS = ("main", "ablation", "alpha", "seed")

#: Model keys every head reads (``model.variant`` only through the main runs, which take it from there).
MODEL_KEYS = ("model.backbone_width", "model.backbone_arch", "model.srm_dilations", "model.offset_conv",
              "model.init_std", "model.dcn_backend", "model.srm_width",
              "model.residual")
CODEC_KEYS = ("heatmap",)
#: What every training reads besides its run's resolved configuration (fasrnet.runs): the same for all runs.
TRAIN_SHARED_PARAMS = ("train", *MODEL_KEYS, *CODEC_KEYS)


@dataclass(frozen=True)
class Template:
    """A stage over items. ``over`` is ``datasets``, a run group, or ``None`` (a single stage)."""

    name: str
    cmd: str
    deps: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()  # DVC metrics (cache: false), also Snakemake outputs
    over: str | None = None
    torch: bool = False  # runs torch: Snakemake passes --threads
    after_canonical: bool = False  # a duplicate run's instance comes after its canonical run's (Snakemake only)


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
    #: Order-only inputs, Snakemake's alone (DVC cannot give one foreach item its own deps): the canonical run's
    #: outs for a run of the same resolved configuration, so the two never train at once and this one reuses.
    order_only: tuple[str, ...] = field(default=())


def _train_params(group: str) -> tuple[str, ...]:
    keys = (f"runs.{group}.{{run}}", *TRAIN_SHARED_PARAMS)
    return keys + (("loss.alpha", "model.variant") if group == "main" else ())


def templates() -> list[Template]:
    """Every stage template in pipeline order."""
    feats = ("data/features/{dataset}", "data/crops/{dataset}")
    out: list[Template] = [
        Template("acquire", "fasrnet acquire --dataset {dataset}", outs=("{root}/{dataset}",),
                 params=("data.root", "synthesize", "download"), over="datasets"),
        Template("crops", "fasrnet crops --dataset {dataset}", deps=("{root}/{dataset}",),
                 outs=("data/crops/{dataset}",), params=("data.root", "crops", *CODEC_KEYS), over="datasets"),
        # The backbone pretrains on a synthetic set of its own (fasrnet/backbone.py), never on the datasets' crops:
        # it depends on params only, and runs beside the data stages.
        Template("backbone", "fasrnet backbone", outs=("models/backbone",),
                 params=("backbone", "model.backbone_width", "model.backbone_arch", "train.device",
                         "download.weights", "download.weights_dir", "synthesize", "crops", *CODEC_KEYS),
                 torch=True),
        Template("extract", "fasrnet extract --dataset {dataset}", deps=("data/crops/{dataset}", "models/backbone"),
                 outs=("data/features/{dataset}",),
                 params=("extract", "backbone.checkpoint", "model.backbone_width", "model.backbone_arch",
                         *CODEC_KEYS), over="datasets", torch=True),
        Template("complexity", "fasrnet complexity --out results/metrics/complexity.json",
                 metrics=("results/metrics/complexity.json",), params=("model", *CODEC_KEYS), torch=True),
        Template("predict_backbone",
                 "fasrnet predict --backbone-only --dataset {dataset} --split val",
                 deps=feats, outs=("results/predictions/backbone_{dataset}",),
                 params=("train.batch_size", "train.device", *CODEC_KEYS), over="datasets", torch=True),
        Template("evaluate_backbone",
                 "fasrnet evaluate --backbone-only --dataset {dataset}",
                 deps=("{root}/{dataset}", "results/predictions/backbone_{dataset}"),
                 metrics=("results/metrics/backbone_{dataset}.json",), over="datasets"),
    ]
    for group in RUN_GROUPS:
        splits = "val test" if group == "main" else "val"
        out += [
            Template(f"train_{group}", "fasrnet train --run {run}",
                     deps=(*feats, "{root}/{dataset}"), outs=("models/{run}",), params=_train_params(group),
                     over=group, torch=True, after_canonical=True),
            Template(f"predict_{group}", f"fasrnet predict --run {{run}} --split {splits}",
                     deps=("models/{run}", *feats), outs=("results/predictions/{run}",),
                     params=("train.batch_size", "train.device", *CODEC_KEYS), over=group, torch=True),
            Template(f"evaluate_{group}",
                     "fasrnet evaluate --run {run}",
                     deps=("{root}/{dataset}", "results/predictions/{run}"),
                     metrics=("results/metrics/{run}.json",), over=group),
        ]
    # Tables list every metrics file; outs in the order Snakemake's rule declares them.
    out.append(Template("tables", "fasrnet tables --strict",
                        deps=("results/metrics/complexity.json", "results/metrics/backbone_{each_dataset}.json",
                              "results/metrics/{each_run}.json", "models/{each_run}",
                              "results/predictions/backbone_{each_dataset}", "results/predictions/{each_main_run}",
                              "{root}/{each_dataset}"),
                        outs=("results/tables.md", "results/figures"), metrics=("results/summary.json",),
                        params=("runs", "data", "model", "heatmap", "loss.alpha", "train.seed", "train.epochs",
                                "backbone.source", "backbone.checkpoint")))
    return out


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


def _expand(paths: tuple[str, ...], params: Params) -> list[str]:
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
    canonical = canonical_runs(params)
    for t in templates():
        for item, dataset in items(params, t.over).items():
            run = item if t.over not in (None, "datasets") else ""
            fill = lambda s: _fill(s, root, run, dataset)  # noqa: E731
            first = canonical.get(run, run) if t.after_canonical else run
            out.append(Instance(
                name=f"{t.name}@{item}" if t.over else t.name, template=t.name, item=item or None,
                cmd=_command(t.cmd, item), deps=tuple(map(fill, _expand(t.deps, params))),
                outs=tuple(map(fill, t.outs)), params=tuple(map(fill, t.params)), metrics=tuple(map(fill, t.metrics)),
                order_only=tuple(_fill(o, root, first, dataset) for o in t.outs) if first != run else (),
            ))
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
# dvc.yaml

_DVC_ITEMS = {"datasets": "${data.datasets}", **{g: f"${{runs.{g}}}" for g in RUN_GROUPS}}


def _dvc_text(text: str, over: str | None) -> str:
    text = text.replace("{root}", "${data.root}")
    if over == "datasets":
        return text.replace("{dataset}", "${item}")
    return text.replace("{run}", "${key}").replace("{dataset}", "${item.dataset}")


def dvc_yaml(params: Params) -> dict[str, Any]:
    """The ``dvc.yaml`` document: one (foreach) stage per template, plus top-level plots of the training logs."""
    stages: dict[str, Any] = {}
    for t in templates():
        if t.over and not items(params, t.over):
            continue  # DVC refuses an empty foreach: a run group without runs has no stage
        conv = lambda s: _dvc_text(s, t.over)  # noqa: E731
        body: dict[str, Any] = {"cmd": t.cmd.replace("{run}", DVC_ITEM).replace("{dataset}", DVC_ITEM)}
        if t.deps:
            body["deps"] = [conv(d) for d in _expand(t.deps, params)]
        if t.params:
            body["params"] = [conv(p) for p in t.params]
        if t.outs:
            body["outs"] = [conv(o) for o in t.outs]
        if t.metrics:
            body["metrics"] = [{conv(m): {"cache": False}} for m in t.metrics]
        stages[t.name] = {"foreach": _DVC_ITEMS[t.over], "do": body} if t.over else body
    y = ["loss", "val_map"] if params.train.val_every else ["loss"]  # no val_map column to plot without it
    plots = [{f"models/{name}/train_log.csv": {"x": "epoch", "y": list(y)}}
             for name, run in params.runs.items() if run.group == "main"]
    return {"stages": stages, "metrics": ["results/summary.json"], "plots": plots}
