"""Tests for hand3d_ros.core.metric3d: synthetic hands seen by a synthetic camera."""
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hand3d_ros.core.keypoints import FINGER_KEYPOINTS, MIDDLE_MCP, MIDDLE_PIP, ROOT
from hand3d_ros.core.metric3d import (
    MetricConfig,
    ScaleSource,
    lift_to_metric,
    lift_to_metric_batch,
    project_points,
    refine_scale_translation,
    rotation_from_vector,
    reprojection_rms,
    sample_depth,
    solve_translation,
    solve_with_depth,
)

WIDTH, HEIGHT = 640, 480
PACKAGE_ROOT = Path(__file__).resolve().parents[3]  # the repository: hand3d_msgs beside hand3d_ros

# Hand-local frame of a right hand: fingers along +x, palm facing +z, thumb towards -y.
# MCP (or thumb CMC) positions in units of the reference bone, and phalanx lengths
# relative to the reference bone (middle proximal phalanx = 1).
_BASES = {
    "thumb": (0.55, -0.55, 0.15),
    "index": (2.00, -0.50, 0.0),
    "middle": (2.05, -0.05, 0.0),
    "ring": (1.95, 0.40, 0.0),
    "little": (1.75, 0.80, 0.0),
}
_PHALANGES = {
    "thumb": (0.95, 0.75, 0.65),
    "index": (0.92, 0.58, 0.50),
    "middle": (1.00, 0.65, 0.52),
    "ring": (0.95, 0.62, 0.50),
    "little": (0.75, 0.45, 0.45),
}
_SPREAD_DEG = {"thumb": -40.0, "index": -8.0, "middle": 0.0, "ring": 7.0, "little": 15.0}


def random_hand(rng, bone_length_m=0.043, max_flex_deg=60.0):
    """A plausible right hand, (21, 3) metres, hand-local frame, wrist at the origin."""
    xyz = np.zeros((21, 3))
    for finger, (k0, k1, k2, k3) in FINGER_KEYPOINTS.items():
        base = np.array(_BASES[finger]) * bone_length_m
        if finger != "middle":  # the middle MCP->PIP bone must stay exactly the reference length
            base = base * rng.uniform(0.95, 1.05)
        xyz[k0] = base
        spread = np.deg2rad(_SPREAD_DEG[finger] + rng.uniform(-5, 5))
        flex = 0.0
        point = base
        lengths = np.array(_PHALANGES[finger]) * bone_length_m
        if finger != "middle":
            lengths = lengths * rng.uniform(0.95, 1.05, size=3)
        for k, length in zip((k1, k2, k3), lengths):
            flex += np.deg2rad(rng.uniform(0, max_flex_deg))  # flexion towards the palm (+z)
            direction = np.array([np.cos(flex) * np.cos(spread), np.cos(flex) * np.sin(spread), np.sin(flex)])
            point = point + length * direction
            xyz[k] = point
    return xyz


def random_camera(rng):
    f = rng.uniform(500, 600)
    return np.array([[f, 0, WIDTH / 2 - 0.5 + rng.uniform(-5, 5)], [0, f, HEIGHT / 2 - 0.5 + rng.uniform(-5, 5)], [0, 0, 1]])


def random_scene(rng, bone_length_m=0.043):
    """Returns (xyz_cam (21,3) metres, w_rel (21,3), t (3,), K (3,3))."""
    local = random_hand(rng, bone_length_m)
    R = Rotation.random(random_state=rng).as_matrix()
    z = rng.uniform(0.4, 0.65)
    t = np.array([rng.uniform(-0.08, 0.08), rng.uniform(-0.06, 0.06), z])
    xyz = local @ R.T + t
    bone = np.linalg.norm(xyz[MIDDLE_PIP] - xyz[MIDDLE_MCP])
    w_rel = (xyz - xyz[ROOT]) / bone
    return xyz, w_rel, t, random_camera(rng)


def test_generator_reference_bone_is_exact():
    rng = np.random.default_rng(0)
    xyz, w_rel, t, _ = random_scene(rng, 0.045)
    assert np.isclose(np.linalg.norm(xyz[MIDDLE_PIP] - xyz[MIDDLE_MCP]), 0.045)
    assert np.isclose(np.linalg.norm(w_rel[MIDDLE_PIP] - w_rel[MIDDLE_MCP]), 1.0)
    assert np.allclose(xyz[ROOT], t)


