"""Recorded bags for the offline tests, written with the ``rosbags`` library from rendered frames."""
import pytest

pytest.importorskip("rosbags")


@pytest.fixture(scope="session")
def rendered():
    """A short rendered single-hand sequence (4 frames, 120x160) with ground truth, or a skip
    when the hand meshes are not fetched."""
    from hand3d_ros.data.render.assets import assets_available

    if not assets_available():
        pytest.skip("hand meshes not fetched (make setup fetches them)")
    from hand3d_ros.data.render.scene import HandRenderer, RenderConfig
    from hand3d_ros.data.render.sequences import render_sequence

    return render_sequence(HandRenderer(RenderConfig(height=120, width=160, split="test")), seed=3, num_frames=4)
