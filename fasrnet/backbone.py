"""The frozen backbone: where its weights come from.

- ``backbone.source: checkpoint`` (paper setting): an HRNet checkpoint (official or mmpose layout) at
  ``backbone.checkpoint``, e.g. the downloaded HRNet-W48 COCO 384×288 weights.
- ``backbone.source: pretrain`` (embedded default): ``fasrnet pretrain-backbone`` trains the small HRNet on single
  frames (frame t of every train crop, with the crops' augmentation) and writes a bare state dict in the official
  key layout to ``backbone.checkpoint`` — so both sources load through the same
  :func:`~fasrnet.models.hrnet.load_backbone`.

  Its frames come from a pretraining set of its own, :data:`PRETRAIN_SET` (``backbone.pretrain_videos`` train
  videos of the synthetic generator under the seed of that name; clean frames by default,
  ``backbone.pretrain_degraded_fraction``), as the paper's HRNet was pretrained on COCO's still photographs and
  never saw PoseTrack. Pretrained on the heads' own train videos instead (``--datasets``), the backbone would
  have fitted exactly the frames the head then learns from: its heatmaps on train crops would be better than on
  val, and the head would learn to trust them more than it should (docs/synthetic.md). The set is synthesized
  and cropped inside the work directory and deleted when done.

Pretraining is seeded and checkpointed every epoch (``pretrain_state.pt``) in a work directory beside the
checkpoint's directory, swapped in when complete (docs/resume.md); a killed run resumes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from fasrnet import paths
from fasrnet.codecs.heatmap import HeatmapCodec, joints_mse
from fasrnet.data.crops import build_crops
from fasrnet.data.cropstore import CropIndex
from fasrnet.data.synthetic import synthesize_dataset
from fasrnet.epochs import EpochLoop, log_csv
from fasrnet.errors import FasrnetError
from fasrnet.inference import normalize
from fasrnet.io import remove_path, save_torch, write_text
from fasrnet.models.checkpoint import read_checkpoint
from fasrnet.models.hrnet import HRNet, build_hrnet, load_backbone
from fasrnet.params import Params
from fasrnet.resume import Unit, make_fingerprint, stage_params, store_digest, work_dir_for
from fasrnet.runtime import adam, pick_device, seed_everything


def load_frozen_backbone(params: Params, adapted_to: str | None = None) -> HRNet:
    """The backbone ``params.backbone`` names, in eval mode with gradients off; with ``adapted_to`` a dataset, the
    same backbone with its BatchNorm adapted to that dataset's train crops (:mod:`fasrnet.adapt`)."""
    path = Path(params.backbone.checkpoint)
    recreate = "delete it and re-create it with `fasrnet backbone`"
    if adapted_to is not None:
        from fasrnet.adapt import WEIGHTS

        path = paths.adapted_backbone_dir(adapted_to) / WEIGHTS
        recreate = f"delete {path.parent} and re-create it with `fasrnet adapt-backbone --dataset {adapted_to}`"
        if not path.exists():
            raise FasrnetError(f"{path}: adapted backbone missing; create it with "
                               f"`fasrnet adapt-backbone --dataset {adapted_to}`")
    elif not path.exists():
        how = ("`fasrnet pretrain-backbone`" if params.backbone.source == "pretrain"
               else "`fasrnet download --what weights` (or place the checkpoint there)")
        raise FasrnetError(f"{path}: backbone checkpoint missing; create it with {how}")
    model = load_backbone(path, params.model.backbone_width, arch=params.model.backbone_arch, recreate=recreate)
    return model.eval().requires_grad_(False)


def extraction_backbone_path(params: Params, dataset: str) -> Path:
    """The weights file :func:`extraction_backbone` loads for ``dataset``."""
    if params.backbone.bn == "adapt":
        from fasrnet.adapt import WEIGHTS

        return paths.adapted_backbone_dir(dataset) / WEIGHTS
    return Path(params.backbone.checkpoint)


def load_run_backbone(params: Params, run: str, best: bool = False) -> HRNet | None:
    """``backbone.bn: train``: the backbone as run ``run``'s training left it (``models/<run>/backbone.pt``; with
    ``best``, the best validated epoch's), or None when the run kept the checkpoint's."""
    path = paths.run_dir(run) / (paths.BEST_RUN_BACKBONE if best else paths.RUN_BACKBONE)
    if not path.is_file():
        return None
    model = load_backbone(path, params.model.backbone_width, arch=params.model.backbone_arch,
                          recreate=f"delete {path.parent} and re-run `fasrnet train --run {run}`")
    return model.eval().requires_grad_(False)


