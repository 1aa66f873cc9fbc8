"""Evaluation on real photos labelled by a teacher (``hand3d eval --real``).

The data are real-teacher shard folders (``hand3d label``; format in the README): one
sample per teacher hand, samples of one photo share its image; hand-free photos are
samples with ``num_hands == 0``. The teacher's labels are the reference: every number
below says how far *our* pipeline is from them, not from the truth (see the noise floor).

Protocol (``RealEvalConfig`` holds every threshold):

- **photos**: samples with the same ``file_index`` and identical image are one photo;
  the full pipeline runs once per photo exactly as ``hand3d infer`` runs it
  (:class:`~hand3d_ros.inference.estimator.HandEstimator`, reset per photo, default
  thresholds, ``max_hands`` 2).
- **hand size** = max(width, height) of the tight box of the teacher's 21 keypoints
  (pixels); errors are end-point distances divided by it ("hand sizes").
- **counted keypoints**: inside the photo (``visible``) and ``kp_score >= min_kp_score``
  (0.5): keypoints the teacher does not agree with itself on are left out.
- **matching**: each teacher hand has a window (the square the pipeline would crop
  around its keypoints: side ``crop_margin`` x hand size, centred on the keypoint box);
  predicted hands (their crop windows) and teacher hands are paired one to one by the
  Hungarian method on 1 - IoU; pairs with IoU < ``match_min_iou`` (0.3) are not matched.
  A matched teacher hand is *found*, an unmatched one *missed*; an unmatched prediction
  is a *false hand*, unless at least ``ignore_fraction`` of its window's photo pixels
  are the teacher's ignore label (255: hands it dropped as uncertain, bands around
  hands), then it is *ignored*.
- **keypoint metrics** (each for the pipeline on found hands, and for PoseNet alone on
  crops made from the teacher's keypoints, which separates detection from keypoints):
  ``pck`` = fraction of all counted (hand, keypoint) pairs with error < ``pck_threshold``
  (0.2) hand sizes (pooled); ``pck_mean_over_hands`` the mean of per-hand PCKs;
  ``median_error`` = median over hands of each hand's median error (hand sizes);
  ``median_error_pooled`` over all pairs. ``pck_all_hands`` (pipeline) also counts every
  counted keypoint of a missed hand as wrong.
- **3D** on found hands (``3d_scaled``): our root-relative ``w_rel`` against the teacher's
  wrist-rooted world landmarks (``xyz``, metres, camera-aligned axes), after the one
  scale that fits them best (least squares over the counted keypoints; no rotation, so
  viewpoint errors count): per-keypoint errors in mm, ``median_error_mm`` the median over
  hands of each hand's median. The teacher's 3D is itself only approximate.
- **handedness** on found hands: the published label (after the tracker's hysteresis,
  as the node publishes it; "unknown" counts as wrong) against the teacher's anatomical
  ``hand_side``; also the side PosePrior lifted with and, on teacher crops, PoseNet's
  side head where the weights have one.
- **hand-free photos** (``--negatives`` folders, or ``num_hands == 0`` samples): false
  hands per photo and the fraction of such photos with any.
- **noise floor**: the teacher's disagreement with itself between the photo and its
  mirror, hand sizes, median over hands of each hand's median over keypoints: the
  ``teacher_mirror_err`` field when the shards carry one, else recovered from
  ``kp_score = exp(-0.5 (d / sigma)^2)`` with the manifest's ``teacher.merge.agreement_sigma``
  (:func:`mirror_disagreement`); unknown without either. The label is the mean of the two
  views, so its own noise is about half of it. Also the teacher's mean ``kp_score``.
- ``per_source``: the same numbers per source (manifest ``info["sources"]`` names).
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from hand3d_ros.core.tracking import UNKNOWN, box_iou
from hand3d_ros.inference.pipeline import PipelineConfig, is_detection_threshold
from hand3d_ros.options import ZOOM_OUT_FACTOR_RANGE, is_zoom_out_factor

NUM_KEYPOINTS = 21
#: ``hand_side`` / ``mask`` values of the real-teacher format.
NO_SIDE, IGNORE_LABEL = 255, 255
REAL_KIND = "real-teacher"


@dataclass(frozen=True)
class RealEvalConfig:
    """Settings of the real evaluation (see the module docstring)."""

    pck_threshold: float = field(default=0.2, metadata={
        "help": "a keypoint is correct when its error < this many hand sizes; (0, 1]"})
    min_kp_score: float = field(default=0.5, metadata={
        "help": "keypoints with a lower teacher kp_score are not counted; [0, 1]"})
    match_min_iou: float = field(default=0.3, metadata={
        "help": "least IoU of a predicted and a teacher window to pair them; (0, 1]"})
    crop_margin: float = field(default=1.25, metadata={
        "help": "teacher window side / hand size (the pipeline's crop margin); [1, 3]"})
    ignore_fraction: float = field(default=0.25, metadata={
        "help": "an unmatched prediction whose window is at least this much teacher-ignore is not false; [0, 1]"})
    max_hands: int = field(default=2, metadata={"help": "most hands the pipeline reports per photo; [1, 8]"})
    extra_candidates: int = field(default=PipelineConfig.extra_candidates, metadata={
        "help": "mask components posed beyond max_hands, the best kept (PipelineConfig.extra_candidates); [0, 6]"})
    detection_threshold: float = field(default=-1.0, metadata={
        "help": "HandSegNet probability threshold of the pipeline; (0, 1), or -1: the weights' calibrated one"})
    flip_test: bool = field(default=False, metadata={"help": "PoseNet on each crop and its mirror, averaged (PipelineConfig.flip_test)"})
    refine_passes: int = field(default=PipelineConfig.refine_passes, metadata={
        "help": "PoseNet again in crops around each detected hand's keypoints (PipelineConfig.refine_passes); [0, 3]"})
    refine_max_overlap: float = field(default=PipelineConfig.refine_max_overlap, metadata={
        "help": "refine only hands whose keypoint crop overlaps their crop by at most this IoU "
                "(PipelineConfig.refine_max_overlap); (0, 1]"})
    zoom_out_factor: float = field(default=PipelineConfig.zoom_out_factor, metadata={
        "help": "low-scoring hands posed again in a window this many times their crop "
                "(PipelineConfig.zoom_out_factor); 0, or [%g, %g]" % ZOOM_OUT_FACTOR_RANGE})
    sheet_cases: int = field(default=6, metadata={"help": "worst and best hands each on the contact sheet; [1, 50]"})

    def __post_init__(self):
        checks = [
            (0.0 < self.pck_threshold <= 1.0, "pck_threshold must be in (0, 1]"),
            (0.0 <= self.min_kp_score <= 1.0, "min_kp_score must be in [0, 1]"),
            (0.0 < self.match_min_iou <= 1.0, "match_min_iou must be in (0, 1]"),
            (1.0 <= self.crop_margin <= 3.0, "crop_margin must be in [1, 3]"),
            (0.0 <= self.ignore_fraction <= 1.0, "ignore_fraction must be in [0, 1]"),
            (1 <= self.max_hands <= 8, "max_hands must be in [1, 8]"),
            (0 <= self.extra_candidates <= 6, "extra_candidates must be in [0, 6]"),
            (0 <= self.refine_passes <= 3, "refine_passes must be in [0, 3]"),
            (0.0 < self.refine_max_overlap <= 1.0, "refine_max_overlap must be in (0, 1]"),
            (is_zoom_out_factor(self.zoom_out_factor), "zoom_out_factor must be 0 (off) or in [%g, %g]"
             % ZOOM_OUT_FACTOR_RANGE),
            (is_detection_threshold(self.detection_threshold),
             "detection_threshold must be in (0, 1) or -1 (the weights' calibrated one)"),
            (1 <= self.sheet_cases <= 50, "sheet_cases must be in [1, 50]"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def pipeline_config(self, **overrides) -> PipelineConfig:
        """The :class:`PipelineConfig` these settings run (``overrides``: further fields)."""
        return PipelineConfig(detection_threshold=self.detection_threshold, max_hands=self.max_hands,
                              extra_candidates=self.extra_candidates, flip_test=self.flip_test,
                              refine_passes=self.refine_passes, refine_max_overlap=self.refine_max_overlap,
                              zoom_out_factor=self.zoom_out_factor,
                              **overrides)


# ------------------------------------------------------------------ pure geometry + metrics

def hand_size(uv) -> float:
    """max(width, height) of the tight box of ``uv`` ``(21, 2)`` pixels (at least 1 px)."""
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    return float(max(np.max(uv.max(axis=0) - uv.min(axis=0)), 1.0))


def teacher_window(uv, margin: float) -> np.ndarray:
    """``(4,)`` [u0, v0, u1, v1]: the square of side ``margin`` x hand size centred on the
    keypoints' box (the window the pipeline would crop around this hand)."""
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    centre = (uv.min(axis=0) + uv.max(axis=0)) / 2
    half = margin * hand_size(uv) / 2
    return np.concatenate([centre - half, centre + half])


