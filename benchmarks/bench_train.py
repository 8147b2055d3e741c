"""Training epoch time on the frozen-backbone feature cache vs the official way (backbone inside the loop on
crops cut afresh with new augmentation), same data, same machine, one run; plus peak RSS of extract and train.

    python benchmarks/bench_train.py                   # embedded default params (CPU here)
    python benchmarks/bench_train.py --paper           # paper geometry: HRNet-W48 standard, 384x288 (GPU)

It builds a scratch workspace (synthetic data → crops → a backbone checkpoint → features), then times one epoch
of each mode in a fresh process. The backbone is randomly initialised: timing does not depend on its weights.
Prints the ratio online / cached; absolute times are only meaningful on the machine that printed them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GiB) of this one child process (``wait4`` gives its own rusage)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
    return wall, usage.ru_maxrss / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--paper", action="store_true", help="HRNet-W48 standard at 384x288 (for a GPU)")
    ap.add_argument("--videos", type=int, default=4, help="train videos of the scratch data set")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = ap.parse_args()

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["data"]["datasets"] = ["syn17"]
    raw["runs"] = {"main": {"main_syn17": {"dataset": "syn17"}}, "ablation": {}, "alpha": {}, "seed": {}}
    raw["synthesize"]["videos"] = {"train": args.videos, "val": 1, "test": 1}
    raw["train"].update(epochs=1, val_every=0)
    if args.paper:
        raw["model"].update(backbone_width=48, backbone_arch="standard")
        raw["heatmap"]["input_size"] = [384, 288]
        raw["synthesize"].update(image_width=640, image_height=480)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if args.threads:
        env["FASRNET_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        ws = Path(tmp)
        (ws / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        fas = [sys.executable, "-m", "fasrnet"]
        run(fas + ["synthesize", "--datasets", "syn17"], ws, env)
        run(fas + ["crops", "--dataset", "syn17", "--split", "train"], ws, env)
        # A randomly initialised backbone in the official layout (timing does not depend on its weights).
        subprocess.run([sys.executable, "-c", (
            "import torch; from fasrnet.params import load_params; from fasrnet.models.hrnet import build_hrnet;"
            "p=load_params('params.yaml'); import pathlib; pathlib.Path('models/backbone').mkdir(parents=True);"
            "torch.save(build_hrnet(p.model.backbone_width, arch=p.model.backbone_arch).state_dict(),"
            " p.backbone.checkpoint)")], cwd=ws, env=env, check=True)
        extract_s, extract_rss = run(fas + ["extract", "--dataset", "syn17", "--split", "train"], ws, env)
        crops = json.loads((ws / "data/crops/syn17/train/index.json").read_text())["count"]
        cached_s, cached_rss = run(fas + ["train", "--run", "main_syn17"], ws, env)
        (ws / "models/main_syn17/checkpoint.pt").unlink()
        online_s, online_rss = run(fas + ["-S", "train.online_backbone=true", "train", "--run", "main_syn17"], ws, env)
        setting = "paper geometry (HRNet-W48, 384x288)" if args.paper else "embedded default"
        print(f"setting: {setting}; {crops} train crops; torch threads: {args.threads or 'default'}")
        print(f"extract: {extract_s:.1f} s ({crops / extract_s:.1f} crops/s incl. start-up), peak RSS {extract_rss:.2f} GiB")
        print(f"train epoch on the cache:        {cached_s:.1f} s (process incl. start-up), peak RSS {cached_rss:.2f} GiB")
        print(f"train epoch, backbone in loop:   {online_s:.1f} s (process incl. start-up), peak RSS {online_rss:.2f} GiB")
        print(f"ratio online / cached: {online_s / cached_s:.2f}x")


if __name__ == "__main__":
    main()
