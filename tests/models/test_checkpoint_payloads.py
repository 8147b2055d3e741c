"""Checkpoints are data, never code (docs/resume.md, "Checkpoints are data"): a pickle payload planted in any file
the pipeline reads as a checkpoint (a run's ``head.pt``, the backbone, the detector weights, a raw pickle) is
refused with one CheckpointError naming the file, and the payload never runs. The training state files
(``checkpoint.pt``, ``pretrain_state.pt``) are tested with their loop, tests/test_epochs.py; ``fasrnet predict``
on a planted ``head.pt``, tests/test_predict.py."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shlex
from pathlib import Path

import pytest
import torch

from fasrnet.models.checkpoint import CheckpointError, read_checkpoint
from fasrnet.models.hrnet import build_hrnet, load_backbone

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


class Payload:
    """Unpickled, runs ``touch marker``: what a tester planted in models/main_syn17/head.pt."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def _plant(path, marker, around=None):
    """``path``: a torch checkpoint of ``around`` (a dict) with the payload beside its entries."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**(around or {}), "extra": Payload(marker)}, path)
    return path


def _refused(info, path):
    message = str(info.value)
    assert message.startswith(f"{path}: refused: the file holds pickled Python objects (posix.system)"), message
    assert "read as data only" in message and len(message.splitlines()) == 1, message
    return message


def test_the_payload_is_live_when_unpickled_unsafely(tmp_path):
    """The control: the planted file does run its code under ``weights_only=False`` (the old reader)."""
    marker = tmp_path / "pwned"
    path = _plant(tmp_path / "head.pt", marker)
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_a_payload_in_a_head_is_refused(tmp_path, monkeypatch):
    from fasrnet.params import load_params
    from fasrnet.predict import load_head

    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "pwned"
    head = {"run": {"name": "main_syn17"}, "channels": 4, "config": {}, "model": {"w": torch.zeros(2)}}
    _plant(tmp_path / "models" / "main_syn17" / "head.pt", marker, head)
    params = load_params(PARAMS)
    with pytest.raises(CheckpointError) as info:
        load_head(params, "main_syn17", torch.device("cpu"))
    message = _refused(info, "models/main_syn17/head.pt")
    assert message.endswith("; delete models/main_syn17 and re-run `fasrnet train --run main_syn17`")
    assert not marker.exists()


def test_a_payload_in_the_backbone_is_refused(tmp_path):
    from fasrnet.backbone import load_frozen_backbone
    from fasrnet.params import load_params

    marker = tmp_path / "pwned"
    path = _plant(tmp_path / "backbone" / "hrnet.pth", marker, dict(build_hrnet(4, arch="lite").state_dict()))
    params = load_params(PARAMS, [f"backbone.checkpoint={path}", "model.backbone_width=4", "model.backbone_arch=lite"])
    with pytest.raises(CheckpointError) as info:
        load_frozen_backbone(params)
    assert _refused(info, path).endswith("; delete it and re-create it with `fasrnet backbone`")
    with pytest.raises(CheckpointError) as info:
        load_backbone(path, width=4, arch="lite")
    _refused(info, path)
    assert not marker.exists()


def test_a_payload_in_detector_weights_is_refused_even_when_its_hash_checks_out(tmp_path):
    from fasrnet.data.download.manifest import MANIFEST_PATH, load_manifest
    from fasrnet.models.detector import DETECTORS, load_person_detector

    name = "fasterrcnn_mobilenet_v3_large_320_fpn"
    obj = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    entry = next(a for a in obj["artefacts"] if a["name"] == DETECTORS[name].artefact)
    marker = tmp_path / "pwned"
    path = _plant(tmp_path / "w" / entry["file"], marker, {"x": torch.zeros(1)})
    entry["sha256_prefix"] = hashlib.sha256(path.read_bytes()).hexdigest()[:8]  # a manifest naming the bad file
    (tmp_path / "manifest.json").write_text(json.dumps(obj))
    with pytest.raises(CheckpointError) as info:
        load_person_detector(name, tmp_path / "w", torch.device("cpu"),
                             manifest=load_manifest(tmp_path / "manifest.json"))
    _refused(info, path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_a_raw_pickle_payload_is_refused(tmp_path, protocol, recwarn):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pth"
    path.write_bytes(pickle.dumps(Payload(marker), protocol=protocol))
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path, recreate="fetch it again")
    message = str(info.value)
    assert message.startswith(f"{path}: ") and len(message.splitlines()) == 1, message
    assert message.endswith("; fetch it again"), message  # how to make it again, whatever the unpickler tripped on
    assert not marker.exists()
    assert not [w for w in recwarn if "pickle protocol" in str(w.message)]  # one line, no warning around it


def test_an_old_checkpoint_holding_numpy_objects_is_refused_and_says_how_to_recreate_it(tmp_path):
    import numpy as np

    path = tmp_path / "checkpoint.pt"
    torch.save({"epoch": 1, "rng": {"numpy": np.random.get_state()}, "loss": np.float64(1.0)}, path)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path, recreate="delete it and re-run")
    message = str(info.value)
    assert message.startswith(f"{path}: refused: the file holds pickled Python objects (numpy."), message
    assert message.endswith("; delete it and re-run") and len(message.splitlines()) == 1


def test_data_only_checkpoints_still_load(tmp_path):
    path = tmp_path / "ok.pt"
    obj = {"a": torch.arange(3), "b": [1, 2.5, None, "x", (True, False)], "c": {"d": torch.ones(2)}}
    torch.save(obj, path)
    back = read_checkpoint(path)
    assert torch.equal(back["a"], obj["a"]) and back["b"] == obj["b"] and torch.equal(back["c"]["d"], obj["c"]["d"])