def match_hands(pred_boxes, teacher_boxes, min_iou: float) -> List[tuple]:
    """One-to-one pairs ``[(pred index, teacher index), ...]`` maximising the total IoU
    (Hungarian method on 1 - IoU); pairs below ``min_iou`` are dropped."""
    from scipy.optimize import linear_sum_assignment

    pred_boxes, teacher_boxes = np.reshape(pred_boxes, (-1, 4)), np.reshape(teacher_boxes, (-1, 4))
    if not len(pred_boxes) or not len(teacher_boxes):
        return []
    iou = np.array([[box_iou(p, t) for t in teacher_boxes] for p in pred_boxes])
    rows, cols = linear_sum_assignment(1.0 - iou)
    return [(int(p), int(t)) for p, t in zip(rows, cols) if iou[p, t] >= min_iou]


def normalised_errors(pred_uv, teacher_uv) -> np.ndarray:
    """``(21,)`` end-point errors of ``pred_uv`` against ``teacher_uv`` (both ``(21, 2)``
    pixels), in hand sizes of the teacher hand."""
    pred_uv = np.asarray(pred_uv, dtype=np.float64).reshape(-1, 2)
    teacher_uv = np.asarray(teacher_uv, dtype=np.float64).reshape(-1, 2)
    return np.linalg.norm(pred_uv - teacher_uv, axis=1) / hand_size(teacher_uv)


