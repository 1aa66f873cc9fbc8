"""Output of the real evaluation: the printed table and the contact sheet (OpenCV, lazily)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from hand3d_ros.evaluation.real import (
    NUM_KEYPOINTS, HandScore, Photo, RealEvalConfig, RealFolder, ratio, teacher_window)

#: Photos narrower than this are enlarged on the contact sheet, pixels.
SHEET_MIN_WIDTH_PX = 320


#: Rows of the printed table: (section, key, label, format, the teacher's own value).
REAL_TABLE_ROWS = (
    ("pipeline", "pck", "PCK@{thr} pipeline, found hands", "{:.3f}", 1.0),
    ("pipeline", "pck_all_hands", "PCK@{thr} pipeline, missed hands = 0", "{:.3f}", 1.0),
    ("pipeline", "median_error", "median error pipeline (hand sizes)", "{:.3f}", 0.0),
    ("teacher_crops", "pck", "PCK@{thr} PoseNet on teacher crops", "{:.3f}", 1.0),
    ("teacher_crops", "median_error", "median error teacher crops (hand sizes)", "{:.3f}", 0.0),
    ("3d_scaled", "median_error_mm", "3D error after scale alignment (mm)", "{:.1f}", 0.0),
    ("pipeline", "hands_found", "hands found", "{:.3f}", 1.0),
    ("pipeline", "false_hands_per_photo", "false hands per photo with hands", "{:.3f}", 0.0),
    ("hand_free", "false_hands_per_photo", "false hands per hand-free photo", "{:.3f}", 0.0),
    ("hand_free", "photos_with_false_hand", "hand-free photos with a false hand", "{:.3f}", 0.0),
    ("handedness", "accuracy", "handedness accuracy (found hands)", "{:.3f}", 1.0),
    ("handedness", "unknown_fraction", "handedness unknown (found hands)", "{:.3f}", 0.0),
    ("teacher_crops", "side_head_accuracy", "side head on teacher crops", "{:.3f}", 1.0),
)


def format_real_table(results: dict) -> str:
    """Plain-text table: metric, ours, the teacher (the reference: its own labels), then
    the noise floor and one line per source."""
    def fmt(value, pattern="{:.3f}"):
        return "-" if value is None else pattern.format(value)

    counts = results["counts"]
    thr = results.get("settings", {}).get("pck_threshold", RealEvalConfig.pck_threshold)
    split = results.get("settings", {}).get("split")
    lines = [f"real photos{f' (split {split})' if split else ''}: {counts['photos']} photos "
             f"({counts['photos_with_hands']} with hands, {counts['hand_free_photos']} hand-free), "
             f"{counts['teacher_hands']} teacher hands, {counts['counted_keypoints']} counted keypoints",
             f"{'metric':<44} {'ours':>8} {'teacher':>8}"]
    for section, key, label, pattern, reference in REAL_TABLE_ROWS:
        value = results.get(section, {}).get(key)
        lines.append(f"{label.format(thr=thr):<44} {fmt(value, pattern):>8} {fmt(reference, pattern):>8}")
    noise = results["noise_floor"]
    lines.append(f"{'noise floor: teacher mirror disagreement':<44} {'':>8} "
                 f"{fmt(noise['teacher_mirror_err_median']):>8}")
    lines.append(f"{'teacher kp_score mean':<44} {'':>8} {fmt(noise['kp_score_mean']):>8}")
    per_source = results.get("per_source") or {}
    if per_source:
        lines.append(f"{'source':<32} {'hands':>6} {'found':>6} {'PCK':>6} {'median':>7} {'crops':>6} "
                     f"{'false/ph':>8} {'side':>6}")
        for name, r in per_source.items():
            lines.append(f"{name[:32]:<32} {r['counts']['teacher_hands']:>6} {fmt(r['pipeline']['hands_found']):>6} "
                         f"{fmt(r['pipeline']['pck']):>6} {fmt(r['pipeline']['median_error']):>7} "
                         f"{fmt(r['teacher_crops']['pck']):>6} "
                         f"{fmt(_false_per_photo(r)):>8} {fmt(r['handedness']['accuracy']):>6}")
    return "\n".join(lines)


def _false_per_photo(r: dict):
    """False hands per photo over all of a source's photos (with and without hands)."""
    total = r["pipeline"]["false_hands"] + r["hand_free"]["false_hands"]
    return ratio(total, r["counts"]["photos"])


def write_contact_sheet(path, hands: Sequence[HandScore], photos: Sequence[Photo], predictions: Sequence,
                        opened: Sequence[RealFolder], config: RealEvalConfig):
    """A PNG of the worst and best teacher hands by median error (missed ones count as
    worst): per row the teacher's labels (left: its windows, sides, mean kp_score) and our
    hands (right: crop windows, published sides, scores) on the photo. Returns the path."""
    import types
    from pathlib import Path

    import cv2

    from hand3d_ros.visualize import draw_overlay

    def error(h):
        value = h.median_error("pipeline")
        return np.inf if not np.isfinite(value) else value

    ranked = sorted((h for h in hands if h.counted.any()), key=error)
    n = config.sheet_cases
    worst = ranked[::-1][:n]
    best = [h for h in ranked[:n] if error(h) < np.inf and not any(h is w for w in worst)]
    rows = []
    for label, h in [("worst", h) for h in worst] + [("best", h) for h in best]:
        photo = photos[h.photo]
        folder = opened[photo.folder]
        image = np.ascontiguousarray(folder.shards[photo.samples[0]]["image"])
        zoom = max(1.0, SHEET_MIN_WIDTH_PX / image.shape[1])  # small photos drawn larger
        if zoom > 1:
            image = cv2.resize(image, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_LINEAR)
        at = lambda uv: (np.asarray(uv, dtype=np.float64) + 0.5) * zoom - 0.5  # pixel centres scale about -0.5
        teacher = [types.SimpleNamespace(uv=at(t.uv), uv_score=t.kp_score, handedness=t.side, hand_id=i,
                                         crop_box=at(teacher_window(t.uv, config.crop_margin).reshape(2, 2)).ravel(),
                                         score=float(t.kp_score.mean()))
                   for i, t in enumerate(photo.hands)]
        ours = [types.SimpleNamespace(uv=at(p.uv), uv_score=np.ones(NUM_KEYPOINTS), handedness=p.side, hand_id=i,
                                      crop_box=at(np.asarray(p.box).reshape(2, 2)).ravel(), score=p.score)
                for i, p in enumerate(predictions[h.photo])]
        left, right = draw_overlay(image, teacher), draw_overlay(image, ours)
        text = (f"{label}: {photo.source} #{photo.hands[h.hand].sample} "
                + ("missed" if not h.found else f"median {h.median_error('pipeline'):.2f} hand sizes"))
        row = np.concatenate([left, np.zeros((image.shape[0], 4, 3), np.uint8), right], axis=1)
        bar = np.zeros((18, row.shape[1], 3), np.uint8)
        cv2.putText(bar, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        rows.append(np.concatenate([bar, row], axis=0))
    if not rows:
        raise ValueError("no teacher hand with counted keypoints for the contact sheet")
    sheet = np.concatenate(rows, axis=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), sheet[..., ::-1]):
        raise ValueError(f"cannot write {path}")
    return path
