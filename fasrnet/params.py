"""Typed, validated pipeline parameters (``params.yaml``).

Schema library: **pydantic v2**. The schema is Python classes the stages use directly
(``params.loss.alpha`` is a typed float, not a dict lookup), so there is one source of truth for names, types,
ranges and defaults; jsonschema would need a separate schema document plus dict access everywhere.

Every entry point calls :func:`load_params`; errors name the file, the dotted key, the value and what was
expected, and an unknown key is answered with the closest valid one (``loss.alpah`` → ``loss.alpha``).
Sections are grouped by stage, so each DVC stage can list exactly the keys it reads.
"""

from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from fasrnet.errors import FasrnetError
from fasrnet.paths import DEFAULT_PARAMS_FILE

#: The data sets a run can use (embedded synthetic default, the paper's, and PoseTrack21: the PoseTrack18 videos
#: with the labels its authors still hand out, docs/data.md, §8).
DatasetName = Literal["syn17", "syn18", "posetrack17", "posetrack18", "posetrack21"]
#: The head variants of Tables 6-8 (fasrnet.models.fasrnet.VARIANTS describes each; a test keeps the two equal).
VariantName = Literal["fasrnet", "baseline", "pcda", "fda", "no_att", "no_fr", "smd", "no_prev", "no_next"]
#: torchvision's COCO person detectors the demo can use (``fasrnet.models.detector.DETECTORS`` holds them as data).
DetectorName = Literal["fasterrcnn_resnet50_fpn", "fasterrcnn_resnet50_fpn_v2", "fasterrcnn_mobilenet_v3_large_fpn",
                       "fasterrcnn_mobilenet_v3_large_320_fpn"]
#: The groups of ``runs``, one per kind of table: main (Tables 1-4), ablation (6-8), alpha (9), seed (10).
RunGroup = Literal["main", "ablation", "alpha", "seed"]
RUN_GROUPS: tuple[str, ...] = get_args(RunGroup)


class ParamsError(FasrnetError):
    """params.yaml (or an override) is invalid; the message lists every problem."""


# Names and paths reach shell commands (Snakemake rules, dvc.yaml, whose `${...}` DVC interpolates unescaped),
# so they are held to alphabets without shell metacharacters; the commands quote them as well (README, Parameters).
NAME_ALPHABET = "ASCII letters A-Z a-z, digits 0-9, '_' and '-', not starting with '-'"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
PATH_ALPHABET = "letters, digits, space and ._-/+@=,:~, not starting with '-' or a space"
_PATH = re.compile(r"[\w .\-/+@=,:~]+")
#: Seeds go to numpy/torch generators, which take at most 64 bits; 32 keeps every consumer happy.
SEED_LIMIT = 2**32


def check_name(kind: str, name: str) -> str:
    """``name`` if it is a safe run name, else ValueError naming ``kind``, the value and the alphabet."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{kind} {name!r}: expected {NAME_ALPHABET}")
    return name


def _safe_path(value: str) -> str:
    if value and (not _PATH.fullmatch(value) or value.startswith(("-", " "))):
        raise ValueError(f"path {value!r}: expected {PATH_ALPHABET}")
    return value


def _nonempty_path(value: str) -> str:
    if not value:
        raise ValueError(f"path {value!r}: expected a non-empty path")
    return _safe_path(value)


#: A run name (a dict key under ``runs.<group>``): it becomes a DVC stage name, a Snakemake wildcard and paths.
RunName = Annotated[str, AfterValidator(lambda name: check_name("run name", name))]
#: A path that may reach a shell command ("" means unset where a field allows it).
SafePath = Annotated[str, AfterValidator(_safe_path)]
RequiredPath = Annotated[str, AfterValidator(_nonempty_path)]
Seed = Annotated[int, Field(ge=0, lt=SEED_LIMIT)]


class Section(BaseModel):
    """Base for every section: unknown keys are errors, no type coercion (a YAML ``"0.3"`` is not 0.3)."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True)


