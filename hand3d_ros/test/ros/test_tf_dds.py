"""A TFMessage published on /tf reaches another process and comes back."""
import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy

tf2_msgs = pytest.importorskip("tf2_msgs.msg", reason="tf2_msgs is not available")

pytestmark = pytest.mark.ros


def test_tf_message_on_tf_topic(ros_node, start_peer, spin, msg_tools):
    random_fill, field_differences = msg_tools
    from geometry_msgs.msg import TransformStamped

    msg = tf2_msgs.TFMessage(transforms=[random_fill(TransformStamped(), np.random.default_rng(i)) for i in range(3)])
    msg.transforms[0].header.frame_id = "camera_color_optical_frame"
    msg.transforms[0].child_frame_id = "hand_left"
    peer = start_peer("echo.py", "tf2_msgs/msg/TFMessage", "/tf", "/tf_echo")
    qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)  # as tf2_ros
    received = []
    pub = ros_node.create_publisher(tf2_msgs.TFMessage, "/tf", qos)
    ros_node.create_subscription(tf2_msgs.TFMessage, "/tf_echo", received.append, qos)
    ok = spin(ros_node, lambda: bool(received), timeout_s=30.0, action=lambda: pub.publish(msg), period_s=0.2)
    assert peer.poll() is None
    assert ok, "the TFMessage did not come back from the peer process"
    assert field_differences(msg, received[0]) == []
    assert received[0].transforms[0].child_frame_id == "hand_left"
