"""Combine the teacher's two views (a photo and its horizontal mirror) into checked hands.

MediaPipe Hands assumes a mirrored selfie image: on an ordinary (not mirrored) photo
its label "Left" is the ANATOMICAL RIGHT hand. In the mirrored view the hand looks
like the other side, so there "Right" is the original's anatomical right. A hand is
kept only when both views find it at about the same place (the mirrored view's
keypoints mirrored back), its handedness flips with the mirror, and its scores are
high enough; every other hand is returned too, with ``keep=False`` and a reason, so
the caller counts it and masks its region as "ignore".

Pure numpy (no mediapipe, no cv2): input is the worker's reply dict.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Why a hand was not kept (``TeacherHand.reason``).
DROP_REASONS = ("one_view", "disagree", "no_flip", "low_hand_score", "low_side_score")


@dataclass
class MergeConfig:
    """Thresholds of the photo/mirror check (hand size = max(width, height) of the
    keypoints' box in pixels of the teacher's input).

    Attributes:
        match_max: largest median keypoint distance (hand sizes) at which a hand of
            the mirrored view is the same hand as one of the photo (0 .. 1).
        max_disagreement: drop a matched hand whose median keypoint distance between
            the views exceeds this (hand sizes, 0 .. 1).
        agreement_sigma: per-keypoint confidence = exp(-0.5 (d / (sigma * size))^2),
            d the keypoint's distance between the views (hand sizes, > 0).
        min_hand_score: drop hands whose palm-detector score (mean of the views) is
            below this (0 .. 1).
        min_side_score: drop hands whose handedness probability (mean of the views,
            0.5 .. 1) is below this.
    """

    match_max: float = 0.5
    max_disagreement: float = 0.1
    agreement_sigma: float = 0.05
    min_hand_score: float = 0.5
    min_side_score: float = 0.7

    def __post_init__(self):
        for name in ("match_max", "max_disagreement", "min_hand_score"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.agreement_sigma <= 0:
            raise ValueError(f"agreement_sigma must be > 0, got {self.agreement_sigma}")
        if not 0.5 <= self.min_side_score <= 1.0:
            raise ValueError(f"min_side_score must be in [0.5, 1], got {self.min_side_score}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TeacherHand:
    """One hand of a photo after the mirror check.

    Attributes:
        uv_norm: (21, 2) keypoints, continuous image coordinates normalised by the
            image width/height (0 = left/top edge, 1 = right/bottom edge); mean of the
            two views where both found the hand.
        xyz: (21, 3) world landmarks re-rooted at the wrist, metres, image-aligned axes
            (x right, y down, z away from the camera); mean of the views. None if absent.
        kp_score: (21,) confidence in [0, 1] from the views' agreement (0 if one view).
        side: anatomical side, 0 left, 1 right.
        side_score: probability of that side (0.5 .. 1).
        hand_score: palm detector score (mean of the views; 0 when unknown).
        disagreement: median keypoint distance between the views, hand sizes (NaN if one view).
        keep: passed every check.
        reason: the first failed check (one of :data:`DROP_REASONS`), None when kept.
    """

    uv_norm: np.ndarray
    xyz: np.ndarray | None
    kp_score: np.ndarray
    side: int
    side_score: float
    hand_score: float
    disagreement: float
    keep: bool
    reason: str | None


def _view_hands(view: dict, width: float, height: float, mirrored: bool) -> list:
    """A view's hands in the ORIGINAL photo's frame: (uv_norm, xyz, p_right, palm)."""
    out = []
    for hand in view.get("hands", []):
        lm = np.asarray(hand["landmarks"], dtype=np.float64)[:, :2]
        world = np.asarray(hand["world"], dtype=np.float64) if hand.get("world") is not None else None
        if world is not None:
            world = world - world[0]
        score = float(hand["label_score"])
        says_left = hand["label"] == "Left"
        if mirrored:
            lm = lm.copy()
            lm[:, 0] = 1.0 - lm[:, 0]
            if world is not None:
                world[:, 0] = -world[:, 0]
            # In the mirror the hand looks like the other side; MediaPipe's "Right" of the
            # mirrored view is therefore the original's anatomical right.
            p_right = 1.0 - score if says_left else score
        else:
            # Selfie convention: "Left" of an unmirrored photo is the anatomical right hand.
            p_right = score if says_left else 1.0 - score
        palm = hand.get("palm_score")
        out.append((lm, world, p_right, float(palm) if palm is not None else np.nan))
    return out


def hand_size_px(uv_px: np.ndarray) -> float:
    """max(width, height) of the keypoints' box (same units as ``uv_px``)."""
    span = np.nanmax(uv_px, axis=0) - np.nanmin(uv_px, axis=0)
    return float(max(span.max(), 1e-6))