class DataParams(Section):
    """Where datasets live and which ones the pipeline runs."""

    root: RequiredPath = "data/raw"
    datasets: list[DatasetName] = Field(
        default_factory=lambda: ["syn17", "syn18"], min_length=1
    )


class DownloadParams(Section):
    """``fasrnet download``: where fetched files go and how transfers retry (``fasrnet/data/download/``).

    URLs may carry tokens: prefer the ``FASRNET_MIRROR_<NAME>`` / ``FASRNET_<GROUP>_MIRROR`` environment
    variables to ``mirror`` (a base URL for every artefact; ``{file}`` in it is replaced by the file name).
    """

    what: list[Literal["images", "labels", "boxes", "weights"]] = Field(
        default_factory=lambda: ["images", "labels", "boxes", "weights"], min_length=1
    )
    boxes_source: Literal["mmpose", "dcpose"] = "mmpose"
    weights: list[str] = Field(default_factory=lambda: ["hrnet_w48_mmpose1"])
    cache_dir: RequiredPath = "data/downloads"
    weights_dir: RequiredPath = "data/weights"
    mirror: str = ""
    link: bool = True
    retries: int = Field(default=5, ge=0, le=100)
    backoff_s: float = Field(default=2.0, ge=0.0, le=3600.0)
    backoff_max_s: float = Field(default=60.0, ge=0.0, le=3600.0)
    timeout_s: float = Field(default=60.0, gt=0.0, le=3600.0)
    #: The workflow's acquire stage adopts a copy from here when set (``fasrnet download --from``), else fetches.
    from_dir: SafePath = ""


class SplitCounts(Section):
    """A number per split (videos per split, for instance)."""

    train: int = Field(ge=1)
    val: int = Field(ge=1)
    test: int = Field(ge=1)


class SynthLabelParams(Section):
    """Which frames of a synthetic video are labeled, PoseTrack style (``synthesize.labels``)."""

    train_dense_fraction: float = Field(default=0.6, gt=0.0, le=1.0)
    val_stride: int = Field(default=4, ge=1, le=100)
    val_dense_fraction: float = Field(default=0.3, ge=0.0, le=1.0)
    min_joints: int = Field(default=2, ge=1, le=15)


