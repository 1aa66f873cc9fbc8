"""tools/register_ament.py: ``ros2 launch hand3d_ros hand3d.launch.py`` finds the launch
file the way ros2launch does (CI has no ``ros2 launch``): ament index -> the package's
share folder -> ``os.walk`` without following folder links -> a file of that name."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1]
SCRIPT = PACKAGE_DIR.parent / "tools" / "register_ament.py"


def _find_in_share(package: str, file_name: str) -> list:
    """As ros2launch's get_share_file_path_from_package: every file called ``file_name``
    under the package's share folder, walked without following links to folders."""
    from ament_index_python.packages import get_package_share_directory

    share = get_package_share_directory(package)
    return [os.path.join(root, file_name) for root, _, files in os.walk(share) if file_name in files]


@pytest.fixture
def registered(tmp_path, monkeypatch):
    pytest.importorskip("ament_index_python")
    prefix = tmp_path / "prefix"
    # An older registration linked whole folders: re-registering must replace them.
    (prefix / "share" / "hand3d_ros").mkdir(parents=True)
    (prefix / "share" / "hand3d_ros" / "launch").symlink_to(PACKAGE_DIR / "launch")
    result = subprocess.run([sys.executable, str(SCRIPT), str(PACKAGE_DIR), str(prefix)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(prefix))
    return prefix


def test_launch_config_and_rviz_files_are_found_the_ros2launch_way(registered):
    share = registered / "share" / "hand3d_ros"
    for sub, name in (("launch", "hand3d.launch.py"), ("config", "hand3d.yaml"), ("rviz", "hand3d.rviz")):
        found = _find_in_share("hand3d_ros", name)
        assert found == [str(share / sub / name)], f"{name}: {found}"
        assert not (share / sub).is_symlink()
        assert Path(found[0]).resolve() == (PACKAGE_DIR / sub / name).resolve()  # edits stay live


def test_launch_logic_finds_its_files_in_the_registered_share(registered):
    from ament_index_python.packages import get_package_share_directory

    from hand3d_ros.ros.launch_logic import node_settings

    share = get_package_share_directory("hand3d_ros")
    settings = node_settings({}, share)
    assert os.path.isfile(settings["parameters"][0]) and os.path.isfile(settings["rviz_config"])


def test_a_folder_link_hides_the_launch_file_from_ros2launch(tmp_path, monkeypatch):
    """Why the files are linked one by one: the old layout, seen by the same walk."""
    pytest.importorskip("ament_index_python")
    prefix = tmp_path / "old"
    (prefix / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (prefix / "share" / "ament_index" / "resource_index" / "packages" / "hand3d_ros").write_text("")
    (prefix / "share" / "hand3d_ros").mkdir(parents=True)
    (prefix / "share" / "hand3d_ros" / "launch").symlink_to(PACKAGE_DIR / "launch")
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(prefix))
    assert _find_in_share("hand3d_ros", "hand3d.launch.py") == []
