"""Fixtures of the teacher tests: the teacher venv's python (skips without it) and
renders with a known hand side (skips without the hand meshes)."""
import pytest

from hand3d_ros.data.render.assets import assets_available
from hand3d_ros.teacher.client import TeacherError, TeacherProcess, find_teacher_python

#: Render stream (split "test", no machine photos) whose hands the teacher finds often.
RENDER_SEED = 1
RENDER_COUNT = 16


@pytest.fixture(scope="session")
def teacher_python():
    try:
        return find_teacher_python()
    except TeacherError as exc:
        pytest.skip(f"MediaPipe teacher venv absent ({exc})")


@pytest.fixture(scope="session")
def teacher(teacher_python):
    proc = TeacherProcess(teacher_python)
    yield proc
    proc.close()


@pytest.fixture(scope="session")
def renders():
    """RENDER_COUNT single-hand renders, 320x240 (fields of data.render.scene.SAMPLE_FIELDS)."""
    if not assets_available():
        pytest.skip("WebXR hand meshes absent (tools/fetch_hand_assets.sh)")
    from hand3d_ros.data.render.scene import HandRenderer, RenderConfig

    renderer = HandRenderer(RenderConfig(height=240, width=320, split="test", system_photos=False))
    return [renderer.sample(RENDER_SEED, i) for i in range(RENDER_COUNT)]
