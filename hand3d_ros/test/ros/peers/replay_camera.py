"""The replay camera node in its own process: ``replay_camera.py --ros-args -p source:=...``.

Runs the console script's ``main`` exactly as ``ros2 run hand3d_ros replay_camera`` does,
and exits with its status. The package under test comes first on the path, so the peer
runs the same code as the test even when another copy is installed.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from hand3d_ros.ros.replay_camera import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv))