@dataclass
class TeacherHand:
    """One teacher hand of a photo.

    Attributes:
        uv: (21, 2) pixels. counted: (21,) bool, keypoints that count (visible and
        confident). side: anatomical side, 0 left, 1 right. kp_score: (21,) in [0, 1].
        visible: (21,) bool, inside the photo (None: all; the teacher-crop window uses them).
        xyz: (21, 3) wrist-rooted 3D, metres, camera-aligned axes (None: not compared).
        mirror_err: the teacher's disagreement with itself, hand sizes (NaN if unknown).
        sample: the sample's index in its folder (for the contact sheet).
    """

    uv: np.ndarray
    counted: np.ndarray
    side: int
    kp_score: np.ndarray
    mirror_err: float = float("nan")
    sample: int = -1
    visible: Optional[np.ndarray] = None
    xyz: Optional[np.ndarray] = None


@dataclass
class PredictedHand:
    """One hand our pipeline reported: ``uv`` (21, 2) px, ``box`` (4,) crop window px,
    ``side`` the published label (0 left, 1 right, 2 unknown), ``lift_side`` the side
    PosePrior lifted with (0/1), ``score`` detection score, ``w_rel`` (21, 3) root-relative
    3D (reference bone = 1, camera axes; None: not compared)."""

    uv: np.ndarray
    box: np.ndarray
    side: int
    lift_side: int = -1
    score: float = 0.0
    w_rel: Optional[np.ndarray] = None


@dataclass
class HandScore:
    """A teacher hand after matching: its errors (hand sizes, ``(21,)``) with the pipeline
    (None when missed) and on teacher crops (None when not run)."""

    source: str
    size_px: float
    side: int
    counted: np.ndarray
    kp_score: np.ndarray
    mirror_err: float
    pipeline_err: Optional[np.ndarray] = None
    pred_side: Optional[int] = None
    lift_side: Optional[int] = None
    crop_err: Optional[np.ndarray] = None
    crop_side: Optional[int] = None
    err_3d_mm: Optional[np.ndarray] = None
    photo: int = -1
    hand: int = -1
    prediction: int = -1

    @property
    def found(self) -> bool:
        return self.pipeline_err is not None

    def median_error(self, which: str = "pipeline") -> float:
        """This hand's median error over its counted keypoints (NaN when none / missed)."""
        err = self.pipeline_err if which == "pipeline" else self.crop_err
        if err is None or not self.counted.any():
            return float("nan")
        return float(np.median(err[self.counted]))


@dataclass
class PhotoScore:
    """A photo after matching: how many teacher hands, predictions, false and ignored ones."""

    source: str
    teacher_hands: int
    predictions: int
    false_hands: int
    ignored: int


