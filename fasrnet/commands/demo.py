"""``fasrnet demo``: a trained run on your own clip (docs/demo.md)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from fasrnet.commands.common import run_arg, threads_arg

if TYPE_CHECKING:
    from fasrnet.params import Params


def run(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.demo.run import run_demo
    from fasrnet.runtime import pick_device, set_threads

    set_threads(args.threads)
    r = run_demo(params, args.video, args.run, args.out, boxes_file=args.boxes, degraded=args.degraded,
                 device=pick_device(params.train.device))
    print(f"demo {r.video}: {r.frames} frames, {r.persons} persons ({r.boxes}), {r.degraded_frames} flagged "
          f"degraded{f' (from {r.degraded_from})' if r.degraded_from else ''}, {r.frames_per_second:.2f} frames/s "
          f"on {r.device} -> {r.out_dir}/poses.json, overlay.mp4")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="a trained run on your own clip: poses.json and overlay.mp4 (backbone alone "
                                    "and FaSRnet side by side)")
    p.add_argument("video", metavar="VIDEO", help="a video file OpenCV reads (.mp4, .avi, ...) or a folder of frames")
    run_arg(p)
    p.add_argument("--boxes", metavar="FILE", default=None,
                   help="person boxes (pipeline or DCPose detection format); default: run the person detector "
                        "demo.detector (weights: `fasrnet download --artefact detector_<name>`)")
    p.add_argument("--degraded", metavar="SPEC", default=None,
                   help="frames to flag as degraded: 12-18,40 or an episodes JSON file (default: VIDEO's "
                        ".degraded.json beside it, or a synthetic set's meta.json)")
    p.add_argument("--out", metavar="DIR", default=None, help="default results/demo/<clip>/<run>/")
    threads_arg(p)
    p.set_defaults(func=run)
