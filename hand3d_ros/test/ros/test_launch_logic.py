"""The launch file's logic without launch: arguments, remappings, parameter file."""
from pathlib import Path

import pytest

from hand3d_ros.ros.launch_logic import LAUNCH_ARGUMENTS, node_settings, resolve_params_file, topics

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


def test_node_settings_overrides():
    args = {a.name: a.default for a in LAUNCH_ARGUMENTS}
    args.update(backend="onnxruntime", use_depth="true", use_rviz="True", weights_dir="~/w")
    s = node_settings(args, str(PACKAGE))
    assert s["parameters"][0].endswith("config/hand3d.yaml")
    overrides = s["parameters"][1]
    assert overrides["backend"] == "onnxruntime" and overrides["use_depth"] is True
    assert overrides["weights_dir"] == str(Path("~/w").expanduser())
    assert s["use_rviz"] and s["rviz_config"].endswith("rviz/hand3d.rviz")
    assert ("image", "/camera/image_raw") in s["remappings"]


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
