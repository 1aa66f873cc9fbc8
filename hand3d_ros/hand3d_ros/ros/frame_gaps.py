"""Frames lost before the node, seen from gaps in the input images' stamps.

Images lost between the camera and the node (best-effort DDS samples dropped under load,
fragments of large images lost on the way) never reach a callback, so the node cannot
count them directly. The camera's own stamps show them: the camera's frame period is the
typical short step between consecutive stamps, and a step of k periods means k - 1
frames missing. Plain Python (no rclpy), tested on its own.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np

#: Stamp steps kept for the estimate (the newest): about 7 s at 30 Hz.
WINDOW = 200
#: The frame period is this percentile of the recent stamp steps: low, so that it is the
#: step between two frames that both arrived even when most frames are lost (at 75 %
#: loss about a quarter of the steps are single periods), yet above the rare short
#: step of a jittery driver.
PERIOD_PERCENTILE = 10.0
#: Fewest steps before a period (and so a loss) is estimated.
MIN_STEPS = 10


class StampGaps:
    """Camera frame rate and frames missing, from the stamps (seconds) of received images.

    ``pause_s``: a step longer than this is a pause of the source (or a new stream),
    not lost frames. A stamp that goes backwards starts a new stream (e.g. a bag replayed
    again); a repeated stamp is ignored.
    """

    def __init__(self, pause_s: float = 2.0, window: int = WINDOW):
        if pause_s <= 0:
            raise ValueError(f"pause_s must be > 0, got {pause_s}")
        self.pause_s = float(pause_s)
        self._steps = deque(maxlen=window)
        self._last = None
        self._missing_before_window = 0

    def add(self, stamp_s: float) -> None:
        """One received image's header stamp, seconds."""
        if not math.isfinite(stamp_s):
            return
        if self._last is not None:
            step = stamp_s - self._last
            if step == 0:
                return
            if step < 0:  # a new stream
                self._steps.clear()
            elif step <= self.pause_s:
                if len(self._steps) == self._steps.maxlen:  # the oldest step leaves: judge it now
                    self._missing_before_window += _missing(self._steps[0], self.period_s())
                self._steps.append(step)
        self._last = stamp_s

    @property
    def missing_total(self) -> int:
        """Frames estimated missing since the start (steps in the window judged with the
        current period; older ones when they left it)."""
        period = self.period_s()
        if not period > 0:
            return self._missing_before_window
        return self._missing_before_window + sum(_missing(step, period) for step in self._steps)

    def period_s(self) -> float:
        """The camera's frame period, seconds (NaN until MIN_STEPS steps were seen)."""
        if len(self._steps) < MIN_STEPS:
            return float("nan")
        return float(np.percentile(np.fromiter(self._steps, float), PERIOD_PERCENTILE))

    def rate_hz(self) -> float:
        """The camera's frame rate from the stamps, Hz (NaN while unknown)."""
        period = self.period_s()
        return 1.0 / period if period > 0 else float("nan")

    def recent_loss(self) -> float:
        """Fraction of the camera's frames in the recent window that did not arrive, in
        [0, 1] (NaN while unknown)."""
        period = self.period_s()
        if not period > 0:
            return float("nan")
        missing = sum(_missing(step, period) for step in self._steps)
        return missing / (missing + len(self._steps))


def _missing(step: float, period: float) -> int:
    """Frames missing in one stamp step of ``step`` seconds at ``period`` seconds per frame."""
    if not period > 0:
        return 0
    return max(0, int(round(step / period)) - 1)
