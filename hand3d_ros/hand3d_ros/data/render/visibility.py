"""Per-keypoint visibility from the rasterised surface.

A keypoint is visible when it projects inside the image and the first surface hit
by the camera ray through it belongs to that keypoint's own finger segment (the skin
of the bone arriving at or leaving its joint; see ``skeleton.OWN_SEGMENTS``). This is
not a depth comparison: joint centres lie 6-25 mm under the skin, so a depth test
against the z-buffer mislabels most keypoints.
"""
from __future__ import annotations

import numpy as np

from hand3d_ros.core.keypoints import NUM_KEYPOINTS

from .skeleton import own_segment_table

#: Part ids (joint indices 0..24, other surfaces above) covered by the lookup table.
MAX_PART_ID = 64
_OWN = own_segment_table(MAX_PART_ID)


def keypoint_sample_pixels(uv: np.ndarray, supersample: int, height: int, width: int) -> tuple:
    """Where to look up the surface for each keypoint.

    Args:
        uv: ``(21, 2)`` keypoint pixels at output resolution (pixel centres at integers).
        supersample: factor of the rasterised image over the output image.
        height, width: output image size.

    Returns:
        ``(inside (21,) bool, flat (21,) int64)``: whether the keypoint lies inside the
        output image, and the flat index ``row * width * ss + col`` of its pixel in the
        supersampled image (clipped into the image).
    """
    ss = int(supersample)
    inside = (uv[:, 0] >= -0.5) & (uv[:, 0] < width - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] < height - 0.5)
    col = np.clip(np.floor(ss * (uv[:, 0] + 0.5)), 0, ss * width - 1).astype(np.int64)
    row = np.clip(np.floor(ss * (uv[:, 1] + 0.5)), 0, ss * height - 1).astype(np.int64)
    return inside, row * (ss * width) + col


def first_hits(flat_pixels: np.ndarray, frag_pixel: np.ndarray) -> np.ndarray:
    """Index into the fragments (``(M,)`` sorted unique pixel indices) of each queried
    pixel, or -1 where nothing was drawn."""
    pos = np.searchsorted(frag_pixel, flat_pixels)
    pos_c = np.minimum(pos, max(frag_pixel.size - 1, 0))
    found = (frag_pixel.size > 0) & (pos < frag_pixel.size)
    found = found & (frag_pixel[pos_c] == flat_pixels) if frag_pixel.size else np.zeros(flat_pixels.shape, bool)
    return np.where(found, pos_c, -1)


def keypoint_visibility(inside: np.ndarray, hit_object: np.ndarray, hit_part: np.ndarray,
                        hand_object: int) -> np.ndarray:
    """Visibility ``(21,)`` bool of one hand's keypoints.

    Args:
        inside: ``(21,)`` the keypoint projects inside the image (and lies in front of
            the camera).
        hit_object: ``(21,)`` object id of the first surface at each keypoint's pixel
            (anything for background).
        hit_part: ``(21,)`` part id of that surface (joint index for hand skin, -1 for
            background).
        hand_object: this hand's object id.
    """
    part = np.asarray(hit_part, np.int64)
    valid = (part >= 0) & (part < MAX_PART_ID)
    own = _OWN[np.arange(NUM_KEYPOINTS), np.where(valid, part, 0)] & valid
    return np.asarray(inside, bool) & (np.asarray(hit_object) == hand_object) & own
