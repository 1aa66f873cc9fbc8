"""Estimated hands as message trees: every field of HandPose3D, TF and markers, in one place.

The functions here fill the fields of ``hand3d_msgs/HandPose3D(Array)``,
``geometry_msgs/TransformStamped`` and ``visualization_msgs/Marker`` from a
:class:`hand3d_ros.inference.estimator.HandState` (numpy; pixels and metres) and return
:class:`Msg` trees: a ROS type name plus its fields, nested. They import no ROS library;
:func:`build` turns a tree into real messages with a factory of the caller's choice:

- ``hand3d_ros.ros.conversions`` builds rclpy messages (the node);
- ``hand3d_ros.offline.bags`` builds ``rosbags`` messages (the pose bag of ``hand3d infer``).

Fields left out of a tree keep the message's defaults. Headers and stamps are passed in
as whatever the factory's messages hold (an rclpy ``Header``, a ``rosbags`` one, or a
:class:`Msg` made with :func:`header`) and are put into the messages unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from hand3d_ros.core import keypoints as kp
from hand3d_ros.core.metric3d import ScaleSource

#: Handedness values of HandPose3D (LEFT, RIGHT, UNKNOWN) and their names.
SIDE_NAMES = {0: "left", 1: "right", 2: "unknown"}
#: Scale sources of HandPose3D (SCALE_NONE, SCALE_HAND_SIZE_PRIOR, SCALE_DEPTH).
#: ``hand3d_msgs/HandPose3D.SCALE_*`` value -> name (one home: ``core.metric3d.ScaleSource``).
SCALE_SOURCE_NAMES = {int(source): source.name.lower() for source in ScaleSource}
#: visualization_msgs/Marker constants used here (the values of the message definition).
MARKER_LINE_LIST, MARKER_SPHERE_LIST, MARKER_TEXT_VIEW_FACING = 5, 7, 9
MARKER_ADD, MARKER_DELETE = 0, 2
MARKER_NAMESPACES = ("bones", "joints", "label")
#: Message types the trees use, by role.
HAND_POSE_TYPE = "hand3d_msgs/msg/HandPose3D"
HAND_POSE_ARRAY_TYPE = "hand3d_msgs/msg/HandPose3DArray"
TF_MESSAGE_TYPE = "tf2_msgs/msg/TFMessage"
MARKER_ARRAY_TYPE = "visualization_msgs/msg/MarkerArray"


@dataclass(frozen=True)
class Msg:
    """One message to build: ``type`` ("pkg/msg/Name") and its ``fields`` (values are
    numbers, strings, numpy arrays, lists, other :class:`Msg` trees or ready messages)."""

    type: str
    fields: dict


def build(node, make: Callable[[str, dict], object]):
    """The message(s) of a :class:`Msg` tree (or a list of them), children first:
    ``make(type_name, fields)`` builds one message from fields already built."""
    if isinstance(node, Msg):
        return make(node.type, {name: build(value, make) for name, value in node.fields.items()})
    if isinstance(node, list):
        return [build(value, make) for value in node]
    return node


def stamp(sec: int, nanosec: int) -> Msg:
    return Msg("builtin_interfaces/msg/Time", {"sec": int(sec), "nanosec": int(nanosec)})


def stamp_from_ns(stamp_ns: int) -> Msg:
    """A ``builtin_interfaces/Time`` from integer nanoseconds since the epoch."""
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return stamp(sec, nanosec)


def header(stamp_msg, frame_id: str) -> Msg:
    return Msg("std_msgs/msg/Header", {"stamp": stamp_msg, "frame_id": str(frame_id)})


def quaternion_xyzw(rotation: np.ndarray) -> tuple:
    """A rotation matrix (3, 3) as a unit quaternion (x, y, z, w), ROS order; identity
    when not finite."""
    import transforms3d  # lazily: only message building needs it

    if not np.all(np.isfinite(rotation)):
        return 0.0, 0.0, 0.0, 1.0
    w, x, y, z = transforms3d.quaternions.mat2quat(np.asarray(rotation, dtype=np.float64))
    return float(x), float(y), float(z), float(w)


def quaternion(rotation: np.ndarray) -> Msg:
    x, y, z, w = quaternion_xyzw(rotation)
    return Msg("geometry_msgs/msg/Quaternion", {"x": x, "y": y, "z": z, "w": w})


def point(xyz) -> Msg:
    return Msg("geometry_msgs/msg/Point", {"x": float(xyz[0]), "y": float(xyz[1]), "z": float(xyz[2])})


def hand_pose(hand, header_msg) -> Msg:
    """One estimated hand as ``hand3d_msgs/HandPose3D`` with the image's header."""
    return Msg(HAND_POSE_TYPE, {
        "header": header_msg,
        "hand_id": int(hand.hand_id),
        "handedness": int(hand.handedness),
        "handedness_score": float(hand.handedness_score),
        "score": float(hand.score),
        "crop_box": np.asarray(hand.crop_box, dtype=np.float32),
        "keypoints_2d": [Msg("hand3d_msgs/msg/Keypoint2D", {"u": float(u), "v": float(v), "score": float(s)})
                         for (u, v), s in zip(hand.uv, hand.uv_score)],
        "keypoints_3d_normalized": [point(p) for p in hand.w_rel],
        "keypoints_3d": [point(p) for p in hand.xyz],
        "scale_source": int(hand.scale_source),
        "reference_bone_length": float(hand.bone_length_m),
        "reprojection_error": float(hand.reprojection_error_px),
        "hand_pose": Msg("geometry_msgs/msg/Pose", {"position": point(hand.palm_origin),
                                                     "orientation": quaternion(hand.palm_rotation)}),
        "viewpoint": quaternion(hand.viewpoint),
    })


