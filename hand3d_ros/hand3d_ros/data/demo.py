"""The demo's data: a rendered camera stream with ground truth, a real clip with the
teacher's labels, and scoring against them.

:func:`make_demo_sequence` renders a few short sequences (a left hand, a right hand, two
hands) with the project's renderer, deterministically from a seed, into one NPZ that the
replay camera plays (``image``, ``K``, ``depth``, ``stamps``) with the ground truth beside
it (``gt_uv``, ``gt_xyz``, ``gt_visible``, ``gt_hand_side``; a leading hand axis of 2,
NaN / False where a frame has one hand). :func:`make_real_clip_sequence` writes the same
NPZ for the committed real clip (``demo_clip/``: consecutive webcam frames, the MediaPipe
teacher's 2D keypoints and side as the reference; no depth, no 3D truth, intrinsics
assumed). :func:`score_frame` compares published hands with either. Plain numpy: no ROS.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from hand3d_ros.core.camera_model import CameraModel
from hand3d_ros.core.keypoints import NUM_KEYPOINTS

#: The committed real clip: JPEG frames in playing order and the teacher's ``labels.json``
#: (written by ``tools/make_real_fixtures.py``; source and licence in its README).
REAL_CLIP_DIR = Path(__file__).resolve().parents[1] / "demo_clip"
#: The clip's camera is not calibrated: a webcam's usual horizontal field of view, degrees.
REAL_CLIP_HFOV_DEG = 60.0
#: Teacher keypoints with at least this score are the reference (as ``hand3d eval``'s
#: ``min_kp_score``).
REAL_CLIP_MIN_KP_SCORE = 0.5

#: (two_hands, with_depth) of each demo sequence, in playing order.
DEMO_SEQUENCES = ((False, True), (False, True), (True, True))
MAX_HANDS = 2


@dataclass(frozen=True)
class DemoSequenceConfig:
    """What :func:`make_demo_sequence` renders."""

    seed: int = 2017
    """Render seed (same seed, same bytes)."""
    frames_per_sequence: int = 30
    """Frames of each of the sequences; >= 2."""
    width: int = 320
    """Image width, pixels."""
    height: int = 240
    """Image height, pixels."""
    fps: float = 15.0
    """Frame rate of the stream, frames per second."""


def make_demo_sequence(path, config: DemoSequenceConfig = DemoSequenceConfig(), asset_dir=None,
                       progress=None) -> Path:
    """Render the demo stream into ``path`` (an .npz) unless it is already there with the
    same configuration. ``progress(done, total)`` is called after each frame."""
    from hand3d_ros.data.render.scene import HandRenderer, RenderConfig
    from hand3d_ros.data.render.sequences import SequenceConfig, sequence_frame

    path = Path(path)
    stamp = repr(config)
    if path.is_file():
        with np.load(path, allow_pickle=False) as existing:
            if "config" in existing.files and str(existing["config"]) == stamp:
                return path
    renderer = HandRenderer(RenderConfig(height=config.height, width=config.width, split="test",
                                         with_depth=True), asset_dir)
    seq_config = SequenceConfig(num_frames=config.frames_per_sequence, fps=config.fps)
    total = len(DEMO_SEQUENCES) * config.frames_per_sequence
    frames = []
    for index, (two_hands, _) in enumerate(DEMO_SEQUENCES):
        for t in range(config.frames_per_sequence):
            frames.append((sequence_frame(renderer, config.seed, index, t, two_hands, seq_config), two_hands))
            if progress is not None:
                progress(len(frames), total)
    arrays = _stack(frames, config)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, config=np.array(stamp), **arrays)
    tmp.replace(path)
    return path


def _stack(frames, config: DemoSequenceConfig) -> dict:
    t = len(frames)
    uv = np.full((t, MAX_HANDS, NUM_KEYPOINTS, 2), np.nan, np.float32)
    xyz = np.full((t, MAX_HANDS, NUM_KEYPOINTS, 3), np.nan, np.float32)
    visible = np.zeros((t, MAX_HANDS, NUM_KEYPOINTS), bool)
    side = np.full((t, MAX_HANDS), -1, np.int8)
    for i, (frame, two_hands) in enumerate(frames):
        n = MAX_HANDS if two_hands else 1
        uv[i, :n] = np.reshape(frame["uv"], (n, NUM_KEYPOINTS, 2))
        xyz[i, :n] = np.reshape(frame["xyz"], (n, NUM_KEYPOINTS, 3))
        visible[i, :n] = np.reshape(frame["visible"], (n, NUM_KEYPOINTS))
        side[i, :n] = np.reshape(frame["hand_side"], (n,))
    return {
        "image": np.stack([f["image"] for f, _ in frames]),
        "K": np.stack([f["K"] for f, _ in frames]).astype(np.float64),
        "depth": np.stack([f["depth"] for f, _ in frames]).astype(np.float32),
        "stamps": np.arange(t, dtype=np.float64) / config.fps,
        "gt_uv": uv, "gt_xyz": xyz, "gt_visible": visible, "gt_hand_side": side,
    }


def make_real_clip_sequence(path, clip_dir=REAL_CLIP_DIR, fps: float = 10.0,
                            hfov_deg: float = REAL_CLIP_HFOV_DEG) -> Path:
    """Write the real clip in ``clip_dir`` into ``path`` (an .npz) in the demo stream's
    layout: ``image`` (T, H, W, 3) uint8, ``K`` (T, 3, 3) from ``hfov_deg`` (principal
    point at the centre), ``stamps`` (T,) at ``fps``; ``gt_uv``/``gt_visible``/
    ``gt_hand_side`` the teacher's hands (2D only: ``gt_xyz`` is NaN). Raises
    ``FileNotFoundError`` / ``ValueError`` with one line for a missing or odd clip."""
    import json

    from PIL import Image as PILImage

    clip_dir = Path(clip_dir)
    labels_path = clip_dir / "labels.json"
    if not labels_path.is_file():
        raise FileNotFoundError(f"no real clip in {clip_dir} (labels.json missing)")
    photos = json.loads(labels_path.read_text())["photos"]
    if len(photos) < 2 or fps <= 0:
        raise ValueError(f"{clip_dir}: need >= 2 frames and fps > 0")
    images = [np.asarray(PILImage.open(clip_dir / p["file"]).convert("RGB")) for p in photos]
    if len({im.shape for im in images}) != 1:
        raise ValueError(f"{clip_dir}: the frames differ in size")
    t = len(images)
    height, width = images[0].shape[:2]
    K = CameraModel.from_fov(width, height, hfov_deg).K  # CalibrationError (a ValueError) outside (0, 180)
    uv = np.full((t, MAX_HANDS, NUM_KEYPOINTS, 2), np.nan, np.float32)
    visible = np.zeros((t, MAX_HANDS, NUM_KEYPOINTS), bool)
    side = np.full((t, MAX_HANDS), -1, np.int8)
    for i, photo in enumerate(photos):
        for k, hand in enumerate(photo["hands"][:MAX_HANDS]):
            uv[i, k] = hand["uv"]
            visible[i, k] = np.asarray(hand["kp_score"]) >= REAL_CLIP_MIN_KP_SCORE
            side[i, k] = hand["side"]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, image=np.stack(images), K=np.repeat(K[None], t, axis=0),
                        stamps=np.arange(t, dtype=np.float64) / fps, gt_uv=uv,
                        gt_xyz=np.full((t, MAX_HANDS, NUM_KEYPOINTS, 3), np.nan, np.float32),
                        gt_visible=visible, gt_hand_side=side)
    return path


@dataclass
class FrameScore:
    """Errors of one frame's matched hands (empty arrays when none matched)."""

    gt_hands: int
    matched: int
    errors_2d_px: np.ndarray
    errors_3d_mm: np.ndarray
    side_correct: int


