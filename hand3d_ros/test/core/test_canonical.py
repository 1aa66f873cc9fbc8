"""Tests for hand3d_ros.core.canonical."""

import math

import numpy as np
import pytest
import torch

from hand3d_ros.core.canonical import (
    LEFT,
    RIGHT,
    axis_angle_to_matrix,
    canonical_transform,
    flip_hand_side,
    from_canonical,
    matrix_to_axis_angle,
    normalize_pose,
)
from hand3d_ros.core.keypoints import (
    FINGER_KEYPOINTS,
    FINGERS,
    LITTLE_MCP,
    MIDDLE_MCP,
    REFERENCE_BONE,
    ROOT,
)


def _random_rotation(rng, n):
    q = rng.standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=1,
    )


def random_hands(rng, n):
    """Plausible left hands (N, 21, 3) in metres, public order: a fan of metacarpals from
    the wrist, fingers bending in their own plane, then a random rotation and translation."""
    xyz = np.zeros((n, 21, 3))
    spread = {"thumb": 0.9, "index": 0.25, "middle": 0.0, "ring": -0.22, "little": -0.45}
    lengths = {
        "thumb": (0.035, 0.035, 0.03, 0.025),
        "index": (0.09, 0.04, 0.025, 0.02),
        "middle": (0.09, 0.045, 0.028, 0.022),
        "ring": (0.085, 0.042, 0.026, 0.021),
        "little": (0.08, 0.033, 0.02, 0.019),
    }
    for i in range(n):
        for finger in FINGERS:
            heading = spread[finger] + rng.normal(0, 0.08)  # angle in the palm plane (x-y)
            direction = np.array([math.sin(heading), math.cos(heading), 0.0])
            bend_axis = np.array([math.cos(heading), -math.sin(heading), 0.0])
            point = np.zeros(3)
            flex = 0.0
            for j, kp in enumerate(FINGER_KEYPOINTS[finger]):
                length = lengths[finger][j] * rng.uniform(0.85, 1.15)
                if j > 0:
                    flex += rng.uniform(0.0, 1.2)
                d = direction * math.cos(flex) + np.cross(bend_axis, direction) * math.sin(flex)
                point = point + length * d
                xyz[i, kp] = point
    rot = _random_rotation(rng, n)
    return xyz @ rot.transpose(0, 2, 1) + rng.uniform(-0.3, 0.3, (n, 1, 3)) + np.array([0, 0, 0.6])


@pytest.fixture
def hands():
    rng = np.random.default_rng(0)
    xyz = random_hands(rng, 64)
    side = rng.integers(0, 2, 64)
    return torch.from_numpy(xyz), torch.from_numpy(side)


def test_normalize_pose(hands):
    xyz, _ = hands
    w_rel, s = normalize_pose(xyz)
    assert torch.allclose(w_rel[:, ROOT], torch.zeros(3, dtype=w_rel.dtype))
    a, b = REFERENCE_BONE
    assert torch.allclose(
        torch.linalg.vector_norm(w_rel[:, b] - w_rel[:, a], dim=-1),
        torch.ones(64, dtype=w_rel.dtype),
    )
    assert torch.all((s > 0.03) & (s < 0.06))  # the middle proximal phalanx, metres
    assert torch.allclose(w_rel * s[:, None, None] + xyz[:, ROOT : ROOT + 1], xyz)


def test_canonical_frame_constraints_and_rotation(hands):
    xyz, side = hands
    w_rel, _ = normalize_pose(xyz)
    w_c, rot = canonical_transform(w_rel, side)
    m, little = w_c[:, MIDDLE_MCP], w_c[:, LITTLE_MCP]
    assert torch.allclose(m[:, [0, 2]], torch.zeros(64, 2, dtype=m.dtype), atol=1e-9) and torch.all(
        m[:, 1] < 0
    )
    assert torch.allclose(little[:, 2], torch.zeros(64, dtype=m.dtype), atol=1e-9) and torch.all(
        little[:, 0] > 0
    )
    eye = torch.eye(3, dtype=rot.dtype).expand_as(rot)
    assert torch.allclose(rot @ rot.transpose(1, 2), eye, atol=1e-9)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(64, dtype=rot.dtype), atol=1e-9)


def test_round_trip_float32(hands):
    xyz, side = hands
    w_rel, _ = normalize_pose(xyz.float())
    w_c, rot = canonical_transform(w_rel, side)
    assert w_c.dtype == torch.float32
    assert (from_canonical(w_c, rot, side) - w_rel).abs().max() < 1e-5
    # the viewpoint survives its axis-angle encoding (what PosePrior's stream B predicts)
    rot2 = axis_angle_to_matrix(matrix_to_axis_angle(rot))
    assert (from_canonical(w_c, rot2, side) - w_rel).abs().max() < 1e-5


