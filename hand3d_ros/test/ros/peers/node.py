"""Run the hand3d node in its own process: ``node.py [--ros-args ...]`` (as ``ros2 run``)."""
import sys

from hand3d_ros.ros.hand3d_node import main

if __name__ == "__main__":
    sys.exit(main(sys.argv))
