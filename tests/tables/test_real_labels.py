"""Rows measured on adopted real data name the labels they were measured on (the dataset's ``dataset.json``,
copied into the metrics file by ``fasrnet evaluate``); PoseTrack21 rows are labelled so and get no Δ to the
paper's PoseTrack18 numbers (docs/data.md, §8)."""

import json

from fasrnet.cli import main
from fasrnet.io import write_json
from fasrnet.params import validate_params
from fasrnet.tables.document import build_tables

RUNS = {"main": {"main_posetrack18": {"dataset": "posetrack18"}, "main_posetrack21": {"dataset": "posetrack21"}},
        "ablation": {}, "alpha": {}, "seed": {}}


def _metrics(root, name, total, labels):
    cols = dict.fromkeys(("Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl"), total)
    write_json(root / "results/metrics" / f"{name}.json",
               {"columns": {**cols, "Total": total}, "n_eval_frames": 3, "labels": labels}, indent=1)


def _rows(text, table):
    start = text.index(f"## Table {table}.")
    section = text[start: text.find("\n## ", start + 1)]
    return [line for line in section.splitlines() if line.startswith("| ")]


def test_pt21_rows_are_labelled_and_get_no_paper_difference(tmp_path):
    params = validate_params({"data": {"datasets": ["posetrack18", "posetrack21"]}, "runs": RUNS})
    _metrics(tmp_path, "main_posetrack18", 80.0, "PoseTrack18 v0.45 labels")
    _metrics(tmp_path, "backbone_posetrack18", 75.0, "PoseTrack18 v0.45 labels")
    _metrics(tmp_path, "main_posetrack21", 70.0, "PoseTrack21 labels")
    _metrics(tmp_path, "backbone_posetrack21", 65.0, "PoseTrack21 labels")
    _metrics(tmp_path, "backbone_adapted_posetrack18", 76.0, "PoseTrack18 v0.45 labels")
    _metrics(tmp_path, "backbone_adapted_posetrack21", 66.0, "PoseTrack21 labels")
    text = build_tables(params, tmp_path, strict=False, figures_dir=None)
    rows = _rows(text, 3)
    pt18 = [r for r in rows if "`main_posetrack18`" in r]
    assert len(pt18) == 1 and "posetrack18 val · PoseTrack18 v0.45 labels ·" in pt18[0]
    pt21 = [k for k, r in enumerate(rows) if "posetrack21" in r]
    assert [rows[k].split(" | ")[0] for k in pt21] == [
        "| **FaSRnet — measured** (run `main_posetrack21`, on PoseTrack21 labels)",
        f"| **HRNet-W{params.model.backbone_width} backbone alone (frozen, single frame) — measured** "
        "(`backbone_posetrack21`, on PoseTrack21 labels)",
        f"| **HRNet-W{params.model.backbone_width} backbone alone, BatchNorm adapted to the train crops (control, "
        "not in the paper) — measured** (`backbone_adapted_posetrack21`, on PoseTrack21 labels)"]
    assert all("posetrack21 val · PoseTrack21 labels ·" in rows[k] for k in pt21)
    # PoseTrack18's rows are followed by their Δ to the paper; PoseTrack21's by none
    after = [rows[k + 1] for k in pt21 if k + 1 < len(rows)]
    assert not [r for r in after if r.startswith("| Δ")]
    assert sum(r.startswith("| Δ measured") for r in rows) == 2
    assert "`posetrack21` has PoseTrack2018's videos with PoseTrack21 labels" in text


def test_evaluate_copies_the_adopted_labels_into_the_metrics(tmp_path, capsys):
    from fasrnet.data.posetrack import Frame, Person, Video, write_video

    person = Person.empty(track_id=0, head_box=(0.0, 0.0, 20.0, 20.0))
    person.keypoints[5], person.present[5] = (5.0, 5.0, 1.0), True
    video = Video("000001_mpii_test", [Frame("images/val/000001_mpii_test/000000.jpg", True, [person])])
    gt = tmp_path / "raw/posetrack21/annotations/val"
    write_video(video, gt / "000001_mpii_test.json", 18)
    out = tmp_path / "m.json"
    assert main(["evaluate", "--gt", str(gt), "--pred", str(gt), "--out", str(out)]) == 0
    assert "labels" not in json.loads(out.read_text())  # no dataset.json: nothing claimed
    write_json(tmp_path / "raw/posetrack21/dataset.json", {"labels": "PoseTrack21 labels", "label_version": "v0.1"})
    assert main(["evaluate", "--gt", str(gt), "--pred", str(gt), "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["labels"] == "PoseTrack21 labels" and metrics["label_version"] == "v0.1"
    (tmp_path / "raw/posetrack21/dataset.json").write_text("[]")
    capsys.readouterr()
    assert main(["evaluate", "--gt", str(gt), "--pred", str(gt), "--out", str(out)]) == 2
    assert "dataset.json: expected the record `fasrnet download --from` writes" in capsys.readouterr().err
