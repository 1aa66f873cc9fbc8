"""Deterministic hand-like frames for parity checks, calibration fallbacks and benchmarks.

Not the renderer (``hand3d render`` makes real training data): a smooth coloured
background with low-frequency texture and a skin-toned palm with five fingers, drawn
with numpy only. Good enough to give the networks natural-image statistics (smooth
regions, edges, a skin-coloured blob) instead of white noise; useless for accuracy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SyntheticFrameConfig:
    """Look of :func:`synthetic_hand_frames`."""

    texture_cells: int = 8
    """Side of the random grid upsampled into the background texture (cells); >= 2."""
    texture_amplitude: float = 40.0
    """Peak-to-peak of the background texture, 0..255 levels; >= 0."""
    noise_sigma: float = 3.0
    """Per-pixel Gaussian noise, 0..255 levels; >= 0."""
    hand_size_fraction: float = 0.35
    """Hand length (wrist to middle fingertip) as a fraction of the shorter image side; (0, 1]."""


def _upsample_grid(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear upsampling of a (h, w, C) grid to (height, width, C) (align-corners)."""
    gh, gw = grid.shape[:2]
    v = np.linspace(0.0, gh - 1.0, height)
    u = np.linspace(0.0, gw - 1.0, width)
    v0, u0 = np.clip(np.floor(v).astype(int), 0, gh - 2), np.clip(np.floor(u).astype(int), 0, gw - 2)
    fv, fu = (v - v0)[:, None, None], (u - u0)[None, :, None]
    top = grid[v0][:, u0] * (1 - fu) + grid[v0][:, u0 + 1] * fu
    bottom = grid[v0 + 1][:, u0] * (1 - fu) + grid[v0 + 1][:, u0 + 1] * fu
    return top * (1 - fv) + bottom * fv


def _capsule_mask(uu, vv, start, end, radius) -> np.ndarray:
    """(H, W) bool: pixels within ``radius`` of the segment start-end (pixels)."""
    seg = np.asarray(end, float) - np.asarray(start, float)
    length2 = max(float(seg @ seg), 1e-9)
    t = np.clip(((uu - start[0]) * seg[0] + (vv - start[1]) * seg[1]) / length2, 0.0, 1.0)
    du, dv = uu - (start[0] + t * seg[0]), vv - (start[1] + t * seg[1])
    return du * du + dv * dv <= radius * radius


def synthetic_hand_frames(count: int, height: int = 480, width: int = 640, seed: int = 0,
                          config: SyntheticFrameConfig = SyntheticFrameConfig()) -> np.ndarray:
    """``count`` RGB frames, each with one hand-like shape at a random place and angle.

    Args:
        count: number of frames, >= 1.
        height, width: frame size, pixels (>= 16 each).
        seed: the frames depend only on (count, height, width, seed, config).
    Returns:
        (count, height, width, 3) uint8 RGB.
    """
    if count < 1 or height < 16 or width < 16:
        raise ValueError(f"need count >= 1 and a frame of at least 16x16 px, got {count} x {height}x{width}")
    rng = np.random.default_rng(seed)
    vv, uu = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = np.empty((count, height, width, 3), np.uint8)
    cells = max(2, config.texture_cells)
    for index in range(count):
        base = rng.uniform(40, 200, size=(2, 2, 3))
        image = _upsample_grid(base, height, width)
        texture = rng.uniform(-0.5, 0.5, size=(cells, cells, 3)) * config.texture_amplitude
        image = image + _upsample_grid(texture, height, width)

        length = config.hand_size_fraction * min(height, width)
        center = np.array([rng.uniform(0.3, 0.7) * width, rng.uniform(0.35, 0.75) * height])
        angle = rng.uniform(-0.6, 0.6)  # radians from "fingers up"
        up = np.array([np.sin(angle), -np.cos(angle)])
        side = np.array([-up[1], up[0]])
        palm_r = 0.22 * length
        palm = ((uu - center[0]) ** 2 + (vv - center[1]) ** 2) <= palm_r ** 2
        hand = palm.copy()
        finger_r = 0.055 * length
        for k, offset in enumerate((-1.0, -0.75, -0.25, 0.25, 0.75)):  # thumb, index .. little
            if k == 0:  # thumb: from the palm's side, pointing outwards
                base_pt = center + side * (offset * palm_r) + up * (palm_r * 0.1)
                tip = base_pt + (side * -0.7 + up * 0.7) * 0.4 * length
            else:
                base_pt = center + side * (offset * palm_r) + up * (palm_r * 0.8)
                reach = (0.5 if k == 2 else 0.45 if k in (1, 3) else 0.35) * length
                tip = base_pt + up * reach * rng.uniform(0.6, 1.0)
            hand |= _capsule_mask(uu, vv, base_pt, tip, finger_r)
        hand |= _capsule_mask(uu, vv, center, center - up * 0.6 * length, palm_r * 0.8)  # forearm
        skin = np.array([rng.uniform(150, 230), rng.uniform(100, 170), rng.uniform(80, 140)])
        shade = 1.0 + 0.15 * ((uu - center[0]) * side[0] + (vv - center[1]) * side[1]) / length
        image[hand] = (skin[None, :] * shade[hand][:, None])
        image += rng.normal(0.0, config.noise_sigma, size=image.shape)
        frames[index] = np.clip(image, 0, 255).astype(np.uint8)
    return frames