def score_photo(teacher: Sequence[TeacherHand], predictions: Sequence[PredictedHand], source: str,
                config: RealEvalConfig = RealEvalConfig(), ignored: Optional[np.ndarray] = None,
                photo: int = -1) -> tuple:
    """Match one photo's predictions to its teacher hands (module docstring).

    Args:
        teacher: the photo's teacher hands (none for a hand-free photo).
        predictions: the pipeline's hands on that photo.
        source: name of the photo's source.
        ignored: ``(P,)`` bool, predictions lying on teacher-ignore pixels (see
            :func:`ignored_predictions`); None: none are.

    Returns:
        ``([HandScore per teacher hand], PhotoScore)``.
    """
    t_boxes = np.array([teacher_window(h.uv, config.crop_margin) for h in teacher]).reshape(-1, 4)
    p_boxes = np.array([np.asarray(p.box, dtype=np.float64) for p in predictions]).reshape(-1, 4)
    pairs = dict((t, p) for p, t in match_hands(p_boxes, t_boxes, config.match_min_iou))
    hands = []
    for t, hand in enumerate(teacher):
        score = HandScore(source=source, size_px=hand_size(hand.uv), side=int(hand.side),
                          counted=np.asarray(hand.counted, bool), kp_score=np.asarray(hand.kp_score, np.float64),
                          mirror_err=float(hand.mirror_err), photo=photo, hand=t)
        if t in pairs:
            pred = predictions[pairs[t]]
            score.pipeline_err = normalised_errors(pred.uv, hand.uv)
            score.pred_side, score.lift_side, score.prediction = int(pred.side), int(pred.lift_side), pairs[t]
            if pred.w_rel is not None and hand.xyz is not None and np.all(np.isfinite(hand.xyz)):
                score.err_3d_mm = 1000.0 * scaled_3d_errors(pred.w_rel, hand.xyz, score.counted)
        hands.append(score)
    matched = set(pairs.values())
    unmatched = [p for p in range(len(predictions)) if p not in matched]
    ignore = np.zeros(len(predictions), bool) if ignored is None else np.asarray(ignored, bool)
    n_ignored = int(sum(ignore[p] for p in unmatched))
    return hands, PhotoScore(source=source, teacher_hands=len(teacher), predictions=len(predictions),
                             false_hands=len(unmatched) - n_ignored, ignored=n_ignored)


def ignored_predictions(boxes, mask, valid, fraction: float) -> np.ndarray:
    """``(P,)`` bool: predictions whose window ``boxes`` ``(P, 4)`` px covers photo pixels
    (``valid`` ``(H, W)`` != 0) of which at least ``fraction`` are teacher-ignore
    (``mask`` ``(H, W)`` == 255)."""
    mask, valid = np.asarray(mask), np.asarray(valid).astype(bool)
    height, width = mask.shape
    out = []
    for u0, v0, u1, v1 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        c0, c1 = int(np.clip(np.floor(u0), 0, width)), int(np.clip(np.ceil(u1), 0, width))
        r0, r1 = int(np.clip(np.floor(v0), 0, height)), int(np.clip(np.ceil(v1), 0, height))
        photo = valid[r0:r1, c0:c1]
        n = int(photo.sum())
        out.append(n > 0 and int((photo & (mask[r0:r1, c0:c1] == IGNORE_LABEL)).sum()) >= fraction * n)
    return np.array(out, dtype=bool)


def scaled_3d_errors(w_rel, xyz, weight=None) -> np.ndarray:
    """``(21,)`` distances (units of ``xyz``) between ``s * w_rel`` and ``xyz``, both
    re-rooted at the wrist, ``s`` the least-squares scale over the keypoints where
    ``weight`` ``(21,)`` bool is set (all when None); no rotation is fitted."""
    from hand3d_ros.core.keypoints import ROOT

    w = np.asarray(w_rel, dtype=np.float64).reshape(-1, 3)
    x = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    w, x = w - w[ROOT], x - x[ROOT]
    use = np.ones(len(w), bool) if weight is None else np.asarray(weight, bool)
    denom = float(np.sum(w[use] ** 2))
    scale = max(float(np.sum(w[use] * x[use])) / denom, 0.0) if denom > 0 else 0.0
    return np.linalg.norm(scale * w - x, axis=1)


def mirror_disagreement(kp_score, sigma: float) -> float:
    """Median over keypoints of the photo/mirror distance ``d`` (hand sizes) that gave
    ``kp_score`` ``(21,)`` = exp(-0.5 (d / sigma)^2) (``hand3d label``'s agreement score)."""
    score = np.clip(np.asarray(kp_score, dtype=np.float64), np.finfo(np.float32).tiny, 1.0)
    return float(np.median(sigma * np.sqrt(-2.0 * np.log(score))))


def ratio(num, den):
    """num / den, or None when den is 0."""
    return float(num) / den if den else None


