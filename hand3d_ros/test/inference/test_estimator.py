"""The estimator: detection cadence, tracking ids, metric 3D and fixed handedness."""
from dataclasses import replace
import numpy as np
import pytest

from hand3d_ros.core.tracking import TrackerConfig
from hand3d_ros.inference.backends.torch_backend import TorchBackend
from hand3d_ros.inference.estimator import EstimatorConfig, HandEstimator, estimator_config_from_params
from hand3d_ros.inference.model_set import random_model_set
from hand3d_ros.inference.pipeline import HandPosePipeline, PipelineConfig
from hand3d_ros.ros.params import PARAMS

K = np.array([[150.0, 0.0, 80.0], [0.0, 150.0, 60.0], [0.0, 0.0, 1.0]])


@pytest.fixture(scope="module")
def model_set():
    return random_model_set("lite")


def _estimator(model_set, redetect_every=4, handedness="auto"):
    pipeline_config = PipelineConfig(detection_threshold=0.01, handedness=handedness)
    tracker = TrackerConfig(min_hand_score=0.0, min_keypoint_score=0.0, min_confident_keypoints=1,
                            redetect_every=redetect_every)
    pipeline = HandPosePipeline(TorchBackend(model_set), model_set, pipeline_config)
    return HandEstimator(pipeline, EstimatorConfig(pipeline=pipeline_config, tracker=tracker))


def _frame(seed):
    return (np.random.default_rng(seed).random((120, 160, 3)) * 255).astype(np.uint8)


def test_tracking_skips_handsegnet_between_redetections(model_set):
    est = _estimator(model_set, redetect_every=4)
    detected, ids = [], set()
    for i in range(9):
        out = est.process(_frame(0), i / 30.0, K=K)
        detected.append(out.detected)
        ids.update(h.hand_id for h in out.hands)
    assert detected == [True, False, False, False, True, False, False, False, True]
    assert ids == {0}


def test_metric_fields_and_fixed_side(model_set):
    est = _estimator(model_set, handedness="right")
    out = est.process(_frame(1), 0.0, K=None)
    (hand,) = out.hands
    assert hand.handedness == 1 and hand.handedness_score == 1.0
    assert hand.scale_source == 0 and np.all(np.isnan(hand.xyz)) and np.all(np.isnan(hand.palm_origin))
    assert np.all(np.isfinite(hand.palm_rotation))  # the orientation comes from w_rel
    np.testing.assert_allclose(hand.palm_rotation @ hand.palm_rotation.T, np.eye(3), atol=1e-6)


def test_config_from_node_parameters():
    params = {p.name: p.default for p in PARAMS}
    params.update(smoothing_beta=0.1, max_hands=3, handedness="left")
    config = estimator_config_from_params(params)
    assert config.pipeline.max_hands == config.tracker.max_hands == 3
    assert config.pipeline.handedness == "left"
    assert config.tracker.filter_3d.beta == pytest.approx(100.0)
    # the node's side margins are the library's (hand3d infer / eval use those): one behaviour
    library = TrackerConfig()
    assert (config.tracker.handedness_margin, config.tracker.handedness_unknown_margin) == (
        library.handedness_margin, library.handedness_unknown_margin)
    params.update(handedness_margin=0.2, handedness_unknown_margin=0.0)
    tracker = estimator_config_from_params(params).tracker
    assert (tracker.handedness_margin, tracker.handedness_unknown_margin) == (0.2, 0.0)


def test_the_keypoint_gate_comes_from_the_weights_unless_set(model_set):
    calibrated = _with_detection_calibration(model_set, {"min_mean_keypoint_score": 0.99})
    est = _estimator(calibrated)
    assert est.config.tracker.min_mean_keypoint_score == 0.99  # -1 (the default): the weights' value
    assert est.process(_frame(0), 0.0, K=K).hands == []  # random weights' maps are diffuse: all dropped
    config = est.config
    est.configure(EstimatorConfig(pipeline=config.pipeline, tracker=replace(config.tracker, min_mean_keypoint_score=0.0)))
    assert est.config.tracker.min_mean_keypoint_score == 0.0 and est.process(_frame(0), 1.0, K=K).hands
    assert _estimator(model_set).config.tracker.min_mean_keypoint_score == 0.0  # no calibration: off


