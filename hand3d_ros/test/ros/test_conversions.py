"""Hands to TF frames: every published frame name is unique per image."""
from types import SimpleNamespace

import numpy as np
import pytest

hand3d_msgs = pytest.importorskip("hand3d_msgs.msg", reason="hand3d_msgs is not built")
from std_msgs.msg import Header  # noqa: E402

from hand3d_ros.ros.conversions import hand_frame_names, hand_transforms  # noqa: E402

LEFT, RIGHT, UNKNOWN = hand3d_msgs.HandPose3D.LEFT, hand3d_msgs.HandPose3D.RIGHT, hand3d_msgs.HandPose3D.UNKNOWN


def _hand(hand_id, side, x=0.0):
    return SimpleNamespace(hand_id=hand_id, handedness=side, palm_origin=np.array([x, 0.0, 0.5]),
                           palm_rotation=np.eye(3), xyz=np.tile([x, 0.0, 0.5], (21, 1)))


def test_best_hand_of_each_side_keeps_the_plain_name():
    hands = [_hand(7, LEFT), _hand(3, RIGHT), _hand(9, LEFT), _hand(4, UNKNOWN), _hand(5, RIGHT)]
    assert hand_frame_names(hands) == ["hand_left", "hand_right", "hand_left_9", "hand_4", "hand_right_5"]
    assert hand_frame_names(hands[2:3], "robot1/") == ["robot1/hand_left"]  # alone: the best left hand


def test_names_stay_unique_even_with_repeated_ids():
    hands = [_hand(1, LEFT), _hand(1, LEFT), _hand(1, LEFT), _hand(1, UNKNOWN), _hand(1, UNKNOWN)]
    names = hand_frame_names(hands)
    assert len(set(names)) == len(names) and names[0] == "hand_left"


def test_two_hands_of_one_side_publish_distinct_frames_in_one_message():
    header = Header(frame_id="camera_color_optical_frame")
    hands = [_hand(2, LEFT, x=-0.1), _hand(6, LEFT, x=0.1)]
    transforms = [t for h, name in zip(hands, hand_frame_names(hands))
                  for t in hand_transforms(h, header, name, keypoint_frames=True)]
    children = [t.child_frame_id for t in transforms]
    assert len(children) == 2 * 22 and len(set(children)) == len(children)
    palms = {t.child_frame_id: t.transform.translation.x for t in transforms if t.header.frame_id == header.frame_id}
    assert palms == {"hand_left": pytest.approx(-0.1), "hand_left_6": pytest.approx(0.1)}
    assert "hand_left_6/index_tip" in children and "hand_left/index_tip" in children
