"""The paper's pipeline in one call: image -> hands with 2D keypoints, w_rel, w_c and R.

Notation: N frames, M hands over all frames, H x W input image, K = 21 keypoints,
S PoseNet crop side, s = S / 8 score-map side.

Per frame (DESIGN.md section 1), every step on the backend's device, no host round trip
between the networks except the small per-hand results at the end:

1. preprocess: ``rgb / 255 - 0.5`` (from the weights' metadata), NCHW;
2. HandSegNet on the frame resized to its input size -> hand probability;
3. hand components (the connected component holding each probability peak, up to
   ``max_hands + extra_candidates``) -> boxes -> square crops (margin, scale limits,
   fallback); an elongated component with a neck (two touching hands, ``core.split``) is
   also cropped as its two parts; each part scored higher than the whole replaces it
   (step 6: two touching hands, or one hand joined to an arm or a shirt);
4. crops of S x S cut from the full-resolution frame by grid sampling (from a 2x-pooled
   copy when the crop shrinks the image by more than ``antialias_below_scale``);
5. PoseNet -> K score maps (averaged with those of the mirrored crop, flipped back, when
   ``flip_test``); sub-pixel decoding -> uv in crop pixels and a score per keypoint;
   uncropped to pixels of the input image;
6. the hand's score: with weights that carry a hand confidence
   (:mod:`hand3d_ros.core.hand_confidence`), P(real hand) from its mean keypoint score and
   its component's HandSegNet peak, else the peak (the estimator's tracker gates on it);
   the ``max_hands`` best of each frame are kept, re-cropped around their keypoints
   (``refine_passes``, steps 4-6 again); a kept hand that scores low is posed once more in
   a window ``zoom_out_factor`` times larger and re-cropped (``zoom_out_below_score``),
   the better scored of the two kept; a second detection of a hand is dropped;
7. PosePrior on the hands kept (choosing them needs no 3D) -> w_c and R;
   ``w_rel = flip(w_c) @ R``, re-rooted so the wrist is exactly 0. With ``handedness='auto'``
   both sides are lifted in one batch and the side whose w_rel explains the 2D keypoints
   better (smaller weak-perspective residual) adds its evidence to the side head's.

Tracking reuses crops (:meth:`HandPosePipeline.pose_in_boxes`) and skips steps 2-3.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from hand3d_ros.core.canonical import from_canonical
from hand3d_ros.core.crop import CropBox, CropConfig, crop_from_box, crop_from_keypoints
from hand3d_ros.core.heatmap import GaussianHeatmap
from hand3d_ros.core.keypoints import ROOT
from hand3d_ros.core.hand_confidence import METADATA_KEY as HAND_CONFIDENCE
from hand3d_ros.core.hand_confidence import HandConfidence
from hand3d_ros.core.mask import hand_components
from hand3d_ros.core.preprocess import ResizeInfo
from hand3d_ros.core.side_calibration import METADATA_KEY as SIDE_CALIBRATION
from hand3d_ros.core.side_calibration import SideCalibration
from hand3d_ros.core.split import SplitConfig, is_elongated, split_component
from hand3d_ros.core.tracking import box_containment, box_iou
from hand3d_ros.inference.backends.base import Backend
from hand3d_ros.inference.model_set import ModelSet

LEFT, RIGHT, UNKNOWN = 0, 1, 2
_SIDES = {"left": LEFT, "right": RIGHT}

#: Stage names, in order, as reported in :attr:`FrameResult.timings_ms`.
STAGES = ("preprocess", "handsegnet", "mask_crop", "posenet", "decode", "poseprior")
#: Key of the detection calibration (``detection_threshold``, ``hand_confidence``,
#: ``min_hand_score``; ``min_mean_keypoint_score`` in older weights) in a PoseNet weight
#: file's ``calibration`` metadata (``hand3d calibrate-side`` fits it).
DETECTION_CALIBRATION = "detection"
#: HandSegNet threshold of weights that carry no calibrated one.
DEFAULT_DETECTION_THRESHOLD = 0.5


def calibration_key(name: str, flip_test: bool, segmentation_hw: Optional[tuple] = None) -> str:
    """Key of a calibration fitted for one ``flip_test`` mode: ``name`` for PoseNet on the
    crops alone, ``name + "_flip_test"`` with the mirrored crops averaged in (their keypoint
    scores and side logits differ, and so do the gate and side calibration that fit them).
    Fitted with HandSegNet reading another size than its weights' (``segmentation_hw`` =
    (H, W); it finds more, and more false, hands): ``name + "@WxH"`` before that suffix."""
    if segmentation_hw is not None:
        name = f"{name}@{int(segmentation_hw[1])}x{int(segmentation_hw[0])}"
    return f"{name}_flip_test" if flip_test else name


def _calibration_entry(metadata: dict, name: str, flip_test: bool, segmentation_hw: Optional[tuple] = None) -> dict:
    """The ``name`` calibration of a model set for a ``flip_test`` mode and HandSegNet input
    size (``ModelSet.segmentation_hw``; None: the weights' own), or {}. Falls back to the
    other ``flip_test`` mode's, then to the weights' own size's, when they carry no closer one."""
    calibration = (metadata or {}).get("posenet", {}).get("calibration") or {}
    sizes = (segmentation_hw, None) if segmentation_hw is not None else (None,)
    for hw in sizes:
        for flip in (flip_test, not flip_test):
            entry = calibration.get(calibration_key(name, flip, hw))
            if entry:
                return dict(entry)
    return {}


def detection_calibration(metadata: dict, flip_test: bool = False, segmentation_hw: Optional[tuple] = None) -> dict:
    """The detection calibration stored with a model set (``ModelSet.metadata``) for a
    ``flip_test`` mode and HandSegNet input size (None: the weights' own), or {}."""
    return _calibration_entry(metadata, DETECTION_CALIBRATION, flip_test, segmentation_hw)


def is_detection_threshold(value: float) -> bool:
    """Whether ``value`` is a HandSegNet threshold a user may set: a probability in (0, 1),
    or -1 for the weights' calibrated one."""
    return value == -1.0 or 0.0 < value < 1.0


def resolve_detection_threshold(configured: float, metadata: dict, flip_test: bool = False,
                                segmentation_hw: Optional[tuple] = None) -> float:
    """The HandSegNet threshold in use: ``configured`` when it is positive, else the
    weights' calibrated one for the ``flip_test`` mode and HandSegNet input size
    (:data:`DEFAULT_DETECTION_THRESHOLD` when they carry none)."""
    if configured > 0:
        return float(configured)
    calibration = detection_calibration(metadata, flip_test, segmentation_hw)
    return float(calibration.get("detection_threshold", DEFAULT_DETECTION_THRESHOLD))


@dataclass
class PipelineConfig:
    """Parameters of :class:`HandPosePipeline` (each with its range)."""

    detection_threshold: float = -1.0
    """Hand probability above which a HandSegNet pixel is hand; (0, 1), or <= 0: the
    weights' calibrated value (:func:`resolve_detection_threshold`)."""
    max_hands: int = 1
    """Most hands per frame; [1, 8]. A component cut into two touching hands gives two."""
    extra_candidates: int = 0
    """Mask components posed beyond ``max_hands`` (the next best HandSegNet peaks); of all
    posed, the ``max_hands`` with the best hand score are kept (before re-cropping). A face
    or a bare arm whose peak beats a real hand's then no longer takes its place: on the
    real test photos of people 1-3 m away this finds more hands (README: accuracy against
    speed). Costs a PoseNet + PosePrior run per extra component a frame's mask actually
    has, which on the CPU makes the detect step slower than MediaPipe Hands': off by
    default; [0, 6]."""
    min_hand_area_px: int = 16
    """Smallest component, pixels of HandSegNet's input; >= 0."""
    connectivity: int = 8
    """Pixel neighbourhood of the mask components: 4 or 8."""
    split_min_aspect: float = 1.2
    """A mask component whose box is at least this elongated is checked for two touching
    hands (``core.split``); >= 1, or 0: never."""
    split_max_valley: float = 0.8
    """Depth of the neck between two touching hands: the component's profile at the cut
    over the lower peak beside it, at most; (0, 1]. Each part that scores higher than the
    whole replaces it (the hand confidence; the mean keypoint score for weights without
    one): both for two touching hands, one for a hand joined to an arm or a shirt."""
    crop_margin: float = 1.25
    """Crop side = margin x the larger side of the hand's box; [1, 3]."""
    refine_passes: int = 1
    """After PoseNet on the mask's crop, crop each detected hand again around its own
    confident keypoints (the crop PoseNet was trained on and tracking uses) and run PoseNet
    and PosePrior again, this many times. A mask that runs up the forearm or covers only
    part of the hand gives a crop of the wrong size; one pass fixes most of it. Costs one
    more PoseNet + PosePrior run per re-cropped hand per pass (``refine_max_overlap``
    chooses which); [0, 3]."""
    duplicate_max_containment: float = 0.6
    """After re-cropping, a hand whose crop and the crop of a better-scored hand of the same
    frame overlap by at least this share of the smaller crop is dropped as a second
    detection of that hand (a mask in two parts over one hand: one crop ends up inside the
    other, or both around the same keypoints); (0, 1], 1: only a crop wholly inside the
    other."""
    zoom_out_factor: float = 1.6
    """After re-cropping, a hand scoring below ``zoom_out_below_score`` is posed again in a
    window this many times the side of its crop (same centre), then re-cropped around its
    keypoints (``refine_min_keypoint_score``, ``refine_max_overlap``); the better scored
    of the two is kept. A crop over part of a hand (a fist seen knuckles-on, a hand the
    mask covers in part) cannot see the rest of it: the larger window can. Costs up to
    two PoseNet runs per such hand. Needs weights with a hand confidence (the score of a
    detection is otherwise its HandSegNet peak, the same in both windows); 0: off, else
    [1.1, 4]."""
    zoom_out_below_score: float = 0.5
    """Hands scoring below this are zoomed out (``zoom_out_factor``); confident hands
    never pay for it; [0, 1]."""
    refine_min_keypoint_score: float = 0.3
    """Keypoints with at least this score define a refined crop; [0, 1]."""
    refine_min_keypoints: int = 10
    """A hand with fewer such keypoints keeps its mask crop; [3, 21]."""
    refine_max_overlap: float = 0.7
    """Refine only hands whose crop around their keypoints overlaps the window PoseNet saw
    by at most this (intersection over union): the hands whose mask crop was off. 1:
    every hand (on the CPU the detect step is then slower than MediaPipe Hands'); 0.7
    re-crops about a third of them and keeps most of the gain; (0, 1]."""
    crop_scale_min: float = 0.25
    """Smallest crop scale (crop pixels per image pixel); > 0."""
    crop_scale_max: float = 5.0
    """Largest crop scale; >= crop_scale_min."""
    fallback_side_px: float = 100.0
    """Crop side when the mask is empty (image centre), image pixels; > 0."""
    handedness: str = "auto"
    """'auto' (estimated: PoseNet's side head where the weights have one, plus which
    side's lift best explains the keypoints), 'left' or 'right'."""
    handedness_temperature: float = 0.05
    """Softness of the lifts' evidence: their residual difference (units of the
    normalised residual) divided by this is a log-odds of 'right'; > 0."""
    handedness_residual_weight: float = 1.0
    """Weight of the lifts' log-odds added to the side head's (0: the head alone; taken as
    1 for weights without a head, which have only the lifts); >= 0."""
    antialias_below_scale: float = 0.5
    """Crops that shrink the image by more than this factor are cut from a 2x-pooled
    copy (repeatedly), avoiding aliasing; (0, 1]."""
    flip_test: bool = False
    """Run PoseNet on each crop and on its mirror image and average them (score maps
    mirrored back; the side head's logits mirrored back with left and right swapped).
    Costs a second PoseNet pass per hand (batched with the first); on the real test photos
    it raises PCK and the hand side's accuracy (README: accuracy against speed). Off by
    default: with it the CPU detect step is slower than MediaPipe Hands. Weights may carry
    a detection and side calibration for each setting (:func:`calibration_key`)."""
    heatmap_sigma: float = 16.0
    """Gaussian sigma of the score maps in crop pixels at S = 256 (scaled with S);
    only used by the decoder's geometry, > 0."""

    def split_config(self) -> SplitConfig:
        return SplitConfig(min_aspect=self.split_min_aspect, max_valley=self.split_max_valley)

    def crop_config(self, crop_size: int) -> CropConfig:
        return CropConfig(margin=self.crop_margin, output_size=crop_size, scale_min=self.crop_scale_min,
                          scale_max=self.crop_scale_max, fallback_side_px=self.fallback_side_px)


@dataclass
class HandResult:
    """One hand in one frame (numpy, pixels of the input image).

    Attributes:
        crop_box: (4,) [u_min, v_min, u_max, v_max] window PoseNet saw, pixels.
        uv: (K, 2) keypoints, pixels. uv_score: (K,) peak of each score map.
        score: detection score in [0, 1]: with weights that carry a hand confidence
            (:mod:`hand3d_ros.core.hand_confidence`), the probability of a real hand from
            the mean keypoint score, ``peak`` and (weights with a hand head)
            ``hand_logit``; else ``peak`` (HandSegNet detections) or the mean keypoint
            score (reused crops).
        peak: HandSegNet's highest hand probability in the hand's mask component (for a
            reused crop: the one passed in, that of the detection the tracker follows);
            NaN when unknown.
        hand_side: LEFT or RIGHT (the side used for the lift). p_right: P(right): with
            ``auto``, from the side head's and the two lifts' log-odds (the head's alone
            when a per-hand side was passed in, e.g. by the tracker); 0/1 for a side fixed
            by the configuration.
        w_rel: (K, 3) root-relative, reference bone = 1, camera axes.
        w_c: (K, 3) canonical coordinates. R: (3, 3) viewpoint (w_rel = flip(w_c) @ R).
        component: index of the mask component (-1 for a reused crop).
        frame: index of the frame in the batch.
        hand_logit: PoseNet's hand head's log-odds that the crop holds a real hand
            (uncalibrated; NaN for weights without a hand head).
    """

    crop_box: np.ndarray
    uv: np.ndarray
    uv_score: np.ndarray
    score: float
    hand_side: int
    p_right: float
    w_rel: np.ndarray
    w_c: np.ndarray
    R: np.ndarray
    component: int = -1
    frame: int = 0
    peak: float = float("nan")
    side_cues: Tuple[float, float] = (float("nan"), float("nan"))
    """(head_logit, residual_diff): the raw hand-side evidence before calibration (see
    ``core.side_calibration``); NaN where it was not computed (no head, side fixed)."""
    hand_logit: float = float("nan")


@dataclass
class _Posed:
    """One hand PoseNet has seen, before PosePrior: what choosing the hands to report
    needs (the fields of :class:`HandResult` of the same names) and what lifting it
    needs (``maps``: its (K, s, s) score maps on the backend's device; ``head_logit``:
    the side head's right-minus-left logit, NaN without a head; ``hand_logit``: the hand
    head's, NaN without one)."""

    crop_box: np.ndarray
    uv: np.ndarray
    uv_score: np.ndarray
    score: float
    peak: float
    frame: int
    component: int
    maps: torch.Tensor
    head_logit: float
    hand_logit: float = float("nan")


@dataclass
class FrameResult:
    """All hands of one frame, best first.

    Attributes:
        hands: list of :class:`HandResult`.
        mask: (H, W) bool union of the hands' components at the input resolution, or
            None (not requested, or no HandSegNet run on this frame).
        hand_prob: (h, w) float32 hand probability at HandSegNet's resolution, or None.
        timings_ms: stage -> milliseconds (see :data:`STAGES`; batch totals in a batch).
        detected: True when HandSegNet ran on this frame.
    """

    hands: List[HandResult]
    mask: Optional[np.ndarray] = None
    hand_prob: Optional[np.ndarray] = None
    timings_ms: dict = field(default_factory=dict)
    detected: bool = True


class _Timer:
    def __init__(self, backend: Backend):
        self.backend, self.times, self._t = backend, {}, time.perf_counter()

    def lap(self, stage: str) -> None:
        self.backend.synchronize()
        now = time.perf_counter()
        self.times[stage] = self.times.get(stage, 0.0) + (now - self._t) * 1e3
        self._t = now


class HandPosePipeline:
    """HandSegNet -> crop -> PoseNet -> PosePrior on a :class:`Backend`.

    ``pipeline(rgb)`` with one (H, W, 3) uint8 RGB frame returns a :class:`FrameResult`;
    with a batch (N, H, W, 3) a list of them.
    """

    def __init__(self, backend: Backend, model_set: ModelSet, config: Optional[PipelineConfig] = None):
        self.backend = backend
        self.model_set = model_set
        self.config = config or PipelineConfig()
        self.crop_size = model_set.crop_size
        self.seg_hw = model_set.seg_input_hw
        prep = model_set.preprocessing
        self._scale, self._offset = float(prep["scale"]), float(prep["offset"])
        sigma = self.config.heatmap_sigma * self.crop_size / 256.0
        self.codec = GaussianHeatmap(input_size=self.crop_size, heatmap_size=model_set.map_size, sigma=sigma)
        # The weights' own hand-side calibration (fitted on held-out hands) for each
        # flip_test mode (at HandSegNet's input size), if they carry one ...
        hw = model_set.segmentation_hw
        self.side_calibrations = {flip: SideCalibration.from_entry(
            _calibration_entry(model_set.metadata, SIDE_CALIBRATION, flip, hw)) for flip in (False, True)}
        # ... and their model of P(real hand), if they carry one.
        self.hand_confidences = {flip: HandConfidence.from_entry(
            detection_calibration(model_set.metadata, flip, hw).get(HAND_CONFIDENCE)) for flip in (False, True)}
        if (not model_set.networks["posenet"].has_hand_head
                and any(m is not None and m.reads_hand_head for m in self.hand_confidences.values())):
            raise ValueError(f"{model_set.name}: the hand confidence reads PoseNet's hand head, which the "
                             "PoseNet weights lack (refit it with hand3d calibrate-side)")

    @property
    def side_calibration(self) -> Optional[SideCalibration]:
        """The hand-side calibration of the configured ``flip_test`` mode, or None."""
        return self.side_calibrations[self.config.flip_test]

    @side_calibration.setter
    def side_calibration(self, calibration: Optional[SideCalibration]) -> None:
        """Use ``calibration`` in both modes (None: the raw cues)."""
        self.side_calibrations = {False: calibration, True: calibration}

    @property
    def hand_confidence(self) -> Optional[HandConfidence]:
        """The weights' hand confidence model for the configured ``flip_test`` mode, or None."""
        return self.hand_confidences[self.config.flip_test]

    @property
    def detection_threshold(self) -> float:
        """HandSegNet's threshold in use (the configured one, else the weights' for the
        configured ``flip_test`` mode)."""
        return resolve_detection_threshold(self.config.detection_threshold, self.model_set.metadata,
                                           self.config.flip_test, self.model_set.segmentation_hw)

    @property
    def description(self) -> str:
        return f"{self.backend.describe()}, {self.model_set.name}"

    # ------------------------------------------------------------------ API
    def __call__(self, rgb, hand_side: Optional[str] = None, keep_mask: bool = False):
        images, single = self._as_batch(rgb)
        results = self.detect(images, hand_side=hand_side, keep_mask=keep_mask)
        return results[0] if single else results

    def detect(self, rgb: torch.Tensor, hand_side: Optional[str] = None, keep_mask: bool = False) -> List[FrameResult]:
        """Full pipeline on (N, H, W, 3) uint8 frames (tensor or array)."""
        timer = _Timer(self.backend)
        images = self._normalise(rgb)
        n, _, height, width = images.shape
        timer.lap("preprocess")

        seg_in = F.interpolate(images, size=self.seg_hw, mode="bilinear", align_corners=False, antialias=True)
        logits = self.backend.handsegnet(seg_in)
        prob = torch.softmax(logits, dim=1)[:, 1]
        timer.lap("handsegnet")

        cfg = self.config
        comps = hand_components(prob, threshold=self.detection_threshold,
                                max_hands=cfg.max_hands + cfg.extra_candidates,
                                min_area_px=cfg.min_hand_area_px, connectivity=cfg.connectivity)
        box = torch.as_tensor(comps.box, device=images.device, dtype=torch.float32)  # (N, K, 4) seg px
        valid = torch.as_tensor(comps.valid, device=images.device)
        peak = torch.as_tensor(comps.peak, device=images.device, dtype=torch.float32)
        resize = ResizeInfo(in_hw=(height, width), out_hw=tuple(self.seg_hw))
        box = resize.box_to_original(box)
        # One crop per valid component (and per part of one that may hold two touching
        # hands); a frame without any hand gets no crop.
        frame_idx, comp_idx = torch.nonzero(valid, as_tuple=True)
        split_rows, part_boxes = self._touching_parts(comps, frame_idx, comp_idx, resize)
        rows = torch.cat([torch.arange(len(frame_idx), device=images.device),
                          torch.as_tensor(split_rows, dtype=torch.long, device=images.device).repeat_interleave(2)])
        boxes = torch.cat([box[frame_idx, comp_idx], part_boxes.to(images.device)])
        crops = crop_from_box(boxes, None, (height, width), cfg.crop_config(self.crop_size))
        patches = self._cut(images, frame_idx[rows], crops)
        timer.lap("mask_crop")

        posed = self._keypoints(patches, crops, frame_idx[rows], timer,
                                peaks=peak[frame_idx, comp_idx][rows], components=comp_idx[rows])
        posed = _best_per_frame(_wholes_or_parts(posed, len(frame_idx), split_rows, self._split_confidence),
                                cfg.max_hands)
        for _ in range(cfg.refine_passes):
            posed = self._refine(images, posed, timer)
        if cfg.zoom_out_factor > 0.0 and self.hand_confidence is not None:  # scores to compare
            posed = self._zoom_out(images, posed, timer)
        posed = _without_duplicates(posed, cfg.duplicate_max_containment)
        # Only the hands reported are lifted: choosing them needs no 3D.
        results = self._collect(self._lift(posed, timer, hand_side), n, timer, detected=True)
        if keep_mask:
            self._attach_masks(results, comps, frame_idx, comp_idx, prob, (height, width))
        return results

    def pose_in_boxes(self, rgb, boxes: Sequence, hand_side: Optional[Sequence] = None,
                      peaks: Optional[Sequence[float]] = None) -> FrameResult:
        """PoseNet and PosePrior in given windows of one frame, skipping HandSegNet (tracking).

        Args:
            rgb: (H, W, 3) uint8 frame.
            boxes: (M, 4) windows [u_min, v_min, u_max, v_max], image pixels (square
                windows are used as they are; others get the crop margin rule).
            hand_side: None (the configured handedness) or one of 'left'/'right'/None per box.
            peaks: (M,) HandSegNet's peak of each window's hand when it was detected (the
                tracker's), or None. With them and a hand confidence in the weights, each
                hand's score is that confidence; else its mean keypoint score.
        """
        timer = _Timer(self.backend)
        crops, patches = self._cut_boxes(rgb, boxes, timer)
        m = patches.shape[0]
        frame_idx = torch.zeros(m, dtype=torch.long, device=patches.device)
        if peaks is not None:
            peaks = torch.as_tensor(np.asarray(peaks, dtype=np.float32).reshape(m), device=patches.device)
        posed = self._keypoints(patches, crops, frame_idx, timer, peaks=peaks, components=None)
        return self._collect(self._lift(posed, timer, hand_side), 1, timer, detected=False)[0]

    def crops_in_boxes(self, rgb, boxes: Sequence) -> torch.Tensor:
        """The (M, 3, S, S) normalised crops PoseNet sees in windows ``boxes`` (M, 4) of one
        (H, W, 3) uint8 frame, cut as :meth:`pose_in_boxes` cuts them (on the backend's device)."""
        return self._cut_boxes(rgb, boxes, _Timer(self.backend))[1]

    def _cut_boxes(self, rgb, boxes: Sequence, timer: _Timer) -> Tuple[CropBox, torch.Tensor]:
        """``(crops, patches)``: the windows ``boxes`` of one frame as a :class:`CropBox` in
        image pixels and the (M, 3, S, S) crops cut from them."""
        frames, _ = self._as_batch(rgb)
        _, height, width, _ = frames.shape
        box = torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4)).to(self.backend.device)
        m = box.shape[0]
        crops = self._square_crops(box)
        # Only the part of the frame the windows see is normalised (and pooled): without
        # HandSegNet nothing else needs the whole frame.
        u0, v0, u1, v1 = self._region(crops, height, width)
        images = self._normalise(frames[:, v0:v1, u0:u1])
        timer.lap("preprocess")
        offset = torch.tensor([u0, v0], dtype=crops.center.dtype, device=crops.center.device)
        in_region = CropBox(center=crops.center - offset, scale=crops.scale, side=crops.side,
                            fallback=crops.fallback, output_size=self.crop_size)
        patches = self._cut(images, torch.zeros(m, dtype=torch.long, device=images.device), in_region)
        timer.lap("mask_crop")
        return crops, patches

    def _square_crops(self, box: torch.Tensor, zoom: float = 1.0) -> CropBox:
        """Crops of windows ``box`` (M, 4) image pixels: squares of ``zoom`` x their longer
        side around their centres (crop scale within the configured limits)."""
        side = torch.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]) * zoom
        config = self.config.crop_config(self.crop_size)
        scale = (self.crop_size / side.clamp(min=1e-6)).clamp(config.scale_min, config.scale_max)
        return CropBox(center=(box[:, :2] + box[:, 2:]) / 2, scale=scale, side=self.crop_size / scale,
                       fallback=torch.zeros(box.shape[0], dtype=torch.bool, device=box.device),
                       output_size=self.crop_size)

    def posenet(self, patches: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]:
        """PoseNet on (M, 3, S, S) crops as the pipeline runs it (with the mirrored crops
        averaged in when ``flip_test``): ``(maps (M, 21, s, s), side logits (M, 2)
        [left, right] or None, hand logits (M, 1) or None)``. Keypoints keep their
        anatomical order in a mirror image, so the maps only flip back; the hand's side
        swaps; a mirrored hand is as much a hand."""
        if not self.config.flip_test or patches.shape[0] == 0:
            return self.backend.posenet(patches)
        m = patches.shape[0]
        maps, side_logits, hand_logits = self.backend.posenet(torch.cat([patches, patches.flip(-1)]))
        maps = (maps[:m] + maps[m:].flip(-1)) / 2
        if side_logits is not None:
            side_logits = (side_logits[:m] + side_logits[m:].flip(-1)) / 2
        if hand_logits is not None:
            hand_logits = (hand_logits[:m] + hand_logits[m:]) / 2
        return maps, side_logits, hand_logits

    # ------------------------------------------------------------ internals
    def _split_confidence(self, hand: _Posed) -> float:
        """What decides between a split component's whole and its parts: the hand
        confidence when the weights carry one (it weighs the hand head and HandSegNet's
        peak too), else PoseNet's mean keypoint score (a detection's score would then be
        the component's peak, the same for the whole and its parts)."""
        return float(hand.score) if self.hand_confidence is not None else float(np.mean(hand.uv_score))

    def _touching_parts(self, comps, frame_idx, comp_idx, resize: ResizeInfo) -> Tuple[List[int], torch.Tensor]:
        """The components that may hold two touching hands: ``(rows into frame_idx, (2R, 4)
        part boxes in image pixels, two per row)``."""
        config = self.config.split_config()
        rows, parts = [], []
        seg_box = torch.as_tensor(comps.box)
        for row, (f, k) in enumerate(zip(frame_idx.tolist(), comp_idx.tolist())):
            if not is_elongated(seg_box[f, k].tolist(), config.min_aspect):
                continue
            cut = split_component(np.asarray(torch.as_tensor(comps.mask[f, k]).cpu()), config)
            if cut is not None:
                rows.append(row)
                parts.append(torch.as_tensor(cut))
        if not parts:
            return [], torch.zeros((0, 4))
        return rows, resize.box_to_original(torch.cat(parts))

    def _as_batch(self, rgb):
        tensor = torch.as_tensor(np.ascontiguousarray(rgb)) if isinstance(rgb, np.ndarray) else rgb
        if tensor.dtype != torch.uint8 or tensor.shape[-1] != 3 or tensor.dim() not in (3, 4):
            raise ValueError(f"expected uint8 RGB of shape (H, W, 3) or (N, H, W, 3), got {tuple(tensor.shape)} "
                             f"{tensor.dtype}")
        single = tensor.dim() == 3
        return (tensor[None] if single else tensor), single

    def _normalise(self, rgb) -> torch.Tensor:
        rgb = torch.as_tensor(rgb).to(self.backend.device, non_blocking=True)
        return rgb.permute(0, 3, 1, 2).float().mul_(self._scale).add_(self._offset)

    def _levels(self, crops: CropBox) -> List[int]:
        """Pyramid level of each crop: the 2^level-pooled image keeps its scale >= threshold."""
        threshold = self.config.antialias_below_scale
        levels = torch.clamp(torch.floor(torch.log2(threshold / crops.scale.clamp(min=1e-6))) + 1, min=0)
        return levels.to(torch.long).cpu().tolist()

    def _region(self, crops: CropBox, height: int, width: int) -> Tuple[int, int, int, int]:
        """``(u0, v0, u1, v1)``: the part of an ``height`` x ``width`` frame that cropping
        ``crops`` reads. It holds every window plus a margin of two pooled pixels of the
        coarsest level used (bilinear neighbours, and pooling windows cut by its edge),
        starts at a multiple of that level's pooling factor (so that pooling it gives the
        whole frame's pooled pixels), and is clipped to the frame."""
        if crops.center.shape[0] == 0:
            return 0, 0, width, height
        factor = 2 ** max(self._levels(crops))
        margin = 2 * factor + 1
        lo = (crops.center - crops.side[:, None] / 2).min(dim=0).values.floor().cpu().tolist()
        hi = (crops.center + crops.side[:, None] / 2).max(dim=0).values.ceil().cpu().tolist()
        u0 = int(min(max(lo[0] - margin, 0), width - 1)) // factor * factor
        v0 = int(min(max(lo[1] - margin, 0), height - 1)) // factor * factor
        u1 = int(max(min(hi[0] + margin, width), u0 + 1))
        v1 = int(max(min(hi[1] + margin, height), v0 + 1))
        return u0, v0, u1, v1

    def _cut(self, images: torch.Tensor, frame_idx: torch.Tensor, crops: CropBox) -> torch.Tensor:
        """(M, 3, S, S) crops; each from the pyramid level that keeps scale >= threshold."""
        m = frame_idx.shape[0]
        out = images.new_zeros((m, images.shape[1], self.crop_size, self.crop_size))
        if m == 0:
            return out
        levels = self._levels(crops)  # M small ints: which pyramid level to use
        source, level = images, 0
        for lvl in sorted(set(levels)):
            while level < lvl:
                source = F.avg_pool2d(source, 2, ceil_mode=True)
                level += 1
            pick = torch.tensor([i for i, l in enumerate(levels) if l == lvl], device=images.device)
            factor = 2.0 ** lvl
            # Pixel centres of a 2^l-pooled image: u_l = (u + 0.5) / 2^l - 0.5.
            center = (crops.center[pick] + 0.5) / factor - 0.5
            sub = CropBox(center=center, scale=crops.scale[pick] * factor, side=crops.side[pick] / factor,
                          fallback=crops.fallback[pick], output_size=self.crop_size)
            out[pick] = sub.crop_images(source[frame_idx[pick]])
        return out

    def _sides(self, m: int, hand_side, device) -> Optional[torch.Tensor]:
        """(M,) fixed sides, or None for 'auto'."""
        if hand_side is None:
            hand_side = None if self.config.handedness == "auto" else self.config.handedness
        if hand_side is None:
            return None
        if isinstance(hand_side, str):
            return torch.full((m,), _SIDES[hand_side], dtype=torch.long, device=device)
        sides = [self.config.handedness if s is None else s for s in hand_side]
        if any(s == "auto" for s in sides):
            return None
        return torch.tensor([_SIDES[s] for s in sides], dtype=torch.long, device=device)

    def _keypoints(self, patches, crops: CropBox, frame_idx, timer: _Timer, peaks, components) -> List[_Posed]:
        """PoseNet on (M, 3, S, S) ``patches`` cut as ``crops`` (M windows, image pixels) of
        frames ``frame_idx`` (M,): the M hands' keypoints, scores and side-head logits, not
        yet lifted. ``peaks`` (M,) HandSegNet peaks or None; ``components`` (M,) mask
        component indices, or None for crops given from outside (tracking)."""
        m = patches.shape[0]
        if m == 0:
            for stage in ("posenet", "decode"):
                timer.lap(stage)
            return []
        maps, side_logits, hand_logits = self.posenet(patches)
        timer.lap("posenet")
        uv_crop, uv_score = self.codec.decode(maps)
        uv = crops.uncrop_uv(uv_crop)
        timer.lap("decode")
        hand_logit = None if hand_logits is None else hand_logits[:, 0].float()
        scores, peaks = self._scores(uv_score.float().mean(dim=1), peaks, detected=components is not None,
                                     hand_logit=hand_logit)
        unknown = torch.full((m,), float("nan"), device=maps.device)
        head_logit = unknown if side_logits is None else (side_logits[:, 1] - side_logits[:, 0]).float()
        host = {k: v.detach().float().cpu().numpy() for k, v in dict(
            box=crops.to_box(), uv=uv, uv_score=uv_score, score=scores, peak=peaks, head=head_logit,
            hand=unknown if hand_logit is None else hand_logit).items()}
        frames = frame_idx.cpu().numpy()
        comps = components.cpu().numpy() if components is not None else np.full(m, -1)
        return [_Posed(crop_box=host["box"][i], uv=host["uv"][i], uv_score=host["uv_score"][i],
                       score=float(host["score"][i]), peak=float(host["peak"][i]), frame=int(frames[i]),
                       component=int(comps[i]), maps=maps[i], head_logit=float(host["head"][i]),
                       hand_logit=float(host["hand"][i]))
                for i in range(m)]

    def _lift(self, posed: List[_Posed], timer: _Timer, hand_side) -> List[HandResult]:
        """PosePrior on the M ``posed`` hands (one batch): their side (``hand_side``: None
        for the configured handedness, a side, or one per hand), w_c, R and w_rel."""
        m = len(posed)
        if m == 0:
            timer.lap("poseprior")
            return []
        maps = torch.stack([p.maps for p in posed])
        device = maps.device
        uv = torch.as_tensor(np.stack([p.uv for p in posed]), device=device)
        uv_score = torch.as_tensor(np.stack([p.uv_score for p in posed]), device=device)
        head_logit = torch.tensor([p.head_logit for p in posed], dtype=torch.float32, device=device)
        if torch.isnan(head_logit).all():
            head_logit = None  # weights without a side head
        sides = self._sides(m, hand_side, device)
        residual_diff = torch.full((m,), float("nan"), device=device)
        if sides is None:  # auto: lift both sides; the side head's and the lifts' evidence add up
            both = torch.cat([torch.zeros(m, dtype=torch.long, device=device),
                              torch.ones(m, dtype=torch.long, device=device)])
            w_c, rot = self.backend.poseprior(maps.repeat(2, 1, 1, 1), F.one_hot(both, 2).float())
            w_rel = from_canonical(w_c, rot, both)
            residual = weak_perspective_residual(w_rel, uv.repeat(2, 1, 1), uv_score.repeat(2, 1))
            residual_diff = (residual[:m] - residual[m:]).float()
            if head_logit is not None and self.side_calibration is not None:
                logit = self.side_calibration.logit(head_logit, residual_diff)
            else:
                weight = 1.0 if head_logit is None else self.config.handedness_residual_weight
                logit = weight * residual_diff / self.config.handedness_temperature
                if head_logit is not None:
                    logit = logit + head_logit
            p_right = torch.sigmoid(logit)
            pick_right = p_right >= 0.5
            sel = torch.where(pick_right, torch.arange(m, device=device) + m, torch.arange(m, device=device))
            w_c, rot, w_rel = w_c[sel], rot[sel], w_rel[sel]
            sides = pick_right.long()
        else:
            w_c, rot = self.backend.poseprior(maps, F.one_hot(sides, 2).float())
            w_rel = from_canonical(w_c, rot, sides)
            # a side fixed by the configuration is the truth; a per-hand hint (the tracker's
            # settled side) is not, so the head's own belief goes on to the tracker
            hinted = head_logit is not None and self.config.handedness == "auto"
            if hinted and self.side_calibration is not None:
                head_logit = self.side_calibration.head_only_logit(head_logit)
            p_right = torch.sigmoid(head_logit) if hinted else sides.float()
        w_rel = w_rel - w_rel[:, ROOT:ROOT + 1]  # the network's root is only near 0: make it exact
        host = {k: v.detach().float().cpu().numpy() for k, v in dict(
            p_right=p_right, w_rel=w_rel, w_c=w_c, R=rot, residual=residual_diff, side=sides).items()}
        timer.lap("poseprior")
        return [
            HandResult(crop_box=p.crop_box, uv=p.uv, uv_score=p.uv_score, score=p.score,
                       hand_side=int(host["side"][i]), p_right=float(host["p_right"][i]),
                       w_rel=host["w_rel"][i], w_c=host["w_c"][i], R=host["R"][i],
                       component=p.component, frame=p.frame, peak=p.peak,
                       side_cues=(p.head_logit, float(host["residual"][i])), hand_logit=p.hand_logit)
            for i, p in enumerate(posed)
        ]

    def _refine(self, images: torch.Tensor, hands: List[_Posed], timer: _Timer) -> List[_Posed]:
        """One refinement pass (:attr:`PipelineConfig.refine_passes`): PoseNet again in a crop
        around each hand's confident keypoints; a hand with too few keeps its result."""
        cfg = self.config
        if not hands:
            return hands
        height, width = images.shape[-2:]
        device = images.device
        uv = torch.as_tensor(np.stack([h.uv for h in hands]), dtype=torch.float32, device=device)
        uv_score = torch.as_tensor(np.stack([h.uv_score for h in hands]), dtype=torch.float32, device=device)
        crops = crop_from_keypoints(uv, uv_score, cfg.refine_min_keypoint_score, cfg.crop_config(self.crop_size),
                                    image_hw=(height, width), min_keypoints=cfg.refine_min_keypoints)
        windows = crops.to_box().cpu().numpy()
        off = torch.tensor([box_iou(window, hand.crop_box) <= cfg.refine_max_overlap
                            for window, hand in zip(windows, hands)], dtype=torch.bool, device=device)
        redo = torch.nonzero(~crops.fallback & off, as_tuple=True)[0]
        if redo.numel() == 0:
            return hands
        sub = CropBox(center=crops.center[redo], scale=crops.scale[redo], side=crops.side[redo],
                      fallback=crops.fallback[redo], output_size=self.crop_size)
        rows = redo.cpu().tolist()
        out = list(hands)
        for i, hand in zip(rows, self._pose_again(images, [hands[i] for i in rows], sub, timer)):
            out[i] = hand
        return out

    def _zoom_out(self, images: torch.Tensor, hands: List[_Posed], timer: _Timer) -> List[_Posed]:
        """Each hand scoring below :attr:`PipelineConfig.zoom_out_below_score` posed again
        in a window :attr:`PipelineConfig.zoom_out_factor` times its crop's side, then
        refined once (:meth:`_refine`); the better scored of the two results is kept."""
        cfg = self.config
        rows = [i for i, hand in enumerate(hands) if hand.score < cfg.zoom_out_below_score]
        if not rows:
            return hands
        box = torch.as_tensor(np.stack([hands[i].crop_box for i in rows]), dtype=torch.float32,
                              device=images.device)
        zoomed = self._pose_again(images, [hands[i] for i in rows], self._square_crops(box, cfg.zoom_out_factor),
                                  timer)
        zoomed = self._refine(images, zoomed, timer)
        out = list(hands)
        for i, hand in zip(rows, zoomed):
            if hand.score > out[i].score:
                out[i] = hand
        return out

    def _pose_again(self, images: torch.Tensor, hands: List[_Posed], crops: CropBox, timer: _Timer) -> List[_Posed]:
        """PoseNet on detected ``hands`` (M) in new ``crops`` (M windows of their frames in
        ``images``), keeping each hand's frame, HandSegNet peak and mask component."""
        device = images.device
        frame_idx = torch.tensor([hand.frame for hand in hands], dtype=torch.long, device=device)
        peaks = torch.tensor([hand.peak for hand in hands], dtype=torch.float32, device=device)
        components = torch.tensor([hand.component for hand in hands], dtype=torch.long, device=device)
        patches = self._cut(images, frame_idx, crops)
        timer.lap("mask_crop")
        return self._keypoints(patches, crops, frame_idx, timer, peaks=peaks, components=components)

    def _scores(self, mean_keypoint_score: torch.Tensor, peaks: Optional[torch.Tensor], detected: bool,
                hand_logit: Optional[torch.Tensor] = None):
        """``(score (M,), peak (M,))`` of M posed hands (see :attr:`HandResult.score`):
        the weights' hand confidence where a HandSegNet peak is known (with the hand head's
        logits ``hand_logit`` (M,) when it reads them), else the peak of a detection, else
        the mean keypoint score."""
        if peaks is None:
            return mean_keypoint_score, torch.full_like(mean_keypoint_score, float("nan"))
        peaks = peaks.to(mean_keypoint_score)
        model = self.hand_confidence
        if model is None:
            return (peaks if detected else mean_keypoint_score), peaks
        confidence = torch.sigmoid(model.logit(mean_keypoint_score, peaks, hand_logit))
        return torch.where(torch.isfinite(peaks), confidence, mean_keypoint_score), peaks

    def _collect(self, hands, n: int, timer: _Timer, detected: bool) -> List[FrameResult]:
        per_frame = [[] for _ in range(n)]
        for hand in hands:
            per_frame[hand.frame].append(hand)
        return [FrameResult(hands=sorted(h, key=lambda x: -x.score), timings_ms=dict(timer.times), detected=detected)
                for h in per_frame]

    def _attach_masks(self, results, comps, frame_idx, comp_idx, prob, image_hw) -> None:
        masks = torch.as_tensor(comps.mask)  # (N, K, h, w) at HandSegNet resolution
        for i, result in enumerate(results):
            result.hand_prob = prob[i].float().cpu().numpy()
            union = masks[i].any(dim=0)[None, None].float()
            full = F.interpolate(union.to(prob.device), size=image_hw, mode="nearest")[0, 0] > 0.5
            result.mask = full.cpu().numpy()


