"""Estimated hands to ROS messages: HandPose3D, TF transforms, RViz markers.

Each function takes plain numpy data (a :class:`hand3d_ros.inference.estimator.HandState`)
and the header of the input image, and returns messages; nothing here owns a node.
Rotations become quaternions through ``transforms3d`` (w, x, y, z order; ROS wants x, y, z, w).
"""
from __future__ import annotations

import math

import numpy as np
import transforms3d
from geometry_msgs.msg import Point, Pose, Quaternion, TransformStamped
from hand3d_msgs.msg import HandPose3D, HandPose3DArray, Keypoint2D
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from hand3d_ros.core import keypoints as kp

SIDE_NAMES = {HandPose3D.LEFT: "left", HandPose3D.RIGHT: "right", HandPose3D.UNKNOWN: "unknown"}
MARKER_NAMESPACES = ("bones", "joints", "label")


def quaternion_msg(rotation: np.ndarray) -> Quaternion:
    """A rotation matrix (3, 3) as a ``geometry_msgs/Quaternion``; identity when not finite."""
    if not np.all(np.isfinite(rotation)):
        return Quaternion(w=1.0)
    w, x, y, z = transforms3d.quaternions.mat2quat(np.asarray(rotation, dtype=np.float64))
    return Quaternion(x=float(x), y=float(y), z=float(z), w=float(w))


def _point(xyz) -> Point:
    return Point(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))


def hand_pose_msg(hand, header) -> HandPose3D:
    """One estimated hand as ``hand3d_msgs/HandPose3D`` with the image's header."""
    msg = HandPose3D(header=header)
    msg.hand_id = int(hand.hand_id)
    msg.handedness = int(hand.handedness)
    msg.handedness_score = float(hand.handedness_score)
    msg.score = float(hand.score)
    msg.crop_box = np.asarray(hand.crop_box, dtype=np.float32)
    msg.keypoints_2d = [
        Keypoint2D(u=float(u), v=float(v), score=float(s)) for (u, v), s in zip(hand.uv, hand.uv_score)
    ]
    msg.keypoints_3d_normalized = [_point(p) for p in hand.w_rel]
    msg.keypoints_3d = [_point(p) for p in hand.xyz]
    msg.scale_source = int(hand.scale_source)
    msg.reference_bone_length = float(hand.bone_length_m)
    msg.reprojection_error = float(hand.reprojection_error_px)
    msg.hand_pose = Pose(position=_point(hand.palm_origin), orientation=quaternion_msg(hand.palm_rotation))
    msg.viewpoint = quaternion_msg(hand.viewpoint)
    return msg


def hand_pose_array_msg(hands, header) -> HandPose3DArray:
    return HandPose3DArray(header=header, hands=[hand_pose_msg(h, header) for h in hands])


def hand_frame_names(hands, prefix: str = "") -> list:
    """The TF frame name of each hand of one image, unique within the image.

    ``hands`` best first (as published in ``hand_poses``). The best hand of each side is
    ``hand_left`` / ``hand_right`` (what a controller that wants "the" left hand looks
    up); further hands given the same side are ``hand_left_<hand_id>`` /
    ``hand_right_<hand_id>``; a hand whose side is unknown is ``hand_<hand_id>``.
    ``prefix`` is prepended to every name.
    """
    names, used = [], set()
    for hand in hands:
        side = SIDE_NAMES.get(int(hand.handedness), "unknown")
        hand_id = int(hand.hand_id)
        if side == "unknown":
            name = f"hand_{hand_id}"
        else:
            name = f"hand_{side}" if f"hand_{side}" not in used else f"hand_{side}_{hand_id}"
        while name in used:  # two hands with one id (not from the tracker): still unique
            name += "_"
        used.add(name)
        names.append(prefix + name)
    return names


