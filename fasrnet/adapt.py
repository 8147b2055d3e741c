"""The frozen backbone's BatchNorm adapted to a dataset's train crops (``fasrnet adapt-backbone``;
docs/model.md, §12, item 11).

The official FaSRnet code freezes HRNet with ``requires_grad = False`` only and trains with the whole model in train
mode: HRNet's BatchNorm normalises each batch with its own statistics, and its running statistics keep moving toward
PoseTrack's (momentum 0.1), so the backbone it evaluates carries PoseTrack statistics, not COCO's. The pipeline's
backbone runs in eval mode with the checkpoint's statistics (``backbone.bn: eval``). ``adapt`` approximates the
official end state without training: the running mean and variance of every BatchNorm layer are re-estimated over
the dataset's train crops (frames t−1, t and t+1 of every crop, in the crop store's order, ``extract.batch_size``
crops a batch, fp32), each batch weighted equally (``momentum=None``, PyTorch's cumulative average), with the
weights untouched; then the backbone is frozen again. Only BatchNorm buffers change, and the same crops give the
same bytes.

Output ``models/backbone_adapted/<dataset>/``: ``hrnet.pth`` (a bare state dict in the official key layout, like
``backbone.checkpoint``), ``adapt.json`` (what it was adapted on) and ``fingerprint.json`` (the backbone's weights,
the crop store, the params, the code): a changed backbone or crop store re-adapts, and everything that reads the
adapted backbone reruns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from fasrnet.data.cropstore import CropIndex
from fasrnet.inference import normalize
from fasrnet.io import save_torch, write_json
from fasrnet.models.hrnet import HRNet
from fasrnet.resume import Unit, file_sha256, make_fingerprint, store_digest, work_dir_for

#: The adapted backbone's weights file inside its directory.
WEIGHTS = "hrnet.pth"


def _complete(directory: Path) -> bool:
    return (directory / "adapt.json").is_file() and (directory / WEIGHTS).is_file()


@torch.no_grad()
def adapt_batchnorm(backbone: HRNet, crops: CropIndex, device: torch.device, batch_size: int,
                    progress: bool = True) -> HRNet:
    """Re-estimate every BatchNorm layer's running statistics of ``backbone`` over the crops of ``crops`` (their
    three frames each, ``batch_size`` crops a batch, in the store's order), equally weighted per batch; returns it
    in eval mode with gradients off. Weights and every other buffer stay as they were."""
    net = backbone.float().to(device)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches
    net.train()
    n = len(crops)
    bar = tqdm(total=n, desc=f"adapt {crops.info['dataset']}/{crops.info['split']}", unit="crop",
               disable=not progress)
    with bar:
        for s in range(0, n, batch_size):
            images = torch.from_numpy(crops.images.get_many("images", np.arange(s, min(n, s + batch_size))))
            net(normalize(images.to(device).flatten(0, 1)).contiguous())
            bar.update(len(images))
    for bn, momentum in zip(bns, momenta):
        bn.momentum = momentum
    return net.eval().requires_grad_(False)


def adapt(backbone: HRNet, checkpoint: str | Path, crop_dir: str | Path, out_dir: str | Path, device: torch.device,
          batch_size: int, *, stamp: dict[str, Any] | None = None, progress: bool = True) -> dict[str, Any]:
    """Write the adapted backbone of ``checkpoint`` (loaded as ``backbone``) over the crop store ``crop_dir`` into
    ``out_dir``, through a work directory swapped in when complete (docs/resume.md); nothing to do when ``out_dir``
    is up to date (same checkpoint, crop store, params and code)."""
    crop_dir, out_dir = Path(crop_dir), Path(out_dir)
    crops = CropIndex.open(crop_dir)
    fingerprint = make_fingerprint("adapt-backbone", stamp or {},
                                   {"crops": store_digest(crop_dir), "backbone": file_sha256(checkpoint)},
                                   batch_size=batch_size)
    unit = Unit(out_dir, work_dir_for(out_dir), fingerprint)
    state = unit.open(_complete)
    if state == "current":
        return {"crops": len(crops), "state": state}
    net = adapt_batchnorm(backbone, crops, device, batch_size, progress)
    save_torch(unit.work / WEIGHTS, {k: v.detach().cpu() for k, v in net.state_dict().items()})
    write_json(unit.work / "adapt.json", {
        "dataset": crops.info["dataset"], "split": crops.info["split"], "crops": len(crops),
        "frames": 3 * len(crops), "batch_size": batch_size, "checkpoint": str(checkpoint),
        "checkpoint_sha256": file_sha256(checkpoint),
    }, indent=1)
    unit.commit()
    return {"crops": len(crops), "state": state}
