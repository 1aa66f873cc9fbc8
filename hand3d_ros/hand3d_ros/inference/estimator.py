"""Frames in, tracked metric hands out: the pipeline plus metric 3D, tracking and smoothing.

This is everything the ROS node does between receiving an image and publishing, as plain
library code (no rclpy), so ``hand3d infer``, the demo, the evaluation and the node share
it. Per frame:

1. HandSegNet + PoseNet + PosePrior (:class:`HandPosePipeline`), or, while tracked hands
   stay confident, PoseNet + PosePrior in crops propagated from the previous keypoints
   (HandSegNet skipped; re-detection when confidence drops, a hand is lost, and every
   ``redetect_every`` frames);
2. metric 3D in the camera frame from w_rel, the 2D keypoints and K (hand-size prior, or
   the aligned depth image when given and consistent);
3. association to tracks (stable ids), One Euro smoothing of 2D and 3D keypoints,
   handedness with hysteresis;
4. the palm frame (origin at the wrist) and the viewpoint for each hand.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import List, Optional

import numpy as np

from hand3d_ros.core.filters import OneEuroConfig
from hand3d_ros.core.metric3d import MetricConfig, ScaleSource, lift_to_metric
from hand3d_ros.core.palm import palm_frame
from hand3d_ros.core.tracking import UNKNOWN, Detection, HandTracker, TrackerConfig
from hand3d_ros.inference.pipeline import HandPosePipeline, HandResult, PipelineConfig, detection_calibration

#: ``min_hand_score`` of weights that carry no calibrated one (it then gates HandSegNet's peak).
DEFAULT_MIN_HAND_SCORE = 0.2

#: Pixels per metre used to carry the 2D One Euro speed coefficient over to 3D: about one
#: pixel per millimetre for a hand half a metre from a camera with a 500 px focal length.
PX_PER_METRE_FOR_SMOOTHING = 1000.0
_SIDE_NAMES = {0: "left", 1: "right"}  # UNKNOWN (2) -> None: estimate it


@dataclass
class EstimatorConfig:
    """All parameters of :class:`HandEstimator`.

    Attributes:
        pipeline: detection and cropping (:class:`PipelineConfig`).
        metric: metric 3D (:class:`MetricConfig`).
        tracker: association, re-detection cadence, smoothing filters, handedness
            hysteresis (:class:`TrackerConfig`).
        tracking: reuse crops from confident tracked keypoints and skip HandSegNet.
        smoothing: publish the One Euro filtered keypoints (else the raw ones).
    """

    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    metric: MetricConfig = field(default_factory=MetricConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    tracking: bool = True
    smoothing: bool = True


def estimator_config_from_params(p: dict) -> EstimatorConfig:
    """The estimator configuration from the node's parameters (see ``ros/params.py``)."""
    pipeline = PipelineConfig(
        detection_threshold=p["detection_threshold"], max_hands=p["max_hands"],
        extra_candidates=p["extra_candidates"], min_hand_area_px=p["min_hand_area_px"],
        crop_margin=p["crop_margin"], refine_passes=p["refine_passes"], refine_max_overlap=p["refine_max_overlap"],
        crop_scale_min=p["crop_scale_min"], crop_scale_max=p["crop_scale_max"], handedness=p["handedness"],
        flip_test=p["flip_test"], split_min_aspect=p["split_min_aspect"], split_max_valley=p["split_max_valley"],
        zoom_out_factor=p["zoom_out_factor"], zoom_out_below_score=p["zoom_out_below_score"])
    beta = float(p["smoothing_beta"])
    tracker = TrackerConfig(
        max_hands=p["max_hands"], min_hand_score=p["min_hand_score"], redetect_every=p["redetect_every"],
        min_mean_keypoint_score=p["min_mean_keypoint_score"],
        min_keypoint_score=p["track_min_keypoint_score"],
        handedness_margin=p["handedness_margin"], handedness_unknown_margin=p["handedness_unknown_margin"],
        filter_2d=OneEuroConfig(min_cutoff_hz=p["smoothing_min_cutoff"], beta=beta),
        filter_3d=OneEuroConfig(min_cutoff_hz=p["smoothing_min_cutoff"], beta=beta * PX_PER_METRE_FOR_SMOOTHING))
    metric = MetricConfig(bone_length_m=p["reference_bone_length"], depth_keypoint_blend=p["depth_keypoint_blend"])
    return EstimatorConfig(pipeline=pipeline, metric=metric, tracker=tracker,
                           tracking=p["tracking"], smoothing=p["smoothing"])


def image_estimator_config(pipeline: PipelineConfig, metric: Optional[MetricConfig] = None) -> EstimatorConfig:
    """The configuration for independent images (``hand3d infer``, ``hand3d eval --real``):
    the hands the pipeline finds that pass the weights' detection gate are reported, up to
    its ``max_hands``; call :meth:`HandEstimator.reset` before each image."""
    return EstimatorConfig(pipeline=pipeline, metric=metric or MetricConfig(),
                           tracker=TrackerConfig(max_hands=pipeline.max_hands, min_hand_score=-1.0))