def hand_transforms(hand, header, hand_frame: str, keypoint_frames: bool = False) -> list:
    """TF transforms of one hand: the palm frame ``hand_frame`` (see
    :func:`hand_frame_names`) under the image's optical frame and, optionally, one frame
    per keypoint under the palm frame (orientation of the palm).

    Empty when the hand has no metric position (no camera_info yet).
    """
    if not np.all(np.isfinite(hand.palm_origin)) or not np.all(np.isfinite(hand.palm_rotation)):
        return []
    parent = header.frame_id
    palm = TransformStamped()
    palm.header.stamp = header.stamp
    palm.header.frame_id = parent
    palm.child_frame_id = hand_frame
    palm.transform.translation.x, palm.transform.translation.y, palm.transform.translation.z = map(
        float, hand.palm_origin
    )
    palm.transform.rotation = quaternion_msg(hand.palm_rotation)
    out = [palm]
    if keypoint_frames:
        # Keypoints expressed in the palm frame: R^T (x - origin).
        local = (np.asarray(hand.xyz) - hand.palm_origin) @ np.asarray(hand.palm_rotation)
        for name, xyz in zip(kp.KEYPOINT_NAMES, local):
            t = TransformStamped()
            t.header.stamp = header.stamp
            t.header.frame_id = hand_frame
            t.child_frame_id = f"{hand_frame}/{name}"
            t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = map(float, xyz)
            t.transform.rotation.w = 1.0
            out.append(t)
    return out


def _color(rgb, alpha=1.0) -> ColorRGBA:
    return ColorRGBA(r=float(rgb[0]), g=float(rgb[1]), b=float(rgb[2]), a=float(alpha))


def hand_markers(hand, header, lifetime_s: float, joint_diameter_m: float = 0.012, bone_width_m: float = 0.006) -> list:
    """RViz markers of one hand: bones (LINE_LIST coloured per finger), joints
    (SPHERE_LIST), and a text label with side and score. Namespace per kind, id = hand id.
    Empty when the hand has no metric keypoints.
    """
    xyz = np.asarray(hand.xyz)
    if not np.all(np.isfinite(xyz)):
        return []
    lifetime = _duration(lifetime_s)

    def base(ns, marker_type):
        m = Marker(header=header, ns=ns, id=int(hand.hand_id), type=marker_type, action=Marker.ADD)
        m.pose.orientation.w = 1.0
        m.lifetime = lifetime
        m.frame_locked = False
        return m

    bones = base("bones", Marker.LINE_LIST)
    bones.scale.x = bone_width_m
    for parent, child in kp.BONES:
        color = _color(kp.keypoint_color(child))
        bones.points += [_point(xyz[parent]), _point(xyz[child])]
        bones.colors += [color, color]
    joints = base("joints", Marker.SPHERE_LIST)
    joints.scale.x = joints.scale.y = joints.scale.z = joint_diameter_m
    joints.points = [_point(p) for p in xyz]
    joints.colors = [_color(kp.keypoint_color(i)) for i in range(kp.NUM_KEYPOINTS)]
    label = base("label", Marker.TEXT_VIEW_FACING)
    label.scale.z = 0.02
    label.color = _color((1.0, 1.0, 1.0))
    label.pose.position = _point(xyz[kp.WRIST] + np.array([0.0, 0.03, 0.0]))
    side = SIDE_NAMES.get(int(hand.handedness), "unknown")
    label.text = f"#{int(hand.hand_id)} {side} {hand.score:.2f}"
    return [bones, joints, label]


def delete_markers(hand_id: int, header) -> list:
    """DELETE markers for every namespace of a hand that disappeared."""
    return [Marker(header=header, ns=ns, id=int(hand_id), action=Marker.DELETE) for ns in MARKER_NAMESPACES]


def _duration(seconds: float):
    from builtin_interfaces.msg import Duration

    frac, whole = math.modf(max(0.0, seconds))
    return Duration(sec=int(whole), nanosec=int(round(frac * 1e9)))


def marker_array(markers) -> MarkerArray:
    return MarkerArray(markers=list(markers))
