"""`fasrnet tables` figures: four non-empty, deterministic PNGs from fake results, with qualitative panels on
degraded frames of a tiny synthetic set (and placeholders when inputs are missing)."""

import copy
import sys
from pathlib import Path

import numpy as np
import pytest

from fasrnet.data import synthetic
from fasrnet.data.posetrack import Person, Video, read_video, write_video
from fasrnet.params import Params, validate_params
from fasrnet.tables.figures import FIGURE_NAMES, make_figures
from fasrnet.tables.inputs import read_inputs
from fasrnet.tables.qualitative import candidates, pckh, select_panels

sys.path.insert(0, str(Path(__file__).parent))
from test_tables import write_fake_results  # noqa: E402

TINY = {
    "seed": 3, "image_width": 96, "image_height": 72, "videos": {"train": 1, "val": 2, "test": 1},
    "frames_per_video": 12, "min_people": 1, "max_people": 2, "degraded_fraction": 0.5,
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _noisy(person: Person, rng: np.random.Generator, sigma: float, tid: int) -> Person:
    kps = person.keypoints.copy()
    fill = kps[person.present, :2].mean(0) if person.present.any() else np.zeros(2)
    kps[~person.present, :2] = fill
    kps[:, :2] += rng.normal(0, sigma, (len(kps), 2))
    kps[:, 2] = 1
    return Person(kps, np.ones(len(kps), bool), track_id=tid, scores=np.full(len(kps), 0.8), score=0.9)


def write_fake_predictions(root: Path, params: Params) -> None:
    """FaSRnet ≈ GT (σ = 1 px); the backbone alone is far off (σ = 6 px) — both for every labeled person."""
    rng = np.random.default_rng(0)
    for ds, fmt in (("syn17", 17), ("syn18", 18)):
        for gt_file in sorted((root / "data" / "raw" / ds / "annotations" / "val").glob("*.json")):
            gt = read_video(gt_file)
            for run, sigma in ((f"main_{ds}", 1.0), (f"backbone_{ds}", 6.0)):
                video = Video(gt.name, [])
                for frame in gt.frames:
                    f = copy.copy(frame)
                    f.persons = [_noisy(p, rng, sigma, k) for k, p in enumerate(frame.persons)]
                    f.ignore_regions = []
                    video.frames.append(f)
                write_video(video, root / "results" / "predictions" / run / "val" / gt_file.name, fmt)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("figs")
    syn = validate_params({"synthesize": TINY}).synthesize
    for ds in ("syn17", "syn18"):
        synthetic.synthesize_dataset(root / "data" / "raw", ds, syn)
    params = Params()
    write_fake_results(root, params)
    write_fake_predictions(root, params)
    return params, root


def test_four_figures_written_and_deterministic(results, tmp_path):
    params, root = results
    first = make_figures(params, root, tmp_path / "a")
    second = make_figures(params, root, tmp_path / "b")
    assert [p.name for p in first] == list(FIGURE_NAMES)
    for a, b in zip(first, second):
        data = a.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, a
        assert data == b.read_bytes(), f"{a.name} differs between two runs"
    assert not list((tmp_path / "a").glob(".*"))  # no temporary files left behind


def test_qualitative_panels_are_degraded_frames(results):
    params, root = results
    inputs = read_inputs(params, root)
    cands = [candidates(inputs, ds, f"main_{ds}") for ds in ("syn17", "syn18")]
    assert all(cands), "every dataset has degraded labeled val frames with both predictions"
    kinds = ("motion_blur", "defocus", "occlusion")
    panels = select_panels(cands, 4)
    assert len(panels) == 4
    assert all(any(k in p.label for k in kinds) for p in panels)
    assert {p.dataset for p in panels} == {"syn17", "syn18"}  # alternating datasets
    scores = [p.score for p in cands[0]]
    assert max(scores) == max(p.score for p in panels if p.dataset == "syn17")  # the most different first
    # FaSRnet's predictions are near GT here, the backbone's far: PCKh says so
    p = panels[0]
    assert p.target_pckh(p.fasrnet) > p.target_pckh(p.backbone)


def test_pckh_of_gt_against_itself_is_one(results):
    _, root = results
    video = read_video(next((root / "data" / "raw" / "syn17" / "annotations" / "val").glob("*.json")))
    person = next(p for f in video.frames for p in f.persons)
    assert pckh(person, person) == (1.0, 0.0)


def test_placeholders_without_inputs(tmp_path):
    written = make_figures(Params(), tmp_path, tmp_path / "figs")
    assert [p.name for p in written] == list(FIGURE_NAMES)
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in written)


def test_cli_writes_figures(results, tmp_path, monkeypatch):
    from fasrnet.cli import main

    params, root = results
    monkeypatch.chdir(root)
    assert main(["tables", "--strict", "--figures", str(tmp_path / "f"), "--out", str(tmp_path / "t.md"),
                 "--summary", str(tmp_path / "s.json")]) == 0
    # the figures, and the tables as a web page for the Snakemake report (tests/tables/test_report_parts.py)
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == sorted([*FIGURE_NAMES, "tables.html"])
    text = (tmp_path / "t.md").read_text()
    assert "## Figures" in text and "qualitative.png" in text
