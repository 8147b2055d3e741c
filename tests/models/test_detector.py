"""The person detector (fasrnet/models/detector.py): its manifest entries agree with the installed torchvision, its
weights come through ``fasrnet download`` (a local HTTP server on 127.0.0.1, never another address) and are
checked before loading, and ``detect`` returns person boxes as ``[x, y, w, h, score]``.

The network is ``fasterrcnn_mobilenet_v3_large_320_fpn`` with random weights (built with ``weights=None,
weights_backbone=None``), its state dict saved without the BatchNorm ``num_batches_tracked`` counters, as
torchvision's published frozen-BN files are."""

from __future__ import annotations

import hashlib
import json
import posixpath
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch

from fasrnet.cli import main
from fasrnet.data.download.manifest import MANIFEST_PATH, load_manifest, sha256_prefix_from_name
from fasrnet.errors import FasrnetError
from fasrnet.models.detector import DETECTORS, PersonDetector, build_detector, load_person_detector

NAME = "fasterrcnn_mobilenet_v3_large_320_fpn"
ARTEFACT = DETECTORS[NAME].artefact
FILE = "fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth"
WEIGHTS_ENUMS = {
    "fasterrcnn_resnet50_fpn": "FasterRCNN_ResNet50_FPN_Weights",
    "fasterrcnn_resnet50_fpn_v2": "FasterRCNN_ResNet50_FPN_V2_Weights",
    "fasterrcnn_mobilenet_v3_large_fpn": "FasterRCNN_MobileNet_V3_Large_FPN_Weights",
    "fasterrcnn_mobilenet_v3_large_320_fpn": "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights",
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_manifest_entries_agree_with_torchvision(name):
    from torchvision.models import detection

    spec = DETECTORS[name]
    weights = getattr(detection, WEIGHTS_ENUMS[name]).COCO_V1
    art = load_manifest().get(spec.artefact)
    assert spec.builder == name and callable(getattr(detection, spec.builder))
    assert (art.kind, art.dataset, art.default, art.mirror_groups) == ("weights", None, False, ["torchvision"])
    assert art.url == weights.url and art.file == posixpath.basename(weights.url)
    assert art.sha256_prefix == sha256_prefix_from_name(art.file) and len(art.sha256_prefix) == 8
    assert spec.box_ap == weights.meta["_metrics"]["COCO-val2017"]["box_map"]
    assert art.approx_size_bytes == round(weights.meta["_file_size"] * 2**20)


def test_detectors_are_not_fetched_by_default():
    from fasrnet.data.download.orchestration import select_artefacts
    from fasrnet.params import DownloadParams

    chosen = select_artefacts(load_manifest(), ["posetrack18"], ["images", "labels", "boxes", "weights"],
                              DownloadParams().weights)
    assert not [a.name for a in chosen if a.name.startswith("detector_")]


# --------------------------------------------------------------------------------------------------------------
# Fixtures: a served state dict, a test manifest, a params file


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):  # noqa: N802
        data = self.server.files.get(self.path)
        self.send_response(200 if data is not None else 404)
        self.send_header("Content-Length", str(len(data or b"")))
        self.end_headers()
        self.wfile.write(data or b"")


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.files = {}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def state_bytes(tmp_path_factory):
    """The random-init network's state dict in the published layout, as a file's bytes (about 78 MB)."""
    torch.manual_seed(0)
    state = {k: v for k, v in build_detector(NAME).state_dict().items() if not k.endswith(".num_batches_tracked")}
    path = tmp_path_factory.mktemp("detector") / FILE
    torch.save(state, path)
    return path.read_bytes()


def _manifest(tmp_path, prefix, url=None):
    """The packaged manifest with the 320 detector's sha256 prefix (and url) replaced."""
    obj = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    entry = next(a for a in obj["artefacts"] if a["name"] == ARTEFACT)
    entry["sha256_prefix"] = prefix
    if url is not None:
        entry["url"] = url
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(obj))
    return path


def _params_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("data:\n  root: " + str(tmp_path / "raw") + "\n"
                    "download:\n  cache_dir: " + str(tmp_path / "cache") + "\n  weights_dir: " + str(tmp_path / "w")
                    + "\n  retries: 1\n  backoff_s: 0.001\n  backoff_max_s: 0.001\n  timeout_s: 10.0\n")
    return str(path)


# --------------------------------------------------------------------------------------------------------------
# Download, check, load, detect