@dataclass
class HandState:
    """One tracked hand in one frame, ready to publish (numpy; pixels and metres).

    Attributes:
        hand_id: stable id while tracked.
        handedness: 0 left, 1 right, 2 unknown (with hysteresis); handedness_score in [0, 1].
        score: detection score in [0, 1] (:attr:`HandResult.score`: with the shipped
            weights the probability of a real hand).
        peak: HandSegNet's peak hand probability of the detection (NaN if unknown).
        hand_logit: PoseNet's hand head's log-odds of a real hand this frame (NaN
            without a hand head; :attr:`HandResult.hand_logit`).
        crop_box: (4,) [u_min, v_min, u_max, v_max] pixels.
        uv: (21, 2) pixels (smoothed when smoothing is on); uv_score: (21,).
        w_rel: (21, 3) unitless, wrist-relative, reference bone = 1, camera axes.
        xyz: (21, 3) metres, camera optical frame (NaN without intrinsics).
        scale_source: :class:`ScaleSource`; bone_length_m: reference bone used (m);
        reprojection_error_px: RMS px; scale_reason: why depth was not used, if so.
        palm_origin: (3,) metres (NaN without intrinsics); palm_rotation: (3, 3) columns
            = palm axes in the camera frame.
        viewpoint: (3, 3) the paper's R (canonical -> camera axes).
        hand_side: the side PosePrior lifted this frame with (0 left, 1 right).
    """

    hand_id: int
    handedness: int
    handedness_score: float
    score: float
    crop_box: np.ndarray
    uv: np.ndarray
    uv_score: np.ndarray
    w_rel: np.ndarray
    xyz: np.ndarray
    scale_source: int
    bone_length_m: float
    reprojection_error_px: float
    palm_origin: np.ndarray
    palm_rotation: np.ndarray
    viewpoint: np.ndarray
    hand_side: int
    scale_reason: str = ""
    peak: float = float("nan")
    hand_logit: float = float("nan")


@dataclass
class EstimatorOutput:
    """Result of one frame: tracked hands (best first), mask, timings (ms), whether
    HandSegNet ran."""

    hands: List[HandState]
    mask: Optional[np.ndarray]
    timings_ms: dict
    detected: bool


