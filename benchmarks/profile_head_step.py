"""Where one head-training step (or, with ``--backbone``, one backbone-pretraining step) spends its time:
samples/s, the data / forward / backward split, the top operators (``torch.profiler``) and the top Python
functions (``cProfile``), on the caches of a workspace the pipeline has filled.

    cd <workspace after `snakemake --cores 8 all`> && python /path/to/benchmarks/profile_head_step.py main_syn17
    cd <workspace> && python /path/to/benchmarks/profile_head_step.py --backbone      # pretraining, on syn17 crops

Run on demand, never in the test suite. One torch thread (as the workflow gives each training job on 2 cores);
absolute times are only meaningful next to the CPU that printed them (the script prints it).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import platform
import pstats
import time

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from fasrnet import paths
from fasrnet.codecs.heatmap import HeatmapCodec
from fasrnet.features import FeatureStore
from fasrnet.models.fasrnet import build_head
from fasrnet.models.loss import fasrnet_loss
from fasrnet.params import load_params
from fasrnet.runs import resolve_run
from fasrnet.runtime import adam
from fasrnet.train import CachedBatches


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
    ap.add_argument("--backbone", action="store_true",
                    help="profile a backbone-pretraining step (frame t of syn17's train crops) instead")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params("params.yaml")
    if args.backbone:
        report(args, *backbone_step(params, args))
        return
    run = resolve_run(params, args.run)
    store = FeatureStore(paths.features_dir(run.dataset, "train"), paths.crops_dir(run.dataset, "train"))
    source = CachedBatches(store, HeatmapCodec.from_params(params.heatmap))
    torch.manual_seed(0)
    head = build_head(params.model, store.reader.fields["feat"].shape[1], run.variant)
    optimizer = adam(head.parameters(), params.train.lr, torch.device("cpu"))  # as fasrnet train
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

    report(args, f"{args.run} (variant {run.variant})", bs, step, batches)


def backbone_step(params, args):  # noqa: ANN001, ANN201 - a benchmark's glue
    """One ``fasrnet pretrain-backbone`` step (HRNet on frame t, batch ``backbone.batch_size``) on syn17's crops."""
    from fasrnet.data.cropstore import CropIndex
    from fasrnet.inference import normalize
    from fasrnet.models.hrnet import build_hrnet
    from fasrnet.models.loss import joints_mse

    store = CropIndex.open(paths.crops_dir("syn17", "train"))
    codec = HeatmapCodec.from_params(params.heatmap)
    torch.manual_seed(0)
    model = build_hrnet(params.model.backbone_width, arch=params.model.backbone_arch).train()
    optimizer = adam(model.parameters(), params.backbone.lr, torch.device("cpu"))
    bs = params.backbone.batch_size
    perm = np.random.default_rng(0).permutation(len(store))
    batches = [np.sort(perm[(i * bs) % len(perm):][:bs]) for i in range(4 + 2 * args.steps)]

    def step(idx: np.ndarray) -> tuple[float, float, float]:
        t0 = time.perf_counter()
        x = normalize(torch.from_numpy(store.images.get_many("images", idx)[:, 1]))
        target, weight = (torch.from_numpy(a) for a in codec.encode_batch(store.arrays["joints"][idx],
                                                                         store.arrays["joints_vis"][idx]))
        t1 = time.perf_counter()
        loss = joints_mse(model(x)[1], target, weight)
        t2 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return t1 - t0, t2 - t1, time.perf_counter() - t2

    return (f"backbone pretraining (HRNet-W{params.model.backbone_width} {params.model.backbone_arch})", bs, step,
            batches)


def report(args, what: str, bs: int, step, batches) -> None:  # noqa: ANN001
    """Time ``args.steps`` steps, then profile as many with torch.profiler and cProfile; print the shares."""
    for idx in batches[:4]:
        step(idx)
    times = np.array([step(idx) for idx in batches[4:4 + args.steps]])
    per_step = times.sum(axis=1).mean()
    share = times.mean(axis=0) / per_step
    print(f"{cpu_name()}, torch {torch.__version__}, {args.threads} thread(s), "
          f"capability {torch.backends.cpu.get_cpu_capability()}")
    print(f"{what}, batch {bs}: {per_step * 1000:.1f} ms/step = {bs / per_step:.1f} samples/s; "
          f"data {share[0]:.0%}, forward+loss {share[1]:.0%}, backward+step {share[2]:.0%}")
    rest = batches[4 + args.steps:]
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for idx in rest[:len(rest) // 2]:
            step(idx)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=40))
    pr = cProfile.Profile()
    pr.enable()
    for idx in rest[len(rest) // 2:]:
        step(idx)
    pr.disable()
    out = io.StringIO()
    pstats.Stats(pr, stream=out).sort_stats("tottime").print_stats(12)
    print("cProfile, top Python-level functions by own time:\n" + out.getvalue().split("\n", 4)[-1])

if __name__ == "__main__":
    main()
