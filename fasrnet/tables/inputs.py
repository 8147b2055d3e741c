"""What ``fasrnet tables`` reads, read once: :func:`read_inputs` returns an immutable :class:`Inputs`.

Inputs (all relative to ``root``, the repository root when run by the workflow):

- ``results/metrics/<run>.json`` (``fasrnet evaluate --out``) for every run of ``params.runs``, and
  ``results/metrics/backbone_<dataset>.json`` for the frozen backbone alone on each dataset;
- ``results/metrics/complexity.json`` (``fasrnet complexity``) for Table 5;
- ``models/<run>/run.json`` (optional: the setting of a measured row — backbone, input size, device, epochs;
  without it the setting is taken from ``params``);
- ``fasrnet/tables/literature.yaml`` (:mod:`fasrnet.tables.literature`): every number quoted from the paper.

Runs are resolved by :func:`fasrnet.runs.resolve_run` (the main setting filled in) and grouped as ``params.runs``
groups them. A missing file is no error here: its rows say "not run"; :func:`missing_inputs` lists every missing
input (``fasrnet tables --strict`` fails on any). A metrics file is checked where its numbers are used.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from fasrnet import paths
from fasrnet.errors import FasrnetError
from fasrnet.evaluate.episodes import SUBSETS
from fasrnet.params import Params
from fasrnet.runs import resolve_run
from fasrnet.tables.literature import Literature, load_literature

#: Table columns as the paper labels them, and the metrics-JSON keys they come from (``columns``).
COLUMNS: tuple[str, ...] = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "mAP")
METRIC_KEYS: tuple[str, ...] = ("Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl", "Total")
#: Which paper dataset (Tables 1/2: "17", Tables 3/4: "18") a dataset of ours stands in for or is.
FAMILY: dict[str, str] = {"syn17": "17", "posetrack17": "17", "syn18": "18", "posetrack18": "18", "posetrack21": "18"}
#: Datasets on the PoseTrack18 videos with other labels: their rows are labelled so and get no Δ to the paper's
#: PoseTrack18 numbers (docs/data.md, §8).
OTHER_LABELS: dict[str, str] = {"posetrack21": "PoseTrack21 labels"}
PAPER_DATASET: dict[str, str] = {"17": "PoseTrack2017", "18": "PoseTrack2018"}
COMPLEXITY_FILE = paths.METRICS / "complexity.json"
# Beside, not inside, results/metrics/: the tables stage depends on the metrics files it summarises.
SUMMARY_FILE = paths.SUMMARY_FILE
TABLES_FILE = paths.TABLES_FILE

Values = tuple[float | None, ...]


# ----------------------------------------------------------------------------------------------------------
# Runs


@dataclass(frozen=True)
class Resolved:
    """A ``params.runs`` entry with the main setting filled in (:func:`fasrnet.runs.resolve_run`) and its group."""

    name: str
    dataset: str
    group: str
    variant: str
    alpha: float
    seed: int


def resolve(params: Params, name: str) -> Resolved:
    return Resolved(**asdict(resolve_run(params, name)), group=params.runs[name].group)


def runs_of(params: Params, group: str) -> list[Resolved]:
    """The runs of one group of ``params.runs``, in params order."""
    return [resolve(params, name) for name, r in params.runs.items() if r.group == group]


def main_runs(params: Params) -> list[Resolved]:
    """Main runs on a dataset that maps to a paper table (Tables 1–4)."""
    return [r for r in runs_of(params, "main") if r.dataset in FAMILY]


def backbone_datasets(params: Params) -> list[str]:
    """The datasets with a backbone-alone metrics file the tables read: the main runs', then ``data.datasets``."""
    return list(dict.fromkeys([r.dataset for r in main_runs(params)] + list(params.data.datasets)))


def expected_inputs(params: Params) -> list[Path]:
    """Every file the tables read (relative paths), in a fixed order: run metrics, backbone metrics, Table 5."""
    files = [paths.metrics_file(name) for name in params.runs]
    for ds in dict.fromkeys(r.dataset for r in main_runs(params)):
        files.append(paths.metrics_file(paths.backbone_run_name(ds)))
        files.append(paths.metrics_file(paths.adapted_backbone_run_name(ds)))
    files.append(COMPLEXITY_FILE)
    return files


