"""Head training (``fasrnet train --run NAME``) on the frozen-backbone feature cache.

Adam, multi-step LR, seeded; every epoch's batches come from a permutation drawn from
``default_rng([seed, epoch])``, so the data order depends only on the seed and the epoch. After every epoch an
atomic checkpoint holds the model, optimizer, scheduler and RNG state plus the history; a run restarted after a
kill (even SIGKILL) resumes from it and ends with the same weights as an uninterrupted run.

The cache is read through memory-mapped shards (never loaded whole). ``train.online_backbone: true`` instead runs
the frozen backbone inside the loop on crops cut afresh from the images with new augmentation every epoch (the
official code's way); everything else is the same code.

Outputs in ``models/<run>/``: ``checkpoint.pt`` (last epoch, resumable), ``head.pt`` (final weights and the run's
configuration, written when the run completes), with ``train.val_every`` ``head_best.pt`` (the weights of the
validated epoch with the highest val mAP: the paper reports such best-epoch numbers), ``train_log.csv`` (epoch,
lr, loss, val mAP) for DVC plots and ``run.json`` (the resolved run and its setting: dataset, variant, alpha, seed,
backbone, input size, device; the best epoch when validated) and
``fingerprint.json`` (what made the run). They are written in ``models/.<run>.partial/`` and swapped in when the run
completes; a kill leaves the earlier output in place and the next run resumes there (docs/resume.md). No file holds
timings (the epochs' seconds are printed), so identical runs write identical bytes. A run with the resolved
configuration of another run that is complete and current is not trained again: its output is derived from that
one, the bytes its training would write (``Trainer._reuse_equivalent``, docs/resume.md).

Several processes (DDP): ``torchrun --nproc_per_node N -m -- fasrnet train --run NAME`` (without the ``--``,
torchrun's own parser rejects ``--run`` as an ambiguous abbreviation of its ``--run-path``). torchrun's
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` select it (``WORLD_SIZE`` 1 or unset is the single-process code,
unchanged). Each rank joins a process group (``nccl`` on ``cuda:LOCAL_RANK``, ``gloo`` on CPU) and trains a
``DistributedDataParallel`` copy of the head. ``train.batch_size`` stays the *total* batch (the paper's 64): every
epoch all ranks draw the same seeded permutation and cut the same global batches as one process would; rank ``r``
takes the ``r``-th equal slice of each (``batch_size / N`` items; the permutation is padded by wrapping to a
multiple of ``N`` so every rank runs the same number of steps). The gradient DDP averages is then the gradient of
the global batch's mean loss; what differs from one process is BatchNorm, whose batch statistics are per rank (as in
the official code's DataParallel), and the few padded items. The logged loss is averaged over all ranks
(all_reduce); only rank 0 validates, prints and writes ``checkpoint.pt``, ``head.pt``, ``train_log.csv`` and
``run.json``, and the other ranks wait for it at the end of every epoch. A resumed run loads the same checkpoint on
every rank; the world size is part of the checkpoint's configuration, so a run resumes only with the world size it
was started with.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from fasrnet import paths
from fasrnet.batches import DeviceBatches, fits_on_device, iterate_batches
from fasrnet.codecs.heatmap import HeatmapCodec
from fasrnet.data.images import ImageCache
from fasrnet.data.persons import gt_person_boxes, load_split
from fasrnet.data.posetrack import read_split
from fasrnet.data.views import PersonBox, draw_augmentation, make_view
from fasrnet.epochs import EpochLoop, log_csv
from fasrnet.errors import FasrnetError, describe
from fasrnet.evaluate import evaluate_videos
from fasrnet.features import FeatureStore
from fasrnet.inference import BackboneRunner, head_forward, step_precision
from fasrnet.io import remove_leftovers_beside, save_torch, write_bytes, write_json, write_text
from fasrnet.models.checkpoint import read_checkpoint
from fasrnet.models.fasrnet import FaSRnetHead, build_head, get_variant
from fasrnet.models.hrnet import HRNet
from fasrnet.models.loss import fasrnet_loss
from fasrnet.params import Params
from fasrnet.predict import iter_heatmaps_from_crops, predict_store, predicted_videos
from fasrnet.resume import (
    Unit,
    file_sha256,
    make_fingerprint,
    manifest_problem,
    read_fingerprint,
    stage_params,
    store_digest,
    tree_digest,
    work_dir_for,
)
from fasrnet.runs import RunConfig, equivalent_runs
from fasrnet.runtime import adam, pick_device, seed_everything
from fasrnet.stages import TRAIN_SHARED_PARAMS

LOG_COLUMNS = ("epoch", "lr", "loss", "val_map")  # no timings: identical runs give identical logs
# How long ranks wait for each other (rank 0's validation and checkpoint included) before the group fails.
DIST_TIMEOUT = timedelta(hours=1)
#: Locks that keep two runs of one configuration from training at once (Trainer._configuration_lock).
LOCK_DIR = Path(".fasrnet/locks")


@dataclass(frozen=True)
class DistEnv:
    """This process's place in a torchrun job (``WORLD_SIZE``/``RANK``/``LOCAL_RANK``); one process by default."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> DistEnv:
        env = os.environ if environ is None else environ
        world = int(env.get("WORLD_SIZE", "1") or 1)
        rank = int(env.get("RANK", "0") or 0)
        local = int(env.get("LOCAL_RANK", str(rank)) or 0)
        if world < 1 or not 0 <= rank < world:
            raise FasrnetError(f"bad distributed environment: WORLD_SIZE={world} RANK={rank}")
        return cls(world, rank, local)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def epoch_batches(perm: np.ndarray, batch_size: int, rank: int = 0, world_size: int = 1) -> list[np.ndarray]:
    """This rank's batches of one epoch's permutation (the DistributedSampler idea, at the batch level).

    One process: consecutive slices of ``batch_size``. ``world_size`` N > 1: the permutation is padded by wrapping
    to a multiple of N, cut into the same global batches of ``batch_size`` (a multiple of N), and rank ``r`` takes
    the ``r``-th of N equal slices of each; so every rank runs the same number of steps, and the ranks' slices of
    a step are disjoint and together make up the global batch."""
    n = len(perm)
    if world_size == 1:
        return [perm[s:s + batch_size] for s in range(0, n, batch_size)]
    if batch_size % world_size:
        raise FasrnetError(f"train.batch_size {batch_size} is the total batch; it must be divisible by the "
                           f"{world_size} processes")
    padded = np.resize(perm, n + (-n) % world_size)  # wraps around: the first items again
    out = []
    for s in range(0, len(padded), batch_size):
        g = padded[s:s + batch_size]
        k = len(g) // world_size
        out.append(g[rank * k:(rank + 1) * k])
    return out