def test_download_then_load_and_detect(server, state_bytes, tmp_path, capsys, monkeypatch):
    for key in (f"FASRNET_MIRROR_{ARTEFACT.upper()}", "FASRNET_TORCHVISION_MIRROR"):
        monkeypatch.delenv(key, raising=False)
    server.files["/" + FILE] = state_bytes
    url = f"http://127.0.0.1:{server.server_port}/{FILE}"
    manifest = _manifest(tmp_path, _sha(state_bytes)[:8], url)
    rc = main(["--params", _params_file(tmp_path), "download", "--manifest", str(manifest), "--artefact", ARTEFACT])
    assert rc == 0, capsys.readouterr().err
    weights = tmp_path / "w" / FILE
    assert weights.read_bytes() == state_bytes
    assert json.loads((tmp_path / "w" / (FILE + ".verified.json")).read_text())["sha256"] == _sha(state_bytes)

    detector = load_person_detector(NAME, tmp_path / "w", torch.device("cpu"), manifest=load_manifest(manifest))
    assert not detector.model.training
    frame = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    boxes = detector.detect(frame)
    assert boxes.dtype == np.float64 and boxes.ndim == 2 and boxes.shape[1] == 5
    assert ((boxes[:, 4] >= 0) & (boxes[:, 4] <= 1)).all() and (boxes[:, 2:4] >= 0).all()
    many = detector.detect_many([frame, frame[:64, :80]])
    assert len(many) == 2 and all(b.shape[1] == 5 for b in many)
    with pytest.raises(FasrnetError, match=r"expected an RGB uint8 frame \(H, W, 3\)"):
        detector.detect(frame.astype(np.float32))


class _FakeDetector(torch.nn.Module):
    """Returns fixed torchvision-style outputs: boxes x0, y0, x1, y1; labels; scores."""

    def forward(self, images):
        out = {"boxes": torch.tensor([[10.0, 20.0, 40.0, 80.0], [0.0, 0.0, 5.0, 5.0], [1.0, 2.0, 3.0, 4.0]]),
               "labels": torch.tensor([1, 3, 1]), "scores": torch.tensor([0.3, 0.99, 0.7])}
        return [out for _ in images]


def test_detect_keeps_persons_as_xywh_by_score():
    detector = PersonDetector(_FakeDetector(), torch.device("cpu"))
    boxes = detector.detect(np.zeros((8, 8, 3), np.uint8))
    np.testing.assert_allclose(boxes, [[1, 2, 2, 2, 0.7], [10, 20, 30, 60, 0.3]], rtol=1e-6)
    assert boxes.dtype == np.float64 and detector.detect_many([]) == []


# --------------------------------------------------------------------------------------------------------------
# Errors


def test_missing_weights_name_the_file_and_the_download_command(tmp_path):
    with pytest.raises(FasrnetError) as info:
        load_person_detector(NAME, tmp_path / "w", torch.device("cpu"))
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'w' / FILE}: person-detector weights missing")
    assert f"`fasrnet download --artefact {ARTEFACT}`" in message and "--boxes FILE" in message


def test_a_file_failing_the_hash_check_is_refused(tmp_path):
    data = np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    manifest = load_manifest(_manifest(tmp_path, _sha(data)[:8]))
    (tmp_path / FILE).write_bytes(bytes([data[0] ^ 0xFF]) + data[1:])  # one byte flipped, no record
    with pytest.raises(FasrnetError) as info:
        load_person_detector(NAME, tmp_path, torch.device("cpu"), manifest=manifest)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / FILE}: not the {ARTEFACT} file")
    assert f"expected {_sha(data)[:8]}" in message and f"fasrnet download --artefact {ARTEFACT}" in message


def test_a_state_dict_of_another_network_is_refused(tmp_path):
    torch.save({"x": torch.zeros(3)}, tmp_path / FILE)
    manifest = load_manifest(_manifest(tmp_path, _sha((tmp_path / FILE).read_bytes())[:8]))
    with pytest.raises(FasrnetError, match=rf"{FILE}: not a {NAME} checkpoint: \d+ missing key\(s\): .*"
                                           r"1 unexpected key\(s\): x"):
        load_person_detector(NAME, tmp_path, torch.device("cpu"), manifest=manifest)


def test_an_unknown_detector_lists_the_names(tmp_path):
    with pytest.raises(FasrnetError) as info:
        load_person_detector("yolo", tmp_path, torch.device("cpu"))
    assert "unknown person detector 'yolo'" in str(info.value)
    assert all(name in str(info.value) for name in DETECTORS)
