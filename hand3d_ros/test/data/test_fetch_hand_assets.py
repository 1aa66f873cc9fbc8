"""tools/fetch_hand_assets.sh: idempotent when the files are there, one line on failure.

Neither test downloads anything: the first copies already fetched files (skipped when
they are absent), the second hides npm.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hand3d_ros.data.render.assets import assets_available, repo_root, resolve_asset_dir

SCRIPT = repo_root() / "tools" / "fetch_hand_assets.sh"


def _path_without_npm(tmp_path):
    """A PATH holding only the coreutils the script needs (no npm, no network)."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("dirname", "sha256sum", "cut", "mkdir", "mktemp", "rm"):
        path = shutil.which(tool)
        if path is None:
            pytest.skip(f"{tool} not found")
        (tools / tool).symlink_to(path)
    return str(tools)


@pytest.mark.skipif(not assets_available(), reason="WebXR hand meshes absent (tools/fetch_hand_assets.sh)")
def test_present_and_verified_files_are_not_fetched_again(tmp_path):
    src = resolve_asset_dir()
    for name in ("left.glb", "right.glb", "LICENSE.md"):
        if not (src / name).is_file():
            pytest.skip(f"{name} not in {src}")
        shutil.copy(src / name, tmp_path / name)
    dest = tmp_path / "dest"
    dest.mkdir()
    for name in ("left.glb", "right.glb", "LICENSE.md"):
        shutil.move(tmp_path / name, dest / name)
    env = dict(os.environ, PATH=_path_without_npm(tmp_path))  # no npm: must not be needed
    result = subprocess.run(["/bin/bash", str(SCRIPT), str(dest)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "already" in result.stdout


def test_failure_is_one_readable_line(tmp_path):
    env = dict(os.environ, PATH=_path_without_npm(tmp_path))
    result = subprocess.run(["/bin/bash", str(SCRIPT), str(tmp_path / "dest")], capture_output=True, text=True,
                            env=env)
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "npm not found" in result.stderr
    assert not Path(tmp_path / "dest" / "left.glb").exists()
