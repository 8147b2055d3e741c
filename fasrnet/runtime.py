"""Process-level set-up shared by the torch stages: threads, seeds, devices, RNG state for resumable runs
(checkpoints are written by :func:`fasrnet.io.save_torch`)."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch


def adam(parameters: Any, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam as the paper, with the fused kernel on CPU and CUDA: the same update in one pass over all
    parameters instead of a Python loop of small ops (about 5x faster per step for a head's ~360 small
    tensors on one CPU thread; ``benchmarks/bench_train.py``)."""
    return torch.optim.Adam(parameters, lr=lr, fused=device.type in ("cpu", "cuda"))


def set_threads(threads: int | None) -> int:
    """Limit torch's intra-op threads (Snakemake passes the rule's ``threads``) so parallel jobs on a small
    machine do not oversubscribe it. ``None`` uses ``FASRNET_THREADS`` or torch's default."""
    if threads is None:
        env = os.environ.get("FASRNET_THREADS")
        threads = int(env) if env else None
    if threads is not None and threads > 0:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU. Nothing is ever moved to a device implicitly."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def rng_state() -> dict[str, Any]:
    """Every RNG's state as data a ``weights_only`` load reads back (docs/resume.md, "Checkpoints are data"), no
    numpy object: Python's (MT19937) as ``[version, words, gauss_next]`` and numpy's global one (MT19937) as
    ``[key, pos, has_gauss, gauss]``, their 625 / 624 words as int64 tensors; torch's (and CUDA's) as the uint8
    tensors torch gives."""
    _, key, pos, has_gauss, gauss = np.random.get_state(legacy=True)  # the legacy tuple: always MT19937
    version, words, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "python": [int(version), torch.tensor(words, dtype=torch.int64),
                   None if gauss_next is None else float(gauss_next)],
        "numpy": [torch.from_numpy(key.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned, exactly."""
    version, words, gauss_next = state["python"]
    random.setstate((version, tuple(words.tolist()), gauss_next))
    key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state(("MT19937", key.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
