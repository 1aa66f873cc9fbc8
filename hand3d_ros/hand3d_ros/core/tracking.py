"""Hand tracking across frames: stable ids, smoothing, handedness hysteresis, crop propagation.

Pure logic for the node (no ROS, no images). Each frame the node hands the tracker the
hands it found (:class:`Detection`) and gets back the tracks they belong to
(:class:`Track`), each with a stable integer id, One Euro filtered 2D and 3D keypoints
and a handedness label that does not flicker.

Detection cadence: running HandSegNet on every frame is the expensive part. When every
live track saw its hand in the previous frame with enough confident keypoints, the next
frame can reuse a crop around those keypoints (:meth:`Track.propagated_crop`) and skip
segmentation; :meth:`HandTracker.needs_detection` says when it cannot (no tracks, a track
lost or unsure, or the periodic re-detection that finds new hands).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from .filters import OneEuroConfig, OneEuroFilter
from .keypoints import NUM_KEYPOINTS, ROOT

__all__ = ["LEFT", "RIGHT", "UNKNOWN", "TrackerConfig", "Detection", "Track", "HandTracker", "box_iou"]

#: Handedness labels (the same numbers as ``hand3d_msgs/HandPose3D.LEFT/RIGHT/UNKNOWN``).
LEFT = 0
RIGHT = 1
UNKNOWN = 2

#: Cost given to gated-out pairs in the assignment (any value above every real cost).
_FORBIDDEN_COST = 1e6


@dataclass
class TrackerConfig:
    """Parameters of :class:`HandTracker`.

    Attributes:
        max_hands: most hands tracked at once; extra detections (lowest hand score
            first) start no track, except that a new hand replaces a track that is
            currently missing (the one missing longest). Range >= 1.
        min_hand_score: detections with a lower hand score are ignored, and a track
            whose last hand score is lower does not propagate its crop. Negative: the
            value calibrated with the weights (filled in like the next one; treated as 0
            by a tracker used directly). Range [-1, 1].
        min_mean_keypoint_score: detections whose mean keypoint score is lower are
            ignored (false detections on faces, arms and skin-coloured objects have
            diffuse score maps). Negative: the value calibrated with the weights, which
            :class:`~hand3d_ros.inference.estimator.HandEstimator` fills in (0 where the
            weights carry none; a tracker used directly treats it as 0). Range [-1, 1].
        min_iou: a detection may join a track if the IoU of their boxes is at least
            this (or the wrist gate below passes). Range [0, 1].
        max_wrist_distance: ... or if the detected wrist lies within this many track
            box sides (sqrt of the box area) of the track's predicted wrist. Range >= 0.
        max_missed_frames: a track survives this many consecutive frames without a
            detection and is dropped on the next miss. Range >= 0.
        redetect_every: run the hand detector (HandSegNet) at least every this many
            frames even when all tracks could propagate their crops (finds new hands);
            1 = every frame. Range >= 1.
        min_keypoint_score: a keypoint is confident at or above this score. Range [0, 1].
        min_confident_keypoints: a track propagates its crop only with at least this
            many confident keypoints. Range 1..21.
        crop_margin: the propagated crop is a square around the confident keypoints'
            bounding box, its side the box's larger side times (1 + 2 * crop_margin)
            (room for motion and for the finger thickness that keypoints do not
            cover). Range >= 0.
        min_crop_side_px: smallest propagated crop side, pixels. Range > 0.
        handedness_time_constant_s: time constant of the exponential smoothing of
            P(right), seconds; 0 = no smoothing. Range >= 0.
        handedness_margin: hysteresis of a decided label: a LEFT hand becomes RIGHT when
            the smoothed P(right) exceeds 0.5 + margin, a RIGHT hand LEFT when it falls
            below 0.5 - margin; in between it keeps its label. Range [0, 0.5).
        handedness_unknown_margin: a hand whose side is not decided yet (UNKNOWN, as
            every new track starts) gets the likelier side once its smoothed P(right)
            is more than this away from 0.5; 0: at once (P(right) exactly 0.5 stays
            UNKNOWN). With a calibrated P(right) the likelier side is the label most
            often right; a margin trades labels for "unknown". Range [0, 0.5).
        predict_motion: predict each track's box and wrist with its last velocity
            before associating (helps fast hands).
        filter_2d: One Euro parameters for the 2D keypoints (pixels; beta in 1/px).
        filter_3d: One Euro parameters for the metric 3D keypoints (metres; beta in 1/m).
    """

    max_hands: int = 2
    min_hand_score: float = -1.0
    min_mean_keypoint_score: float = -1.0
    min_iou: float = 0.1
    max_wrist_distance: float = 0.5
    max_missed_frames: int = 5
    redetect_every: int = 10
    min_keypoint_score: float = 0.3
    min_confident_keypoints: int = 10
    crop_margin: float = 0.25
    min_crop_side_px: float = 32.0
    handedness_time_constant_s: float = 0.3
    handedness_margin: float = 0.15
    handedness_unknown_margin: float = 0.05
    predict_motion: bool = True
    filter_2d: OneEuroConfig = field(default_factory=lambda: OneEuroConfig(min_cutoff_hz=1.0, beta=0.05, d_cutoff_hz=1.0))
    filter_3d: OneEuroConfig = field(default_factory=lambda: OneEuroConfig(min_cutoff_hz=1.0, beta=20.0, d_cutoff_hz=1.0))

    def __post_init__(self):
        checks = [
            (self.max_hands >= 1, "max_hands must be >= 1"),
            (-1.0 <= self.min_hand_score <= 1.0, "min_hand_score must be in [-1, 1]"),
            (-1.0 <= self.min_mean_keypoint_score <= 1.0, "min_mean_keypoint_score must be in [-1, 1]"),
            (0.0 <= self.min_iou <= 1.0, "min_iou must be in [0, 1]"),
            (self.max_wrist_distance >= 0, "max_wrist_distance must be >= 0"),
            (self.max_missed_frames >= 0, "max_missed_frames must be >= 0"),
            (self.redetect_every >= 1, "redetect_every must be >= 1"),
            (0.0 <= self.min_keypoint_score <= 1.0, "min_keypoint_score must be in [0, 1]"),
            (1 <= self.min_confident_keypoints <= NUM_KEYPOINTS, "min_confident_keypoints must be in [1, 21]"),
            (self.crop_margin >= 0, "crop_margin must be >= 0"),
            (self.min_crop_side_px > 0, "min_crop_side_px must be > 0"),
            (self.handedness_time_constant_s >= 0, "handedness_time_constant_s must be >= 0"),
            (0.0 <= self.handedness_margin < 0.5, "handedness_margin must be in [0, 0.5)"),
            (0.0 <= self.handedness_unknown_margin < 0.5, "handedness_unknown_margin must be in [0, 0.5)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


@dataclass
class Detection:
    """One hand found in one frame.

    Attributes:
        box: (4,) crop box the keypoints were estimated in, pixels,
            [u_min, v_min, u_max, v_max].
        uv: (21, 2) keypoints, pixels.
        score: (21,) keypoint confidences in [0, 1].
        hand_score: detection score of the hand in [0, 1].
        p_right: probability that it is a right hand, [0, 1] (0.5 = no idea).
        xyz: optional (21, 3) metric keypoints, metres, camera frame (NaN allowed).
        payload: anything the caller wants to find again on the track (e.g. w_rel,
            the metric result); the tracker does not look at it.
    """

    box: np.ndarray
    uv: np.ndarray
    score: np.ndarray
    hand_score: float
    p_right: float = 0.5
    xyz: np.ndarray | None = None
    payload: object = None

    def __post_init__(self):
        self.box = np.asarray(self.box, dtype=np.float64).reshape(4)
        self.uv = np.asarray(self.uv, dtype=np.float64).reshape(NUM_KEYPOINTS, 2)
        self.score = np.asarray(self.score, dtype=np.float64).reshape(NUM_KEYPOINTS)
        if self.xyz is not None:
            self.xyz = np.asarray(self.xyz, dtype=np.float64).reshape(NUM_KEYPOINTS, 3)


def _box_areas(a, b):
    """``(intersection, area of a, area of b)`` of two boxes [u_min, v_min, u_max, v_max]
    (pixels); the intersection is 0 when they do not meet."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = iw * ih if iw > 0 and ih > 0 else 0.0
    return inter, (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])