def missing_inputs(params: Params, root: str | Path = ".") -> list[Path]:
    """The inputs of :func:`expected_inputs` that do not exist under ``root``."""
    return [f for f in expected_inputs(params) if not (Path(root) / f).is_file()]


# ----------------------------------------------------------------------------------------------------------
# Measured rows


def epochs_text(n: int) -> str:
    """``1 epoch``, ``3 epochs``."""
    return f"{n} epoch" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class Measured:
    """One measured row: a run (or the backbone alone) and its eight numbers, or None when not run."""

    name: str
    metrics_path: Path  # relative, as printed
    values: Values | None
    setting: str
    exists: bool = False  # the metrics file exists (values may still lack a Total: no GT joints at all)

    @property
    def mAP(self) -> float | None:
        return None if self.values is None else self.values[-1]

    def missing_text(self) -> str:
        if self.exists:
            return f"no mAP (Total is null in {self.metrics_path.as_posix()})"
        return f"not run (missing {self.metrics_path.as_posix()})"


def metric_values(rel: Path, obj: Any) -> Values | None:
    """The eight numbers of a parsed metrics JSON (``rel``: its path, for errors); None when there is no file."""
    if obj is None:
        return None
    cols = obj.get("columns") if isinstance(obj, dict) else None
    if not isinstance(cols, dict) or any(k not in cols for k in METRIC_KEYS):
        raise FasrnetError(f"{rel}: expected a metrics JSON with columns {', '.join(METRIC_KEYS)} "
                           "(written by `fasrnet evaluate --out`)")
    values = []
    for k in METRIC_KEYS:
        v = cols[k]
        if v is not None and not isinstance(v, (int, float)):
            raise FasrnetError(f"{rel}: columns.{k} is {v!r}, expected a number or null")
        values.append(None if v is None or math.isnan(v) else float(v))
    return tuple(values)


def subset_values(rel: Path, obj: Any) -> dict[str, tuple[float | None, int]] | None:
    """``{"degraded" | "clean": (mAP, evaluated frames)}`` from a parsed metrics JSON's ``subsets`` entry (written
    by ``fasrnet evaluate`` for synthetic sets), or None."""
    sub = obj.get("subsets") if isinstance(obj, dict) else None
    if not isinstance(sub, dict):
        return None
    out = {}
    for key in SUBSETS:
        entry = sub.get(key)
        total = (entry or {}).get("columns", {}).get("Total") if isinstance(entry, dict) else None
        if total is not None and not isinstance(total, (int, float)):
            raise FasrnetError(f"{rel}: subsets.{key}.columns.Total is {total!r}, expected a number or null")
        frames = entry.get("n_eval_frames", 0) if isinstance(entry, dict) else 0
        out[key] = (None if total is None or math.isnan(total) else float(total), int(frames))
    return out


# ----------------------------------------------------------------------------------------------------------
# The inputs object


