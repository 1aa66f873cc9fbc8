import numpy as np
import pytest

from hand3d_ros.core.hand_confidence import HandConfidence, fit_hand_confidence


def _detections(n=4000, seed=0):
    """Hands have either clear keypoints or a strong mask peak (or both); false hands
    neither: each cue alone mixes the two kinds up, both together separate them."""
    rng = np.random.default_rng(seed)
    is_hand = rng.random(n) < 0.5
    kp = np.where(is_hand, rng.uniform(0.45, 0.9, n), rng.uniform(0.3, 0.65, n))
    peak = np.where(is_hand, rng.uniform(0.5, 1.0, n), rng.uniform(0.45, 0.85, n))
    weak = is_hand & (rng.random(n) < 0.5)  # half the hands: one cue only
    kp = np.where(weak & (peak > 0.75), rng.uniform(0.3, 0.6, n), kp)
    return kp, peak, is_hand


def _auc(score, positive):
    order = np.argsort(score)
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    n_pos = positive.sum()
    return (ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * (~positive).sum())


def test_both_cues_separate_hands_better_than_either_alone():
    kp, peak, is_hand = _detections()
    model = fit_hand_confidence(kp, peak, is_hand, source="synthetic")
    p = model.probability(kp, peak)
    assert model.keypoint_scale > 0 and model.peak_scale > 0 and model.samples == len(kp)
    assert _auc(p, is_hand) > max(_auc(kp, is_hand), _auc(peak, is_hand)) + 0.03


def test_the_confidence_is_calibrated_on_data_like_its_fit():
    kp, peak, is_hand = _detections(seed=1)
    model = fit_hand_confidence(kp, peak, is_hand)
    kp2, peak2, is_hand2 = _detections(seed=2)
    p = model.probability(kp2, peak2)
    for lo, hi in [(0.0, 0.2), (0.2, 0.5), (0.5, 0.8), (0.8, 1.0)]:
        sel = (p >= lo) & (p < hi)
        assert sel.sum() > 100
        assert abs(is_hand2[sel].mean() - p[sel].mean()) < 0.06, (lo, hi)


def test_the_model_round_trips_through_its_metadata_entry():
    model = HandConfidence(keypoint_scale=24.5, peak_scale=11.3, bias=-20.0, samples=9, source="val")
    assert HandConfidence.from_entry(model.to_entry()) == model
    assert HandConfidence.from_entry(None) is None and HandConfidence.from_entry({}) is None
    assert model.probability(0.6, 0.9) == pytest.approx(1 / (1 + np.exp(-(24.5 * 0.6 + 11.3 * 0.9 - 20.0))))
    assert np.all(np.diff(model.probability(np.linspace(0, 1, 5), 0.5)) > 0)


def test_one_kind_of_detection_cannot_be_fitted():
    with pytest.raises(ValueError, match="both real and false"):
        fit_hand_confidence([0.5, 0.6], [0.7, 0.8], [True, True])


def test_a_third_cue_the_hand_head_is_weighed_in_when_given():
    """With the hand head's logit (here: informative where the other two cues mix hands up)
    the fit weighs it and separates better; a model without it ignores it, a model with it
    refuses to guess it, and an older entry (no ``hand_scale``) reads as one without it."""
    kp, peak, is_hand = _detections(seed=3)
    rng = np.random.default_rng(4)
    hand_logit = np.where(is_hand, 1.0, -1.0) * 2.0 + rng.normal(0.0, 1.5, len(kp))
    two = fit_hand_confidence(kp, peak, is_hand)
    three = fit_hand_confidence(kp, peak, is_hand, hand_logit=hand_logit)
    assert three.reads_hand_head and three.hand_scale > 0 and not two.reads_hand_head
    assert _auc(three.probability(kp, peak, hand_logit), is_hand) > _auc(two.probability(kp, peak), is_hand) + 0.02
    assert np.array_equal(two.probability(kp, peak, hand_logit), two.probability(kp, peak))
    with pytest.raises(ValueError, match="hand head"):
        three.probability(kp, peak)
    assert HandConfidence.from_entry(three.to_entry()) == three
    old = {k: v for k, v in two.to_entry().items() if k != "hand_scale"}
    assert HandConfidence.from_entry(old) == two
