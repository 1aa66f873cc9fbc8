"""Drawing estimated hands over images: mask outline, crop box, 2D skeleton, label.

Used by the node's ``~/debug_image``, ``hand3d infer`` and the demo. OpenCV is imported
lazily (only when something is drawn).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hand3d_ros.core import keypoints as kp

SIDE_LABELS = {0: "left", 1: "right", 2: "?"}


@dataclass(frozen=True)
class OverlayStyle:
    """Sizes of the overlay, in pixels of a 640-pixel-wide image (scaled with the image)."""

    line_px: float = 2.0
    joint_radius_px: float = 3.0
    font_scale: float = 0.5
    min_keypoint_score: float = 0.1
    """Keypoints with a lower score are not drawn; range [0, 1]."""
    mask_color: tuple = (0, 255, 255)
    box_color: tuple = (255, 255, 255)


def _rgb255(rgb01) -> tuple:
    return tuple(int(round(255 * c)) for c in rgb01)


def draw_overlay(rgb: np.ndarray, hands, mask=None, style: OverlayStyle = OverlayStyle()) -> np.ndarray:
    """A copy of ``rgb`` (H, W, 3 uint8) with the hands drawn on it.

    ``hands``: objects with ``uv`` (21, 2) px, ``uv_score`` (21,), ``crop_box`` (4,)
    [u_min, v_min, u_max, v_max] px, ``handedness`` (0 left, 1 right, 2 unknown),
    ``score`` and ``hand_id``. ``mask``: (H, W) bool hand mask or None.
    """
    import cv2

    canvas = np.ascontiguousarray(rgb, dtype=np.uint8).copy()
    scale = max(canvas.shape[1] / 640.0, 0.5)
    thick = max(1, int(round(style.line_px * scale)))
    radius = max(1, int(round(style.joint_radius_px * scale)))
    if mask is not None and np.any(mask):
        contours, _ = cv2.findContours(np.asarray(mask, dtype=np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(canvas, contours, -1, style.mask_color, thick)
    shift = 4  # sub-pixel drawing: coordinates in 1/16 px
    for hand in hands:
        uv = np.asarray(hand.uv, dtype=np.float64)
        ok = np.asarray(hand.uv_score) >= style.min_keypoint_score
        fixed = np.round(uv * (1 << shift)).astype(np.int64)
        box = np.asarray(hand.crop_box, dtype=np.float64)
        if np.all(np.isfinite(box)):
            p0, p1 = np.round(box[:2] * (1 << shift)).astype(int), np.round(box[2:] * (1 << shift)).astype(int)
            cv2.rectangle(canvas, tuple(map(int, p0)), tuple(map(int, p1)), style.box_color, 1, cv2.LINE_AA, shift)
        for parent, child in kp.BONES:
            if ok[parent] and ok[child]:
                cv2.line(canvas, tuple(map(int, fixed[parent])), tuple(map(int, fixed[child])),
                         _rgb255(kp.keypoint_color(child)), thick, cv2.LINE_AA, shift)
        for i in np.flatnonzero(ok):
            cv2.circle(canvas, tuple(map(int, fixed[i])), radius << shift, _rgb255(kp.keypoint_color(i)), -1,
                       cv2.LINE_AA, shift)
        side = SIDE_LABELS.get(int(hand.handedness), "?")
        text = f"#{int(hand.hand_id)} {side} {float(hand.score):.2f}"
        origin = (int(box[0]), max(int(box[1]) - 4, 12)) if np.all(np.isfinite(box)) else (4, 16)
        cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, style.font_scale * scale, (0, 0, 0),
                    thick + 2, cv2.LINE_AA)
        cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, style.font_scale * scale, (255, 255, 255),
                    thick, cv2.LINE_AA)
    return canvas


@dataclass(frozen=True)
class View3DStyle:
    """An oblique orthographic view of the camera frame, for a side-by-side 3D picture."""

    size_px: int = 320
    """Side of the square picture, pixels."""
    center_m: tuple = (0.0, 0.0, 0.5)
    """Camera-frame point at the centre of the picture, metres."""
    extent_m: float = 0.45
    """Width of the scene shown, metres."""
    azimuth_deg: float = 55.0
    """Rotation of the view about the camera's vertical (y) axis, degrees."""
    elevation_deg: float = 25.0
    """How far the view looks down on the scene, degrees."""
    floor_y_m: float = 0.2
    """Height of the floor grid in the camera frame (y points down), metres."""
    grid_m: float = 0.1
    """Spacing of the grid lines, metres."""
    axis_length_m: float = 0.04
    """Length of a hand frame's axes, metres."""


