"""The ``fasrnet`` command line: one thin subcommand per pipeline stage over library functions.

Every subcommand validates ``params.yaml`` first (``--params`` picks another file, ``-S key=value`` overrides
a key as ``dvc exp run -S`` does). User errors print one ``error: …`` line per problem and exit 2.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fasrnet import __version__
from fasrnet.errors import FasrnetError
from fasrnet.paths import DEFAULT_PARAMS_FILE, SPLITS

if TYPE_CHECKING:  # the params stack (pydantic) loads in main(), after parsing: `fasrnet --help` stays fast
    from fasrnet.params import Params

Handler = Callable[[argparse.Namespace, "Params"], int | None]


def _params_check(args: argparse.Namespace, params: Params) -> int:
    print(f"{_params_file(args)}: OK")
    return 0


def _params_show(args: argparse.Namespace, params: Params) -> int:
    import yaml

    print(yaml.safe_dump(params.model_dump(mode="json"), default_flow_style=False, sort_keys=False), end="")
    return 0


def _params_defaults(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.params import dump_defaults

    print(dump_defaults(), end="")
    return 0


def _add_params(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("params", help="validate or show params.yaml")
    psub = p.add_subparsers(dest="params_command", required=True, metavar="{check,show,defaults}")
    # check validates a file: a missing params.yaml fails instead of falling back to the defaults
    psub.add_parser("check", help="validate params.yaml; exit non-zero on error").set_defaults(
        func=_params_check, params_required=True)
    psub.add_parser("show", help="print the validated params with defaults filled in").set_defaults(func=_params_show)
    psub.add_parser("defaults", help="print the built-in defaults as YAML").set_defaults(func=_params_defaults)


def _annotations_check(args: argparse.Namespace, params: Params) -> int:
    # The validator evaluate's loading uses too: a file evaluate rejects fails here with the same message.
    from fasrnet.evaluate.validate import check_file

    files: list[Path] = []
    for path in map(Path, args.paths):
        if path.is_dir():
            found = sorted(path.rglob("*.json"))
            if not found:
                raise FasrnetError(f"{path}: no *.json annotation files found")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise FasrnetError(f"{path}: no such file or directory")
    checks = [check_file(f, args.role) for f in files]
    for line in (w for c in checks for w in c.warnings):  # the warnings evaluate prints for the same file
        print(f"warning: {line}", file=sys.stderr)
    frames = sum(c.frames for c in checks)
    labeled = sum(c.with_persons for c in checks)
    persons = sum(c.persons for c in checks)
    n_pred = sum(c.role == "pred" for c in checks)
    refused = sum(c.training_refuses for c in checks)
    print(f"{len(files)} files OK: {frames} frames, {labeled} with persons, {persons} persons "
          f"({len(files) - n_pred} ground truth, {n_pred} predictions)"
          + (f"; {refused} of them the crops stage will refuse (warnings above)" if refused else ""))
    return 0


def _add_annotations(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("annotations", help="validate PoseTrack annotation files (2017 or 2018 format)")
    psub = p.add_subparsers(dest="annotations_command", required=True, metavar="{check}")
    c = psub.add_parser("check", help="read every file; report the first malformed field and exit non-zero")
    c.add_argument("paths", nargs="+", metavar="PATH", help="annotation files or directories (searched recursively)")
    c.add_argument("--role", choices=("auto", "gt", "pred"), default="auto",
                   help="check the files as evaluate reads its --gt (gt) or --pred (pred) files; auto (default): "
                        "a file with per-joint scores is a prediction, any other ground truth (docs/metric.md, §11)")
    c.set_defaults(func=_annotations_check)


def _download(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.data.download.command import cli_download

    return cli_download(args, params)


def _add_download(sub: argparse._SubParsersAction) -> None:
    # its arguments here, not in fasrnet.data.download: building the parser must not import a stage's modules,
    # or every stage would depend on them (fasrnet/codedeps.py)
    p = sub.add_parser("download", help="fetch or adopt (--from DIR) PoseTrack data, boxes and HRNet weights; verify")
    p.add_argument("--dataset", action="append", metavar="NAME",
                   help="posetrack18 / posetrack17 / posetrack21 (repeatable or comma-separated; "
                        "default: data.datasets)")
    p.add_argument("--what", action="append", metavar="KINDS",
                   help="comma-separated subset of images,labels,boxes,weights (default: download.what)")
    p.add_argument("--artefact", action="append", metavar="NAME", help="fetch these manifest entries only")
    p.add_argument("--from", dest="from_dir", metavar="DIR",
                   help="adopt a copy you have (extracted tree and/or archives, box files, checkpoints)")
    p.add_argument("--copy", action="store_true", help="with --from: copy instead of linking (download.link)")
    p.add_argument("--dest", metavar="DIR", help="dataset root (default: data.root)")
    p.add_argument("--cache-dir", metavar="DIR", help="archives as fetched (default: download.cache_dir)")
    p.add_argument("--weights-dir", metavar="DIR", help="checkpoints (default: download.weights_dir)")
    p.add_argument("--expect", action="append", metavar="SPLIT=N",
                   help="expected videos per split for the layout check, overriding the manifest (e.g. val=170)")
    p.add_argument("--verify-only", action="store_true", help="only verify the layout of the datasets under --dest")
    p.add_argument("--list", action="store_true", help="list the manifest (names, what is known) and exit")
    p.add_argument("--manifest", metavar="FILE", help=argparse.SUPPRESS)
    p.set_defaults(func=_download)


def _synthesize(args: argparse.Namespace, params: Params) -> int:
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


def _add_synthesize(sub: argparse._SubParsersAction) -> None:
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
    p.set_defaults(func=_synthesize)


def _boxes_convert(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.data.boxes import convert

    stats = convert(args.from_format, args.in_path, args.out, ann=args.ann, min_score=args.min_score)
    print(f"{args.out}: {stats.written} boxes written ({stats.read} read, {stats.dropped_category} with "
          f"category_id != 1 dropped, {stats.dropped_score} below --min-score dropped)")
    return 0


def _boxes_check(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.data.boxes import read_boxes

    for path in args.paths:
        print(f"{path}: {len(read_boxes(path))} boxes OK")
    return 0


def _add_boxes(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("boxes", help="person detection boxes: convert DCPose/mmpose files, validate")
    psub = p.add_subparsers(dest="boxes_command", required=True, metavar="{convert,check}")
    c = psub.add_parser("convert", help="convert a box file into the pipeline's detection format")
    c.add_argument("--from-format", required=True, choices=["dcpose", "mmpose"])
    c.add_argument("--in", dest="in_path", required=True, metavar="FILE")
    c.add_argument("--ann", metavar="FILE_OR_DIR",
                   help="annotations: merged val JSON (required for mmpose) or per-video files (fills DCPose gaps)")
    c.add_argument("--out", required=True, metavar="FILE")
    c.add_argument("--min-score", type=float, default=None,
                   help="drop boxes below this score (default: keep all; the crops stage applies its threshold)")
    c.set_defaults(func=_boxes_convert)
    k = psub.add_parser("check", help="validate files in the pipeline's detection format")
    k.add_argument("paths", nargs="+", metavar="FILE")
    k.set_defaults(func=_boxes_check)


def _complexity(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.complexity import complexity_report
    from fasrnet.io import write_json
    from fasrnet.runtime import set_threads

    set_threads(args.threads)

    size = (args.input_size[0], args.input_size[1])
    if args.width < 1 or min(size) < 32:
        raise FasrnetError(f"complexity: --width must be >= 1 and --input-size at least 32 32, got {args.width} "
                           f"and {size[0]} {size[1]}")
    report = complexity_report(params, width=args.width, input_size=size)
    write_json(args.out, report, indent=2)
    ours, paper = report["table5"]["ours"], report["table5"]["paper"]
    print(f"{args.out}: HRNet-W{args.width} {size[0]}x{size[1]} and FaSRnet over 3 frames")
    for name in ("hrnet", "fasrnet"):
        o, p = ours[name], paper[name]
        print(f"  {name}: {o['params']:,} params ({p['params']:.4g} in the paper); {o['gmacs']} GMACs = "
              f"{o['gflops']} GFLOPs (2 x MAC); thop-style {o['thop_style_gmacs']} G (paper {p['gflops']})")
    return 0


def _add_complexity(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("complexity", help="parameters and GFLOPs of HRNet and FaSRnet (Table 5)")
    p.add_argument("--out", default="results/metrics/complexity.json", metavar="FILE",
                   help="JSON output (default: results/metrics/complexity.json)")
    p.add_argument("--width", type=int, default=48, metavar="C", help="backbone width measured (default: 48)")
    p.add_argument("--input-size", type=int, nargs=2, default=[384, 288], metavar=("H", "W"),
                   help="input crop measured (default: 384 288)")
    _threads_arg(p)
    p.set_defaults(func=_complexity)


# --- workflow glue: acquire (synthesize or download), backbone (pretrain or adopt), workflow files -------------


def _acquire(args: argparse.Namespace, params: Params) -> int:
    _check_dataset(params, args.dataset)
    if args.dataset.startswith("syn"):
        return main_with(params, args, ["synthesize", "--datasets", args.dataset])
    argv = ["download", "--dataset", args.dataset, "--what", "images,labels,boxes"]
    if params.download.from_dir:
        argv += ["--from", params.download.from_dir]
    return main_with(params, args, argv)


def _add_acquire(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("acquire", help="the workflow's data stage: synthesize a syn* set, or download/adopt "
                       "(download.from_dir) a PoseTrack set")
    _dataset_arg(p)
    p.set_defaults(func=_acquire)


def _backbone(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.backbone import adopt_checkpoint

    if params.backbone.source == "pretrain":
        threads = ["--threads", str(args.threads)] if args.threads else []
        return main_with(params, args, ["pretrain-backbone", *threads])
    rc = main_with(params, args, ["download", "--what", "weights"])
    if rc:
        return rc
    print(f"backbone: {adopt_checkpoint(params)}")
    return 0


def _add_backbone(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backbone", help="the workflow's backbone stage: pretrain (backbone.source: pretrain) or "
                       "fetch and adopt the HRNet checkpoint (backbone.source: checkpoint)")
    _threads_arg(p)
    p.set_defaults(func=_backbone)


def _workflow(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.workflow import check_dvc_yaml, write_dvc_yaml

    if args.workflow_command == "dvc":
        path = write_dvc_yaml(params, args.out)
        print(f"wrote {path}")
        return 0
    problems = check_dvc_yaml(params, args.out)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 1
    print(f"{args.out}: current")
    return 0


def _add_workflow(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("workflow", help="write or check dvc.yaml from the stage registry (fasrnet/stages.py)")
    p.add_argument("workflow_command", choices=["dvc", "check"], help="dvc: write dvc.yaml; check: is it current?")
    p.add_argument("--out", type=Path, default=Path("dvc.yaml"))
    p.set_defaults(func=_workflow)


def main_with(params: Params, args: argparse.Namespace, argv: list[str]) -> int:
    """Run another subcommand with the same params file and overrides (used by the dispatching stages)."""
    given = [] if args.params is None else ["--params", str(args.params)]
    sub_args = build_parser().parse_args(given + [a for o in args.overrides for a in ("-S", o)] + argv)
    return int(sub_args.func(sub_args, params) or 0)


# --- learning core: crops → pretrain-backbone → extract → train → predict --------------------------------------


def stage_item(value: str) -> str:
    """A ``--run``/``--dataset`` value: the name itself, or a DVC stage name ending in ``@<name>``.

    dvc.yaml's commands pass ``"$DVC_STAGE"`` (e.g. ``train_main@main_syn17``) instead of pasting the name from
    params.yaml into the shell command (fasrnet.stages.DVC_ITEM); the name is validated against params.yaml after.
    """
    return value.rpartition("@")[2]


_ITEM_HELP = " (or a DVC stage name ending in @NAME, as dvc.yaml passes it)"


def _dataset_arg(p: argparse.ArgumentParser, required: bool = True, help: str = "") -> None:
    p.add_argument("--dataset", required=required, type=stage_item,
                   help=(help or "dataset name (one of data.datasets), e.g. syn17") + _ITEM_HELP)


def _run_arg(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--run", required=required, default=None, type=stage_item,
                   help="a run named in params.yaml `runs`" + _ITEM_HELP)


def _threads_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (Snakemake passes the rule's threads; default: FASRNET_THREADS)")


def _space_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-space-check", action="store_true",
                   help="print the projected cache size but start even when the disk lacks the room "
                        "(also FASRNET_NO_SPACE_CHECK=1; docs/data.md, §7)")


def _check_dataset(params: Params, dataset: str) -> None:
    if dataset not in params.data.datasets:
        raise FasrnetError(f"--dataset {dataset}: not in data.datasets {params.data.datasets}")


def _splits(args: argparse.Namespace, dataset: str) -> list[str]:
    """``--split`` (default: every split ``dataset`` has); a split the dataset does not have is an error."""
    from fasrnet import paths

    has = paths.splits_of(dataset)
    wanted = list(args.split) if args.split else list(has)
    missing = [s for s in wanted if s not in has]
    if missing:
        raise FasrnetError(f"--split {' '.join(missing)}: {dataset} has no such split (it has {' '.join(has)})")
    return wanted


def _crops(args: argparse.Namespace, params: Params) -> int:
    from fasrnet import paths
    from fasrnet.cachesize import check_space, enforced
    from fasrnet.codecs.heatmap import HeatmapCodec
    from fasrnet.data.crops import build_crops, plan_crops
    from fasrnet.resume import stage_params

    _check_dataset(params, args.dataset)
    args.split = _splits(args, args.dataset)
    if args.out and len(args.split) > 1:
        raise FasrnetError("--out takes one --split")
    codec, stamp = HeatmapCodec.from_params(params.heatmap), stage_params(params, "crops")
    stage_out = None if args.out else paths.CROPS / args.dataset
    plans = {split: plan_crops(paths.dataset_dir(params, args.dataset), split,
                               args.out or paths.crops_dir(args.dataset, split), codec, params.crops,
                               stamp=stamp, stage_out=stage_out) for split in args.split}
    # every split counted and sized before the first is written (docs/data.md, §7)
    check_space([p.projection for p in plans.values() if p.projection], enforce=enforced(args.no_space_check))
    for split, plan in plans.items():
        out = plan.unit.target
        stats = build_crops(plan.dataset_dir, split, out, codec, params.crops, stamp=stamp, stage_out=stage_out,
                            plan=plan)
        print(f"crops {args.dataset}/{split}: {stats['crops']} crops of {stats['persons']} persons "
              f"in {stats['videos']} videos" + _state_note(stats["state"], out))
        _made(args, out)
    return 0


def _state_note(state: str, out: Path) -> str:
    """How a resumable stage went (docs/resume.md): up to date, resumed, or (re)built from scratch."""
    return {"current": f"; {out} is up to date", "resume": "; resumed the partial work"}.get(state, "")


def _add_crops(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("crops", help="cut person crops (frames t-1, t, t+1) into the crop cache")
    _dataset_arg(p)
    p.add_argument("--split", nargs="+", default=None, choices=list(SPLITS),
                   help="default: every split the dataset has (PoseTrack21: train val)")
    p.add_argument("--out", type=Path, default=None, help="output directory (one split only; "
                   "default data/crops/<dataset>/<split>)")
    _space_arg(p)
    p.set_defaults(func=_crops)


def _pretrain_backbone(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.backbone import pretrain_backbone
    from fasrnet.runtime import set_threads

    set_threads(args.threads)
    result = pretrain_backbone(params, args.datasets)
    if result["state"] == "current":
        print(f"pretrain-backbone: {Path(result['checkpoint']).parent} is up to date")
        return 0
    print(f"pretrain-backbone: wrote {result['checkpoint']} ({result['crops']} crops per epoch)"
          + _state_note(result["state"], Path(result["checkpoint"]).parent))
    return 0


def _add_pretrain_backbone(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain-backbone", help="train the small HRNet on single synthetic frames (embedded default)")
    p.add_argument("--datasets", nargs="+", default=None, help="datasets whose train crops to use "
                   "(default: data.datasets)")
    _threads_arg(p)
    p.set_defaults(func=_pretrain_backbone)


def _extract(args: argparse.Namespace, params: Params) -> int:
    from fasrnet import paths
    from fasrnet.backbone import load_frozen_backbone
    from fasrnet.cachesize import check_space, enforced
    from fasrnet.features import extract, plan_extract
    from fasrnet.resume import file_sha256, stage_params
    from fasrnet.runtime import pick_device, set_threads

    _check_dataset(params, args.dataset)
    args.split = _splits(args, args.dataset)
    set_threads(args.threads)
    backbone = load_frozen_backbone(params)
    ident = f"{params.backbone.checkpoint} sha256:{file_sha256(params.backbone.checkpoint)[:16]}"
    device, stamp = pick_device(params.extract.device), stage_params(params, "extract")
    plans = {split: plan_extract(paths.crops_dir(args.dataset, split), paths.features_dir(args.dataset, split),
                                 backbone, device, params.extract.batch_size,
                                 flip=params.heatmap.flip_test and split != "train", stamp=stamp,
                                 stage_out=paths.FEATURES / args.dataset) for split in args.split}
    # every split sized before the first is written (docs/data.md, §7)
    check_space([p.projection for p in plans.values() if p.projection], enforce=enforced(args.no_space_check))
    for split, plan in plans.items():
        out = plan.unit.target
        stats = extract(plan.crop_dir, out, backbone, device, params.extract.batch_size,
                        flip=params.heatmap.flip_test and split != "train", backbone_id=ident,
                        stamp=stamp, stage_out=paths.FEATURES / args.dataset, plan=plan)
        rate = stats["crops_per_second"]
        print(f"extract {args.dataset}/{split}: {stats['crops']} crops"
              + (f", {stats['extracted_now']} extracted in {stats['seconds']} s ({rate} crops/s)" if rate else "")
              + _state_note(stats["state"], out))
        _made(args, out)
    return 0


def _add_extract(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="run the frozen backbone once over every crop into the feature cache")
    _dataset_arg(p)
    p.add_argument("--split", nargs="+", default=None, choices=list(SPLITS),
                   help="default: every split the dataset has (PoseTrack21: train val)")
    _threads_arg(p)
    _space_arg(p)
    p.set_defaults(func=_extract)


def _train(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.runs import resolve_run
    from fasrnet.runtime import set_threads
    from fasrnet.train import Trainer

    set_threads(args.threads)
    trainer = Trainer(params, resolve_run(params, args.run), out_dir=args.out)
    result = trainer.run()
    if result.get("rank", 0) != 0:  # under torchrun only rank 0 reports
        return 0
    if result["state"] == "current":
        print(f"train {args.run}: {trainer.out_dir} is up to date")
        return 0
    if result["state"] == "reused":
        print(f"train {args.run}: reused {result['reused']}'s training (same dataset, variant, alpha and seed) "
              f"for {trainer.out_dir}")
        return 0
    last = result["history"][-1] if result["history"] else {}
    print(f"train {args.run}: {result['epochs']} epochs, final loss {last.get('loss', float('nan')):.4e}"
          + ("" if last.get("val_map") is None else f", val mAP {last['val_map']:.2f}")
          + _state_note(result["state"], trainer.out_dir))
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one run's FaSRnet head on the feature cache (resumes after a kill; "
                                     "under `torchrun --nproc_per_node N -m -- fasrnet train` with DDP)")
    _run_arg(p)
    p.add_argument("--out", type=Path, default=None, help="output directory (default models/<run>/)")
    _threads_arg(p)
    p.set_defaults(func=_train)


def _predict(args: argparse.Namespace, params: Params) -> int:
    from fasrnet import paths
    from fasrnet.codecs.heatmap import HeatmapCodec
    from fasrnet.features import FeatureStore
    from fasrnet.predict import load_head, predict_store, write_predictions
    from fasrnet.runtime import pick_device, set_threads

    set_threads(args.threads)
    device = pick_device(params.train.device)
    if args.backbone_only and not args.dataset:
        raise FasrnetError("--backbone-only needs --dataset")
    if not args.backbone_only and not args.run:
        raise FasrnetError("give --run NAME, or --backbone-only --dataset NAME")
    dataset, name = _run_or_backbone(args, params)
    head = None if args.backbone_only else load_head(params, args.run, device)
    if args.out and len(args.split) > 1:
        raise FasrnetError("--out takes one --split")
    for split in args.split:
        if split not in paths.splits_of(dataset):  # the workflow's main runs ask for val and test everywhere
            print(f"predict {name}/{split}: {dataset} has no {split} split; nothing to predict")
            continue
        store = FeatureStore(paths.features_dir(dataset, split), paths.crops_dir(dataset, split))
        videos = predict_store(store, head, HeatmapCodec.from_params(params.heatmap), device,
                               params.train.batch_size, params.heatmap.flip_test)
        out = args.out or paths.predictions_dir(name, split)
        write_predictions(videos, out, store.crops.info["format"])
        print(f"predict {name}/{split}: {len(videos)} videos, {len(store)} persons -> {out}")
        _made(args, out)
    return 0


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="write PoseTrack predictions of one run (or the backbone alone)")
    _run_arg(p, required=False)
    p.add_argument("--split", required=True, nargs="+", choices=["val", "test"])
    p.add_argument("--backbone-only", action="store_true",
                   help="score the frozen backbone's own heatmaps (single-frame baseline, no refinement)")
    _dataset_arg(p, required=False, help="with --backbone-only: the dataset")
    p.add_argument("--out", type=Path, default=None, help="default results/predictions/<run>/<split>")
    _threads_arg(p)
    p.set_defaults(func=_predict)


def _demo(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.demo.run import run_demo
    from fasrnet.runtime import pick_device, set_threads

    set_threads(args.threads)
    r = run_demo(params, args.video, args.run, args.out, boxes_file=args.boxes, degraded=args.degraded,
                 device=pick_device(params.train.device))
    print(f"demo {r.video}: {r.frames} frames, {r.persons} persons ({r.boxes}), {r.degraded_frames} flagged "
          f"degraded{f' (from {r.degraded_from})' if r.degraded_from else ''}, {r.frames_per_second:.2f} frames/s "
          f"on {r.device} -> {r.out_dir}/poses.json, overlay.mp4")
    return 0


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="a trained run on your own clip: poses.json and overlay.mp4 (backbone alone "
                                    "and FaSRnet side by side)")
    p.add_argument("video", metavar="VIDEO", help="a video file OpenCV reads (.mp4, .avi, ...) or a folder of frames")
    _run_arg(p)
    p.add_argument("--boxes", metavar="FILE", default=None,
                   help="person boxes (pipeline or DCPose detection format); default: run the person detector "
                        "demo.detector (weights: `fasrnet download --artefact detector_<name>`)")
    p.add_argument("--degraded", metavar="SPEC", default=None,
                   help="frames to flag as degraded: 12-18,40 or an episodes JSON file (default: VIDEO's "
                        ".degraded.json beside it, or a synthetic set's meta.json)")
    p.add_argument("--out", metavar="DIR", default=None, help="default results/demo/<clip>/<run>/")
    _threads_arg(p)
    p.set_defaults(func=_demo)


def _evaluate(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.evaluate.command import run

    if args.run or args.backbone_only:
        _pipeline_paths(args, params)
    elif not (args.gt and args.pred):
        raise FasrnetError("evaluate: give --gt DIR --pred DIR, or --run NAME, or --backbone-only --dataset NAME")
    return run(args)


def _run_or_backbone(args: argparse.Namespace, params: Params) -> tuple[str, str]:
    """(dataset, name) of ``--run NAME`` or of ``--backbone-only --dataset NAME`` (the frozen backbone's pseudo-run);
    the caller has checked that the one it takes is given."""
    from fasrnet import paths

    if args.backbone_only:
        _check_dataset(params, args.dataset)
        return args.dataset, paths.backbone_run_name(args.dataset)
    return params.runs.named(args.run).dataset, args.run


def _pipeline_paths(args: argparse.Namespace, params: Params) -> None:
    """Fill ``--gt``/``--pred``/``--out`` of a pipeline run (or of the backbone alone) from params and the layout."""
    from fasrnet import paths

    if args.gt or args.pred:
        raise FasrnetError("evaluate: --run/--backbone-only pick --gt and --pred themselves; give one or the other")
    if args.backbone_only and (not args.dataset or args.run):
        raise FasrnetError("evaluate: --backbone-only needs --dataset NAME (and no --run)")
    dataset, name = _run_or_backbone(args, params)
    args.gt = paths.annotations_dir(params, dataset, "val")
    args.pred = paths.predictions_dir(name, "val")
    args.out = args.out or paths.metrics_file(name)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="PoseTrack mAP of predictions against ground truth, exactly as poseval -e")
    p.add_argument("--gt", metavar="DIR", help="ground-truth directory (PoseTrack 2017/2018 *.json)")
    p.add_argument("--pred", metavar="DIR", help="predictions: one file per GT file, same name")
    _run_arg(p, required=False)
    p.add_argument("--backbone-only", action="store_true", help="with --dataset: the frozen backbone alone")
    _dataset_arg(p, required=False, help="with --backbone-only: the dataset")
    p.add_argument("--out", metavar="FILE", help="write the metrics JSON here (with --run/--backbone-only: default "
                   "results/metrics/<run>.json)")
    p.add_argument("--per-sequence", nargs="?", const=True, default=None, metavar="DIR",
                   help="also evaluate each sequence alone (printed, in --out; DIR: also DIR/<seq>_AP_metrics.json)")
    p.add_argument("--crosscheck", action="store_true",
                   help="also run the official poseval package (must be importable) and report any difference")
    p.add_argument("--episodes", default="auto", metavar="META",
                   help="also score degraded and clean frames apart, from a synthetic set's meta.json "
                        "(auto: <gt>/../../meta.json when the GT is a synthetic set; none: never)")
    p.set_defaults(func=_evaluate)


def _tables(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.tables import missing_inputs, run_tables

    if not args.strict:
        for path in missing_inputs(params):
            print(f"warning: missing {path.as_posix()} (its rows say \"not run\"; --strict fails instead)",
                  file=sys.stderr)
    written = run_tables(params, out=args.out, figures=None if args.no_figures else args.figures,
                         summary=args.summary, strict=args.strict)
    print("tables: wrote " + ", ".join(p.as_posix() for p in written))
    return 0


def _add_tables(sub: argparse._SubParsersAction) -> None:
    from fasrnet import paths
    from fasrnet.paths import SUMMARY_FILE, TABLES_FILE

    p = sub.add_parser("tables", help="paper Tables 1-10 (results/tables.md), summary metrics and figures")
    p.add_argument("--out", type=Path, default=TABLES_FILE, metavar="FILE",
                   help=f"markdown output (default: {TABLES_FILE.as_posix()})")
    p.add_argument("--figures", type=Path, default=paths.FIGURES, metavar="DIR",
                   help=f"figures directory, also holding the tables as HTML for the report (default: "
                        f"{paths.FIGURES.as_posix()})")
    p.add_argument("--no-figures", action="store_true", help="write no figures")
    p.add_argument("--summary", type=Path, default=SUMMARY_FILE, metavar="FILE",
                   help=f"flat DVC metrics JSON (default: {SUMMARY_FILE.as_posix()})")
    p.add_argument("--strict", action="store_true",
                   help="fail, naming them, if any run's metrics file or complexity.json is missing "
                        "(the workflow uses it; without it such rows say \"not run\")")
    p.set_defaults(func=_tables)


def _runtime(args: argparse.Namespace, params: Params) -> int:
    from fasrnet.tables.runtime import write_runtime

    written = write_runtime(args.benchmarks, out=args.out, json_out=args.json)
    print("runtime: wrote " + ", ".join(p.as_posix() for p in written))
    return 0


def _add_runtime(sub: argparse._SubParsersAction) -> None:
    from fasrnet.paths import BENCHMARKS_DIR, RUNTIME_FILE, RUNTIME_JSON

    p = sub.add_parser("runtime", help="per-stage wall time, peak memory and CPU time of the stages' last runs "
                       "(results/runtime.md, from the benchmark files their commands write; docs/runtime.md)")
    p.add_argument("--benchmarks", type=Path, default=BENCHMARKS_DIR, metavar="DIR",
                   help=f"the stages' benchmark files (default: {BENCHMARKS_DIR.as_posix()})")
    p.add_argument("--out", type=Path, default=RUNTIME_FILE, metavar="FILE",
                   help=f"markdown output (default: {RUNTIME_FILE.as_posix()})")
    p.add_argument("--json", type=Path, default=RUNTIME_JSON, metavar="FILE",
                   help=f"the same as JSON (default: {RUNTIME_JSON.as_posix()})")
    p.set_defaults(func=_runtime)


#: Subcommand registrars, in pipeline order. Each adds a parser whose ``func`` is a :data:`Handler`.
#: To add a stage: define ``_add_<stage>(sub)`` above and append it here on its own line.
REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_params,
    _add_annotations,
    _add_download,
    _add_synthesize,
    _add_boxes,
    _add_complexity,
    _add_acquire,
    _add_crops,
    _add_backbone,
    _add_pretrain_backbone,
    _add_extract,
    _add_train,
    _add_predict,
    _add_workflow,
    _add_evaluate,
    _add_demo,
    _add_tables,
    _add_runtime,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fasrnet", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"fasrnet {__version__}")
    # None (not the default name) tells an explicit --params, which must exist, from the default, which may not
    parser.add_argument("--params", default=None, metavar="FILE",
                        help=f"params file (default: {DEFAULT_PARAMS_FILE}; if it is missing, the built-in "
                             "defaults, with a note)")
    parser.add_argument("-S", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one param, e.g. -S loss.alpha=0.3 (repeatable)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in REGISTRARS:
        register(sub)
    return parser


def _params_file(args: argparse.Namespace) -> Path:
    return Path(args.params if args.params is not None else DEFAULT_PARAMS_FILE)


def error_lines(exc: BaseException) -> list[str]:
    """The ``error: …`` lines for an expected failure; never empty, never raises (an empty message gives the
    exception's type)."""
    if isinstance(exc, OSError) and exc.filename is not None:
        # two names (os.replace of an atomic write's temporary): the second is the output the user named
        where = exc.filename2 if exc.filename2 is not None else exc.filename
        return [f"error: {where}: {exc.strerror or type(exc).__name__}"]
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return [f"error: {line}" for line in lines] or [f"error: {type(exc).__name__}"]


#: OSErrors that are the machine's fault, not a bug, even when they carry no file name (a write() on a full disk).
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})


