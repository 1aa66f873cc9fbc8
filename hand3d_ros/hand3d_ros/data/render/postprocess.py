"""Camera effects applied to a finished image: motion blur, sensor noise, JPEG.

All functions take and return float32 sRGB ``(H, W, 3)`` in [0, 1] except
:func:`jpeg_roundtrip` and :func:`to_uint8`. OpenCV is imported lazily.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PostConfig:
    """Camera effects.

    Attributes:
        motion_blur_probability: chance of a linear motion blur (0 .. 1).
        motion_blur_px: range of the blur length at 320 px width (pixels, >= 1).
        noise_sigma: range of Gaussian sensor noise std (in 0..255 units).
        jpeg_probability: chance of a JPEG round trip (0 .. 1).
        jpeg_quality: range of JPEG quality (1 .. 100).
        gamma: range of a global gamma change (exposure / tone curve).
    """

    motion_blur_probability: float = 0.15
    motion_blur_px: tuple = (2.0, 9.0)
    noise_sigma: tuple = (0.0, 5.0)
    jpeg_probability: float = 0.75
    jpeg_quality: tuple = (40, 100)
    gamma: tuple = (0.8, 1.25)


def motion_blur_kernel(length: float, angle: float) -> np.ndarray:
    """Normalised linear blur kernel (square, odd size) of ``length`` pixels at ``angle`` radians."""
    size = int(np.ceil(length)) | 1
    k = np.zeros((size, size), np.float32)
    c = (size - 1) / 2
    for t in np.linspace(-length / 2, length / 2, max(2, int(length * 3))):
        x, y = c + t * np.cos(angle), c + t * np.sin(angle)
        xi, yi = int(round(x)), int(round(y))
        if 0 <= xi < size and 0 <= yi < size:
            k[yi, xi] += 1
    return k / k.sum()


def motion_blur(img: np.ndarray, length: float, angle: float) -> np.ndarray:
    """Linear motion blur of an image ``(H, W, 3)``."""
    import cv2

    return cv2.filter2D(img, -1, motion_blur_kernel(length, angle), borderType=cv2.BORDER_REFLECT)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 with rounding."""
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


def jpeg_roundtrip(img_u8: np.ndarray, quality: int) -> np.ndarray:
    """Encode an RGB uint8 image ``(H, W, 3)`` as JPEG at ``quality`` and decode it."""
    import cv2

    ok, buf = cv2.imencode(".jpg", img_u8[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].copy()


def apply_camera_effects(rng: np.random.Generator, img: np.ndarray, config: PostConfig | None = None) -> np.ndarray:
    """Random motion blur, tone curve (gamma), sensor noise and JPEG.

    Args:
        rng: the only source of randomness (OpenCV's generator is seeded from it).
        img: float32 sRGB ``(H, W, 3)`` in [0, 1].

    Returns:
        RGB uint8 ``(H, W, 3)``.
    """
    import cv2

    config = config or PostConfig()
    w = img.shape[1]
    if rng.random() < config.motion_blur_probability:
        img = motion_blur(img, rng.uniform(*config.motion_blur_px) * w / 320, rng.uniform(0, np.pi))
    gamma = rng.uniform(*config.gamma)
    sigma = rng.uniform(*config.noise_sigma)
    noise_seed = int(rng.integers(0, 2**31 - 1))
    out = cv2.convertScaleAbs(img, alpha=255.0)  # rounds and saturates to uint8
    lut = np.clip(np.power(np.arange(256) / 255.0, gamma) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    out = cv2.LUT(out, lut)
    if sigma > 0:
        noise = np.empty(img.shape, np.int16)
        cv2.setRNGSeed(noise_seed)
        cv2.randn(noise, 0.0, float(sigma))
        out = cv2.add(out, noise, dtype=cv2.CV_8U)
    if rng.random() < config.jpeg_probability:
        out = jpeg_roundtrip(out, int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1)))
    return out
