"""Cutting one mask component into two touching hands."""
import numpy as np
import pytest

from hand3d_ros.core.split import SplitConfig, is_elongated, split_component


def _disc(mask, centre, radius):
    vv, uu = np.mgrid[:mask.shape[0], :mask.shape[1]]
    mask |= (uu - centre[0]) ** 2 + (vv - centre[1]) ** 2 <= radius ** 2


def _two_palms(height=60, width=120, neck_px=6):
    """Two round palms side by side, touching along a short neck."""
    mask = np.zeros((height, width), bool)
    _disc(mask, (30, 30), 24)
    _disc(mask, (89, 30), 24)
    mask[30 - neck_px // 2:30 + neck_px // 2, 40:80] = True
    return mask


def test_two_touching_palms_are_cut_at_the_neck():
    parts = split_component(_two_palms())
    assert parts is not None and parts.shape == (2, 4)
    left, right = parts
    assert left[0] == pytest.approx(5.5) and right[2] == pytest.approx(113.5)  # the palms' outer edges
    assert 50 <= left[2] <= 70 and 50 <= right[0] <= 70 and left[2] <= right[0]  # the cut lies in the neck
    assert left[1] == pytest.approx(5.5) and left[3] == pytest.approx(54.5)


def test_stacked_hands_are_cut_along_the_vertical():
    parts = split_component(_two_palms().T)
    assert parts is not None
    top, bottom = parts
    assert top[3] <= bottom[1] and top[1] == pytest.approx(5.5) and bottom[3] == pytest.approx(113.5)


def test_a_hand_lying_sideways_is_not_cut():
    """Elongated, but its profile falls from palm to fingertips without rising again."""
    mask = np.zeros((40, 110), bool)
    _disc(mask, (25, 20), 18)                    # palm
    for row in (8, 15, 22, 29):                  # four fingers pointing right
        mask[row:row + 5, 40:100 - abs(row - 18)] = True
    assert is_elongated([0, 0, 110, 40], 1.5)
    assert split_component(mask) is None


def test_a_square_component_or_a_shallow_neck_is_not_cut():
    square = np.zeros((60, 60), bool)
    _disc(square, (30, 30), 25)
    assert split_component(square) is None
    thick = _two_palms(neck_px=40)  # a neck nearly as tall as the palms: one blob
    assert split_component(thick) is None
    assert split_component(thick, SplitConfig(max_valley=1.0)) is not None


def test_a_tiny_part_or_splitting_off_is_not_cut():
    mask = _two_palms()
    assert split_component(mask, SplitConfig(min_aspect=0.0)) is None  # 0: never
    assert split_component(mask, SplitConfig(min_aspect=3.0)) is None  # not elongated enough
    lopsided = np.zeros((60, 200), bool)
    _disc(lopsided, (60, 30), 28)
    lopsided[28:32, 88:196] = True                # a long thin arm, and a blob at its end
    lopsided[26:34, 190:198] = True
    assert split_component(lopsided) is None      # the far part holds too few pixels
    assert split_component(np.zeros((10, 10), bool)) is None


@pytest.mark.parametrize("kwargs", [dict(min_aspect=0.5), dict(max_valley=0.0), dict(min_part_fraction=0.5)])
def test_config_ranges(kwargs):
    with pytest.raises(ValueError):
        SplitConfig(**kwargs)