def _wholes_or_parts(hands: List[_Posed], m: int, split_rows: Sequence[int],
                     confidence: Callable[[_Posed], float]) -> List[_Posed]:
    """``hands`` holds the M components' hands, then two per split row (its parts): each
    part that ``confidence`` rates above its whole replaces the whole. Both do when the
    component held two touching hands; one does when it held one hand joined to
    something else (a forearm along a sleeve, a skin-coloured shirt); none does when
    the component was one hand, and the whole is kept."""
    keep = list(hands[:m])
    for j, row in enumerate(split_rows):
        parts = [hand for hand in hands[m + 2 * j:m + 2 * j + 2] if confidence(hand) > confidence(hands[row])]
        if parts:
            keep[row] = None
            keep.extend(parts)
    return [hand for hand in keep if hand is not None]


def _keep_best_first(hands: List[_Posed], accept) -> List[_Posed]:
    """Walk ``hands`` by falling score and keep each one that ``accept(hand, kept)``
    allows, ``kept`` being the hands of its frame kept so far; the kept hands in their
    original order."""
    kept: dict = {}  # frame -> kept hands of that frame
    chosen = set()
    for i in sorted(range(len(hands)), key=lambda i: -hands[i].score):
        same_frame = kept.setdefault(hands[i].frame, [])
        if accept(hands[i], same_frame):
            same_frame.append(hands[i])
            chosen.add(i)
    return [hand for i, hand in enumerate(hands) if i in chosen]