def merge_views(reply: dict, config: MergeConfig | None = None) -> list:
    """The hands of one worker reply (photo + mirror) as :class:`TeacherHand` (kept and dropped)."""
    cfg = config or MergeConfig()
    width, height = float(reply["width"]), float(reply["height"])
    scale_px = np.array([width, height])
    views = reply.get("views") or [{"hands": []}, {"hands": []}]
    a = _view_hands(views[0], width, height, mirrored=False)
    b = _view_hands(views[1], width, height, mirrored=True)
    # Greedy matching by median keypoint distance in hand sizes.
    costs = []
    for i, ha in enumerate(a):
        size = hand_size_px(ha[0] * scale_px)
        for j, hb in enumerate(b):
            d = np.linalg.norm((ha[0] - hb[0]) * scale_px, axis=1) / size
            costs.append((float(np.median(d)), i, j))
    costs.sort()
    pair_a, pair_b = {}, set()
    for cost, i, j in costs:
        if cost <= cfg.match_max and i not in pair_a and j not in pair_b:
            pair_a[i] = j
            pair_b.add(j)
    hands = []
    for i, (uv_a, xyz_a, p_a, palm_a) in enumerate(a):
        if i not in pair_a:
            hands.append(_single(uv_a, xyz_a, p_a, palm_a))
            continue
        uv_b, xyz_b, p_b, palm_b = b[pair_a[i]]
        size = hand_size_px(uv_a * scale_px)
        dist = np.linalg.norm((uv_a - uv_b) * scale_px, axis=1) / size
        kp_score = np.exp(-0.5 * (dist / cfg.agreement_sigma) ** 2)
        xyz = None
        if xyz_a is not None and xyz_b is not None:
            xyz = 0.5 * (xyz_a + xyz_b)
        p_right = 0.5 * (p_a + p_b)
        side = int(p_right > 0.5)
        side_score = max(p_right, 1.0 - p_right)
        palm = float(np.nanmean([palm_a, palm_b])) if np.isfinite([palm_a, palm_b]).any() else 0.0
        disagreement = float(np.median(dist))
        reason = None
        if disagreement > cfg.max_disagreement:
            reason = "disagree"
        elif (p_a > 0.5) != (p_b > 0.5):
            reason = "no_flip"
        elif palm < cfg.min_hand_score:
            reason = "low_hand_score"
        elif side_score < cfg.min_side_score:
            reason = "low_side_score"
        hands.append(TeacherHand(0.5 * (uv_a + uv_b), xyz, kp_score.astype(np.float32), side, float(side_score),
                                 palm, disagreement, reason is None, reason))
    for j, (uv_b, xyz_b, p_b, palm_b) in enumerate(b):
        if j not in pair_b:
            hands.append(_single(uv_b, xyz_b, p_b, palm_b))
    return hands


def _single(uv, xyz, p_right, palm) -> TeacherHand:
    side = int(p_right > 0.5)
    return TeacherHand(uv, xyz, np.zeros(21, np.float32), side, float(max(p_right, 1 - p_right)),
                       float(palm) if np.isfinite(palm) else 0.0, float("nan"), False, "one_view")