def hand_pose_array(hands, header_msg) -> Msg:
    return Msg(HAND_POSE_ARRAY_TYPE, {"header": header_msg, "hands": [hand_pose(h, header_msg) for h in hands]})


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


def _transform(stamp_msg, parent: str, child: str, xyz, rotation_msg: Msg) -> Msg:
    return Msg("geometry_msgs/msg/TransformStamped", {
        "header": header(stamp_msg, parent), "child_frame_id": child,
        "transform": Msg("geometry_msgs/msg/Transform", {
            "translation": Msg("geometry_msgs/msg/Vector3", {"x": float(xyz[0]), "y": float(xyz[1]),
                                                             "z": float(xyz[2])}),
            "rotation": rotation_msg}),
    })


def hand_transforms(hand, stamp_msg, frame_id: str, hand_frame: str, keypoint_frames: bool = False) -> list:
    """TF transforms of one hand: the palm frame ``hand_frame`` (see :func:`hand_frame_names`)
    under the image's optical frame ``frame_id`` and, optionally, one frame per keypoint
    under the palm frame (orientation of the palm). Empty when the hand has no metric
    position (no camera_info).
    """
    if not np.all(np.isfinite(hand.palm_origin)) or not np.all(np.isfinite(hand.palm_rotation)):
        return []
    out = [_transform(stamp_msg, frame_id, hand_frame, hand.palm_origin, quaternion(hand.palm_rotation))]
    if keypoint_frames:
        # Keypoints expressed in the palm frame: R^T (x - origin).
        local = (np.asarray(hand.xyz) - hand.palm_origin) @ np.asarray(hand.palm_rotation)
        identity = quaternion(np.eye(3))
        out += [_transform(stamp_msg, hand_frame, f"{hand_frame}/{name}", xyz, identity)
                for name, xyz in zip(kp.KEYPOINT_NAMES, local)]
    return out


def tf_message(transforms: list) -> Msg:
    return Msg(TF_MESSAGE_TYPE, {"transforms": list(transforms)})


def _color(rgb, alpha: float = 1.0) -> Msg:
    return Msg("std_msgs/msg/ColorRGBA", {"r": float(rgb[0]), "g": float(rgb[1]), "b": float(rgb[2]),
                                          "a": float(alpha)})


def duration(seconds: float) -> Msg:
    frac, whole = math.modf(max(0.0, seconds))
    return Msg("builtin_interfaces/msg/Duration", {"sec": int(whole), "nanosec": int(round(frac * 1e9))})


def hand_markers(hand, header_msg, lifetime_s: float, joint_diameter_m: float = 0.012,
                 bone_width_m: float = 0.006) -> list:
    """RViz markers of one hand: bones (LINE_LIST coloured per finger), joints
    (SPHERE_LIST), and a text label with side and score. Namespace per kind, id = hand id.
    Empty when the hand has no metric keypoints.
    """
    xyz = np.asarray(hand.xyz)
    if not np.all(np.isfinite(xyz)):
        return []

    def marker(ns, marker_type, scale, **fields):
        return Msg("visualization_msgs/msg/Marker", {
            "header": header_msg, "ns": ns, "id": int(hand.hand_id), "type": marker_type, "action": MARKER_ADD,
            "pose": Msg("geometry_msgs/msg/Pose", {"position": point(fields.pop("position", (0.0, 0.0, 0.0))),
                                                    "orientation": quaternion(np.eye(3))}),
            "scale": Msg("geometry_msgs/msg/Vector3", {"x": float(scale[0]), "y": float(scale[1]),
                                                       "z": float(scale[2])}),
            "lifetime": duration(lifetime_s), "frame_locked": False, **fields})

    bone_points, bone_colors = [], []
    for parent, child in kp.BONES:
        bone_points += [point(xyz[parent]), point(xyz[child])]
        bone_colors += [_color(kp.keypoint_color(child))] * 2
    side = SIDE_NAMES.get(int(hand.handedness), "unknown")
    return [
        marker("bones", MARKER_LINE_LIST, (bone_width_m, 0.0, 0.0), points=bone_points, colors=bone_colors),
        marker("joints", MARKER_SPHERE_LIST, (joint_diameter_m,) * 3, points=[point(p) for p in xyz],
               colors=[_color(kp.keypoint_color(i)) for i in range(kp.NUM_KEYPOINTS)]),
        marker("label", MARKER_TEXT_VIEW_FACING, (0.0, 0.0, 0.02), color=_color((1.0, 1.0, 1.0)),
               position=xyz[kp.WRIST] + np.array([0.0, 0.03, 0.0]),
               text=f"#{int(hand.hand_id)} {side} {hand.score:.2f}"),
    ]


def delete_markers(hand_id: int, header_msg) -> list:
    """DELETE markers for every namespace of a hand that disappeared."""
    return [Msg("visualization_msgs/msg/Marker", {"header": header_msg, "ns": ns, "id": int(hand_id),
                                                  "action": MARKER_DELETE})
            for ns in MARKER_NAMESPACES]


def marker_array(markers) -> Msg:
    return Msg(MARKER_ARRAY_TYPE, {"markers": list(markers)})
