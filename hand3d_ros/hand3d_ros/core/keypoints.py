"""The 21 hand keypoints: names, order, skeleton and conversions.

This module is the single home of the keypoint order. The renderer, the dataset
readers, the metrics, the RViz markers and the ``hand3d_msgs/HandPose3D`` constants
all use it.

Public order (this package, its message and its API), shared with MediaPipe,
OpenPose and FreiHAND::

    0 wrist
    thumb   1 CMC  2 MCP  3 IP   4 TIP
    index   5 MCP  6 PIP  7 DIP  8 TIP
    middle  9 MCP 10 PIP 11 DIP 12 TIP
    ring   13 MCP 14 PIP 15 DIP 16 TIP
    little 17 MCP 18 PIP 19 DIP 20 TIP

RHD order (the paper's dataset and the authors' networks)::

    0 wrist (palm centre in the authors' released weights, see DESIGN.md)
    then for thumb, index, middle, ring, little: tip, DIP, PIP, MCP (tip first)

Conversion happens once, at the dataset (or weight-file) boundary, with
:func:`rhd_to_ours` / :func:`ours_to_rhd`.
"""
from __future__ import annotations

import numpy as np

NUM_KEYPOINTS = 21

FINGERS = ("thumb", "index", "middle", "ring", "little")

KEYPOINT_NAMES = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "little_mcp", "little_pip", "little_dip", "little_tip",
)
KEYPOINT_INDEX = {name: i for i, name in enumerate(KEYPOINT_NAMES)}

WRIST = 0
THUMB_CMC, THUMB_MCP, THUMB_IP, THUMB_TIP = 1, 2, 3, 4
INDEX_MCP, INDEX_PIP, INDEX_DIP, INDEX_TIP = 5, 6, 7, 8
MIDDLE_MCP, MIDDLE_PIP, MIDDLE_DIP, MIDDLE_TIP = 9, 10, 11, 12
RING_MCP, RING_PIP, RING_DIP, RING_TIP = 13, 14, 15, 16
LITTLE_MCP, LITTLE_PIP, LITTLE_DIP, LITTLE_TIP = 17, 18, 19, 20

#: Keypoint indices of each finger, base to tip (public order).
FINGER_KEYPOINTS = {finger: tuple(range(1 + 4 * f, 5 + 4 * f)) for f, finger in enumerate(FINGERS)}

#: Which finger a keypoint belongs to (``None`` for the wrist).
KEYPOINT_FINGER = (None,) + tuple(finger for finger in FINGERS for _ in range(4))

#: Bones as (parent, child) keypoint pairs, public order. The first bone of each
#: finger starts at the wrist.
BONES = tuple(
    pair
    for chain in FINGER_KEYPOINTS.values()
    for pair in zip((WRIST,) + chain[:-1], chain)
)

#: Parent of each keypoint in the kinematic tree (-1 for the root).
PARENT = tuple([-1] + [parent for parent, _ in sorted(BONES, key=lambda b: b[1])])

#: Root keypoint of the relative coordinates (DESIGN.md section 3).
ROOT = WRIST
#: Reference bone whose length normalises the pose (middle-finger MCP -> PIP, as in
#: the authors' code).
REFERENCE_BONE = (MIDDLE_MCP, MIDDLE_PIP)

#: ``RHD_TO_OURS[i]`` is the RHD index of our keypoint ``i``.
RHD_TO_OURS = np.array(
    [0] + [1 + 4 * f + (3 - j) for f in range(5) for j in range(4)], dtype=np.int64
)
#: ``OURS_TO_RHD[i]`` is our index of RHD keypoint ``i``.
OURS_TO_RHD = np.argsort(RHD_TO_OURS)

#: One RGB colour (0..1) per finger, used by markers and overlays; the wrist and
#: palm use ``PALM_COLOR``.
FINGER_COLORS = {
    "thumb": (0.95, 0.35, 0.20),
    "index": (0.95, 0.80, 0.15),
    "middle": (0.25, 0.80, 0.30),
    "ring": (0.20, 0.55, 0.95),
    "little": (0.70, 0.35, 0.90),
}
PALM_COLOR = (0.85, 0.85, 0.85)


def keypoint_color(index: int) -> tuple:
    """RGB colour (0..1) of keypoint ``index`` (the colour of its finger)."""
    finger = KEYPOINT_FINGER[index]
    return PALM_COLOR if finger is None else FINGER_COLORS[finger]


def rhd_to_ours(keypoints, axis: int = -2):
    """Reorder keypoints from RHD order to the public order.

    Args:
        keypoints: array (numpy or torch) with the 21 keypoints along ``axis``
            (default: the second-to-last, as in ``(..., 21, D)``).
    """
    return _take(keypoints, RHD_TO_OURS, axis)


def ours_to_rhd(keypoints, axis: int = -2):
    """Reorder keypoints from the public order to RHD order (inverse of :func:`rhd_to_ours`)."""
    return _take(keypoints, OURS_TO_RHD, axis)


def _take(keypoints, index: np.ndarray, axis: int):
    if isinstance(keypoints, np.ndarray):
        return np.take(keypoints, index, axis=axis)
    import torch  # only when given a tensor

    return torch.index_select(keypoints, axis, torch.as_tensor(index, device=keypoints.device))