def _best_per_frame(hands: List[_Posed], max_hands: int) -> List[_Posed]:
    """The ``max_hands`` hands of each frame with the highest score (order otherwise kept)."""
    return _keep_best_first(hands, lambda hand, kept: len(kept) < max_hands)


def _without_duplicates(hands: List[_Posed], max_containment: float) -> List[_Posed]:
    """``hands`` without those whose crop overlaps the crop of a better-scored hand of the
    same frame by at least ``max_containment`` of the smaller of the two (order otherwise kept)."""
    def overlap(a, b):
        return max(box_containment(a.crop_box, b.crop_box), box_containment(b.crop_box, a.crop_box))

    return _keep_best_first(hands, lambda hand, kept: all(overlap(hand, other) < max_containment for other in kept))


def weak_perspective_residual(w_rel: torch.Tensor, uv: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """How well a 3D pose explains 2D keypoints under weak perspective (scaled orthographic).

    Fits ``uv ~ a * w_rel[:, :, :2] + b`` (scale ``a`` >= 0, translation ``b``) by score-
    weighted least squares and returns the weighted RMS residual divided by the fitted
    scale (so it is unitless: residual in units of the reference bone).

    Args:
        w_rel: (N, K, 3). uv: (N, K, 2) pixels. score: (N, K) weights >= 0.
    Returns:
        (N,) residuals; large (1e3) where the fit is degenerate.
    """
    weight = score.clamp(min=0)[..., None]
    total = weight.sum(dim=1, keepdim=True).clamp(min=1e-9)
    xy = w_rel[..., :2]
    xy_mean = (weight * xy).sum(dim=1, keepdim=True) / total
    uv_mean = (weight * uv).sum(dim=1, keepdim=True) / total
    dxy, duv = xy - xy_mean, uv - uv_mean
    scale = (weight * dxy * duv).sum(dim=(1, 2)) / (weight * dxy * dxy).sum(dim=(1, 2)).clamp(min=1e-9)
    scale = scale.clamp(min=0)
    err = duv - scale[:, None, None] * dxy
    rms = torch.sqrt((weight * err.pow(2)).sum(dim=(1, 2)) / total[:, 0, 0])
    return torch.where(scale > 1e-6, rms / scale.clamp(min=1e-6), torch.full_like(rms, 1e3))


def load_pipeline(weights_dir: Optional[str] = None, config: str = "lite", allow_random_weights: bool = False,
                  backend: str = "auto", device: str = "auto", precision: str = "auto",
                  cache_dir: Optional[str] = None, force_rebuild: bool = False, num_threads: int = 0,
                  pipeline_config: Optional[PipelineConfig] = None, segmentation_hw=None,
                  log=print) -> HandPosePipeline:
    """Weights + backend -> a ready :class:`HandPosePipeline` (logs the backend chosen).
    ``segmentation_hw``: (H, W) HandSegNet reads instead of its weights' size (None:
    theirs; :meth:`ModelSet.with_segmentation_size`)."""
    from hand3d_ros.inference.backends.select import create_backend
    from hand3d_ros.inference.model_set import resolve_model_set

    model_set = resolve_model_set(weights_dir, config, allow_random_weights).with_segmentation_size(segmentation_hw)
    if model_set.random:
        log(f"WARNING: running with random weights ({model_set.name}): the output is meaningless")
    engine = create_backend(backend, model_set, device=device, precision=precision, cache_dir=cache_dir,
                            force_rebuild=force_rebuild, num_threads=num_threads, log=log)
    return HandPosePipeline(engine, model_set, pipeline_config)
