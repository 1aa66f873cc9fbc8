"""Image preprocessing: RGB normalisation and resizing to a network's input size.

Pixel convention (used by every module in ``core``): the centre of pixel (row 0,
column 0) is at ``uv = (0, 0)``, as in OpenCV and ``sensor_msgs/CameraInfo``. A W x H
image therefore covers the continuous rectangle ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``.

Resizing with ``align_corners=False`` (what :func:`resize_images` does) maps that
rectangle onto the output's rectangle, so a point moves as::

    u_out = (u_in + 0.5) * scale_u - 0.5        scale_u = W_out / W_in
    v_out = (v_in + 0.5) * scale_v - 0.5        scale_v = H_out / H_in

:class:`ResizeInfo` holds the factors and maps points and boxes both ways.

Normalisation happens before resizing or cropping: bilinear resizing, antialiasing
and cropping are linear with weights summing to one, so they commute with
``x * scale + offset``, except where :func:`hand3d_ros.core.crop.crop_images` pads
outside the frame with zeros. The authors crop the *normalised* image, so the padding
is 0, i.e. mid-grey in 0..255 terms; do the same for identical inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Tuple

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class NormalizeConfig:
    """Affine map from 8-bit RGB to the network's input values: ``x * scale + offset``."""

    scale: float = field(
        default=1.0 / 255.0,
        metadata={"help": "multiplier applied to the 0..255 values (> 0); 1/255 as the authors"},
    )
    offset: float = field(
        default=-0.5,
        metadata={"help": "added after scaling; -0.5 centres 0..1 on zero as the authors"},
    )

    def __post_init__(self):
        if not self.scale > 0:
            raise ValueError(f"NormalizeConfig.scale must be > 0, got {self.scale}")


def normalize_rgb(
    images,
    scale: float = NormalizeConfig.scale,
    offset: float = NormalizeConfig.offset,
    channels_last: bool = False,
    device=None,
) -> torch.Tensor:
    """Convert RGB images to normalised float32 network input.

    Args:
        images: ``(N, H, W, 3)`` RGB, uint8 (0..255) tensor or numpy array (any other
            dtype is taken as 0..255 values too).
        scale, offset: output = ``images * scale + offset`` (defaults: the authors'
            ``x / 255 - 0.5``).
        channels_last: return a tensor in ``torch.channels_last`` memory format (same
            shape, NHWC strides), which convolutions on GPU often prefer.
        device: optional device to move to *before* converting (moving uint8 is 4x
            cheaper than moving float32). ``None`` keeps the input's device.

    Returns:
        ``(N, 3, H, W)`` float32 on the input's (or the given) device.
    """
    images = torch.as_tensor(images)
    if images.dim() != 4 or images.shape[-1] != 3:
        raise ValueError(f"normalize_rgb expects (N, H, W, 3) RGB, got shape {tuple(images.shape)}")
    if device is not None:
        images = images.to(device, non_blocking=True)
    out = images.permute(0, 3, 1, 2).to(torch.float32) * scale + offset
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return out.contiguous(memory_format=memory_format)


@dataclass(frozen=True)
class ResizeInfo:
    """How a resize maps pixel coordinates (see the module docstring for the rule).

    Attributes:
        in_hw: ``(H_in, W_in)`` size before resizing, pixels.
        out_hw: ``(H_out, W_out)`` size after resizing, pixels.
    """

    in_hw: Tuple[int, int]
    out_hw: Tuple[int, int]

    @property
    def scale_uv(self) -> Tuple[float, float]:
        """``(scale_u, scale_v) = (W_out / W_in, H_out / H_in)``: output pixels per input pixel."""
        return (self.out_hw[1] / self.in_hw[1], self.out_hw[0] / self.in_hw[0])

    def to_resized(self, uv):
        """Map points ``(..., 2)`` (u, v) in input pixels to resized pixels (numpy or torch)."""
        su, sv = self.scale_uv
        return _affine_uv(uv, su, sv, 0.5 * su - 0.5, 0.5 * sv - 0.5)

    def to_original(self, uv):
        """Map points ``(..., 2)`` (u, v) in resized pixels back to input pixels (numpy or torch)."""
        su, sv = self.scale_uv
        return _affine_uv(uv, 1.0 / su, 1.0 / sv, 0.5 / su - 0.5, 0.5 / sv - 0.5)

    def box_to_original(self, box):
        """Map boxes ``(..., 4)`` ``[u_min, v_min, u_max, v_max]`` (continuous, pixel
        centres at integers) from resized to input pixels."""
        return _map_box(box, self.to_original)

    def box_to_resized(self, box):
        """Map boxes ``(..., 4)`` from input to resized pixels (inverse of :meth:`box_to_original`)."""
        return _map_box(box, self.to_resized)