def _with_detection_calibration(model_set, entry):
    import copy

    from hand3d_ros.inference.pipeline import DETECTION_CALIBRATION

    calibrated = copy.copy(model_set)
    calibrated.metadata = copy.deepcopy(model_set.metadata)
    calibrated.metadata["posenet"]["calibration"] = {DETECTION_CALIBRATION: entry}
    return calibrated


def test_the_hand_confidence_scores_detections_and_tracked_crops(model_set):
    """With a hand confidence in the weights, a hand's score is P(hand) from its mean
    keypoint score and HandSegNet peak, also on tracking frames (the track's peak)."""
    from hand3d_ros.core.hand_confidence import HandConfidence

    model = HandConfidence(keypoint_scale=4.0, peak_scale=3.0, bias=-3.5)
    est = _estimator(_with_detection_calibration(model_set, {"hand_confidence": model.to_entry(),
                                                             "min_hand_score": 0.0}))
    assert est.pipeline.hand_confidence == model
    peaks = []
    for i in range(3):
        out = est.process(_frame(0), i / 30.0, K=K)
        assert out.detected == (i == 0) and out.hands
        for hand in out.hands:
            assert 0.0 < hand.peak <= 1.0
            assert hand.score == pytest.approx(float(model.probability(np.mean(hand.uv_score), hand.peak)), abs=1e-5)
            peaks.append(hand.peak)
    assert peaks == [peaks[0]] * len(peaks)  # tracking frames carry the detection's peak


def test_the_detection_gates_come_from_the_weights_unless_set(model_set):
    """``min_hand_score`` and ``min_mean_keypoint_score`` at -1 take the weights' values."""
    calibrated = _with_detection_calibration(model_set, {"min_hand_score": 0.999, "min_mean_keypoint_score": 0.1})
    pipeline_config = PipelineConfig(detection_threshold=0.01)
    pipeline = HandPosePipeline(TorchBackend(calibrated), calibrated, pipeline_config)
    est = HandEstimator(pipeline, EstimatorConfig(pipeline=pipeline_config))
    assert est.config.tracker.min_hand_score == 0.999 and est.config.tracker.min_mean_keypoint_score == 0.1
    assert est.process(_frame(0), 0.0, K=K).hands == []
    est.configure(EstimatorConfig(pipeline=pipeline_config, tracker=TrackerConfig(min_hand_score=0.0)))
    assert est.config.tracker.min_hand_score == 0.0 and est.process(_frame(0), 1.0, K=K).hands
    uncalibrated = HandEstimator(HandPosePipeline(TorchBackend(model_set), model_set, pipeline_config),
                                 EstimatorConfig(pipeline=pipeline_config, tracker=TrackerConfig(min_hand_score=-1.0)))
    assert uncalibrated.config.tracker.min_hand_score == 0.2  # weights without one: the old default


def test_the_detection_threshold_comes_from_the_weights_unless_set(model_set):
    """HandSegNet's threshold -1 (the default) is the one calibrated with the weights, 0.5
    for weights that carry none; a set value wins."""
    import copy

    from hand3d_ros.inference.pipeline import DETECTION_CALIBRATION

    calibrated = copy.copy(model_set)
    calibrated.metadata = copy.deepcopy(model_set.metadata)
    calibrated.metadata["posenet"]["calibration"] = {DETECTION_CALIBRATION: {"detection_threshold": 0.999999}}
    assert PipelineConfig().detection_threshold == -1.0
    plain = HandPosePipeline(TorchBackend(model_set), model_set, PipelineConfig())
    assert plain.detection_threshold == 0.5
    pipeline = HandPosePipeline(TorchBackend(calibrated), calibrated, PipelineConfig())
    assert pipeline.detection_threshold == 0.999999
    assert pipeline(_frame(0)).hands == []  # random weights' probabilities never reach it
    pipeline.config = PipelineConfig(detection_threshold=0.01)
    assert pipeline.detection_threshold == 0.01 and pipeline(_frame(0)).hands
