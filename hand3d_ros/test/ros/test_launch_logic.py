"""The launch file's logic without launch: arguments, remappings, parameter file."""
from pathlib import Path

import pytest

from hand3d_ros.ros.launch_logic import (
    LAUNCH_ARGUMENTS,
    check_rviz,
    node_exit_failure,
    node_settings,
    parameter_overrides,
    processes,
    resolve_params_file,
    topics,
)
from hand3d_ros.ros.params import PARAMS

PACKAGE = Path(__file__).resolve().parents[2]


def test_every_argument_has_a_description():
    names = [a.name for a in LAUNCH_ARGUMENTS]
    assert len(names) == len(set(names))
    for arg in LAUNCH_ARGUMENTS:
        assert len(arg.description) > 10
    for required in ("image_topic", "camera_info_topic", "params_file", "backend", "weights_dir", "use_rviz",
                     "use_depth"):
        assert required in names


def test_default_topics_follow_the_camera_namespace():
    assert topics({"camera": "camera"}) == {
        "image": "/camera/image_raw", "image/compressed": "/camera/image_raw/compressed",
        "camera_info": "/camera/camera_info", "depth": "/camera/aligned_depth_to_color/image_raw"}
    t = topics({"camera": "/cam/", "image_topic": "/rgb", "camera_info_topic": "/info"})
    assert t["image"] == "/rgb" and t["image/compressed"] == "/rgb/compressed" and t["camera_info"] == "/info"


def test_params_file_resolution(tmp_path):
    assert resolve_params_file("", str(PACKAGE)) == str(PACKAGE / "config" / "hand3d.yaml")
    own = tmp_path / "mine.yaml"
    own.write_text("{}")
    assert resolve_params_file(str(own), str(PACKAGE)) == str(own)
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        resolve_params_file(str(tmp_path / "nope.yaml"), str(PACKAGE))


def _defaults():
    return {a.name: a.default for a in LAUNCH_ARGUMENTS}


def test_node_settings_overrides():
    args = _defaults()
    args.update(backend="onnxruntime", use_depth="true", use_rviz="True", weights_dir="~/w")
    s = node_settings(args, str(PACKAGE))
    assert s["parameters"][0].endswith("config/hand3d.yaml")
    overrides = s["parameters"][1]
    assert overrides == {"backend": "onnxruntime", "use_depth": True, "weights_dir": str(Path("~/w").expanduser())}
    assert s["use_rviz"] and s["rviz_config"].endswith("rviz/hand3d.rviz")
    assert ("image", "/camera/image_raw") in s["remappings"]


def test_every_node_parameter_is_a_launch_argument_with_its_description():
    arguments = {a.name: a for a in LAUNCH_ARGUMENTS}
    for spec in PARAMS:
        assert spec.name in arguments, spec.name
        assert arguments[spec.name].default == "" and spec.description in arguments[spec.name].description
    assert "one of auto, left, right" in arguments["handedness"].description
    assert "[-1, 0.99]" in arguments["detection_threshold"].description


def test_unset_parameter_arguments_leave_the_parameter_file_alone():
    assert node_settings(_defaults(), str(PACKAGE))["parameters"][1] == {}


def test_parameter_arguments_are_typed_as_the_node_declares_them():
    """The README's settings that the launch used to ignore, in `:=` form."""
    args = _defaults()
    args.update(handedness="left", precision="fp16", force_engine_rebuild="true", smoothing_beta="1",
                max_hands="3", frame_prefix="robot1/", publish_tf="False", engine_cache_dir="0")
    args["qos_overrides./camera/image_raw.subscription.reliability"] = "reliable"
    args["qos_overrides./camera/image_raw.subscription.depth"] = "5"
    overrides = parameter_overrides(args)
    assert overrides == {"handedness": "left", "precision": "fp16", "force_engine_rebuild": True,
                         "smoothing_beta": 1.0, "max_hands": 3, "frame_prefix": "robot1/", "publish_tf": False,
                         "engine_cache_dir": "0",
                         "qos_overrides./camera/image_raw.subscription.reliability": "reliable",
                         "qos_overrides./camera/image_raw.subscription.depth": 5}
    assert isinstance(overrides["smoothing_beta"], float) and isinstance(overrides["engine_cache_dir"], str)


