"""Pseudo hand masks from 2D keypoints: a drawn skeleton refined with colour (GrabCut).

1. :func:`skeleton_mask`: every bone drawn as a thick line (finger width proportional
   to the hand's palm size in pixels), a filled palm polygon and a wrist disc.
2. :func:`grabcut_refine`: OpenCV GrabCut on a downscaled box around the hand, seeded
   by that skeleton: a thin skeleton = sure hand, the full skeleton = probably hand, the
   skeleton drawn wider = probably background, the forearm beyond the wrist and the rest
   of the box = sure background.
3. :func:`pseudo_mask`: all hands of a photo into one label map (0 background, 1 left,
   2 right) with an uncertain band (and hands to ignore) set to :data:`IGNORE`.

numpy + OpenCV only (cv2 imported lazily). Keypoints are pixel coordinates with pixel
centres at integers, public (MediaPipe) order: 0 wrist, 1-4 thumb, 5-8 index,
9-12 middle, 13-16 ring, 17-20 little finger.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Mask value of pixels to ignore in training and evaluation.
IGNORE = 255
#: Bones (parent, child) of the 21 keypoints.
BONES = ((0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11), (11, 12),
         (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20))
#: Outline of the palm (filled polygon): wrist, thumb base, finger bases.
PALM = (0, 1, 2, 5, 9, 13, 17)


@dataclass
class MaskConfig:
    """Settings of the pseudo mask (lengths in units of the hand's palm size, see
    :func:`palm_size_px`).

    Attributes:
        finger_width: drawn finger width (0.05 .. 0.6).
        thumb_width: drawn thumb width (0.05 .. 0.6).
        wrist_radius: radius of the wrist disc (0 .. 0.6).
        grabcut: refine the skeleton with GrabCut (else the skeleton is the mask).
        sure_fraction: width of the "sure hand" skeleton relative to the drawn one (0 .. 1).
        probable_scale: the "probably background" zone is the skeleton drawn this many
            times wider (so the gaps between spread fingers stay background; 1 .. 4).
        box_margin: margin of the GrabCut box around the skeleton (0 .. 2).
        grabcut_side: GrabCut runs on the box scaled so its longer side is at most
            this many pixels (16 .. 512; speed).
        grabcut_iterations: GrabCut iterations (1 .. 10).
        max_growth: at most this many times the skeleton's area may GrabCut return
            (else the skeleton is kept: the colours did not separate, >= 1).
        wrist_cut: pixels more than this far beyond the wrist (along the middle
            finger's knuckle-to-wrist direction) are background: the forearm is not
            hand (0 .. 1).
        ignore_band: width of the uncertain band set to IGNORE on each side of the
            hand's outline (0 .. 0.5).
        min_palm_px: palm sizes below this many pixels count as this (>= 1).
    """

    finger_width: float = 0.22
    thumb_width: float = 0.26
    wrist_radius: float = 0.22
    grabcut: bool = True
    sure_fraction: float = 0.4
    probable_scale: float = 2.0
    box_margin: float = 0.5
    grabcut_side: int = 112
    grabcut_iterations: int = 4
    max_growth: float = 2.0
    wrist_cut: float = 0.5
    ignore_band: float = 0.03
    min_palm_px: float = 4.0

    def __post_init__(self):
        checks = {"finger_width": (0.05, 0.6), "thumb_width": (0.05, 0.6), "wrist_radius": (0.0, 0.6),
                  "sure_fraction": (0.0, 1.0), "probable_scale": (1.0, 4.0), "box_margin": (0.0, 2.0),
                  "grabcut_side": (16, 512), "grabcut_iterations": (1, 10), "ignore_band": (0.0, 0.5),
                  "max_growth": (1.0, 100.0), "wrist_cut": (0.0, 1.0), "min_palm_px": (1.0, 1e6)}
        for name, (lo, hi) in checks.items():
            if not lo <= getattr(self, name) <= hi:
                raise ValueError(f"MaskConfig.{name} must be in [{lo}, {hi}], got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)


def palm_size_px(uv: np.ndarray) -> float:
    """The hand's scale in pixels: the longest of the palm's wrist-to-knuckle lines and
    1.5 x the index-to-little knuckle line (robust to the palm turning edge-on)."""
    uv = np.asarray(uv, dtype=np.float64)
    lengths = [np.linalg.norm(uv[k] - uv[0]) for k in (5, 9, 13, 17)]
    lengths.append(1.5 * np.linalg.norm(uv[17] - uv[5]))
    return float(np.nanmax(lengths))


def _draw_skeleton(canvas: np.ndarray, uv: np.ndarray, palm: float, width_scale: float, cfg: MaskConfig) -> None:
    """Draw one hand's skeleton (value 1) into ``canvas`` (uint8, modified); ``uv`` and
    ``palm`` in pixels of ``canvas``."""
    import cv2

    shift = 4  # sub-pixel drawing: coordinates in 1/16 pixels
    limit = 8 * max(canvas.shape)  # keep far-away keypoints from overflowing OpenCV's ints
    pts = (np.clip(np.asarray(uv, np.float64), -limit, limit) * (1 << shift)).round().astype(np.int64)
    p = palm
    for a, b in BONES:
        width = (cfg.thumb_width if b <= 4 else cfg.finger_width) * p * width_scale
        cv2.line(canvas, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]), 1,
                 max(1, int(round(width))), cv2.LINE_8, shift)
    hull = cv2.convexHull(pts[list(PALM)].astype(np.int32))
    cv2.fillConvexPoly(canvas, hull, 1, cv2.LINE_8, shift)
    radius = int(round(cfg.wrist_radius * p * width_scale * (1 << shift)))
    if radius > 0:
        cv2.circle(canvas, tuple(int(v) for v in pts[0]), radius, 1, -1, cv2.LINE_8, shift)


def skeleton_mask(uv: np.ndarray, shape: tuple, config: MaskConfig | None = None,
                  width_scale: float = 1.0) -> np.ndarray:
    """(H, W) bool: the hand's skeleton drawn from (21, 2) keypoints ``uv``."""
    cfg = config or MaskConfig()
    canvas = np.zeros(shape[:2], np.uint8)
    palm = max(palm_size_px(uv), cfg.min_palm_px)
    _draw_skeleton(canvas, uv, palm, width_scale, cfg)
    return canvas.astype(bool)


def grabcut_refine(image: np.ndarray, uv: np.ndarray, config: MaskConfig | None = None,
                   valid: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool hand mask of one hand: GrabCut on a downscaled box seeded by the skeleton.

    Args:
        image: (H, W, 3) uint8 RGB.
        uv: (21, 2) keypoints in pixels of ``image``.
        valid: (H, W) bool/uint8, pixels that belong to the photo (padding excluded).
    Falls back to the skeleton when GrabCut fails or grows beyond ``max_growth``.
    """
    import cv2

    cfg = config or MaskConfig()
    H, W = image.shape[:2]
    uv = np.asarray(uv, np.float64)
    palm = max(palm_size_px(uv), cfg.min_palm_px)
    skeleton = skeleton_mask(uv, (H, W), cfg)
    if not cfg.grabcut or not skeleton.any():
        return skeleton
    ys, xs = np.nonzero(skeleton)
    margin = cfg.box_margin * palm
    x0, x1 = int(max(0, xs.min() - margin)), int(min(W, xs.max() + 1 + margin))
    y0, y1 = int(max(0, ys.min() - margin)), int(min(H, ys.max() + 1 + margin))
    scale = min(1.0, cfg.grabcut_side / max(x1 - x0, y1 - y0))
    bw, bh = max(8, int(round((x1 - x0) * scale))), max(8, int(round((y1 - y0) * scale)))
    sx, sy = bw / (x1 - x0), bh / (y1 - y0)
    crop = cv2.resize(np.ascontiguousarray(image[y0:y1, x0:x1]), (bw, bh), interpolation=cv2.INTER_AREA)
    uv_box = (uv - [x0, y0] + 0.5) * [sx, sy] - 0.5  # pixel centres at integers in both
    palm_box = palm * 0.5 * (sx + sy)
    full = np.zeros((bh, bw), np.uint8)
    _draw_skeleton(full, uv_box, palm_box, 1.0, cfg)
    sure = np.zeros((bh, bw), np.uint8)
    _draw_skeleton(sure, uv_box, palm_box, cfg.sure_fraction, cfg)
    near = np.zeros((bh, bw), np.uint8)
    _draw_skeleton(near, uv_box, palm_box, cfg.probable_scale, cfg)
    seeds = np.full((bh, bw), cv2.GC_BGD, np.uint8)
    seeds[near > 0] = cv2.GC_PR_BGD
    seeds[full > 0] = cv2.GC_PR_FGD
    seeds[sure > 0] = cv2.GC_FGD
    # Beyond the wrist (the forearm's side) is background.
    axis = uv_box[9] - uv_box[0]
    if np.linalg.norm(axis) > 1e-6:
        axis = axis / np.linalg.norm(axis)
        yy, xx = np.mgrid[0:bh, 0:bw]
        along = (xx - uv_box[0, 0]) * axis[0] + (yy - uv_box[0, 1]) * axis[1]
        seeds[along < -cfg.wrist_cut * palm_box] = cv2.GC_BGD
    if valid is not None:
        v = cv2.resize(np.ascontiguousarray(valid[y0:y1, x0:x1]).astype(np.uint8), (bw, bh),
                       interpolation=cv2.INTER_NEAREST)
        seeds[v == 0] = cv2.GC_BGD
    if not (seeds == cv2.GC_BGD).any() or not (seeds == cv2.GC_FGD).any():
        return skeleton
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(crop, seeds, None, bgd, fgd, cfg.grabcut_iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return skeleton
    fg = ((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)).astype(np.uint8)
    # Keep the parts connected to the sure skeleton (GrabCut may pick up look-alike blobs).
    count, labels = cv2.connectedComponents(fg)
    if count > 2:
        keep = np.unique(labels[(sure > 0) & (fg > 0)])
        fg = np.isin(labels, keep[keep > 0]).astype(np.uint8)
    if fg.sum() > cfg.max_growth * max(1, int((full > 0).sum())):
        return skeleton
    out = np.zeros((H, W), bool)
    out[y0:y1, x0:x1] = cv2.resize(fg, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) > 0
    return out


def pseudo_mask(image: np.ndarray, hands: list, config: MaskConfig | None = None,
                valid: np.ndarray | None = None) -> np.ndarray:
    """(H, W) uint8 label map of all hands of a photo.

    Args:
        image: (H, W, 3) uint8 RGB.
        hands: ``[(uv (21, 2) pixels, label)]`` with label 1 (left), 2 (right) or
            :data:`IGNORE` (a hand the teacher was not sure of: its whole region is ignored).
        valid: (H, W) pixels of the photo; the rest (padding) is set to IGNORE.
    Returns 0 background, 1 left hand, 2 right hand, IGNORE for the uncertain band
    around each hand's outline, ignored hands, pixels two hands both claim, and padding.
    """
    import cv2

    cfg = config or MaskConfig()
    H, W = image.shape[:2]
    out = np.zeros((H, W), np.uint8)
    claimed = np.zeros((H, W), np.uint8)
    ignore = np.zeros((H, W), bool)
    for uv, label in hands:
        uv = np.asarray(uv, np.float64)
        if not np.isfinite(uv).all():
            continue
        palm = max(palm_size_px(uv), cfg.min_palm_px)
        if label == IGNORE:
            region = skeleton_mask(uv, (H, W), cfg, width_scale=cfg.probable_scale)
            ignore |= region
            continue
        hand = grabcut_refine(image, uv, cfg, valid) if cfg.grabcut else skeleton_mask(uv, (H, W), cfg)
        band_px = int(round(cfg.ignore_band * palm))
        if band_px > 0:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band_px + 1, 2 * band_px + 1))
            h8 = hand.astype(np.uint8)
            ignore |= (cv2.dilate(h8, kernel) > 0) & ~(cv2.erode(h8, kernel) > 0)
        out[hand] = label
        claimed += hand.astype(np.uint8)
    ignore |= claimed > 1
    if valid is not None:
        ignore |= ~np.asarray(valid, bool)
    out[ignore] = IGNORE
    return out


def mask_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """IoU of hand pixels (label > 0) where ``pred`` is not IGNORE (truth: any value > 0 is hand)."""
    keep = pred != IGNORE
    p = (pred > 0) & keep
    t = (truth > 0) & keep
    union = (p | t).sum()
    return float((p & t).sum() / union) if union else 1.0
