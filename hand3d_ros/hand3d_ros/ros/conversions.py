"""Estimated hands to rclpy messages: HandPose3D, TF transforms, RViz markers.

The fields are filled in :mod:`hand3d_ros.messages` (shared with the pose bags of
``hand3d infer``); this module only builds them as rclpy messages. Each function takes
plain numpy data (a :class:`hand3d_ros.inference.estimator.HandState`) and the header of
the input image, and returns messages; nothing here owns a node.
"""
from __future__ import annotations

import importlib
from functools import lru_cache

from hand3d_ros import messages


@lru_cache(maxsize=None)
def message_class(type_name: str):
    """The rclpy message class of ``"pkg/msg/Name"``."""
    package, _, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def _make(type_name: str, fields: dict):
    return message_class(type_name)(**fields)


def to_ros(tree):
    """A :class:`hand3d_ros.messages.Msg` tree (or list of them) as rclpy messages."""
    return messages.build(tree, _make)


def quaternion_msg(rotation):
    """A rotation matrix (3, 3) as a ``geometry_msgs/Quaternion``; identity when not finite."""
    return to_ros(messages.quaternion(rotation))


def hand_pose_msg(hand, header):
    """One estimated hand as ``hand3d_msgs/HandPose3D`` with the image's header."""
    return to_ros(messages.hand_pose(hand, header))


def hand_pose_array_msg(hands, header):
    return to_ros(messages.hand_pose_array(hands, header))


#: See :func:`hand3d_ros.messages.hand_frame_names` (unique TF frame names per image).
hand_frame_names = messages.hand_frame_names


def hand_transforms(hand, header, hand_frame: str, keypoint_frames: bool = False) -> list:
    """TF transforms of one hand (see :func:`hand3d_ros.messages.hand_transforms`)."""
    return to_ros(messages.hand_transforms(hand, header.stamp, header.frame_id, hand_frame, keypoint_frames))


def hand_markers(hand, header, lifetime_s: float, joint_diameter_m: float = 0.012, bone_width_m: float = 0.006) -> list:
    """RViz markers of one hand (see :func:`hand3d_ros.messages.hand_markers`)."""
    return to_ros(messages.hand_markers(hand, header, lifetime_s, joint_diameter_m, bone_width_m))


def delete_markers(hand_id: int, header) -> list:
    """DELETE markers for every namespace of a hand that disappeared."""
    return to_ros(messages.delete_markers(hand_id, header))


def marker_array(markers):
    return message_class(messages.MARKER_ARRAY_TYPE)(markers=list(markers))