def test_solve_translation_exact_without_noise():
    rng = np.random.default_rng(1)
    for _ in range(20):
        s = rng.uniform(0.035, 0.05)
        xyz, w_rel, t, K = random_scene(rng, s)
        uv = project_points(xyz, K)
        score = rng.uniform(0.3, 1.0, size=21)
        t_hat = solve_translation(w_rel, uv, score, K, s)
        assert t_hat.shape == (3,)
        assert np.allclose(t_hat, t, atol=1e-6)


def test_solve_translation_batched_and_skew():
    rng = np.random.default_rng(2)
    scenes = [random_scene(rng) for _ in range(3)]
    K = scenes[0][3].copy()
    K[0, 1] = 1.5  # skewed camera
    w_rel = np.stack([s[1] for s in scenes])
    uv = np.stack([project_points(s[0], K) for s in scenes])
    t = np.stack([s[2] for s in scenes])
    t_hat = solve_translation(w_rel, uv, np.ones((3, 21)), K, np.full(3, 0.043))
    assert t_hat.shape == (3, 3)
    assert np.allclose(t_hat, t, atol=1e-6)


def test_solve_translation_with_pixel_noise():
    rng = np.random.default_rng(3)
    rel_errors = []
    for _ in range(50):
        xyz, w_rel, t, K = random_scene(rng)
        uv = project_points(xyz, K) + rng.normal(0, 2.0, size=(21, 2))
        t_hat = solve_translation(w_rel, uv, np.ones(21), K, 0.043)
        rel_errors.append(abs(t_hat[2] - t[2]) / t[2])
    assert max(rel_errors) < 0.05, max(rel_errors)


def test_zero_score_keypoints_are_ignored():
    rng = np.random.default_rng(4)
    xyz, w_rel, t, K = random_scene(rng)
    uv = project_points(xyz, K)
    score = np.ones(21)
    bad = [4, 8, 12, 16, 20]
    uv[bad] += rng.uniform(50, 150, size=(len(bad), 2))  # wildly wrong fingertips...
    score[bad] = 0.0  # ...that nobody trusts
    uv[0] = np.nan  # and a non-finite one (also score 0 -> ignored)
    score[0] = 0.0
    assert np.allclose(solve_translation(w_rel, uv, score, K, 0.043), t, atol=1e-6)
    # min_score drops low-confidence points the same way
    score2 = np.ones(21)
    score2[bad] = 0.1
    score2[0] = 0.1
    assert np.allclose(solve_translation(w_rel, uv, score2, K, 0.043, min_score=0.2), t, atol=1e-6)
    # but used with weight they do pull the answer away
    assert not np.allclose(solve_translation(w_rel, uv, score2, K, 0.043), t, atol=1e-3)


def test_too_few_keypoints_gives_nan():
    rng = np.random.default_rng(5)
    xyz, w_rel, t, K = random_scene(rng)
    uv = project_points(xyz, K)
    score = np.zeros(21)
    score[3] = 1.0
    assert np.all(np.isnan(solve_translation(w_rel, uv, score, K, 0.043)))


def test_gauss_newton_reduces_reprojection_error():
    rng = np.random.default_rng(6)
    improved = 0
    for _ in range(20):
        xyz, w_rel, t, K = random_scene(rng)
        uv = project_points(xyz, K) + rng.normal(0, 2.0, size=(21, 2))
        score = rng.uniform(0.5, 1.0, size=21)
        t0 = solve_translation(w_rel, uv, score, K, 0.043)

        def weighted_cost(s_, t_):  # what the refinement minimises (no Huber, s on the prior)
            return np.sum(score * np.sum((project_points(t_ + s_ * w_rel, K) - uv) ** 2, axis=1))

        before = weighted_cost(0.043, t0)
        s1, t1 = refine_scale_translation(w_rel, uv, score, K, 0.043, t0, 0.043, prior_weight=100.0, iterations=5)
        after = weighted_cost(s1, t1)
        assert after <= before + 1e-9
        improved += after < before - 1e-6
        assert abs(s1 / 0.043 - 1) < 1e-3  # the image cannot move the scale off the prior
    assert improved >= 15


def test_gauss_newton_recovers_from_a_bad_start():
    rng = np.random.default_rng(7)
    xyz, w_rel, t, K = random_scene(rng)
    uv = project_points(xyz, K)
    start = t + np.array([0.03, -0.02, 0.08])
    s1, t1 = refine_scale_translation(w_rel, uv, np.ones(21), K, 0.043, start, 0.043, iterations=10)
    assert np.allclose(t1, t, atol=1e-5)
    assert reprojection_rms(t1 + s1 * w_rel, uv, K) < 1e-3


