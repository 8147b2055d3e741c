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
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