#: x, y, z axis colours (RGB), as RViz draws frames.
AXIS_COLORS = ((230, 60, 60), (60, 230, 60), (60, 120, 255))


def _view_rotation(style: View3DStyle) -> np.ndarray:
    az, el = np.radians(style.azimuth_deg), np.radians(style.elevation_deg)
    about_y = np.array([[np.cos(az), 0, np.sin(az)], [0, 1, 0], [-np.sin(az), 0, np.cos(az)]])
    about_x = np.array([[1, 0, 0], [0, np.cos(el), -np.sin(el)], [0, np.sin(el), np.cos(el)]])
    return about_x @ about_y


def draw_3d_view(hands, truth=None, style: View3DStyle = View3DStyle()) -> np.ndarray:
    """(S, S, 3) uint8 RGB: the metric hands in the camera frame, seen obliquely.

    ``hands``: objects with ``xyz`` (21, 3) metres in the optical frame (x right, y down,
    z forward; NaN hands are skipped) and optionally ``palm_origin`` (3,) metres and
    ``palm_rotation`` (3, 3) (columns: the palm axes; the hand's TF frame), drawn as
    axes like RViz's TF display; ``truth``: optional list of (21, 3) ground-truth
    keypoints, drawn thin and grey. The camera's position and axes are drawn (x red,
    y green, z blue) with a floor grid for depth.
    """
    import cv2

    s = style.size_px
    canvas = np.full((s, s, 3), 24, np.uint8)
    rot = _view_rotation(style)
    center = np.asarray(style.center_m, dtype=np.float64)
    scale = (s - 1) / style.extent_m

    def to_px(xyz):
        p = (np.asarray(xyz, dtype=np.float64) - center) @ rot.T
        return np.stack([p[..., 0] * scale + s / 2, p[..., 1] * scale + s / 2], axis=-1)

    def line(a, b, color, thick=1):
        pa, pb = to_px(a), to_px(b)
        if np.all(np.isfinite(pa)) and np.all(np.isfinite(pb)):
            cv2.line(canvas, tuple(int(round(c)) for c in pa), tuple(int(round(c)) for c in pb), color, thick,
                     cv2.LINE_AA)

    half = style.extent_m
    ticks = np.arange(-half, half + 1e-9, style.grid_m)
    for t in ticks:
        line(center + [t, 0, 0] + [0, style.floor_y_m - center[1], -half],
             center + [t, 0, 0] + [0, style.floor_y_m - center[1], half], (48, 48, 48))
        line(center + [0, 0, t] + [-half, style.floor_y_m - center[1], 0],
             center + [0, 0, t] + [half, style.floor_y_m - center[1], 0], (48, 48, 48))
    origin = np.zeros(3)
    for axis, color in zip(np.eye(3) * 0.06, AXIS_COLORS):
        line(origin, axis, color, 2)
    for xyz in truth or []:
        for parent, child in kp.BONES:
            line(xyz[parent], xyz[child], (130, 130, 130), 1)
    for hand in hands:
        xyz = np.asarray(hand.xyz, dtype=np.float64)
        if not np.all(np.isfinite(xyz)):
            continue
        for parent, child in kp.BONES:
            line(xyz[parent], xyz[child], _rgb255(kp.keypoint_color(child)), 2)
        origin, rotation = getattr(hand, "palm_origin", None), getattr(hand, "palm_rotation", None)
        if origin is not None and rotation is not None:
            for axis, color in zip(np.asarray(rotation, dtype=np.float64).T, AXIS_COLORS):
                line(origin, np.asarray(origin) + style.axis_length_m * axis, color, 2)
    cv2.putText(canvas, "3D, camera frame (m)", (4, s - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (170, 170, 170), 1,
                cv2.LINE_AA)
    return canvas