@pytest.mark.parametrize("name, text, fragment", [
    ("handedness", "middle", "one of auto, left, right"),
    ("max_hands", "two", "expected a int"),
    ("detection_threshold", "1.5", "<= 0.99"),
    ("use_depth", "maybe", "expected a bool"),
    ("backend", "foo", "one of auto, torch, onnxruntime, tensorrt"),
])
def test_bad_parameter_arguments_stop_the_launch_with_one_line(name, text, fragment):
    args = _defaults()
    args[name] = text
    with pytest.raises(ValueError, match=f"launch argument {name}:=") as err:
        node_settings(args, str(PACKAGE))
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_use_rviz_without_rviz2_fails_before_anything_starts():
    args = _defaults()
    args["use_rviz"] = "true"
    missing = lambda name: name != "rviz2"  # noqa: E731
    with pytest.raises(RuntimeError, match="rviz2 package is not installed.*nothing was started"):
        node_settings(args, str(PACKAGE), package_exists=missing)
    check_rviz(False, missing)  # not asked for: no check
    assert node_settings(args, str(PACKAGE), package_exists=lambda name: True)["use_rviz"]


def test_a_node_that_dies_fails_the_launch():
    assert node_exit_failure("hand3d", 0) is None and node_exit_failure("hand3d", None) is None
    assert "hand3d exited with status 1" in node_exit_failure("hand3d", 1)
    assert "status -11" in node_exit_failure("hand3d", -11)


def test_launch_description_when_launch_is_installed():
    pytest.importorskip("launch", reason="ROS 2 launch is not installed here (not on PyPI)")
    pytest.importorskip("launch_ros", reason="launch_ros is not installed here")
    import importlib.util

    spec = importlib.util.spec_from_file_location("hand3d_launch", PACKAGE / "launch" / "hand3d.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    declared = [e.name for e in description.entities if hasattr(e, "default_value")]
    assert declared == [a.name for a in LAUNCH_ARGUMENTS]


def test_processes_one_per_node_or_one_for_all(tmp_path):
    args = _defaults()
    assert [p["executable"] for p in processes(node_settings(args, str(PACKAGE)))] == ["hand3d_node"]
    args.update(replay_source=str(tmp_path), record_dir="~/rec", node_name="hands", image_topic="/rgb")
    separate = processes(node_settings(args, str(PACKAGE)))
    assert [(p["executable"], p["name"]) for p in separate] == [
        ("replay_camera", "replay_camera"), ("hand3d_node", "hands"), ("hand3d_recorder", "hand3d_recorder")]
    camera, node, recorder = separate
    assert camera["remappings"] == node["remappings"] and ("image", "/rgb") in camera["remappings"]
    assert camera["parameters"] == [{"source": str(tmp_path), "loop": True}]
    assert recorder["parameters"][0] == {"output_dir": str(Path("~/rec").expanduser()),
                                         "markers_topic": "hands/markers", "debug_image_topic": "hands/debug_image"}
    args["single_process"] = "true"
    (graph,) = processes(node_settings(args, str(PACKAGE)))
    assert graph["executable"] == "hand3d_graph" and graph["name"] is None
    assert graph["arguments"] == ["camera", "hand3d", "recorder"]
    assert graph["ros_arguments"] == ["-r", "hand3d:__node:=hands"]  # renames hand3d only
    assert graph["parameters"] == node["parameters"] + camera["parameters"] + recorder["parameters"]
    assert graph["remappings"] == node["remappings"]
    args["replay_source"] = str(tmp_path / "missing.mp4")
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        node_settings(args, str(PACKAGE))


def test_the_node_takes_the_launch_arguments(ros_node, spin, node_process_factory, tmp_path):
    """The overrides reach a real node as launch_ros hands them over (a parameter file
    after the package's): ``ros2 param get`` shows them, not the defaults."""
    import yaml
    from rcl_interfaces.srv import GetParameters

    args = _defaults()
    args.update(handedness="left", precision="bf16", force_engine_rebuild="true", smoothing_beta="1",
                allow_random_weights="true", backend="torch", frame_prefix="0")  # fp16 needs CUDA
    params_file, overrides = node_settings(args, str(PACKAGE))["parameters"]
    overrides_file = tmp_path / "overrides.yaml"
    overrides_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": overrides}}))
    with node_process_factory("--params-file", params_file, "--params-file", str(overrides_file),
                              "-r", "__ns:=/launched", "-r", "__node:=hand3d") as proc:
        client = ros_node.create_client(GetParameters, "/launched/hand3d/get_parameters")
        assert client.wait_for_service(timeout_sec=60), proc.stdout.read() if proc.poll() is not None else "no node"
        names = ["handedness", "precision", "force_engine_rebuild", "smoothing_beta", "frame_prefix"]
        future = client.call_async(GetParameters.Request(names=names))
        assert spin(ros_node, future.done, timeout_s=30)
        values = future.result().values
    assert [values[0].string_value, values[1].string_value, values[2].bool_value, values[3].double_value,
            values[4].string_value] == ["left", "bf16", True, 1.0, "0"]
