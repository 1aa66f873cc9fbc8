"""Tests for hand3d_ros.core.palm."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hand3d_ros.core.keypoints import FINGER_KEYPOINTS, MIDDLE_MCP, THUMB_TIP
from hand3d_ros.core.palm import LEFT, RIGHT, palm_frame

# Right hand in a hand-local frame: wrist at the origin, fingers along +x, palm facing +z
# (fingers flex towards +z), thumb towards -y: looking at the palm (from +z) with the
# fingers up, the thumb is on the viewer's right. MCPs (and thumb CMC) in metres.
_BASES = {
    "thumb": (0.025, -0.025, 0.008),
    "index": (0.085, -0.022, 0.0),
    "middle": (0.088, -0.002, 0.0),
    "ring": (0.083, 0.017, 0.0),
    "little": (0.075, 0.034, 0.0),
}
_SPREAD_DEG = {"thumb": -45.0, "index": -6.0, "middle": 0.0, "ring": 6.0, "little": 12.0}
_PHALANX_M = 0.03


def local_right_hand(flex_deg=0.0):
    """(21, 3) metres; every joint flexes by ``flex_deg`` towards the palm (+z)."""
    xyz = np.zeros((21, 3))
    for finger, (k0, *rest) in FINGER_KEYPOINTS.items():
        point = np.array(_BASES[finger])
        xyz[k0] = point
        spread = np.deg2rad(_SPREAD_DEG[finger])
        flex = 0.0
        for k in rest:
            flex += np.deg2rad(flex_deg)
            point = point + _PHALANX_M * np.array([np.cos(flex) * np.cos(spread), np.cos(flex) * np.sin(spread), np.sin(flex)])
            xyz[k] = point
    return xyz


MIRROR_Y = np.diag([1.0, -1.0, 1.0])  # right <-> left in the hand-local frame
MIRROR_X = np.diag([-1.0, 1.0, 1.0])  # right <-> left in the camera frame


def expected_local_frame(local):
    x = local[MIDDLE_MCP] / np.linalg.norm(local[MIDDLE_MCP])
    z = np.array([0.0, 0.0, 1.0])
    return np.stack([x, np.cross(z, x), z], axis=-1)


def posed(local, rotation, translation):
    return local @ rotation.T + translation


def test_flat_hands_have_the_expected_axes():
    rng = np.random.default_rng(0)
    for side, local in ((RIGHT, local_right_hand()), (LEFT, local_right_hand() @ MIRROR_Y)):
        rotations = Rotation.random(5, random_state=rng).as_matrix()
        xyz = np.stack([posed(local, Rm, np.array([0.1, -0.05, 0.5])) for Rm in rotations])
        origin, R = palm_frame(xyz, np.full(5, side))
        assert origin.shape == (5, 3) and R.shape == (5, 3, 3)
        assert np.allclose(origin, [0.1, -0.05, 0.5])
        for Rm, frame in zip(rotations, R):
            assert np.allclose(frame, Rm @ expected_local_frame(local), atol=1e-9)
            assert np.allclose(frame.T @ frame, np.eye(3), atol=1e-9)
            assert np.isclose(np.linalg.det(frame), 1.0)


def test_right_hand_palm_towards_camera():
    # Palm facing the camera (normal towards -z), fingers up (-y in the image).
    local_to_cam = np.stack([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]], axis=-1)
    assert np.isclose(np.linalg.det(local_to_cam), 1.0)
    xyz = posed(local_right_hand(), local_to_cam, np.array([0.0, 0.0, 0.5]))
    assert xyz[THUMB_TIP, 0] > 0  # the thumb is on the image's right
    _, R = palm_frame(xyz[None], RIGHT)
    x, y, z = R[0].T
    assert x[1] < -0.99 and z[2] < -0.99  # x up the image, z out of the palm towards the camera
    assert y[0] < -0.99  # y towards the little finger (image left)


def test_normal_points_to_the_palm_for_both_sides():
    rng = np.random.default_rng(1)
    right_local = local_right_hand(flex_deg=35.0)  # fingertips curl towards the palm
    tips = [chain[-1] for finger, chain in FINGER_KEYPOINTS.items() if finger != "thumb"]
    for _ in range(5):
        Rm = Rotation.random(random_state=rng).as_matrix()
        right = posed(right_local, Rm, np.array([0.0, 0.0, 0.5]))
        left = right @ MIRROR_X.T  # a mirror image of a right hand is a left hand
        origin, R = palm_frame(np.stack([right, left]), np.array([RIGHT, LEFT]))
        for hand, o, frame in zip((right, left), origin, R):
            z = frame[:, 2]
            assert np.all((hand[tips] - o) @ z > 0.01)  # fingertips on the palm side
            assert np.isclose(np.linalg.det(frame), 1.0)
        # The mirrored frame: x and z mirror, y flips (the frame stays right-handed).
        assert np.allclose(R[1][:, 0], MIRROR_X @ R[0][:, 0])
        assert np.allclose(R[1][:, 2], MIRROR_X @ R[0][:, 2])
        assert np.allclose(R[1][:, 1], -MIRROR_X @ R[0][:, 1])


def test_wrong_side_flips_the_normal():
    hand = local_right_hand(flex_deg=30.0)[None]
    _, R_right = palm_frame(hand, RIGHT)
    _, R_wrong = palm_frame(hand, LEFT)
    assert np.allclose(R_wrong[0][:, 2], -R_right[0][:, 2])
    assert np.allclose(R_wrong[0][:, 0], R_right[0][:, 0])


def test_unitless_and_metric_inputs_give_the_same_orientation():
    hand = posed(local_right_hand(20.0), Rotation.from_euler("xyz", [10, 50, -30], degrees=True).as_matrix(), np.array([0.05, 0.02, 0.6]))
    w_rel = (hand - hand[0]) / 0.03
    _, R_metric = palm_frame(hand[None], RIGHT)
    origin, R_rel = palm_frame(w_rel[None], RIGHT)
    assert np.allclose(R_metric, R_rel)
    assert np.allclose(origin, 0.0)


def test_degenerate_and_nan_give_nan():
    collinear = np.zeros((1, 21, 3))
    collinear[0, :, 0] = np.arange(21) * 0.01
    _, R = palm_frame(collinear, RIGHT)
    assert np.all(np.isnan(R[0][:, 2]))
    nan_hand = np.full((1, 21, 3), np.nan)
    origin, R = palm_frame(nan_hand, LEFT)
    assert np.all(np.isnan(origin)) and np.all(np.isnan(R))


def test_bad_input_raises():
    with pytest.raises(ValueError):
        palm_frame(np.zeros((21, 3)), RIGHT)
    with pytest.raises(ValueError):
        palm_frame(np.zeros((1, 21, 3)), 2)
