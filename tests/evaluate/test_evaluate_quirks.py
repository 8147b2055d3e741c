"""One hand-made case per quirk of poseval (f0–f10; docs/metric.md, §10) and per "common mistake" listed there.

Every case is a frame or two whose APs are worked out by hand in the comments. The head box is 30 × 40
(head size exactly 30 px, PCKh radius 15 px); ``body(x, y)`` puts the 15 joints 20 px apart.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fasrnet.evaluate import JOINT_NAMES

ALL = JOINT_NAMES
FAR = 1000.0  # an offset no PCKh radius reaches


def aps(result) -> dict[str, float]:
    return dict(zip(JOINT_NAMES, result.ap.tolist()))


def assert_all(result, value: float, joints=ALL) -> None:
    got = aps(result)
    for j in joints:
        assert got[j] == pytest.approx(value, abs=1e-9), (j, got[j])


# -- f0 / mistake "matching by score instead of PCKh" -----------------------------------------------------------


def test_f0_higher_scored_duplicate_with_lower_pckh_loses(pt):
    gt = pt.body(100, 100)
    worse = pt.shift(gt, FAR, 0, only=ALL[:5])  # 10 of 15 joints right, PCKh 2/3, score 0.9
    best = dict(gt)  # all right, PCKh 1, score 0.5
    r = pt.evaluate([pt.frame([pt.person(gt)])],
                    [pt.frame([pt.person(worse, scores=0.9), pt.person(best, scores=0.5)])])
    # The GT takes the full-PCKh duplicate; the 0.9 one is 15 false positives ranked first:
    # every joint: FP (0.9) then TP (0.5) → precision 1/2 at recall 1 → AP 50.
    # (Matching by score would give AP 100 on the 10 right joints and 0 on the others.)
    assert_all(r, 50.0)
    assert r.total == pytest.approx(50.0, abs=1e-12)
    assert r.precision.tolist() == [50.0] * 15 and r.recall.tolist() == [100.0] * 15


# -- f1, f2 / mistake "evaluating by is_labeled" ----------------------------------------------------------------


def test_f1_unlabeled_frame_with_annotations_is_evaluated(pt):
    gt = pt.body(100, 100)
    r = pt.evaluate([pt.frame([pt.person(gt)], labeled=False)], [pt.frame([pt.person(gt, scores=0.7)])])
    assert r.n_eval_frames == 1
    assert_all(r, 100.0)


def test_f2_labeled_frame_without_annotations_is_not_evaluated(pt):
    gt = pt.body(100, 100)
    r = pt.evaluate(
        [pt.frame([], labeled=True), pt.frame([pt.person(gt)])],
        [pt.frame([pt.person(pt.body(300, 300), scores=0.99)]), pt.frame([pt.person(gt, scores=0.5)])],
    )
    # The confident prediction on the unannotated frame never counts (it would rank first as an FP: AP 50).
    assert r.n_eval_frames == 1
    assert_all(r, 100.0)
    assert r.n_pred.tolist() == [1] * 15


# -- f3 / mistake "dropping keypoint-less GT persons before frame selection" -------------------------------------


@pytest.mark.parametrize("gt_format", [18, 17])
def test_f3_gt_person_without_keypoints_makes_the_frame_evaluated(pt, gt_format):
    gt = pt.body(100, 100)
    r = pt.evaluate(
        [pt.frame([pt.person({})]), pt.frame([pt.person(gt)])],
        [pt.frame([pt.person(pt.body(100, 100), scores=0.9)]), pt.frame([pt.person(gt, scores=0.5)])],
        gt_format=gt_format,
    )
    # Frame 0 is evaluated with 0 positives: its prediction is 15 FPs at 0.9 → every joint AP 50.
    assert r.n_eval_frames == 2
    assert r.n_gt.tolist() == [1] * 15
    assert_all(r, 50.0)


# -- f4 / mistake "treating v = 0 as unannotated" ---------------------------------------------------------------


def test_f4_visibility_flags(pt):
    g0, g1 = pt.body(100, 100), pt.body(400, 100)
    g0_v0 = dict(g0, nose=g0["nose"] + (0,))  # annotated with v = 0: still a GT joint
    a = dict(g0, head_top=(0.0, 0.0, 1), left_ankle=(0.0, 0.0, 0))  # (0,0,1) kept (an FP), (0,0,0) dropped
    r = pt.evaluate(
        [pt.frame([pt.person(g0_v0), pt.person(g1)])],
        [pt.frame([pt.person(a, scores={**{n: 0.9 for n in ALL}, "nose": 0.8}), pt.person(g1, scores=0.5)])],
    )
    got = aps(r)
    # nose: both GT noses count (nGT 2) and both predictions find them → 100 (v=0 as unannotated: 50).
    assert r.n_gt[ALL.index("nose")] == 2
    assert got["nose"] == 100.0
    # head_top: the (0,0,1) prediction is an FP at 0.9 before the TP at 0.5: P = 1/2 at R = 1/2 → 25.
    assert got["head_top"] == 25.0
    # left_ankle: the (0,0,0) prediction does not exist; the TP at 0.5 alone: P = 1 at R = 1/2 → 50.
    assert got["left_ankle"] == 50.0
    assert r.n_pred[ALL.index("left_ankle")] == 1 and r.n_pred[ALL.index("head_top")] == 2


def test_f4_2017_predictions_keep_points_at_origin(pt):
    g0, g1 = pt.body(100, 100), pt.body(400, 100)
    a = dict(g0, head_top=(0.0, 0.0))
    r = pt.evaluate([pt.frame([pt.person(g0), pt.person(g1)])],
                    [pt.frame([pt.person(a, scores=0.9), pt.person(g1, scores=0.5)])], pred_format=17)
    assert aps(r)["head_top"] == 25.0


# -- f5, f6 / mistake "not applying ignore regions to predictions" ----------------------------------------------

REGION = [(0.0, 0.0), (200.0, 0.0), (200.0, 200.0), (0.0, 200.0)]  # x and y in [0, 200]


@pytest.mark.parametrize("gt_format,pred_format", [(18, 18), (17, 17), (18, 17)])
def test_f5_ignore_region(pt, gt_format, pred_format):
    g0 = pt.body(40, 40)  # wholly inside
    g1 = pt.body(300, 100)
    g1 = dict(g1, neck=(200.0, 170.0), nose=(203.0, 140.0))  # the GT neck exactly on the edge x = 200
    b = dict(g1, nose=(200.0, 140.0), neck=(204.0, 170.0))  # the predicted nose on the edge, 3 px off
    g2 = pt.body(300, 300)
    c = dict(g2, left_wrist=(50.0, 50.0))  # straddling: its left wrist is inside
    preds = [
        pt.person(pt.body(40, 40), scores=0.9),  # A: the prediction of g0, wholly inside
        pt.person(b, scores={**{n: 0.8 for n in ALL}, "neck": 0.95}),  # B, for g1
        pt.person(c, scores=0.85),  # C, for g2
    ]
    r = pt.evaluate([pt.frame([pt.person(g0), pt.person(g1), pt.person(g2)], regions=[REGION])],
                    [pt.frame(preds)], gt_format=gt_format, pred_format=pred_format)
    got = aps(r)
    # g0 and A are gone: 2 GT persons, and no FP at 0.9 (kept, A would be 15 FPs ranked first: AP 66.7).
    assert r.n_gt.tolist() == [2] * 15
    assert_all(r, 100.0, [n for n in ALL if n != "left_wrist"])
    # nose: B's nose on the edge is kept and matches (removed, only C's nose would count: AP 50).
    # neck: g1's neck on the edge is kept, so B's neck at 0.95 is a TP (else an FP ranked first: AP 50).
    assert got["nose"] == 100.0 and got["neck"] == 100.0
    # left_wrist: C's inside wrist is deleted (kept, it would be an FP at 0.85 before B's TP at 0.8: AP 25);
    # B finds g1's, nobody finds g2's → P = 1 at R = 1/2 → 50.
    assert got["left_wrist"] == 50.0
    assert r.n_pred[ALL.index("left_wrist")] == 1


def test_f6_all_gt_inside_region_leaves_predictions_as_false_positives(pt):
    gt = pt.body(400, 400)
    r = pt.evaluate(
        [pt.frame([pt.person(pt.body(40, 40))], regions=[REGION]), pt.frame([pt.person(gt)])],
        [pt.frame([pt.person(pt.body(40, 40), scores=0.95), pt.person(pt.body(300, 300), scores=0.9)]),
         pt.frame([pt.person(gt, scores=0.5)])],
    )
    # Frame 0 keeps being evaluated with no GT left; the prediction outside is 15 FPs at 0.9 → AP 50.
    assert r.n_eval_frames == 2
    assert r.n_gt.tolist() == [1] * 15
    assert_all(r, 50.0)


# -- f7 / mistake "last-index tie rule" -------------------------------------------------------------------------


@pytest.mark.parametrize("pred_format", [18, 17])
def test_f7_pckh_tie_between_predictions_goes_to_the_first_and_missing_scores_rank_last(pt, pred_format):
    gt = pt.body(100, 100)
    r = pt.evaluate([pt.frame([pt.person(gt)])],
                    [pt.frame([pt.person(gt, scores=None), pt.person(pt.shift(gt, 3, 4), scores=0.5)])],
                    pred_format=pred_format)
    # Both have PCKh 1: the first (no scores → -9999) takes the GT; the second is an FP at 0.5 ranked first.
    # Every joint: FP (0.5), TP (-9999) → AP 50 (last-index rule: TP first → AP 100).
    assert_all(r, 50.0)
    assert r.warnings


# -- f8 ---------------------------------------------------------------------------------------------------------


def test_f8_ears_in_predictions_are_ignored(pt):
    gt = pt.body(100, 100)
    r = pt.evaluate([pt.frame([pt.person(gt)])], [pt.frame([pt.person(gt, scores=0.6, ears=(5.0, 5.0))])])
    assert_all(r, 100.0)
    assert r.n_pred.tolist() == [1] * 15


def test_f8_fifteen_keypoint_category(pt):
    import json

    gt = pt.body(100, 100)
    pt.write([pt.frame([pt.person(gt)])], [pt.frame([pt.person(gt, scores=0.6)])])
    path = pt.pred / "000001_mpii_test.json"
    obj = json.loads(path.read_text())
    names = obj["categories"][0]["keypoints"]
    keep = [k for k, n in enumerate(names) if n not in ("left_ear", "right_ear")]
    obj["categories"][0]["keypoints"] = [names[k] for k in keep]
    for ann in obj["annotations"]:
        ann["keypoints"] = [v for k in keep for v in ann["keypoints"][3 * k: 3 * k + 3]]
        ann["scores"] = [ann["scores"][k] for k in keep]
    path.write_text(json.dumps(obj))
    from fasrnet.evaluate import evaluate_dirs

    assert_all(evaluate_dirs(pt.gt, pt.pred), 100.0)


# -- f9 / mistake "Hungarian (optimal) matching" ----------------------------------------------------------------


def test_f9_greedy_not_optimal_assignment(pt):
    g0, g1 = pt.body(100, 100), pt.body(100, 400)
    split = {n: (g0 if k < 8 else g1)[n] for k, n in enumerate(ALL)}  # PCKh 8/15 on g0, 7/15 on g1
    r = pt.evaluate([pt.frame([pt.person(g0), pt.person(g1)])],
                    [pt.frame([pt.person(split, scores=0.9), pt.person(g0, scores=0.5)])])
    # The split prediction keeps g0 (its best) and loses it to the perfect one; it is 15 FPs and g1 stays
    # unmatched. Every joint: FP (0.9), TP (0.5), nGT 2 → P 1/2 at R 1/2 → AP 25.
    # (Optimal matching would give it g1: its 7 g1 joints would be TPs at 0.9 → AP 100 there.)
    assert_all(r, 25.0)


# -- f10 --------------------------------------------------------------------------------------------------------


def test_f10_pckh_tie_between_gts_goes_to_the_first(pt):
    g0, g1 = pt.body(100, 100), pt.body(100, 400)
    set_a, set_b, set_c = ALL[:5], ALL[5:10], ALL[10:]
    p0 = {**{n: g0[n] for n in set_a}, **{n: g1[n] for n in set_b}, **{n: (FAR, FAR) for n in set_c}}
    r = pt.evaluate([pt.frame([pt.person(g0), pt.person(g1)])],
                    [pt.frame([pt.person(p0, scores=0.9), pt.person(g1, scores=0.5)])])
    # p0 has PCKh 5/15 with both GTs → goes to g0 (listed first); p1 takes g1.
    # set A: TP 0.9 (g0), TP 0.5 (g1) → 100; sets B, C: FP 0.9, TP 0.5, nGT 2 → 25.
    # (To the last GT, p0 would be unmatched and set A would be 25 too.)
    assert_all(r, 100.0, set_a)
    assert_all(r, 25.0, set_b + set_c)


# -- mistake "head size without the 0.6 factor"; inclusive threshold --------------------------------------------


def test_head_size_factor_and_inclusive_threshold(pt):
    gt = pt.body(100, 100)
    pred = pt.shift(gt, 9.0, 12.0, only=ALL[:5])  # exactly 15 px = 0.5 head sizes: matched (<= 0.5)
    pred = pt.shift(pred, 12.0, 16.0, only=ALL[5:10])  # 20 px: missed with 0.6 × diagonal (not with 1 ×)
    pred = pt.shift(pred, 9.0, 12.000001, only=ALL[10:])  # just over 15 px: missed
    r = pt.evaluate([pt.frame([pt.person(gt)])], [pt.frame([pt.person(pred, scores=0.5)])])
    assert_all(r, 100.0, ALL[:5])
    assert_all(r, 0.0, ALL[5:])


# -- mistake "11-point AP"; all-point AP details ----------------------------------------------------------------


def test_all_point_ap(pt):
    g = [pt.body(100, 100), pt.body(400, 100), pt.body(100, 400), pt.body(400, 400)]
    # Ranked: TP (0.9), FP (0.8, an extra far away), TP (0.7), FP (0.6); 4 GT joints, 2 never found.
    r = pt.evaluate(
        [pt.frame([pt.person(x) for x in g])],
        [pt.frame([pt.person(g[0], scores=0.9), pt.person(pt.body(2000, 2000), scores=0.8),
                   pt.person(g[1], scores=0.7), pt.person(pt.body(3000, 3000), scores=0.6)])],
    )
    # precision 1, 1/2, 2/3, 1/2 at recall 1/4, 1/4, 1/2, 1/2: envelope 1 then 2/3 →
    # AP = 1/4 × 1 + 1/4 × 2/3 = 5/12 (11-point: (3 × 1 + 3 × 2/3) / 11 = 5/11).
    assert_all(r, 100 * 5 / 12)
    assert r.precision.tolist() == [50.0] * 15
    assert r.recall.tolist() == [50.0] * 15


def test_false_positives_after_the_last_true_positive_cost_nothing(pt):
    gt = pt.body(100, 100)
    r = pt.evaluate([pt.frame([pt.person(gt)])],
                    [pt.frame([pt.person(gt, scores=0.9), pt.person(pt.body(900, 900), scores=0.1)])])
    assert_all(r, 100.0)
    assert r.precision.tolist() == [50.0] * 15


# -- mistake "Total as the mean of the 7 columns"; NaN and empty joints ------------------------------------------


def test_total_is_the_mean_of_15_joints(pt):
    gt = pt.body(100, 100)
    pred = pt.shift(gt, FAR, 0, only=("head_top", "neck", "nose"))
    r = pt.evaluate([pt.frame([pt.person(gt)])], [pt.frame([pt.person(pred, scores=0.5)])])
    assert r.columns["Head"] == 0.0
    for col in ("Shou", "Elb", "Wri", "Hip", "Knee", "Ankl"):
        assert r.columns[col] == 100.0
    assert r.total == pytest.approx(80.0, abs=1e-12)  # 12 × 100 / 15, not 6 × 100 / 7 = 85.7
    assert r.row() == "&  0.0 &100.0 &100.0 &100.0 &100.0 &100.0 &100.0 & 80.0 \\\\"


def test_joint_without_gt_is_nan_and_left_out_of_total_joint_without_predictions_is_zero(pt):
    names = tuple(n for n in ALL if n not in ("head_top", "left_ankle"))
    gt = pt.body(100, 100, names)  # no GT head_top, no GT left ankle
    pred = {n: p for n, p in pt.body(100, 100).items() if n != "left_ankle"}  # predicts head_top, not left ankle
    r = pt.evaluate([pt.frame([pt.person(gt)])], [pt.frame([pt.person(pred, scores=0.5)])])
    got = aps(r)
    assert math.isnan(got["head_top"])  # predictions but nGT = 0
    assert math.isnan(r.recall[ALL.index("head_top")]) and r.precision[ALL.index("head_top")] == 0.0
    assert got["left_ankle"] == 0.0  # no predictions and no GT: 0, and it counts in the Total
    assert r.total == pytest.approx(13 * 100 / 14, abs=1e-12)
    assert math.isnan(r.columns["Head"])
    assert r.row().startswith("&  nan &")
    assert r.to_dict()["per_joint_ap"]["head_top"] is None


def test_frame_without_predictions_still_counts_its_gt(pt):
    gt = pt.body(100, 100)
    r = pt.evaluate([pt.frame([pt.person(gt)]), pt.frame([pt.person(gt, head=None)])],
                    [pt.frame([pt.person(gt, scores=0.5)]), pt.frame([])])
    # The second GT needs no head box: its frame has no predictions. Recall 1/2 → AP 50.
    assert_all(r, 50.0)


# -- 2017 annolist details --------------------------------------------------------------------------------------


def test_2017_first_point_of_an_id_counts_and_bad_ids_are_ignored(pt):
    import json

    gt = pt.body(100, 100)
    pt.write([pt.frame([pt.person(gt)])], [pt.frame([pt.person(gt, scores=0.5)])], pred_format=17)
    path = pt.pred / "000001_mpii_test.json"
    obj = json.loads(path.read_text())
    points = obj["annolist"][0]["annorect"][0]["annopoints"][0]["point"]
    points.insert(0, {"id": [PID_NOSE], "x": [FAR], "y": [FAR], "score": [0.9]})  # first nose: wrong
    points.append({"id": [15], "x": [1.0], "y": [1.0], "score": [0.99]})  # not a joint
    path.write_text(json.dumps(obj))
    from fasrnet.evaluate import evaluate_dirs

    r = evaluate_dirs(pt.gt, pt.pred)
    got = aps(r)
    assert got["nose"] == 0.0
    assert_all(r, 100.0, [n for n in ALL if n != "nose"])


PID_NOSE = JOINT_NAMES.index("nose")


def test_2017_person_without_annopoints_is_dropped(pt):
    import json

    gt = pt.body(100, 100)
    pt.write([pt.frame([pt.person(gt), pt.person(pt.body(400, 400))]), pt.frame([pt.person({})])],
             [pt.frame([pt.person(gt, scores=0.5)]), pt.frame([pt.person(gt, scores=0.9)])], gt_format=17)
    path = pt.gt / "000001_mpii_test.json"
    obj = json.loads(path.read_text())
    del obj["annolist"][0]["annorect"][1]["annopoints"]  # removed after frame selection
    del obj["annolist"][1]["annorect"][0]["annopoints"]  # the frame stays evaluated, with 0 GT persons
    path.write_text(json.dumps(obj))
    from fasrnet.evaluate import evaluate_dirs

    r = evaluate_dirs(pt.gt, pt.pred)
    assert r.n_eval_frames == 2
    assert r.n_gt.tolist() == [1] * 15
    assert_all(r, 50.0)  # FP 0.9 on the second frame, then the TP


# -- in-memory videos give the same numbers ---------------------------------------------------------------------


def test_evaluate_videos_matches_evaluate_dirs(pt):
    from fasrnet.data.posetrack import read_video
    from fasrnet.evaluate import evaluate_dirs, evaluate_videos

    g0, g1 = pt.body(100, 100), pt.body(100, 400)
    split = {n: (g0 if k < 8 else g1)[n] for k, n in enumerate(ALL)}
    gt_frames = [pt.frame([pt.person(g0), pt.person(g1)], regions=[[(90.0, 90.0), (130.0, 90.0), (130.0, 130.0)]]),
                 pt.frame([])]
    pred_frames = [pt.frame([pt.person(split, scores=0.9), pt.person(pt.shift(g0, 2, 1), scores=0.5)]),
                   pt.frame([pt.person(g0, scores=0.99)])]
    gt_path, pred_path = pt.write(gt_frames, pred_frames)
    a = evaluate_dirs(pt.gt, pt.pred)
    b = evaluate_videos([read_video(gt_path)], [read_video(pred_path)])
    np.testing.assert_array_equal(a.ap, b.ap)
    assert a.n_eval_frames == b.n_eval_frames == 1
