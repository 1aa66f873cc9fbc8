"""Fit the output calibrations of a weights folder on teacher-labelled real photos.

Two calibrations, both stored in the PoseNet weight file's ``calibration`` metadata:

- the **detection gate** (``detection``: ``hand_confidence`` and ``min_hand_score``): the
  full pipeline runs on every photo (hand-free ones included); each reported hand is
  paired with a teacher hand or is false. A logistic model of P(paired) from the hand's
  mean keypoint score and HandSegNet peak (and the logit of PoseNet's hand head, for
  weights that have one) is fitted on them
  (:mod:`hand3d_ros.core.hand_confidence`; where only one kind of hand was seen, the gate
  falls back to the mean keypoint score, ``min_mean_keypoint_score``); the gate is the
  highest threshold on that score (on a grid, 0.01 in ``hand3d calibrate-side``) that
  loses at most ``max_found_loss`` of the hands found without it, or, given a false-hand
  budget, the lowest one that keeps false hands per hand-free photo within it (as many
  hands as the budget allows). With a budget, HandSegNet's own
  threshold (``detection_threshold``) can be chosen too: the pipeline runs once per
  candidate threshold, each gets its gate, and the one finding the most hands within the
  budget wins (:func:`pick_detection_threshold`). A lower threshold grows the masks of
  small, distant hands (whose peak probability stays low) and lets the gate reject what
  else it lets in;
- the **hand side** (below).


The **hand side** is fitted on the side cues (``HandResult.side_cues``: the side head's
logit, the lifts' residual difference) of the hands the weights' own pipeline finds on the
chosen split, cut as it cuts them (mask windows, re-crops around its own keypoints), each
with the anatomical side of the teacher hand it pairs with: a logistic fit
(:mod:`hand3d_ros.core.side_calibration`), stored in the PoseNet weight file so that
``handedness_score`` means what it says on the crops the node sees. (Fitted on windows
around the teacher's keypoints instead, ``side_crops="teacher"``, the head and the lifts
look surer than they are on the pipeline's crops: session 12 measured 0.89 single-image
accuracy on the test split with such a fit against 0.91 with the pipeline-crop fit.)
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from hand3d_ros.core.hand_confidence import fit_hand_confidence
from hand3d_ros.core.side_calibration import fit_side_calibration, reliability
from hand3d_ros.evaluation.real import (PredictedHand, RealEvalConfig, open_photos, score_photo, score_photos,
                                        teacher_window)
from hand3d_ros.options import SIDE_CROPS


def collect_side_cues(weights_dir, folders: Sequence, split: Optional[str] = None, limit: Optional[int] = None,
                      config: RealEvalConfig = RealEvalConfig(), side_crops: str = "pipeline",
                      segmentation_hw: Optional[tuple] = None) -> dict:
    """``{"head": (N,), "residual": (N,), "is_right": (N,) bool}``: the raw side cues of N
    hands of ``folders`` (restricted to ``split`` by source) with the weights' own pipeline
    (``config``'s detection settings), without the side calibration the weights carry.

    ``side_crops`` ``"pipeline"``: the hands the pipeline finds (ungated), as it crops them,
    each labelled with the side of the teacher hand it pairs with (``hand3d eval``'s
    matching); ``"teacher"``: every teacher hand, in the window around its keypoints.
    """
    from hand3d_ros.inference.pipeline import load_pipeline

    if side_crops not in SIDE_CROPS:
        raise ValueError(f"side_crops must be one of {SIDE_CROPS}, got {side_crops!r}")
    pipeline = load_pipeline(weights_dir=weights_dir, backend="torch", device="cpu", segmentation_hw=segmentation_hw,
                             log=lambda *_: None)
    pipeline.config = config.pipeline_config(handedness="auto")
    pipeline.side_calibration = None  # the raw cues, whatever the weights carry
    cues, is_right = [], []
    opened, photos = open_photos(folders, split, config=config, limit=limit)
    for photo in photos:
        if not photo.hands:
            continue
        image = np.ascontiguousarray(opened[photo.folder].shards[photo.samples[0]]["image"])
        if side_crops == "teacher":
            # one box per call: pose_in_boxes returns a frame's hands best first, not in box order
            for hand in photo.hands:
                (result,) = pipeline.pose_in_boxes(image, [teacher_window(hand.uv, config.crop_margin)]).hands
                cues.append(result.side_cues)
                is_right.append(hand.side == 1)
            continue
        found = pipeline(image).hands
        predictions = [PredictedHand(uv=h.uv, box=h.crop_box, side=h.hand_side) for h in found]
        for score in score_photo(photo.hands, predictions, photo.source, config)[0]:
            if score.found:
                cues.append(found[score.prediction].side_cues)
                is_right.append(score.side == 1)
    cues = np.asarray(cues, np.float64).reshape(-1, 2)
    keep = np.all(np.isfinite(cues), axis=1)
    return {"head": cues[keep, 0], "residual": cues[keep, 1], "is_right": np.asarray(is_right, bool)[keep]}


def collect_detections(weights_dir, folders: Sequence, split: Optional[str] = None, limit: Optional[int] = None,
                       config: RealEvalConfig = RealEvalConfig(), segmentation_hw: Optional[tuple] = None) -> dict:
    """Every hand the pipeline reports on the photos (no gate), with its mean keypoint
    score, HandSegNet peak, hand head logit (NaN without a hand head) and whether it pairs
    with a teacher hand, scored as ``hand3d eval`` scores them: ``{"kp_mean": (P,), "peak":
    (P,), "hand_logit": (P,), "paired": (P,) bool, "teacher_hands": int,
    "hand_free_photos": int, "false_on_hand_free": (P,) bool, "detection_threshold": float,
    "segmentation_hw": (H, W) or None}`` (HandSegNet's threshold used: ``config.detection_threshold``,
    or the weights' for -1; its input size when not the weights' own);
    predictions on areas the teacher marked uncertain count neither as paired nor as false
    (they are left out). ``segmentation_hw``: as :func:`collect_side_cues`."""
    from hand3d_ros.inference.pipeline import load_pipeline, resolve_detection_threshold

    pipeline = load_pipeline(weights_dir=weights_dir, backend="torch", device="cpu", segmentation_hw=segmentation_hw,
                             log=lambda *_: None)
    model_set = pipeline.model_set
    threshold = resolve_detection_threshold(config.detection_threshold, model_set.metadata, config.flip_test,
                                            model_set.segmentation_hw)
    opened, photos = open_photos(folders, split, config=config, limit=limit)
    kp_mean, peak, hand_logit, paired, on_free, teacher_hands, free = [], [], [], [], [], 0, 0
    for scored in score_photos(pipeline, opened, photos, config, gated=False):
        photo = scored.photo
        teacher_hands += len(photo.hands)
        free += not photo.hands
        for j, is_paired in scored.counted_predictions():
            h = scored.result.hands[j]
            kp_mean.append(float(np.mean(h.uv_score)))
            peak.append(float(h.peak))
            hand_logit.append(float(h.hand_logit))
            paired.append(is_paired)
            on_free.append(not photo.hands)
    return {"kp_mean": np.asarray(kp_mean), "peak": np.asarray(peak), "hand_logit": np.asarray(hand_logit),
            "paired": np.asarray(paired, bool),
            "teacher_hands": teacher_hands,
            "hand_free_photos": free, "false_on_hand_free": np.asarray(on_free, bool),
            "detection_threshold": threshold, "segmentation_hw": model_set.segmentation_hw}


def false_rate_bound(false_hands: float, photos: int, confidence: float) -> float:
    """Upper one-sided ``confidence`` bound of the false hands per photo when
    ``false_hands`` were counted on ``photos`` photos (Poisson, exact chi-square form);
    ``confidence`` 0: the observed rate itself."""
    if confidence <= 0.0:
        return false_hands / max(photos, 1)
    from scipy.stats import chi2

    return float(chi2.ppf(confidence, 2 * (false_hands + 1)) / 2) / max(photos, 1)


def with_hand_confidence(detections: dict, source: str = "") -> dict:
    """:func:`collect_detections`' result plus ``"hand_confidence"``, the
    :class:`~hand3d_ros.core.hand_confidence.HandConfidence` fitted on it, and ``"score"``
    (P,), each hand's confidence: the score the gate is fitted on. The model reads the hand
    head's logits when every hand has one. With only paired or only false hands no model
    can be fitted: the model is None and the score is the mean keypoint score."""
    paired = detections["paired"]
    if paired.all() or not paired.any() or not np.all(np.isfinite(detections["peak"])):
        return {**detections, "hand_confidence": None, "score": detections["kp_mean"]}
    hand_logit = detections.get("hand_logit")
    if hand_logit is not None and not (len(hand_logit) and np.all(np.isfinite(hand_logit))):
        hand_logit = None
    model = fit_hand_confidence(detections["kp_mean"], detections["peak"], paired, source, hand_logit)
    return {**detections, "hand_confidence": model,
            "score": model.probability(detections["kp_mean"], detections["peak"], hand_logit)}


def fit_gate(detections: dict, max_found_loss: float = 0.01, step: float = 0.05,
             max_false_per_hand_free: Optional[float] = None, budget_confidence: float = 0.0) -> tuple:
    """``(gate, table)``: the threshold on ``detections["score"]`` and, per threshold on a
    ``step`` grid, ``(t, found, false on photos with hands, false per hand-free photo)``.

    Without ``max_false_per_hand_free`` the gate is the highest threshold losing at most
    ``max_found_loss`` of the found hands; with it, the lowest threshold whose false hands
    per hand-free photo are at most that budget (the highest grid value if none is). With
    ``budget_confidence`` > 0 the budget must hold for the upper bound of that rate
    (:func:`false_rate_bound`), not just the count on these photos: a few hundred
    hand-free photos measure it only roughly, and other rooms differ.
    """
    score, paired, free = detections["score"], detections["paired"], detections["false_on_hand_free"]
    n_teacher, n_free = max(detections["teacher_hands"], 1), max(detections["hand_free_photos"], 1)
    table, within = [], []
    base = float(np.sum(paired)) / n_teacher
    for t in np.round(np.arange(0.0, 1.0, step), 3):  # exact grid values: 0.3, not 0.30000000000000004
        keep = score >= t
        found = float(np.sum(keep & paired)) / n_teacher
        false_on_free = int(np.sum(keep & ~paired & free))
        table.append((float(t), found, float(np.sum(keep & ~paired & ~free)), false_on_free / n_free))
        if (max_false_per_hand_free is not None
                and false_rate_bound(false_on_free, n_free, budget_confidence) <= max_false_per_hand_free):
            within.append(float(t))
    if max_false_per_hand_free is not None:
        return (within[0] if within else table[-1][0]), table
    gate = 0.0
    for t, found, _, _ in table:
        if found >= base - max_found_loss:
            gate = t
    return gate, table


def gated_row(gate: float, table) -> tuple:
    """The row ``(t, found, false on photos with hands, false per hand-free photo)`` of
    :func:`fit_gate`'s ``table`` at its ``gate``."""
    return next(row for row in table if row[0] == gate)


def pick_detection_threshold(fits: dict, max_false_per_hand_free: float) -> float:
    """The HandSegNet threshold whose gated pipeline finds the most hands while keeping
    within the false-hand budget; ``fits``: ``{threshold: (gate, table)}`` from
    :func:`fit_gate` with that budget. Ties go to the higher threshold (fewer
    mask pixels to sort out); a threshold whose gate cannot meet the budget is taken only
    when none can (then the one with the fewest false hands)."""
    rows = {t: gated_row(gate, table) for t, (gate, table) in fits.items()}
    within = [t for t, row in rows.items() if row[3] <= max_false_per_hand_free]
    if not within:
        return min(rows, key=lambda t: (rows[t][3], -t))
    return max(within, key=lambda t: (rows[t][1], t))


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
