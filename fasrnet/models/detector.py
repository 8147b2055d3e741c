"""Person boxes from torchvision's COCO Faster R-CNN detectors, for frames that come without a box file (the
demo's ``--boxes``). The weights are manifest artefacts (``detector_<name>``, not fetched by default;
``docs/data.md``, §4): ``fasrnet download --artefact detector_<name>`` puts them in ``download.weights_dir``, and
this module only checks and loads them, never fetches.

- :data:`DETECTORS` — the variants as data: torchvision builder, manifest artefact, COCO val2017 box AP.
- :func:`detector_weights_path` — where a variant's weights lie, checked against the manifest (sha256 prefix).
- :func:`load_person_detector` — build the network without weights (``weights=None, weights_backbone=None``: no
  download), fill it from the checked file, and wrap it as a :class:`PersonDetector` on the given device.

torchvision builds these networks with ``FrozenBatchNorm2d`` when it loads its own weights and with
``BatchNorm2d`` without them; in eval mode the two compute the same, and the published files (frozen layout) lack
only the ``num_batches_tracked`` counters, which the load allows to be missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fasrnet.cachesize import human
from fasrnet.data.download.manifest import Artefact, FileSpec, Manifest, load_manifest
from fasrnet.data.download.verify import check_file, sha256_file, verified_sha
from fasrnet.errors import FasrnetError
from fasrnet.models.checkpoint import read_checkpoint

#: COCO's category id of ``person`` in torchvision's 91-class label space.
PERSON_LABEL = 1


@dataclass(frozen=True)
class DetectorSpec:
    """One torchvision COCO detector: its builder in ``torchvision.models.detection``, its manifest artefact and
    its COCO val2017 box AP (torchvision's ``_metrics``)."""

    builder: str
    artefact: str
    box_ap: float


DETECTORS: dict[str, DetectorSpec] = {
    "fasterrcnn_resnet50_fpn": DetectorSpec("fasterrcnn_resnet50_fpn", "detector_fasterrcnn_resnet50_fpn", 37.0),
    "fasterrcnn_resnet50_fpn_v2": DetectorSpec("fasterrcnn_resnet50_fpn_v2", "detector_fasterrcnn_resnet50_fpn_v2",
                                               46.7),
    "fasterrcnn_mobilenet_v3_large_fpn": DetectorSpec("fasterrcnn_mobilenet_v3_large_fpn",
                                                      "detector_fasterrcnn_mobilenet_v3_large_fpn", 32.8),
    "fasterrcnn_mobilenet_v3_large_320_fpn": DetectorSpec("fasterrcnn_mobilenet_v3_large_320_fpn",
                                                          "detector_fasterrcnn_mobilenet_v3_large_320_fpn", 22.8),
}


def detector_spec(name: str) -> DetectorSpec:
    """The :data:`DETECTORS` entry of ``name``; an unknown name is a FasrnetError listing the choices."""
    try:
        return DETECTORS[name]
    except KeyError:
        raise FasrnetError(f"unknown person detector {name!r}; choose from {', '.join(DETECTORS)}") from None


def _artefact(name: str, manifest: Manifest | None) -> tuple[Artefact, FileSpec]:
    art = (manifest if manifest is not None else load_manifest()).get(detector_spec(name).artefact)
    return art, art.files[0]


def _fetch_hint(art: Artefact) -> str:
    return f"`fasrnet download --artefact {art.name}`"


def detector_weights_path(name: str, weights_dir: str | Path, manifest: Manifest | None = None) -> Path:
    """``weights_dir/<file>`` of detector ``name`` (the packaged manifest's entry unless ``manifest``), checked.

    Accepted when download's ``<file>.verified.json`` record still matches the file, otherwise after hashing it
    against the manifest (``size`` / ``sha256`` / ``sha256_prefix``). A missing or mismatching file is a
    FasrnetError naming it and the download command; nothing is fetched here.
    """
    art, spec = _artefact(name, manifest)
    path = Path(weights_dir) / spec.file
    if not path.is_file():
        size = f" (about {human(art.approx_size_bytes)})" if art.approx_size_bytes else ""
        raise FasrnetError(f"{path}: person-detector weights missing; fetch them with {_fetch_hint(art)}{size}, "
                           "or give the demo --boxes FILE")
    if verified_sha(path, spec) is None:
        problem = check_file(spec, sha256_file(path), path.stat().st_size)
        if problem is not None:
            raise FasrnetError(f"{path}: not the {art.name} file ({problem}); fetch it again with "
                               f"{_fetch_hint(art)} (the download replaces it)")
    return path


def _listing(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", … ({len(keys) - limit} more)" if len(keys) > limit else "")


def build_detector(name: str) -> nn.Module:
    """Detector ``name`` with random weights (``weights=None, weights_backbone=None``: torchvision downloads
    nothing), 91 COCO classes, on the CPU."""
    from torchvision.models import detection

    builder = getattr(detection, detector_spec(name).builder)
    return builder(weights=None, weights_backbone=None)


def load_detector_state(model: nn.Module, state: Any, name: str, source: str) -> None:
    """Load ``state`` into ``model``: every key must be the model's with its shape, and every model key must be
    there except the BatchNorm ``num_batches_tracked`` counters (absent from torchvision's frozen-BN files);
    otherwise a FasrnetError ``<source>: not a <name> checkpoint: …``."""
    what = f"{source}: not a {name} checkpoint"
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FasrnetError(f"{what}: expected a state dict (a mapping of names to tensors)")
    own = model.state_dict()
    for key, value in state.items():
        if key in own and tuple(value.shape) != tuple(own[key].shape):
            raise FasrnetError(f"{what}: shape mismatch at {key}: file {tuple(value.shape)}, "
                               f"network {tuple(own[key].shape)}")
    missing = [k for k in own if k not in state and not k.endswith(".num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = [f"{len(missing)} missing key(s): {_listing(missing)}"] if missing else []
        parts += [f"{len(unexpected)} unexpected key(s): {_listing(unexpected)}"] if unexpected else []
        raise FasrnetError(f"{what}: " + "; ".join(parts))
    model.load_state_dict(dict(state), strict=False)


class PersonDetector:
    """A torchvision COCO detector in eval mode on ``device`` that keeps only its person boxes.

    Scores are torchvision's own (its ``box_score_thresh`` of 0.05 stays; the caller applies its threshold)."""

    def __init__(self, model: nn.Module, device: torch.device, name: str = ""):
        self.model = model.to(device).eval()
        self.device = device
        self.name = name

    def _tensor(self, rgb: np.ndarray) -> torch.Tensor:
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise FasrnetError(f"person detector: expected an RGB uint8 frame (H, W, 3), got {rgb.dtype} "
                               f"{tuple(rgb.shape)}")
        chw = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)
        return chw.to(self.device, dtype=torch.float32).div_(255.0)

    @staticmethod
    def _persons(out: Mapping[str, torch.Tensor]) -> np.ndarray:
        keep = out["labels"] == PERSON_LABEL
        boxes = out["boxes"][keep].detach().to("cpu", torch.float64).numpy()
        scores = out["scores"][keep].detach().to("cpu", torch.float64).numpy()
        order = np.argsort(-scores, kind="stable")
        x0, y0, x1, y1 = (boxes[order, i] for i in range(4))
        return np.stack([x0, y0, np.maximum(x1 - x0, 0.0), np.maximum(y1 - y0, 0.0), scores[order]],
                        axis=1).reshape(-1, 5)

    def detect_many(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """Person boxes of each frame (RGB uint8, H×W×3; sizes may differ) in one forward: per frame a float64
        array N×5 of ``[x, y, w, h, score]`` in image pixels, by score descending (N may be 0)."""
        if not frames:
            return []
        batch = [self._tensor(f) for f in frames]
        self.model.eval()
        with torch.no_grad():
            outs = self.model(batch)
        return [self._persons(o) for o in outs]

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        """Person boxes of one RGB uint8 frame (H×W×3): float64 N×5 ``[x, y, w, h, score]``, score descending."""
        return self.detect_many([rgb])[0]


def load_person_detector(name: str, weights_dir: str | Path, device: torch.device,
                         manifest: Manifest | None = None) -> PersonDetector:
    """Detector ``name`` filled from its checked weights in ``weights_dir`` (:func:`detector_weights_path`), on
    ``device``. Errors (FasrnetError): unknown name, missing or mismatching file, a file that is not this
    network's state dict."""
    path = detector_weights_path(name, weights_dir, manifest)
    model = build_detector(name)
    load_detector_state(model, read_checkpoint(path), name, str(path))
    return PersonDetector(model, device, name)
