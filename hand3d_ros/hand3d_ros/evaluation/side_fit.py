"""Fit the hand-side calibration of a weights folder on teacher-labelled real photos.

PoseNet (and both PosePrior lifts) run on the window around each teacher hand of the
chosen split (as the pipeline crops a detected hand); the raw side cues of every hand
(``HandResult.side_cues``: the side head's logit, the lifts' residual difference) and the
teacher's anatomical side give a logistic fit (:mod:`hand3d_ros.core.side_calibration`),
stored in the PoseNet weight file so that ``handedness_score`` means what it says.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from hand3d_ros.core.side_calibration import fit_side_calibration, reliability
from hand3d_ros.evaluation.real import RealEvalConfig, RealFolder, teacher_window


def collect_side_cues(weights_dir, folders: Sequence, split: Optional[str] = None, limit: Optional[int] = None,
                      config: RealEvalConfig = RealEvalConfig()) -> dict:
    """``{"head": (N,), "residual": (N,), "is_right": (N,) bool}`` over the teacher hands
    of ``folders`` (restricted to ``split`` by source), with the weights' own pipeline."""
    from hand3d_ros.inference.pipeline import PipelineConfig, load_pipeline

    pipeline = load_pipeline(weights_dir=weights_dir, backend="torch", device="cpu", log=lambda *_: None)
    pipeline.config = PipelineConfig(handedness="auto")
    pipeline.side_calibration = None  # the raw cues, whatever the weights carry
    head, residual, is_right = [], [], []
    for i, root in enumerate(folders):
        folder = RealFolder(root, split)
        for photo in folder.photos(i, config.min_kp_score)[:limit]:
            if not photo.hands:
                continue
            image = np.ascontiguousarray(folder.shards[photo.samples[0]]["image"])
            boxes = [teacher_window(h.uv, config.crop_margin) for h in photo.hands]
            for hand, result in zip(photo.hands, pipeline.pose_in_boxes(image, boxes).hands):
                head.append(result.side_cues[0])
                residual.append(result.side_cues[1])
                is_right.append(hand.side == 1)
    out = {"head": np.asarray(head, np.float64), "residual": np.asarray(residual, np.float64),
           "is_right": np.asarray(is_right, bool)}
    keep = np.isfinite(out["head"]) & np.isfinite(out["residual"])
    return {k: v[keep] for k, v in out.items()}


def fit_and_report(cues: dict, source: str = "") -> tuple:
    """``(SideCalibration, report dict)``: the fit and the accuracy / reliability of the
    raw sum (``head + residual / 0.05``, the uncalibrated default) and of the fit on the
    same hands."""
    cal = fit_side_calibration(cues["head"], cues["residual"], cues["is_right"], source=source)
    raw_p = 1 / (1 + np.exp(-np.clip(cues["head"] + cues["residual"] / 0.05, -30, 30)))
    fit_p = 1 / (1 + np.exp(-np.clip(cal.logit(cues["head"], cues["residual"]), -30, 30)))
    head_p = 1 / (1 + np.exp(-np.clip(cues["head"], -30, 30)))

    def accuracy(p):
        return float(np.mean((p >= 0.5) == cues["is_right"])) if len(p) else float("nan")

    report = {"hands": int(len(cues["head"])), "accuracy_raw": accuracy(raw_p), "accuracy_head": accuracy(head_p),
              "accuracy_calibrated": accuracy(fit_p), "reliability_raw": reliability(raw_p, cues["is_right"]),
              "reliability_calibrated": reliability(fit_p, cues["is_right"])}
    return cal, report
