"""package.xml parses, and lists every runtime dependency the code imports."""
import ast
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1]
SOURCE = PACKAGE_DIR / "hand3d_ros"

#: Python top-level module -> the rosdep key that provides it.
ROSDEP_KEYS = {
    "rclpy": "rclpy",
    "builtin_interfaces": "builtin_interfaces",
    "rcl_interfaces": "rcl_interfaces",
    "std_msgs": "std_msgs",
    "sensor_msgs": "sensor_msgs",
    "geometry_msgs": "geometry_msgs",
    "visualization_msgs": "visualization_msgs",
    "diagnostic_msgs": "diagnostic_msgs",
    "tf2_msgs": "tf2_msgs",
    "tf2_ros": "tf2_ros",
    "hand3d_msgs": "hand3d_msgs",
    "ament_index_python": "ament_index_python",
    "launch": "launch",
    "launch_ros": "launch_ros",
    "numpy": "python3-numpy",
    "yaml": "python3-yaml",
    "cv2": "python3-opencv",
    "transforms3d": "python3-transforms3d",
    "torch": "python3-torch",
    "scipy": "python3-scipy",
    "tqdm": "python3-tqdm",
    "PIL": "python3-pil",
}

#: Imported only inside optional features, each with a clear message when missing;
#: not runtime dependencies of the ROS package (documented in the README).
OPTIONAL = {"onnx", "onnxruntime", "tensorrt", "mediapipe", "skimage", "matplotlib", "pycuda", "cuda", "rosbags"}


def _package_xml():
    return ET.parse(PACKAGE_DIR / "package.xml").getroot()


def _imported_top_level_modules():
    modules = set()
    for path in SOURCE.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules


def test_package_xml_is_format_3_ament_python():
    root = _package_xml()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "hand3d_ros"
    assert root.find("export/build_type").text == "ament_python"
    assert root.findtext("license") and "GPL" not in root.findtext("license")


def test_every_imported_dependency_is_declared():
    root = _package_xml()
    declared = {e.text for tag in ("depend", "exec_depend") for e in root.findall(tag)}
    third_party = _imported_top_level_modules() - set(sys.stdlib_module_names) - {"hand3d_ros"} - OPTIONAL
    unknown = sorted(m for m in third_party if m not in ROSDEP_KEYS)
    assert not unknown, f"imported modules with no rosdep mapping in this test: {unknown}"
    missing = sorted(ROSDEP_KEYS[m] for m in third_party if ROSDEP_KEYS[m] not in declared)
    assert not missing, f"package.xml lacks exec_depend for: {missing}"


def test_messages_package_xml():
    root = ET.parse(PACKAGE_DIR.parent / "hand3d_msgs" / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("member_of_group") == "rosidl_interface_packages"
    assert root.find("export/build_type").text == "ament_cmake"


def test_rviz2_is_an_optional_dependency():
    """rosdep installs RViz unless HAND3D_ROS_NO_RVIZ=1 (headless machines); the launch
    checks for it only with use_rviz:=true."""
    package = pytest.importorskip("catkin_pkg.package")
    parsed = package.parse_package(str(PACKAGE_DIR / "package.xml"))
    for env, expected in (({}, True), ({"HAND3D_ROS_NO_RVIZ": "1"}, False)):
        parsed.evaluate_conditions(env)
        assert any(d.name == "rviz2" and d.evaluated_condition for d in parsed.exec_depends) is expected, env
