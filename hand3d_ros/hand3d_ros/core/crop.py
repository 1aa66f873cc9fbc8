"""Square hand crops: choosing the window, cutting it out, and mapping points both ways.

Pixel convention (one for the whole package, as OpenCV and ``sensor_msgs/CameraInfo``):
the centre of pixel (row 0, column 0) is at ``uv = (0, 0)``; a W x H image covers
``[-0.5, W - 0.5] x [-0.5, H - 0.5]``.

Crop mapping. A crop of ``S x S`` pixels (``output_size``) with centre ``c = (c_u, c_v)``
(image pixels) and ``scale`` (crop pixels per image pixel) covers the image window
``c +- side / 2`` with ``side = S / scale``, and maps points by::

    uv_crop = (uv - c) * scale + (S - 1) / 2          (crop_uv)
    uv      = (uv_crop - (S - 1) / 2) / scale + c     (uncrop_uv)

so the window's centre ``c`` lands on the crop's centre ``(S - 1) / 2`` (127.5 for 256;
the authors' ``(uv_crop - 128) / scale + center`` is the same rule in the pixel-corner
convention). :func:`crop_images` samples exactly this mapping (bilinear, zeros
outside the frame), so a feature at image ``uv`` appears at ``crop_uv(uv)``.

Choosing the window (DESIGN.md section 1 step 3): centre = centre of a box (of the
hand mask, or of confident keypoints while tracking), ``side = margin * max(box w, box
h)``, ``scale = S / side`` clamped to ``[scale_min, scale_max]``; ``side`` is then
recomputed as ``S / scale``, the window actually cut. Without a box: the image centre
and ``fallback_side_px``.

Boxes are ``[u_min, v_min, u_max, v_max]`` in continuous pixels (see
:mod:`hand3d_ros.core.mask`).

Note: with ``scale < 1`` (a hand larger than S pixels) bilinear sampling reads only
the 2x2 pixels around each sample and aliases, as the authors' crop does; resize the
frame first if that matters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from hand3d_ros.core.mask import mask_to_box


@dataclass(frozen=True)
class CropConfig:
    """How the crop window is chosen (DESIGN.md section 1 step 3)."""

    margin: float = field(
        default=1.25,
        metadata={
            "help": "crop side / max(box width, box height); range [1, 3]; 1.25 as the authors"
        },
    )
    output_size: int = field(
        default=256,
        metadata={"help": "side S of the square crop, pixels; range [8, 4096]; PoseNet takes 256"},
    )
    scale_min: float = field(
        default=0.25,
        metadata={
            "help": "smallest scale (crop px per image px), i.e. largest window S/scale_min; > 0"
        },
    )
    scale_max: float = field(
        default=5.0,
        metadata={
            "help": "largest scale, i.e. smallest window S/scale_max (51.2 px for 256); >= scale_min"
        },
    )
    fallback_side_px: float = field(
        default=100.0,
        metadata={"help": "window side (image pixels) when there is no box; > 0"},
    )

    def __post_init__(self):
        if not 1.0 <= self.margin <= 3.0:
            raise ValueError(f"CropConfig.margin must be in [1, 3], got {self.margin}")
        if not 8 <= self.output_size <= 4096:
            raise ValueError(f"CropConfig.output_size must be in [8, 4096], got {self.output_size}")
        if not 0 < self.scale_min <= self.scale_max:
            raise ValueError(
                f"CropConfig needs 0 < scale_min <= scale_max, got {self.scale_min}, {self.scale_max}"
            )
        if not self.fallback_side_px > 0:
            raise ValueError(
                f"CropConfig.fallback_side_px must be > 0, got {self.fallback_side_px}"
            )


@dataclass
class CropBox:
    """A batch of square crop windows.

    Attributes:
        center: ``(N, 2)`` float, window centre (u, v), image pixels.
        scale: ``(N,)`` float, crop pixels per image pixel (``output_size / side``).
        side: ``(N,)`` float, window side in image pixels (``output_size / scale``).
        fallback: ``(N,)`` bool, True where no box was available and the fallback was used.
        output_size: S, side of the crop in pixels.
    """

    center: torch.Tensor
    scale: torch.Tensor
    side: torch.Tensor
    fallback: torch.Tensor
    output_size: int

    def to_box(self) -> torch.Tensor:
        """``(N, 4)`` ``[u_min, v_min, u_max, v_max]``: the image window, continuous pixels."""
        half = (self.side / 2)[:, None]
        return torch.cat((self.center - half, self.center + half), dim=-1)

    def crop_uv(self, uv):
        """:func:`crop_uv` with this box: image pixels ``(N, K, 2)`` or ``(N, 2)`` -> crop pixels."""
        return crop_uv(uv, self.center, self.scale, self.output_size)

    def uncrop_uv(self, uv_crop):
        """:func:`uncrop_uv` with this box: crop pixels -> image pixels."""
        return uncrop_uv(uv_crop, self.center, self.scale, self.output_size)

    def crop_images(self, images: torch.Tensor) -> torch.Tensor:
        """:func:`crop_images` with this box: ``(N, C, H, W)`` -> ``(N, C, S, S)``."""
        return crop_images(images, self.center, self.scale, self.output_size)


def crop_from_box(
    box: torch.Tensor,
    valid: Optional[torch.Tensor],
    image_hw: Tuple[int, int],
    config: CropConfig = CropConfig(),
) -> CropBox:
    """Crop windows around boxes (margin, clamping and fallback as in the module docstring).

    Args:
        box: ``(N, 4)`` ``[u_min, v_min, u_max, v_max]``, image pixels.
        valid: ``(N,)`` bool, False where there is no box (fallback); ``None``: all valid.
        image_hw: ``(H, W)`` of the image, pixels (for the fallback centre).
        config: :class:`CropConfig`.

    Returns:
        :class:`CropBox` on ``box``'s device.
    """
    box = torch.as_tensor(box, dtype=torch.float32)
    device = box.device
    if valid is None:
        valid = torch.ones(box.shape[0], dtype=torch.bool, device=device)
    valid = torch.as_tensor(valid, dtype=torch.bool, device=device)
    height, width = image_hw
    image_center = torch.tensor([(width - 1) / 2.0, (height - 1) / 2.0], device=device)
    center = torch.where(valid[:, None], (box[:, 0:2] + box[:, 2:4]) / 2, image_center)
    extent = torch.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
    side_wanted = torch.where(
        valid, config.margin * extent, torch.full_like(extent, config.fallback_side_px)
    )
    size = float(config.output_size)
    # side 0 (a single point) gives scale inf, which the clamp turns into scale_max.
    scale = (size / side_wanted).clamp(config.scale_min, config.scale_max)
    return CropBox(
        center=center,
        scale=scale,
        side=size / scale,
        fallback=~valid,
        output_size=config.output_size,
    )


def crop_from_mask(mask: torch.Tensor, config: CropConfig = CropConfig()) -> CropBox:
    """Crop windows around the hand masks.

    Args:
        mask: ``(N, H, W)`` bool (e.g. :func:`hand3d_ros.core.mask.hand_mask`), tensor on any device.
        config: :class:`CropConfig`.

    Returns:
        :class:`CropBox`; empty masks use the image centre ``((W-1)/2, (H-1)/2)`` and
        ``config.fallback_side_px`` (``fallback`` True).
    """
    mask = torch.as_tensor(mask)
    box, nonempty = mask_to_box(mask)
    return crop_from_box(box, nonempty, (mask.shape[1], mask.shape[2]), config)


@dataclass(frozen=True)
class KeypointCropConfig:
    """Which keypoints count when a crop follows the previous frame's keypoints."""

    min_score: float = field(
        default=0.3, metadata={"help": "keypoints with score >= this are used; range [0, 1]"}
    )
    min_keypoints: int = field(
        default=3,
        metadata={
            "help": "fewer confident keypoints than this means no box (fallback); range [1, 21]"
        },
    )

    def __post_init__(self):
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(
                f"KeypointCropConfig.min_score must be in [0, 1], got {self.min_score}"
            )
        if not 1 <= self.min_keypoints <= 21:
            raise ValueError(
                f"KeypointCropConfig.min_keypoints must be in [1, 21], got {self.min_keypoints}"
            )