class CachedBatches:
    """Training batches from the feature cache: ``(feat (B,3,C,h,w), heatmap (B,3,J,h,w), target, weight)``."""

    def __init__(self, store: FeatureStore, codec: HeatmapCodec):
        self.store = store
        self.codec = codec

    def __len__(self) -> int:
        return len(self.store)

    def batch(self, idx: np.ndarray, epoch: int) -> tuple[torch.Tensor, ...]:
        order = np.sort(idx)  # shard-friendly reads; the batch's content is what matters, not its order
        feat = torch.from_numpy(self.store.reader.get_many("feat", order)).float()
        hm = torch.from_numpy(self.store.reader.get_many("heatmap", order)).float()
        a = self.store.crops.arrays
        target, weight = self.codec.encode_tensors(a["joints"][order], a["joints_vis"][order])
        return feat, hm, target, weight


class OnlineViews(torch.utils.data.Dataset):
    """The training crops of the official way: item ``(epoch, i)`` is crop ``i`` of the feature cache's order, cut
    afresh from the images with the augmentation drawn from ``default_rng([seed, epoch, i])``: ``images (3 frames,
    3, H, W)`` uint8, ``joints (J, 2)``, ``joints_vis (J,)``. Seeded per item, so the same in any process: a
    DataLoader's worker processes cut exactly what the training thread would."""

    def __init__(self, params: Params, dataset: str, store: FeatureStore, codec: HeatmapCodec, seed: int):
        self.crops = params.crops
        self.dataset_dir = paths.dataset_dir(params, dataset)
        self.videos, _, _ = load_split(self.dataset_dir, "train")
        boxes = {(pb.video, pb.frame, pb.person): pb for pb in gt_person_boxes(self.videos)}
        a = store.crops.arrays
        self.items: list[PersonBox] = [boxes[(int(v), int(t), int(p))]
                                       for v, t, p in zip(a["video"], a["frame"], a["person"])]
        self.codec = codec
        self.seed = seed
        self._cache: ImageCache | None = None  # made in the process that reads: each worker decodes for itself

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        epoch, i = key
        if self._cache is None:
            self._cache = ImageCache(self.dataset_dir, capacity=64)
        pb = self.items[i]
        rng = np.random.default_rng([self.seed, epoch, i])
        aug = draw_augmentation(rng, self.crops, pb, self.codec.aspect_ratio)
        view = make_view(pb, self.videos[pb.video], self._cache, self.codec, aug)
        return view["images"], view["joints"], view["joints_vis"]


