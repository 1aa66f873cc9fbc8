"""The recorder node in its own process: ``recorder.py --ros-args -p output_dir:=...``.

Runs the console script's ``main`` exactly as ``ros2 run hand3d_ros hand3d_recorder`` does,
and exits with its status. The package under test comes first on the path, so the peer
runs the same code as the test even when another copy is installed.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from hand3d_ros.ros.recorder import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv))