def keypoint_stats(errors: Sequence[np.ndarray], counted: Sequence[np.ndarray], threshold: float) -> dict:
    """PCK and median errors (hand sizes) of hands' ``(21,)`` errors over their counted
    keypoints (module docstring); hands without a counted keypoint are left out."""
    per_hand = [(np.asarray(e)[c]) for e, c in zip(errors, counted) if np.asarray(c).any()]
    if not per_hand:
        return {"pck": None, "pck_mean_over_hands": None, "median_error": None, "median_error_pooled": None,
                "hands": 0, "keypoints": 0}
    pooled = np.concatenate(per_hand)
    return {"pck": float(np.mean(pooled < threshold)),
            "pck_mean_over_hands": float(np.mean([np.mean(e < threshold) for e in per_hand])),
            "median_error": float(np.median([np.median(e) for e in per_hand])),
            "median_error_pooled": float(np.median(pooled)),
            "hands": len(per_hand), "keypoints": int(pooled.size)}


def summarise(hands: Sequence[HandScore], photos: Sequence[PhotoScore], config: RealEvalConfig = RealEvalConfig(),
              per_source: bool = True) -> dict:
    """Every number of the real evaluation from matched hands and photos (JSON-able)."""
    thr = config.pck_threshold
    with_hands = [p for p in photos if p.teacher_hands > 0]
    free = [p for p in photos if p.teacher_hands == 0]
    found = [h for h in hands if h.found]
    pipeline = keypoint_stats([h.pipeline_err for h in found], [h.counted for h in found], thr)
    hits = sum(int(np.sum(h.pipeline_err[h.counted] < thr)) for h in found)
    all_counted = sum(int(h.counted.sum()) for h in hands)
    pipeline.update({
        "pck_all_hands": ratio(hits, all_counted),
        "hands_found": ratio(len(found), len(hands)), "hands_missed": ratio(len(hands) - len(found), len(hands)),
        "found": len(found), "missed": len(hands) - len(found),
        "false_hands_per_photo": ratio(sum(p.false_hands for p in with_hands), len(with_hands)),
        "predictions": sum(p.predictions for p in with_hands), "false_hands": sum(p.false_hands for p in with_hands),
        "ignored_predictions": sum(p.ignored for p in photos)})
    cropped = [h for h in hands if h.crop_err is not None]
    crops = keypoint_stats([h.crop_err for h in cropped], [h.counted for h in cropped], thr)
    with_head = [h for h in cropped if h.crop_side is not None]
    crops["side_head_accuracy"] = ratio(sum(h.crop_side == h.side for h in with_head), len(with_head))
    lifted = [h for h in found if h.err_3d_mm is not None and h.counted.any()]
    per_hand_3d = [np.median(h.err_3d_mm[h.counted]) for h in lifted]
    scaled_3d = {"median_error_mm": float(np.median(per_hand_3d)) if lifted else None,
                 "median_error_mm_pooled": float(np.median(np.concatenate([h.err_3d_mm[h.counted] for h in lifted])))
                 if lifted else None, "hands": len(lifted)}
    handedness = {
        "accuracy": ratio(sum(h.pred_side == h.side for h in found), len(found)),
        "unknown_fraction": ratio(sum(h.pred_side == UNKNOWN for h in found), len(found)),
        "lift_side_accuracy": ratio(sum(h.lift_side == h.side for h in found), len(found)),
        "hands": len(found)}
    negatives = {"photos": len(free), "false_hands": sum(p.false_hands for p in free),
                 "false_hands_per_photo": ratio(sum(p.false_hands for p in free), len(free)),
                 "photos_with_false_hand": ratio(sum(p.false_hands > 0 for p in free), len(free))}
    mirror = [h.mirror_err for h in hands if np.isfinite(h.mirror_err)]
    scores = [h.kp_score for h in hands]
    noise = {"teacher_mirror_err_median": float(np.median(mirror)) if mirror else None,
             "teacher_mirror_err_hands": len(mirror),
             "kp_score_mean": float(np.mean(np.concatenate(scores))) if scores else None,
             "counted_fraction": ratio(all_counted, NUM_KEYPOINTS * len(hands))}
    out = {"counts": {"photos": len(photos), "photos_with_hands": len(with_hands), "hand_free_photos": len(free),
                      "teacher_hands": len(hands), "counted_keypoints": all_counted},
           "pipeline": pipeline, "teacher_crops": crops, "3d_scaled": scaled_3d, "handedness": handedness,
           "hand_free": negatives,
           "noise_floor": noise}
    if per_source:
        names = sorted({h.source for h in hands} | {p.source for p in photos})
        out["per_source"] = {name: summarise([h for h in hands if h.source == name],
                                             [p for p in photos if p.source == name], config, per_source=False)
                             for name in names}
    return out