@dataclass(frozen=True)
class Inputs:
    """Everything the tables and figures read under ``root``, read once (:func:`read_inputs`): the literature,
    each metrics file's parsed JSON (None: no file; ``present``: the files that exist), each run's ``run.json``,
    ``complexity.json`` and the :func:`missing_inputs`. Its methods derive rows from them; none reads a file."""

    params: Params
    root: Path
    literature: Literature
    metrics: Mapping[str, Any]
    present: frozenset[str]
    run_infos: Mapping[str, dict[str, Any] | None]
    complexity: dict[str, Any] | None
    missing: tuple[Path, ...]

    def _input_size(self, info: dict[str, Any] | None) -> str:
        size = (info or {}).get("input_size") or list(self.params.heatmap.input_size)
        return f"{size[0]}×{size[1]}"

    def _labels(self, name: str) -> list[str]:
        """The label version a metrics file was measured on (``labels``, from the adopted dataset's record)."""
        obj = self.metrics[name]
        labels = obj.get("labels") if isinstance(obj, dict) else None
        return [labels] if isinstance(labels, str) and labels else []

    def _measured(self, name: str, setting: str) -> Measured:
        rel = paths.metrics_file(name)
        return Measured(name, rel, metric_values(rel, self.metrics[name]), setting, name in self.present)

    def run(self, name: str) -> Measured:
        """A run's measured row, with its setting from ``run.json`` (or from ``params`` without one)."""
        rel = paths.metrics_file(name)
        values = metric_values(rel, self.metrics[name])
        r = resolve(self.params, name)
        info = self.run_infos[name]
        if info is not None:
            parts = [f"{r.dataset} val", *self._labels(name), str(info.get("backbone", "?")), self._input_size(info),
                     str(info.get("device", "?"))]
            if info.get("epochs") is not None:
                parts.append(epochs_text(info["epochs"]))
        else:
            parts = [f"{r.dataset} val", *self._labels(name), f"HRNet-W{self.params.model.backbone_width}",
                     self._input_size(None),
                     f"device n/a (no {(paths.run_dir(name) / 'run.json').as_posix()})"]
        return Measured(name, rel, values, " · ".join(parts), name in self.present)

    def backbone(self, dataset: str) -> Measured:
        """The frozen backbone alone on ``dataset``."""
        name = paths.backbone_run_name(dataset)
        setting = " · ".join([f"{dataset} val", *self._labels(name), f"HRNet-W{self.params.model.backbone_width}",
                              self._input_size(None), "frozen backbone, single frame, no refinement"])
        return self._measured(name, setting)

    def best_epoch(self, name: str) -> tuple[int, Measured] | None:
        """A validated run's best epoch (``train.val_every``; ``fasrnet evaluate`` scores it beside the final one):
        (epoch, its measured row), or None."""
        obj = self.metrics.get(name)
        best = obj.get("best_epoch") if isinstance(obj, dict) else None
        if not isinstance(best, dict):
            return None
        rel = paths.metrics_file(name)
        info = self.run_infos.get(name) or {}
        of = f" of {info['epochs']}" if info.get("epochs") is not None else ""
        setting = (f"{self.run(name).setting} · the epoch with the highest val mAP ({best.get('epoch')}{of}), "
                   "chosen on the split it is scored on")
        return int(best.get("epoch", 0)), Measured(name, rel, metric_values(rel, best), setting, True)

    def backbone_adapted(self, dataset: str) -> Measured:
        """The control the paper lacks: the backbone alone with BatchNorm adapted to ``dataset``'s train crops."""
        name = paths.adapted_backbone_run_name(dataset)
        setting = " · ".join([f"{dataset} val", *self._labels(name), f"HRNet-W{self.params.model.backbone_width}",
                              self._input_size(None), "BatchNorm statistics of the train crops "
                              "(`fasrnet adapt-backbone`), single frame, no refinement"])
        return self._measured(name, setting)

    def subsets(self, name: str) -> dict[str, tuple[float | None, int]] | None:
        """A metrics file's degraded / clean frames entry (:func:`subset_values`), or None."""
        return subset_values(paths.metrics_file(name), self.metrics[name])

    def seed_results(self) -> list[Measured]:
        """The seed runs (Table 10), in params order."""
        return [self.run(r.name) for r in runs_of(self.params, "seed")]

    def alpha_results(self) -> list[tuple[float, Measured]]:
        """The α runs (Table 9) by α."""
        return sorted(((r.alpha, self.run(r.name)) for r in runs_of(self.params, "alpha")), key=lambda t: t[0])


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FasrnetError(f"{path}: cannot read JSON ({exc})") from None


def _optional_json(path: Path) -> Any:
    return _read_json(path) if path.is_file() else None


def read_inputs(params: Params, root: str | Path = ".") -> Inputs:
    """Read the literature and every metrics file, ``run.json`` and ``complexity.json`` under ``root``."""
    root = Path(root)
    literature = Literature(load_literature())
    metrics: dict[str, Any] = {}
    run_infos: dict[str, Any] = {}
    for name in params.runs:
        metrics[name] = _optional_json(root / paths.metrics_file(name))
        run_infos[name] = _optional_json(root / paths.run_dir(name) / "run.json")
    for ds in backbone_datasets(params):
        for name in (paths.backbone_run_name(ds), paths.adapted_backbone_run_name(ds)):
            metrics[name] = _optional_json(root / paths.metrics_file(name))
    present = frozenset(name for name in metrics if (root / paths.metrics_file(name)).is_file())
    return Inputs(params, root, literature, MappingProxyType(metrics), present, MappingProxyType(run_infos),
                  _optional_json(root / COMPLEXITY_FILE), tuple(missing_inputs(params, root)))