def _expected(exc: BaseException) -> bool:
    """Failures the user can act on get one line; anything else is a bug and keeps its traceback."""
    if isinstance(exc, FasrnetError):
        return True
    return isinstance(exc, OSError) and (exc.filename is not None or exc.errno in ENVIRONMENT_ERRNOS)


def _names(values: list[str] | None) -> list[str]:
    """Repeatable, comma-separated option values (``--dataset a,b --dataset c``), as ``fasrnet download`` reads them."""
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def outputs_of(args: argparse.Namespace, params: Params) -> list[Path]:
    """The outputs ``args``' command writes, resolved as its handler resolves them (``--out``, params, the item
    whichever way it was passed): what :func:`main` locks before the handler runs (fasrnet.locks, docs/resume.md).
    A pipeline stage's include its registry outputs (a test checks every one). Names are checked first, so no lock
    file is made for a dataset or run params.yaml does not define; commands that write no pipeline output (or whose
    arguments their handler will refuse) lock nothing. Reads params and paths only: every stage's code runs it."""
    from fasrnet import paths

    command, p = args.command, params
    if command == "acquire":
        _check_dataset(p, args.dataset)
        return [paths.dataset_dir(p, args.dataset)]
    if command == "synthesize":  # --video writes a clip for `fasrnet demo`, no pipeline output
        root = Path(args.out if args.out is not None else p.data.root)
        names = args.datasets or [d for d in p.data.datasets if d.startswith("syn")]
        return [] if args.video is not None else [root / name for name in names]
    if command == "download":
        if args.list or args.verify_only:
            return []
        what = _names(args.what) or list(p.download.what)
        root = Path(args.dest or p.data.root)
        data = {"images", "labels", "boxes"} & set(what)
        out = [root / d for d in _names(args.dataset) or p.data.datasets] if data else []
        weights = "weights" in what or args.artefact
        return out + ([Path(args.weights_dir or p.download.weights_dir)] if weights else [])
    if command in ("crops", "extract"):
        _check_dataset(p, args.dataset)
        if getattr(args, "out", None):  # crops --out: one split's store
            return [args.out]
        return [(paths.CROPS if command == "crops" else paths.FEATURES) / args.dataset]
    if command in ("backbone", "pretrain-backbone"):
        weights = command == "backbone" and p.backbone.source != "pretrain"  # fetched into download.weights_dir
        return [Path(p.backbone.checkpoint).parent] + ([Path(p.download.weights_dir)] if weights else [])
    if command == "train":
        p.runs.named(args.run)
        return [args.out or paths.run_dir(args.run)]
    if command in ("predict", "evaluate"):
        name = None
        if args.backbone_only and args.dataset and not args.run:
            _check_dataset(p, args.dataset)
            name = paths.backbone_run_name(args.dataset)
        elif args.run and not args.backbone_only:
            p.runs.named(args.run)
            name = args.run
        if command == "predict":
            return [args.out] if args.out else [paths.PREDICTIONS / name] if name else []
        return [Path(args.out)] if args.out else [paths.metrics_file(name)] if name else []
    if command == "tables":
        return [args.out, args.summary] + ([] if args.no_figures else [args.figures])
    if command == "complexity":
        return [Path(args.out)]
    if command == "runtime":
        return [args.out, args.json]
    return []


