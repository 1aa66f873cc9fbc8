"""Cast shadows of a directional light with a small shadow map.

The scene is rasterised from a distant camera looking along the light (a nearly
orthographic view of a sphere around the hand); a surface point is in shadow when
something lies closer to the light along its ray. Percentage-closer filtering over a
3x3 neighbourhood softens the edges.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .camera import frame_from_axis
from .raster import rasterize


@dataclass
class ShadowConfig:
    """Shadow map settings.

    Attributes:
        map_size: shadow map resolution (pixels, >= 16).
        radius_m: radius of the region around the hand that can cast and receive
            shadows (metres).
        distance_m: distance of the light camera from the hand (metres; larger = closer
            to orthographic).
        bias_m: constant depth tolerance against self-shadowing (metres); a slope
            term of two texels times tan(angle to the light) is added.
        normal_offset_m: receivers are moved this far along their normal (metres).
    """

    map_size: int = 128
    radius_m: float = 0.3
    distance_m: float = 3.0
    bias_m: float = 0.004
    normal_offset_m: float = 0.003


def shadow_visibility(vertices_cam: np.ndarray, faces: np.ndarray, centre: np.ndarray, light_dir: np.ndarray,
                      points_cam: np.ndarray, normals: np.ndarray,
                      config: ShadowConfig | None = None) -> np.ndarray:
    """Fraction ``(N,)`` in [0, 1] of light reaching each point (1 = fully lit).

    Args:
        vertices_cam, faces: the shadow casters (camera frame, metres).
        centre: ``(3,)`` centre of the region of interest (the hand).
        light_dir: ``(3,)`` unit vector from the surfaces toward the light.
        points_cam, normals: ``(N, 3)`` receivers and their unit normals.
    """
    config = config or ShadowConfig()
    d = np.asarray(light_dir, np.float64) / np.linalg.norm(light_dir)
    eye = np.asarray(centre, np.float64) + d * config.distance_m
    R = frame_from_axis(-d, 0.0)  # light camera axes in the camera frame (z toward the scene)
    size = int(config.map_size)
    f = 0.5 * size * config.distance_m / config.radius_m
    K = np.array([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1.0]])
    casters = (np.asarray(vertices_cam, np.float64) - eye) @ R
    frag = rasterize(casters, faces, K, size, size, near=0.05)
    depth = np.full(size * size, np.inf, np.float32)
    depth[frag.pixel] = frag.depth
    depth = depth.reshape(size, size)
    receivers = (np.asarray(points_cam, np.float64) + config.normal_offset_m * normals - eye) @ R
    z = receivers[:, 2]
    u = f * receivers[:, 0] / z + K[0, 2]
    v = f * receivers[:, 1] / z + K[1, 2]
    col = np.round(u).astype(np.int64)
    row = np.round(v).astype(np.int64)
    # slope-scaled bias: a surface tilted away from the light changes depth by up to
    # tan(angle) per texel, and the filter looks one texel aside
    texel = 2.0 * config.radius_m / size
    cos = np.clip(normals @ d, 0.2, 1.0)
    bias = config.bias_m + 2.0 * texel * np.sqrt(1.0 - cos * cos) / cos
    lit = np.zeros(len(z), np.float32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            r = np.clip(row + dy, 0, size - 1)
            c = np.clip(col + dx, 0, size - 1)
            lit += (z <= depth[r, c] + bias)
    lit /= 9.0
    outside = (col < 0) | (col >= size) | (row < 0) | (row >= size) | (z <= 0)
    lit[outside] = 1.0
    return lit
