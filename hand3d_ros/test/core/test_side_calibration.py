import numpy as np
import pytest

from hand3d_ros.core.side_calibration import (SideCalibration, fit_logistic, fit_side_calibration,
                                              reliability)


def _labelled(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    head = rng.normal(0, 3, n)
    resid = rng.normal(0, 0.1, n)
    true_logit = 0.5 * head + 10.0 * resid - 0.3
    is_right = rng.random(n) < 1 / (1 + np.exp(-true_logit))
    return head, resid, is_right


def test_fit_recovers_the_generating_log_odds():
    head, resid, is_right = _labelled()
    cal = fit_side_calibration(head, resid, is_right, source="synthetic")
    assert cal.head_scale == pytest.approx(0.5, abs=0.08)
    assert cal.residual_scale == pytest.approx(10.0, abs=1.5)
    assert cal.bias == pytest.approx(-0.3, abs=0.15)
    assert cal.samples == 4000 and 0 < cal.head_only_scale < 0.5  # the head alone knows less


def test_calibrated_confidence_matches_accuracy_and_the_raw_sum_does_not():
    head, resid, is_right = _labelled(seed=1)
    cal = fit_side_calibration(head, resid, is_right)
    head2, resid2, is_right2 = _labelled(seed=2)  # held out
    calibrated = 1 / (1 + np.exp(-cal.logit(head2, resid2)))
    for lo, hi, count, confidence, accuracy in reliability(calibrated, is_right2):
        if count > 100:
            assert abs(confidence - accuracy) < 0.06
    raw = 1 / (1 + np.exp(-(head2 + resid2 / 0.05)))  # the uncalibrated sum: overconfident here
    top = reliability(raw, is_right2)[-1]
    assert top[3] - top[4] > 0.06


def test_round_trip_through_weight_metadata():
    cal = SideCalibration(head_scale=0.7, residual_scale=3.0, bias=0.1, samples=12, source="x")
    assert SideCalibration.from_entry(cal.to_entry()) == cal
    assert SideCalibration.from_entry({}) is None and SideCalibration.from_entry(None) is None
    # An older fit (no residual_clip: unclipped) and a newer one's unknown keys still load.
    old = SideCalibration.from_entry({"head_scale": 2.0, "a_later_field": 1})
    assert old == SideCalibration(head_scale=2.0) and old.residual_clip == 0.0


def test_separable_data_keeps_finite_scales():
    w = fit_logistic(np.array([[-2.0], [-1.0], [1.0], [2.0]]), np.array([0, 0, 1, 1]))
    assert np.all(np.isfinite(w)) and w[0] > 0


def test_the_detection_gate_keeps_the_found_hands_and_drops_false_ones():
    from hand3d_ros.evaluation.side_fit import fit_gate

    detections = {"score": np.array([0.8, 0.7, 0.62, 0.3, 0.25, 0.4]),
                  "paired": np.array([True, True, True, False, False, False]),
                  "false_on_hand_free": np.array([False, False, False, True, True, False]),
                  "teacher_hands": 4, "hand_free_photos": 2}
    gate, table = fit_gate(detections, max_found_loss=0.01)
    assert gate == 0.6  # the highest grid value keeping all three found hands
    rows = {t: (found, false, per_free) for t, found, false, per_free in table}
    assert rows[0.0] == (0.75, 1.0, 1.0) and rows[0.6] == (0.75, 0.0, 0.0)


def test_a_false_hand_budget_gives_the_lowest_gate_within_it():
    from hand3d_ros.evaluation.side_fit import fit_gate

    detections = {"score": np.array([0.8, 0.7, 0.42, 0.3, 0.25, 0.4]),
                  "paired": np.array([True, True, True, False, False, False]),
                  "false_on_hand_free": np.array([False, False, False, True, True, False]),
                  "teacher_hands": 4, "hand_free_photos": 2}
    # false on hand-free photos: 1.0 up to 0.25, 0.5 at 0.3, 0 from 0.35 on
    assert fit_gate(detections, max_false_per_hand_free=0.5)[0] == 0.3
    assert fit_gate(detections, max_false_per_hand_free=0.0)[0] == 0.35
    assert fit_gate(detections, max_false_per_hand_free=1.0)[0] == 0.0
    # the found-loss rule would keep the 0.42 hand too, and go no higher than 0.4
    assert fit_gate(detections, max_found_loss=0.01)[0] == 0.4


def test_the_detection_threshold_finding_most_hands_within_the_budget_wins():
    from hand3d_ros.evaluation.side_fit import pick_detection_threshold

    def fit(gate, found, per_free):  # one (gate, table) of fit_gate, the gate's row set
        return gate, [(0.0, 1.0, 9.0, 1.0), (gate, found, 0.0, per_free)]

    fits = {0.35: fit(0.55, 0.93, 0.04), 0.4: fit(0.5, 0.93, 0.05), 0.5: fit(0.5, 0.91, 0.02),
            0.25: fit(0.6, 0.97, 0.2)}
    assert pick_detection_threshold(fits, 0.05) == 0.4   # 0.25 breaks the budget; a tie goes up
    assert pick_detection_threshold(fits, 0.03) == 0.5
    assert pick_detection_threshold(fits, 0.5) == 0.25
    assert pick_detection_threshold(fits, 0.01) == 0.5   # none within: the fewest false hands


def test_a_confident_budget_leaves_room_for_the_sampling_error():
    """5 false hands on 200 photos (0.025) meet a 0.05 budget with 90 % confidence (upper
    bound 0.046), 6 (0.03) do not (0.053); confidence 0 compares the count itself."""
    from hand3d_ros.evaluation.side_fit import false_rate_bound, fit_gate

    five = false_rate_bound(5, 200, 0.9)
    assert five == pytest.approx(0.0464, abs=1e-3) and five < 0.05 < false_rate_bound(6, 200, 0.9)
    assert false_rate_bound(6, 200, 0.0) == 0.03 and false_rate_bound(0, 200, 0.9) > 0
    # 200 hand-free photos; false hands scored 0.5 (6 of them) and 0.6 (5)
    kp = np.r_[np.full(6, 0.5), np.full(5, 0.6), 0.9]
    detections = {"score": kp, "paired": np.r_[np.zeros(11, bool), True],
                  "false_on_hand_free": np.r_[np.ones(11, bool), False], "teacher_hands": 1, "hand_free_photos": 200}
    assert fit_gate(detections, max_false_per_hand_free=0.06)[0] == 0.0   # 11 / 200 = 0.055
    assert fit_gate(detections, max_false_per_hand_free=0.05)[0] == 0.55  # 5 left
    assert fit_gate(detections, max_false_per_hand_free=0.05, budget_confidence=0.9)[0] == 0.55
    assert fit_gate(detections, max_false_per_hand_free=0.04, budget_confidence=0.9)[0] == 0.65


def test_the_gate_is_fitted_on_the_hand_confidence_when_one_can_be_fitted():
    """Paired and false hands give a hand confidence and each hand's score from it; with
    one kind only the score stays the mean keypoint score (the older gate)."""
    from hand3d_ros.evaluation.side_fit import fit_gate, with_hand_confidence

    kp = np.array([0.8, 0.7, 0.45, 0.5, 0.3, 0.35])
    peak = np.array([0.9, 0.6, 0.95, 0.5, 0.6, 0.55])   # the 0.45 hand has a strong mask
    detections = {"kp_mean": kp, "peak": peak, "paired": np.array([True, True, True, False, False, False]),
                  "false_on_hand_free": np.array([False, False, False, True, True, True]),
                  "teacher_hands": 3, "hand_free_photos": 3}
    scored = with_hand_confidence(detections, source="six")
    assert scored["hand_confidence"].source == "six" and np.all((scored["score"] > 0) & (scored["score"] < 1))
    gate, table = fit_gate(scored, max_false_per_hand_free=0.0, step=0.01)
    assert gated_found(gate, table) == 1.0  # the confidence keeps all three hands, no false one
    assert gated_found(*fit_gate({**detections, "score": kp}, max_false_per_hand_free=0.0, step=0.01)) < 1.0
    alone = with_hand_confidence({**detections, "paired": np.ones(6, bool)})
    assert alone["hand_confidence"] is None and alone["score"] is kp


def gated_found(gate, table):
    from hand3d_ros.evaluation.side_fit import gated_row

    return gated_row(gate, table)[1]


def test_a_failed_lift_neither_erases_the_lifts_evidence_nor_outvotes_the_head():
    """A lift that fails leaves a residual difference of thousands: clipped (RESIDUAL_CLIP)
    in the fit and in the calibrated log-odds, for arrays and tensors alike."""
    import torch

    from hand3d_ros.core.side_calibration import RESIDUAL_CLIP

    head, resid, is_right = _labelled()
    resid = resid.copy()
    resid[:3] = -2.0e4
    cal = fit_side_calibration(head, resid, is_right)
    assert cal.residual_clip == RESIDUAL_CLIP and cal.residual_scale == pytest.approx(10.0, abs=2.0)
    outlier = cal.logit(np.array([5.0]), np.array([-2.0e4]))
    assert outlier == pytest.approx(cal.logit(np.array([5.0]), np.array([-RESIDUAL_CLIP])))
    assert float(cal.logit(torch.tensor([5.0]), torch.tensor([-2.0e4]))) == pytest.approx(float(outlier[0]), rel=1e-5)
    older = SideCalibration(head_scale=1.0, residual_scale=2.0)  # fitted before the clip: unchanged
    assert older.logit(0.0, -10.0) == -20.0
