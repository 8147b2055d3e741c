"""Orchestration: which artefacts to fetch, where each file goes (the :class:`Plan`), and fetching (or adopting
from ``--from DIR``), verifying and installing one artefact (extraction, box conversion, an install record)."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fasrnet.data.download.archive import extract_archive
from fasrnet.data.download.base import DownloadError, Log, log_to_stderr
from fasrnet.data.download.manifest import Artefact, FileSpec, Manifest
from fasrnet.data.download.transfer import FetchOptions
from fasrnet.data.download.urls import resolve_urls, source_hint
from fasrnet.data.download.verify import ensure_file, verified_sha
from fasrnet.io import write_json


@dataclass
class Plan:
    """Where things go."""

    dest: Path  # <data.root>: datasets go to dest/<dataset>
    cache_dir: Path  # downloaded archives and box files: cache_dir/<artefact>/<file>
    weights_dir: Path  # checkpoints: weights_dir/<file>
    mirror: str = ""
    link: bool = True
    opts: FetchOptions = field(default_factory=FetchOptions)
    environ: Mapping[str, str] | None = None


def select_artefacts(manifest: Manifest, datasets: Iterable[str], what: Iterable[str], weights: Iterable[str] = (),
                     boxes_source: str | None = None, names: Iterable[str] = ()) -> list[Artefact]:
    """The artefacts to fetch: explicit ``names``, or the default ones of ``datasets`` whose kind is in
    ``what`` (one box variant per dataset, ``boxes_source`` where the dataset has it) plus the ``weights``."""
    names = list(names)
    if names:
        return [manifest.get(n) for n in names]
    datasets, what, weights = list(datasets), set(what), list(weights)
    chosen = [manifest.get(w) for w in weights] if "weights" in what else []
    for art in manifest.artefacts:
        if art.kind == "weights" or art.kind not in what or art.dataset not in datasets or not art.default:
            continue
        if art.kind == "boxes" and boxes_source:
            variants = {a.variant for a in manifest.artefacts if a.kind == "boxes" and a.dataset == art.dataset}
            if boxes_source in variants and art.variant != boxes_source:
                continue
        chosen.append(art)
    return chosen


def _cache_path(plan: Plan, art: Artefact, spec: FileSpec) -> Path:
    if art.kind == "weights":
        return plan.weights_dir / spec.file
    return plan.cache_dir / art.name / spec.file


def _find_local(from_dir: Path, art: Artefact, spec: FileSpec) -> Path | None:
    candidates = [from_dir]
    if art.dataset:
        candidates[:0] = [from_dir / art.dataset, from_dir / f"{art.dataset}_precomputed_boxes"]
    else:
        candidates += [from_dir / "weights", from_dir / "pretrained_models"]
    for directory in candidates:
        path = directory / spec.file
        if path.is_file():
            return path
    return None


def _locate(base: Path, rel: str, search_under: Path) -> Path:
    """``base/rel``, or the single file of that name under ``search_under`` when the archive's layout differs
    from the recorded one ([inferred] layouts)."""
    path = base / rel
    if path.is_file():
        return path
    found = sorted(search_under.rglob(posixpath.basename(rel))) if search_under.is_dir() else []
    if len(found) == 1:
        return found[0]
    raise DownloadError(f"{rel}: not found after extraction" + (f" ({len(found)} candidates)" if found else ""))


def install(art: Artefact, plan: Plan, files: list[Path], shas: list[str], log: Log = log_to_stderr) -> None:
    """Extract / convert a fetched artefact into its place; skipped when its install record matches."""
    from fasrnet.data import boxes as boxes_mod

    if art.kind == "weights":
        return
    assert art.dataset is not None
    dataset_dir = plan.dest / art.dataset
    record = plan.cache_dir / art.name / ".installed.json"
    state = {"sha256": shas, "target": str(dataset_dir.resolve()), "entries": [], "outputs": []}
    try:
        old = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = None
    if (isinstance(old, dict) and old.get("sha256") == shas and old.get("target") == state["target"]
            and all((dataset_dir / art.extract_to / e).exists() for e in old.get("entries", []))
            and all((dataset_dir / o).exists() for o in old.get("outputs", []))):
        log(f"{art.name}: already installed, skipped")
        return
    if art.archive:
        target = dataset_dir / art.extract_to
        log(f"{art.name}: extracting into {target}")
        state["entries"] = extract_archive(files, target, art.archive, art.strip_prefix, label=art.name)
    for step in art.convert:
        search = dataset_dir / art.extract_to
        in_path = files[0] if step.in_ == "@file" else _locate(dataset_dir, step.in_, search)
        ann = _locate(dataset_dir, step.ann, search) if step.ann else None
        stats = boxes_mod.convert(step.from_format, in_path, dataset_dir / step.out, ann=ann)
        log(f"{art.name}: {stats.written} boxes written to {step.out} ({stats.read} read, "
            f"{stats.dropped_category} with category_id ≠ 1 dropped)")
        state["outputs"].append(step.out)
    write_json(record, state, indent=1)


def acquire(art: Artefact, plan: Plan, from_dir: Path | None = None, log: Log = log_to_stderr) -> bool:
    """Fetch (or adopt from ``from_dir``) and install one artefact. Returns False when ``from_dir`` lacks it."""
    files, shas = [], []
    urls = resolve_urls(art, plan.mirror, plan.environ)
    local = [(_find_local(from_dir, art, spec) if from_dir else None) for spec in art.files]
    if from_dir is not None and any(p is None for p in local):
        have = all(verified_sha(_cache_path(plan, art, s), s) for s in art.files)
        if not have:
            found = sum(p is not None for p in local)
            if found:
                missing = [s.file for s, p in zip(art.files, local) if p is None]
                log(f"{art.name}: only {found} of {len(local)} parts in {from_dir}; missing {', '.join(missing)}")
            return False
    if from_dir is None and "offline" in art.status and urls == [f.url for f in art.files]:
        log(f"{art.name}: note: the recorded host is offline ({art.status.split(';')[0]}); {source_hint(art)}")
    for spec, url, src in zip(art.files, urls, local):
        path = _cache_path(plan, art, spec)
        shas.append(ensure_file(spec, path, url, art.name, plan.opts, log, source=src, link=plan.link,
                                hint=source_hint(art)))
        files.append(path)
    install(art, plan, files, shas, log)
    return True
