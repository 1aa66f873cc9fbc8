"""Whole samples: fields, keypoints on the rendered hand, determinism, visibility, splits."""
import numpy as np
import pytest

from hand3d_ros.core import keypoints as kp
from hand3d_ros.data.render.assets import AssetMissingError, assets_available
from hand3d_ros.data.render.raster import project

needs_asset = pytest.mark.skipif(not assets_available(), reason="WebXR hand meshes absent (tools/fetch_hand_assets.sh)")
SIZE = 96


@pytest.fixture(scope="module")
def renderer():
    if not assets_available():
        pytest.skip("WebXR hand meshes absent (tools/fetch_hand_assets.sh)")
    from hand3d_ros.data.render.scene import HandRenderer, RenderConfig

    return HandRenderer(RenderConfig(height=SIZE, width=SIZE))


def test_missing_assets_fail_with_one_line(tmp_path):
    from hand3d_ros.data.render.scene import HandRenderer

    with pytest.raises(AssetMissingError) as info:
        HandRenderer(asset_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message and "fetch_hand_assets.sh" in message


@needs_asset
def test_sample_fields(renderer):
    s = renderer.sample(0, 0)
    assert s["image"].shape == (SIZE, SIZE, 3) and s["image"].dtype == np.uint8
    assert s["mask"].shape == (SIZE, SIZE) and s["mask"].dtype == np.uint8
    assert set(np.unique(s["mask"])) <= {0, 1 + int(s["hand_side"])}
    assert s["uv"].shape == (21, 2) and s["uv"].dtype == np.float32
    assert s["xyz"].shape == (21, 3) and s["xyz"].dtype == np.float32
    assert s["visible"].shape == (21,) and s["visible"].dtype == bool
    assert s["K"].shape == (3, 3) and s["K"].dtype == np.float32
    assert s["depth"].shape == (SIZE, SIZE) and s["depth"].dtype == np.float32
    assert s["hand_side"] in (0, 1)
    np.testing.assert_allclose(project(s["xyz"].astype(float), s["K"].astype(float)), s["uv"], atol=1e-3)
    # the hand centre lies at the paper's distance
    centre = 0.5 * (s["xyz"][kp.WRIST] + s["xyz"][kp.MIDDLE_MCP])
    assert 0.39 < np.linalg.norm(centre) < 0.66
    # a plausible hand size: wrist to middle MCP 6-13 cm
    assert 0.06 < np.linalg.norm(s["xyz"][kp.MIDDLE_MCP] - s["xyz"][kp.WRIST]) < 0.13


@needs_asset
def test_visible_keypoints_lie_on_the_hand_mask_and_depth(renderer):
    checked = 0
    for index in range(6):
        s = renderer.sample(1, index)
        mask = s["mask"] > 0
        # distance (px) from each pixel to the mask, by growing the mask 2 px
        grown = mask.copy()
        for _ in range(2):
            g = grown.copy()
            g[1:] |= grown[:-1]; g[:-1] |= grown[1:]; g[:, 1:] |= grown[:, :-1]; g[:, :-1] |= grown[:, 1:]
            grown = g
        for k in np.flatnonzero(s["visible"]):
            u, v = np.round(s["uv"][k]).astype(int)
            assert grown[v, u], f"sample {index} keypoint {k} at {u},{v} is off the hand"
            checked += 1
            # skin lies in front of the joint centre, within a bone length (a finger
            # pointing at the camera puts its own phalanx several cm in front)
            d = s["depth"][v, u]
            if mask[v, u] and d > 0:
                assert s["xyz"][k, 2] - 0.08 < d < s["xyz"][k, 2] + 0.005
        assert s["visible"].sum() >= 1
        assert (s["depth"][mask] > 0).all()
    assert checked > 30


@needs_asset
def test_same_seed_same_bytes_and_splits_differ(renderer):
    from hand3d_ros.data.render.scene import HandRenderer, RenderConfig

    a = renderer.sample(5, 3)
    b = renderer.sample(5, 3)
    for key in a:
        assert np.asarray(a[key]).tobytes() == np.asarray(b[key]).tobytes(), key
    assert renderer.sample(5, 4)["image"].tobytes() != a["image"].tobytes()
    fresh = HandRenderer(RenderConfig(height=SIZE, width=SIZE)).sample(5, 3)  # no hidden state
    for key in a:
        assert np.asarray(a[key]).tobytes() == np.asarray(fresh[key]).tobytes(), key
    val = HandRenderer(RenderConfig(height=SIZE, width=SIZE, split="val")).sample(5, 3)
    assert val["image"].tobytes() != a["image"].tobytes()
    assert not np.allclose(val["xyz"], a["xyz"])


@needs_asset
def test_fist_seen_from_the_back_hides_the_finger_tips(renderer):
    from hand3d_ros.data.render import articulation as art
    from hand3d_ros.data.render.camera import frame_from_axis
    from hand3d_ros.data.render.scene import Scene

    rng = np.random.default_rng(0)
    hand = renderer.sample_hand(rng, side="right", family="fist")
    hand.pose = art.HandPose(mcp_flex=np.full(4, np.deg2rad(85)), pip_flex=np.full(4, np.deg2rad(100)),
                             dip_flex=np.full(4, np.deg2rad(65)))
    # wrist frame +Y (back of the hand) toward the camera (-z), fingers (-Z) pointing up (-y)
    hand.rotation = np.stack([np.array([1.0, 0, 0]), np.array([0, 0, -1.0]), np.array([0, 1.0, 0])], axis=1)
    hand.rotation[:, 0] = np.cross(hand.rotation[:, 1], hand.rotation[:, 2])
    hand.centre = np.array([0.0, 0.0, 0.45])
    K = np.array([[150.0, 0, 47.5], [0, 150.0, 47.5], [0, 0, 1]])
    scene = Scene(K=K, height=SIZE, width=SIZE, hands=[hand], background=np.zeros((SIZE, SIZE, 3), np.float32),
                  lighting=renderer.sample_scene(rng).lighting)
    out = renderer.render(scene)
    vis = out["visible"][0]
    tips = [kp.INDEX_TIP, kp.MIDDLE_TIP, kp.RING_TIP, kp.LITTLE_TIP]
    knuckles = [kp.INDEX_MCP, kp.MIDDLE_MCP, kp.RING_MCP]
    assert not vis[tips].any()
    assert vis[knuckles].all()
    assert frame_from_axis(np.array([0, 0, 1.0]), 0.3).shape == (3, 3)


@needs_asset
def test_two_hand_sequence_has_a_leading_hand_axis(renderer):
    from hand3d_ros.data.render.sequences import render_sequence

    seq = render_sequence(renderer, 0, 0, num_frames=3, two_hands=True)
    assert seq["uv"].shape == (3, 2, 21, 2) and seq["visible"].shape == (3, 2, 21)
    assert seq["hand_side"].tolist() == [[0, 1]] * 3
    assert seq["image"].shape == (3, SIZE, SIZE, 3)
    np.testing.assert_allclose(seq["timestamp"], [0, 1 / 30, 2 / 30])
    single = render_sequence(renderer, 0, 1, num_frames=30)
    assert single["uv"].shape == (30, 21, 2) and single["hand_side"].shape == (30,)
    # smooth motion at 30 fps: keypoints move by less than 6 cm between frames, but move
    step = np.linalg.norm(np.diff(single["xyz"], axis=0), axis=-1)
    assert step.max() < 0.06
    assert np.linalg.norm(single["xyz"][-1] - single["xyz"][0], axis=-1).max() > 0.01
