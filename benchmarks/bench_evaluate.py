"""Benchmark: ``fasrnet.evaluate.evaluate_dirs`` on a poseval-sized synthetic set, optionally beside poseval.

Generates (seeded, into a temporary directory) S sequences × F frames × P persons in the PoseTrack 2018 format,
an ignore region on every 5th frame and one noisy prediction per person (default 50 × 100 × 5: 5000 evaluated
frames), then times

- the evaluation, JSON loading included, in a fresh Python process (imports not included) with its peak RSS;
- the whole process of ``python -m fasrnet evaluate --gt … --pred … --out …`` (interpreter start, imports, CLI,
  writing the metrics JSON), measured from outside, as a user waits for it.

Where the official ``poseval`` package is importable (e.g. ``PYTHONPATH=/path/to/poseval``), it runs it on the same
directories too, as one whole process equivalent to ``python -m poseval.evaluate -g … -p … -e`` (its tracking
module, which needs motmetrics, left out), checks the numbers agree, and prints both speed ratios.

    python benchmarks/bench_evaluate.py [--sequences 50] [--frames 100] [--persons 5] [--pred-format 18] [--no-orjson]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

KEYPOINTS = (
    "nose", "head_bottom", "head_top", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)
#: A standing person's keypoints relative to the head box size (x, y), ears left out (never annotated).
_TEMPLATE = np.array([
    [0.0, -3.2], [0.0, -2.6], [0.0, -4.0], [0.3, -3.2], [-0.3, -3.2], [1.0, -2.2], [-1.0, -2.2], [1.3, -1.0],
    [-1.3, -1.0], [1.4, 0.1], [-1.4, 0.1], [0.6, 0.3], [-0.6, 0.3], [0.6, 2.0], [-0.6, 2.0], [0.6, 3.6],
    [-0.6, 3.6],
])


def generate(root: str | Path, sequences: int = 50, frames: int = 100, persons: int = 5, seed: int = 0,
             region_every: int = 5, pred_format: int = 18) -> tuple[Path, Path]:
    """Write ``root/gt`` and ``root/pred`` (one file per sequence); return the two directories."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    gt_dir, pred_dir = root / "gt", root / "pred"
    gt_dir.mkdir(parents=True, exist_ok=True)
    pred_dir.mkdir(parents=True, exist_ok=True)
    category = [{"supercategory": "person", "id": 1, "name": "person", "keypoints": list(KEYPOINTS)}]
    for s in range(sequences):
        video = f"{s + 1:06d}_mpii_test"
        images, gt_anns, pred_anns, annolist = [], [], [], []
        for f in range(frames):
            image_id = 10000000000 + (s + 1) * 10000 + f
            image = {"file_name": f"images/val/{video}/{f:06d}.jpg", "id": image_id, "frame_id": image_id,
                     "vid_id": f"{s + 1:06d}", "nframes": frames, "is_labeled": True}
            centres = rng.uniform([60, 120], [1220, 600], size=(persons, 2))
            sizes = rng.uniform(15, 40, size=persons)
            if region_every and f % region_every == 0:
                cx, cy = centres[0]
                w = sizes[0] * rng.uniform(1.0, 3.0)
                image["ignore_regions_x"] = [[cx - w, cx + w, cx + w, cx - w]]
                image["ignore_regions_y"] = [[cy - 4 * w, cy - 4 * w, cy + 4 * w, cy + 4 * w]]
            images.append(image)
            rects = []
            for k in range(persons):
                kp = centres[k] + _TEMPLATE * sizes[k] + rng.normal(scale=0.1 * sizes[k], size=(17, 2))
                present = rng.random(17) > 0.1
                present[[3, 4]] = False
                gt_kp = np.zeros((17, 3))
                gt_kp[present, :2] = np.round(kp[present], 2)
                gt_kp[present, 2] = 1
                head = [round(float(v), 2) for v in (centres[k, 0] - 0.5 * sizes[k], centres[k, 1] - 4.2 * sizes[k],
                                                      sizes[k], 1.3 * sizes[k])]
                gt_anns.append({"image_id": image_id, "id": image_id * 100 + k, "track_id": k, "category_id": 1,
                                "keypoints": _flat(gt_kp), "bbox_head": head})
                err = rng.normal(scale=0.25 * sizes[k], size=(17, 2))
                outlier = rng.random(17) < 0.08
                err[outlier] *= 8
                pred = kp + err
                quality = 1.0 - np.hypot(err[:, 0], err[:, 1]) / (4 * sizes[k])
                scores = np.clip(quality + rng.normal(0, 0.05, 17), 0.01, 1)
                pred_kp = np.column_stack([pred, np.ones(17)])
                pred_anns.append({"image_id": image_id, "id": image_id * 100 + k, "track_id": k, "category_id": 1,
                                  "keypoints": [float(v) for v in pred_kp.ravel()],
                                  "scores": [float(v) for v in scores]})
                rects.append({"track_id": [k], "annopoints": [{"point": [
                    {"id": [pid], "x": [float(pred[slot, 0])], "y": [float(pred[slot, 1])],
                     "score": [float(scores[slot])]}
                    for pid, slot in enumerate((16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9, 1, 0, 2))]}]})
            annolist.append({"image": [{"name": image["file_name"]}], "annorect": rects})
        _write(gt_dir / f"{video}.json", {"images": images, "annotations": gt_anns, "categories": category})
        if pred_format == 17:
            _write(pred_dir / f"{video}.json", {"annolist": annolist})
        else:
            _write(pred_dir / f"{video}.json", {"images": images, "annotations": pred_anns, "categories": category})
    return gt_dir, pred_dir