def test_canonical_shape_does_not_depend_on_viewpoint(hands):
    xyz, side = hands
    w_rel, _ = normalize_pose(xyz)
    q = torch.from_numpy(_random_rotation(np.random.default_rng(5), 64))
    w_c, _ = canonical_transform(w_rel, side)
    w_c_rotated, _ = canonical_transform(w_rel @ q.transpose(1, 2), side)
    assert torch.allclose(w_c, w_c_rotated, atol=1e-9)


def test_mirrored_right_hand_has_the_left_hands_canonical_shape(hands):
    xyz, _ = hands
    w_rel, _ = normalize_pose(xyz)
    left = torch.full((64,), LEFT)
    right = torch.full((64,), RIGHT)
    w_c_left, _ = canonical_transform(w_rel, left)
    w_c_right, rot_right = canonical_transform(flip_hand_side(w_rel), right)
    assert torch.allclose(w_c_left, w_c_right, atol=1e-9)
    assert torch.allclose(
        from_canonical(w_c_right, rot_right, right), flip_hand_side(w_rel), atol=1e-9
    )


def test_numpy_input_accepted():
    xyz = random_hands(np.random.default_rng(2), 3)
    w_rel, s = normalize_pose(xyz)
    w_c, rot = canonical_transform(w_rel.numpy(), np.array([0, 1, 0]))
    assert isinstance(w_c, torch.Tensor) and w_c.shape == (3, 21, 3) and rot.shape == (3, 3, 3)


def test_flip_twice_is_identity():
    w = np.random.default_rng(0).standard_normal((4, 21, 3))
    assert np.array_equal(flip_hand_side(flip_hand_side(w)), w)
    assert np.array_equal(flip_hand_side(w)[..., 2], -w[..., 2])
    t = torch.from_numpy(w)
    assert torch.equal(flip_hand_side(flip_hand_side(t)), t)


def test_axis_angle_known_rotations():
    aa = torch.tensor(
        [[0.0, 0.0, math.pi / 2], [math.pi / 2, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, math.pi, 0.0]],
        dtype=torch.float64,
    )
    rot = axis_angle_to_matrix(aa)
    e = torch.eye(3, dtype=torch.float64)
    assert torch.allclose(rot[0] @ e[0], e[1], atol=1e-7)  # x -> y about z
    assert torch.allclose(rot[1] @ e[1], e[2], atol=1e-7)  # y -> z about x
    assert torch.allclose(rot[2], e)  # eps in the norm: zero vector gives the identity
    assert torch.allclose(
        rot[3], torch.diag(torch.tensor([-1.0, 1.0, -1.0], dtype=torch.float64)), atol=1e-7
    )


def test_axis_angle_round_trip_including_near_zero_and_pi():
    rng = np.random.default_rng(1)
    axes = rng.standard_normal((40, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.concatenate(
        [
            rng.uniform(0, math.pi - 0.01, 30),
            [
                1e-9,
                1e-7,
                1e-5,
                1e-3,
                0.5,
                math.pi - 1e-3,
                math.pi - 1e-5,
                math.pi - 1e-7,
                math.pi - 1e-9,
                math.pi,
            ],
        ]
    )
    aa = torch.from_numpy(axes * angles[:, None])
    rot = axis_angle_to_matrix(aa, eps=0.0)
    back = matrix_to_axis_angle(rot)
    assert torch.isfinite(back).all()
    # the rotation is reproduced everywhere (the axis sign at exactly pi is arbitrary)
    assert (axis_angle_to_matrix(back, eps=0.0) - rot).abs().max() < 1e-9
    away_from_pi = angles < math.pi - 1e-3
    assert (back[away_from_pi] - aa[away_from_pi]).abs().max() < 1e-9
    near_pi = ~away_from_pi
    same = (back[near_pi] - aa[near_pi]).abs().amax(dim=1)
    flipped = (back[near_pi] + aa[near_pi]).abs().amax(dim=1)
    assert torch.all(torch.minimum(same, flipped) < 1e-4)  # +-axis * ~pi


def test_axis_angle_float32_round_trip():
    rng = np.random.default_rng(2)
    aa = torch.from_numpy(rng.standard_normal((100, 3))).float()
    aa = aa / aa.norm(dim=1, keepdim=True) * torch.from_numpy(rng.uniform(0, 3.1, (100, 1))).float()
    assert (matrix_to_axis_angle(axis_angle_to_matrix(aa)) - aa).abs().max() < 1e-4
