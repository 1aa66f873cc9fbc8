"""Training targets built on batches (torch): GT crops, score maps, canonical targets.

Shapes: N batch, K = 21 keypoints, S crop side (px), M = S / 8 map side (cells).
All functions run on the device of their inputs; randomness comes from an explicit
``torch.Generator`` (CPU) so that a step's batch is reproducible.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from hand3d_ros.core.canonical import canonical_transform, normalize_pose
from hand3d_ros.core.crop import CropBox, CropConfig, crop_from_box
from hand3d_ros.core.heatmap import GaussianHeatmap
from hand3d_ros.models.tables import POSENET_MAP_STRIDE

#: Score-map sigma at a 256 px crop (input pixels); scaled with the crop size. Must match
#: ``inference.pipeline.PipelineConfig.heatmap_sigma`` (the decoder's codec).
HEATMAP_SIGMA_AT_256 = 16.0
#: Crop size the keypoint-noise and sigma settings refer to.
REFERENCE_CROP = 256.0


def heatmap_codec(crop_size: int, sigma_at_256: float = HEATMAP_SIGMA_AT_256) -> GaussianHeatmap:
    """The Gaussian codec PoseNet is trained with and the pipeline decodes with:
    input ``crop_size`` px, maps ``crop_size / 8`` cells, sigma ``sigma_at_256 * S / 256``."""
    return GaussianHeatmap(input_size=crop_size, heatmap_size=crop_size // POSENET_MAP_STRIDE,
                           sigma=sigma_at_256 * crop_size / REFERENCE_CROP)


def _randn(shape, generator, device) -> torch.Tensor:
    return torch.randn(shape, generator=generator).to(device)


def _rand(shape, generator, device) -> torch.Tensor:
    return torch.rand(shape, generator=generator).to(device)


def keypoint_box(uv: torch.Tensor, visible: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Box around the visible keypoints.

    Args:
        uv: ``(N, K, 2)`` image pixels. visible: ``(N, K)`` bool.

    Returns:
        ``(box (N, 4) [u_min, v_min, u_max, v_max] px, valid (N,) bool)``; samples with no
        visible keypoint use all keypoints (valid False only if there are none at all).
    """
    vis = visible.bool()
    use = torch.where(vis.any(dim=1, keepdim=True), vis, torch.ones_like(vis))
    big = torch.finfo(uv.dtype).max
    lo = torch.where(use[..., None], uv, torch.full_like(uv, big)).amin(dim=1)
    hi = torch.where(use[..., None], uv, torch.full_like(uv, -big)).amax(dim=1)
    return torch.cat((lo, hi), dim=-1), use.any(dim=1)


def gt_crops(uv: torch.Tensor, visible: torch.Tensor, image_hw: Tuple[int, int], crop_size: int,
             margin: float = 1.25, center_noise: float = 0.0, scale_noise: float = 0.0,
             generator: Optional[torch.Generator] = None) -> CropBox:
    """Ground-truth crop windows (the visible keypoints' box x ``margin``), optionally jittered.

    Args:
        uv: ``(N, K, 2)`` image pixels. visible: ``(N, K)`` bool.
        image_hw: ``(H, W)`` px. crop_size: S px.
        margin: crop side / larger side of the box.
        center_noise: std of the centre shift, fraction of the window side.
        scale_noise: std of log(window side).
        generator: source of the noise (required when a noise is > 0).

    Returns:
        :class:`CropBox` of N windows (clamped to the crop config's scale range).
    """
    box, valid = keypoint_box(uv, visible)
    config = CropConfig(margin=margin, output_size=crop_size)
    crops = crop_from_box(box, valid, image_hw, config)
    if center_noise <= 0 and scale_noise <= 0:
        return crops
    n, device = uv.shape[0], uv.device
    center = crops.center + _randn((n, 2), generator, device) * center_noise * crops.side[:, None]
    scale = crops.scale * torch.exp(-_randn((n,), generator, device) * scale_noise)
    scale = scale.clamp(config.scale_min, config.scale_max)
    return CropBox(center=center, scale=scale, side=crop_size / scale, fallback=crops.fallback,
                   output_size=crop_size)


def inside(uv: torch.Tensor, size_hw: Tuple[int, int]) -> torch.Tensor:
    """``(N, K)`` bool: ``uv`` ``(N, K, 2)`` lies within ``[-0.5, W - 0.5) x [-0.5, H - 0.5)``."""
    height, width = size_hw
    return (uv[..., 0] >= -0.5) & (uv[..., 0] < width - 0.5) & (uv[..., 1] >= -0.5) & (uv[..., 1] < height - 0.5)


def score_map_targets(uv_crop: torch.Tensor, visible: torch.Tensor, codec: GaussianHeatmap) -> torch.Tensor:
    """PoseNet targets: Gaussian maps ``(N, K, M, M)`` of crop keypoints ``(N, K, 2)`` (crop px);
    keypoints not ``visible`` ``(N, K)`` or outside the crop get all-zero maps."""
    keep = visible.bool() & inside(uv_crop, codec.input_size[::-1])
    return codec.encode(uv_crop, keep)


