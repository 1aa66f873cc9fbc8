"""A plausible adult hand as 21 keypoints: a reference pose for initialisation and tests.

The template is a relaxed, slightly curled left hand seen palm-first by a camera (optical
frame: x right, y down, z forward): wrist at the origin, fingers pointing up the image
(-y), the palm facing the camera (its normal along -z), so the thumb is on the image's
left (-x). Bone lengths are typical adult values; the reference bone (middle MCP -> PIP)
is 43 mm, the default hand-size prior. Right hands are the mirror image (x negated).
"""
from __future__ import annotations

import numpy as np

from hand3d_ros.core.keypoints import NUM_KEYPOINTS

#: (21, 3) metres, public keypoint order, left hand (see the module docstring).
_LEFT_HAND_M = np.array(
    [
        [0.000, 0.000, 0.000],  # wrist
        [-0.020, -0.025, -0.010], [-0.040, -0.045, -0.020], [-0.055, -0.065, -0.025], [-0.065, -0.085, -0.028],
        [-0.025, -0.085, 0.000], [-0.028, -0.124, -0.004], [-0.029, -0.147, -0.008], [-0.030, -0.166, -0.013],
        [-0.005, -0.088, 0.000], [-0.005, -0.131, -0.004], [-0.005, -0.158, -0.008], [-0.005, -0.178, -0.013],
        [0.013, -0.082, 0.000], [0.016, -0.122, -0.004], [0.018, -0.148, -0.008], [0.019, -0.168, -0.013],
        [0.030, -0.072, 0.000], [0.036, -0.104, -0.004], [0.039, -0.122, -0.008], [0.041, -0.140, -0.013],
    ]
)
assert _LEFT_HAND_M.shape == (NUM_KEYPOINTS, 3)


def template_hand_xyz(hand_side: int = 0) -> np.ndarray:
    """(21, 3) keypoints in metres of the template hand; ``hand_side`` 0 left, 1 right."""
    xyz = _LEFT_HAND_M.copy()
    if hand_side == 1:
        xyz[:, 0] *= -1.0
    return xyz


def template_canonical() -> np.ndarray:
    """(21, 3) the template's canonical coordinates w_c (unitless, side-agnostic)."""
    from hand3d_ros.core.canonical import canonical_transform, normalize_pose

    w_rel, _ = normalize_pose(template_hand_xyz(0)[None])
    w_c, _ = canonical_transform(w_rel, np.zeros(1, dtype=np.int64))
    return np.asarray(w_c[0], dtype=np.float64)