class SynthDetectionParams(Section):
    """Noisy person boxes for val/test, the stand-in for the public precomputed boxes (``synthesize.detections``)."""

    jitter: float = Field(default=0.05, ge=0.0, le=0.5)
    miss_rate: float = Field(default=0.03, ge=0.0, le=1.0)
    degraded_miss_rate: float = Field(default=0.15, ge=0.0, le=1.0)
    false_positives_per_frame: float = Field(default=0.3, ge=0.0, le=20.0)
    true_score_min: float = Field(default=0.55, ge=0.0, le=1.0)
    true_score_max: float = Field(default=0.99, ge=0.0, le=1.0)
    false_score_min: float = Field(default=0.05, ge=0.0, le=1.0)
    false_score_max: float = Field(default=0.6, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _score_ranges(self) -> SynthDetectionParams:
        for kind in ("true", "false"):
            lo, hi = getattr(self, f"{kind}_score_min"), getattr(self, f"{kind}_score_max")
            if lo > hi:
                raise ValueError(f"{kind}_score_min ({lo}) must not exceed {kind}_score_max ({hi})")
        return self


class SynthesizeParams(Section):
    """Synthetic PoseTrack-format data (the embedded default's stand-in for PoseTrack; ``fasrnet/data/synthetic/``).

    ``degraded_fraction`` is the approximate share of person-frames hit by a degradation episode (motion blur,
    defocus or occlusion, on one person or on the whole frame) lasting 1..``episode_max_frames`` frames, with a
    clean frame between two episodes of the same person; episode spacing caps it at about 0.7.
    """

    seed: Seed = 0
    image_width: int = Field(default=320, ge=64, le=4096)
    image_height: int = Field(default=240, ge=64, le=4096)
    jpeg_quality: int = Field(default=90, ge=10, le=100)
    videos: SplitCounts = Field(default_factory=lambda: SplitCounts(train=32, val=8, test=2))
    frames_per_video: int = Field(default=32, ge=8, le=9999)
    min_people: int = Field(default=1, ge=1, le=16)
    max_people: int = Field(default=4, ge=1, le=16)
    person_height_min: float = Field(default=0.4, ge=0.1, le=2.0)
    person_height_max: float = Field(default=0.85, ge=0.1, le=2.0)
    walker_fraction: float = Field(default=0.35, ge=0.0, le=1.0)
    exit_fraction: float = Field(default=0.25, ge=0.0, le=1.0)
    crowd_fraction: float = Field(default=0.3, ge=0.0, le=1.0)
    degraded_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    frame_degradation_share: float = Field(default=0.3, ge=0.0, le=1.0)
    episode_max_frames: int = Field(default=2, ge=1, le=100)
    motion_blur_weight: float = Field(default=1.0, ge=0.0, le=100.0)
    defocus_weight: float = Field(default=1.0, ge=0.0, le=100.0)
    occlusion_weight: float = Field(default=1.0, ge=0.0, le=100.0)
    blur_strength: float = Field(default=3.0, ge=0.1, le=5.0)
    labels: SynthLabelParams = Field(default_factory=SynthLabelParams)
    detections: SynthDetectionParams = Field(default_factory=SynthDetectionParams)

    @model_validator(mode="after")
    def _ranges(self) -> SynthesizeParams:
        if self.min_people > self.max_people:
            raise ValueError(
                f"min_people ({self.min_people}) must not exceed max_people ({self.max_people})"
            )
        if self.person_height_min > self.person_height_max:
            raise ValueError(
                f"person_height_min ({self.person_height_min}) must not exceed "
                f"person_height_max ({self.person_height_max})"
            )
        if self.motion_blur_weight + self.defocus_weight + self.occlusion_weight <= 0:
            raise ValueError("motion_blur_weight, defocus_weight and occlusion_weight must not all be 0")
        return self


class HeatmapParams(Section):
    """Crop and heatmap geometry (``fasrnet/codecs/heatmap.py``): crops, extract, train and predict read it.

    Paper setting: ``input_size: [384, 288]`` (heatmaps 96×72). ``sigma`` is stated at a 96-pixel-high heatmap
    (the code's 3; the paper says radius 2) and scaled with the heatmap height, so at 128×96 (heatmaps 32×24)
    the Gaussian has σ = 1 heatmap pixel and covers the same fraction of the person.
    """

    input_size: list[int] = Field(default_factory=lambda: [96, 64], min_length=2, max_length=2)
    sigma: float = Field(default=3.0, gt=0.0, le=20.0)
    target: Literal["subpixel", "round"] = "subpixel"
    box_enlarge: float = Field(default=1.25, ge=1.0, le=3.0)
    shift: float = Field(default=0.25, ge=0.0, le=0.5)
    flip_test: bool = False

    @model_validator(mode="after")
    def _input_size(self) -> HeatmapParams:
        bad = [v for v in self.input_size if v < 32 or v > 2048 or v % 32]
        if bad:
            raise ValueError(
                f"input_size {self.input_size}: [height, width] must be multiples of 32 in [32, 2048] "
                "(HRNet's four branches halve it five times)"
            )
        return self


class ModelParams(Section):
    """The network: HRNet backbone width and the FaSRnet head variant (``fasrnet/models``).

    Paper setting: ``backbone_width: 48`` (HRNet-W48, the official COCO checkpoint), ``srm_width: 64`` and
    ``residual: false`` (the paper's head; the defaults are the embedded default's CPU-sized head). Variants are
    the rows of Tables 6–8 (``fasrnet.models.fasrnet.VARIANTS`` says what each removes).
    """

    backbone_width: int = Field(default=16, ge=1, le=64)
    #: HRNet family: standard (the official pose HRNet; the paper's W48) or lite (shallow, for CPU runs).
    backbone_arch: Literal["standard", "lite"] = "lite"
    variant: VariantName = "fasrnet"
    srm_dilations: list[Annotated[int, Field(ge=1, le=32)]] = Field(default_factory=lambda: [1], min_length=1)
    offset_conv: Literal["padding1", "dilated"] = "padding1"
    init_std: float = Field(default=0.001, gt=0.0, le=1.0)
    #: The SRM's width W (combine channels; RSB branches scaled by W/64). 64: the paper's module.
    srm_width: int = Field(default=16, ge=1, le=256)
    #: Residual refinement: H^r = H_t + the 1x1 conv of the fused feature, H^final = H^r + the SRM's output,
    #: so the head starts as the frozen backbone and learns corrections (false: the paper's head;
    #: docs/synthetic.md says why the embedded default uses it).
    residual: bool = True
    dcn_backend: Literal["auto", "torchvision", "grid_sample"] = "auto"


class LossParams(Section):
    """Eq. 19: ``alpha * L(H^r) + (1 - alpha) * L(H^final)``."""

    alpha: float = Field(default=0.4, ge=0.0, le=1.0)


class CropsParams(Section):
    """The person-crop cache (``fasrnet/data/crops.py``; which boxes, ``eval_boxes`` and ``det_score_threshold``:
    ``fasrnet/data/persons.py``).

    Augmentation: ``clipped_gaussian`` is the official code's (scale clip(N·0.35+1, 0.65, 1.35), rotation
    clip(N·45°, ±90°) with probability 0.6); ``uniform`` is the paper's wording (rotation ±45°, scale 0.65–1.35).
    """

    eval_boxes: Literal["detections", "gt"] = "detections"
    det_score_threshold: float = Field(default=0.2, ge=0.0, le=1.0)
    train_views: int = Field(default=1, ge=1, le=64)
    augmentation: Literal["clipped_gaussian", "uniform"] = "clipped_gaussian"
    scale_factor: float = Field(default=0.35, ge=0.0, lt=1.0)
    rotation: float = Field(default=45.0, ge=0.0, le=180.0)
    rotation_prob: float = Field(default=0.6, ge=0.0, le=1.0)
    flip_prob: float = Field(default=0.5, ge=0.0, le=1.0)
    #: HRNet's half-body augmentation (docs/data.md): with this probability, a train person with more than
    #: ``half_body_min_joints`` visible joints is cut with the box of its upper or lower body instead (paper
    #: setting: the official 0.3 and 8). 0: never, and nothing drawn for it.
    half_body_prob: float = Field(default=0.0, ge=0.0, le=1.0)
    half_body_min_joints: int = Field(default=8, ge=0, le=17)
    shard_size: int = Field(default=256, ge=1, le=100000)
    seed: Seed = 0


class BackboneParams(Section):
    """Where the frozen backbone comes from.

    ``pretrain`` (embedded default): ``fasrnet pretrain-backbone`` trains the small HRNet on single synthetic train
    crops (standing in for COCO pretraining) and writes ``checkpoint``. ``checkpoint``: a downloaded HRNet
    checkpoint (official or mmpose layout) at ``checkpoint`` is used as it is (paper setting).
    """

    source: Literal["pretrain", "checkpoint"] = "pretrain"
    checkpoint: RequiredPath = "models/backbone/hrnet.pth"
    epochs: int = Field(default=6, ge=1, le=1000)
    batch_size: int = Field(default=16, ge=1, le=4096)
    lr: float = Field(default=0.002, gt=0.0, le=1.0)
    lr_steps: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [5])
    seed: Seed = 0
    #: Train videos of the backbone's own pretraining set (``synpre``: the generator's videos under a seed of
    #: their own, never the heads' train videos; stands in for COCO). ``fasrnet pretrain-backbone --datasets``
    #: pretrains on those datasets' train crops instead (by hand only: the workflow stage never does).
    pretrain_videos: int = Field(default=48, ge=1, le=10000)
    #: ``synthesize.degraded_fraction`` of the pretraining set (null: the heads' own). 0 by default: COCO, which
    #: the paper's HRNet was pretrained on, is still photographs with little of the motion blur and defocus of
    #: video frames, and a backbone that has learned to guess through degradations leaves the neighbours little
    #: to add (docs/synthetic.md).
    pretrain_degraded_fraction: float | None = Field(default=0.0, ge=0.0, le=1.0)
    #: The frozen backbone's BatchNorm (docs/model.md, §12): ``eval`` normalises with the checkpoint's statistics
    #: (the feature cache's way); ``adapt`` re-estimates them over each dataset's train crops first
    #: (``fasrnet adapt-backbone``) and extracts with them; ``train`` keeps BatchNorm in train mode during online
    #: training, its running statistics moving as the official code's do (needs ``train.online_backbone``).
    bn: Literal["eval", "adapt", "train"] = "eval"


