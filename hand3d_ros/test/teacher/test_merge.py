"""Photo + mirror merge of the teacher's replies (teacher/merge.py): side convention, checks, confidence."""
import numpy as np
import pytest

from hand3d_ros.core.hand_template import template_hand_xyz
from hand3d_ros.teacher.merge import MergeConfig, merge_views

W, H = 400, 300


def landmarks(center=(0.5, 0.5), size=0.3):
    """21 normalised (x, y, z) landmarks of a hand ``size`` image-widths tall at ``center``."""
    xyz = template_hand_xyz(1)
    uv = xyz[:, :2] - xyz[:, :2].mean(0)
    uv = uv / np.ptp(uv, axis=0).max() * size
    lm = np.zeros((21, 3))
    lm[:, 0] = center[0] + uv[:, 0]
    lm[:, 1] = center[1] + uv[:, 1] * W / H
    return lm


def hand(lm, label, score=0.95, palm=0.9, mirrored=False):
    lm = np.array(lm, dtype=float)
    world = np.arange(63, dtype=float).reshape(21, 3) / 100
    if mirrored:
        lm[:, 0] = 1 - lm[:, 0]
        world[:, 0] = -world[:, 0]
    return {"landmarks": lm.tolist(), "world": world.tolist(), "label": label, "label_score": score,
            "palm_score": palm}


def reply(photo_hands, mirror_hands):
    return {"width": W, "height": H, "scale": 1.0, "views": [{"hands": photo_hands}, {"hands": mirror_hands}]}


def test_selfie_convention_gives_the_anatomical_side():
    lm = landmarks()
    # MediaPipe says "Left" on the photo (selfie convention) and "Right" on its mirror:
    # the anatomical RIGHT hand.
    (h,) = merge_views(reply([hand(lm, "Left", 0.9)], [hand(lm, "Right", 0.8, mirrored=True)]))
    assert h.keep and h.reason is None
    assert h.side == 1 and h.side_score == pytest.approx(0.85)
    (h,) = merge_views(reply([hand(lm, "Right")], [hand(lm, "Left", mirrored=True)]))
    assert h.keep and h.side == 0
    # the mirrored view's keypoints are mirrored back before averaging
    np.testing.assert_allclose(h.uv_norm, lm[:, :2], atol=1e-9)
    np.testing.assert_allclose(h.kp_score, 1.0)
    assert h.xyz[0].tolist() == [0, 0, 0]  # re-rooted at the wrist
    np.testing.assert_allclose(h.xyz, (np.arange(63).reshape(21, 3) - [0, 1, 2]) / 100, atol=1e-12)


def test_dropped_hands_say_why():
    lm = landmarks()
    cases = {
        "one_view": reply([hand(lm, "Left")], []),
        "no_flip": reply([hand(lm, "Left")], [hand(lm, "Left", mirrored=True)]),
        "low_hand_score": reply([hand(lm, "Left", palm=0.2)], [hand(lm, "Right", palm=0.3, mirrored=True)]),
        "low_side_score": reply([hand(lm, "Left", 0.6)], [hand(lm, "Right", 0.6, mirrored=True)]),
    }
    far = lm.copy()
    far[5:17, :2] += 0.06  # most keypoints moved by ~0.2 hand sizes
    cases["disagree"] = reply([hand(lm, "Left")], [hand(far, "Right", mirrored=True)])
    for reason, rep in cases.items():
        hands = merge_views(rep)
        assert [(h.keep, h.reason) for h in hands] == [(False, reason)], reason
    # a hand only the mirror finds is returned too (to be masked as ignore)
    (h,) = merge_views(reply([], [hand(lm, "Right", mirrored=True)]))
    assert h.reason == "one_view" and h.side == 1
    np.testing.assert_allclose(h.uv_norm, lm[:, :2], atol=1e-9)


def test_two_hands_are_matched_by_place_and_confidence_falls_with_disagreement():
    a, b = landmarks((0.3, 0.5), 0.2), landmarks((0.7, 0.5), 0.2)
    b_moved = b.copy()
    b_moved[4, 0] += 0.2 * 0.05  # thumb tip off by 0.05 hand sizes
    hands = merge_views(reply([hand(a, "Left"), hand(b, "Right")],
                              [hand(b_moved, "Left", mirrored=True), hand(a, "Right", mirrored=True)]))
    assert [(h.keep, h.side) for h in hands] == [(True, 1), (True, 0)]
    np.testing.assert_allclose(hands[0].kp_score, 1.0)
    assert hands[1].kp_score[4] == pytest.approx(np.exp(-0.5), rel=0.02)  # sigma = 0.05 hand sizes
    assert np.delete(hands[1].kp_score, 4).min() == pytest.approx(1.0)


def test_no_hands_and_config_ranges():
    assert merge_views(reply([], [])) == []
    with pytest.raises(ValueError, match="min_side_score"):
        MergeConfig(min_side_score=0.2)
