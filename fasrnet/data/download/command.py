"""``fasrnet download``: the handler the CLI calls (its arguments: ``fasrnet.commands.download``), ``--list``,
``--verify-only`` and the layout report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fasrnet.data.download.adopt import DATASET_RECORD, adopt_copy, find_tree
from fasrnet.data.download.base import DownloadError, LayoutError, Log, log_to_stderr
from fasrnet.data.download.kinds import detect_kind
from fasrnet.data.download.layout import verify_layout
from fasrnet.data.download.manifest import KINDS, Manifest, load_manifest
from fasrnet.data.download.orchestration import Plan, acquire, select_artefacts
from fasrnet.data.download.transfer import FetchOptions
from fasrnet.errors import FasrnetError


def _split_list(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def _parse_expect(values: list[str] | None) -> dict[str, int] | None:
    items = _split_list(values)
    if not items:
        return None
    expect = {}
    for item in items:
        split, sep, count = item.partition("=")
        if not sep or not count.strip().isdigit():
            raise FasrnetError(f"--expect {item!r}: expected SPLIT=COUNT, e.g. val=170")
        expect[split.strip()] = int(count)
    return expect


def _list_manifest(manifest: Manifest) -> None:
    w = max([34, *(len(a.name) for a in manifest.artefacts)])
    print(f"{'artefact':{w}} {'kind':8} {'dataset':12} {'url':9} {'size':8} {'hash':7} note")
    for a in manifest.artefacts:
        files = a.files
        url = ("parts" if a.multipart else "recorded") if all(f.url for f in files) else "none"
        size = "known" if all(f.size is not None for f in files) else "unknown"
        h = ("sha256" if all(f.sha256 for f in files) else
             "prefix" if all(f.sha256 or f.sha256_prefix for f in files) else "unknown")
        flag = "" if a.default else " (not fetched by default)"
        print(f"{a.name:{w}} {a.kind:8} {a.dataset or '-':12} {url:9} {size:8} {h:7} {a.status}{flag}")
    print("\nurl: 'none' means no direct URL is recorded; supply one with FASRNET_MIRROR_<NAME> or use --from DIR.")


def _expected_for(manifest: Manifest, dataset: str,
                  override: dict[str, int] | None) -> tuple[dict[str, int], dict[str, str]]:
    if override is not None:
        return override, {}
    info = manifest.datasets.get(dataset)
    return (dict(info.expected_videos), dict(info.expected_videos_source)) if info else ({}, {})


def cli_download(args: argparse.Namespace, params: Any, log: Log = log_to_stderr) -> int:
    """``fasrnet download`` (its arguments: ``fasrnet.commands.download``)."""
    p = params.download
    manifest = load_manifest(args.manifest)
    if args.list:
        _list_manifest(manifest)
        return 0
    what = _split_list(args.what) or list(p.what)
    bad = [w for w in what if w not in KINDS]
    if bad:
        raise FasrnetError(f"--what: unknown kind(s) {', '.join(bad)}; choose from {','.join(KINDS)}")
    datasets = _split_list(args.dataset) or list(params.data.datasets)
    known = set(manifest.datasets) | {a.dataset for a in manifest.artefacts if a.dataset}
    if args.from_dir is None and not args.verify_only:
        unknown = [d for d in datasets if d not in known]
        if args.dataset and unknown:
            raise FasrnetError(f"--dataset: nothing to download for {', '.join(unknown)} "
                               f"(known: {', '.join(sorted(known))})")
        datasets = [d for d in datasets if d in known]
        for d in [d for d in datasets if not any(a.dataset == d for a in manifest.artefacts)]:
            raise FasrnetError(f"{d}: nothing to download (no public files); "
                               f"{manifest.datasets[d].notes or 'adopt a copy with --from DIR'}")
    expect = _parse_expect(args.expect)
    plan = Plan(
        dest=Path(args.dest or params.data.root),
        cache_dir=Path(args.cache_dir or p.cache_dir),
        weights_dir=Path(args.weights_dir or p.weights_dir),
        mirror=p.mirror,
        link=p.link and not args.copy,
        opts=FetchOptions.from_params(p),
    )

    if args.verify_only:
        return _report_layouts(manifest, datasets, plan, expect, log)

    if not datasets and not args.artefact and not args.what:
        log("nothing to download: data.datasets lists only synthetic sets (`fasrnet synthesize` makes them); "
            "pass --dataset posetrack18, --artefact NAME or --what weights")
        return 0
    arts = select_artefacts(manifest, [d for d in datasets if d in known], what, p.weights, p.boxes_source,
                            _split_list(args.artefact))

    failures: list[str] = []
    from_dir = Path(args.from_dir) if args.from_dir else None
    if from_dir is not None:
        if not from_dir.is_dir():
            raise FasrnetError(f"--from {from_dir}: no such directory")
        adopted: dict[str, list[str]] = {}
        refused: set[str] = set()  # a copy that failed: nothing of it is installed, not even its archives
        for dataset in datasets:
            tree = find_tree(from_dir, dataset, single=len(datasets) == 1)
            if tree is not None:
                try:
                    adopted[dataset] = _adopt(dataset, tree, plan, expect, p.boxes_source, log)
                except FasrnetError as exc:
                    failures.append(str(exc))
                    refused.add(dataset)
            else:
                log(f"{dataset}: no extracted tree (annotations/, images/) in {from_dir}/{dataset}"
                    + ("" if len(datasets) > 1 else f" or {from_dir}")
                    + ("; with several datasets DIR needs one folder per dataset, or pass --dataset"
                       if len(datasets) > 1 else ""))
        skipped = []
        for art in arts:
            if art.dataset in refused:
                continue
            entries = adopted.get(art.dataset or "", [])
            if art.kind in ("images", "labels") and art.archive and {"images", "annotations"} & set(entries):
                continue  # the extracted tree was adopted instead of the archive
            try:
                if not acquire(art, plan, from_dir, log):
                    skipped.append(art.name)
            except FasrnetError as exc:
                failures.append(str(exc))
        if skipped:
            log(f"not in {from_dir} (skipped): {', '.join(skipped)}")
        layout_sets = ([d for d in datasets if d not in adopted and d not in refused]
                       if {"images", "labels"} & set(what) else [])
    else:
        for art in arts:
            try:
                acquire(art, plan, None, log)
            except FasrnetError as exc:
                failures.append(str(exc))
        layout_sets = [d for d in datasets if {"images", "labels"} <= set(what) and not args.artefact]
    if layout_sets and (from_dir is not None or not failures):  # after failed downloads the check is noise
        try:
            _report_layouts(manifest, layout_sets, plan, expect, log)
        except LayoutError as exc:
            failures.append(str(exc))
    if failures:
        raise DownloadError("\n".join(failures))
    return 0


def _adopt(dataset: str, tree: Path, plan: Plan, expect: dict[str, int] | None,
           boxes_source: str, log: Log) -> list[str]:
    """Recognise the copy at ``tree`` (kind, label version), check it is ``dataset``'s, and adopt it verified."""
    kind = detect_kind(tree, expect)
    if kind.dataset != dataset:
        raise LayoutError(f"{dataset}: {tree} holds {kind.describe()}; adopt it with --dataset {kind.dataset}")
    log(f"{dataset}: found {kind.describe()} in {tree}")
    expected = dict(expect) if expect is not None else kind.expected
    sources = {s: "--expect" if expect is not None else kind.labels for s in expected}
    for split in ("train", "val", "test"):
        if split not in kind.videos:
            log(f"{dataset}: note: {split}: not in this copy")
    adoption = adopt_copy(tree, kind, plan.dest / dataset, plan.link, expected, sources, boxes_source, log)
    report = adoption.report
    if report is not None:
        counts = ", ".join(f"{k} {v}" for k, v in report.videos.items()) or "none"
        log(f"{dataset}: videos per split: {counts}; {report.frames} frames listed")
        for note in report.notes:
            log(f"{dataset}: note: {note}")
    log(f"layout OK: {dataset} ({kind.labels}; recorded in {plan.dest / dataset / DATASET_RECORD})")
    return adoption.entries


def _report_layouts(manifest: Manifest, datasets: list[str], plan: Plan, expect: dict[str, int] | None,
                    log: Log) -> int:
    problems = []
    for dataset in datasets:
        expected, sources = _expected_for(manifest, dataset, expect)
        report = verify_layout(plan.dest / dataset, expected, sources)
        record = plan.dest / dataset / DATASET_RECORD
        if record.is_file():
            from fasrnet.data.jsonpath import read_json

            obj = read_json(record)
            labels = obj.get("labels") if isinstance(obj, dict) else None
            log(f"{dataset}: {labels or 'labels not recorded'} (adopted; {record})")
        counts = ", ".join(f"{k} {v}" for k, v in report.videos.items()) or "none"
        log(f"{dataset}: videos per split: {counts}; {report.frames} frames listed")
        for note in report.notes:
            log(f"{dataset}: note: {note}")
        problems += [f"{dataset}: {line}" for line in report.problems]
    if problems:
        raise LayoutError(f"{len(problems)} problem(s) in the dataset layout:\n" + "\n".join(problems))
    log("layout OK: " + ", ".join(datasets))
    return 0