class ExtractParams(Section):
    """The frozen-backbone feature cache (``fasrnet/features.py``)."""

    batch_size: int = Field(default=64, ge=1, le=4096)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: The backbone's precision (fasrnet/inference.py): fp16 or bf16 run channels_last; auto = fp16 on CUDA, fp32 on
    #: a CPU. The cache stores fp16 either way. Online training runs the backbone in it too.
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    #: torch.compile of the backbone (its first batch compiles).
    compile: bool = False


class TrainParams(Section):
    """Head training on the feature cache (``fasrnet/train.py``). Paper: Adam, lr 1e-4, 30 epochs, batch 64,
    ×0.1 at epochs 8, 16, 20, 25 (the official code: 9, 17, 21, 25). The embedded default scales the schedule
    down to a few epochs on a tiny head."""

    epochs: int = Field(default=1, ge=1, le=1000)
    batch_size: int = Field(default=8, ge=1, le=4096)
    lr: float = Field(default=1e-3, gt=0.0, le=1.0)
    lr_steps: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [1])
    lr_factor: float = Field(default=0.01, gt=0.0, le=1.0)
    #: step: lr × lr_factor after each of lr_steps (epochs; the paper's); cosine: from lr down to lr × lr_factor
    #: along a half cosine over every training step (lr_steps unused), for a run of one or two epochs.
    lr_schedule: Literal["step", "cosine"] = "cosine"
    seed: Seed = 0
    val_every: int = Field(default=0, ge=0, le=1000)
    online_backbone: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # On a GPU: the share of its free memory a split's feature cache may take to be loaded onto it once (batches
    # are then gathered there; fasrnet/batches.py). 0: always stream from the host. Changes speed, not results.
    device_store_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    # The head's step (docs/gpu.md): bf16 autocast (loss and optimizer state stay fp32), channels_last tensors, and
    # torch.compile of the head. Each changes the last digits of the weights; the embedded default keeps fp32.
    precision: Literal["fp32", "bf16"] = "fp32"
    channels_last: bool = False
    compile: bool = False
    # Online mode: worker processes that cut the crops (decode JPEGs, warp) ahead of the step; 0: the training
    # thread cuts them. Changes speed, not results (each crop's augmentation is seeded by seed, epoch and crop).
    online_workers: int = Field(default=0, ge=0, le=64)


