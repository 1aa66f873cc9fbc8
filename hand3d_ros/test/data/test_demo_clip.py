"""The committed real clip of `hand3d demo` and its NPZ (plain numpy, no ROS)."""
import json

import numpy as np
import pytest

from hand3d_ros.data.demo import REAL_CLIP_DIR, make_real_clip_sequence, score_frame


def test_the_clip_becomes_a_demo_stream_with_the_teacher_as_reference(tmp_path):
    labels = json.loads((REAL_CLIP_DIR / "labels.json").read_text())
    photos = labels["photos"]
    assert len(photos) == 48 and all(len(p["hands"]) == 1 for p in photos)
    assert {p["licence"] for p in photos} == {"Apache-2.0"}
    npz = make_real_clip_sequence(tmp_path / "clip.npz", fps=5.0, hfov_deg=90.0)
    with np.load(npz) as data:
        image, K, stamps = data["image"], data["K"], data["stamps"]
        uv, xyz, visible, side = data["gt_uv"], data["gt_xyz"], data["gt_visible"], data["gt_hand_side"]
    assert image.shape == (48, 240, 320, 3) and image.dtype == np.uint8
    np.testing.assert_allclose(K[0], [[160.0, 0, 159.5], [0, 160.0, 119.5], [0, 0, 1]])  # 90 deg: f = W / 2
    np.testing.assert_allclose(stamps[:3], [0.0, 0.2, 0.4])
    np.testing.assert_allclose(uv[7, 0], photos[7]["hands"][0]["uv"], atol=1e-4)
    assert np.isnan(uv[:, 1]).all() and (side[:, 1] == -1).all()  # one hand per frame
    assert side[0, 0] == photos[0]["hands"][0]["side"] == 1 and side[-1, 0] == 0  # right hand, then left
    assert visible[:, 0].mean() > 0.9 and not visible[:, 1].any()
    assert np.isnan(xyz).all()  # no 3D truth
    # a published hand on the teacher's keypoints: found, 2D error 0, no 3D error
    hand = {"keypoints_2d": [{"u": u, "v": v} for u, v in uv[7, 0]], "keypoints_3d": [{"x": 0, "y": 0, "z": 0.5}] * 21,
            "scale_source": 2, "handedness": int(side[7, 0])}
    score = score_frame([hand], uv[7], xyz[7], visible[7], side[7])
    assert score.matched == 1 and score.side_correct == 1
    assert score.errors_2d_px.max() < 1e-3 and score.errors_3d_mm.size == 0


def test_a_missing_clip_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="labels.json"):
        make_real_clip_sequence(tmp_path / "clip.npz", clip_dir=tmp_path)
    with pytest.raises(ValueError, match="hfov"):
        make_real_clip_sequence(tmp_path / "clip.npz", hfov_deg=180.0)
