"""A tiny end-to-end workspace for the learning-core tests: synthetic data, crops, a pretrained lite backbone
and its feature cache, built once per session through the library (the CLI is exercised by the tests)."""

import os
from pathlib import Path

import pytest
import yaml

from fasrnet.params import load_params

TINY_PARAMS = {
    "data": {"root": "data/raw", "datasets": ["syn17"]},
    "synthesize": {
        "seed": 3, "image_width": 128, "image_height": 96, "frames_per_video": 10,
        "videos": {"train": 2, "val": 1, "test": 1}, "min_people": 1, "max_people": 2,
        # Pinned, so the tiny workspace does not move with the embedded default's tuning.
        "degraded_fraction": 0.35, "episode_max_frames": 3, "blur_strength": 1.0,
    },
    "crops": {"train_views": 1, "shard_size": 8},
    "heatmap": {"input_size": [64, 64]},
    "model": {"backbone_width": 4, "backbone_arch": "lite"},
    "backbone": {"epochs": 1, "batch_size": 16, "lr_steps": [1], "pretrain_videos": 2},
    "extract": {"batch_size": 16, "device": "cpu"},
    # The paper's step schedule and validation, pinned: tests check both.
    "train": {"epochs": 3, "batch_size": 8, "lr_steps": [2], "lr_factor": 0.1, "lr_schedule": "step", "val_every": 2,
              "device": "cpu"},
    "runs": {
        "main": {"main_syn17": {"dataset": "syn17"}},
        "ablation": {"ablation_fda": {"dataset": "syn17", "variant": "fda", "alpha": 0.4}},
        "alpha": {},
        "seed": {},
    },
}


def write_params(directory: Path, **overrides) -> Path:
    raw = yaml.safe_load(yaml.safe_dump(TINY_PARAMS))
    for dotted, value in overrides.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    path = directory / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def workspace(tmp_path_factory):
    """A directory holding params.yaml, data/raw/syn17, data/crops, models/backbone and data/features."""
    from fasrnet import paths
    from fasrnet.backbone import load_frozen_backbone, pretrain_backbone
    from fasrnet.codecs.heatmap import HeatmapCodec
    from fasrnet.data.crops import build_crops
    from fasrnet.data.synthetic import synthesize_dataset
    from fasrnet.features import extract
    from fasrnet.resume import stage_params

    root = tmp_path_factory.mktemp("ws")
    old = os.getcwd()
    os.chdir(root)
    try:
        params = load_params(write_params(root))
        synthesize_dataset(params.data.root, "syn17", params.synthesize)
        codec = HeatmapCodec.from_params(params.heatmap)
        for split in ("train", "val", "test"):
            build_crops(paths.dataset_dir(params, "syn17"), split, paths.crops_dir("syn17", split), codec,
                        params.crops, progress=False, stamp=stage_params(params, "crops"),
                        stage_out=paths.CROPS / "syn17")  # as `fasrnet crops` does: the CLI finds it current
        pretrain_backbone(params, progress=False)
        backbone = load_frozen_backbone(params)
        import torch

        for split in ("train", "val", "test"):
            extract(paths.crops_dir("syn17", split), paths.features_dir("syn17", split), backbone,
                    torch.device("cpu"), 16, progress=False, stamp=stage_params(params, "extract"),
                    stage_out=paths.FEATURES / "syn17")
    finally:
        os.chdir(old)
    return root


@pytest.fixture
def in_workspace(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    return workspace


@pytest.fixture
def shard_writes_fail_from(monkeypatch):
    """``shard_writes_fail_from(k)``: a context in which every shard store raises from shard ``k`` on, as a kill
    would stop it (the shards before it complete, with their markers)."""
    from contextlib import contextmanager

    from fasrnet.shards import ShardWriter

    real = ShardWriter.write_shard

    @contextmanager
    def failing(first_failing: int):
        def write_shard(self, shard, arrays):
            if shard >= first_failing:
                raise RuntimeError("injected failure")
            return real(self, shard, arrays)

        with monkeypatch.context() as m:
            m.setattr(ShardWriter, "write_shard", write_shard)
            yield

    return failing