def _made(args: argparse.Namespace, path: Path) -> None:
    """A handler reports a unit it put in place (or found current): :func:`main` checks it is still there at the end."""
    if isinstance(getattr(args, "made", None), list):
        args.made.append(Path(path))


#: How often a command runs again when what it made was deleted while it ran (see :func:`_run_locked`).
ATTEMPTS = 3


def _run_locked(parser: argparse.ArgumentParser, args: argparse.Namespace, params: Params, argv: list[str],
                started: float) -> int | None:
    """Run the subcommand holding the lock of every output it writes (:func:`outputs_of`, fasrnet.locks): a second
    writer of one of them, from any tool, clone or shell, waits for this one, then finds its work up to date.

    The lock orders fasrnet's writers, not the tools: DVC and Snakemake delete a stage's outputs before they start
    its command, so a tool starting the stage while this command writes it deletes what this one already put in
    place. A registry stage's outputs and the units its handler reports (:func:`_made`) must therefore still exist
    when it is done; if one is gone, the command runs again (still holding its locks; a resumable stage redoes only
    what is missing), so it never ends with success on a store another tool deleted a part of.

    Under torchrun only rank 0 locks (and checks): the other ranks write nothing of their own and wait for rank 0 in
    the process group, so no rank waits at a lock another rank of its job holds (docs/resume.md).
    """
    import shlex

    from fasrnet.locks import hold
    from fasrnet.record import stage_of

    if int(os.environ.get("RANK", "0") or 0) != 0:
        return args.func(args, params)
    single = int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1  # one process: a rerun involves no other rank
    with hold(outputs_of(args, params), command=shlex.join(["fasrnet", *argv])):
        inst = stage_of(params, argv)
        for attempt in range(1, ATTEMPTS + 1):
            if attempt > 1:
                args = parser.parse_args(argv)  # the handler may have filled in its arguments
            args.made = []
            rc = args.func(args, params)
            expected = [*args.made, *(map(Path, (*inst.outs, *inst.metrics)) if inst is not None else ())]
            gone = [] if rc or not single else [path for path in expected if not os.path.lexists(path)]
            if not gone:
                break
            if attempt == ATTEMPTS:
                raise FasrnetError(f"{gone[0]}: missing after {ATTEMPTS} runs of `fasrnet {args.command}` (deleted by "
                                   "another tool rerunning the stage each time, or written elsewhere; docs/resume.md)")
            print(f"fasrnet: {gone[0]} was deleted while this command ran (another tool starting the same stage "
                  "deletes its outputs first); running it again", file=sys.stderr, flush=True)
        if not rc:
            _record(params, args, argv, started)
    return rc