# ------------------------------------------------------------------ reading the shards

@dataclass
class Photo:
    """One photo of a real-teacher folder: its samples (one per teacher hand, or one
    hand-free sample) and its teacher hands."""

    folder: int
    samples: List[int]
    source: str
    hands: List[TeacherHand]


class RealFolder:
    """A real-teacher shard folder, optionally restricted to one split by source."""

    def __init__(self, root, split: Optional[str] = None, table: Optional[dict] = None):
        from hand3d_ros.data.shards import ShardDataset, ShardError
        from hand3d_ros.evaluation.real_split import shard_split_indices, source_names

        self.root = str(root)
        try:
            self.shards = ShardDataset(root)
        except ShardError as exc:
            raise ValueError(str(exc)) from None
        info = self.shards.info
        if info.get("kind") != REAL_KIND:
            raise ValueError(f"{root} is not a real-teacher folder (manifest info kind {info.get('kind')!r}, "
                             f"expected {REAL_KIND!r}: made by hand3d label)")
        spec = self.shards.manifest.get("fields") or {}
        missing = [f for f in ("image", "mask", "valid", "uv", "visible", "kp_score", "hand_side", "num_hands",
                               "source", "file_index", "K") if f not in spec]
        if missing:
            raise ValueError(f"{root} lacks the real-teacher field(s) {missing}")
        self.names = source_names(info)
        merge = (info.get("teacher") or {}).get("merge") or {}
        self.agreement_sigma = merge.get("agreement_sigma")  # kp_score's scale, hand sizes (or None)
        self.indices = np.arange(len(self.shards)) if split is None else shard_split_indices(root, split, table)

    def photos(self, folder_index: int, min_kp_score: float) -> List[Photo]:
        """The selected samples grouped into photos, in order of first appearance."""
        groups: Dict[tuple, Photo] = {}
        for index in self.indices:
            sample = self.shards[int(index)]
            image = np.ascontiguousarray(sample["image"])
            key = (int(sample["file_index"]), hashlib.blake2b(image.tobytes(), digest_size=16).hexdigest())
            source = int(sample["source"])
            name = self.names[source] if 0 <= source < len(self.names) else f"source-{source}"
            photo = groups.setdefault(key, Photo(folder=folder_index, samples=[], source=name, hands=[]))
            photo.samples.append(int(index))
            if int(sample["num_hands"]) == 0 or int(sample["hand_side"]) == NO_SIDE:
                continue
            kp_score = np.asarray(sample["kp_score"], dtype=np.float64)
            visible = np.asarray(sample["visible"], bool)
            if "teacher_mirror_err" in sample:
                mirror = float(sample["teacher_mirror_err"])
            elif self.agreement_sigma:
                mirror = mirror_disagreement(kp_score, float(self.agreement_sigma))
            else:
                mirror = float("nan")
            photo.hands.append(TeacherHand(
                uv=np.asarray(sample["uv"], dtype=np.float64), side=int(sample["hand_side"]), kp_score=kp_score,
                counted=visible & (kp_score >= min_kp_score), mirror_err=mirror, sample=int(index),
                visible=visible, xyz=np.asarray(sample["xyz"], dtype=np.float64) if "xyz" in sample else None))
        return list(groups.values())


def is_real_folder(path) -> bool:
    """True when ``path`` is a shard folder whose manifest says ``kind: real-teacher``."""
    import json
    from pathlib import Path

    manifest = Path(path) / "manifest.json"
    try:
        return manifest.is_file() and json.loads(manifest.read_text()).get("info", {}).get("kind") == REAL_KIND
    except (OSError, ValueError):
        return False


# ------------------------------------------------------------------ running the networks

