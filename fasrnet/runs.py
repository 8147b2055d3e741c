"""Resolved training runs, and which runs of ``params.yaml`` are one configuration.

A run's resolved configuration is its ``runs`` entry with the main setting filled in (:func:`resolve_run`):
dataset, variant, alpha and seed. Every other setting a training reads (``train``, the model and codec keys, the
caches, the code) is shared by all runs, so two runs with the same resolved configuration train to the same
weights: with the default params ``main_syn17``, ``alpha_04`` and ``seed_0``. Which runs coincide depends on the
params (after ``-S loss.alpha=0.2`` it is ``main_syn17`` and ``alpha_02``), so it is always computed from them.
The training of such a run is done once and reused by the others (:class:`fasrnet.train.Trainer`,
docs/resume.md); Snakemake orders the duplicates after their canonical run (:mod:`fasrnet.stages`).

Torch-free: the stage registry, and so Snakemake's parse, imports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from fasrnet.params import Params


@dataclass(frozen=True)
class RunConfig:
    """One resolved training run: a ``runs`` entry with the main setting filled in."""

    name: str
    dataset: str
    variant: str
    alpha: float
    seed: int


def resolve_run(params: Params, name: str) -> RunConfig:
    r = params.runs.named(name)
    return RunConfig(
        name=name,
        dataset=r.dataset,
        variant=r.variant or params.model.variant,
        alpha=params.loss.alpha if r.alpha is None else r.alpha,
        seed=params.train.seed if r.seed is None else r.seed,
    )


def run_key(run: RunConfig) -> tuple[str, str, float, int]:
    """What distinguishes one run's training from another's: its resolved configuration without its name."""
    return (run.dataset, run.variant, run.alpha, run.seed)


def _classes(params: Params) -> dict[tuple[str, str, float, int], list[str]]:
    classes: dict[tuple[str, str, float, int], list[str]] = {}
    for name in params.runs:
        classes.setdefault(run_key(resolve_run(params, name)), []).append(name)
    return classes


def equivalent_runs(params: Params, name: str) -> list[str]:
    """Every run with ``name``'s resolved configuration, ``name`` included, in params order (main, ablation,
    alpha, seed; within a group as listed): the first is the canonical run."""
    return _classes(params)[run_key(resolve_run(params, name))]


def canonical_runs(params: Params) -> dict[str, str]:
    """Run → its canonical run: the first run in params order with the same resolved configuration (the run
    itself when no earlier run has it)."""
    return {name: same[0] for same in _classes(params).values() for name in same}