def contrast_jitter(images: torch.Tensor, lo: float, hi: float,
                    generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """``x' = mean + c (x - mean)`` per image with ``c ~ U(lo, hi)``; images ``(N, C, H, W)``
    normalised (``x / 255 - 0.5``); the mean is over each image's pixels and channels."""
    if lo == hi == 1.0:
        return images
    n = images.shape[0]
    c = lo + (hi - lo) * _rand((n,), generator, images.device)
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return mean + c[:, None, None, None] * (images - mean)


def noisy_map_keypoints(uv_crop: torch.Tensor, crop_size: int, keypoint_noise_px: float = 0.0,
                        map_scale: Tuple[float, float] = (1.0, 1.0), map_translate: float = 0.0,
                        generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """PosePrior input keypoints: GT crop keypoints ``(N, K, 2)`` with Gaussian noise (std
    ``keypoint_noise_px`` at a 256 crop, scaled to S), then one random scaling about the crop
    centre (``U(map_scale)``) and translation (std ``map_translate`` x S) per sample, which
    scales and translates the resulting score maps. Returns ``(N, K, 2)`` crop px."""
    n, k, _ = uv_crop.shape
    device = uv_crop.device
    out = uv_crop
    if keypoint_noise_px > 0:
        out = out + _randn((n, k, 2), generator, device) * keypoint_noise_px * crop_size / REFERENCE_CROP
    lo, hi = map_scale
    if lo != hi or map_translate > 0:
        centre = (crop_size - 1) / 2.0
        s = lo + (hi - lo) * _rand((n, 1, 1), generator, device)
        t = _randn((n, 1, 2), generator, device) * map_translate * crop_size
        out = (out - centre) * s + centre + t
    return out


def canonical_targets(xyz: torch.Tensor, hand_side: torch.Tensor) -> dict:
    """PosePrior targets from camera-frame keypoints.

    Args:
        xyz: ``(N, K, 3)`` any unit (metres in the shards). hand_side: ``(N,)`` 0 left, 1 right.

    Returns:
        dict ``w_rel (N, K, 3)``, ``bone (N,)`` reference bone in xyz's unit,
        ``w_c (N, K, 3)``, ``R (N, 3, 3)`` (``w_rel = flip(w_c) @ R``).
    """
    w_rel, bone = normalize_pose(xyz)
    w_c, rot = canonical_transform(w_rel, hand_side)
    return {"w_rel": w_rel, "bone": bone, "w_c": w_c, "R": rot}


def hand_side_one_hot(hand_side: torch.Tensor) -> torch.Tensor:
    """``(N,)`` 0 left / 1 right -> ``(N, 2)`` float one-hot [left, right]."""
    return F.one_hot(hand_side.long(), 2).float()


#: Mask value of pixels whose label is unknown (teacher-labelled photos: the uncertain
#: band around a pseudo mask, hands the teacher was unsure of, padding).
MASK_IGNORE = 255
#: Label the segmentation loss skips (``torch.nn.functional.cross_entropy``'s default).
IGNORE_LABEL = -100


def segmentation_labels(mask: torch.Tensor) -> torch.Tensor:
    """``(N, H, W)`` long 0 background / 1 hand / :data:`IGNORE_LABEL` from a sample mask
    (0 bg, 1 left, 2 right, :data:`MASK_IGNORE` unknown)."""
    mask = mask.long()
    return torch.where(mask == MASK_IGNORE, torch.full_like(mask, IGNORE_LABEL), (mask > 0).long())


def zoom_frames(images: torch.Tensor, labels: torch.Tensor, zoom: Tuple[float, float],
                generator: Optional[torch.Generator] = None):
    """Random zoom and shift of whole frames and their labels (HandSegNet augmentation).

    Args:
        images: ``(N, C, H, W)`` float. labels: ``(N, H, W)`` long (0, 1 or ``IGNORE_LABEL``).
        zoom: log-uniform range of the zoom factor (> 1: magnified).

    Returns:
        ``(images, labels)``; pixels outside the source frame are 0 in the image and
        ``IGNORE_LABEL`` in the labels.
    """
    lo, hi = zoom
    if lo == hi == 1.0:
        return images, labels
    n, device = images.shape[0], images.device
    s = torch.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * _rand((n,), generator, device))
    reach = (1.0 - 1.0 / s).abs()  # zoom in: stay inside the frame; zoom out: stay inside the canvas
    shift = (_rand((n, 2), generator, device) * 2 - 1) * reach[:, None]
    theta = torch.zeros(n, 2, 3, device=device, dtype=images.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / s
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    shifted = (labels.to(images.dtype) + 1 - IGNORE_LABEL)[:, None]  # > 0 everywhere inside
    sampled = F.grid_sample(shifted, grid, mode="nearest", padding_mode="zeros", align_corners=False)[:, 0]
    out_labels = torch.where(sampled > 0, sampled.round().long() - 1 + IGNORE_LABEL,
                             torch.full_like(labels, IGNORE_LABEL))
    return out, out_labels


def mosaic_frames(images: torch.Tensor, labels: torch.Tensor, prob: float,
                  generator: Optional[torch.Generator] = None):
    """Replace frames, each with probability ``prob``, by a 2x2 mosaic of half-size frames
    (HandSegNet augmentation: distant hands with real surroundings).

    The top-left tile is the frame itself; the other three are frames of the batch drawn at
    random (with replacement). Images are shrunk with an antialiased bilinear filter, labels
    with nearest neighbour.

    Args:
        images: ``(N, C, H, W)`` float. labels: ``(N, H, W)`` long (0, 1 or ``IGNORE_LABEL``).
        prob: probability in [0, 1] that a frame becomes a mosaic.

    Returns:
        ``(images, labels)`` of the same shapes.
    """
    n, _, h, w = images.shape
    if prob <= 0 or n == 0:
        return images, labels
    device = images.device
    chosen = _rand((n,), generator, device) < prob
    if not bool(chosen.any()):
        return images, labels
    sources = torch.cat((torch.arange(n, device=device)[:, None],
                         (_rand((n, 3), generator, device) * n).long().clamp_(max=n - 1)), 1)  # (N, 4)
    rows, cols = (h // 2, h - h // 2), (w // 2, w - w // 2)
    image_rows, label_rows = [], []
    for r in range(2):
        image_tiles, label_tiles = [], []
        for c in range(2):
            index = sources[:, 2 * r + c]
            size = (rows[r], cols[c])
            image_tiles.append(F.interpolate(images[index], size=size, mode="bilinear", align_corners=False,
                                             antialias=True))
            label_tiles.append(F.interpolate(labels[index][:, None].float(), size=size, mode="nearest")[:, 0])
        image_rows.append(torch.cat(image_tiles, -1))
        label_rows.append(torch.cat(label_tiles, -1))
    mosaic_images = torch.cat(image_rows, -2)
    mosaic_labels = torch.cat(label_rows, -2).round().long()
    return (torch.where(chosen[:, None, None, None], mosaic_images, images),
            torch.where(chosen[:, None, None], mosaic_labels, labels))


def rotate_patches(patches: torch.Tensor, uv_crop: torch.Tensor, angle_rad: torch.Tensor):
    """Rotate square crops about their centre (zeros where the rotated window leaves the crop).

    Args:
        patches: ``(N, C, S, S)``. uv_crop: ``(N, K, 2)`` crop px (pixel centres at integers).
        angle_rad: ``(N,)`` counter-clockwise angle as seen on the image (v down).

    Returns:
        ``(patches, uv_crop)`` rotated: a keypoint at ``uv`` moves to ``R (uv - c) + c``,
        ``c = (S - 1) / 2``.
    """
    n, _, size, _ = patches.shape
    cos, sin = torch.cos(angle_rad), torch.sin(angle_rad)
    # With v pointing down, "counter-clockwise on screen" is the matrix [[c, s], [-s, c]].
    rot = torch.stack((torch.stack((cos, sin), -1), torch.stack((-sin, cos), -1)), -2)  # (N, 2, 2)
    centre = (size - 1) / 2.0
    uv_out = torch.einsum("nij,nkj->nki", rot, uv_crop - centre) + centre
    # grid_sample reads the output pixel p from input R^-1 p (centred, normalised coords).
    theta = torch.cat((rot.transpose(1, 2), torch.zeros(n, 2, 1, dtype=rot.dtype, device=rot.device)), -1)
    grid = F.affine_grid(theta.to(patches.dtype), list(patches.shape), align_corners=False)
    return F.grid_sample(patches, grid, mode="bilinear", padding_mode="zeros", align_corners=False), uv_out


def photometric_jitter(images: torch.Tensor, channel_gain: float = 0.0, pixel_noise: float = 0.0,
                       blur_prob: float = 0.0, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Colour gain per channel, box blur and Gaussian noise on normalised images ``(N, 3, H, W)``
    (``x / 255 - 0.5``); see :class:`hand3d_ros.training.configs.Augment` for the settings."""
    n, device = images.shape[0], images.device
    out = images
    if channel_gain > 0:
        gain = torch.exp(_randn((n, images.shape[1], 1, 1), generator, device) * channel_gain)
        out = (out + 0.5) * gain - 0.5
    if blur_prob > 0:
        pick = _rand((n,), generator, device) < blur_prob
        big = _rand((n,), generator, device) < 0.5
        small_blur = F.avg_pool2d(out, 3, stride=1, padding=1, count_include_pad=False)
        large_blur = F.avg_pool2d(out, 5, stride=1, padding=2, count_include_pad=False)
        blurred = torch.where(big[:, None, None, None], large_blur, small_blur)
        out = torch.where(pick[:, None, None, None], blurred, out)
    if pixel_noise > 0:
        std = _rand((n, 1, 1, 1), generator, device) * pixel_noise
        out = out + _randn(tuple(out.shape), generator, device) * std
    return out.clamp(-0.5, 0.5)