def collate_views(items: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
                  ) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """A batch of :class:`OnlineViews` items → ``images (B, 3, 3, H, W)`` uint8 tensor, ``joints (B, J, 2)``,
    ``joints_vis (B, J)``."""
    images, joints, vis = zip(*items)
    return torch.from_numpy(np.stack(images)), np.stack(joints), np.stack(vis)


class _EpochBatches(torch.utils.data.Sampler):
    """A DataLoader's batch sampler whose batches are set before each epoch (its workers persist across epochs)."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[int, int]]] = []

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class OnlineBatches:
    """The official way: cut each crop afresh from the images with new augmentation (:class:`OnlineViews`), run
    the frozen backbone on the three frames (:class:`fasrnet.inference.BackboneRunner`, its outputs kept on the
    device), then train on its outputs. Same items as the cache. With ``workers`` > 0 the crops are cut (JPEGs
    decoded, warped) by that many DataLoader worker processes, batches ahead of the step, into pinned memory on
    CUDA; 0 cuts them on the training thread. Either way the same batches."""

    def __init__(self, params: Params, dataset: str, store: FeatureStore, backbone: HRNet, codec: HeatmapCodec,
                 device: torch.device, seed: int, workers: int = 0, bn_train: bool = False):
        self.views = OnlineViews(params, dataset, store, codec, seed)
        self.runner = BackboneRunner(backbone, device, params.extract.precision, bn_train=bn_train)
        self.codec = codec
        self.device = device
        self.workers = workers
        self._sampler = _EpochBatches()
        self._loader: torch.utils.data.DataLoader | None = None

    def __len__(self) -> int:
        return len(self.views)

    def _finish(self, images: torch.Tensor, joints: np.ndarray, vis: np.ndarray) -> tuple[torch.Tensor, ...]:
        feat, hm = self.runner(images)  # fp16 on the device, as the feature cache stores them
        if self.device.type == "cuda":  # targets encoded there too (the CPU keeps the host encoder's bytes)
            target, weight = self.codec.encode_on_device(
                torch.as_tensor(np.asarray(joints, dtype=np.float64), device=self.device),
                torch.as_tensor(np.asarray(vis).astype(bool), device=self.device))
        else:
            target, weight = self.codec.encode_tensors(joints, vis)
        return feat.float(), hm.float(), target, weight

    def batch(self, idx: np.ndarray, epoch: int) -> tuple[torch.Tensor, ...]:
        return self._finish(*collate_views([self.views[epoch, int(i)] for i in idx]))

    def iterate(self, batches: list[np.ndarray], epoch: int) -> Iterator[tuple[torch.Tensor, ...]]:
        """The epoch's batches in order; with workers, cut by the worker processes ahead of the step."""
        if not self.workers:
            for idx in batches:
                yield self.batch(idx, epoch)
            return
        if self._loader is None:
            self._loader = torch.utils.data.DataLoader(
                self.views, batch_sampler=self._sampler, num_workers=self.workers, collate_fn=collate_views,
                pin_memory=self.device.type == "cuda", persistent_workers=True, prefetch_factor=2)
        self._sampler.batches = [[(epoch, int(i)) for i in idx] for idx in batches]
        for images, joints, vis in self._loader:
            yield self._finish(images, joints, vis)


def pick_dcn_backend(head: FaSRnetHead, batch: list[torch.Tensor], channels_last: bool, precision: str,
                     compiled: bool, steps: int = 3) -> tuple[str, dict[str, float]]:
    """``model.dcn_backend: auto`` on a GPU: the faster of the two DCN backends for this head's training step in
    this precision and layout, measured (a copy of the head, ``steps`` forward + backward passes each after one
    warm-up, on ``batch``: feat, heatmap, target, weight) and set on ``head``. Returns the backend and the seconds
    per step measured. With ``torch.compile``, grid_sample without measuring: torchvision's op is opaque to the
    compiler, and the compiled head was measured with grid_sample (docs/gpu.md). The two compute the same
    function (tests/models/test_dcn_half.py, the gpu_check parity cases); which runs changes speed and the last
    digits."""
    from fasrnet.models.alignment import set_dcn_backend

    seconds: dict[str, float] = {}
    if compiled:
        backend = "grid_sample"
    else:
        feat, hm, target, weight = batch
        context = step_precision(precision, feat.device)
        for candidate in ("torchvision", "grid_sample"):
            trial = set_dcn_backend(copy.deepcopy(head).train(), candidate)  # the run's BatchNorm untouched
            for k in range(steps + 1):
                if k == 1:
                    _synchronize(feat.device)
                    t0 = time.perf_counter()
                out = head_forward(trial, feat, hm, channels_last, context)
                fasrnet_loss(out, target, weight, 0.5).backward()
            _synchronize(feat.device)
            seconds[candidate] = (time.perf_counter() - t0) / steps
        backend = min(seconds, key=seconds.__getitem__)
    set_dcn_backend(head, backend)
    return backend, seconds


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _run_complete(directory: Path) -> bool:
    return all((directory / name).is_file() for name in ("head.pt", "run.json", "train_log.csv"))


