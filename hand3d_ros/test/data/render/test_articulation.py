"""Pose sampling, limits, sign conventions on both hands, and the pinch IK."""
import numpy as np
import pytest

from hand3d_ros.data.render import articulation as art
from hand3d_ros.data.render.assets import assets_available, resolve_asset_dir
from hand3d_ros.data.render.skeleton import FINGER_JOINTS, JOINT_INDEX, WRIST_JOINT

needs_asset = pytest.mark.skipif(not assets_available(), reason="WebXR hand meshes absent (tools/fetch_hand_assets.sh)")


def test_every_family_stays_within_limits_and_is_deterministic():
    for family in art.POSE_FAMILIES:
        for seed in range(3):
            a, fa = art.sample_pose(np.random.default_rng(seed), family)
            b, _ = art.sample_pose(np.random.default_rng(seed), family)
            v = a.to_vector()
            assert fa == family
            assert v.shape == (art.POSE_VECTOR_SIZE,)
            assert np.all(v >= art.LIMITS[:, 0] - 1e-12) and np.all(v <= art.LIMITS[:, 1] + 1e-12)
            np.testing.assert_array_equal(v, b.to_vector())
    with pytest.raises(ValueError):
        art.sample_pose(np.random.default_rng(0), "wave")


def test_finger_flexion_is_correlated():
    rng = np.random.default_rng(0)
    pip, dip = [], []
    for _ in range(200):
        pose, _ = art.sample_pose(rng)
        pip.extend(pose.pip_flex)
        dip.extend(pose.dip_flex)
    assert np.corrcoef(pip, dip)[0, 1] > 0.8


def test_pose_vector_round_trip_and_interpolation():
    a, _ = art.sample_pose(np.random.default_rng(1), "fist")
    b, _ = art.sample_pose(np.random.default_rng(2), "open")
    np.testing.assert_array_equal(art.HandPose.from_vector(a.to_vector()).to_vector(), a.to_vector())
    np.testing.assert_allclose(art.interpolate_poses(a, b, 0.0).to_vector(), a.to_vector())
    np.testing.assert_allclose(art.interpolate_poses(a, b, 1.0).to_vector(), b.to_vector())


def _world(rig, pose):
    from hand3d_ros.data.render.skinning import forward_kinematics

    world, _ = forward_kinematics(rig, art.local_rotations(pose, rig.side_sign))
    return world


@needs_asset
@pytest.mark.parametrize("side", ["left", "right"])
def test_flexion_bends_toward_the_palm_and_abduction_toward_the_thumb(side):
    from hand3d_ros.data.render.skinning import load_rig

    rig = load_rig(resolve_asset_dir(), side)
    wrist = rig.rest_world[WRIST_JOINT]
    back_of_hand = wrist[:3, 1]  # wrist local +Y in the model frame
    rest = _world(rig, art.HandPose())
    tip = FINGER_JOINTS["index"][-1]
    bent = art.HandPose()
    bent.pip_flex[0] = np.deg2rad(60)
    moved = _world(rig, bent)[tip, :3, 3] - rest[tip, :3, 3]
    assert moved @ back_of_hand < -0.01  # toward the palm (opposite the back of the hand)
    spread = art.HandPose()
    spread.mcp_abd[0] = np.deg2rad(15)
    radial = rest[FINGER_JOINTS["index"][1], :3, 3] - rest[FINGER_JOINTS["middle"][1], :3, 3]
    radial /= np.linalg.norm(radial)  # from the middle toward the index knuckle: the thumb side
    moved = _world(rig, spread)[tip, :3, 3] - rest[tip, :3, 3]
    assert moved @ radial > 0.01


@needs_asset
@pytest.mark.parametrize("side", ["left", "right"])
def test_pinch_ik_brings_thumb_to_index(side):
    from hand3d_ros.data.render.skinning import load_rig

    rig = load_rig(resolve_asset_dir(), side)
    cfg = art.PoseSamplingConfig(pinch_ik=False)
    rng = np.random.default_rng(3)
    for _ in range(3):
        pose, _ = art.sample_pose(rng, "pinch", cfg)
        solved = art.solve_pinch(rig, pose, contact_gap_m=0.012)
        world = _world(rig, solved)
        gap = np.linalg.norm(world[JOINT_INDEX["thumb-tip"], :3, 3] - world[FINGER_JOINTS["index"][-1], :3, 3])
        assert abs(gap - 0.012) < 0.003
        v = solved.to_vector()
        assert np.all(v >= art.LIMITS[:, 0] - 1e-9) and np.all(v <= art.LIMITS[:, 1] + 1e-9)
