"""Frames lost before the node, from the input stamps (plain Python)."""
import math

import numpy as np
import pytest

from hand3d_ros.ros.frame_gaps import StampGaps


def _stream(rate_hz, n, keep, jitter_s=0.0, seed=0, start=100.0):
    rng = np.random.default_rng(seed)
    stamps = start + np.arange(n) / rate_hz + rng.normal(0.0, jitter_s, n)
    return stamps[keep(rng, n)]


def test_every_frame_arrives():
    gaps = StampGaps()
    for s in _stream(30.0, 300, lambda rng, n: np.ones(n, bool), jitter_s=0.001):
        gaps.add(s)
    assert gaps.rate_hz() == pytest.approx(30.0, rel=0.05)
    assert gaps.missing_total == 0 and gaps.recent_loss() == 0.0


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("loss", [0.1, 0.4, 0.74])
def test_random_loss_is_estimated(loss, seed):
    """As measured over DDS: e.g. 65 of 251 frames at 10 Hz arrived (74 % lost). Runs of
    losses longer than pause_s (2 s) count as pauses: rare below 75 % loss."""
    stamps = _stream(10.0, 251, lambda rng, n: rng.random(n) >= loss, jitter_s=0.002, seed=seed)
    gaps = StampGaps()
    for s in stamps:
        gaps.add(s)
    first, last = (int(round((s - 100.0) * 10.0)) for s in (stamps[0], stamps[-1]))
    truly_missing = (last - first + 1) - len(stamps)  # lost between the first and last received
    assert gaps.rate_hz() == pytest.approx(10.0, rel=0.1)
    assert gaps.recent_loss() == pytest.approx(1 - len(stamps) / 251, abs=0.06)
    assert abs(gaps.missing_total - truly_missing) <= 0.1 * 251


def test_unknown_until_enough_steps_and_pauses_or_restarts_are_not_loss():
    gaps = StampGaps(pause_s=1.0)
    for s in (1.0, 1.1, 1.2):
        gaps.add(s)
    assert math.isnan(gaps.rate_hz()) and math.isnan(gaps.recent_loss())
    for k in range(3, 30):
        gaps.add(1.0 + 0.1 * k)
    gaps.add(60.0)  # paused for a minute
    gaps.add(60.1)
    gaps.add(60.1)  # repeated stamp: ignored
    gaps.add(5.0)  # backwards: a new stream
    for k in range(1, 30):
        gaps.add(5.0 + 0.1 * k)
    assert gaps.missing_total == 0 and gaps.recent_loss() == 0.0
    assert gaps.rate_hz() == pytest.approx(10.0)
    with pytest.raises(ValueError):
        StampGaps(pause_s=0.0)