def teacher_crop_predictions(pipeline, image: np.ndarray, hands: Sequence[TeacherHand], margin: float) -> tuple:
    """PoseNet alone on crops around the teacher's keypoints inside the photo (the GT-crop
    protocol: the window is ``margin`` x the larger side of their box).

    Returns:
        ``(uv (M, 21, 2) px, sides (M,) int or None without a side head)``.
    """
    import torch

    from hand3d_ros.core.crop import crop_images
    from hand3d_ros.training import targets
    from hand3d_ros.training.tasks import normalise_images

    backend, crop_size = pipeline.backend, pipeline.model_set.crop_size
    uv = torch.as_tensor(np.stack([h.uv for h in hands]), dtype=torch.float32)
    vis = torch.as_tensor(np.stack([np.ones(NUM_KEYPOINTS, bool) if h.visible is None else h.visible
                                    for h in hands]))
    rgb = torch.as_tensor(np.ascontiguousarray(image))[None]
    images = normalise_images(rgb).to(backend.device)
    crops = targets.gt_crops(uv, vis, image.shape[:2], crop_size, margin)
    with torch.inference_mode():
        patches = crop_images(images.expand(len(hands), -1, -1, -1), crops.center.to(images.device),
                              crops.scale.to(images.device), crop_size)
        maps, side_logits, _ = pipeline.posenet(patches)
        uv_crop, _ = pipeline.codec.decode(maps)
    uv_img = crops.uncrop_uv(uv_crop.float().cpu())
    sides = None if side_logits is None else side_logits.argmax(dim=1).cpu().numpy()
    return uv_img.numpy(), sides


def open_photos(folders: Sequence, split: Optional[str] = None, split_table: Optional[dict] = None,
                config: RealEvalConfig = RealEvalConfig(), limit: Optional[int] = None) -> tuple:
    """``(opened, photos)``: the :class:`RealFolder` of each of ``folders`` (restricted to
    ``split`` by source) and their photos in order, the first ``limit`` of each folder."""
    opened = [RealFolder(f, split, split_table) for f in folders]
    photos = []
    for i, folder in enumerate(opened):
        photos.extend(folder.photos(i, config.min_kp_score)[:limit])
    return opened, photos


class ScoredPhoto(NamedTuple):
    """One photo run through the pipeline and scored (:func:`score_photos`)."""

    index: int
    photo: "Photo"
    image: np.ndarray                 #: (H, W, 3) uint8 RGB
    result: object                    #: the estimator's frame result, hands in ``predictions`` order
    predictions: List[PredictedHand]
    ignored: np.ndarray               #: (P,) bool, predictions on teacher-ignore pixels
    hands: List[HandScore]            #: one per teacher hand
    score: PhotoScore

    def counted_predictions(self) -> List[Tuple[int, bool]]:
        """``[(index into result.hands, paired), ...]``: the predictions that count, each
        paired with a teacher hand or false; an unpaired one on teacher-ignore pixels is
        neither (left out, as :func:`score_photo` leaves it out of the false hands)."""
        matched = {h.prediction for h in self.hands if h.found}
        return [(j, j in matched) for j in range(len(self.result.hands)) if j in matched or not self.ignored[j]]


def score_photos(pipeline, opened: Sequence, photos: Sequence, config: RealEvalConfig = RealEvalConfig(),
                 gated: bool = True):
    """Run ``pipeline`` on every photo as ``hand3d infer`` runs it (a fresh estimator
    state per photo) and score it against the teacher.

    ``gated`` False: every hand the pipeline poses is reported (no ``min_hand_score`` or
    ``min_mean_keypoint_score``; to fit them). Yields a :class:`ScoredPhoto` per photo.
    """
    from hand3d_ros.inference.estimator import HandEstimator, image_estimator_config

    estimator_config = image_estimator_config(config.pipeline_config())
    if not gated:
        estimator_config.tracker = replace(estimator_config.tracker, min_hand_score=0.0, min_mean_keypoint_score=0.0)
    estimator = HandEstimator(pipeline, estimator_config)
    for index, photo in enumerate(photos):
        sample = opened[photo.folder].shards[photo.samples[0]]
        image = np.ascontiguousarray(sample["image"])
        estimator.reset()  # independent photos
        result = estimator.process(image, 0.0, K=np.asarray(sample["K"], dtype=np.float64))
        preds = [PredictedHand(uv=h.uv, box=h.crop_box, side=int(h.handedness), lift_side=int(h.hand_side),
                               score=float(h.score), w_rel=h.w_rel) for h in result.hands]
        ignored = ignored_predictions([p.box for p in preds], sample["mask"], sample["valid"], config.ignore_fraction)
        hands, photo_score = score_photo(photo.hands, preds, photo.source, config, ignored, photo=index)
        yield ScoredPhoto(index, photo, image, result, preds, ignored, hands, photo_score)