def test_robust_loss_limits_an_outlier():
    rng = np.random.default_rng(8)
    xyz, w_rel, t, K = random_scene(rng)
    uv = project_points(xyz, K) + rng.normal(0, 1.0, size=(21, 2))
    uv[8] += np.array([80.0, -60.0])  # one misdetected fingertip, confident
    t0 = solve_translation(w_rel, uv, np.ones(21), K, 0.043)
    _, t_plain = refine_scale_translation(w_rel, uv, np.ones(21), K, 0.043, t0, 0.043, iterations=10)
    _, t_huber = refine_scale_translation(w_rel, uv, np.ones(21), K, 0.043, t0, 0.043, iterations=10, robust_loss_px=5.0)
    assert np.linalg.norm(t_huber - t) < np.linalg.norm(t_plain - t)


def _turned(w_rel, degrees, seed):
    """w_rel seen from a viewpoint off by ``degrees`` about a random axis through the wrist
    (what a lifting network's error looks like)."""
    axis = np.random.default_rng(seed).normal(size=3)
    return w_rel @ Rotation.from_rotvec(np.deg2rad(degrees) * axis / np.linalg.norm(axis)).as_matrix().T


def test_rotation_refinement_recovers_a_turned_viewpoint():
    rng = np.random.default_rng(10)
    z_error = {True: [], False: []}
    for seed in range(10):
        xyz, w_rel, t, K = random_scene(rng, 0.043)
        uv = project_points(xyz, K) + rng.normal(0, 1.0, size=(21, 2))
        turned = _turned(w_rel, 25.0, seed)
        for rotate in (True, False):
            result = lift_to_metric(turned, uv, np.ones(21), K, MetricConfig(refine_rotation=rotate))
            z_error[rotate].append(abs(result.translation[2] - t[2]) / t[2])
            if rotate:  # the turned shape, turned back, explains the keypoints again
                assert result.reprojection_error_px < 2.0
                assert np.median(np.linalg.norm(result.xyz_cam - xyz, axis=1)) < 0.01
    assert np.median(z_error[True]) < 0.02 < np.median(z_error[False])


def test_few_keypoints_keep_the_lifted_viewpoint():
    rng = np.random.default_rng(11)
    xyz, w_rel, t, K = random_scene(rng, 0.043)
    uv = project_points(xyz, K) + rng.normal(0, 1.0, size=(21, 2))
    turned = _turned(w_rel, 25.0, 3)
    score = np.zeros(21)
    score[[0, 5, 9, 13, 17]] = 1.0  # five keypoints: too few to turn the shape
    few = lift_to_metric(turned, uv, score, K, MetricConfig())
    fixed = lift_to_metric(turned, uv, score, K, MetricConfig(refine_rotation=False))
    np.testing.assert_allclose(few.xyz_cam, fixed.xyz_cam)
    lowered = lift_to_metric(turned, uv, score, K, MetricConfig(rotation_min_keypoints=5))
    assert lowered.reprojection_error_px < few.reprojection_error_px
    with pytest.raises(ValueError):
        MetricConfig(rotation_min_keypoints=3)


def test_rotation_from_vector():
    omega = np.array([0.3, -0.2, 0.5])
    np.testing.assert_allclose(rotation_from_vector(omega), Rotation.from_rotvec(omega).as_matrix(), atol=1e-12)
    np.testing.assert_array_equal(rotation_from_vector(np.zeros(3)), np.eye(3))


def test_lift_to_metric_prior():
    rng = np.random.default_rng(9)
    xyz, w_rel, t, K = random_scene(rng, 0.043)
    uv = project_points(xyz, K) + rng.normal(0, 1.0, size=(21, 2))
    result = lift_to_metric(w_rel, uv, np.ones(21), K, MetricConfig())
    assert result.scale_source == ScaleSource.HAND_SIZE_PRIOR == 1
    assert result.reason == ""
    assert result.xyz_cam.shape == (21, 3)
    assert np.allclose(result.xyz_cam[ROOT], result.translation)
    assert np.linalg.norm(result.translation - t) < 0.02
    assert result.scale == pytest.approx(0.043, rel=1e-3)
    assert 0.3 < result.reprojection_error_px < 3.0
    assert result.num_keypoints_used == 21