def extraction_backbone(params: Params, dataset: str) -> tuple[HRNet, Path]:
    """The backbone ``fasrnet extract`` runs on ``dataset`` and its weights file: adapted to the dataset with
    ``backbone.bn: adapt``, else the checkpoint's."""
    adapted = params.backbone.bn == "adapt"
    return load_frozen_backbone(params, dataset if adapted else None), extraction_backbone_path(params, dataset)


#: Name of the backbone's own synthetic pretraining set (its seed derives from it, as syn17's from "syn17").
PRETRAIN_SET = "synpre"
PRETRAIN_LOG_COLUMNS = ("epoch", "loss")  # pretrain_log.csv: no timings, identical runs give identical logs


def _pretrain_set(params: Params, work: Path, progress: bool) -> CropIndex:
    """Synthesize the pretraining set into ``work`` and cut its train crops there (both resumable: a finished
    set or crop store of the same settings is reused); returns the crop store."""
    update: dict[str, Any] = {
        "videos": params.synthesize.videos.model_copy(update={"train": params.backbone.pretrain_videos,
                                                               "val": 1, "test": 1})}
    if params.backbone.pretrain_degraded_fraction is not None:
        update["degraded_fraction"] = params.backbone.pretrain_degraded_fraction
    sp = params.synthesize.model_copy(update=update)
    raw = work / "pretrain_data"
    if not (raw / PRETRAIN_SET / "meta.json").is_file():
        synthesize_dataset(raw, PRETRAIN_SET, sp, fmt=18, progress=progress)
    codec = HeatmapCodec.from_params(params.heatmap)
    crops = work / "pretrain_crops"
    build_crops(raw / PRETRAIN_SET, "train", crops, codec, params.crops, progress=progress)
    return CropIndex.open(crops)


def pretrain_backbone(params: Params, datasets: list[str] | None = None, progress: bool = True,
                      stop_after_epoch: int | None = None) -> dict[str, Any]:
    """Train HRNet-W``model.backbone_width`` on frame t of train crops; write ``backbone.checkpoint``.

    The crops are those of the pretraining set :data:`PRETRAIN_SET` (``backbone.pretrain_videos`` train videos),
    or, when ``datasets`` are named (``--datasets``, by hand), the train crops of those datasets."""
    bp = params.backbone
    if bp.source != "pretrain":
        raise FasrnetError("backbone.source is 'checkpoint': the backbone comes from a checkpoint, not pretraining")
    own_set = not datasets
    datasets = [PRETRAIN_SET] if own_set else (datasets or list(params.data.datasets))
    out = Path(bp.checkpoint)
    if out.parent in (Path("."), Path("")):
        raise FasrnetError(f"backbone.checkpoint {out}: pretraining writes a directory of its own; "
                           "name a file inside one, e.g. models/backbone/hrnet.pth")
    config = {"datasets": datasets, "backbone": bp.model_dump(), "width": params.model.backbone_width,
              "arch": params.model.backbone_arch, "heatmap": params.heatmap.model_dump()}
    if own_set:  # made from params alone: the synthesizer's and the crops' settings are its inputs
        config.update(synthesize=params.synthesize.model_dump(), crops=params.crops.model_dump())
        inputs: dict[str, Any] = {}
    else:
        inputs = {ds: store_digest(paths.crops_dir(ds, "train")) for ds in datasets}
    unit = Unit(out.parent, work_dir_for(out.parent),
                make_fingerprint("backbone", stage_params(params, "backbone"), inputs, config=config))
    state = unit.open(lambda d: (d / out.name).is_file())
    if state == "current":
        return {"checkpoint": str(out), "crops": None, "history": [], "state": state}
    if own_set:
        stores = [_pretrain_set(params, unit.work, progress)]
    else:
        stores = [CropIndex.open(paths.crops_dir(ds, "train")) for ds in datasets]
    state_config = {**config, "crops": [len(s) for s in stores]}  # the fingerprint's config stays as it was
    result = _pretrain_into(unit.work, out.name, params, stores, state_config, progress, stop_after_epoch)
    if "stopped_at" not in result:
        for scratch in ("pretrain_data", "pretrain_crops"):  # the output is the checkpoint and its log only
            remove_path(unit.work / scratch)
        unit.commit()
    return {**result, "checkpoint": str(out), "state": state}