def evaluate_real(weights_dir, folders: Sequence, negatives: Sequence = (), split: Optional[str] = None,
                  split_table: Optional[dict] = None, config: RealEvalConfig = RealEvalConfig(),
                  limit: Optional[int] = None, device: str = "auto", progress: bool = False,
                  sheet=None, backend: str = "torch", precision: str = "fp32",
                  cache_dir: Optional[str] = None, segmentation_hw: Optional[tuple] = None) -> dict:
    """Run the real evaluation (module docstring).

    Args:
        weights_dir: folder with handsegnet.pt, posenet.pt, poseprior.pt.
        folders: real-teacher shard folders (photos with hands; hand-free samples in them
            count as hand-free photos).
        negatives: real-teacher folders of hand-free photos.
        split: ``train``/``val``/``test``: only samples of that split by source
            (:mod:`.real_split`); None: all.
        split_table: the split table (default :data:`.real_split.REAL_SPLIT`).
        limit: first ``limit`` photos of each folder only.
        device: torch device of the networks (``auto``, ``cpu``, ``cuda``).
        backend, precision: the inference backend and its precision (see
            :func:`hand3d_ros.inference.backends.select.create_backend`); ``cache_dir``
            its exported graphs and engines.
        segmentation_hw: (H, W) HandSegNet reads instead of its weights' size (None: theirs).
        progress: tqdm bar over photos.
        sheet: path of a contact-sheet PNG of the worst and best hands (optional).

    Returns:
        JSON-able dict: :func:`summarise`'s numbers plus ``settings``, ``hands`` (one
        row per teacher hand) and ``info``.
    """
    from hand3d_ros.inference.pipeline import load_pipeline

    started = time.monotonic()
    opened, photos = open_photos(list(folders) + list(negatives), split, split_table, config, limit)
    if not any(p.hands for p in photos):
        raise ValueError(f"no teacher hands to evaluate in {', '.join(map(str, folders))}"
                         + (f" (split {split!r}: its sources are named in hand3d_ros/evaluation/real_split.py "
                            "or --split-table)" if split else ""))
    pipeline = load_pipeline(weights_dir=weights_dir, backend=backend, device=device, precision=precision,
                             cache_dir=cache_dir, segmentation_hw=segmentation_hw, log=lambda *_: None)
    hand_scores, photo_scores, predictions = [], [], []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(photos), desc="eval real", unit="photo", dynamic_ncols=True)
    for scored in score_photos(pipeline, opened, photos, config):
        photo, image, hands = scored.photo, scored.image, scored.hands
        predictions.append(scored.predictions)
        if photo.hands:
            crop_uv, crop_sides = teacher_crop_predictions(pipeline, image, photo.hands, config.crop_margin)
            for j, (score, hand) in enumerate(zip(hands, photo.hands)):
                score.crop_err = normalised_errors(crop_uv[j], hand.uv)
                score.crop_side = None if crop_sides is None else int(crop_sides[j])
        hand_scores.extend(hands)
        photo_scores.append(scored.score)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    results = summarise(hand_scores, photo_scores, config)
    results["settings"] = asdict(config)
    results["settings"]["split"] = split
    results["settings"]["backend"] = pipeline.backend.describe()
    results["settings"]["detection_threshold_used"] = pipeline.detection_threshold
    results["settings"]["segmentation_hw"] = list(pipeline.seg_hw)
    results["hands"] = [hand_row(h, photos[h.photo], opened) for h in hand_scores]
    results["info"] = {"kind": REAL_KIND, "weights": str(weights_dir), "model_set": pipeline.model_set.name,
                       "folders": [{"root": f.root, "samples": int(len(f.indices)), "sources": f.names,
                                    "teacher": f.shards.info.get("teacher")} for f in opened],
                       "seconds": round(time.monotonic() - started, 1)}
    if sheet is not None:
        from hand3d_ros.evaluation.real_report import write_contact_sheet

        results["info"]["sheet"] = str(write_contact_sheet(sheet, hand_scores, photos, predictions, opened, config))
    return results


def hand_row(score: HandScore, photo: Photo, opened: Sequence[RealFolder]) -> dict:
    """One teacher hand as a JSON row (where it is, its per-hand numbers)."""
    def num(x):
        return None if x is None or not np.isfinite(x) else round(float(x), 5)

    hand = photo.hands[score.hand]
    return {"folder": opened[photo.folder].root, "sample": hand.sample, "source": score.source,
            "size_px": round(score.size_px, 2), "side": score.side, "found": score.found,
            "median_error": num(score.median_error("pipeline")), "crop_median_error": num(score.median_error("crop")),
            "pred_side": score.pred_side, "counted": int(score.counted.sum()), "mirror_err": num(score.mirror_err)}