def _affine_uv(uv, su, sv, bu, bv):
    u = uv[..., 0] * su + bu
    v = uv[..., 1] * sv + bv
    if isinstance(uv, torch.Tensor):
        return torch.stack((u, v), dim=-1)
    import numpy as np

    return np.stack((u, v), axis=-1)


def _map_box(box, point_map):
    lo = point_map(box[..., 0:2])
    hi = point_map(box[..., 2:4])
    if isinstance(box, torch.Tensor):
        return torch.cat((lo, hi), dim=-1)
    import numpy as np

    return np.concatenate((lo, hi), axis=-1)


@dataclass(frozen=True)
class ResizeConfig:
    """Resizing a whole frame to the segmentation network's input."""

    out_hw: Tuple[int, int] = field(
        default=(240, 320),
        metadata={
            "help": "(H, W) of the network input, pixels, each >= 1; 320x240 (W x H) as the authors"
        },
    )
    antialias: bool = field(
        default=True,
        metadata={
            "help": "low-pass filter when shrinking (no effect when enlarging); see resize_images"
        },
    )

    def __post_init__(self):
        if len(self.out_hw) != 2 or min(self.out_hw) < 1:
            raise ValueError(
                f"ResizeConfig.out_hw must be (H, W) with both >= 1, got {self.out_hw}"
            )


def resize_images(
    images: torch.Tensor,
    out_hw: Tuple[int, int] = ResizeConfig.out_hw,
    antialias: bool = ResizeConfig.antialias,
) -> Tuple[torch.Tensor, ResizeInfo]:
    """Bilinearly resize a batch to the network input size.

    ``antialias``: plain bilinear interpolation (``antialias=False``, what the
    authors' ``tf.image.resize_images`` does) reads only the 2x2 input pixels around
    each output pixel. When shrinking by more than 2x (e.g. 1280x720 -> 320x240) it
    skips input pixels and aliases fine texture; at exactly 2x it is a clean 2x2 box
    average. ``antialias=True`` (default here) widens the kernel by the shrink factor
    (like PIL / cv2.INTER_AREA), which is what a network trained on clean downscaled
    images expects. It changes nothing when enlarging. Training and inference should
    use the same setting. Both run on the tensor's device (CPU and CUDA).

    Args:
        images: ``(N, C, H_in, W_in)`` float tensor (e.g. from :func:`normalize_rgb`).
        out_hw: ``(H_out, W_out)`` pixels.
        antialias: see above.

    Returns:
        ``(resized (N, C, H_out, W_out), info)``; ``info`` maps pixel coordinates between
        the two sizes (:class:`ResizeInfo`).
    """
    if images.dim() != 4:
        raise ValueError(f"resize_images expects (N, C, H, W), got shape {tuple(images.shape)}")
    in_hw = (int(images.shape[-2]), int(images.shape[-1]))
    out_hw = (int(out_hw[0]), int(out_hw[1]))
    info = ResizeInfo(in_hw=in_hw, out_hw=out_hw)
    if in_hw == out_hw:
        return images, info
    resized = F.interpolate(
        images, size=out_hw, mode="bilinear", align_corners=False, antialias=antialias
    )
    return resized, info