class RunParams(Section):
    """One training run behind a table row. Unset fields take the main setting: ``variant`` → model.variant,
    ``alpha`` → loss.alpha, ``seed`` → train.seed (so ``-S loss.alpha=…`` touches exactly the runs without
    their own alpha). Its group is the ``runs`` section it is listed under."""

    dataset: DatasetName
    variant: VariantName | None = None
    alpha: float | None = Field(default=None, ge=0.0, le=1.0)
    seed: Seed | None = None
    _group: str = PrivateAttr(default="main")

    @property
    def group(self) -> str:
        """main (Tables 1-4), ablation (Tables 6-8), alpha (Table 9) or seed (Table 10)."""
        return self._group


ABLATION_VARIANTS: tuple[str, ...] = tuple(v for v in get_args(VariantName) if v != "fasrnet")


#: The embedded default's Table 9 and Table 10 grids: five of the paper's ten α values (in tenths) and five seeds,
#: so the whole default runs in minutes on two cores (18 distinct trainings, not 28). ``params-paper.yaml`` lists
#: the paper's ten of each; the tables say which grid ran (docs/synthetic.md, "Run grid").
DEFAULT_ALPHA_TENTHS = (0, 2, 4, 6, 8)
DEFAULT_SEEDS = (0, 1, 2, 3, 4)