class Trainer:
    """Trains one run; ``run()`` does nothing when ``out_dir`` is up to date, else resumes from the work
    directory's ``checkpoint.pt`` when it matches the run's fingerprint and configuration."""

    def __init__(self, params: Params, run: RunConfig, out_dir: str | Path | None = None,
                 progress: bool = True, device: torch.device | None = None, dist: DistEnv | None = None):
        self.params = params
        self.run_cfg = run
        self.out_dir = Path(out_dir) if out_dir is not None else paths.run_dir(run.name)
        self.dist = dist or DistEnv.from_env()
        self.progress = progress and self.dist.is_main
        self.device = device or pick_device(params.train.device)
        if self.dist.distributed and self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", self.dist.local_rank)
        if params.train.batch_size % self.dist.world_size:
            raise FasrnetError(f"train.batch_size {params.train.batch_size} is the total batch; it must be "
                               f"divisible by the {self.dist.world_size} processes")
        self.codec = HeatmapCodec.from_params(params.heatmap)
        self.train_store = FeatureStore(paths.features_dir(run.dataset, "train"), paths.crops_dir(run.dataset, "train"))
        self.channels = self.train_store.reader.fields["feat"].shape[1]
        self._val_data: tuple[FeatureStore, list] | None = None
        self._drifting: HRNet | None = None  # backbone.bn: train: the backbone whose BatchNorm trains (online)
        get_variant(run.variant)

    @property
    def work_dir(self) -> Path:
        """Where the run trains until it completes (docs/resume.md); ``out_dir`` is replaced only then."""
        return work_dir_for(self.out_dir)

    @property
    def checkpoint_path(self) -> Path:
        return self.work_dir / "checkpoint.pt"

    def _unit(self, config: dict[str, Any]) -> Unit:
        """The run's output and what makes it: the stage's params, the caches and dataset, the code."""
        ds, p = self.run_cfg.dataset, self.params
        inputs = {"features": store_digest(paths.FEATURES / ds), "crops": store_digest(paths.CROPS / ds),
                  "dataset": tree_digest(paths.dataset_dir(p, ds))}
        if p.train.online_backbone:  # the backbone runs inside the loop, not only through the feature cache
            from fasrnet.backbone import extraction_backbone_path

            inputs["backbone"] = file_sha256(extraction_backbone_path(p, ds))
        group = p.runs[self.run_cfg.name].group
        stamp = stage_params(p, f"train_{group}", self.run_cfg.name)
        return Unit(self.out_dir, self.work_dir, make_fingerprint("train", stamp, inputs, config=config))

    def _config(self) -> dict[str, Any]:
        """Everything that changes the result; a checkpoint of another configuration is not resumed."""
        p = self.params
        config = {"run": asdict(self.run_cfg),
                  "train": p.train.model_dump(exclude={"val_every", "device", "device_store_fraction",
                                                     "online_workers"}),
                  "model": p.model.model_dump(exclude={"variant", "dcn_backend"}), "heatmap": p.heatmap.model_dump(),
                  "crops": p.crops.model_dump() if p.train.online_backbone else None}
        if p.train.online_backbone:  # the backbone runs in the loop, in the extraction's precision and BatchNorm
            config["extract_precision"] = p.extract.precision
            config["backbone_bn"] = p.backbone.bn
        if self.dist.distributed:  # per-rank BatchNorm statistics and padding: another result than 1 process
            config["world_size"] = self.dist.world_size
        return config

    def _init_dist(self) -> bool:
        """Join torchrun's process group (unless already joined). True when this call created it."""
        if not self.dist.distributed:
            return False
        import torch.distributed as dist

        if dist.is_initialized():
            return False
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo", timeout=DIST_TIMEOUT)
        if dist.get_world_size() != self.dist.world_size or dist.get_rank() != self.dist.rank:
            raise FasrnetError("process group and WORLD_SIZE/RANK disagree")
        return True

    def _source(self) -> CachedBatches | DeviceBatches | OnlineBatches:
        if not self.params.train.online_backbone:
            if self.device.type == "cuda":  # batches built on the GPU (fasrnet/batches.py); the CPU's stay as they were
                resident = fits_on_device(self.train_store, self.device, self.params.train.device_store_fraction)
                return DeviceBatches(self.train_store, self.codec, self.device, resident)
            return CachedBatches(self.train_store, self.codec)
        from fasrnet.backbone import extraction_backbone

        backbone, _ = extraction_backbone(self.params, self.run_cfg.dataset)  # adapted with backbone.bn: adapt
        return OnlineBatches(self.params, self.run_cfg.dataset, self.train_store, backbone, self.codec,
                             self.device, self.run_cfg.seed, self.params.train.online_workers,
                             bn_train=self.params.backbone.bn == "train")

    def _val(self, head: FaSRnetHead) -> float | None:
        ds = self.run_cfg.dataset
        store_dir = paths.features_dir(ds, "val")
        if not (store_dir / "features.json").exists():
            return None
        if self._val_data is None:  # opened once per run, not every validated epoch
            self._val_data = (FeatureStore(store_dir, paths.crops_dir(ds, "val")),
                              read_split(paths.annotations_dir(self.params, ds, "val")))
        store, gt = self._val_data
        tp = self.params.train
        if self._drifting is not None:  # backbone.bn: train: the backbone as it has drifted, in eval mode, on the crops
            runner = BackboneRunner(copy.deepcopy(self._drifting), self.device, self.params.extract.precision)
            pred = predicted_videos(store.crops, self.codec, iter_heatmaps_from_crops(
                store.crops, runner, head, tp.batch_size, self.params.heatmap.flip_test, tp.precision,
                tp.channels_last))
        else:
            pred = predict_store(store, head, self.codec, self.device, tp.batch_size, self.params.heatmap.flip_test,
                                 tp.precision, tp.channels_last)
        result = evaluate_videos(gt, [v for _, v in pred])
        return float(result.total)

    def run(self, stop_after_epoch: int | None = None) -> dict[str, Any]:
        """Train to ``train.epochs`` (or stop after ``stop_after_epoch``, for tests). Returns the summary."""
        created = self._init_dist()
        try:
            return self._run(stop_after_epoch)
        finally:
            if created:
                import torch.distributed as dist

                dist.destroy_process_group()

    def _run(self, stop_after_epoch: int | None) -> dict[str, Any]:
        config = self._config()
        unit = self._unit(config)
        with self._configuration_lock(unit):
            return self._run_unit(stop_after_epoch, config, unit)

    @contextlib.contextmanager
    def _configuration_lock(self, unit: Unit) -> Iterator[None]:
        """While this process trains (or derives) ``models/<run>``, no other run of the same configuration does: a
        second waits here, then reuses the first's output. This, not the workflow's DAG, orders a duplicate after its
        canonical run (a Snakemake edge would hide the duplicate's own reasons to rerun; docs/resume.md). Only for
        the pipeline's own output, and not under DDP (a rank blocked here would hold the others at a barrier). Taken
        after the CLI's lock on ``models/<run>`` (fasrnet.locks), and no output lock is taken while it is held: one
        order, so a run and its duplicates never wait for each other in a circle."""
        key = reuse_key(unit.fingerprint)
        own = os.path.abspath(self.out_dir) == os.path.abspath(paths.run_dir(self.run_cfg.name))
        if key is None or not own or self.dist.distributed:
            yield
            return
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
        path = LOCK_DIR / f"train-{digest}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"train {self.run_cfg.name}: waiting for another run of the same configuration", flush=True)
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _run_unit(self, stop_after_epoch: int | None, config: dict[str, Any], unit: Unit) -> dict[str, Any]:
        tp = self.params.train
        ddp = self.dist.distributed
        main = self.dist.is_main
        current = unit.is_current(_run_complete)
        if ddp:  # every rank looks before rank 0 may write (a reuse, below): all see the same output
            import torch.distributed as dist

            dist.barrier()
        if current:
            return {"run": self.run_cfg.name, "epochs": tp.epochs, "history": [], "state": "current",
                    **({"rank": self.dist.rank} if ddp else {})}
        reused = self._reuse_equivalent(config, unit)  # another run of this configuration trained already
        if reused is not None:
            return reused
        seed_everything(self.run_cfg.seed)  # python and numpy too: their states go into the checkpoint
        head = build_head(self.params.model, self.channels, self.run_cfg.variant).to(self.device)
        if tp.channels_last:  # before the optimizer sees the parameters (a checkpoint's weights are copied in)
            head = head.to(memory_format=torch.channels_last)
        optimizer = adam(head.parameters(), tp.lr, self.device)
        views = person_views(self.train_store.crops.arrays)  # (persons, K) crop indices
        steps_per_epoch = -(-len(views) // tp.batch_size)  # every rank runs this many (epoch_batches)
        per_step = tp.lr_schedule == "cosine"
        if per_step:
            scheduler: Any = torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=max(1, tp.epochs * steps_per_epoch), eta_min=tp.lr * tp.lr_factor)
        else:
            scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(tp.lr_steps),
                                                             gamma=tp.lr_factor)
        state = unit.open(_run_complete) if main else "resume"
        if ddp:  # the other ranks read the work directory only once rank 0 has prepared it
            dist.barrier()
        source = self._source()
        # backbone.bn: train: the backbone's BatchNorm statistics drift with training, so they are part of its state
        online = isinstance(source, OnlineBatches)
        self._drifting = source.runner.backbone if online and source.runner.bn_train else None
        extra = {"backbone": self._drifting} if self._drifting is not None else None
        loop = EpochLoop(self.run_cfg.name, tp.epochs, self.run_cfg.seed, config, self.checkpoint_path,
                         self.work_dir / "train_log.csv", LOG_COLUMNS, writes=main, progress=self.progress,
                         restart="starting the run over", extra=extra)
        start, history = loop.resume(head, optimizer, scheduler)
        precision = step_precision(tp.precision, self.device)
        if self.params.model.dcn_backend == "auto" and self.device.type == "cuda":
            kept = copy.deepcopy(self._drifting.state_dict()) if self._drifting is not None else None
            first = source.batch(np.arange(min(tp.batch_size, len(source))), start)
            if kept is not None:  # the trial batch moved the drifting statistics: not part of the run
                self._drifting.load_state_dict(kept)
            backend, seconds = pick_dcn_backend(head, [x.to(self.device) for x in first], tp.channels_last,
                                                tp.precision, tp.compile)
            if main:
                measured = ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in seconds.items())
                print(f"train {self.run_cfg.name}: DCN backend {backend} "
                      f"({'measured per step: ' + measured if measured else 'torch.compile traces it'})", flush=True)
        model: torch.nn.Module = head  # what the steps run; checkpoints always hold the bare head's weights
        if ddp:
            from torch.nn.parallel import DistributedDataParallel

            # Same seed, so same initial weights everywhere; DDP broadcasts rank 0's anyway.
            model = DistributedDataParallel(head, device_ids=[self.device] if self.device.type == "cuda" else None)
        if tp.compile:
            model = torch.compile(model)  # the first step compiles (minutes for the paper head on a GPU)

        # the best validated epoch so far (a resumed run's history holds the earlier ones; head_best.pt is theirs)
        best: dict[str, float | None] = {"map": max((h["val_map"] for h in history if h.get("val_map") is not None),
                                                    default=None)}

        def train_epoch(epoch: int, perm: np.ndarray) -> tuple[dict[str, Any], str]:
            model.train()
            perm = views[perm, epoch % views.shape[1]]  # the epoch's view of each person, in the epoch's order
            batches = epoch_batches(perm, tp.batch_size, self.dist.rank, self.dist.world_size)
            total, count = 0.0, 0
            epoch_lr = optimizer.param_groups[0]["lr"]  # logged: the lr the epoch starts with
            bar = tqdm(batches, desc=f"train {self.run_cfg.name} epoch {epoch + 1}/{tp.epochs}", unit="batch",
                       disable=not self.progress, leave=False)
            for idx, made in zip(bar, iterate_batches(source, batches, epoch)):
                feat, hm, target, weight = (x.to(self.device) for x in made)
                out = head_forward(model, feat, hm, tp.channels_last, precision)
                loss = fasrnet_loss(out, target, weight, self.run_cfg.alpha)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if per_step:
                    scheduler.step()
                total += loss.item() * len(idx)
                count += len(idx)
                bar.set_postfix(loss=f"{loss.item():.3e}")
            if ddp:  # the epoch's loss over every rank's items
                sums = torch.tensor([total, float(count)], dtype=torch.float64, device=self.device)
                dist.all_reduce(sums)
                total, count = float(sums[0]), int(sums[1])
            if not per_step:
                scheduler.step()
            val = None
            if main and tp.val_every and ((epoch + 1) % tp.val_every == 0 or epoch + 1 == tp.epochs):
                val = self._val(head)
                if best["map"] is None or round(val, 6) >= best["map"]:  # ties: the later epoch, as HRNet's code
                    best["map"] = round(val, 6)
                    self._write_best(head, config, epoch + 1, best["map"])
            row = {"lr": epoch_lr, "loss": total / max(count, 1), "val_map": None if val is None else round(val, 6)}
            return row, "" if val is None else f" val mAP {val:.2f}"

        def share(history: list[dict[str, Any]]) -> None:
            # the other ranks wait here for rank 0's validation and checkpoint, and learn its val mAP
            shared = [history[-1]["val_map"]]
            dist.broadcast_object_list(shared, src=0)
            history[-1]["val_map"] = shared[0]
            dist.barrier()

        history, stopped = loop.run(head, optimizer, scheduler, len(views), train_epoch, start, history,
                                    stop_after_epoch, share if ddp else None)
        if stopped is not None:
            return {"stopped_at": stopped, "history": history, **({"rank": self.dist.rank} if ddp else {})}
        summary = {"run": self.run_cfg.name, "epochs": tp.epochs, "history": history, "state": state}
        if main:
            self._write_final(head, config, history)
            unit.commit()
        if ddp:
            dist.barrier()  # nobody leaves (and tears the group down) before the run's output is in place
            summary["rank"] = self.dist.rank
        return summary

    def _write_best(self, head: FaSRnetHead, config: dict[str, Any], epoch: int, val_map: float) -> None:
        """``head_best.pt``: the weights of the validated epoch with the highest val mAP so far (``train.val_every``;
        the paper's rows are such best-epoch numbers). Chosen on val, the split it is then scored on. With
        ``backbone.bn: train`` the backbone of that epoch too (``backbone_best.pt``)."""
        save_torch(self.work_dir / paths.BEST_HEAD, {
            "run": asdict(self.run_cfg), "channels": self.channels, "config": config, "model": head.state_dict(),
            "epoch": epoch, "val_map": val_map,
        })
        self._write_backbone(paths.BEST_RUN_BACKBONE)

    def _write_backbone(self, name: str) -> None:
        """``backbone.bn: train``: the drifted backbone as a bare state dict in the official layout (what predict
        and the demo run for this run instead of the checkpoint's)."""
        if self._drifting is not None:
            save_torch(self.work_dir / name, {k: v.detach().cpu() for k, v in self._drifting.state_dict().items()})

    def _write_final(self, head: FaSRnetHead, config: dict[str, Any], history: list[dict[str, Any]]) -> None:
        tp = self.params.train
        save_torch(self.work_dir / "head.pt", {
            "run": asdict(self.run_cfg), "channels": self.channels, "config": config, "model": head.state_dict(),
        })
        self._write_backbone(paths.RUN_BACKBONE)
        write_text(self.work_dir / "train_log.csv", log_csv(history, LOG_COLUMNS))
        write_json(self.work_dir / "run.json", {
            **asdict(self.run_cfg),
            "backbone": f"HRNet-W{self.params.model.backbone_width}"
                        + ("" if self.params.model.backbone_arch == "standard"
                           else f" ({self.params.model.backbone_arch})"),
            "input_size": list(self.params.heatmap.input_size),
            "device": self.device.type.upper(),
            "online_backbone": tp.online_backbone,
            "epochs": tp.epochs,
            "final_loss": history[-1]["loss"] if history else None,
            "val_map": history[-1]["val_map"] if history else None,
            **({"world_size": self.dist.world_size} if self.dist.distributed else {}),
            **_best_of(history),
        }, indent=1)

    def _reuse_equivalent(self, config: dict[str, Any], unit: Unit) -> dict[str, Any] | None:
        """Derive this run's output from another run's instead of training, when a run with the same resolved
        configuration (:func:`fasrnet.runs.equivalent_runs`) has a complete output made exactly as this one would
        be (:func:`reuse_key`); the summary then, else None (train). Only for the pipeline's own output
        ``models/<run>``; the candidates are tried in params order, the canonical run first. Under DDP rank 0
        decides and writes, and tells the other ranks."""
        name = self.run_cfg.name
        if os.path.abspath(self.out_dir) != os.path.abspath(paths.run_dir(name)):
            return None
        found = None
        if self.dist.is_main:
            want = reuse_key(unit.fingerprint)
            found = next((other for other in equivalent_runs(self.params, name)
                          if other != name and self._derive_from(other, want, config, unit)), None)
        if self.dist.distributed:
            import torch.distributed as dist

            shared = [found]
            dist.broadcast_object_list(shared, src=0)
            found = shared[0]
        if found is None:
            return None
        return {"run": name, "epochs": self.params.train.epochs, "history": [], "state": "reused", "reused": found,
                **({"rank": self.dist.rank} if self.dist.distributed else {})}

    def _derive_from(self, other: str, want: dict[str, Any] | None, config: dict[str, Any], unit: Unit) -> bool:
        """Write this run's output from ``models/<other>`` when that is complete and its :func:`reuse_key` is
        ``want``: the same weights, optimizer state and history, with this run's name in ``head.pt``,
        ``checkpoint.pt`` and ``run.json``, ``train_log.csv`` as it is, and this run's own fingerprint; the bytes
        training this run would write. Built in the work directory and swapped in, like a trained output."""
        src = paths.run_dir(other)
        fingerprint = read_fingerprint(src)
        if want is None or not (src.is_dir() and _run_complete(src)) or reuse_key(fingerprint) != want:
            return False
        try:
            head = read_checkpoint(src / "head.pt")  # data only: an old pickled one is refused, this run trains
            ckpt = read_checkpoint(src / "checkpoint.pt") if (src / "checkpoint.pt").is_file() else None
            log = (src / "train_log.csv").read_bytes()
            summary = json.loads((src / "run.json").read_text())
            if not (isinstance(head, dict) and "model" in head and isinstance(summary, dict)
                    and (ckpt is None or isinstance(ckpt, dict))):
                raise FasrnetError(f"{src}: not the output of `fasrnet train`")
        except (FasrnetError, OSError, ValueError) as exc:
            reason = exc if isinstance(exc, FasrnetError) else describe(exc)
            print(f"warning: not reusing {other}'s training: {reason}", file=sys.stderr, flush=True)
            return False
        problem = manifest_problem(src)  # readable, but changed since it was trained: never copied (docs/resume.md)
        if problem is not None:
            print(f"warning: not reusing {other}'s training: {src}: changed since it was written ({problem})",
                  file=sys.stderr, flush=True)
            return False
        if read_fingerprint(src) != fingerprint:  # replaced while being read: train instead
            return False
        remove_leftovers_beside(unit.target)
        unit.prepare_fresh()  # this run's own fingerprint.json
        save_torch(self.work_dir / "head.pt", {**head, "run": asdict(self.run_cfg), "config": config})
        if ckpt is not None:
            save_torch(self.checkpoint_path, {**ckpt, "config": config})
        if (src / paths.BEST_HEAD).is_file():
            best = read_checkpoint(src / paths.BEST_HEAD)
            save_torch(self.work_dir / paths.BEST_HEAD, {**best, "run": asdict(self.run_cfg), "config": config})
        for name in (paths.RUN_BACKBONE, paths.BEST_RUN_BACKBONE):  # backbone.bn: train's drifted backbones
            if (src / name).is_file():
                write_bytes(self.work_dir / name, (src / name).read_bytes())
        write_bytes(self.work_dir / "train_log.csv", log)
        write_json(self.work_dir / "run.json", {**summary, **asdict(self.run_cfg)}, indent=1)
        unit.commit()
        return True


