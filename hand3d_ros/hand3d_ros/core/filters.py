"""One Euro filter (Casiez, Roussel and Vogel, CHI 2012) for time-stamped arrays.

An adaptive low-pass filter: its cutoff frequency rises with the (smoothed) speed of
the signal, so a still hand is smoothed strongly (little jitter) while a moving hand is
followed closely (little lag)::

    alpha(fc, dt) = 1 / (1 + 1 / (2 pi fc dt))
    dx_hat = lowpass((x - x_hat_prev) / dt, alpha(d_cutoff, dt))
    fc     = min_cutoff + beta * |dx_hat|
    x_hat  = lowpass(x, alpha(fc, dt))

Every element of the array is filtered on its own (speed per element), with its own
time of last update, so irregular frame intervals and missing (NaN) samples are handled
exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["OneEuroConfig", "OneEuroFilter", "smoothing_factor"]


@dataclass
class OneEuroConfig:
    """Parameters of a :class:`OneEuroFilter`.

    Attributes:
        min_cutoff_hz: cutoff frequency at zero speed, Hz: lower = less jitter when
            still, more lag. Range > 0 (typically 0.05-5).
        beta: speed coefficient, 1 / (unit of the signal): how fast the cutoff rises
            with speed (cutoff = min_cutoff + beta * |speed|). 0 gives a plain
            low-pass filter; raise it to cut lag on fast motion. Depends on the unit:
            pixels want about 0.001-0.1, metres about 0.1-50. Range >= 0.
        d_cutoff_hz: cutoff of the low-pass filter on the speed estimate, Hz.
            Range > 0 (1 is the authors' recommendation).
    """

    min_cutoff_hz: float = 1.0
    beta: float = 0.0
    d_cutoff_hz: float = 1.0

    def __post_init__(self):
        if not self.min_cutoff_hz > 0:
            raise ValueError(f"min_cutoff_hz must be > 0, got {self.min_cutoff_hz}")
        if not self.beta >= 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if not self.d_cutoff_hz > 0:
            raise ValueError(f"d_cutoff_hz must be > 0, got {self.d_cutoff_hz}")


def smoothing_factor(cutoff_hz, dt_s):
    """Exponential smoothing factor of a first-order low-pass filter.

    Args:
        cutoff_hz: array or scalar cutoff frequency, Hz (> 0).
        dt_s: array or scalar time step, seconds (> 0).
    Returns:
        alpha in (0, 1): weight of the new sample, ``1 / (1 + tau / dt)`` with
        ``tau = 1 / (2 pi cutoff)``.
    """
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz, dtype=np.float64))
    return 1.0 / (1.0 + tau / np.asarray(dt_s, dtype=np.float64))


class OneEuroFilter:
    """One Euro filter over arrays of any (fixed) shape.

    Call it with a sample and its time stamp; it returns the filtered sample (same
    shape). Rules for odd input:

    * NaN / inf elements: returned as NaN and leave that element's state untouched (the
      next valid sample continues from the last valid one, with the real elapsed time).
    * a repeated time stamp: the sample is ignored and the previous output returned.
    * a time stamp earlier than the latest seen (a replayed bag, a reset clock): the
      filter resets and starts again from this sample.
    """

    def __init__(self, min_cutoff_hz: float = 1.0, beta: float = 0.0, d_cutoff_hz: float = 1.0):
        """Args: see :class:`OneEuroConfig` (min_cutoff_hz Hz > 0, beta >= 0, d_cutoff_hz Hz > 0)."""
        self.config = OneEuroConfig(min_cutoff_hz, beta, d_cutoff_hz)
        self.reset()

    @classmethod
    def from_config(cls, config: OneEuroConfig) -> "OneEuroFilter":
        """A filter with the parameters of ``config``."""
        return cls(config.min_cutoff_hz, config.beta, config.d_cutoff_hz)

    def reset(self) -> None:
        """Forget all state (the next sample passes through unchanged)."""
        self._x_hat = None  # filtered value per element
        self._dx_hat = None  # filtered speed per element, unit / s
        self._stamp = None  # time of each element's last valid sample, s
        self._latest = -math.inf  # latest time stamp seen, s

    @property
    def value(self):
        """The last filtered value (array), or None before the first sample."""
        return None if self._x_hat is None else self._x_hat.copy()

    def __call__(self, x, stamp_s: float) -> np.ndarray:
        """Filter one sample.

        Args:
            x: array of any shape (fixed across calls), any unit.
            stamp_s: time of the sample, seconds.
        Returns:
            float64 array of the shape of ``x``: the filtered sample (NaN where ``x``
            is not finite).
        """
        x = np.asarray(x, dtype=np.float64)
        stamp_s = float(stamp_s)
        if self._x_hat is not None and x.shape != self._x_hat.shape:
            raise ValueError(f"sample shape {x.shape} differs from the filter's {self._x_hat.shape}")
        if stamp_s < self._latest:
            self.reset()
        if self._x_hat is None:
            self._x_hat = np.full(x.shape, np.nan)
            self._dx_hat = np.zeros(x.shape)
            self._stamp = np.full(x.shape, np.nan)
        self._latest = stamp_s

        valid = np.isfinite(x)
        started = np.isfinite(self._x_hat)
        first = valid & ~started
        self._x_hat[first] = x[first]
        self._dx_hat[first] = 0.0
        self._stamp[first] = stamp_s

        dt = stamp_s - self._stamp
        update = valid & started & (dt > 0)
        if update.any():
            dt_u = dt[update]
            x_u = x[update]
            x_prev = self._x_hat[update]
            a_d = smoothing_factor(self.config.d_cutoff_hz, dt_u)
            dx = (x_u - x_prev) / dt_u
            dx_hat = a_d * dx + (1.0 - a_d) * self._dx_hat[update]
            cutoff = self.config.min_cutoff_hz + self.config.beta * np.abs(dx_hat)
            a = smoothing_factor(cutoff, dt_u)
            self._x_hat[update] = a * x_u + (1.0 - a) * x_prev
            self._dx_hat[update] = dx_hat
            self._stamp[update] = stamp_s

        return np.where(valid, self._x_hat, np.nan)

    filter = __call__
