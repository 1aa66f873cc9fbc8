"""Tests for hand3d_ros.core.filters (One Euro filter)."""
import numpy as np
import pytest

from hand3d_ros.core.filters import OneEuroConfig, OneEuroFilter, smoothing_factor

RATE_HZ = 30.0


def run(filt, samples, stamps):
    return np.stack([filt(x, t) for x, t in zip(samples, stamps)])


def test_smoothing_factor():
    # tau = 1 / (2 pi fc); at dt = tau alpha is exactly 1/2
    fc = 2.0
    assert smoothing_factor(fc, 1.0 / (2 * np.pi * fc)) == pytest.approx(0.5)
    assert 0 < smoothing_factor(1.0, 1 / 30) < smoothing_factor(5.0, 1 / 30) < 1


def test_constant_signal_passes_unchanged():
    value = np.random.default_rng(0).normal(size=(4, 21, 3))
    filt = OneEuroFilter(min_cutoff_hz=0.5, beta=0.3)
    stamps = np.cumsum(np.random.default_rng(1).uniform(0.01, 0.1, size=50))
    out = run(filt, [value] * 50, stamps)
    assert out.shape == (50, 4, 21, 3)
    assert np.allclose(out, value, atol=1e-12)


def test_noise_variance_reduced_on_static_signal():
    rng = np.random.default_rng(2)
    n = 600
    noise = rng.normal(0, 2.0, size=(n, 21, 2))
    stamps = np.arange(n) / RATE_HZ
    out = run(OneEuroFilter(min_cutoff_hz=1.0, beta=0.0), 100.0 + noise, stamps)
    ratio = np.var(out[100:] - 100.0) / np.var(noise[100:])
    # first-order low pass at 1 Hz, 30 Hz sampling: alpha ~ 0.17, variance ratio alpha/(2-alpha) ~ 0.095
    assert ratio < 0.15, ratio


def steady_lag(beta, speed=50.0):
    stamps = np.arange(120) / RATE_HZ
    ramp = speed * stamps
    out = run(OneEuroFilter(min_cutoff_hz=1.0, beta=beta), ramp, stamps)
    return float(ramp[-1] - out[-1])


def test_lag_on_a_ramp_decreases_with_beta():
    lags = [steady_lag(beta) for beta in (0.0, 0.01, 0.1, 1.0)]
    assert lags[0] > 0
    assert all(a > b for a, b in zip(lags, lags[1:])), lags
    assert lags[-1] < 0.1 * lags[0]


def test_irregular_intervals_use_elapsed_time():
    # Same signal at the same times, once with an extra intermediate sample: a filter
    # that ignored time would drift apart far more.
    filt_a = OneEuroFilter(min_cutoff_hz=1.0)
    filt_b = OneEuroFilter(min_cutoff_hz=1.0)
    filt_a(0.0, 0.0)
    filt_b(0.0, 0.0)
    long_step = filt_a(1.0, 0.5)
    short_step = filt_b(1.0, 0.05)
    assert long_step > short_step  # more time elapsed -> more of the new sample


def test_repeated_stamp_is_ignored_and_backwards_stamp_resets():
    filt = OneEuroFilter(min_cutoff_hz=1.0)
    filt(np.zeros(3), 1.0)
    first = filt(np.ones(3), 1.1)
    again = filt(np.full(3, 50.0), 1.1)  # same stamp: ignored
    assert np.allclose(again, first)
    back = filt(np.full(3, 7.0), 0.5)  # earlier stamp: restart from this sample
    assert np.allclose(back, 7.0)
    after = filt(np.full(3, 7.0), 0.6)
    assert np.allclose(after, 7.0)


def test_nan_sample_does_not_poison_state():
    filt = OneEuroFilter(min_cutoff_hz=1.0, beta=0.1)
    filt(np.array([1.0, 2.0]), 0.0)
    out = filt(np.array([np.nan, 2.0]), 0.1)
    assert np.isnan(out[0]) and out[1] == pytest.approx(2.0)
    out = filt(np.array([1.0, 2.0]), 0.2)
    assert np.all(np.isfinite(out))
    assert np.allclose(out, [1.0, 2.0])
    assert np.all(np.isfinite(filt.value))


def test_element_starting_late_and_reset():
    filt = OneEuroFilter()
    out = filt(np.array([np.nan, 5.0]), 0.0)
    assert np.isnan(out[0])
    out = filt(np.array([3.0, 5.0]), 0.1)
    assert out[0] == 3.0  # first valid sample of that element passes through
    filt.reset()
    assert filt.value is None
    assert np.allclose(filt(np.array([9.0, 9.0]), 0.0), 9.0)


def test_shape_change_raises_and_config_validates():
    filt = OneEuroFilter()
    filt(np.zeros((21, 2)), 0.0)
    with pytest.raises(ValueError):
        filt(np.zeros((21, 3)), 0.1)
    with pytest.raises(ValueError):
        OneEuroConfig(min_cutoff_hz=0.0)
    with pytest.raises(ValueError):
        OneEuroFilter(beta=-1.0)
    cfg = OneEuroConfig(min_cutoff_hz=2.0, beta=0.5, d_cutoff_hz=1.5)
    assert OneEuroFilter.from_config(cfg).config == cfg