def person_views(arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """The train crops of a crop store as ``(persons, K)`` crop indices: row p holds person p's ``crops.train_views``
    views in store order, persons in the order of their first crop. An epoch takes one view of each person (epoch
    ``e``: view ``e mod K``), so every epoch has one sample per person and K epochs go through every view once, as
    the official code's fresh draw per epoch does; with K = 1 it is every crop in store order (the order the
    epoch's permutation then indexes, as before)."""
    keys = np.stack([np.asarray(arrays[k], dtype=np.int64) for k in ("video", "frame", "person")], axis=1)
    _, first, group = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    group = group.reshape(-1)
    rank = np.argsort(np.argsort(first, kind="stable"), kind="stable")[group]  # persons by their first crop
    counts = np.bincount(rank)
    if counts.min() != counts.max():
        raise FasrnetError(f"the train crop store holds {counts.min()} to {counts.max()} views per person; "
                           "re-run `fasrnet crops` (every train person gets crops.train_views views)")
    order = np.lexsort((np.arange(len(rank)), rank))  # by person, then store order
    return order.reshape(len(counts), counts[0])


def _best_of(history: list[dict[str, Any]]) -> dict[str, Any]:
    """``best_epoch`` and ``best_val_map`` of a validated run's history for ``run.json`` (nothing when no epoch was
    validated: the embedded default's run.json stays as it was)."""
    validated = [h for h in history if h.get("val_map") is not None]
    if not validated:
        return {}
    top = max(h["val_map"] for h in validated)
    epoch = max(h["epoch"] for h in validated if h["val_map"] == top)  # ties: the later epoch
    return {"best_epoch": epoch, "best_val_map": top}


def reuse_key(fingerprint: dict[str, Any] | None) -> dict[str, Any] | None:
    """A train fingerprint without what names its run: the run's own params keys (its ``runs`` entry; a main run's
    ``loss.alpha`` and ``model.variant``, which its resolved configuration holds) and the name in its
    configuration. Two runs with equal keys train identically: same resolved configuration, shared params
    (``train``, model, codec), input digests and code version. None for a missing or malformed fingerprint."""
    try:
        config = fingerprint["config"]
        return {**fingerprint, "params": {k: v for k, v in fingerprint["params"].items() if k in TRAIN_SHARED_PARAMS},
                "config": {**config, "run": {k: v for k, v in config["run"].items() if k != "name"}}}
    except (TypeError, KeyError, AttributeError):
        return None