class HandEstimator:
    """Stateful per camera stream: call :meth:`process` with consecutive frames."""

    def __init__(self, pipeline: HandPosePipeline, config: Optional[EstimatorConfig] = None):
        self.pipeline = pipeline
        self.config = self._resolved(config or EstimatorConfig())
        self.pipeline.config = self.config.pipeline
        self.tracker = HandTracker(self.config.tracker)
        self._frame_index = 0

    def _resolved(self, config: EstimatorConfig) -> EstimatorConfig:
        """``config`` with a negative ``min_hand_score`` or ``min_mean_keypoint_score``
        replaced by the weights' value for its ``flip_test`` mode."""
        gates = self.weights_gates(config.pipeline.flip_test)
        resolved = {name: gates[name] for name in gates if getattr(config.tracker, name) < 0}
        return replace(config, tracker=replace(config.tracker, **resolved)) if resolved else config

    def weights_gates(self, flip_test: bool) -> dict:
        """The weights' own detection gates for a ``flip_test`` mode (``hand3d
        calibrate-side`` stores them): ``{"min_hand_score": ..., "min_mean_keypoint_score":
        ...}``, :data:`DEFAULT_MIN_HAND_SCORE` and 0 where they carry none (at HandSegNet's
        input size: a size's own calibration, else the weights' size's)."""
        model_set = self.pipeline.model_set
        calibration = detection_calibration(model_set.metadata, flip_test, model_set.segmentation_hw)
        return {"min_hand_score": float(calibration.get("min_hand_score", DEFAULT_MIN_HAND_SCORE)),
                "min_mean_keypoint_score": float(calibration.get("min_mean_keypoint_score", 0.0))}

    @property
    def description(self) -> str:
        return self.pipeline.backend.describe()

    @property
    def model_name(self) -> str:
        return self.pipeline.model_set.name

    def configure(self, config: EstimatorConfig) -> None:
        """Apply new parameters (tracks and their filters are kept)."""
        config = self._resolved(config)
        self.config = config
        self.pipeline.config = config.pipeline
        self.tracker.configure(config.tracker)

    def reset(self) -> None:
        self.tracker.reset()
        self._frame_index = 0

    def process(self, rgb: np.ndarray, stamp_s: float, K: Optional[np.ndarray] = None,
                depth_m: Optional[np.ndarray] = None, keep_mask: bool = False) -> EstimatorOutput:
        """One frame.

        Args:
            rgb: (H, W, 3) uint8 RGB.
            stamp_s: capture time, seconds (from the image header).
            K: (3, 3) intrinsics of this image, or None (no metric 3D).
            depth_m: optional (H, W) float32 depth aligned to the image, metres (NaN = none).
            keep_mask: also return the hand mask (costs an upsampling).
        """
        index = self._frame_index
        self._frame_index += 1
        crops = self.tracker.propagated_crops() if self.config.tracking else []
        detect = not crops or self.tracker.needs_detection(index)
        if detect:
            frame = self.pipeline(rgb, keep_mask=keep_mask or depth_m is not None)
        else:
            # A tracked hand whose side is settled is lifted with that side only (one
            # PosePrior pass instead of two); the side is re-estimated at each re-detection.
            tracks = {track.id: track for track in self.tracker.tracks}
            sides = [_SIDE_NAMES.get(int(tracks[track_id].handedness)) for track_id, _ in crops]
            peaks = [tracks[track_id].detection.payload[0].peak for track_id, _ in crops]
            frame = self.pipeline.pose_in_boxes(rgb, [box for _, box in crops], hand_side=sides, peaks=peaks)
        detections = [self._detection(hand, K, depth_m, frame.mask) for hand in frame.hands]
        tracks = self.tracker.update(detections, stamp_s)
        hands = [self._state(track) for track in tracks]
        return EstimatorOutput(hands=hands, mask=frame.mask if keep_mask else None,
                               timings_ms=frame.timings_ms, detected=frame.detected)

    def _detection(self, hand: HandResult, K, depth_m, mask) -> Detection:
        metric = lift_to_metric(hand.w_rel, hand.uv, hand.uv_score, K, self.config.metric,
                                depth_m=depth_m, hand_mask=mask if depth_m is not None else None)
        xyz = metric.xyz_cam if np.all(np.isfinite(metric.xyz_cam)) else None
        return Detection(box=hand.crop_box, uv=hand.uv, score=hand.uv_score, hand_score=hand.score,
                         p_right=hand.p_right, xyz=xyz, payload=(hand, metric))

    def _state(self, track) -> HandState:
        hand, metric = track.detection.payload
        smooth = self.config.smoothing
        uv = track.uv if smooth else track.uv_raw
        if not ScaleSource(metric.scale_source).is_metric:
            xyz = np.full((21, 3), np.nan)
        else:
            xyz = track.xyz if smooth and track.xyz is not None else metric.xyz_cam
        side = self._published_side(track)
        lift_side = side if side != UNKNOWN else hand.hand_side
        frame_points = xyz if np.all(np.isfinite(xyz)) else hand.w_rel
        origin, rotation = palm_frame(np.asarray(frame_points, dtype=np.float64)[None], lift_side)
        origin = origin[0] if np.all(np.isfinite(xyz)) else np.full(3, np.nan)
        return HandState(
            hand_id=track.id, handedness=side,
            handedness_score=track.handedness_score if self.config.pipeline.handedness == "auto" else 1.0,
            score=track.hand_score, crop_box=track.box, uv=uv, uv_score=track.score, w_rel=hand.w_rel,
            xyz=np.asarray(xyz, dtype=np.float64), scale_source=int(metric.scale_source),
            bone_length_m=float(metric.scale), reprojection_error_px=float(metric.reprojection_error_px),
            palm_origin=origin, palm_rotation=rotation[0], viewpoint=hand.R, hand_side=hand.hand_side,
            scale_reason=metric.reason, peak=hand.peak, hand_logit=hand.hand_logit)

    def _published_side(self, track) -> int:
        fixed = self.config.pipeline.handedness
        if fixed == "left":
            return 0
        if fixed == "right":
            return 1
        return int(track.handedness)


def segmentation_hw_from_params(p: dict) -> Optional[tuple]:
    """(H, W) of the node-style ``segmentation_height`` / ``segmentation_width``, or None
    (both 0 or absent: the weights' own size)."""
    hw = (int(p.get("segmentation_height", 0)), int(p.get("segmentation_width", 0)))
    return hw if any(hw) else None


def build_estimator(p: dict, log=print) -> HandEstimator:
    """An estimator from node-style parameters (weights, backend, thresholds...)."""
    from hand3d_ros.inference.pipeline import load_pipeline

    config = estimator_config_from_params(p)
    pipeline = load_pipeline(
        weights_dir=p.get("weights_dir") or None, config=p.get("model_config", "lite"),
        allow_random_weights=p.get("allow_random_weights", False), backend=p.get("backend", "auto"),
        device=p.get("device", "auto"), precision=p.get("precision", "auto"),
        cache_dir=p.get("engine_cache_dir") or None, force_rebuild=p.get("force_engine_rebuild", False),
        num_threads=p.get("num_threads", 0), pipeline_config=replace(config.pipeline),
        segmentation_hw=segmentation_hw_from_params(p), log=log)
    return HandEstimator(pipeline, config)
