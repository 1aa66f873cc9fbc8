"""Calibrated hand-side probability: log-odds of 'right' from PoseNet's side head and the lifts.

Notation: N hands. ``head_logit`` (N,) is the side head's ``logit_right - logit_left``;
``residual_diff`` (N,) is the lifts' normalised reprojection residual as a left hand minus
as a right hand (> 0: the right-hand lift explains the 2D keypoints better).

Uncalibrated, the pipeline adds ``head_logit`` and ``residual_diff / temperature``; the
sum is overconfident or underconfident depending on the weights. A :class:`SideCalibration`
(fitted on held-out labelled hands, stored in the PoseNet weight file's ``calibration``
metadata) replaces that sum by a logistic regression, so that ``p_right = 0.9`` is right
about 9 times in 10 on data like the calibration set:

    log-odds(right) = head_scale * head_logit + residual_scale * clip(residual_diff) + bias

(``clip``: to ±``residual_clip``, :data:`RESIDUAL_CLIP` in new fits: a lift that fails
leaves a residual difference of hundreds where a typical one is below 0.3; unclipped, such
an outlier both outvotes the head and, in the fit, swamps the feature's scale so that the
lifts' evidence gets no weight at all) and, for a hand whose side is only hinted (the
tracker's settled side: no lifts of both sides), ``head_only_scale * head_logit +
head_only_bias``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hand3d_ros.core.metadata_entry import MetadataEntry

#: Key of the calibration in a PoseNet weight file's ``calibration`` metadata.
METADATA_KEY = "side"
#: L2 penalty of the logistic fit (keeps the scales finite on separable data).
DEFAULT_L2 = 1e-3
#: Bound of the lifts' residual difference in a new fit (see the module docstring).
RESIDUAL_CLIP = 0.5


@dataclass(frozen=True)
class SideCalibration(MetadataEntry):
    """Logistic calibration of the hand side (see the module docstring)."""

    head_scale: float = 1.0
    residual_scale: float = 20.0
    bias: float = 0.0
    head_only_scale: float = 1.0
    head_only_bias: float = 0.0
    samples: int = 0           #: hands it was fitted on
    source: str = ""           #: what it was fitted on (data set, split)
    residual_clip: float = 0.0  #: residual_diff is clipped to ±this; 0: not clipped (older fits)

    def logit(self, head_logit, residual_diff):
        """Log-odds of 'right' from both cues (arrays or tensors of equal shape)."""
        if self.residual_clip > 0:
            c = self.residual_clip
            if hasattr(residual_diff, "clamp"):  # a tensor
                residual_diff = residual_diff.clamp(-c, c)
            else:
                residual_diff = np.clip(residual_diff, -c, c)
        return self.head_scale * head_logit + self.residual_scale * residual_diff + self.bias

    def head_only_logit(self, head_logit):
        """Log-odds of 'right' from the side head alone."""
        return self.head_only_scale * head_logit + self.head_only_bias


def fit_logistic(features: np.ndarray, labels: np.ndarray, l2: float = DEFAULT_L2, iterations: int = 50) -> np.ndarray:
    """Weights ``(F + 1,)`` (last: bias) of an L2-regularised logistic regression by Newton's method.

    The penalty applies to the features scaled to unit standard deviation (so that it
    does not depend on their units), and the weights are returned for the raw features.

    Args:
        features: ``(N, F)`` float. labels: ``(N,)`` 0/1.
    """
    raw = np.asarray(features, np.float64)
    spread = raw.std(axis=0)
    spread[spread <= 0] = 1.0
    x = np.concatenate([raw / spread, np.ones((len(raw), 1))], axis=1)
    y = np.asarray(labels, np.float64)
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2 * len(y))
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (p - y) + penalty * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty) + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return np.concatenate([w[:-1] / spread, w[-1:]])


def fit_side_calibration(head_logit: np.ndarray, residual_diff: np.ndarray, is_right: np.ndarray,
                         source: str = "") -> SideCalibration:
    """Fit a :class:`SideCalibration` on N labelled hands (``is_right`` (N,) bool)."""
    head = np.asarray(head_logit, np.float64)
    residual = np.clip(np.asarray(residual_diff, np.float64), -RESIDUAL_CLIP, RESIDUAL_CLIP)
    both = fit_logistic(np.stack([head, residual], axis=1), is_right)
    alone = fit_logistic(head[:, None], is_right)
    return SideCalibration(head_scale=float(both[0]), residual_scale=float(both[1]), bias=float(both[2]),
                           head_only_scale=float(alone[0]), head_only_bias=float(alone[1]),
                           samples=int(len(head)), source=source, residual_clip=RESIDUAL_CLIP)


def reliability(p_right: np.ndarray, is_right: np.ndarray, bins: int = 5) -> list:
    """Reliability table of the side: per bin of confidence ``max(p, 1 - p)`` in [0.5, 1],
    ``(lo, hi, hands, mean confidence, accuracy)``; a calibrated side has accuracy close
    to its mean confidence in every bin."""
    p = np.asarray(p_right, np.float64)
    conf = np.maximum(p, 1 - p)
    correct = (p >= 0.5) == np.asarray(is_right, bool)
    edges = np.linspace(0.5, 1.0, bins + 1)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf >= lo) & ((conf < hi) if hi < 1.0 else (conf <= hi))
        if sel.any():
            rows.append((float(lo), float(hi), int(sel.sum()), float(conf[sel].mean()), float(correct[sel].mean())))
    return rows