def crop_from_keypoints(
    uv: torch.Tensor,
    score: torch.Tensor,
    min_score: float = KeypointCropConfig.min_score,
    config: CropConfig = CropConfig(),
    *,
    image_hw: Tuple[int, int],
    min_keypoints: int = KeypointCropConfig.min_keypoints,
) -> CropBox:
    """Crop windows around confident keypoints (for tracking), same margin rule.

    The box is the bounding box of the keypoints with ``score >= min_score`` (points,
    so no half-pixel padding). Keypoints are joint centres, so this box is tighter
    than the mask's; a larger ``config.margin`` may suit tracking.

    Args:
        uv: ``(N, K, 2)`` keypoints, image pixels.
        score: ``(N, K)`` confidence.
        min_score: keypoints with ``score >= min_score`` count (:class:`KeypointCropConfig`).
        config: :class:`CropConfig`.
        image_hw: ``(H, W)`` of the image, pixels (for the fallback centre).
        min_keypoints: see :class:`KeypointCropConfig`.

    Returns:
        :class:`CropBox`; fallback where fewer than ``min_keypoints`` are confident.
    """
    uv = torch.as_tensor(uv, dtype=torch.float32)
    score = torch.as_tensor(score, device=uv.device)
    use = (score >= min_score) & torch.isfinite(uv).all(dim=-1)
    inf = torch.tensor(float("inf"), device=uv.device)
    lo = torch.where(use[..., None], uv, inf).amin(dim=1)
    hi = torch.where(use[..., None], uv, -inf).amax(dim=1)
    valid = use.sum(dim=1) >= min_keypoints
    box = torch.where(
        valid[:, None], torch.cat((lo, hi), dim=-1), torch.zeros((), device=uv.device)
    )
    return crop_from_box(box, valid, image_hw, config)