def _pretrain_into(work: Path, name: str, params: Params, stores: list[CropIndex], config: dict[str, Any],
                   progress: bool, stop_after_epoch: int | None) -> dict[str, Any]:
    """Pretrain in ``work`` (resuming its ``pretrain_state.pt``); writes ``work/name`` when done."""
    bp = params.backbone
    codec = HeatmapCodec.from_params(params.heatmap)
    device = pick_device(params.train.device)
    state_path = work / "pretrain_state.pt"
    items = [(s, i) for s in range(len(stores)) for i in range(len(stores[s]))]

    seed_everything(bp.seed)  # python and numpy too: their states go into the checkpoint
    model = build_hrnet(params.model.backbone_width, arch=params.model.backbone_arch).to(device)
    optimizer = adam(model.parameters(), bp.lr, device)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(bp.lr_steps), gamma=0.1)
    loop = EpochLoop("pretrain-backbone", bp.epochs, bp.seed, config, state_path, progress=progress,
                     restart="starting pretraining over")
    start, history = loop.resume(model, optimizer, scheduler)

    def train_epoch(epoch: int, perm: np.ndarray) -> tuple[dict[str, Any], str]:
        model.train()
        total = 0.0
        bar = tqdm(range(0, len(perm), bp.batch_size), desc=f"pretrain-backbone epoch {epoch + 1}/{bp.epochs}",
                   unit="batch", disable=not progress, leave=False)
        for s in bar:
            chosen = [items[k] for k in perm[s:s + bp.batch_size]]
            images, joints, vis = [], [], []
            for si in sorted({c[0] for c in chosen}):
                idx = np.sort([i for st, i in chosen if st == si])
                images.append(stores[si].images.get_many("images", idx)[:, 1])  # frame t only
                joints.append(stores[si].arrays["joints"][idx])
                vis.append(stores[si].arrays["joints_vis"][idx])
            x = normalize(torch.from_numpy(np.concatenate(images)).to(device))
            target, weight = (t.to(device) for t in codec.encode_tensors(np.concatenate(joints), np.concatenate(vis)))
            _, heatmaps = model(x)
            loss = joints_mse(heatmaps, target, weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(chosen)
            bar.set_postfix(loss=f"{loss.item():.3e}")
        scheduler.step()
        return {"loss": total / len(items)}, ""

    history, stopped = loop.run(model, optimizer, scheduler, len(items), train_epoch, start, history, stop_after_epoch)
    if stopped is not None:
        return {"stopped_at": stopped, "history": history}
    # A bare state dict in the official key layout, like pose_hrnet_w48_384x288.pth.
    save_torch(work / name, {k: v.detach().cpu() for k, v in model.state_dict().items()})
    write_text(work / "pretrain_log.csv", log_csv(history, PRETRAIN_LOG_COLUMNS))
    return {"crops": len(items), "history": history}


def adopt_checkpoint(params: Params) -> str:
    """``backbone.source: checkpoint``: take the first of ``download.weights`` from ``download.weights_dir``
    (any accepted layout), check that it loads strictly into HRNet-W``model.backbone_width``, and write it in
    the official key layout to ``backbone.checkpoint`` (the file every later stage reads)."""
    from fasrnet.data.download.manifest import load_manifest
    from fasrnet.models.hrnet import load_state_into, normalize_state_dict

    if not params.download.weights:
        raise FasrnetError("download.weights is empty: name the checkpoint to use (e.g. hrnet_w48_mmpose1)")
    manifest = load_manifest()
    name = params.download.weights[0]
    arts = {a.name: a for a in manifest.artefacts}
    if name not in arts or not arts[name].file:
        raise FasrnetError(f"download.weights: {name!r} is not a checkpoint of the manifest")
    source = Path(params.download.weights_dir) / arts[name].file
    state = normalize_state_dict(read_checkpoint(source), source=str(source))
    model = build_hrnet(params.model.backbone_width, arch=params.model.backbone_arch)
    load_state_into(model, state, source=str(source))
    save_torch(params.backbone.checkpoint, {k: v.detach().cpu() for k, v in model.state_dict().items()})
    return f"{source} -> {params.backbone.checkpoint}"