def test_lift_to_metric_prior_scale_error_moves_distance_proportionally():
    rng = np.random.default_rng(10)
    xyz, w_rel, t, K = random_scene(rng, 0.043)
    uv = project_points(xyz, K)
    config = MetricConfig(bone_length_m=0.047)  # the prior says this hand is 9.3 % larger
    result = lift_to_metric(w_rel, uv, np.ones(21), K, config)
    assert result.translation == pytest.approx(t * 0.047 / 0.043, abs=1e-6)
    assert result.reprojection_error_px < 1e-6


def test_lift_to_metric_without_intrinsics():
    rng = np.random.default_rng(11)
    xyz, w_rel, t, K = random_scene(rng)
    uv = project_points(xyz, K)
    for bad_K in (None, np.zeros((3, 3)), np.full((3, 3), np.nan)):
        result = lift_to_metric(w_rel, uv, np.ones(21), bad_K)
        assert result.scale_source == ScaleSource.NONE == 0
        assert np.all(np.isnan(result.xyz_cam)) and np.isnan(result.scale)
        assert "intrinsics" in result.reason


def test_lift_to_metric_too_few_confident_keypoints_is_not_no_camera_info():
    """With intrinsics but fewer than 2 confident keypoints the answer is NaN too, with
    its own scale_source (not NONE, which means "no camera_info")."""
    rng = np.random.default_rng(12)
    xyz, w_rel, t, K = random_scene(rng)
    uv = project_points(xyz, K)
    score = np.zeros(21)
    score[0] = 1.0  # only the wrist is confident
    result = lift_to_metric(w_rel, uv, score, K)
    assert result.scale_source == ScaleSource.TOO_FEW_KEYPOINTS == 3 and not result.scale_source.is_metric
    assert np.all(np.isnan(result.xyz_cam)) and "too few usable keypoints" in result.reason
    assert lift_to_metric(w_rel, uv, np.ones(21), K).scale_source.is_metric


def test_scale_sources_match_the_message_constants():
    import re

    msg = (PACKAGE_ROOT / "hand3d_msgs" / "msg" / "HandPose3D.msg").read_text()
    constants = {name: int(value) for name, value in re.findall(r"^uint8 SCALE_(\w+)=(\d+)", msg, re.M)}
    assert constants == {member.name: int(member) for member in ScaleSource}


def test_metric_config_validates():
    with pytest.raises(ValueError):
        MetricConfig(bone_length_m=0.2)
    with pytest.raises(ValueError):
        MetricConfig(depth_window_px=4)
    with pytest.raises(ValueError):
        MetricConfig(min_score=1.5)


# ----------------------------------------------------------------------------- depth


def render_sphere_depth(centres, radius, K, background_m=1.5):
    """Depth image (HEIGHT, WIDTH), metres along z, of spheres at ``centres`` over a far plane."""
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    rays = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(K).T
    norm = np.linalg.norm(rays, axis=-1)
    unit = rays / norm[..., None]
    depth = np.full((HEIGHT, WIDTH), background_m)
    for c in centres:
        b = unit @ c
        disc = b ** 2 - (c @ c - radius ** 2)
        hit = disc >= 0
        dist = b[hit] - np.sqrt(disc[hit])
        z = dist * unit[hit][:, 2]
        depth[hit] = np.minimum(depth[hit], z)
    return depth


def _depth_scene(seed, bone_length_m=0.045, radius=0.01):
    rng = np.random.default_rng(seed)
    xyz, w_rel, t, K = random_scene(rng, bone_length_m)
    depth = render_sphere_depth(xyz, radius, K)
    uv = project_points(xyz, K)
    return rng, xyz, w_rel, t, K, depth, uv


def test_sample_depth_window_median_and_invalid():
    depth = np.full((20, 30), 2.0)
    depth[5:10, 5:10] = 1.0
    depth[7, 7] = np.nan
    depth[6, 6] = 0.0
    depth[8, 8] = np.inf
    uv = np.array([[7.0, 7.0], [20.0, 15.0], [-10.0, -10.0], [29.4, 19.4]])
    z = sample_depth(depth, uv, window_px=5, min_pixels=3)
    assert z[0] == 1.0 and z[1] == 2.0 and np.isnan(z[2]) and z[3] == 2.0
    mask = np.zeros_like(depth, dtype=bool)
    z_masked = sample_depth(depth, uv, window_px=5, hand_mask=mask)
    assert np.all(np.isnan(z_masked))


