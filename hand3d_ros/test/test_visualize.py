"""Overlays and the 3D view draw where the hands are."""
from types import SimpleNamespace

import numpy as np
import pytest

from hand3d_ros.core.hand_template import template_hand_xyz
from hand3d_ros.visualize import View3DStyle, draw_3d_view, draw_overlay

pytest.importorskip("cv2")


def _hand(uv, xyz=None):
    return SimpleNamespace(uv=uv, uv_score=np.ones(21), crop_box=np.array([10.0, 10.0, 90.0, 90.0]), handedness=0,
                           score=0.9, hand_id=3, xyz=xyz if xyz is not None else np.full((21, 3), np.nan))


def test_overlay_draws_on_the_keypoints_and_keeps_the_input():
    rgb = np.zeros((100, 120, 3), np.uint8)
    uv = np.stack([np.linspace(20, 80, 21), np.linspace(30, 70, 21)], axis=1)
    mask = np.zeros((100, 120), bool)
    mask[40:60, 40:60] = True
    out = draw_overlay(rgb, [_hand(uv)], mask)
    assert rgb.max() == 0, "the input was modified"
    assert out.shape == rgb.shape
    for u, v in uv[::5].round().astype(int):
        assert out[v, u].max() > 0, f"nothing drawn at keypoint ({u}, {v})"
    assert out[40, 50].max() > 0  # the mask outline


def test_low_score_keypoints_are_not_drawn():
    rgb = np.zeros((100, 120, 3), np.uint8)
    hand = _hand(np.full((21, 2), 50.0))
    hand.uv_score = np.zeros(21)
    hand.crop_box = np.full(4, np.nan)
    out = draw_overlay(rgb, [hand])
    assert out[50, 50].max() == 0


def test_3d_view_draws_the_hand_and_skips_nan():
    style = View3DStyle(size_px=200)
    empty = draw_3d_view([_hand(np.zeros((21, 2)))], style=style)
    with_hand = draw_3d_view([_hand(np.zeros((21, 2)), template_hand_xyz(1) + [0, 0, 0.5])], style=style)
    assert empty.shape == (200, 200, 3)
    assert (with_hand != empty).any(axis=2).sum() > 100


def test_3d_view_draws_the_hand_frame_axes_in_their_colours():
    style = View3DStyle(size_px=200, axis_length_m=0.08)
    xyz = template_hand_xyz(1) + [0, 0, 0.5]
    plain = _hand(np.zeros((21, 2)), xyz)
    framed = _hand(np.zeros((21, 2)), xyz)
    framed.palm_origin, framed.palm_rotation = np.array([0.1, -0.1, 0.5]), np.eye(3)  # away from the hand
    a, b = draw_3d_view([plain], style=style), draw_3d_view([framed], style=style)
    changed = (a != b).any(axis=2)
    assert changed.sum() > 30
    colours = b[changed].astype(int)
    reddish = (colours[:, 0] > 150) & (colours[:, 1] < 120) & (colours[:, 2] < 120)
    bluish = (colours[:, 2] > 150) & (colours[:, 0] < 120)
    assert reddish.any() and bluish.any()
