"""The machine a number was measured on: CPU model, CPU counts and vector extensions (recorded beside wall times:
``results/runtime.json``, the demo's ``demo.json``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def machine(cpuinfo: str | Path = "/proc/cpuinfo") -> dict[str, Any]:
    """CPU model, CPU counts and vector extensions of this machine (``None`` where ``cpuinfo`` says nothing)."""
    model, flags = None, None
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key == "flags" and flags is None:
            flags = set(value.split())
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": model, "cpus": os.cpu_count(), "usable_cpus": usable,
            "avx2": None if flags is None else "avx2" in flags,
            "avx512": None if flags is None else "avx512f" in flags}