def test_depth_recovers_scale_and_translation():
    for seed in range(5):
        rng, xyz, w_rel, t, K, depth, uv = _depth_scene(100 + seed, bone_length_m=0.045 + 0.004 * (seed - 2))
        true_s = np.linalg.norm(xyz[MIDDLE_PIP] - xyz[MIDDLE_MCP])
        noisy_uv = uv + rng.normal(0, 0.5, size=uv.shape)
        config = MetricConfig(depth_surface_offset_m=0.01)
        fit = solve_with_depth(w_rel, noisy_uv, np.ones(21), K, depth, config=config)
        assert fit.ok, fit.reason
        assert fit.scale == pytest.approx(true_s, rel=0.03)
        assert np.linalg.norm(fit.translation - t) < 0.006
        result = lift_to_metric(w_rel, noisy_uv, np.ones(21), K, config, depth_m=depth)
        assert result.scale_source == ScaleSource.DEPTH == 2
        assert result.reason == ""
        error = np.linalg.norm(result.xyz_cam - xyz, axis=1)
        # measured keypoints are about a millimetre off; one whose window sees a sphere in
        # front of it takes that sphere's depth (as a real self-occluded joint would)
        assert np.median(error) < 0.003 and np.mean(error < 0.01) > 0.8


def test_depth_offset_matters():
    _, xyz, w_rel, t, K, depth, uv = _depth_scene(120)
    with_offset = solve_with_depth(w_rel, uv, np.ones(21), K, depth, config=MetricConfig(depth_surface_offset_m=0.01))
    without = solve_with_depth(w_rel, uv, np.ones(21), K, depth, config=MetricConfig(depth_surface_offset_m=0.0))
    assert with_offset.ok and without.ok
    assert abs(with_offset.translation[2] - t[2]) < 0.003
    assert without.translation[2] < t[2] - 0.006  # the skin is ~1 cm in front of the joints


def test_depth_rejects_outliers():
    rng, xyz, w_rel, t, K, depth, uv = _depth_scene(130)
    corrupted = depth.copy()
    for k in (4, 8, 12, 16):  # fingertips see something 15 cm closer (an occluder)
        u, v = np.rint(uv[k]).astype(int)
        corrupted[max(v - 6, 0):v + 7, max(u - 6, 0):u + 7] -= 0.15
    clean = solve_with_depth(w_rel, uv, np.ones(21), K, depth)
    fit = solve_with_depth(w_rel, uv, np.ones(21), K, corrupted)
    assert clean.ok and fit.ok, fit.reason
    assert clean.inliers[[4, 8, 12, 16]].all()
    expected = clean.inliers.copy()
    expected[[4, 8, 12, 16]] = False
    assert np.array_equal(fit.inliers, expected)
    assert np.linalg.norm(fit.translation - t) < 0.006


def test_depth_keypoint_blend_takes_measured_positions_for_inliers():
    rng, xyz, w_rel, t, K, depth, uv = _depth_scene(135)
    # a lifted shape that is off by a few millimetres per keypoint (as a network's is)
    wrong = w_rel + rng.normal(0.0, 0.08, size=w_rel.shape)
    wrong[0] = 0.0
    model_only = lift_to_metric(wrong, uv, np.ones(21), K, MetricConfig(depth_keypoint_blend=0.0), depth_m=depth)
    fused = lift_to_metric(wrong, uv, np.ones(21), K, MetricConfig(depth_keypoint_blend=1.0), depth_m=depth)
    half = lift_to_metric(wrong, uv, np.ones(21), K, MetricConfig(depth_keypoint_blend=0.5), depth_m=depth)
    assert model_only.scale_source == fused.scale_source == ScaleSource.DEPTH
    fit = solve_with_depth(wrong, uv, np.ones(21), K, depth)
    gap = np.linalg.norm(fit.xyz_measured - model_only.xyz_cam, axis=1)
    confirmed = np.isfinite(gap) & (gap <= MetricConfig().depth_keypoint_gate_m)
    err_model = np.linalg.norm(model_only.xyz_cam - xyz, axis=1)
    err_fused = np.linalg.norm(fused.xyz_cam - xyz, axis=1)
    assert confirmed.sum() >= 10
    # measured keypoints sit on their rays at the sphere's depth + offset (a keypoint whose
    # window sees a sphere in front of it is off by that sphere's distance, as in real life)
    assert np.median(err_fused[confirmed]) < 0.001 and np.median(err_model[confirmed]) > 0.004
    np.testing.assert_allclose(fused.xyz_cam[confirmed], fit.xyz_measured[confirmed])
    np.testing.assert_allclose(fused.xyz_cam[~confirmed], model_only.xyz_cam[~confirmed])
    narrow = lift_to_metric(wrong, uv, np.ones(21), K, MetricConfig(depth_keypoint_gate_m=0.06), depth_m=depth)
    assert np.sum(np.any(narrow.xyz_cam != model_only.xyz_cam, axis=1)) <= confirmed.sum()
    np.testing.assert_allclose(half.xyz_cam, 0.5 * (model_only.xyz_cam + fused.xyz_cam), atol=1e-12)
    with pytest.raises(ValueError):
        MetricConfig(depth_keypoint_blend=1.5)


