"""Camera intrinsics, supersampling and hand placement."""
import numpy as np

from hand3d_ros.data.render.camera import (CameraConfig, focal_from_hfov, sample_forearm_rotation,
                                           sample_hand_centre, sample_intrinsics, scale_intrinsics)
from hand3d_ros.data.render.raster import project


def test_focal_and_intrinsics_ranges():
    assert np.isclose(focal_from_hfov(320, 90.0), 160.0)
    rng = np.random.default_rng(0)
    cfg = CameraConfig()
    for _ in range(50):
        K = sample_intrinsics(rng, 320, 240, cfg)
        hfov = np.rad2deg(2 * np.arctan(160 / K[0, 0]))
        assert cfg.hfov_deg[0] - 1e-9 <= hfov <= cfg.hfov_deg[1] + 1e-9
        assert abs(K[0, 2] - 159.5) <= cfg.principal_jitter * 320 + 1e-9
        assert abs(K[1, 2] - 119.5) <= cfg.principal_jitter * 240 + 1e-9


def test_scaled_intrinsics_keep_pixel_centres_consistent():
    K = np.array([[200.0, 0, 31.5], [0, 210.0, 20.25], [0, 0, 1]])
    points = np.array([[0.01, -0.02, 0.5], [-0.05, 0.03, 0.7]])
    uv1 = project(points, K)
    uv2 = project(points, scale_intrinsics(K, 2))
    # a low-resolution pixel centre u sits between high-resolution centres 2u and 2u+1
    np.testing.assert_allclose(uv2, 2 * uv1 + 0.5)


def test_placement_is_in_view_at_the_paper_distance():
    rng = np.random.default_rng(1)
    cfg = CameraConfig()
    K = sample_intrinsics(rng, 320, 320, cfg)
    for _ in range(100):
        R = sample_forearm_rotation(rng, cfg)
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
        assert np.isclose(np.linalg.det(R), 1.0)
        assert -R[2, 2] <= cfg.max_forearm_toward_camera + 1e-9  # forearm (+Z) not at the camera
        c = sample_hand_centre(rng, K, 320, 320, cfg)
        assert cfg.distance_m[0] - 1e-9 <= np.linalg.norm(c) <= cfg.distance_m[1] + 1e-9
        u, v = project(c[None], K)[0]
        m = cfg.centre_margin * 320
        assert m - 1e-6 <= u <= 320 - m + 1e-6 and m - 1e-6 <= v <= 320 - m + 1e-6
