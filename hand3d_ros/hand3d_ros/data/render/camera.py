"""Camera intrinsics and hand placement in the camera (optical) frame.

Camera frame: x right, y down, z forward (metres). ``K`` maps camera points to
pixels with pixel centres at integer coordinates (OpenCV convention).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CameraConfig:
    """Ranges for random cameras and hand placement.

    Attributes:
        hfov_deg: horizontal field of view range (degrees, 0 < lo <= hi < 180).
        principal_jitter: max offset of the principal point from the image centre, as
            a fraction of the image size (0 .. 0.2).
        aspect_jitter: max relative difference between fy and fx (0 .. 0.05).
        distance_m: range of the distance from the camera centre to the hand centre
            (metres, the paper's 0.40-0.65).
        centre_margin: the hand centre projects into the image shrunk by this fraction
            of its size on every side (0 .. 0.45).
        max_forearm_toward_camera: the forearm direction (wrist -> elbow) may point
            toward the camera by at most this z component (0 .. 1; 0 = never toward it).
    """

    hfov_deg: tuple = (45.0, 75.0)
    principal_jitter: float = 0.03
    aspect_jitter: float = 0.01
    distance_m: tuple = (0.40, 0.65)
    centre_margin: float = 0.15
    max_forearm_toward_camera: float = 0.35


def focal_from_hfov(width: int, hfov_deg: float) -> float:
    """Focal length in pixels for an image ``width`` pixels wide with the given horizontal FOV."""
    return 0.5 * width / np.tan(0.5 * np.deg2rad(hfov_deg))


def sample_intrinsics(rng: np.random.Generator, width: int, height: int,
                      config: CameraConfig | None = None) -> np.ndarray:
    """Random pinhole intrinsics ``(3, 3)`` float64 (pixels)."""
    config = config or CameraConfig()
    fx = focal_from_hfov(width, rng.uniform(*config.hfov_deg))
    fy = fx * (1.0 + rng.uniform(-config.aspect_jitter, config.aspect_jitter))
    cx = (width - 1) / 2.0 + rng.uniform(-1, 1) * config.principal_jitter * width
    cy = (height - 1) / 2.0 + rng.uniform(-1, 1) * config.principal_jitter * height
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def scale_intrinsics(K: np.ndarray, factor: float) -> np.ndarray:
    """Intrinsics of the same camera rendered at ``factor`` times the resolution
    (pixel centres stay at integer coordinates: ``u' = factor * (u + 0.5) - 0.5``)."""
    K2 = np.array(K, dtype=np.float64)
    K2[0, 0] *= factor
    K2[1, 1] *= factor
    K2[0, 2] = factor * (K[0, 2] + 0.5) - 0.5
    K2[1, 2] = factor * (K[1, 2] + 0.5) - 0.5
    return K2


def frame_from_axis(axis: np.ndarray, twist: float) -> np.ndarray:
    """Rotation ``(3, 3)`` whose third column is the unit vector ``axis`` and whose
    first two columns are rotated by ``twist`` radians about it."""
    z = axis / np.linalg.norm(axis)
    helper = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c, s = np.cos(twist), np.sin(twist)
    return np.stack([c * x + s * y, -s * x + c * y, z], axis=1)


def sample_forearm_rotation(rng: np.random.Generator, config: CameraConfig | None = None) -> np.ndarray:
    """Rotation ``(3, 3)`` from the wrist frame (-Z to the fingers, +Z to the elbow,
    +Y the back of the hand) to the camera frame: the forearm direction is uniform on
    the sphere except pointing too much toward the camera; the twist about it (palm
    or back toward the camera) is uniform."""
    config = config or CameraConfig()
    while True:
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        if -d[2] <= config.max_forearm_toward_camera:
            break
    return frame_from_axis(d, rng.uniform(0, 2 * np.pi))


def sample_hand_centre(rng: np.random.Generator, K: np.ndarray, width: int, height: int,
                       config: CameraConfig | None = None) -> np.ndarray:
    """Camera-frame position ``(3,)`` (metres) for the hand centre: a pixel in the
    image's central area, at a Euclidean distance drawn from ``config.distance_m``."""
    config = config or CameraConfig()
    m = config.centre_margin
    u = rng.uniform(m * width, (1 - m) * width)
    v = rng.uniform(m * height, (1 - m) * height)
    ray = np.linalg.solve(K, np.array([u, v, 1.0]))
    return ray / np.linalg.norm(ray) * rng.uniform(*config.distance_m)
