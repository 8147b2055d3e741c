"""Head-training and backbone-pretraining samples/s of the landed implementation and of the working tree, side by
side in one run (same data sizes, same thread count, same machine), with their ratio and a reference throughput of
the machine.

    python benchmarks/bench_train.py                    # base = LANDED, new = this working tree, all CPUs
    python benchmarks/bench_train.py --threads 1 --videos 2
    python benchmarks/bench_train.py --base HEAD~3      # any commit, tag or branch of this repository
    python benchmarks/bench_train.py --keep /tmp/bt     # keep the sources and workspaces for a look afterwards
    python benchmarks/bench_train.py --paper            # paper geometry: HRNet-W48 standard, 384x288 (a GPU)

Run on demand, never in the test suite. "base" is ``git archive REF`` of this repository (default
:data:`LANDED`, the last commit landed before issue 14) unpacked into a temporary directory; "new" is the working
tree this script lives in, uncommitted changes included. Each runs in subprocesses with ``PYTHONPATH`` set to its
own source tree, and with its OWN ``params.yaml`` (a new default head is part of what is benchmarked): both files
get only the same shared overrides (one dataset and one main run, ``--videos`` train videos, 1 val and 1 test
video, ``train.epochs 1``, ``train.val_every 0``, ``backbone.epochs 1``; ``--paper`` also the geometry), so keys the
old code would reject never reach it. Each builds its own scratch workspace with its own CLI
(``acquire`` → ``crops`` → ``pretrain-backbone`` → ``extract`` → ``train --run main_syn17``); the stages of the
two alternate, base first, so a drift of a shared machine hits both alike.

What is measured (both versions print the epoch's seconds; process start-up and data opening are not in them):

- backbone pretraining samples/s = crops per epoch / seconds of its ``pretrain-backbone: epoch 1/1 … (s)`` line
  (a version printing no epoch time would be timed as a whole process minus a separately measured start-up; the
  output says so when that happens);
- head training samples/s = train crops / seconds of its ``main_syn17: epoch 1/1 … (s)`` line, with each
  version's default params;
- the same once more with the paper's head architecture at the default geometry: ``-S model.srm_width=64
  -S model.residual=false`` for a version whose params have those keys (detected from ``fasrnet params show``,
  never assumed), its default head for one without them (at LANDED that is the paper's head: SRM width 64 is
  built in) — "the same maths at least as fast as before";
- peak RSS of each training process;
- the machine reference: fp32 3x3 convolution GFLOP/s, forward + backward (2 + 4 FLOPs per MAC), at the head's
  shapes (batch 32, 64->64 and C->C channels, C = ``model.backbone_width``, at the heatmap size; 16 at 24x16 by
  default), in this process with the same thread count, before and after the runs (a change between the two says
  the machine was busy). On a GPU (``--paper``) it runs there, with torch's default TF32 setting for convolutions.

Absolute samples/s are only meaningful on the machine that printed them; ratios new/base compare within one run,
and samples/s divided by the reference roughly compare faster and slower machines. The epoch seconds are printed
with one decimal: keep epochs above a few seconds (``--videos``) when the last percent matters.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]

#: The last commit landed before issue 14 (the default ``--base``).
LANDED = "abeae76"

RUN = "main_syn17"
DATASET = "syn17"

#: The paper's head architecture, as far as a version's params can express it (keys it lacks are skipped).
PAPER_HEAD = {"model.srm_width": 64, "model.residual": False}

#: Shared overrides for --paper: HRNet-W48 standard at 384x288 (heatmaps 96x72), larger frames to cut them from.
PAPER_GEOMETRY = {"model.backbone_width": 48, "model.backbone_arch": "standard", "heatmap.input_size": [384, 288],
                  "synthesize.image_width": 640, "synthesize.image_height": 480}

EPOCH_LINE = re.compile(r"^(?P<who>\S+): epoch 1/1 loss \S+.*\((?P<s>[0-9.]+) s\)\s*$", re.M)
PRETRAIN_CROPS = re.compile(r"pretrain-backbone: wrote .*\((?P<n>\d+) crops per epoch\)")
TRAIN_CROPS = re.compile(rf"crops {DATASET}/train: (?P<n>\d+) crops")


# --- the machine -----------------------------------------------------------------------------------------------


def cpuinfo() -> tuple[str, set[str]]:
    """The CPU model and its flags (``/proc/cpuinfo``); machines of one kind differ in them severalfold."""
    name, flags = None, set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and name is None:
                    name = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return name or platform.processor() or platform.machine(), flags


def reference_gflops(channels: list[int], hw: tuple[int, int], device: str, batch: int = 32,
                     seconds: float = 1.0) -> dict[int, float]:
    """fp32 3x3 conv (padding 1, no bias) forward + backward GFLOP/s per channel count C (C -> C) at ``hw``."""
    import torch

    out = {}
    for c in channels:
        torch.manual_seed(0)
        conv = torch.nn.Conv2d(c, c, 3, padding=1, bias=False).to(device)
        x = torch.randn(batch, c, *hw, device=device, requires_grad=True)
        grad = torch.randn(batch, c, *hw, device=device)
        flops = 3 * 2 * batch * c * c * 9 * hw[0] * hw[1]  # forward; input and weight gradients twice that

        def step() -> None:
            x.grad = None
            conv.weight.grad = None
            conv(x).backward(grad)

        def sync() -> None:
            if device == "cuda":
                torch.cuda.synchronize()

        for _ in range(3):
            step()
        sync()
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            step()
            sync()
            n += 1
        out[c] = flops * n / (time.perf_counter() - t0) / 1e9
    return out


# --- one implementation ----------------------------------------------------------------------------------------


@dataclass
class Impl:
    label: str  # "base" or "new"
    src: Path  # its source tree (with its own params.yaml)
    ws: Path  # its scratch workspace
    env: dict[str, str]
    shown: dict[str, Any] = field(default_factory=dict)  # its `fasrnet params show` of its own params.yaml
    crops: int = 0
    log: list[str] = field(default_factory=list)

    def cmd(self, *args: str, cwd: Path | None = None) -> tuple[str, float, float]:
        """Run ``python -m fasrnet ARGS`` of this implementation; (stdout, wall s, peak RSS GiB). Fails loudly with
        the tail of its stderr."""
        return self.python([sys.executable, "-m", "fasrnet", *args], cwd or self.ws)

    def python(self, argv: list[str], cwd: Path) -> tuple[str, float, float]:
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(argv, cwd=cwd, env=self.env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: its peak RSS
            wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        self.log.append(f"$ {' '.join(argv[1:])}  [{wall:.1f} s]\n{stdout}")
        if proc.returncode:
            tail = "\n".join(stderr.strip().splitlines()[-15:])
            raise SystemExit(f"{self.label}: {' '.join(argv[1:])} (in {cwd}) failed with exit code "
                             f"{proc.returncode}:\n{tail}")
        return stdout, wall, usage.ru_maxrss / 2**20

    def has(self, dotted: str) -> bool:
        node: Any = self.shown
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True


def set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    node = raw
    for part in dotted.split(".")[:-1]:
        node = node.setdefault(part, {})
    node[dotted.split(".")[-1]] = value


def derive_params(impl: Impl, videos: int, paper: bool) -> dict[str, Any]:
    """The implementation's own params.yaml with only the shared overrides applied."""
    raw = yaml.safe_load((impl.src / "params.yaml").read_text()) or {}
    shared: dict[str, Any] = {
        "data.datasets": [DATASET],
        "synthesize.videos": {"train": videos, "val": 1, "test": 1},
        "train.epochs": 1, "train.val_every": 0, "backbone.epochs": 1,
        **(PAPER_GEOMETRY if paper else {}),
    }
    for key, value in shared.items():
        set_dotted(raw, key, value)
    # one run: every run group of this version emptied, then the main run on the one dataset
    raw["runs"] = {group: {} for group in impl.shown.get("runs", {"main": {}})}
    raw["runs"]["main"] = {RUN: {"dataset": DATASET}}
    return raw