def _record(params: Params, args: argparse.Namespace, argv: Sequence[str], started: float) -> None:
    """A pipeline stage's benchmark file and params stamp (fasrnet.record), after it succeeded."""
    from fasrnet.record import record_imports, record_stage, stage_of

    if int(os.environ.get("RANK", "0")) != 0:
        return  # under torchrun, rank 0 speaks for the job
    inst = None if args.params is not None or args.overrides else stage_of(params, argv)
    try:
        if inst is not None:
            record_stage(params, inst, started)
        record_imports(inst.name if inst is not None else args.command)
    except OSError as exc:  # the stage's outputs are in place: bookkeeping must not fail it
        print(f"warning: {error_lines(exc)[0].removeprefix('error: ')} (benchmark file or params stamp not "
              "recorded; docs/workflow.md)", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    started = time.time()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    from fasrnet.params import load_params

    try:
        explicit = args.params is not None or getattr(args, "params_required", False)
        params = load_params(_params_file(args), args.overrides, required=explicit)
        rc = _run_locked(parser, args, params, argv, started)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `fasrnet params show | head`: the reader left; say nothing more, and keep the interpreter's final flush
        # from raising again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (FasrnetError, OSError) as exc:
        if not _expected(exc):
            raise
        for line in error_lines(exc):
            print(line, file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
