"""``fasrnet download``: resume, retries, hash checks, safe extraction, ``--from`` layout checks.

Every network test talks to a local HTTP server started here on 127.0.0.1 (never another address).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import shutil
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from fasrnet.cli import main
from fasrnet.data.download import (
    Artefact,
    DownloadError,
    FetchOptions,
    FileSpec,
    Plan,
    UnsafeArchiveError,
    acquire,
    ensure_file,
    extract_archive,
    fetch,
    join_base,
    load_manifest,
    mirror_env_name,
    resolve_urls,
    sha256_prefix_from_name,
    verify_layout,
)
from fasrnet.data.posetrack import Frame, Person, Video, write_video

FAST = FetchOptions(retries=3, backoff_s=0.001, backoff_max_s=0.002, timeout_s=5.0, chunk_bytes=1024, progress=False)
TOKEN = "SECRET-TOKEN-42"


# --------------------------------------------------------------------------------------------------------------
# A local HTTP server with Range support and switchable faults


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):  # noqa: N802
        srv = self.server
        path = self.path.split("?")[0]
        srv.requests.append({"path": path, "query": self.path.partition("?")[2], "range": self.headers.get("Range")})
        if path in srv.not_found or path not in srv.files:
            self._empty(404)
            return
        data = srv.files[path]
        if path in srv.corrupt_once:
            srv.corrupt_once.discard(path)
            data = bytes(b ^ 0xFF for b in data)
        start = 0
        rng = self.headers.get("Range")
        if rng and not srv.ignore_range:
            start = int(re.match(r"bytes=(\d+)-", rng).group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        cut = srv.cut_after.pop(path, None)
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def _empty(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()


class Server:
    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.files = {}
        self.httpd.requests = []
        self.httpd.not_found = set()
        self.httpd.corrupt_once = set()
        self.httpd.cut_after = {}
        self.httpd.ignore_range = False
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def __getattr__(self, name):
        return getattr(self.httpd, name)

    def url(self, path, token=True):
        return f"http://127.0.0.1:{self.httpd.server_port}{path}" + (f"?token={TOKEN}" if token else "")

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def logs():
    return []  # tests pass ``logs.append`` as the log callback


def _payload(n=10_000, seed=0):
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _no_secret(text):
    return TOKEN not in text and "token=" not in text and "127.0.0.1" not in text


# --------------------------------------------------------------------------------------------------------------
# Fetch: resume, restart, corruption, errors


def test_interrupted_download_resumes_with_range(server, tmp_path, logs):
    data = _payload()
    server.files["/f.bin"] = data
    server.cut_after["/f.bin"] = 3000
    spec = FileSpec(file="f.bin", sha256=_sha(data))
    sha = ensure_file(spec, tmp_path / "f.bin", server.url("/f.bin"), "thing", FAST, logs.append)
    assert sha == _sha(data)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert [r["range"] for r in server.requests] == [None, "bytes=3000-"]
    assert not (tmp_path / "f.bin.part").exists()
    assert json.loads((tmp_path / "f.bin.verified.json").read_text())["sha256"] == _sha(data)
    assert all(_no_secret(line) for line in logs)


def test_part_file_from_an_earlier_run_is_resumed(server, tmp_path, logs):
    data = _payload()
    server.files["/f.bin"] = data
    (tmp_path / "f.bin.part").write_bytes(data[:4000])  # what a killed run left
    fetch(server.url("/f.bin"), tmp_path / "f.bin", "thing", opts=FAST, log=logs.append)
    assert [r["range"] for r in server.requests] == ["bytes=4000-"]
    assert (tmp_path / "f.bin").read_bytes() == data


def test_attempts_without_progress_are_bounded(server, tmp_path, logs):
    data = _payload()
    server.files["/f.bin"] = data
    server.cut_after["/f.bin"] = 0  # headers, then the connection drops with no byte sent
    no_retry = FetchOptions(retries=0, backoff_s=0.0, progress=False)
    with pytest.raises(DownloadError, match="thing: download failed after 1 attempts without progress"):
        fetch(server.url("/f.bin"), tmp_path / "f.bin", "thing", opts=no_retry, log=logs.append)
    assert len(server.requests) == 1


def test_server_ignoring_range_restarts_from_zero(server, tmp_path, logs):
    data = _payload()
    server.files["/f.bin"] = data
    server.httpd.ignore_range = True
    (tmp_path / "f.bin.part").write_bytes(b"x" * 2500)  # stale bytes that must not survive
    ensure_file(FileSpec(file="f.bin", sha256=_sha(data)), tmp_path / "f.bin", server.url("/f.bin"), "thing",
                FAST, logs.append)
    assert server.requests[0]["range"] == "bytes=2500-"
    assert (tmp_path / "f.bin").read_bytes() == data
    assert any("ignored the resume request" in line for line in logs)


def test_corrupted_file_is_detected_and_fetched_again(server, tmp_path, logs):
    data = _payload()
    server.files["/f.bin"] = data
    server.corrupt_once.add("/f.bin")
    ensure_file(FileSpec(file="f.bin", sha256=_sha(data)), tmp_path / "f.bin", server.url("/f.bin"), "thing",
                FAST, logs.append)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert len(server.requests) == 2 and server.requests[1]["range"] is None
    assert any("corrupt or not the expected file" in line for line in logs)


def test_corrupt_existing_file_without_record_is_replaced(server, tmp_path, logs):
    data = _payload()
    server.files["/f.bin"] = data
    (tmp_path / "f.bin").write_bytes(b"garbage")
    ensure_file(FileSpec(file="f.bin", sha256=_sha(data)), tmp_path / "f.bin", server.url("/f.bin"), "thing",
                FAST, logs.append)
    assert (tmp_path / "f.bin").read_bytes() == data


def test_rerun_skips_verified_file_without_a_request(server, tmp_path, logs):
    data = _payload()
    server.files["/f.bin"] = data
    spec = FileSpec(file="f.bin", sha256=_sha(data))
    ensure_file(spec, tmp_path / "f.bin", server.url("/f.bin"), "thing", FAST, logs.append)
    n = len(server.requests)
    ensure_file(spec, tmp_path / "f.bin", server.url("/f.bin"), "thing", FAST, logs.append)
    assert len(server.requests) == n
    assert "already verified" in logs[-1]
    # A file changed after verification is checked again (and here refetched).
    (tmp_path / "f.bin").write_bytes(b"changed")
    ensure_file(spec, tmp_path / "f.bin", server.url("/f.bin"), "thing", FAST, logs.append)
    assert len(server.requests) == n + 1 and (tmp_path / "f.bin").read_bytes() == data


def test_http_404_is_a_clear_error_without_the_url(server, tmp_path, logs):
    server.not_found.add("/gone.tar")
    with pytest.raises(DownloadError) as info:
        ensure_file(FileSpec(file="gone.tar"), tmp_path / "gone.tar", server.url("/gone.tar"), "posetrack18_labels",
                    FAST, logs.append)
    message = str(info.value)
    assert "posetrack18_labels" in message and "404" in message and "Not Found" in message
    assert _no_secret(message) and all(_no_secret(line) for line in logs)
    assert len(server.requests) == 1  # no retries for a permanent error


def test_connection_refused_is_a_clear_error_without_the_url(tmp_path, logs):
    url = f"http://127.0.0.1:{_free_port()}/x.pth?token={TOKEN}"
    with pytest.raises(DownloadError) as info:
        fetch(url, tmp_path / "x.pth", "hrnet_w48_mmpose1", opts=FAST, log=logs.append)
    message = str(info.value)
    assert "hrnet_w48_mmpose1" in message and "connection refused" in message
    assert f"after {FAST.retries + 1} attempts" in message
    assert _no_secret(message) and all(_no_secret(line) for line in logs)
    assert len([line for line in logs if "retrying" in line]) == FAST.retries


def test_mmpose_weights_sha256_prefix_checked(server, tmp_path, logs):
    data = _payload(5000, seed=3)
    good = f"td-hm_hrnet-w48_8xb32-210e_coco-384x288-{_sha(data)[:8]}_20220915.pth"
    bad = "td-hm_hrnet-w48_8xb32-210e_coco-384x288-00000000_20220915.pth"
    server.files["/" + good] = data
    server.files["/" + bad] = data
    for name in (good, bad):
        assert sha256_prefix_from_name(name) is not None
    ok = FileSpec(file=good, sha256_prefix=sha256_prefix_from_name(good))
    assert ensure_file(ok, tmp_path / good, server.url("/" + good), "w", FAST, logs.append).startswith(ok.sha256_prefix)
    wrong = FileSpec(file=bad, sha256_prefix=sha256_prefix_from_name(bad))
    with pytest.raises(DownloadError, match="failed the check twice.*expected 00000000"):
        ensure_file(wrong, tmp_path / bad, server.url("/" + bad), "w", FAST, logs.append)
    assert not (tmp_path / bad).exists()
    assert sum(r["path"] == "/" + bad for r in server.requests) == 2  # fetched again once, then gave up


def test_manifest_lists_every_artefact_and_the_mmpose_prefixes_match_the_names():
    m = load_manifest()
    names = {a.name for a in m.artefacts}
    assert {"posetrack18_labels", "posetrack18_images", "posetrack17_labels", "posetrack17_images",
            "posetrack18_mmpose_annotations", "posetrack18_boxes_dcpose_val", "posetrack18_boxes_dcpose_test",
            "hrnet_w48_official", "hrnet_w48_mmpose1", "hrnet_w48_mmpose0"} <= names
    pt18 = m.get("posetrack18_images")
    assert [f.file[-2:] for f in pt18.files] == [f"a{c}" for c in "abcdefghijklmnopqr"]
    assert len(m.get("posetrack17_images").files) == 8
    assert m.datasets["posetrack18"].expected_videos == {"train": 593, "val": 170, "test": 375}
    for name in ("hrnet_w48_mmpose1", "hrnet_w48_mmpose0"):
        spec = m.get(name).files[0]
        assert spec.sha256_prefix == sha256_prefix_from_name(spec.file)
    assert m.get("hrnet_w48_mmpose1").files[0].sha256_prefix == "c161b7de"
    assert m.get("hrnet_w48_mmpose0").files[0].sha256_prefix == "314c8528"


def test_mirror_urls_replace_recorded_ones(monkeypatch):
    m = load_manifest()
    images = m.get("posetrack18_images")
    urls = resolve_urls(images, environ={"FASRNET_POSETRACK_MIRROR": "https://m.example/pt/?t=1"})
    assert urls[0] == "https://m.example/pt/posetrack18_images.tar.aa?t=1" and len(urls) == 18
    urls = resolve_urls(images, environ={mirror_env_name("posetrack18_images"): "https://o.example/{file}?k=2"})
    assert urls[-1] == "https://o.example/posetrack18_images.tar.ar?k=2"
    labels = m.get("posetrack18_labels")
    assert resolve_urls(labels, environ={mirror_env_name(labels.name): "https://x/y.tgz"}) == ["https://x/y.tgz"]
    assert resolve_urls(labels, mirror="https://base/", environ={})[0] == join_base("https://base/", labels.file)
    assert resolve_urls(labels, environ={}) == [labels.url]


# --------------------------------------------------------------------------------------------------------------
# Extraction


def _tar(members):
    """members: (name, bytes) for files, (name, ('sym', target)) / (name, ('lnk', target)) for links."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type = tarfile.SYMTYPE if content[0] == "sym" else tarfile.LNKTYPE
                info.linkname = content[1]
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _write(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ([("ok/a.txt", b"a"), ("ok/../../evil.txt", b"x")], "escapes"),
        ([("ok/a.txt", b"a"), ("/abs/evil.txt", b"x")], "absolute path"),
        ([("ok/a.txt", b"a"), ("ok/link", ("sym", "../../outside"))], "points outside"),
        ([("ok/a.txt", b"a"), ("ok/link", ("sym", "/etc/passwd"))], "absolute path"),
        ([("ok/a.txt", b"a"), ("ok/hard", ("lnk", "../outside.txt"))], "outside"),
        # A link that is harmless by name but resolves outside through an earlier in-tree link.
        ([("a/b/sub", ("sym", "..")), ("a/b/sub/l", ("sym", "../.."))], "resolves outside"),
    ],
)
def test_unsafe_tar_members_are_refused_and_nothing_is_left(tmp_path, members, why):
    archive = _write(tmp_path / "bad.tar", _tar(members))
    target = tmp_path / "out" / "ds"
    with pytest.raises(UnsafeArchiveError, match=why) as info:
        extract_archive([archive], target, "tar", label="bad_archive")
    assert "bad_archive" in str(info.value) and repr(members[-1][0]) in str(info.value)
    assert not target.exists()  # created by the call, removed again: nothing extracted, no temp dir
    assert not (tmp_path / "out" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_unsafe_zip_member_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ok.txt", "a")
        zf.writestr("../evil.txt", "x")
    archive = _write(tmp_path / "bad.zip", buf.getvalue())
    (tmp_path / "out").mkdir()
    with pytest.raises(UnsafeArchiveError, match="escapes"):
        extract_archive([archive], tmp_path / "out", "zip")
    assert list((tmp_path / "out").iterdir()) == []


def test_safe_tar_with_inner_links_and_prefix_strip(tmp_path):
    archive = _write(tmp_path / "ok.tar.gz", gzip.compress(_tar([
        ("posetrack_data/annotations/val/a.json", b"{}"),
        ("posetrack_data/annotations/latest", ("sym", "val")),
        ("posetrack_data/annotations/copy.json", ("lnk", "posetrack_data/annotations/val/a.json")),
    ])))  # gzip-compressed, as the labels archive is
    target = tmp_path / "ds"
    (target / "images").mkdir(parents=True)
    entries = extract_archive([archive], target, "tar", strip_prefix="posetrack_data")
    assert entries == ["annotations"]
    assert (target / "annotations/val/a.json").read_bytes() == b"{}"
    assert (target / "annotations/latest/a.json").read_bytes() == b"{}"
    assert (target / "annotations/copy.json").read_bytes() == b"{}"
    assert (target / "images").is_dir()  # other entries untouched
    assert sorted(p.name for p in target.iterdir()) == ["annotations", "images"]  # no temp dir left


def test_multipart_archive_is_downloaded_joined_and_extracted(server, tmp_path, logs):
    files = {f"images/val/000001_mpii_test/{k:06d}.jpg": _payload(3000, seed=k) for k in range(4)}
    blob = _tar(list(files.items()))
    cuts = [0, len(blob) // 3, 2 * len(blob) // 3, len(blob)]
    parts = []
    for k in range(3):
        name = f"imgs.tar.a{'abc'[k]}"
        server.files[f"/{name}"] = blob[cuts[k]:cuts[k + 1]]
        parts.append(FileSpec(file=name, url=server.url(f"/{name}"), sha256=_sha(blob[cuts[k]:cuts[k + 1]])))
    server.cut_after["/imgs.tar.ab"] = 100  # one part is interrupted on the way
    art = Artefact(name="toy_images", dataset="toy", kind="images", parts=parts, archive="tar",
                   strip_prefix="posetrack_data")
    plan = Plan(dest=tmp_path / "raw", cache_dir=tmp_path / "cache", weights_dir=tmp_path / "w", opts=FAST,
                environ={})
    assert acquire(art, plan, log=logs.append)
    for rel, data in files.items():
        assert (tmp_path / "raw/toy" / rel).read_bytes() == data
    n = len(server.requests)
    assert acquire(art, plan, log=logs.append)  # re-run: no request, no re-extraction
    assert len(server.requests) == n
    assert any("already installed" in line for line in logs)
    assert all(_no_secret(line) for line in logs)


# --------------------------------------------------------------------------------------------------------------
# --from and the layout check


def _video(split, name, n_frames=3):
    frames = []
    for k in range(n_frames):
        person = Person.empty(track_id=0)
        person.keypoints[0] = (10.0 + k, 20.0, 1.0)
        person.present[0] = True
        frames.append(Frame(image=f"images/{split}/{name}/{k:06d}.jpg", is_labeled=True, persons=[person]))
    return Video(name=name, frames=frames)


def _tree(root, videos=(("train", "000001_bonn_train"), ("val", "000342_mpii_test"), ("val", "000522_mpii_test"),
                        ("test", "000001_mpiinew_test"))):
    for split, name in videos:
        video = _video(split, name)
        write_video(video, root / "annotations" / split / f"{name}.json", 18)
        for frame in video.frames:
            (root / frame.image).parent.mkdir(parents=True, exist_ok=True)
            (root / frame.image).write_bytes(b"\xff\xd8 not really a jpeg")
    return root


def _params_file(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("data:\n  root: " + str(tmp_path / "raw") + "\n"  # data.datasets stays the synthetic default
                 "download:\n  cache_dir: " + str(tmp_path / "cache") + "\n  weights_dir: " + str(tmp_path / "w")
                 + "\n  retries: 1\n  backoff_s: 0.001\n  backoff_max_s: 0.001\n  timeout_s: 5.0\n")
    return str(f)


EXPECT = ["--expect", "train=1,val=2,test=1"]


def test_from_dir_adopts_a_complete_tree(tmp_path, capsys):
    src = _tree(tmp_path / "mine")
    rc = main(["--params", _params_file(tmp_path), "download", "--dataset", "posetrack18", "--from", str(src),
               "--what", "images,labels", *EXPECT])
    err = capsys.readouterr().err
    assert rc == 0, err
    dest = tmp_path / "raw" / "posetrack18"
    assert (dest / "images").is_symlink() and (dest / "annotations").is_symlink()
    assert "layout OK" in err and "val 2" in err


def test_from_dir_copy_mode(tmp_path, capsys):
    src = _tree(tmp_path / "mine")
    rc = main(["--params", _params_file(tmp_path), "download", "--dataset", "posetrack18", "--from", str(src),
               "--copy", "--what", "labels", *EXPECT])
    assert rc == 0, capsys.readouterr().err
    dest = tmp_path / "raw" / "posetrack18"
    assert not (dest / "images").is_symlink() and (dest / "images/val/000342_mpii_test/000002.jpg").is_file()


def test_from_dir_refuses_a_frame_linked_out_of_the_tree(tmp_path, capsys):
    src = _tree(tmp_path / "mine")
    outside = tmp_path / "elsewhere.jpg"
    outside.write_bytes(b"\xff\xd8 not in the copy")
    frame = src / "images/val/000342_mpii_test/000001.jpg"
    frame.unlink()
    frame.symlink_to(outside)
    inner = src / "images/val/000342_mpii_test/000002.jpg"  # a link to another frame of the copy is fine
    inner.unlink()
    inner.symlink_to(src / "images/val/000342_mpii_test/000000.jpg")
    args = ["--params", _params_file(tmp_path), "download", "--dataset", "posetrack18", "--from", str(src),
            "--what", "images,labels", *EXPECT]
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 2 and "layout OK" not in err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: {frame}: a symbolic link to {outside}, outside the adopted tree {src}; move the files into the tree, "
        "adopt the folder that holds them all, or adopt with --copy"]
    assert not (tmp_path / "raw" / "posetrack18").exists()
    frame.unlink()
    frame.symlink_to(outside.rename(src / "images" / "kept.jpg"))  # within the tree: adopted
    assert main(args) == 0 and "layout OK" in capsys.readouterr().err


def test_from_dir_lists_a_missing_video_and_a_missing_image(tmp_path, capsys):
    src = _tree(tmp_path / "mine")
    (src / "annotations/val/000342_mpii_test.json").unlink()  # images there, annotation gone
    (src / "images/val/000522_mpii_test/000001.jpg").unlink()
    rc = main(["--params", _params_file(tmp_path), "download", "--dataset", "posetrack18", "--from", str(src),
               "--what", "images,labels", *EXPECT])
    err = capsys.readouterr().err
    assert rc != 0
    assert "val/000342_mpii_test: annotation file missing" in err
    assert "val: 1 videos with annotation files, expected 2" in err
    assert ("images/val/000522_mpii_test/000001.jpg referenced by annotations/val/000522_mpii_test.json: not found"
            in err)
    problems = [line for line in err.splitlines() if line.startswith("error: posetrack18: ")]
    assert len(problems) == 3  # train and test are fine


def test_from_dir_without_the_dataset_fails(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    rc = main(["--params", _params_file(tmp_path), "download", "--dataset", "posetrack18", "--from",
               str(tmp_path / "empty"), "--what", "images,labels"])
    err = capsys.readouterr().err
    assert rc == 2 and "no extracted tree" in err
    assert f"error: posetrack18: {tmp_path / 'raw' / 'posetrack18'}: dataset directory missing" in err


def test_layout_check_uses_manifest_counts_and_reports_bad_json(tmp_path):
    root = _tree(tmp_path / "ds")
    (root / "annotations/train/000001_bonn_train.json").write_text('{"images": [{"id": 1}]}')
    report = verify_layout(root, {"train": 593, "val": 170, "test": 375}, {"val": "read"})
    text = "\n".join(report.problems)
    assert "val: 2 videos with annotation files, expected 170 (read)" in text
    assert "annotations/train/000001_bonn_train.json: unreadable: images[0].file_name: missing" in text
    assert not report.ok


def test_verify_only_on_a_missing_whole_image_folder(tmp_path, capsys):
    root = _tree(tmp_path / "raw" / "posetrack18")
    shutil.rmtree(root / "images/test/000001_mpiinew_test")
    rc = main(["--params", _params_file(tmp_path), "download", "--dataset", "posetrack18", "--verify-only", *EXPECT])
    err = capsys.readouterr().err
    assert rc != 0
    assert "images/test/000001_mpiinew_test/: directory missing (3 frames referenced by " in err
    shutil.rmtree(root / "images/val")  # a whole split's images: one line, not one per video
    report = verify_layout(root)
    assert report.problems == ["images/val/: directory missing (images of 2 annotated videos)",
                               "images/test/000001_mpiinew_test/: directory missing (3 frames referenced by "
                               "annotations/test/000001_mpiinew_test.json)"]


def test_from_dir_adopts_archives_and_box_files_too(tmp_path, capsys):
    # A user with the DCPose box file and the mmpose checkpoint on disk (no URL needed).
    src = _tree(tmp_path / "mine")
    boxes = [{"image_name": "images/val/000342_mpii_test/000000.jpg", "bbox": [1, 2, 30, 40], "score": 0.9,
              "nframes": 3, "frame_id": 10003420000, "image_id": 10003420000, "category_id": 1}]
    (src / "posetrack18_precomputed_boxes").mkdir()
    (src / "posetrack18_precomputed_boxes/val_boxes.json").write_text(json.dumps(boxes))
    rc = main(["--params", _params_file(tmp_path), "-S", "download.boxes_source=dcpose", "download",
               "--dataset", "posetrack18", "--from", str(src), "--what", "labels,images,boxes", *EXPECT])
    err = capsys.readouterr().err
    assert rc == 0, err
    out = json.loads((tmp_path / "raw/posetrack18/detections/val_boxes.json").read_text())
    assert out[0]["bbox"] == [1.0, 2.0, 30.0, 40.0] and out[0]["image_id"] == 10003420000
    assert "posetrack18_boxes_dcpose_test" in err  # not in DIR: named as skipped


# --------------------------------------------------------------------------------------------------------------
# The CLI end to end against the local server


def _toy_manifest(tmp_path, server, data):
    name = f"hrnet-{_sha(data)[:8]}_20200101.pth"
    server.files["/" + name] = data
    manifest = {"version": 1, "artefacts": [
        {"name": "toy_weights", "dataset": None, "kind": "weights", "file": name, "url": server.url("/" + name),
         "sha256_prefix": _sha(data)[:8]},
        {"name": "toy_missing", "dataset": None, "kind": "weights", "file": "gone.pth", "url": server.url("/gone.pth")},
    ]}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    return str(path), name


def test_cli_downloads_weights_and_reports_404_without_url(server, tmp_path, capsys):
    data = _payload(4000, seed=7)
    manifest, name = _toy_manifest(tmp_path, server, data)
    base = ["--params", _params_file(tmp_path), "download", "--manifest", manifest]
    assert main([*base, "--artefact", "toy_weights"]) == 0
    assert (tmp_path / "w" / name).read_bytes() == data
    n = len(server.requests)
    assert main([*base, "--artefact", "toy_weights"]) == 0
    assert len(server.requests) == n  # verified: skipped
    capsys.readouterr()
    assert main([*base, "--artefact", "toy_weights,toy_missing"]) == 2
    err = capsys.readouterr().err
    assert "error: toy_missing: HTTP 404 Not Found" in err and _no_secret(err)


def test_cli_mmpose_tarball_through_an_env_mirror_becomes_pipeline_boxes(server, tmp_path, capsys, monkeypatch):
    merged = {"images": [{"file_name": "images/val/000342_mpii_test/000000.jpg", "id": 10003420000,
                          "frame_id": 10003420000, "nframes": 2, "vid_id": "000342"},
                         {"file_name": "images/val/000342_mpii_test/000001.jpg", "id": 10003420001,
                          "frame_id": 10003420001, "nframes": 2, "vid_id": "000342"}]}
    dets = [{"image_id": 10003420001, "bbox": [5, 6, 7, 8], "score": 0.05, "category_id": 1},
            {"image_id": 10003420000, "bbox": [1, 1, 2, 2], "score": 0.8, "category_id": 2}]
    blob = _tar([("annotations/posetrack18_val.json", json.dumps(merged).encode()),
                 ("annotations/posetrack18_val_human_detections.json", json.dumps(dets).encode())])
    server.files["/pt18.tar"] = blob
    monkeypatch.setenv(mirror_env_name("posetrack18_mmpose_annotations"), server.url("/pt18.tar"))
    rc = main(["--params", _params_file(tmp_path), "download", "--dataset", "posetrack18", "--what", "boxes"])
    err = capsys.readouterr().err
    assert rc == 0, err
    out = json.loads((tmp_path / "raw/posetrack18/detections/val_boxes.json").read_text())
    assert out == [{"image_name": "images/val/000342_mpii_test/000001.jpg", "image_id": 10003420001,
                    "category_id": 1, "bbox": [5.0, 6.0, 7.0, 8.0], "score": 0.05, "nframes": 2,
                    "frame_id": 10003420001}]
    assert (tmp_path / "raw/posetrack18/mmpose/annotations/posetrack18_val.json").is_file()
    assert _no_secret(err) and server.requests[0]["query"] == f"token={TOKEN}"


def test_cli_without_a_url_explains_how_to_supply_one(tmp_path, capsys, monkeypatch):
    for key in ("FASRNET_MIRROR_HRNET_W48_OFFICIAL", "FASRNET_HRNET_MIRROR"):
        monkeypatch.delenv(key, raising=False)
    rc = main(["--params", _params_file(tmp_path), "download", "--artefact", "hrnet_w48_official"])
    err = capsys.readouterr().err
    assert rc == 2 and "hrnet_w48_official: no download URL" in err and "FASRNET_MIRROR_HRNET_W48_OFFICIAL" in err


def test_cli_embedded_default_has_nothing_to_download(tmp_path, capsys):
    assert main(["--params", _params_file(tmp_path), "download"]) == 0
    assert "nothing to download" in capsys.readouterr().err


def test_fetch_options_default_to_the_download_params():
    from fasrnet.params import DownloadParams

    assert FetchOptions() == FetchOptions.from_params(DownloadParams())
    p = DownloadParams(retries=1, backoff_s=0.5, backoff_max_s=1.0, timeout_s=3.0)
    assert FetchOptions.from_params(p) == FetchOptions(retries=1, backoff_s=0.5, backoff_max_s=1.0, timeout_s=3.0)
