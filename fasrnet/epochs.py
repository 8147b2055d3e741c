"""The one resumable epoch loop of head training (``fasrnet.train``) and backbone pretraining (``fasrnet.backbone``)
(docs/resume.md, "Resumable training"):

- **seeded order** — epoch ``e`` visits the items in the permutation ``default_rng([seed, e])`` draws, so the data
  order depends only on the seed and the epoch, never on where a run was interrupted;
- **config-checked resume** — the state file is resumed only when it was written for the same configuration (the
  dict of everything that changes the result) and holds every part of the state; an unreadable one, or one that
  holds pickled Python objects (read as data only, like every checkpoint: docs/resume.md), is reported in one
  line and the run starts over;
- **atomic checkpoint** after every epoch — model, optimizer, scheduler and RNG states (as tensors and plain
  containers, :func:`fasrnet.runtime.rng_state`) plus the history, written through :func:`fasrnet.io.save_torch`
  (temp file + ``os.replace``), so a kill, even SIGKILL, loses at most the epoch in progress and a resumed run
  ends with the same weights as an uninterrupted one;
- **CSV log** — the history in fixed columns (:func:`log_csv`), with no timings: identical runs write identical
  bytes. The epoch's seconds are printed, never stored.

What an epoch does (its steps, DDP's reductions, validation) is the caller's ``train_epoch``; the loop owns the
order, the state and the log.
"""

from __future__ import annotations

import csv
import io
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fasrnet.errors import FasrnetError
from fasrnet.io import save_torch, write_text
from fasrnet.models.checkpoint import read_checkpoint
from fasrnet.runtime import rng_state, set_rng_state

#: What a state file holds; one missing any of them is not resumed.
STATE_KEYS = ("epoch", "config", "model", "optimizer", "scheduler", "rng", "history")

#: ``train_epoch(epoch, order) -> (row, note)``: the epoch's history row (without ``epoch``, which the loop puts
#: first) and a note printed after its loss (e.g. the validation mAP).
EpochFn = Callable[[int, np.ndarray], tuple[dict[str, Any], str]]


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which epoch ``epoch`` (0-based) visits ``n`` items."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def log_csv(history: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """The history as CSV: a header of ``columns``, one row per epoch, ``None`` as an empty field."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})
    return buf.getvalue()


def read_state(path: Path, config: dict[str, Any], restart: str = "starting over",
               warn: bool = True) -> dict[str, Any] | None:
    """The state in ``path`` when it is complete and of ``config``, else ``None``; an unreadable file is reported
    (``warning: …; <restart>``, when ``warn``) and treated as absent: the next epoch rewrites it."""
    if not path.exists():
        return None
    try:
        state = read_checkpoint(path)  # data only, like every checkpoint: an old pickled one is refused, run anew
    except FasrnetError as exc:
        if warn:
            print(f"warning: {exc}; {restart}", file=sys.stderr, flush=True)
        return None
    ok = isinstance(state, dict) and state.get("config") == config and all(k in state for k in STATE_KEYS)
    return state if ok else None


@dataclass
class EpochLoop:
    """Epochs ``start … epochs − 1`` of one configuration, resumable from ``state_path``.

    ``writes`` is false on DDP ranks other than 0 (they resume from rank 0's file but never write it);
    ``log_path`` (optional) gets :func:`log_csv` of the history after every epoch; ``label`` starts the printed
    epoch line, ``<label>: epoch e/E loss 1.2345e-03<note> (12.3 s)``, printed when ``progress``.
    """

    label: str
    epochs: int
    seed: int
    config: dict[str, Any]
    state_path: Path
    log_path: Path | None = None
    log_columns: Sequence[str] = ("epoch", "loss")
    writes: bool = True
    progress: bool = True
    restart: str = "starting over"
    #: Other modules whose state is part of the run's (``backbone.bn: train``: the backbone's BatchNorm statistics),
    #: checkpointed under ``extra`` beside the model and restored with it.
    extra: dict[str, torch.nn.Module] | None = None

    def resume(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: Any) -> tuple[int, list[dict[str, Any]]]:
        """Load the state file into ``model``, ``optimizer``, ``scheduler`` and the RNGs when it is resumable;
        returns the first epoch to run and the history so far (``0, []`` when starting afresh)."""
        state = read_state(self.state_path, self.config, self.restart, warn=self.writes)
        if state is None or (self.extra and set(self.extra) - set(state.get("extra", {}))):
            return 0, []
        model.load_state_dict(state["model"])
        for name, module in (self.extra or {}).items():
            module.load_state_dict(state["extra"][name])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        return state["epoch"], state["history"]

    def run(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, n_items: int,
            train_epoch: EpochFn, start: int = 0, history: list[dict[str, Any]] | None = None,
            stop_after_epoch: int | None = None,
            after_epoch: Callable[[list[dict[str, Any]]], None] | None = None
            ) -> tuple[list[dict[str, Any]], int | None]:
        """Run the epochs from ``start``; after each, checkpoint ``model`` (the bare module whose weights are the
        result), ``optimizer``, ``scheduler`` and the RNGs, write the log, call ``after_epoch(history)`` (DDP:
        share rank 0's results) and print the epoch line. Returns the history and, when it stopped early
        (``stop_after_epoch``, for tests), the last epoch run, else ``None``."""
        history = list(history or [])
        for epoch in range(start, self.epochs):
            t0 = time.perf_counter()
            row, note = train_epoch(epoch, epoch_order(self.seed, epoch, n_items))
            history.append({"epoch": epoch + 1, **row})
            seconds = time.perf_counter() - t0
            if self.writes:
                save_torch(self.state_path, {
                    "epoch": epoch + 1, "config": self.config, "model": model.state_dict(),
                    **({"extra": {k: m.state_dict() for k, m in self.extra.items()}} if self.extra else {}),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state(),
                    "history": history,
                })
                if self.log_path is not None:
                    write_text(self.log_path, log_csv(history, self.log_columns))
            if after_epoch is not None:
                after_epoch(history)
            if self.progress:
                print(f"{self.label}: epoch {epoch + 1}/{self.epochs} loss {history[-1]['loss']:.4e}{note} "
                      f"({seconds:.1f} s)", flush=True)
            if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch and epoch + 1 < self.epochs:
                return history, epoch + 1
        return history, None
