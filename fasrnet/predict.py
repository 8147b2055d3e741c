"""Predictions (``fasrnet predict``): heatmaps of cached crops → keypoints → image coordinates → PoseTrack
files, one per video, in the format of the dataset's annotations (poseval pairs them by basename).

Joint score = heatmap maximum × box score (DCPose). Every frame of every video is written, with or without
people, so the files pair frame by frame with the GT; the test split needs no GT (files for submission).
Each person gets a ``track_id`` unique in its frame (poseval requires one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fasrnet import paths
from fasrnet.codecs.heatmap import HeatmapCodec, flip_back
from fasrnet.data.cropstore import CropIndex
from fasrnet.data.posetrack import Frame, Person, Video, write_video
from fasrnet.errors import FasrnetError, describe
from fasrnet.features import FeatureStore
from fasrnet.inference import BackboneRunner, scored_heatmaps, step_precision
from fasrnet.io import atomic_dir
from fasrnet.keypoints import NUM_KEYPOINTS
from fasrnet.models.checkpoint import read_checkpoint
from fasrnet.models.fasrnet import FaSRnetHead, build_head
from fasrnet.params import Params
from fasrnet.prefetch import ahead
from fasrnet.runs import RunConfig


@torch.no_grad()
def iter_heatmaps(store: FeatureStore, head: FaSRnetHead | None, device: torch.device, batch_size: int,
                  flip_test: bool = False, precision: str = "fp32", channels_last: bool = False
                  ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(crop indices, scored heatmaps (B, J, h, w) float32)`` batch by batch: the head's output, or
    with ``head=None`` the frozen backbone's own heatmap of frame t (the single-frame baseline). The head runs as
    it trained (``train.precision``, ``train.channels_last``; :func:`fasrnet.inference.scored_heatmaps`). A
    background thread reads the next batch's rows from the cache (into pinned memory on CUDA) while this one runs."""
    if flip_test and not store.has_flip:
        raise FasrnetError(f"{store.dir}: heatmap.flip_test is on but the cache has no flipped crops; "
                           "re-run `fasrnet extract` with flip_test enabled")
    if head is not None:
        head.eval()
    context = step_precision(precision, device)
    suffixes = ("", "_flip") if flip_test else ("",)
    names = [k + s for s in suffixes for k in ("heatmap",) + (("feat",) if head is not None else ())]

    def read(idx: np.ndarray) -> dict[str, torch.Tensor]:
        rows = {name: torch.from_numpy(store.reader.get_many(name, idx)) for name in names}
        return {name: r.pin_memory() for name, r in rows.items()} if device.type == "cuda" else rows

    def scored(rows: dict[str, torch.Tensor], flip: bool) -> torch.Tensor:
        suffix = "_flip" if flip else ""
        # fp16 rows → fp32 on the device: the values the host's conversion gave
        hm = rows["heatmap" + suffix].to(device, non_blocking=True).float()
        feat = rows["feat" + suffix].to(device, non_blocking=True).float() if head is not None else hm
        return scored_heatmaps(head, feat, hm, channels_last, context)

    yield from _batched(len(store), batch_size, read, scored, flip_test)


