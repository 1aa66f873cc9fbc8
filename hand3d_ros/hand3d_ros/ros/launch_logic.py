"""What ``launch/hand3d.launch.py`` does, as plain functions testable without ``launch``.

The launch file declares :data:`LAUNCH_ARGUMENTS` (each with a description), then builds
the node from :func:`node_settings` and, with ``use_rviz:=true``, starts RViz with
``rviz/hand3d.rviz``. ``launch``/``launch_ros`` are imported only by
:func:`generate_launch_description`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class LaunchArgument:
    name: str
    default: str
    description: str


LAUNCH_ARGUMENTS = (
    LaunchArgument("camera", "camera", "Camera namespace: image, camera_info and depth are looked up under it "
                   "(e.g. 'camera' gives /camera/image_raw). Ignored for topics given explicitly."),
    LaunchArgument("image_topic", "", "Image topic (sensor_msgs/Image); empty: <camera>/image_raw."),
    LaunchArgument("camera_info_topic", "", "CameraInfo topic; empty: <camera>/camera_info."),
    LaunchArgument("depth_topic", "", "Depth image aligned to the colour image; empty: <camera>/aligned_depth_to_color/image_raw."),
    LaunchArgument("params_file", "", "YAML file with node parameters; empty: the package's config/hand3d.yaml."),
    LaunchArgument("backend", "auto", "Inference backend: auto, torch, onnxruntime or tensorrt."),
    LaunchArgument("weights_dir", "", "Folder with handsegnet.pt, posenet.pt and poseprior.pt; empty: the shipped weights."),
    LaunchArgument("use_depth", "false", "Use the aligned depth image for the metric scale."),
    LaunchArgument("use_compressed", "false", "Subscribe to <image_topic>/compressed (JPEG/PNG)."),
    LaunchArgument("use_rviz", "false", "Start RViz with rviz/hand3d.rviz."),
    LaunchArgument("node_name", "hand3d", "Name of the node."),
    LaunchArgument("namespace", "", "Namespace of the node (its outputs move with it)."),
)


def _is_true(value: str) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def resolve_params_file(value: str, share_dir: Optional[str]) -> str:
    """The parameter file to load: ``value`` if given (``~`` expanded, must exist),
    else ``<share>/config/hand3d.yaml``. Raises FileNotFoundError with the path."""
    path = os.path.expanduser(value) if value else os.path.join(share_dir or "", "config", "hand3d.yaml")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"parameter file not found: {path}")
    return path


def topics(args: dict) -> dict:
    """Remappings of the node's inputs from the launch arguments (name -> topic)."""
    camera = args.get("camera", "camera").strip("/")
    prefix = f"/{camera}" if camera else ""
    image = args.get("image_topic") or f"{prefix}/image_raw"
    return {
        "image": image,
        "image/compressed": f"{image}/compressed",
        "camera_info": args.get("camera_info_topic") or f"{prefix}/camera_info",
        "depth": args.get("depth_topic") or f"{prefix}/aligned_depth_to_color/image_raw",
    }


def node_settings(args: dict, share_dir: Optional[str]) -> dict:
    """Everything the launch file passes to the node: parameter files and overrides,
    remappings, name and namespace."""
    overrides = {
        "backend": args.get("backend", "auto"),
        "use_depth": _is_true(args.get("use_depth", "false")),
        "use_compressed": _is_true(args.get("use_compressed", "false")),
    }
    if args.get("weights_dir"):
        overrides["weights_dir"] = os.path.expanduser(args["weights_dir"])
    return {
        "name": args.get("node_name") or "hand3d",
        "namespace": args.get("namespace", ""),
        "parameters": [resolve_params_file(args.get("params_file", ""), share_dir), overrides],
        "remappings": sorted(topics(args).items()),
        "use_rviz": _is_true(args.get("use_rviz", "false")),
        "rviz_config": os.path.join(share_dir or "", "rviz", "hand3d.rviz"),
    }


def generate_launch_description():
    """The launch description (needs ``launch`` and ``launch_ros``)."""
    from ament_index_python.packages import get_package_share_directory
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    share = get_package_share_directory("hand3d_ros")

    def setup(context):
        from launch_ros.actions import Node

        args = {a.name: context.perform_substitution(_config(a.name)) for a in LAUNCH_ARGUMENTS}
        settings = node_settings(args, share)
        actions = [
            Node(package="hand3d_ros", executable="hand3d_node", name=settings["name"],
                 namespace=settings["namespace"], parameters=settings["parameters"],
                 remappings=settings["remappings"], output="screen", emulate_tty=True)
        ]
        if settings["use_rviz"]:
            actions.append(Node(package="rviz2", executable="rviz2", name="rviz2",
                                arguments=["-d", settings["rviz_config"]], output="screen"))
        return actions

    return LaunchDescription(
        [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description) for a in LAUNCH_ARGUMENTS]
        + [OpaqueFunction(function=setup)]
    )


def _config(name):
    from launch.substitutions import LaunchConfiguration

    return LaunchConfiguration(name)