def _flat(kp: np.ndarray) -> list[float | int]:
    out: list[float | int] = []
    for x, y, v in kp:
        out += [0, 0, 0] if v == 0 else [float(x), float(y), 1]
    return out


def _write(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, separators=(",", ":")))


_OURS = """
import json, resource, sys, time
if sys.argv[3] == "1":
    sys.modules["orjson"] = None  # measure the standard-library JSON parser
t0 = time.perf_counter()
from fasrnet.evaluate import evaluate_dirs
t1 = time.perf_counter()
r = evaluate_dirs(sys.argv[1], sys.argv[2])
t2 = time.perf_counter()
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
print(json.dumps({"import_s": t1 - t0, "wall_s": t2 - t1, "rss_mb": rss_mb,
                  "ap": r.ap.tolist(), "total": r.total, "n": r.n_eval_frames, "row": r.row()}))
"""

#: ``python -m fasrnet`` with the standard-library JSON parser (``--no-orjson``).
_CLI_NO_ORJSON = """
import sys
sys.modules["orjson"] = None
from fasrnet.cli import main
sys.exit(main())
"""

#: What ``python -m poseval.evaluate -g GT/ -p PRED/ -e -o OUT`` runs, without importing its tracking module.
_POSEVAL = """
import contextlib, io, json, os, resource, sys, time
t0 = time.perf_counter()
from poseval import eval_helpers
from poseval.evaluateAP import evaluateAP
t1 = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()) as log:
    gt, pr = eval_helpers.load_data_dir(["", sys.argv[1] + "/", sys.argv[2] + "/"])
    os.makedirs(sys.argv[3], exist_ok=True)
    ap, pre, rec = evaluateAP(gt, pr, sys.argv[3], True, False)
    eval_helpers.printTable(ap)
t2 = time.perf_counter()
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
print(log.getvalue().strip().splitlines()[-1])
print(json.dumps({"import_s": t1 - t0, "wall_s": t2 - t1, "rss_mb": rss_mb,
                  "ap": ap[:15, 0].tolist(), "total": float(ap[15, 0]), "n": len(gt)}))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def _process(argv: list[str]) -> tuple[float, float, str]:
    """Run ``argv`` as a fresh process from the repository root; (wall-clock seconds, CPU seconds, stdout).

    The CPU time (user + system, the child's own) varies less than the wall time where other jobs share the cores.
    """
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, env=_env(), cwd=REPO, check=False)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}")
    return wall, _children_cpu() - cpu0, out.stdout


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(code: str, *args: str) -> dict:
    """Run a ``-c`` script whose last output line is a JSON object; that object, with the process's wall time."""
    wall, cpu, stdout = _process([sys.executable, "-c", code, *args])
    return {**json.loads(stdout.strip().splitlines()[-1]), "process_s": wall, "process_cpu_s": cpu}


def _cli_seconds(gt_dir: Path, pred_dir: Path, out: Path, no_orjson: bool) -> tuple[float, float, str]:
    """Whole-process time of ``python -m fasrnet evaluate``; (wall seconds, CPU seconds, the AP row it printed)."""
    start = ["-c", _CLI_NO_ORJSON] if no_orjson else ["-m", "fasrnet"]
    wall, cpu, stdout = _process([sys.executable, *start, "evaluate", "--gt", str(gt_dir), "--pred", str(pred_dir),
                                  "--out", str(out), "--episodes", "none"])
    return wall, cpu, next(line for line in stdout.splitlines() if line.startswith("& ") and "Head" not in line)


def _cpu() -> str:
    """The CPU model and the cores this process may use."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {cores} cores"


def _has_orjson() -> bool:
    import importlib.util

    return importlib.util.find_spec("orjson") is not None


def _poseval_importable() -> bool:
    return subprocess.run([sys.executable, "-c", "import poseval.evaluateAP"], capture_output=True, env=_env(),
                          check=False).returncode == 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sequences", type=int, default=50)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--persons", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pred-format", type=int, choices=(17, 18), default=18)
    ap.add_argument("--repeat", type=int, default=3, help="runs of our evaluation, each way (best is reported)")
    ap.add_argument("--no-poseval", action="store_true", help="skip poseval even where it is importable")
    ap.add_argument("--no-orjson", action="store_true", help="parse JSON with the json module even if orjson exists")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_evaluate_") as tmp:
        gt_dir, pred_dir = generate(tmp, args.sequences, args.frames, args.persons, args.seed,
                                    pred_format=args.pred_format)
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*.json")) / 2**20
        print(f"data: {args.sequences} sequences x {args.frames} frames x {args.persons} persons, predictions in "
              f"PoseTrack {args.pred_format} format, {size:.1f} MiB of JSON; {_cpu()}, Python "
              f"{platform.python_version()}")
        flag = "1" if args.no_orjson else "0"
        runs = [_run(_OURS, str(gt_dir), str(pred_dir), flag) for _ in range(max(1, args.repeat))]
        ours = min(runs, key=lambda r: r["wall_s"])
        times = ", ".join(f"{r['wall_s']:.3f}" for r in runs)
        parser = "json" if args.no_orjson or not _has_orjson() else "orjson"
        print(f"fasrnet.evaluate: {ours['wall_s']:.3f} s (best of {len(runs)}: {times}), "
              f"peak RSS {ours['rss_mb']:.0f} MiB "
              f"(evaluate_dirs in a fresh process; its imports, {ours['import_s']:.2f} s, not included), "
              f"{ours['n']} evaluated frames, JSON parser: {parser}")
        print(f"  {ours['row']}")
        cli = [_cli_seconds(gt_dir, pred_dir, Path(tmp) / "metrics.json", args.no_orjson)
               for _ in range(max(1, args.repeat))]
        whole, whole_cpu = min(t for t, _, _ in cli), min(c for _, c, _ in cli)
        if cli[0][2] != ours["row"]:
            raise RuntimeError(f"fasrnet evaluate printed {cli[0][2]!r}, evaluate_dirs gave {ours['row']!r}")
        print(f"fasrnet evaluate, whole process: {whole:.3f} s, CPU {whole_cpu:.3f} s (best of {len(cli)}: "
              f"{', '.join(f'{t:.3f}' for t, _, _ in cli)}; python -m fasrnet evaluate --gt --pred --out)")
        if args.no_poseval:
            return 0
        if not _poseval_importable():
            print("poseval: not importable here (set PYTHONPATH to a poseval checkout to compare)")
            return 0
        ref = _run(_POSEVAL, str(gt_dir), str(pred_dir), str(Path(tmp) / "poseval_out"))
        diff = float(np.nanmax(np.abs(np.subtract(ref["ap"], ours["ap"])))) if ours["ap"] else 0.0
        print(f"poseval:          {ref['wall_s']:.3f} s, peak RSS {ref['rss_mb']:.0f} MiB, {ref['n']} frames "
              f"(imports {ref['import_s']:.2f} s not included)")
        print(f"poseval -e, whole process: {ref['process_s']:.3f} s, CPU {ref['process_cpu_s']:.3f} s")
        print(f"speed-up: {ref['wall_s'] / ours['wall_s']:.1f}x evaluating, {ref['process_s'] / whole:.1f}x as whole "
              f"processes ({ref['process_cpu_s'] / whole_cpu:.1f}x in CPU time); max |AP difference| {diff:.3g}, "
              f"Total {ours['total']!r} vs {ref['total']!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
