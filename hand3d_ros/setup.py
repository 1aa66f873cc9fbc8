"""hand3d_ros: an ament_python ROS 2 package that is also a plain pip package.

``colcon build`` installs it as a ROS package (executables under lib/hand3d_ros, the
package marker, launch, config and rviz files under share/). ``pip install
./hand3d_ros`` installs the same files into the environment's prefix, so that the
library, the ``hand3d`` command and, where ROS 2 is importable, the nodes all work.
"""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "hand3d_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={PACKAGE: ["weights/*/*.pt", "weights/*/*.json", "weights/*/*.md",
                             "demo_clip/*.jpg", "demo_clip/*.json", "demo_clip/*.md",
                             "demo_clip/*.txt"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/rviz", glob("rviz/*.rviz")),
    ],
    python_requires=">=3.10",
    install_requires=["numpy", "scipy", "pyyaml", "tqdm", "pillow"],
    extras_require={
        "torch": ["torch>=2.1"],
        "onnx": ["onnx", "onnxruntime"],
        "vision": ["opencv-python-headless"],
        "ros": ["transforms3d"],
        "bags": ["rosbags", "transforms3d", "opencv-python-headless"],
    },
    zip_safe=True,
    maintainer="hand3d_ros developers",
    maintainer_email="hand3d-ros@users.noreply.github.com",
    description="3D hand pose from a single RGB camera for ROS 2 (Zimmermann and Brox, ICCV 2017).",
    license="MIT",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "hand3d = hand3d_ros.cli:main",
            "hand3d_node = hand3d_ros.ros.hand3d_node:main",
            "replay_camera = hand3d_ros.ros.replay_camera:main",
            "hand3d_recorder = hand3d_ros.ros.recorder:main",
            "hand3d_graph = hand3d_ros.ros.graph:main",
        ],
    },
)