@pytest.mark.parametrize("bad", ["nan", "zero"])
def test_depth_falls_back_on_missing_depth(bad):
    _, xyz, w_rel, t, K, depth, uv = _depth_scene(140)
    missing = np.full_like(depth, np.nan if bad == "nan" else 0.0)
    fit = solve_with_depth(w_rel, uv, np.ones(21), K, missing)
    assert not fit.ok and "too few keypoints with valid depth" in fit.reason
    result = lift_to_metric(w_rel, uv, np.ones(21), K, MetricConfig(bone_length_m=0.045), depth_m=missing)
    assert result.scale_source == ScaleSource.HAND_SIZE_PRIOR
    assert result.reason.startswith("depth rejected: too few keypoints with valid depth")
    assert np.linalg.norm(result.translation - t) < 1e-3


def test_depth_falls_back_when_inconsistent():
    _, xyz, w_rel, t, K, depth, uv = _depth_scene(150)
    wall = np.full_like(depth, 1.0)  # depth of a wall, not of this hand at ~0.5 m
    fit = solve_with_depth(w_rel, uv, np.ones(21), K, wall)
    assert not fit.ok
    assert any(why in fit.reason for why in ("implausible bone length", "disagree", "too few depth inliers"))
    result = lift_to_metric(w_rel, uv, np.ones(21), K, MetricConfig(), depth_m=wall)
    assert result.scale_source == ScaleSource.HAND_SIZE_PRIOR
    assert result.reason.startswith("depth rejected")


def test_depth_hand_mask_restricts_samples():
    _, xyz, w_rel, t, K, depth, uv = _depth_scene(160)
    mask = np.zeros(depth.shape, dtype=bool)
    fit = solve_with_depth(w_rel, uv, np.ones(21), K, depth, hand_mask=mask)
    assert not fit.ok and fit.num_samples == 0
    fit = solve_with_depth(w_rel, uv, np.ones(21), K, depth, hand_mask=depth < 1.0)
    assert fit.ok, fit.reason


def test_lift_batch():
    rng = np.random.default_rng(170)
    scenes = [random_scene(rng) for _ in range(2)]
    K = scenes[0][3]
    w_rel = np.stack([s[1] for s in scenes])
    uv = np.stack([project_points(s[0], K) for s in scenes])
    results = lift_to_metric_batch(w_rel, uv, np.ones((2, 21)), K)
    assert len(results) == 2
    for r, s in zip(results, scenes):
        assert np.allclose(r.translation, s[2], atol=1e-6)


def test_depth_scales_a_wrong_shape_to_the_right_distance():
    """A lifted shape centimetres off (noise and a turned viewpoint) still gets a plausible
    size and the right distance: depth fixes one factor along the rays, not a free fit."""
    wrist_z_error = []
    for seed in range(5):
        rng, xyz, w_rel, t, K, depth, uv = _depth_scene(190 + seed)
        wrong = _turned(w_rel, 20.0, seed) + rng.normal(0.0, 0.15, size=w_rel.shape)
        wrong[0] = 0.0
        result = lift_to_metric(wrong, uv, np.ones(21), K, MetricConfig(), depth_m=depth)
        assert result.scale_source == ScaleSource.DEPTH, result.reason
        assert 0.035 < result.scale < 0.055
        assert np.median(np.linalg.norm(result.xyz_cam - xyz, axis=1)) < 0.006
        wrist_z_error.append(abs(result.translation[2] - t[2]))
    # (a free fit of scale and translation: 18 mm on average here, up to 31 mm)
    assert np.mean(wrist_z_error) < 0.01 and np.max(wrist_z_error) < 0.025


def test_depth_rejects_implausible_scale():
    _, xyz, w_rel, t, K, depth, uv = _depth_scene(180)
    twice_as_far = depth * 2.0  # the same shape at twice the distance: a giant hand
    fit = solve_with_depth(w_rel, uv, np.ones(21), K, twice_as_far)
    assert not fit.ok
    assert "implausible bone length" in fit.reason
    assert fit.scale == pytest.approx(0.09, rel=0.05)
