"""A separate ROS process that republishes what it hears: ``echo.py TYPE IN_TOPIC OUT_TOPIC``.

TYPE is ``package/msg/Name``. Used by the tests to send messages across a process
boundary and back over real DDS. Runs until it is terminated (SIGTERM/SIGINT).
"""
import importlib
import signal
import sys

import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy


def main(argv):
    type_name, in_topic, out_topic = argv[1:4]
    package, _, name = type_name.split("/")
    msg_type = getattr(importlib.import_module(f"{package}.msg"), name)
    rclpy.init()
    node = rclpy.create_node("echo_peer")
    qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    pub = node.create_publisher(msg_type, out_topic, qos)
    node.create_subscription(msg_type, in_topic, pub.publish, qos)
    signal.signal(signal.SIGTERM, lambda *_: rclpy.try_shutdown())
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