@torch.no_grad()
def iter_heatmaps_from_crops(crops: CropIndex, runner: BackboneRunner, head: FaSRnetHead | None, batch_size: int,
                             flip_test: bool = False, precision: str = "fp32", channels_last: bool = False
                             ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """:func:`iter_heatmaps` with the backbone run on the crop store's images (:class:`BackboneRunner`): for a
    backbone whose outputs the feature cache does not hold (the adapted backbone's control row when the cache holds
    the checkpoint's, or the other way round). The crops of the next batch are read on a background thread."""
    if head is not None:
        head.eval()
    device = runner.device
    context = step_precision(precision, device)

    def read(idx: np.ndarray) -> torch.Tensor:
        images = torch.from_numpy(crops.images.get_many("images", idx))
        return images.pin_memory() if device.type == "cuda" else images

    def scored(images: torch.Tensor, flip: bool) -> torch.Tensor:
        feat, hm = runner(images, flip=flip)
        return scored_heatmaps(head, feat, hm, channels_last, context)

    yield from _batched(len(crops), batch_size, read, scored, flip_test)


def _batched(n: int, batch_size: int, read: Callable[[np.ndarray], Any], scored: Callable[[Any, bool], torch.Tensor],
             flip_test: bool) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(crop indices, heatmaps)`` of ``n`` crops in batches: ``read(idx)`` on a background thread one batch ahead,
    ``scored(batch, flip)`` the (B, J, h, w) heatmaps of frame t, averaged with the flipped crops' with
    ``flip_test``."""
    batches = (np.arange(s, min(s + batch_size, n)) for s in range(0, n, batch_size))
    for idx, batch in ahead((idx, read(idx)) for idx in batches):
        pred = scored(batch, False)
        if flip_test:
            pred = 0.5 * (pred + flip_back(scored(batch, True)))
        yield idx, pred.float().cpu().numpy()


def keypoints_in_image(heatmaps: np.ndarray, idx: np.ndarray, crops: CropIndex, codec: HeatmapCodec
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Decode the heatmaps of crops ``idx`` and map them back through each crop's inverse affine →
    ``(B, J, 2)`` image pixels and ``(B, J)`` scores (heatmap maximum × box score)."""
    a = crops.arrays
    return keypoints_to_image(heatmaps, a["center"][idx], a["scale"][idx], a["rotation"][idx], a["score"][idx], codec)


def keypoints_to_image(heatmaps: np.ndarray, center: np.ndarray, scale: np.ndarray, rotation: np.ndarray,
                       box_score: np.ndarray, codec: HeatmapCodec) -> tuple[np.ndarray, np.ndarray]:
    """Decode heatmaps ``(B, J, h, w)`` of crops with these ``center`` (B, 2), ``scale`` (B, 2), ``rotation``
    (B,) and box scores (B,) → ``(B, J, 2)`` image pixels and ``(B, J)`` scores (heatmap maximum × box score)."""
    coords, maxvals = codec.decode(heatmaps)
    image = np.empty_like(coords)
    for k in range(len(coords)):
        image[k] = codec.to_image(coords[k], center[k], scale[k], float(rotation[k]))
    return image, maxvals * np.asarray(box_score)[:, None]


def predicted_person(coords: np.ndarray, scores: np.ndarray, track_id: int, box_score: float) -> Person:
    """One predicted person: every joint present at ``coords`` (J, 2) image pixels with its ``scores`` (J,);
    ``track_id`` unique in its frame (poseval requires one)."""
    kps = np.zeros((NUM_KEYPOINTS, 3))
    kps[:, :2] = coords
    kps[:, 2] = 1.0
    return Person(kps, np.ones(NUM_KEYPOINTS, dtype=bool), track_id=track_id, scores=scores.astype(np.float64),
                  score=box_score)


def build_videos(crops: CropIndex, coords: np.ndarray, scores: np.ndarray) -> list[tuple[str, Video]]:
    """(annotation basename, predicted :class:`Video`) for every video of the crop index, all frames kept."""
    a = crops.arrays
    out = []
    per_frame: dict[tuple[int, int], list[int]] = {}
    for i, (v, t) in enumerate(zip(a["video"], a["frame"])):
        per_frame.setdefault((int(v), int(t)), []).append(i)
    for v, info in enumerate(crops.info["videos"]):
        frames = []
        for t, image in enumerate(info["frames"]):
            persons = []
            for k, i in enumerate(per_frame.get((v, t), [])):
                persons.append(predicted_person(coords[i], scores[i], k, float(a["score"][i])))
            frames.append(Frame(image=image, is_labeled=bool(persons), persons=persons))
        out.append((Path(info["annotation"]).name, Video(info["name"], frames)))
    return out


def write_predictions(videos: list[tuple[str, Video]], out_dir: str | Path, fmt: int) -> None:
    """Write every video into ``out_dir`` (replaced as a whole, atomically)."""
    with atomic_dir(out_dir) as tmp:
        for name, video in videos:
            write_video(video, tmp / name, fmt)


def predict_store(store: FeatureStore, head: FaSRnetHead | None, codec: HeatmapCodec, device: torch.device,
                  batch_size: int, flip_test: bool = False, precision: str = "fp32",
                  channels_last: bool = False) -> list[tuple[str, Video]]:
    """Predicted videos for every crop of ``store`` (heatmaps are decoded batch by batch, never all held; the head
    runs in ``precision`` and ``channels_last`` as :func:`iter_heatmaps` says)."""
    return predicted_videos(store.crops, codec,
                            iter_heatmaps(store, head, device, batch_size, flip_test, precision, channels_last))


def predicted_videos(crops: CropIndex, codec: HeatmapCodec, heatmaps: Iterator[tuple[np.ndarray, np.ndarray]]
                     ) -> list[tuple[str, Video]]:
    """Predicted videos for every crop of ``crops`` from ``(crop indices, heatmaps)`` batches (decoded one batch at a
    time: :func:`iter_heatmaps`, :func:`iter_heatmaps_from_crops`)."""
    n = len(crops)
    coords = np.zeros((n, NUM_KEYPOINTS, 2))
    scores = np.zeros((n, NUM_KEYPOINTS))
    for idx, batch in heatmaps:
        coords[idx], scores[idx] = keypoints_in_image(batch, idx, crops, codec)
    return build_videos(crops, coords, scores)


def load_head(params: Params, run_name: str, device: torch.device, best: bool = False) -> FaSRnetHead:
    """The trained head of ``run_name`` (``models/<run>/head.pt``; with ``best``, ``head_best.pt``: the best
    validated epoch's)."""
    path = paths.run_dir(run_name) / (paths.BEST_HEAD if best else "head.pt")
    if not path.exists():
        raise FasrnetError(f"{path}: no trained head; run `fasrnet train --run {run_name}` first")
    # data only, like every checkpoint: models/<run> may come from another machine (dvc pull, a shared cache)
    ckpt = read_checkpoint(path, recreate=f"delete {path.parent} and re-run `fasrnet train --run {run_name}`")
    try:
        run = RunConfig(**ckpt["run"])
        m = ckpt["config"]["model"]  # the architecture it was trained with, whatever params say now
        # the backends are numerically equivalent paths: which one runs is today's choice
        head = build_head(m, ckpt["channels"], run.variant, dcn_backend=params.model.dcn_backend)
        head.load_state_dict(ckpt["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise FasrnetError(f"{path}: corrupt head checkpoint ({describe(exc)}); "
                           f"re-run `fasrnet train --run {run_name}`") from None
    return head.to(device).eval()
