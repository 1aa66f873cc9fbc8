"""Start the hand3d node (and optionally RViz).

    ros2 launch hand3d_ros hand3d.launch.py camera:=camera use_rviz:=true
    ros2 launch hand3d_ros hand3d.launch.py --show-args      # every argument, described

The logic lives in hand3d_ros/ros/launch_logic.py (tested without launch).
"""
from hand3d_ros.ros.launch_logic import generate_launch_description  # noqa: F401
