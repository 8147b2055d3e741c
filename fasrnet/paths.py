"""The pipeline's directory layout: one owner for every path the stages (and Snakemake/DVC) use.

All paths are relative to the working directory (the repository root when run by Snakemake or DVC).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: importing the paths must not load pydantic (a fast CLI)
    from fasrnet.params import Params

#: The params file every command reads unless ``--params`` names another (relative to the working directory).
DEFAULT_PARAMS_FILE = "params.yaml"
CROPS = Path("data/crops")
FEATURES = Path("data/features")
MODELS = Path("models")
PREDICTIONS = Path("results/predictions")
METRICS = Path("results/metrics")
FIGURES = Path("results/figures")
TABLES_FILE = Path("results/tables.md")
SUMMARY_FILE = Path("results/summary.json")
BENCHMARKS_DIR = Path("results/benchmarks")
RUNTIME_FILE = Path("results/runtime.md")
RUNTIME_JSON = Path("results/runtime.json")


#: What ``fasrnet download --from`` adopted, in the dataset directory: kind, labels, label version
#: (docs/data.md, §8). The evaluation copies its labels into the metrics file, and the tables print them.
DATASET_RECORD = "dataset.json"
#: The splits of a PoseTrack data set; PoseTrack21 publishes train and val only (docs/data.md, §8).
SPLITS: tuple[str, ...] = ("train", "val", "test")
_SPLITS_OF: dict[str, tuple[str, ...]] = {"posetrack21": ("train", "val")}


def splits_of(dataset: str) -> tuple[str, ...]:
    """The splits ``dataset`` has: what ``crops`` and ``extract`` build by default, and what ``predict`` writes."""
    return _SPLITS_OF.get(dataset, SPLITS)


def dataset_dir(params: Params, dataset: str) -> Path:
    return Path(params.data.root) / dataset


def dataset_record_for_gt(gt_dir: str | Path) -> Path:
    """Where the :data:`DATASET_RECORD` of the dataset holding ``<root>/<dataset>/annotations/<split>`` is."""
    return Path(gt_dir).absolute().parent.parent / DATASET_RECORD


def annotations_dir(params: Params, dataset: str, split: str) -> Path:
    return dataset_dir(params, dataset) / "annotations" / split


def crops_dir(dataset: str, split: str) -> Path:
    return CROPS / dataset / split


def features_dir(dataset: str, split: str) -> Path:
    return FEATURES / dataset / split


def run_dir(run: str) -> Path:
    return MODELS / run


def predictions_dir(run: str, split: str) -> Path:
    return PREDICTIONS / run / split


#: A validated run's best epoch (``train.val_every``): its head beside ``head.pt``, its predictions of ``<split>`` in
#: ``<split>_best`` beside the final head's, and which epoch it was (``best.json`` in the run's predictions).
BEST_HEAD = "head_best.pt"
BEST_SUFFIX = "_best"
BEST_RECORD = "best.json"
#: ``backbone.bn: train``: the run's drifted backbone beside its head (and the best epoch's beside ``head_best.pt``).
RUN_BACKBONE = "backbone.pt"
BEST_RUN_BACKBONE = "backbone_best.pt"


def best_record(run: str) -> Path:
    return PREDICTIONS / run / BEST_RECORD


def backbone_run_name(dataset: str) -> str:
    """The pseudo-run of the frozen backbone alone (no refinement) on ``dataset``."""
    return f"backbone_{dataset}"


def adapted_backbone_dir(dataset: str) -> Path:
    """``fasrnet adapt-backbone``'s output: the backbone with BatchNorm adapted to ``dataset``'s train crops."""
    return MODELS / "backbone_adapted" / dataset


def adapted_backbone_run_name(dataset: str) -> str:
    """The pseudo-run of the adapted backbone alone on ``dataset`` (the control row of Tables 1 and 3)."""
    return f"backbone_adapted_{dataset}"


def metrics_file(run: str) -> Path:
    return METRICS / f"{run}.json"
