"""The palm frame: a pose for the whole hand, identical convention for left and right hands.

Axes (columns of ``R``, expressed in the frame of the input keypoints, e.g. the camera's
optical frame):

* origin: the wrist (keypoint 0);
* +x: from the wrist towards the middle-finger MCP;
* +z: the palm normal, pointing OUT of the palm (the side the fingers flex towards);
* +y = z x x (right-handed frame, det R = +1).

The normal comes from the index and little-finger MCPs. Seen with the palm towards the
viewer and the fingers up, a right hand has its thumb (and index) on the viewer's right,
a left hand on the viewer's left; so for a right hand ``(index - wrist) x (little - wrist)``
points out of the palm and for a left hand the opposite order does. Because the frame
is right-handed for both hands, +y points towards the little finger on a right hand and
towards the thumb on a left hand.
"""
from __future__ import annotations

import numpy as np

from .keypoints import INDEX_MCP, LITTLE_MCP, MIDDLE_MCP, WRIST

__all__ = ["LEFT", "RIGHT", "palm_frame"]

#: Hand side codes (the same numbers as ``hand3d_msgs/HandPose3D.LEFT`` / ``RIGHT``).
LEFT = 0
RIGHT = 1

#: Vectors shorter than this (in the keypoints' unit) count as degenerate.
_DEGENERATE_NORM = 1e-12
#: Unit vectors whose cross product is shorter than this (sine of the angle between
#: them) count as parallel: the palm plane is then undefined.
_MIN_SINE = 1e-6


def _normalize(v: np.ndarray, min_norm: float = _DEGENERATE_NORM) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > min_norm, v / norm, np.nan)


def palm_frame(xyz, hand_side):
    """Palm frame of N hands.

    Args:
        xyz: (N, 21, 3) keypoints in any right-handed frame and unit (metres in the
            camera frame, or the unitless ``w_rel``: the orientation is the same).
        hand_side: (N,) or scalar, 0 = left, 1 = right (:data:`LEFT`, :data:`RIGHT`).
    Returns:
        ``(origin, R)``: origin (N, 3) = the wrist, same unit as ``xyz``; R (N, 3, 3)
        rotation whose columns are the palm frame's x, y, z axes expressed in the input
        frame (so ``R`` maps palm-frame vectors to the input frame). NaN for a hand whose
        keypoints are non-finite or degenerate (wrist on the middle MCP, or the three
        palm points collinear).
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 3 or xyz.shape[1:] != (21, 3):
        raise ValueError(f"xyz must be (N, 21, 3), got {xyz.shape}")
    n = xyz.shape[0]
    side = np.broadcast_to(np.asarray(hand_side), (n,))
    if not np.all(np.isin(side, (LEFT, RIGHT))):
        raise ValueError(f"hand_side must be 0 (left) or 1 (right), got {side}")

    origin = xyz[:, WRIST]
    x_axis = _normalize(xyz[:, MIDDLE_MCP] - origin)
    to_index = _normalize(xyz[:, INDEX_MCP] - origin)
    to_little = _normalize(xyz[:, LITTLE_MCP] - origin)
    normal = np.cross(to_index, to_little)
    normal = np.where((side == LEFT)[:, None], -normal, normal)
    # Gram-Schmidt: remove the x component, then normalise.
    normal = normal - np.sum(normal * x_axis, axis=-1, keepdims=True) * x_axis
    z_axis = _normalize(normal, _MIN_SINE)
    y_axis = np.cross(z_axis, x_axis)
    R = np.stack([x_axis, y_axis, z_axis], axis=-1)
    return origin.copy(), R
