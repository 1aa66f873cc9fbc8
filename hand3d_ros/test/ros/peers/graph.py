"""Several nodes in one process: ``graph.py camera hand3d recorder --ros-args ...``.

Runs the console script's ``main`` exactly as ``ros2 run hand3d_ros hand3d_graph`` does.
The package under test comes first on the path.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from hand3d_ros.ros.graph import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv))