def crop_uv(uv, center, scale, output_size: int):
    """Map image pixels to crop pixels (module docstring); numpy or torch.

    Args:
        uv: ``(N, K, 2)`` or ``(N, 2)`` image pixels.
        center: ``(N, 2)`` window centres, image pixels.
        scale: ``(N,)`` crop pixels per image pixel.
        output_size: S.

    Returns:
        Crop pixels, shape of ``uv``.
    """
    offset = (output_size - 1) / 2.0
    c = center[:, None, :] if uv.ndim == 3 else center
    s = scale.reshape(scale.shape[:1] + (1,) * (uv.ndim - 1))
    return (uv - c) * s + offset


def uncrop_uv(uv_crop, center, scale, output_size: int):
    """Map crop pixels back to image pixels (exact inverse of :func:`crop_uv`); numpy or torch.

    Args:
        uv_crop: ``(N, K, 2)`` or ``(N, 2)`` crop pixels.
        center, scale, output_size: as :func:`crop_uv`.

    Returns:
        Image pixels, shape of ``uv_crop``.
    """
    offset = (output_size - 1) / 2.0
    c = center[:, None, :] if uv_crop.ndim == 3 else center
    s = scale.reshape(scale.shape[:1] + (1,) * (uv_crop.ndim - 1))
    return (uv_crop - offset) / s + c


def crop_images(
    images: torch.Tensor, center: torch.Tensor, scale: torch.Tensor, output_size: int
) -> torch.Tensor:
    """Cut square crops out of a batch by bilinear sampling (zeros outside the frame).

    Consistent with :func:`crop_uv`: the value at image ``uv`` appears at crop pixel
    ``crop_uv(uv)``. Runs on the images' device (one ``grid_sample``; the windows are
    axis-aligned, so the sampling grid is an outer sum of one row and one column, which
    costs a fifth of ``affine_grid`` on a CPU).

    Args:
        images: ``(N, C, H, W)`` float (normalise first: padding is 0 in that space).
        center: ``(N, 2)`` window centres (u, v), image pixels.
        scale: ``(N,)`` crop pixels per image pixel.
        output_size: S.

    Returns:
        ``(N, C, S, S)`` crops, dtype of ``images``.
    """
    n, _, height, width = images.shape
    center = torch.as_tensor(center, dtype=images.dtype, device=images.device)
    scale = torch.as_tensor(scale, dtype=images.dtype, device=images.device)
    # grid_sample (align_corners=False) reads normalised x_n = (2u + 1) / W - 1; crop pixel
    # x has the base coordinate (2x + 1) / S - 1 (affine_grid's). Composing with uncrop_uv:
    #   x_n = base * S / (W * scale) + (2 c_u + 1) / W - 1   (same for v with H).
    base = (2 * torch.arange(output_size, dtype=images.dtype, device=images.device) + 1) / output_size - 1
    x_n = base * (output_size / (width * scale))[:, None] + ((2 * center[:, 0] + 1) / width - 1)[:, None]
    y_n = base * (output_size / (height * scale))[:, None] + ((2 * center[:, 1] + 1) / height - 1)[:, None]
    grid = torch.stack((x_n[:, None, :].expand(n, output_size, output_size),
                        y_n[:, :, None].expand(n, output_size, output_size)), dim=-1)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