def match_hands(pred_uv: np.ndarray, gt_uv: np.ndarray, gt_visible: np.ndarray, max_px: float) -> list:
    """Pairs (pred, gt) minimising the mean 2D distance over visible keypoints.

    Args:
        pred_uv: (P, 21, 2) pixels. gt_uv: (G, 21, 2). gt_visible: (G, 21) bool.
        max_px: pairs farther apart than this (mean distance, pixels) are not matched.
    """
    from scipy.optimize import linear_sum_assignment

    if len(pred_uv) == 0 or len(gt_uv) == 0:
        return []
    cost = np.full((len(pred_uv), len(gt_uv)), 1e9)
    for i, p in enumerate(pred_uv):
        for j, (g, vis) in enumerate(zip(gt_uv, gt_visible)):
            if vis.any():
                cost[i, j] = float(np.mean(np.linalg.norm(p[vis] - g[vis], axis=1)))
    rows, cols = linear_sum_assignment(cost)
    return [(r, c) for r, c in zip(rows, cols) if cost[r, c] <= max_px]


def score_frame(hands: list, gt_uv, gt_xyz, gt_visible, gt_side, max_match_px: float = 60.0) -> FrameScore:
    """Score one frame's published hands (dicts as in poses.jsonl) against the ground truth.

    ``gt_*`` carry a leading hand axis; hands with side -1 are padding.
    """
    present = np.asarray(gt_side) >= 0
    gt_uv, gt_xyz, gt_visible, gt_side = (np.asarray(a)[present] for a in (gt_uv, gt_xyz, gt_visible, gt_side))
    pred_uv = np.array([[[k["u"], k["v"]] for k in h["keypoints_2d"]] for h in hands], dtype=np.float64)
    pairs = match_hands(pred_uv.reshape(-1, NUM_KEYPOINTS, 2), gt_uv, gt_visible, max_match_px)
    e2d, e3d, side_ok = [], [], 0
    for p, g in pairs:
        vis = gt_visible[g]
        e2d.append(np.linalg.norm(pred_uv[p][vis] - gt_uv[g][vis], axis=1))
        pred_xyz = np.array([[q["x"], q["y"], q["z"]] for q in hands[p]["keypoints_3d"]], dtype=np.float64)
        has_truth = np.all(np.isfinite(gt_xyz[g][vis]))  # the real clip has none
        if hands[p]["scale_source"] != 0 and np.all(np.isfinite(pred_xyz)) and has_truth:
            e3d.append(np.linalg.norm(pred_xyz[vis] - gt_xyz[g][vis], axis=1) * 1000.0)
        side_ok += int(hands[p]["handedness"] == int(gt_side[g]))
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
    return FrameScore(gt_hands=int(present.sum()), matched=len(pairs), errors_2d_px=cat(e2d),
                      errors_3d_mm=cat(e3d), side_correct=side_ok)


def summarize_scores(scores: list) -> dict:
    """Totals over frames: detection rate, 2D/3D error statistics, handedness accuracy."""
    gt = sum(s.gt_hands for s in scores)
    matched = sum(s.matched for s in scores)
    e2d = np.concatenate([s.errors_2d_px for s in scores]) if scores else np.zeros(0)
    e3d = np.concatenate([s.errors_3d_mm for s in scores]) if scores else np.zeros(0)

    def stats(errors) -> Optional[dict]:
        if errors.size == 0:
            return None
        return {"mean": float(np.mean(errors)), "median": float(np.median(errors)), "n": int(errors.size)}

    return {"frames": len(scores), "gt_hands": gt, "detected_hands": matched,
            "detection_rate": matched / gt if gt else None,
            "error_2d_px": stats(e2d), "error_3d_mm": stats(e3d),
            "handedness_accuracy": (sum(s.side_correct for s in scores) / matched) if matched else None}
