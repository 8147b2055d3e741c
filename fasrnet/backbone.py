"""The frozen backbone: where its weights come from.

- ``backbone.source: checkpoint`` (paper setting): an HRNet checkpoint (official or mmpose layout) at
  ``backbone.checkpoint``, e.g. the downloaded HRNet-W48 COCO 384×288 weights.
- ``backbone.source: pretrain`` (embedded default): ``fasrnet pretrain-backbone`` trains the small HRNet on single
  frames (frame t of every train crop, with the crops' augmentation) of the configured datasets, standing in for
  COCO pretraining, and writes a bare state dict in the official key layout to ``backbone.checkpoint`` — so both
  sources load through the same :func:`~fasrnet.models.hrnet.load_backbone`.

Pretraining is seeded and checkpointed every epoch (``<checkpoint dir>/pretrain_state.pt``); a killed run resumes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from fasrnet import paths
from fasrnet.data.crops import CropIndex
from fasrnet.errors import FasrnetError
from fasrnet.features import normalize
from fasrnet.io import write_text
from fasrnet.models.heatmap import HeatmapCodec
from fasrnet.models.hrnet import HRNet, build_hrnet, load_backbone
from fasrnet.models.loss import joints_mse
from fasrnet.params import Params
from fasrnet.runtime import load_checkpoint, pick_device, rng_state, save_checkpoint, set_rng_state


def load_frozen_backbone(params: Params) -> HRNet:
    """The backbone ``params.backbone`` names, in eval mode with gradients off."""
    path = Path(params.backbone.checkpoint)
    if not path.exists():
        how = ("`fasrnet pretrain-backbone`" if params.backbone.source == "pretrain"
               else "`fasrnet download --what weights` (or place the checkpoint there)")
        raise FasrnetError(f"{path}: backbone checkpoint missing; create it with {how}")
    model = load_backbone(path, params.model.backbone_width, arch=params.model.backbone_arch)
    return model.eval().requires_grad_(False)


def pretrain_backbone(params: Params, datasets: list[str] | None = None, progress: bool = True,
                      stop_after_epoch: int | None = None) -> dict[str, Any]:
    """Train HRNet-W``model.backbone_width`` on frame t of the train crops; write ``backbone.checkpoint``."""
    bp = params.backbone
    if bp.source != "pretrain":
        raise FasrnetError("backbone.source is 'checkpoint': the backbone comes from a checkpoint, not pretraining")
    datasets = datasets or list(params.data.datasets)
    stores = [CropIndex.open(paths.crops_dir(ds, "train")) for ds in datasets]
    codec = HeatmapCodec.from_params(params.heatmap)
    device = pick_device(params.train.device)
    out = Path(bp.checkpoint)
    state_path = out.parent / "pretrain_state.pt"
    items = [(s, i) for s in range(len(stores)) for i in range(len(stores[s]))]

    torch.manual_seed(bp.seed)
    model = build_hrnet(params.model.backbone_width, arch=params.model.backbone_arch).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=bp.lr)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(bp.lr_steps), gamma=0.1)
    config = {"datasets": datasets, "backbone": bp.model_dump(), "width": params.model.backbone_width,
              "arch": params.model.backbone_arch,
              "heatmap": params.heatmap.model_dump(), "crops": [len(s) for s in stores]}
    history: list[dict[str, Any]] = []
    start = 0
    if state_path.exists():
        ckpt = load_checkpoint(state_path)
        if ckpt.get("config") == config:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            set_rng_state(ckpt["rng"])
            history, start = ckpt["history"], ckpt["epoch"]
    for epoch in range(start, bp.epochs):
        t0 = time.perf_counter()
        model.train()
        perm = np.random.default_rng([bp.seed, epoch]).permutation(len(items))
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
            t, w = zip(*(codec.encode(j, v) for j, v in zip(np.concatenate(joints), np.concatenate(vis))))
            target = torch.from_numpy(np.stack(t)).to(device)
            weight = torch.from_numpy(np.stack(w)).to(device)
            _, heatmaps = model(x)
            loss = joints_mse(heatmaps, target, weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(chosen)
            bar.set_postfix(loss=f"{loss.item():.3e}")
        scheduler.step()
        history.append({"epoch": epoch + 1, "loss": total / len(items), "seconds": round(time.perf_counter() - t0, 3)})
        save_checkpoint(state_path, {"epoch": epoch + 1, "config": config, "model": model.state_dict(),
                                     "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                     "rng": rng_state(), "history": history})
        if progress:
            print(f"pretrain-backbone: epoch {epoch + 1}/{bp.epochs} loss {history[-1]['loss']:.4e}", flush=True)
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch and epoch + 1 < bp.epochs:
            return {"stopped_at": epoch + 1, "history": history}
    # A bare state dict in the official key layout, like pose_hrnet_w48_384x288.pth.
    save_checkpoint(out, {k: v.detach().cpu() for k, v in model.state_dict().items()})
    write_text(out.parent / "pretrain_log.csv",
               "epoch,loss,seconds\n" + "".join(f"{h['epoch']},{h['loss']},{h['seconds']}\n" for h in history))
    return {"checkpoint": str(out), "crops": len(items), "history": history}


def adopt_checkpoint(params: Params) -> str:
    """``backbone.source: checkpoint``: take the first of ``download.weights`` from ``download.weights_dir``
    (any accepted layout), check that it loads strictly into HRNet-W``model.backbone_width``, and write it in
    the official key layout to ``backbone.checkpoint`` (the file every later stage reads)."""
    from fasrnet.data.download import load_manifest
    from fasrnet.models.hrnet import load_state_into, normalize_state_dict, read_checkpoint

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
    save_checkpoint(params.backbone.checkpoint, {k: v.detach().cpu() for k, v in model.state_dict().items()})
    return f"{source} -> {params.backbone.checkpoint}"
