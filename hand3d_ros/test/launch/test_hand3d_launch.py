"""launch_testing: ``hand3d.launch.py`` starts the node, which answers on its topics.

Runs wherever ROS 2 ``launch_testing`` is installed (``colcon test`` on a ROS install,
or ``launch_test test/launch/test_hand3d_launch.py``); skipped cleanly where it is not
(the PyPI venv has no ``launch``). The launch file's logic is also tested without launch
in ``test/ros/test_launch_logic.py``.
"""
import os
import unittest

import pytest

launch_testing = pytest.importorskip("launch_testing", reason="ROS 2 launch_testing is not installed")
launch = pytest.importorskip("launch")

import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LAUNCH_FILE = os.path.join(HERE, "..", "..", "launch", "hand3d.launch.py")
PARAMS_FILE = os.path.join(HERE, "random_weights.yaml")


@pytest.mark.launch_test
def generate_test_description():
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(LAUNCH_FILE),
        launch_arguments={"image_topic": "/launch_test/image", "camera_info_topic": "/launch_test/camera_info",
                          "backend": "torch", "namespace": "launch_test", "params_file": PARAMS_FILE}.items(),
    )
    return launch.LaunchDescription([include, launch_testing.actions.ReadyToTest()])


class TestNodeStarts(unittest.TestCase):
    def test_node_advertises_its_outputs(self, proc_output):
        import rclpy

        rclpy.init()
        node = rclpy.create_node("launch_test_probe")
        try:
            import time

            deadline = time.monotonic() + 30.0
            names = set()
            while time.monotonic() < deadline:
                names = {name for name, _ in node.get_topic_names_and_types()}
                if "/launch_test/hand_pose" in names and "/launch_test/hand_poses" in names:
                    break
                time.sleep(0.2)
            self.assertIn("/launch_test/hand_pose", names)
            self.assertIn("/launch_test/hand3d/markers", names)
        finally:
            node.destroy_node()
            rclpy.shutdown()


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_exit_code(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
