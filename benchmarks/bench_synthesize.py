"""Benchmark: the synthesizer's hottest function, ``render._label_colors``, against the formula it replaced, side by
side on the label maps of real frames; then whole videos with the current code.

The label maps are those ``fasrnet.data.synthetic.video.generate_video`` draws for the first ``--videos`` train videos
of ``--dataset`` (params.yaml's ``synthesize`` section, seed included). Each map is coloured by both
implementations, the outputs are compared bit for bit (as the caller uses them: label 0 contributes nothing), and
the time per call of each is printed with their ratio, then the seconds per video of the whole generator.

    python benchmarks/bench_synthesize.py [--dataset syn17] [--videos 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fasrnet.data.synthetic import render  # noqa: E402
from fasrnet.data.synthetic.body import TILE  # noqa: E402
from fasrnet.data.synthetic.video import generate_video, video_names  # noqa: E402
from fasrnet.host import machine  # noqa: E402
from fasrnet.params import load_params  # noqa: E402


def former_label_colors(lab: np.ndarray, groups: np.ndarray, shades: np.ndarray, tiles: np.ndarray,
                        y0: int, x0: int, oy: int, ox: int) -> np.ndarray:
    """``_label_colors`` as it was (three broadcast index arrays, shading after the gather), times the mask the
    caller multiplied by."""
    h, w = lab.shape
    iy = ((np.arange(h) + y0 - oy) % TILE)[:, None]
    ix = ((np.arange(w) + x0 - ox) % TILE)[None, :]
    col = tiles[groups[lab], iy, ix] * shades[lab][..., None]
    edge = np.zeros(lab.shape, bool)
    edge[1:, :] |= lab[1:, :] != lab[:-1, :]
    edge[:-1, :] |= lab[:-1, :] != lab[1:, :]
    edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
    edge[:, :-1] |= lab[:, :-1] != lab[:, 1:]
    col[edge] *= 0.72
    return col * (lab > 0).astype(np.float32)[..., None]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="syn17")
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3, help="timing rounds (the best is printed)")
    args = ap.parse_args()
    params = load_params(REPO / "params.yaml")
    names = video_names(args.dataset, params.synthesize)["train"][:args.videos]

    calls: list[tuple] = []
    current = render._label_colors

    def record(*a):
        calls.append(tuple(x.copy() if isinstance(x, np.ndarray) else x for x in a))
        return current(*a)

    render._label_colors = record
    t0 = time.perf_counter()
    for i, name in enumerate(names):
        generate_video(params.synthesize, args.dataset, "train", i, name)
    per_video = (time.perf_counter() - t0) / len(names)
    render._label_colors = current

    for c in calls:
        if current(*c).tobytes() != former_label_colors(*c).tobytes():
            print("MISMATCH: the two implementations differ on a label map", file=sys.stderr)
            return 1
    best = {}
    for fn in (former_label_colors, current):
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            for c in calls:
                fn(*c)
            times.append((time.perf_counter() - t) / len(calls))
        best[fn] = min(times)
    m = machine()
    print(f"machine: {m['cpu']}, {m['usable_cpus']} usable CPUs, AVX2 {m['avx2']}, AVX-512 {m['avx512']}; "
          f"Python {platform.python_version()}, numpy {np.__version__}")
    pixels = np.mean([c[0].size for c in calls])
    print(f"{len(calls)} label maps from {len(names)} {args.dataset} train videos, {pixels:.0f} pixels on average; "
          f"outputs identical bit for bit")
    print(f"_label_colors: former {best[former_label_colors] * 1e3:.3f} ms/call, "
          f"current {best[current] * 1e3:.3f} ms/call, ratio {best[former_label_colors] / best[current]:.2f}×")
    print(f"generate_video (current code, label maps recorded): {per_video:.2f} s/video")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
