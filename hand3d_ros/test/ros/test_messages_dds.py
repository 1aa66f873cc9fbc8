"""HandPose3D and HandPose3DArray cross a process boundary over real DDS and come back equal."""
import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy

hand3d_msgs = pytest.importorskip("hand3d_msgs.msg", reason="hand3d_msgs is not built")

pytestmark = pytest.mark.ros


def _round_trip(node, start_peer, spin, msg, type_name):
    topic_in, topic_out = f"/test_rt/{type(msg).__name__}/in", f"/test_rt/{type(msg).__name__}/out"
    peer = start_peer("echo.py", type_name, topic_in, topic_out)
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    received = []
    pub = node.create_publisher(type(msg), topic_in, qos)
    node.create_subscription(type(msg), topic_out, received.append, qos)
    ok = spin(node, lambda: bool(received), timeout_s=30.0, action=lambda: pub.publish(msg), period_s=0.2)
    assert peer.poll() is None, f"echo peer died: {peer.stdout.read() if peer.stdout else ''}"
    assert ok, "no message came back from the peer process within 30 s"
    return received[0]


def test_hand_pose_round_trip_every_field(ros_node, start_peer, spin, msg_tools):
    random_fill, field_differences = msg_tools
    msg = random_fill(hand3d_msgs.HandPose3D(), np.random.default_rng(1))
    # Every field really was set to something other than its default.
    default = hand3d_msgs.HandPose3D()
    changed = {path.split(".")[0].split("[")[0] for path in field_differences(msg, default)}
    assert changed == set(msg.get_fields_and_field_types())

    back = _round_trip(ros_node, start_peer, spin, msg, "hand3d_msgs/msg/HandPose3D")
    assert field_differences(msg, back) == []
    assert back == msg
    assert len(back.keypoints_2d) == hand3d_msgs.HandPose3D.NUM_KEYPOINTS == 21


def test_hand_pose_array_round_trip(ros_node, start_peer, spin, msg_tools):
    random_fill, field_differences = msg_tools
    msg = random_fill(hand3d_msgs.HandPose3DArray(), np.random.default_rng(2))
    assert len(msg.hands) >= 1
    back = _round_trip(ros_node, start_peer, spin, msg, "hand3d_msgs/msg/HandPose3DArray")
    assert field_differences(msg, back) == []
    assert [h.hand_id for h in back.hands] == [h.hand_id for h in msg.hands]


def test_message_constants_match_keypoint_order():
    from hand3d_ros.core import keypoints as kp

    m = hand3d_msgs.HandPose3D
    for index, name in enumerate(kp.KEYPOINT_NAMES):
        assert getattr(m, f"KP_{name.upper()}") == index
    assert (m.LEFT, m.RIGHT, m.UNKNOWN) == (0, 1, 2)
    assert (m.SCALE_NONE, m.SCALE_HAND_SIZE_PRIOR, m.SCALE_DEPTH) == (0, 1, 2)