class RunsParams(Section):
    """The runs behind the tables, grouped by table (DVC iterates each group with ``foreach``). Names are unique
    across groups and avoid dots (``alpha_04`` is α = 0.4) so DVC param paths and stage names stay unambiguous.
    Behaves as a mapping run name → :class:`RunParams` over all groups."""

    main: dict[RunName, RunParams] = Field(
        default_factory=lambda: {f"main_{ds}": RunParams(dataset=ds) for ds in ("syn17", "syn18")}, min_length=1)
    ablation: dict[RunName, RunParams] = Field(default_factory=lambda: {
        f"ablation_{v}": RunParams(dataset="syn17", variant=v, alpha=0.4) for v in ABLATION_VARIANTS})
    alpha: dict[RunName, RunParams] = Field(default_factory=lambda: {
        f"alpha_{k:02d}": RunParams(dataset="syn17", variant="fasrnet", alpha=k / 10) for k in DEFAULT_ALPHA_TENTHS})
    seed: dict[RunName, RunParams] = Field(default_factory=lambda: {
        f"seed_{k}": RunParams(dataset="syn17", variant="fasrnet", alpha=0.4, seed=k) for k in DEFAULT_SEEDS})

    @model_validator(mode="after")
    def _groups(self) -> RunsParams:
        seen: dict[str, str] = {}
        for group in RUN_GROUPS:
            for name, run in getattr(self, group).items():
                if name in seen:
                    raise ValueError(f"run {name!r} is listed under both runs.{seen[name]} and runs.{group}")
                seen[name] = group
                run._group = group
        return self

    def items(self) -> list[tuple[str, RunParams]]:
        return [(name, run) for group in RUN_GROUPS for name, run in getattr(self, group).items()]

    def __iter__(self):  # type: ignore[override]  # iterate run names, like a mapping
        return iter([name for name, _ in self.items()])

    def __len__(self) -> int:
        return len(self.items())

    def __contains__(self, name: object) -> bool:
        return any(name == n for n, _ in self.items())

    def __getitem__(self, name: str) -> RunParams:
        for n, run in self.items():
            if n == name:
                return run
        raise KeyError(name)

    def group(self, name: str) -> dict[str, RunParams]:
        return getattr(self, name)

    def named(self, name: str) -> RunParams:
        """The run ``name``; an unknown name is a :class:`ParamsError` with the closest defined name."""
        if name not in self:
            close = difflib.get_close_matches(name, list(self), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ParamsError(f"unknown run {name!r}; {hint}params.yaml defines: {', '.join(self)}")
        return self[name]


class DemoParams(Section):
    """``fasrnet demo`` (``fasrnet/demo``, docs/demo.md): a trained run on one clip. No workflow stage reads it.

    Person boxes come from ``--boxes`` or from ``detector`` (weights through the download manifest:
    ``fasrnet download --artefact detector_<name>``); either way ``crops.det_score_threshold`` keeps the
    boxes, as in the crops stage.
    """

    detector: DetectorName = "fasterrcnn_resnet50_fpn"
    #: Frame rate of overlay.mp4 when VIDEO is a folder of frames (a video file keeps its own).
    fps: float = Field(default=25.0, gt=0.0, le=240.0)
    #: Joints scoring below this (heatmap maximum x box score) are not drawn in overlay.mp4; poses.json keeps all.
    draw_threshold: float = Field(default=0.1, ge=0.0, le=1.0)
    #: Frames shorter than this are scaled up by a whole factor in overlay.mp4 (lines and labels stay legible).
    panel_height_min: int = Field(default=480, ge=1, le=4320)
    #: Person crops per backbone and head forward.
    batch_size: int = Field(default=16, ge=1, le=4096)


class Params(Section):
    """The whole ``params.yaml``."""

    data: DataParams = Field(default_factory=DataParams)
    download: DownloadParams = Field(default_factory=DownloadParams)
    synthesize: SynthesizeParams = Field(default_factory=SynthesizeParams)
    crops: CropsParams = Field(default_factory=CropsParams)
    backbone: BackboneParams = Field(default_factory=BackboneParams)
    extract: ExtractParams = Field(default_factory=ExtractParams)
    heatmap: HeatmapParams = Field(default_factory=HeatmapParams)
    model: ModelParams = Field(default_factory=ModelParams)
    loss: LossParams = Field(default_factory=LossParams)
    train: TrainParams = Field(default_factory=TrainParams)
    runs: RunsParams = Field(default_factory=RunsParams)
    demo: DemoParams = Field(default_factory=DemoParams)

    @model_validator(mode="after")
    def _runs_use_configured_datasets(self) -> Params:
        for name, run in self.runs.items():
            if run.dataset not in self.data.datasets:
                raise ValueError(f"runs.{run.group}.{name}.dataset is {run.dataset!r}, which is not in data.datasets "
                                 f"{self.data.datasets}")
        if self.backbone.bn == "train" and not self.train.online_backbone:
            raise ValueError("backbone.bn is 'train', but train.online_backbone is false: the feature cache holds the "
                             "outputs of one fixed backbone, so its BatchNorm cannot train; set "
                             "train.online_backbone: true, or backbone.bn: eval or adapt")
        return self


# --------------------------------------------------------------------------------------------------------------
# Loading and error reporting


def _valid_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted key the schema accepts (sections and leaves)."""
    keys = []
    for name, field in model.model_fields.items():
        dotted = f"{prefix}{name}"
        keys.append(dotted)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys.extend(_valid_keys(ann, dotted + "."))
    return keys


def _expected(error: dict[str, Any]) -> str:
    """Turn pydantic's message into 'expected …' wording."""
    msg = error["msg"]
    for prefix in ("Input should be ", "Value error, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
            return ("expected " + msg) if prefix == "Input should be " else msg
    return msg


def _unknown_keys_line(keys: list[str], source: str) -> str:
    """One line for every unknown key, each with the closest valid key (a typo'd file gives one line, not eight)."""
    valid = _valid_keys(Params)
    hints = []
    for key in keys:
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
        hints.append((key, close[0] if close else None))
    if len(hints) == 1:
        key, close = hints[0]
        return f"{source}: unknown key {key}" + (f"; did you mean {close}?" if close else "")
    listed = ", ".join(key + (f" (did you mean {close}?)" if close else "") for key, close in hints)
    return f"{source}: {len(hints)} unknown keys: {listed}"


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = []
    unknown: list[str] = []
    for err in exc.errors():
        loc = err["loc"]
        if loc[-1:] == ("[key]",):  # a bad mapping key: name the mapping, the message names the key
            loc = loc[:-2]
        key = ".".join(str(p) for p in loc)
        if err["type"] == "extra_forbidden":
            if not unknown:
                lines.append("")  # the unknown keys' line goes where the first of them was reported
            unknown.append(key)
        elif err["type"] == "missing":
            lines.append(f"{source}: {key}: required key is missing")
        elif err["type"] == "value_error":  # a cross-field check: its message says what is wrong
            where = f"{key}: " if key else ""
            lines.append(f"{source}: {where}{_expected(err)}")
        else:
            where = f"{key}: " if key else ""
            lines.append(f"{source}: {where}got {err['input']!r}; {_expected(err)}")
    if unknown:
        lines[lines.index("")] = _unknown_keys_line(unknown, source)
    return "\n".join(lines)


def validate_params(raw: Any, source: str = DEFAULT_PARAMS_FILE) -> Params:
    """Validate a parsed params mapping; raise :class:`ParamsError` naming every bad key."""
    if not isinstance(raw, dict):
        got = "an empty file" if raw is None else type(raw).__name__
        raise ParamsError(f"{source}: expected a mapping of sections at the top level, got {got}")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(_format_errors(exc, source)) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """'(line L, column C): problem' from a YAML error, without its multi-line context."""
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{where}: {getattr(exc, 'problem', None) or exc}"


class DuplicateKeyError(yaml.YAMLError):
    """A mapping key written twice: PyYAML keeps the last value silently, DVC's parser refuses the file."""

    def __init__(self, key: str, first_line: int, second_line: int):
        self.key, self.first_line, self.second_line = key, first_line, second_line
        super().__init__(f"key {key} is written twice (lines {first_line} and {second_line}); "
                         "keep one (DVC refuses a file with a repeated key)")


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key written twice in any mapping, nested ones too
    (:class:`DuplicateKeyError` names the dotted key and both lines; ``<<`` merge keys may override)."""

    def construct_document(self, node: yaml.Node) -> Any:
        self._check_unique(node, "", set())
        return super().construct_document(node)

    def _check_unique(self, node: yaml.Node, prefix: str, seen: set[int]) -> None:
        if id(node) in seen:  # an alias: checked where its anchor is
            return
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._check_unique(item, f"{prefix}[{i}]" if prefix else f"[{i}]", seen)
        elif isinstance(node, yaml.MappingNode):
            first: dict[Any, yaml.Node] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node)  # `1` and `"1"` differ, `yes` and `true` do not
                dotted = f"{prefix}.{key}" if prefix else str(key)
                try:
                    earlier = first.setdefault(key, key_node)
                except TypeError:  # unhashable: the constructor reports it
                    continue
                if earlier is not key_node:
                    raise DuplicateKeyError(dotted, earlier.start_mark.line + 1, key_node.start_mark.line + 1)
                self._check_unique(value_node, dotted, seen)


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ParamsError(f"override {item!r}: expected KEY=VALUE, e.g. loss.alpha=0.3")
    key, value = item.split("=", 1)
    try:
        return key.strip().split("."), yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ParamsError(f"override {item!r}: value is not valid YAML{_yaml_problem(exc)}") from None


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as YAML), as ``dvc exp run -S`` does."""
    for item in overrides:
        path, value = _parse_override(item)
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ParamsError(f"override {item!r}: {part} is not a section")
        node[path[-1]] = value
    return raw


def _read_yaml(path: Path) -> Any:
    """The parsed file; unreadable, non-UTF-8 and invalid YAML files are :class:`ParamsError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ParamsError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})") \
            from None
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read params file: {exc.strerror or type(exc).__name__}") from None
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass
    except DuplicateKeyError as exc:
        raise ParamsError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML{_yaml_problem(exc)}") from None


def load_params(path: str | Path = DEFAULT_PARAMS_FILE, overrides: list[str] | None = None,
                required: bool | None = None) -> Params:
    """Read and validate a params file (an empty file is an error: a mapping of sections is expected).

    A missing file is an error when ``required``; by default (``None``) only the default name may be missing
    (running outside a checkout): the built-in defaults are used and a ``note:`` line on stderr says so.
    """
    path = Path(path)
    if required is None:
        required = str(path) != DEFAULT_PARAMS_FILE
    if not path.exists() and not path.is_symlink():
        if required:
            raise ParamsError(f"{path}: params file not found")
        print(f"note: {path} not found; using the built-in defaults", file=sys.stderr)
        raw: Any = {}
    else:
        raw = _read_yaml(path)
    if overrides:
        if not isinstance(raw, dict):
            validate_params(raw, source=str(path))  # raises: says what the top level should be
        raw = apply_overrides(raw, overrides)
    return validate_params(raw, source=str(path))


def dump_defaults() -> str:
    """The default params as block-style YAML (what ``params.yaml`` ships with)."""
    return yaml.safe_dump(Params().model_dump(mode="json"), default_flow_style=False, sort_keys=False)