def epoch_seconds(stdout: str, who: str) -> float | None:
    for m in EPOCH_LINE.finditer(stdout):
        if m["who"] == who:
            return float(m["s"])
    return None


def fresh_run(impl: Impl) -> None:
    """Remove the trained run (and any work dir), so the next ``train`` trains again instead of 'up to date'."""
    for path in (impl.ws / "models" / RUN, impl.ws / "models" / f".{RUN}.partial"):
        shutil.rmtree(path, ignore_errors=True)


# --- main ------------------------------------------------------------------------------------------------------


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "),
                                 epilog="Usage notes and what is measured: the module docstring.")
    ap.add_argument("--base", default=LANDED, metavar="REF",
                    help=f"commit to compare against (default: {LANDED}, the last one landed before issue 14)")
    ap.add_argument("--videos", type=int, default=2, help="train videos of the scratch data set (default: 2)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads of every process (default: the CPUs this process may use)")
    ap.add_argument("--keep", type=Path, default=None, metavar="DIR",
                    help="build the sources and workspaces in DIR (new or empty) and keep them")
    ap.add_argument("--paper", action="store_true", help="HRNet-W48 standard at 384x288 (for a GPU)")
    args = ap.parse_args()
    if args.videos < 1:
        ap.error("--videos must be at least 1")
    threads = args.threads or len(os.sched_getaffinity(0))

    import torch

    torch.set_num_threads(threads)
    base_commit = git("rev-parse", "--verify", f"{args.base}^{{commit}}")
    head = git("rev-parse", "--short", "HEAD")
    dirty = bool(git("status", "--porcelain"))

    if args.keep is not None:
        if args.keep.exists() and any(args.keep.iterdir()):
            raise SystemExit(f"--keep {args.keep}: not empty")
        args.keep.mkdir(parents=True, exist_ok=True)
        root, cleanup = args.keep.resolve(), None
    else:
        cleanup = tempfile.TemporaryDirectory(prefix="bench_train_")
        root = Path(cleanup.name)
    impls: list[Impl] = []
    try:
        src_base = root / "src-base"
        src_base.mkdir()
        archive = subprocess.Popen(["git", "-C", str(REPO), "archive", base_commit], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(src_base)], stdin=archive.stdout, check=True)
        if archive.wait():
            raise SystemExit(f"git archive {args.base} failed")

        env = dict(os.environ, PYTHONUNBUFFERED="1", FASRNET_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads))
        impls = [Impl(label, src, root / f"ws-{label}", dict(env, PYTHONPATH=str(src)))
                 for label, src in (("base", src_base), ("new", REPO))]

        for impl in impls:
            impl.ws.mkdir()
            where, _, _ = impl.python([sys.executable, "-c", "import fasrnet; print(fasrnet.__file__)"], impl.ws)
            if not Path(where.strip()).resolve().is_relative_to(impl.src.resolve()):
                raise SystemExit(f"{impl.label}: imports fasrnet from {where.strip()}, not from {impl.src}")
            shown, _, _ = impl.cmd("params", "show", cwd=impl.src)
            impl.shown = yaml.safe_load(shown)
            (impl.ws / "params.yaml").write_text(yaml.safe_dump(derive_params(impl, args.videos, args.paper),
                                                                sort_keys=False))
            impl.cmd("params", "check")

        # the head's shapes in the new version: C = model.backbone_width at the heatmap size (input / 4)
        shown = impls[1].shown
        derived = yaml.safe_load((impls[1].ws / "params.yaml").read_text())
        channels = derived.get("model", {}).get("backbone_width", shown["model"]["backbone_width"])
        size = derived.get("heatmap", {}).get("input_size", shown["heatmap"]["input_size"])
        hw = (size[0] // 4, size[1] // 4)
        device = "cuda" if torch.cuda.is_available() and args.paper else "cpu"
        ref_before = reference_gflops(sorted({64, channels}, reverse=True), hw, device)

        # data, alternating base / new at every stage
        for impl in impls:
            impl.cmd("acquire", "--dataset", DATASET)
        for impl in impls:
            out, _, _ = impl.cmd("crops", "--dataset", DATASET, "--split", "train")
            m = TRAIN_CROPS.search(out)
            index = impl.ws / "data" / "crops" / DATASET / "train" / "index.json"
            impl.crops = int(m["n"]) if m else json.loads(index.read_text())["count"]

        rows: list[tuple[str, float, float, str]] = []
        notes: list[str] = []
        printed: dict[str, list[float]] = {"pretraining": [], "head training": []}  # epoch seconds as printed

        # backbone pretraining
        rates = []
        for impl in impls:
            out, wall, _ = impl.cmd("pretrain-backbone")
            m = PRETRAIN_CROPS.search(out)
            n = int(m["n"]) if m else impl.crops
            s = epoch_seconds(out, "pretrain-backbone")
            if s is not None:
                printed["pretraining"].append(s)
            else:
                _, startup, _ = impl.python([sys.executable, "-c", "import fasrnet.cli, fasrnet.backbone"], impl.ws)
                s = wall - startup
                printed["pretraining"].append(float("inf"))  # not rounded to 0.1 s
                notes.append(f"{impl.label} prints no pretraining epoch time: its process wall time "
                             f"{wall:.1f} s minus a start-up of {startup:.1f} s")
            rates.append(n / s)
        rows.append(("backbone pretraining", *rates, "samples/s"))

        for impl in impls:
            impl.cmd("extract", "--dataset", DATASET, "--split", "train")

        def train(extra: list[str]) -> tuple[list[float], list[float]]:
            rates, rss = [], []
            for impl, sets in zip(impls, extra):
                fresh_run(impl)
                out, _, peak = impl.cmd(*sets, "train", "--run", RUN)
                s = epoch_seconds(out, RUN)
                if s is None:
                    raise SystemExit(f"{impl.label}: no '{RUN}: epoch 1/1 ... (N s)' line in the train output:\n{out}")
                printed["head training"].append(s)
                rates.append(impl.crops / s)
                rss.append(peak)
            return rates, rss

        rates, rss = train([[], []])
        rows.append(("head training, default params", *rates, "samples/s"))
        paper_sets, paper_desc = [], []
        for impl in impls:
            keys = {k: v for k, v in PAPER_HEAD.items() if impl.has(k)}
            paper_sets.append([a for k, v in keys.items() for a in ("-S", f"{k}={v}")])
            paper_desc.append(f"{impl.label}: " + (", ".join(f"-S {k}={v}" for k, v in keys.items())
                                                  or f"its default head (no {', '.join(PAPER_HEAD)})"))
        paper_rates, paper_rss = train(paper_sets)
        rows.append(("head training, paper head", *paper_rates, "samples/s"))
        rows.append(("head training peak RSS, default", *rss, "GiB"))
        rows.append(("head training peak RSS, paper head", *paper_rss, "GiB"))
        ref_after = reference_gflops(sorted(ref_before), hw, device)

        name, flags = cpuinfo()
        isa = ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in ("avx2", "avx512f"))
        print(f"machine: {name}; {len(os.sched_getaffinity(0))} CPUs usable; {isa}; torch {torch.__version__} "
              f"(CPU capability {torch.backends.cpu.get_cpu_capability()})"
              + (f"; GPU {torch.cuda.get_device_name()}" if device == "cuda" else ""))
        print(f"threads: {threads} per process (FASRNET_THREADS, OMP_NUM_THREADS)")
        print(f"base: {args.base} = {base_commit[:12]}; new: working tree of {REPO} "
              f"(HEAD {head}{', with uncommitted changes' if dirty else ''})")
        setting = "paper geometry (HRNet-W48 standard, 384x288)" if args.paper else "embedded default geometry"
        print(f"data: {setting}, train videos {args.videos}; train crops base {impls[0].crops}, new {impls[1].crops}"
              + ("" if impls[0].crops == impls[1].crops else "  (differ: the versions synthesize or cut differently)"))
        print("paper head: " + "; ".join(paper_desc))
        print()
        head_row = ("what", f"base {args.base}", "new", "new/base")
        digits = {"GiB": 2, "samples/s": 1}
        table = [head_row] + [(f"{what}, {unit}", f"{b:.{digits[unit]}f}", f"{n:.{digits[unit]}f}", f"{n / b:.2f}")
                              for what, b, n, unit in rows]
        widths = [max(len(r[i]) for r in table) for i in range(4)]
        for r in table:
            print("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]))
        print()
        shapes = ", ".join(f"{c}->{c} {ref_before[c]:.1f} / {ref_after[c]:.1f}"
                           for c in sorted(ref_before, reverse=True))
        print(f"reference ({device}, threads {threads}): fp32 3x3 conv fwd+bwd GFLOP/s, batch 32 at {hw[0]}x{hw[1]}, "
              f"before / after the runs: {shapes}")
        for note in notes:
            print(f"note: {note}")
        rounding = ", ".join(f"{what} ±{0.05 / min(s):.1%}" for what, s in printed.items() if s)
        print(f"rounding of the printed epoch seconds to 0.1 s alone: {rounding} (raise --videos for less)")
        print("samples/s = crops / the epoch seconds each version prints (no start-up); absolute numbers hold for "
              "this machine only")
        if args.keep is not None:
            print(f"kept: {root} (src-base/, ws-base/, ws-new/; each workspace's bench_commands.log)")
    finally:
        for impl in impls:  # what each command printed, next to the workspace it built (--keep)
            if args.keep is not None and impl.ws.is_dir():
                (impl.ws / "bench_commands.log").write_text("\n".join(impl.log))
        if cleanup is not None:
            cleanup.cleanup()


if __name__ == "__main__":
    main()
