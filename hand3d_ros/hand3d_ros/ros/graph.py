"""Several nodes in one process and one executor: ``hand3d_graph camera hand3d recorder``.

ROS 2 composition loads C++ classes (``rclcpp_components``) from shared libraries into a
component container; a Python node cannot be loaded into one. What Python can do is
run several nodes in one process with one executor: messages between them then skip
the loopback network (rclpy still serialises them), and there is one interpreter
instead of three. The nodes are the package's own:

- ``camera``: :class:`hand3d_ros.ros.replay_camera.ReplayCamera` (``-p source:=...``);
- ``hand3d``: :class:`hand3d_ros.ros.hand3d_node.Hand3DNode`;
- ``recorder``: :class:`hand3d_ros.ros.recorder.Recorder` (``-p output_dir:=...``).

Every ``--ros-args`` option reaches every node: parameters are declared only by the node
whose table has them (the three tables share no name); a remapping such as ``-r
image:=/camera/image_raw`` applies to the camera's output and hand3d's input alike
(which connects them); ``-r hand3d:__node:=name`` renames one node.

    ros2 run hand3d_ros hand3d_graph camera hand3d recorder --ros-args -p source:=clip.mp4 -p output_dir:=rec
    ros2 launch hand3d_ros hand3d.launch.py replay_source:=clip.mp4 record_dir:=rec single_process:=true
"""
from __future__ import annotations

import sys

#: The nodes this process can run, in the order they are created.
GRAPH_NODES = ("camera", "hand3d", "recorder")


def graph_nodes(argv) -> list:
    """The node names given before ``--ros-args`` (``argv[0]`` is the program), in
    :data:`GRAPH_NODES` order. ValueError (one line) for an unknown, repeated or missing name."""
    names = []
    for arg in list(argv)[1:]:
        if arg == "--ros-args":
            break
        if arg not in GRAPH_NODES:
            raise ValueError(f"unknown node '{arg}': choose from {', '.join(GRAPH_NODES)}")
        if arg in names:
            raise ValueError(f"node '{arg}' given twice")
        names.append(arg)
    if not names:
        raise ValueError(f"name the nodes to run, e.g. 'hand3d_graph {' '.join(GRAPH_NODES)} --ros-args ...'")
    return sorted(names, key=GRAPH_NODES.index)


def _make(name: str):
    if name == "camera":
        from hand3d_ros.ros.replay_camera import ReplayCamera

        return ReplayCamera(require_source=True)
    if name == "hand3d":
        from hand3d_ros.ros.hand3d_node import Hand3DNode

        return Hand3DNode()
    from hand3d_ros.ros.recorder import Recorder

    return Recorder()


def make_nodes(names) -> list:
    """Create the named nodes (rclpy initialised); if one cannot start, the ones already
    created are destroyed and its error is raised."""
    nodes = []
    try:
        for name in names:
            nodes.append(_make(name))
    except BaseException:
        for node in reversed(nodes):
            node.destroy_node()
        raise
    return nodes


def main(args=None) -> int:
    """Console script ``hand3d_graph``. Exit status 0 after a clean shutdown, 1 with one
    line when a node cannot start, 2 for bad node names."""
    from hand3d_ros.ros.recorder import Recorder, report
    from hand3d_ros.ros.runner import run_node

    argv = sys.argv if args is None else list(args)
    try:
        names = graph_nodes(argv)
    except ValueError as err:
        sys.stderr.write(f"hand3d_graph: {err}\n")
        return 2

    def before_destroy(node):
        if isinstance(node, Recorder):
            report(node)

    return run_node("hand3d_graph", lambda: make_nodes(names), argv, before_destroy=before_destroy)


if __name__ == "__main__":
    raise SystemExit(main())
