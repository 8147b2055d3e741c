"""Where one head-training step spends its time: samples/s, the data / forward / backward split, and the top
operators (``torch.profiler``), on the feature cache of a workspace the pipeline has filled.

    cd <workspace after `snakemake --cores 8 all`> && python /path/to/benchmarks/profile_head_step.py main_syn17

Run on demand, never in the test suite. One torch thread (as the workflow gives each training job on 2 cores);
absolute times are only meaningful next to the CPU that printed them (the script prints it).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from fasrnet import paths
from fasrnet.features import FeatureStore
from fasrnet.models.heatmap import HeatmapCodec
from fasrnet.models.loss import fasrnet_loss
from fasrnet.params import load_params
from fasrnet.train import CachedBatches, build_head_for, resolve_run


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo``), which machines of one kind differ in severalfold."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", nargs="?", default="main_syn17", help="a run of params.yaml (default: main_syn17)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps after 4 warm-up steps (default: 10)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params("params.yaml")
    run = resolve_run(params, args.run)
    store = FeatureStore(paths.features_dir(run.dataset, "train"), paths.crops_dir(run.dataset, "train"))
    source = CachedBatches(store, HeatmapCodec.from_params(params.heatmap))
    torch.manual_seed(0)
    head = build_head_for(params, run, store.reader.fields["feat"].shape[1])
    optimizer = torch.optim.Adam(head.parameters(), lr=params.train.lr)
    bs = params.train.batch_size
    perm = np.random.default_rng(0).permutation(len(source))
    batches = [perm[(i * bs) % len(perm):][:bs] for i in range(4 + 2 * args.steps)]

    def step(idx: np.ndarray) -> tuple[float, float, float]:
        t0 = time.perf_counter()
        feat, hm, target, weight = source.batch(idx, 0)
        t1 = time.perf_counter()
        loss = fasrnet_loss(head(feat[:, 0], feat[:, 1], feat[:, 2], hm[:, 0], hm[:, 1], hm[:, 2]), target, weight,
                            run.alpha)
        t2 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return t1 - t0, t2 - t1, time.perf_counter() - t2

    for idx in batches[:4]:
        step(idx)
    times = np.array([step(idx) for idx in batches[4:4 + args.steps]])
    per_step = times.sum(axis=1).mean()
    share = times.mean(axis=0) / per_step
    print(f"{cpu_name()}, torch {torch.__version__}, {args.threads} thread(s), "
          f"capability {torch.backends.cpu.get_cpu_capability()}")
    print(f"{args.run} (variant {run.variant}), batch {bs}: {per_step * 1000:.1f} ms/step = {bs / per_step:.1f} "
          f"samples/s; data {share[0]:.0%}, forward+loss {share[1]:.0%}, backward+step {share[2]:.0%}")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for idx in batches[4 + args.steps:]:
            step(idx)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=40))


if __name__ == "__main__":
    main()
