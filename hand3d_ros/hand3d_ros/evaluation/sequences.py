"""Evaluation on rendered sequences with ground truth: the metric, tracked hand over time.

Notation: T frames per sequence, K = 21 keypoints; ground truth per frame ``xyz``
(K, 3) metres in the camera frame, ``uv`` (K, 2) pixels, ``visible`` (K,), ``K`` (3, 3),
``hand_side``, optional ``depth`` (H, W) metres (0 = background).

For each sequence the real :class:`~hand3d_ros.inference.estimator.HandEstimator` runs
frame after frame in these variants:

- ``prior``: monocular, hand-size prior = the default adult bone length;
- ``prior_true_size``: monocular with the sequence's true reference bone length (the
  upper bound of the monocular approach);
- ``depth``: with the aligned depth image;
- ``prior_unsmoothed``: as ``prior`` without the One Euro filter (jitter comparison);
- ``no_tracking``: as ``prior`` running HandSegNet on every frame (speed-up comparison).

Reported: wrist position error (mm), per-keypoint 3D error (mm; visible keypoints),
depth (z) error of the wrist (mm and % of its distance), jitter (mean norm of the
difference between predicted and true frame-to-frame acceleration, mm/frame^2),
handedness accuracy (published label, UNKNOWN counts as wrong), detection rate, and
time per frame.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Iterable, Optional

import numpy as np

from hand3d_ros.core.keypoints import REFERENCE_BONE, WRIST

VARIANTS = ("prior", "prior_true_size", "depth", "prior_unsmoothed", "no_tracking")


def _depth_m(depth: Optional[np.ndarray]) -> Optional[np.ndarray]:
    if depth is None:
        return None
    depth = np.asarray(depth, dtype=np.float32).copy()
    depth[~(depth > 0)] = np.nan
    return depth


def run_sequence(estimator, frames: dict, variant: str, base_config) -> dict:
    """Run one variant over one sequence; returns per-frame predictions and timings.

    ``frames``: dict of (T, ...) arrays (image, K, xyz, uv, visible, hand_side, depth,
    timestamp). ``base_config``: the :class:`EstimatorConfig` the variants start from.
    """
    config = replace(base_config)
    if variant == "prior_true_size":
        xyz0 = np.asarray(frames["xyz"][0], dtype=np.float64)
        config = replace(config, metric=replace(config.metric, bone_length_m=float(
            np.linalg.norm(xyz0[REFERENCE_BONE[1]] - xyz0[REFERENCE_BONE[0]]))))
    if variant == "prior_unsmoothed":
        config = replace(config, smoothing=False)
    if variant == "no_tracking":
        config = replace(config, tracking=False)
    estimator.configure(config)
    estimator.reset()
    count = len(frames["image"])
    xyz = np.full((count, 21, 3), np.nan)
    side = np.full(count, -1)
    detected = np.zeros(count, bool)
    seconds = np.zeros(count)
    stamps = frames.get("timestamp", np.arange(count) / 30.0)
    for t in range(count):
        depth = _depth_m(frames["depth"][t]) if variant == "depth" and "depth" in frames else None
        start = time.perf_counter()
        out = estimator.process(np.asarray(frames["image"][t]), float(stamps[t]), K=np.asarray(frames["K"][t]),
                                depth_m=depth)
        seconds[t] = time.perf_counter() - start
        if out.hands:
            hand = out.hands[0]
            xyz[t], side[t], detected[t] = hand.xyz, hand.handedness, True
    return {"xyz": xyz, "side": side, "detected": detected, "seconds": seconds}


def score_sequence(pred: dict, frames: dict) -> dict:
    """Errors of one run against the ground truth (arrays per frame / keypoint)."""
    gt = np.asarray(frames["xyz"], dtype=np.float64)
    visible = np.asarray(frames["visible"], dtype=bool)
    xyz = pred["xyz"]
    ok = np.all(np.isfinite(xyz), axis=(1, 2))
    keypoint_mm = np.linalg.norm(xyz - gt, axis=2)[ok][visible[ok]] * 1000.0
    wrist_mm = np.linalg.norm(xyz[ok, WRIST] - gt[ok, WRIST], axis=1) * 1000.0
    z_err = (xyz[ok, WRIST, 2] - gt[ok, WRIST, 2])
    z_rel = np.abs(z_err) / gt[ok, WRIST, 2]
    accel_err = []
    for t in range(1, len(xyz) - 1):
        if ok[t - 1] and ok[t] and ok[t + 1]:
            a_pred = xyz[t + 1] - 2 * xyz[t] + xyz[t - 1]
            a_gt = gt[t + 1] - 2 * gt[t] + gt[t - 1]
            accel_err.append(np.linalg.norm(a_pred - a_gt, axis=1).mean() * 1000.0)
    gt_side = int(np.asarray(frames["hand_side"]).reshape(-1)[0])
    return {"keypoint_mm": keypoint_mm, "wrist_mm": wrist_mm, "wrist_z_mm": np.abs(z_err) * 1000.0,
            "wrist_z_rel": z_rel, "jitter_mm": np.asarray(accel_err), "side_correct": pred["side"][pred["detected"]] == gt_side,
            "detected": pred["detected"], "seconds": pred["seconds"]}


def _stats(values) -> Optional[dict]:
    values = np.concatenate([np.ravel(v) for v in values]) if values else np.zeros(0)
    if values.size == 0:
        return None
    return {"mean": float(np.mean(values)), "median": float(np.median(values)), "n": int(values.size)}


def evaluate_sequences(estimator, sequences: Iterable[dict], variants=VARIANTS, progress=None) -> dict:
    """Every variant over every sequence; a JSON-ready summary per variant plus the
    targets of the project (depth median 3D error < 20 mm; monocular with the true size:
    median wrist depth error < 5 % of the distance; handedness > 95 %)."""
    base = replace(estimator.config)
    scores = {v: [] for v in variants}
    for index, frames in enumerate(sequences):
        for variant in variants:
            if variant == "depth" and "depth" not in frames:
                continue
            scores[variant].append(score_sequence(run_sequence(estimator, frames, variant, base), frames))
        if progress is not None:
            progress(index + 1)
    estimator.configure(base)
    summary = {}
    for variant, runs in scores.items():
        if not runs:
            continue
        detected = np.concatenate([r["detected"] for r in runs])
        sides = np.concatenate([r["side_correct"] for r in runs])
        summary[variant] = {
            "sequences": len(runs), "frames": int(detected.size),
            "detection_rate": float(detected.mean()),
            "keypoint_error_mm": _stats([r["keypoint_mm"] for r in runs]),
            "wrist_error_mm": _stats([r["wrist_mm"] for r in runs]),
            "wrist_depth_error_mm": _stats([r["wrist_z_mm"] for r in runs]),
            "wrist_depth_error_relative": _stats([r["wrist_z_rel"] for r in runs]),
            "jitter_mm_per_frame2": _stats([r["jitter_mm"] for r in runs]),
            "handedness_accuracy": float(sides.mean()) if sides.size else None,
            "ms_per_frame": float(np.concatenate([r["seconds"] for r in runs]).mean() * 1000.0),
        }
    if "prior" in summary and "no_tracking" in summary:
        summary["tracking_speedup"] = summary["no_tracking"]["ms_per_frame"] / summary["prior"]["ms_per_frame"]
    summary["targets"] = _targets(summary)
    return summary


def _targets(summary: dict) -> dict:
    def median(variant, key):
        stats = summary.get(variant, {}).get(key)
        return None if not stats else stats["median"]

    depth_mm = median("depth", "keypoint_error_mm")
    rel = median("prior_true_size", "wrist_depth_error_relative")
    side = summary.get("prior", {}).get("handedness_accuracy")
    return {
        "depth_median_keypoint_error_below_20mm": None if depth_mm is None else depth_mm < 20.0,
        "true_size_median_wrist_depth_error_below_5pct": None if rel is None else rel < 0.05,
        "handedness_above_95pct": None if side is None else side > 0.95,
    }


def load_sequences(root, limit: Optional[int] = None):
    """Single-hand sequences written by ``hand3d render --sequences`` (one shard per
    sequence): yields dicts of (T, ...) arrays."""
    from pathlib import Path

    files = sorted(Path(root).glob("shard-*.npz"))
    if not files:
        raise FileNotFoundError(f"no sequence shards (shard-*.npz) in {root}")
    for path in files[:limit]:
        with np.load(path, allow_pickle=False) as data:
            frames = {k: data[k] for k in data.files}
        if np.asarray(frames["xyz"]).ndim != 3:
            continue  # two-hand sequences: not scored here
        yield frames
