"""The WebXR hand skeleton (25 joints), its finger chains and the map to our 21 keypoints.

The WebXR hand files hang all 25 joints directly under ``Armature``; the kinematic
chain (wrist -> metacarpal -> proximal -> intermediate -> distal -> tip, the thumb
without an intermediate) is imposed here. Joints are always looked up by name.

Keypoints (public order, :mod:`hand3d_ros.core.keypoints`) are joint positions:
wrist; thumb metacarpal = CMC, proximal = MCP, distal = IP, tip; other fingers
proximal = MCP, intermediate = PIP, distal = DIP, tip. The finger metacarpal joints
(near the wrist, inside the palm) are not keypoints.
"""
from __future__ import annotations

import numpy as np

from hand3d_ros.core import keypoints as kp

#: WebXR finger names as used in the joint names, in our finger order.
WEBXR_FINGERS = {
    "thumb": "thumb",
    "index": "index-finger",
    "middle": "middle-finger",
    "ring": "ring-finger",
    "little": "pinky-finger",
}


def _finger_joints(finger: str) -> tuple:
    prefix = WEBXR_FINGERS[finger]
    if finger == "thumb":
        return ("thumb-metacarpal", "thumb-phalanx-proximal", "thumb-phalanx-distal", "thumb-tip")
    return (f"{prefix}-metacarpal", f"{prefix}-phalanx-proximal",
            f"{prefix}-phalanx-intermediate", f"{prefix}-phalanx-distal", f"{prefix}-tip")


#: The 25 WebXR joint names in this module's order (wrist, then each finger base -> tip).
JOINT_NAMES = ("wrist",) + tuple(j for f in kp.FINGERS for j in _finger_joints(f))
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}
NUM_JOINTS = len(JOINT_NAMES)
WRIST_JOINT = JOINT_INDEX["wrist"]

#: Joints of each finger, base (metacarpal) -> tip, as indices into JOINT_NAMES.
FINGER_JOINTS = {f: tuple(JOINT_INDEX[j] for j in _finger_joints(f)) for f in kp.FINGERS}

#: Parent of each joint in the imposed chain (-1 for the wrist).
JOINT_PARENT = np.full(NUM_JOINTS, -1, dtype=np.int64)
for _chain in FINGER_JOINTS.values():
    for _parent, _child in zip((WRIST_JOINT,) + _chain[:-1], _chain):
        JOINT_PARENT[_child] = _parent

#: Child of each joint along its finger (-1 for tips): the bone of joint j runs j -> child.
JOINT_CHILD = np.full(NUM_JOINTS, -1, dtype=np.int64)
for _j, _p in enumerate(JOINT_PARENT):
    if _p >= 0 and _p != WRIST_JOINT:
        JOINT_CHILD[_p] = _j

#: ``KEYPOINT_JOINT[k]`` is the joint whose position is keypoint ``k`` (public order).
KEYPOINT_JOINT = np.array(
    [WRIST_JOINT]
    + list(FINGER_JOINTS["thumb"])
    + [j for f in kp.FINGERS[1:] for j in FINGER_JOINTS[f][1:]],
    dtype=np.int64,
)
assert len(KEYPOINT_JOINT) == kp.NUM_KEYPOINTS


def _own_segments() -> tuple:
    """For each keypoint, the joints whose skin counts as "its own finger segment".

    A keypoint sits at a joint between two bones; the skin over it is weighted to
    the joint itself (the bone leaving it) or to its parent (the bone arriving). Tips
    carry no skin weights, so a tip's own segment is its distal phalanx. The wrist
    owns the wrist skin and the palm (metacarpal skin).
    """
    own = []
    for k in range(kp.NUM_KEYPOINTS):
        joint = int(KEYPOINT_JOINT[k])
        if joint == WRIST_JOINT:
            palm = [FINGER_JOINTS[f][0] for f in kp.FINGERS[1:]]
            own.append(frozenset([WRIST_JOINT] + palm))
        else:
            own.append(frozenset([joint, int(JOINT_PARENT[joint])]))
    return tuple(own)


#: ``OWN_SEGMENTS[k]``: set of joint indices whose skin belongs to keypoint k's segment.
OWN_SEGMENTS = _own_segments()

def own_segment_table(num_parts: int) -> np.ndarray:
    """Table ``(21, num_parts)`` bool: ``table[k, part]`` is True if surface part
    ``part`` is keypoint ``k``'s own finger segment.

    Part ids 0..24 are joints (the skin weighted most to that joint); ids >= 25 are
    other objects (forearm, occluders, the other hand) and never own a keypoint.
    """
    table = np.zeros((kp.NUM_KEYPOINTS, num_parts), dtype=bool)
    for k, joints in enumerate(OWN_SEGMENTS):
        table[k, sorted(joints)] = True
    return table
