"""``fasrnet synthesize``: the synthetic PoseTrack-format sets of the embedded default (docs/data.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fasrnet.errors import FasrnetError

if TYPE_CHECKING:
    from fasrnet.params import Params


def run(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.data.synthetic import DATASET_FORMATS, render_preview, synthesize_dataset, write_clip

    out = Path(args.out if args.out is not None else params.data.root)
    names = args.datasets or [d for d in params.data.datasets if d in DATASET_FORMATS]
    if not names:
        raise FasrnetError(f"data.datasets lists no synthetic dataset ({', '.join(DATASET_FORMATS)}); "
                           "pass --datasets")
    if args.video is not None:  # one val video as a clip for `fasrnet demo`; no dataset is written
        if len(names) > 1 and args.datasets:
            raise FasrnetError("--video takes one --datasets NAME")
        print(f"{names[0]} val video {write_clip(params.synthesize, names[0], args.video_index, args.video).line()}")
        return 0
    for name in names:
        print(synthesize_dataset(out, name, params.synthesize, progress=True).line())
    if args.preview is not None:
        png = Path(args.preview) if args.preview else out / "synthetic_preview.png"
        print(f"preview: {render_preview([out / name for name in names], png)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synthesize", help="write the synthetic PoseTrack-format sets (syn17: 2017 format, syn18: 2018)")
    p.add_argument("--out", default=None, metavar="DIR", help="root of the datasets (default: params data.root)")
    p.add_argument("--datasets", nargs="+", choices=["syn17", "syn18"], default=None, metavar="NAME",
                   help="which sets to write (default: the syn* entries of params data.datasets)")
    p.add_argument("--preview", nargs="?", const="", default=None, metavar="PNG",
                   help="also write a PNG of frames around degradation episodes with the GT skeletons drawn "
                        "(default path: DIR/synthetic_preview.png)")
    p.add_argument("--video", default=None, metavar="FILE.mp4",
                   help="instead of the sets: write one val video of the (first) set as FILE.mp4, with its boxes "
                        "(FILE.boxes.json), degraded frames (FILE.degraded.json) and GT (FILE.gt.json), for "
                        "`fasrnet demo`")
    p.add_argument("--video-index", type=int, default=0, metavar="K", help="with --video: which val video (default 0)")
    p.set_defaults(func=run, outputs=outputs)


def outputs(args: argparse.Namespace, params: Params) -> list[Path]:
    """The dataset directories it writes; none for ``--video`` (a clip for ``fasrnet demo``, no pipeline output)."""
    root = Path(args.out if args.out is not None else params.data.root)
    datasets = args.datasets or [d for d in params.data.datasets if d.startswith("syn")]
    return [] if args.video is not None else [root / name for name in datasets]
