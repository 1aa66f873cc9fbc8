"""What ``launch/hand3d.launch.py`` does, as plain functions testable without ``launch``.

The launch file declares :data:`LAUNCH_ARGUMENTS` (each with a description): the
launch's own arguments (topics, parameter file, RViz, name, namespace) and one argument
per node parameter, generated from :data:`hand3d_ros.ros.params.PARAMS` with the
parameter's description and range. It then builds the node from :func:`node_settings`
and, with ``use_rviz:=true``, starts RViz with ``rviz/hand3d.rviz``.
``launch``/``launch_ros`` are imported only by :func:`generate_launch_description`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional

from hand3d_ros.ros.params import PARAMS, Param, check_value


@dataclass(frozen=True)
class LaunchArgument:
    name: str
    default: str
    description: str


#: Launch-file arguments that are not node parameters.
OWN_ARGUMENTS = (
    LaunchArgument("camera", "camera", "Camera namespace: image, camera_info and depth are looked up under it "
                   "(e.g. 'camera' gives /camera/image_raw). Ignored for topics given explicitly."),
    LaunchArgument("image_topic", "", "Image topic (sensor_msgs/Image); empty: <camera>/image_raw."),
    LaunchArgument("camera_info_topic", "", "CameraInfo topic; empty: <camera>/camera_info."),
    LaunchArgument("depth_topic", "", "Depth image aligned to the colour image; empty: <camera>/aligned_depth_to_color/image_raw."),
    LaunchArgument("params_file", "", "YAML file with node parameters; empty: the package's config/hand3d.yaml. "
                   "Parameter arguments given to the launch override it."),
    LaunchArgument("use_rviz", "false", "Start RViz with rviz/hand3d.rviz (needs the rviz2 package; checked "
                   "before anything starts)."),
    LaunchArgument("node_name", "hand3d", "Name of the node."),
    LaunchArgument("namespace", "", "Namespace of the node (its outputs move with it)."),
    LaunchArgument("replay_source", "", "Also start replay_camera publishing this video, image folder or .npz "
                   "sequence (looped) on the camera topics; empty: no camera of ours."),
    LaunchArgument("record_dir", "", "Also start hand3d_recorder writing poses.jsonl and summary.json into this "
                   "folder; empty: no recorder."),
    LaunchArgument("single_process", "false", "Run the nodes (hand3d, and replay_camera / hand3d_recorder when "
                   "asked for) in one process with one executor (hand3d_graph) instead of one process each. "
                   "Python nodes cannot be loaded into a C++ component container; this is the Python way."),
)

#: Prefix of the standard QoS override parameters, passed through as given
#: (``qos_overrides./camera/image_raw.subscription.reliability:=reliable``).
QOS_OVERRIDES_PREFIX = "qos_overrides."


def parameter_argument(spec: Param) -> LaunchArgument:
    """The launch argument of one node parameter: same name, empty default (= the
    parameter file's value), the parameter's description with its type and range."""
    if spec.choices:
        allowed = f"one of {', '.join(spec.choices)}"
    elif isinstance(spec.default, bool):
        allowed = "true or false"
    elif spec.min is not None:
        allowed = f"{spec.type_name} in [{spec.min:g}, {spec.max:g}]"
    else:
        allowed = spec.type_name
    return LaunchArgument(spec.name, "", f"Node parameter ({allowed}; default {spec.default!r}; empty: as in "
                          f"params_file). {spec.description}")


LAUNCH_ARGUMENTS = OWN_ARGUMENTS + tuple(parameter_argument(spec) for spec in PARAMS)


def _is_true(value: str) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def parameter_value(spec: Param, text: str):
    """The typed value of a parameter given as launch-argument ``text``; ValueError with
    one line naming the argument when it does not fit the parameter."""
    text = text.strip()
    value: object = text
    try:
        if isinstance(spec.default, bool):
            lowered = text.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                raise ValueError
            value = lowered in ("true", "1", "yes", "on")
        elif isinstance(spec.default, int) or (spec.dynamic_typing and text.lstrip("-").isdigit()):
            value = int(text)
        elif isinstance(spec.default, float):
            value = float(text)
    except ValueError:
        raise ValueError(f"launch argument {spec.name}:={text!r}: expected a {spec.type_name}") from None
    reason = check_value(spec, value)
    if reason:
        raise ValueError(f"launch argument {spec.name}:={text!r}: {reason}")
    return value


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


def parameter_overrides(args: dict) -> dict:
    """Node parameters given as launch arguments (name -> typed value): every table
    parameter whose argument is not empty, and ``qos_overrides.*`` as given."""
    overrides = {}
    for spec in PARAMS:
        text = args.get(spec.name, "")
        if text.strip():
            overrides[spec.name] = parameter_value(spec, text)
    if overrides.get("weights_dir"):
        overrides["weights_dir"] = os.path.expanduser(overrides["weights_dir"])
    for name, text in args.items():
        if name.startswith(QOS_OVERRIDES_PREFIX) and text.strip():
            overrides[name] = int(text) if text.strip().isdigit() else text.strip()
    return overrides


def check_rviz(use_rviz: bool, package_exists: Callable[[str], bool]) -> None:
    """With ``use_rviz``: raise RuntimeError (one line) when the rviz2 package is not
    installed, so that the launch stops before it has started anything."""
    if use_rviz and not package_exists("rviz2"):
        raise RuntimeError("use_rviz:=true but the rviz2 package is not installed (e.g. apt install "
                           "ros-$ROS_DISTRO-rviz2); nothing was started. Run without use_rviz, or install RViz.")


def node_settings(args: dict, share_dir: Optional[str],
                  package_exists: Callable[[str], bool] = lambda name: True) -> dict:
    """Everything the launch file passes to the node: parameter files and overrides,
    remappings, name and namespace; checks every argument (ValueError,
    FileNotFoundError) and RViz (:func:`check_rviz`) before anything starts."""
    use_rviz = _is_true(args.get("use_rviz", "false"))
    replay_source = args.get("replay_source", "").strip()
    if replay_source and not (replay_source.isdigit() or os.path.exists(os.path.expanduser(replay_source))):
        raise FileNotFoundError(f"replay_source not found: {replay_source}")
    settings = {
        "name": args.get("node_name") or "hand3d",
        "namespace": args.get("namespace", ""),
        "parameters": [resolve_params_file(args.get("params_file", ""), share_dir), parameter_overrides(args)],
        "remappings": sorted(topics(args).items()),
        "use_rviz": use_rviz,
        "rviz_config": os.path.join(share_dir or "", "rviz", "hand3d.rviz"),
        "replay_source": os.path.expanduser(replay_source) if replay_source and not replay_source.isdigit()
        else replay_source,
        "record_dir": os.path.expanduser(args.get("record_dir", "").strip()),
        "single_process": _is_true(args.get("single_process", "false")),
    }
    check_rviz(use_rviz, package_exists)
    return settings


def processes(settings: dict) -> list:
    """The processes to start (RViz aside): dicts with ``executable``, ``name`` (None:
    keep the nodes' own names), ``arguments``, ``parameters``, ``remappings`` and
    ``ros_arguments``. One per node, or one ``hand3d_graph`` holding every node with
    ``single_process``. The camera gets the node's input remappings, so its outputs
    are exactly what the node listens to; the recorder sits in the node's namespace."""
    name = settings["name"]
    camera_params = {"source": settings["replay_source"], "loop": True} if settings["replay_source"] else None
    recorder_params = {"output_dir": settings["record_dir"], "markers_topic": f"{name}/markers",
                       "debug_image_topic": f"{name}/debug_image"} if settings["record_dir"] else None
    if settings["single_process"]:
        nodes = (["camera"] if camera_params else []) + ["hand3d"] + (["recorder"] if recorder_params else [])
        extra = [p for p in (camera_params, recorder_params) if p]
        return [{"executable": "hand3d_graph", "name": None, "arguments": nodes,
                 "parameters": settings["parameters"] + extra, "remappings": settings["remappings"],
                 "ros_arguments": [] if name == "hand3d" else ["-r", f"hand3d:__node:={name}"]}]
    plan = []
    if camera_params:
        plan.append({"executable": "replay_camera", "name": "replay_camera", "arguments": [],
                     "parameters": [camera_params], "remappings": settings["remappings"], "ros_arguments": []})
    plan.append({"executable": "hand3d_node", "name": name, "arguments": [], "parameters": settings["parameters"],
                 "remappings": settings["remappings"], "ros_arguments": []})
    if recorder_params:
        plan.append({"executable": "hand3d_recorder", "name": "hand3d_recorder", "arguments": [],
                     "parameters": [recorder_params], "remappings": [], "ros_arguments": []})
    return plan


def node_exit_failure(node_name: str, returncode: Optional[int]) -> Optional[str]:
    """Why the launch must fail when the node process ended with ``returncode`` (None
    when it ended cleanly). ``ros2 launch`` itself exits 0 when a node dies, so the launch
    file raises this to make it exit non-zero, e.g. when the node cannot start."""
    if returncode in (0, None):
        return None
    return f"{node_name} exited with status {returncode} (see its one-line reason above)"


def _package_exists(name: str) -> bool:
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        get_package_prefix(name)
    except PackageNotFoundError:
        return False
    return True


def generate_launch_description():
    """The launch description (needs ``launch`` and ``launch_ros``)."""
    from ament_index_python.packages import get_package_share_directory
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler
    from launch.event_handlers import OnProcessExit

    share = get_package_share_directory("hand3d_ros")

    def setup(context):
        from launch_ros.actions import Node
        from launch_ros.parameter_descriptions import ParameterValue

        args = dict(context.launch_configurations)
        settings = node_settings(args, share, _package_exists)

        def typed(parameters):  # strings stay strings (launch_ros would read '0' or 'true' in one as YAML)
            return [{k: ParameterValue(v, value_type=str) if isinstance(v, str) else v for k, v in p.items()}
                    if isinstance(p, dict) else p for p in parameters]

        actions = []
        for process in processes(settings):
            node = Node(package="hand3d_ros", executable=process["executable"], name=process["name"],
                        namespace=settings["namespace"], parameters=typed(process["parameters"]),
                        remappings=process["remappings"], arguments=process["arguments"],
                        ros_arguments=process["ros_arguments"], output="screen", emulate_tty=True)

            def on_exit(event, _context, label=process["name"] or process["executable"]):
                reason = node_exit_failure(label, event.returncode)
                if reason:
                    raise RuntimeError(reason)  # launch shuts everything down and exits 1

            actions += [node, RegisterEventHandler(OnProcessExit(target_action=node, on_exit=on_exit))]
        if settings["use_rviz"]:
            actions.append(Node(package="rviz2", executable="rviz2", name="rviz2",
                                arguments=["-d", settings["rviz_config"]], output="screen"))
        return actions

    return LaunchDescription(
        [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description) for a in LAUNCH_ARGUMENTS]
        + [OpaqueFunction(function=setup)]
    )