def box_iou(a, b) -> float:
    """Intersection over union of two boxes [u_min, v_min, u_max, v_max] (pixels); 0 if either is empty."""
    inter, area_a, area_b = _box_areas(a, b)
    if inter <= 0:
        return 0.0
    union = area_a + area_b - inter
    return float(inter / union) if union > 0 else 0.0


def box_containment(a, b) -> float:
    """How much of box ``a`` lies inside box ``b``: their intersection over ``a``'s area
    (boxes [u_min, v_min, u_max, v_max], pixels); 0 if ``a`` is empty or they do not meet."""
    inter, area_a, _ = _box_areas(a, b)
    return float(inter / area_a) if inter > 0 and area_a > 0 else 0.0


class Track:
    """One tracked hand.

    Attributes:
        id: stable integer id (monotonic per tracker, never reused).
        box: (4,) box of the last detection, pixels.
        uv_raw: (21, 2) last detected keypoints, pixels (unfiltered).
        uv: (21, 2) filtered keypoints, pixels.
        score: (21,) last keypoint confidences.
        xyz: (21, 3) filtered metric keypoints, metres, camera frame, or None when
            the last detection had none.
        hand_score: last detection score.
        p_right: smoothed probability of a right hand.
        handedness: LEFT, RIGHT or UNKNOWN (with hysteresis).
        missed: consecutive frames without a detection (0 = seen in the last update).
        hits: frames with a detection in total.
        last_stamp: time of the last detection, seconds.
        velocity: (2,) box-centre velocity, pixels / second.
        detection: the :class:`Detection` of the last update, None if missed then.
    """

    def __init__(self, track_id: int, detection: Detection, stamp: float, config: TrackerConfig):
        self.id = track_id
        self._uv_filter = OneEuroFilter.from_config(config.filter_2d)
        self._xyz_filter = OneEuroFilter.from_config(config.filter_3d)
        self.p_right = float(detection.p_right)
        self.handedness = UNKNOWN
        self.velocity = np.zeros(2)
        self.hits = 0
        self.missed = 0
        self.last_stamp = stamp
        self.xyz = None
        self._apply(detection, stamp, config, first=True)

    # ---------------------------------------------------------------- properties
    @property
    def handedness_score(self) -> float:
        """Confidence in the current label, [0, 1]: P(right) for RIGHT, P(left) for LEFT, the larger for UNKNOWN."""
        if self.handedness == RIGHT:
            return self.p_right
        if self.handedness == LEFT:
            return 1.0 - self.p_right
        return max(self.p_right, 1.0 - self.p_right)

    @property
    def hand_side(self) -> int:
        """LEFT or RIGHT for models that need a side: the label, or the likelier side while UNKNOWN."""
        if self.handedness != UNKNOWN:
            return self.handedness
        return RIGHT if self.p_right >= 0.5 else LEFT

    def predicted_box(self, stamp: float, config: TrackerConfig) -> np.ndarray:
        """(4,) box moved by the last velocity to time ``stamp`` (s), pixels."""
        if not config.predict_motion:
            return self.box.copy()
        shift = self.velocity * max(stamp - self.last_stamp, 0.0)
        return self.box + np.concatenate([shift, shift])

    def predicted_wrist(self, stamp: float, config: TrackerConfig) -> np.ndarray:
        """(2,) wrist position moved by the last velocity to time ``stamp`` (s), pixels."""
        wrist = self.uv_raw[ROOT]
        if not config.predict_motion:
            return wrist.copy()
        return wrist + self.velocity * max(stamp - self.last_stamp, 0.0)

    def propagated_crop(self, config: TrackerConfig):
        """Crop for the next frame from this frame's keypoints, skipping segmentation.

        Args:
            config: the tracker's :class:`TrackerConfig`.
        Returns:
            (4,) square box [u_min, v_min, u_max, v_max], pixels (may extend past the
            image), centred on the confident keypoints' bounding box, side = its larger
            side * (1 + 2 * crop_margin) (at least ``min_crop_side_px``); or None when
            the track was not seen in the last update, its hand score is below
            ``min_hand_score`` or it has fewer than ``min_confident_keypoints``
            keypoints scoring at least ``min_keypoint_score``.
        """
        if self.missed > 0 or self.hand_score < config.min_hand_score:
            return None
        confident = (self.score >= config.min_keypoint_score) & np.all(np.isfinite(self.uv_raw), axis=1)
        if confident.sum() < config.min_confident_keypoints:
            return None
        uv = self.uv_raw[confident]
        lo, hi = uv.min(axis=0), uv.max(axis=0)
        centre = (lo + hi) / 2.0
        side = max(float(np.max(hi - lo)) * (1.0 + 2.0 * config.crop_margin), config.min_crop_side_px)
        return np.concatenate([centre - side / 2.0, centre + side / 2.0])

    # ---------------------------------------------------------------- updates
    def _apply(self, detection: Detection, stamp: float, config: TrackerConfig, first: bool = False):
        if not first:
            dt = stamp - self.last_stamp
            if dt > 0:
                old_centre = (self.box[:2] + self.box[2:]) / 2.0
                new_centre = (detection.box[:2] + detection.box[2:]) / 2.0
                self.velocity = (new_centre - old_centre) / dt
            tau = config.handedness_time_constant_s
            alpha = 1.0 if tau == 0 else 1.0 - math.exp(-max(dt, 0.0) / tau)
            self.p_right += alpha * (float(detection.p_right) - self.p_right)
        self._update_label(config)
        self.box = detection.box.copy()
        self.uv_raw = detection.uv.copy()
        self.score = detection.score.copy()
        self.hand_score = float(detection.hand_score)
        self.uv = self._uv_filter(detection.uv, stamp)
        if detection.xyz is not None:
            self.xyz = self._xyz_filter(detection.xyz, stamp)
        else:
            self.xyz = None
        self.detection = detection
        self.last_stamp = stamp
        self.missed = 0
        self.hits += 1

    def _update_label(self, config: TrackerConfig):
        margin = config.handedness_unknown_margin if self.handedness == UNKNOWN else config.handedness_margin
        upper, lower = 0.5 + margin, 0.5 - margin
        if self.p_right > upper:
            self.handedness = RIGHT
        elif self.p_right < lower:
            self.handedness = LEFT
        # in between: keep the previous label

    def _miss(self):
        self.missed += 1
        self.detection = None


