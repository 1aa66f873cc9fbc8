"""Tests for hand3d_ros.core.metrics on made-up numbers with known answers."""

import json

import numpy as np
import pytest

from hand3d_ros.core.metrics import (
    AUC_RANGE_3D_MM,
    EvalAccumulator,
    PCKConfig,
    area_under_curve,
    epe_per_keypoint,
    keypoint_errors,
    pck_curve,
)


def test_keypoint_errors_euclidean():
    gt = np.zeros((1, 2, 2))
    pred = np.array([[[3.0, 4.0], [0.0, -2.0]]])
    assert np.allclose(keypoint_errors(pred, gt), [[5.0, 2.0]])
    pred3 = np.array([[[1.0, 2.0, 2.0]]])
    assert np.allclose(keypoint_errors(pred3, np.zeros((1, 1, 3))), [[3.0]])
    with pytest.raises(ValueError):
        keypoint_errors(np.zeros((1, 2, 2)), np.zeros((1, 2, 3)))


def test_epe_counts_only_visible():
    errors = np.array([[1.0, 2.0, 7.0], [3.0, 1000.0, 9.0], [8.0, 4.0, 11.0]])
    visible = np.array([[True, True, False], [True, False, False], [True, True, False]])
    mean, median, count = epe_per_keypoint(errors, visible)
    assert np.allclose(mean[:2], [4.0, 3.0]) and np.allclose(median[:2], [3.0, 3.0])
    assert count.tolist() == [3, 2, 0]
    assert np.isnan(mean[2]) and np.isnan(median[2])


def test_pck_per_keypoint_and_pooled():
    errors = np.array([[1.0, 2.0], [3.0, 100.0]])
    visible = np.array([[True, True], [True, False]])
    t = np.array([0.0, 1.0, 2.0, 3.0])
    # keypoint 0: errors {1, 3} -> 0, .5, .5, 1; keypoint 1: {2} -> 0, 0, 1, 1
    assert np.allclose(pck_curve(errors, visible, t), [0.0, 0.25, 0.75, 1.0])
    # pooled {1, 2, 3}
    assert np.allclose(pck_curve(errors, visible, t, per_keypoint=False), [0.0, 1 / 3, 2 / 3, 1.0])
    assert np.isnan(pck_curve(errors, np.zeros_like(visible), t)).all()


def test_auc_of_known_curves():
    t = np.linspace(0, 30, 31)
    # errors 0.5, 1.5, ..., 29.5: PCK(k) = k / 30 exactly, a straight line -> area 1/2
    errors = (np.arange(30) + 0.5)[:, None]
    assert np.isclose(area_under_curve(t, pck_curve(errors, None, t)), 0.5)
    assert np.isclose(area_under_curve(t, pck_curve(np.zeros((5, 3)), None, t)), 1.0)
    assert np.isclose(area_under_curve(t, pck_curve(np.full((5, 3), 31.0), None, t)), 0.0)
    # a step at 15 on a 1 px grid: the trapezoid rule gives (15 + 0.5) / 30
    assert np.isclose(area_under_curve(t, pck_curve(np.full((4, 1), 15.0), None, t)), 15.5 / 30)


def test_accumulator_2d_summary_is_json_and_batch_independent():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 256, (10, 21, 2))
    offsets = rng.normal(0, 5, (10, 21, 2))
    pred = gt + offsets
    visible = rng.random((10, 21)) > 0.2
    visible[:, 20] = False  # never visible: None in the summary
    whole = EvalAccumulator.for_2d()
    whole.add(pred, gt, visible)
    parts = EvalAccumulator.for_2d()
    parts.add(pred[:4], gt[:4], visible[:4])
    parts.add(pred[4:], gt[4:], visible[4:])
    a, b = whole.summary(), parts.summary()
    assert a == b and len(parts) == 10
    text = json.dumps(a, allow_nan=False)
    assert json.loads(text)["per_keypoint"]["little_tip"] == {
        "mean": None,
        "median": None,
        "count": 0,
    }
    errors = np.linalg.norm(offsets, axis=-1)
    per_kp_mean = [errors[visible[:, k], k].mean() for k in range(20)]
    assert np.isclose(a["epe_mean"], np.mean(per_kp_mean))
    assert np.isclose(a["epe_mean_all"], errors[visible].mean())
    assert np.isclose(a["epe_median_all"], np.median(errors[visible]))
    assert a["auc_range"] == [0.0, 30.0] and a["num_visible"] == int(visible.sum())
    assert 0.0 < a["auc"] < 1.0


def test_accumulator_3d_in_metres_reports_mm():
    acc = EvalAccumulator.for_3d(num_thresholds=31)
    gt = np.zeros((2, 21, 3))
    pred = gt.copy()
    pred[..., 0] = 0.035  # 35 mm everywhere
    acc.add(pred, gt)
    s = acc.summary()
    assert s["unit"] == "mm" and s["auc_range"] == list(AUC_RANGE_3D_MM)
    assert np.isclose(s["epe_mean"], 35.0) and np.isclose(s["epe_median"], 35.0)
    # PCK is 0 below 35 mm and 1 from 35 mm on a 1 mm grid over 20-50: (15 + 0.5) / 30
    assert np.isclose(s["auc"], 15.5 / 30)


def test_empty_accumulator_and_config_validation():
    s = EvalAccumulator.for_2d().summary()
    assert s["num_samples"] == 0 and s["epe_mean"] is None and s["auc"] is None
    json.dumps(s, allow_nan=False)
    with pytest.raises(ValueError):
        PCKConfig(10.0, 5.0)
    with pytest.raises(ValueError):
        EvalAccumulator().add_errors(np.zeros((2, 5)))
