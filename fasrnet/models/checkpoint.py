"""Reading a checkpoint as data: :func:`read_checkpoint`, the one reader of every ``.pth`` / ``.pt`` file the
pipeline loads (a run's ``head.pt`` and ``checkpoint.pt``, ``pretrain_state.pt``, the backbone, the detector
weights), and :func:`check_finite_tensors`, which it and the HRNet loader apply (docs/resume.md, "Checkpoints are
data"; docs/metric-nonfinite.md). Writing one is :func:`fasrnet.io.save_torch`.

Below the networks: it knows tensors and files, no network; ``fasrnet.models.hrnet`` fills HRNet from what it reads.
"""

from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from fasrnet.errors import FasrnetError, describe


class CheckpointError(FasrnetError):
    """A backbone checkpoint cannot be read or does not match the network it should fill."""


def check_finite_tensors(obj: Any, source: str = "checkpoint", prefix: str = "") -> None:
    """Every floating-point tensor inside ``obj`` (nested mappings, lists, tuples) is finite; otherwise a
    CheckpointError names the key path (``state_dict.conv1.weight``) and how many entries are NaN / ±Inf.

    A diverged run saves NaN weights without complaint, and loading them gives NaN heatmaps, i.e. an mAP of 0
    with no hint why: fail where the numbers come from.
    """
    if isinstance(obj, torch.Tensor):
        if (obj.is_floating_point() or obj.is_complex()) and not bool(torch.isfinite(obj).all()):
            n_nan = int(torch.isnan(obj).sum())
            n_inf = int(torch.isinf(obj).sum())
            raise CheckpointError(f"{source}: {prefix or '<tensor>'}: {n_nan} NaN and {n_inf} infinite value(s) "
                                  f"in a tensor of shape {tuple(obj.shape)} (a diverged or corrupt checkpoint)")
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            check_finite_tensors(value, source, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            check_finite_tensors(value, source, f"{prefix}[{i}]")


def read_checkpoint(path: str | Path, recreate: str = "") -> Any:
    """``torch.load`` on CPU with ``weights_only=True``, always: checkpoints are data, never code (docs/resume.md,
    "Checkpoints are data").

    The one reader of ``.pth`` / ``.pt`` files: a missing, empty, truncated or non-PyTorch file, and any exception
    torch raises on it, becomes one CheckpointError naming the path; so does a floating-point tensor with NaN /
    ±Inf entries anywhere in the loaded object (:func:`check_finite_tensors`, naming its key path). A file holding
    pickled Python objects beyond tensors and plain containers (an old training checkpoint's numpy RNG state, a
    planted payload) is refused before any of them is built. Both errors end with ``recreate``, the caller's word on
    how to make the file again.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint: {exc.strerror or exc}") from None
    if size == 0:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint: the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():  # a raw pickle of another protocol: refused below, without a warning
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types (EOFError, RuntimeError, UnpicklingError, KeyError, …)
        # torch rewrites the safe unpickler's one-line error into a page of advice; the original is the context
        inner = exc.__context__ if isinstance(exc, pickle.UnpicklingError) and exc.__context__ is not None else exc
        found = re.search(r"GLOBAL (\S+) was not an allowed global|GLOBAL (\S+) whose module .* is blocked|"
                          r"(Can only (?:create new object|build) for)", str(inner))
        if found:
            raise CheckpointError(_refusal(path, next(g for g in found.groups() if g), recreate)) from None
        tail = f"; {recreate}" if recreate else ""
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({describe(inner)}){tail}") from None
    check_finite_tensors(obj, str(path))
    return obj


def _refusal(path: Path, what: str, recreate: str) -> str:
    """The one line refusing ``path``, which holds pickled objects (``what``: the first global it imports, as the
    safe unpickler names it) that ``weights_only`` loading does not build."""
    what = f" ({what[:100]})" if what.isprintable() and not what.startswith("Can only") else ""
    tail = f"; {recreate}" if recreate else ""
    return (f"{path}: refused: the file holds pickled Python objects{what}, and checkpoints are read as data only "
            f"(tensors and plain containers, docs/resume.md){tail}")