class HandTracker:
    """Associates per-frame detections to tracks with stable ids.

    Usage per frame::

        if tracker.needs_detection(frame_index):
            detections = run_handsegnet_and_posenet(frame)
        else:
            detections = run_posenet_on(tracker.propagated_crops())
        for track in tracker.update(detections, stamp):
            publish(track)
    """

    def __init__(self, config: TrackerConfig | None = None):
        self.config = config or TrackerConfig()
        self.tracks: list = []  #: live tracks, including those that missed recent frames
        self._next_id = 0
        self._latest_stamp = -math.inf

    def configure(self, config: TrackerConfig) -> None:
        """New parameters; live tracks keep their state and their filters take the new
        One Euro parameters from the next sample on."""
        self.config = config
        for track in self.tracks:
            track._uv_filter.config = config.filter_2d
            track._xyz_filter.config = config.filter_3d

    def reset(self) -> None:
        """Drop every track (ids keep counting: a new track never reuses an old id)."""
        self.tracks = []
        self._latest_stamp = -math.inf

    def needs_detection(self, frame_index: int) -> bool:
        """Whether frame ``frame_index`` (0, 1, ...) must run the hand detector.

        True on every ``redetect_every``-th frame (index divisible by it), when there is
        no live track, or when any live track cannot propagate its crop (missed,
        unsure). Otherwise the frame can use :meth:`propagated_crops`.
        """
        if frame_index % self.config.redetect_every == 0 or not self.tracks:
            return True
        return any(track.propagated_crop(self.config) is None for track in self.tracks)

    def propagated_crops(self) -> list:
        """``[(track_id, box (4,) pixels)]`` for the live tracks that can propagate a crop."""
        crops = []
        for track in self.tracks:
            box = track.propagated_crop(self.config)
            if box is not None:
                crops.append((track.id, box))
        return crops

    def _cost_matrix(self, detections, stamp):
        cost = np.full((len(self.tracks), len(detections)), _FORBIDDEN_COST)
        for i, track in enumerate(self.tracks):
            box = track.predicted_box(stamp, self.config)
            wrist = track.predicted_wrist(stamp, self.config)
            side = math.sqrt(max((box[2] - box[0]) * (box[3] - box[1]), 1e-9))
            for j, det in enumerate(detections):
                iou = box_iou(box, det.box)
                distance = float(np.linalg.norm(det.uv[ROOT] - wrist)) / side
                if not np.isfinite(distance):
                    distance = math.inf
                if iou >= self.config.min_iou or distance <= self.config.max_wrist_distance:
                    cost[i, j] = (1.0 - iou) + min(distance, _FORBIDDEN_COST / 2)
        return cost

    def update(self, detections, stamp: float) -> list:
        """Feed one frame's detections.

        Args:
            detections: sequence of :class:`Detection` (any order).
            stamp: frame time, seconds. A stamp earlier than the last one resets the
                tracker (a replayed bag or a reset clock).
        Returns:
            The tracks that received a detection in this frame, highest hand score
            first. Tracks that missed this frame stay in :attr:`tracks` (with
            ``missed > 0`` and ``detection`` None) until they exceed
            ``max_missed_frames``.
        """
        stamp = float(stamp)
        if stamp < self._latest_stamp:
            self.reset()
        self._latest_stamp = stamp
        config = self.config
        gate = max(0.0, config.min_mean_keypoint_score)
        usable = [d for d in detections if d.hand_score >= max(0.0, config.min_hand_score)
                  and (gate <= 0.0 or float(np.mean(d.score)) >= gate)]
        usable.sort(key=lambda d: -d.hand_score)

        matched_tracks, matched_dets = set(), set()
        if self.tracks and usable:
            cost = self._cost_matrix(usable, stamp)
            rows, cols = linear_sum_assignment(cost)
            for i, j in zip(rows, cols):
                if cost[i, j] < _FORBIDDEN_COST:
                    self.tracks[i]._apply(usable[j], stamp, config)
                    matched_tracks.add(i)
                    matched_dets.add(j)

        survivors = []
        for i, track in enumerate(self.tracks):
            if i not in matched_tracks:
                track._miss()
                if track.missed > config.max_missed_frames:
                    continue
            survivors.append(track)
        self.tracks = survivors

        updated = [t for t in self.tracks if t.missed == 0]
        for j, det in enumerate(usable):  # highest hand score first
            if j in matched_dets:
                continue
            if len(self.tracks) >= config.max_hands:
                # Make room by dropping the track missing for longest, if any is missing.
                coasting = [t for t in self.tracks if t.missed > 0]
                if not coasting:
                    break
                self.tracks.remove(max(coasting, key=lambda t: t.missed))
            track = Track(self._next_id, det, stamp, config)
            self._next_id += 1
            self.tracks.append(track)
            updated.append(track)
        updated.sort(key=lambda t: -t.hand_score)
        return updated
