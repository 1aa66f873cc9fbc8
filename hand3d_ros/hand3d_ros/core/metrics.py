"""Keypoint accuracy metrics (numpy): EPE, PCK curve and its AUC, as in the paper.

Only visible keypoints count. Following the authors' evaluation, statistics are taken
per keypoint first and then averaged over the keypoints that have any visible sample:

- ``epe_mean``: mean over keypoints of the per-keypoint mean end-point error;
- ``epe_median``: mean over keypoints of the per-keypoint median ("mean of per-keypoint
  median EPE", DESIGN.md section 4);
- PCK(t): per keypoint, the fraction of its visible samples with error <= t; then the
  mean over keypoints;
- AUC: area under the PCK curve over ``[t_min, t_max]`` (trapezoid rule on the
  threshold grid), divided by ``t_max - t_min``, so 1 is perfect: 0-30 px for 2D,
  20-50 mm for 3D (:data:`AUC_RANGE_2D_PX`, :data:`AUC_RANGE_3D_MM`).

Pooled variants (all visible keypoints together) are reported as ``*_all``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from hand3d_ros.core.keypoints import KEYPOINT_NAMES

#: AUC range for 2D errors, pixels (paper).
AUC_RANGE_2D_PX = (0.0, 30.0)
#: AUC range for 3D errors, millimetres (paper).
AUC_RANGE_3D_MM = (20.0, 50.0)


@dataclass(frozen=True)
class PCKConfig:
    """Threshold grid of the PCK curve."""

    threshold_min: float = field(
        default=0.0, metadata={"help": "first threshold (error unit); >= 0"}
    )
    threshold_max: float = field(
        default=30.0, metadata={"help": "last threshold (error unit); > threshold_min"}
    )
    num_thresholds: int = field(
        default=101,
        metadata={"help": "number of evenly spaced thresholds, ends included; range [2, 10000]"},
    )

    def __post_init__(self):
        if not 0.0 <= self.threshold_min < self.threshold_max:
            raise ValueError(
                "PCKConfig needs 0 <= threshold_min < threshold_max, "
                f"got {self.threshold_min}, {self.threshold_max}"
            )
        if not 2 <= self.num_thresholds <= 10000:
            raise ValueError(
                f"PCKConfig.num_thresholds must be in [2, 10000], got {self.num_thresholds}"
            )

    def thresholds(self) -> np.ndarray:
        """``(T,)`` thresholds."""
        return np.linspace(self.threshold_min, self.threshold_max, self.num_thresholds)


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor; torch itself is not needed here
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _visible(visible, shape) -> np.ndarray:
    if visible is None:
        return np.ones(shape, dtype=bool)
    return _numpy(visible).astype(bool).reshape(shape)


def keypoint_errors(pred, gt) -> np.ndarray:
    """Euclidean end-point errors.

    Args:
        pred, gt: ``(N, K, D)`` keypoints (D = 2 pixels or 3, any unit).

    Returns:
        ``(N, K)`` float64 errors in the keypoints' unit.
    """
    pred, gt = _numpy(pred).astype(np.float64), _numpy(gt).astype(np.float64)
    if pred.shape != gt.shape or pred.ndim != 3:
        raise ValueError(f"pred and gt must both be (N, K, D), got {pred.shape} and {gt.shape}")
    return np.linalg.norm(pred - gt, axis=-1)


def epe_per_keypoint(errors, visible=None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-keypoint EPE over visible samples.

    Args:
        errors: ``(N, K)`` errors.
        visible: ``(N, K)`` bool, ``None`` = all.

    Returns:
        ``(mean (K,), median (K,), count (K,))``; mean and median are NaN where a keypoint
        has no visible sample.
    """
    errors = _numpy(errors).astype(np.float64)
    vis = _visible(visible, errors.shape)
    masked = np.where(vis, errors, np.nan)
    count = vis.sum(axis=0)
    mean = np.full(errors.shape[1], np.nan)
    median = np.full(errors.shape[1], np.nan)
    has = count > 0
    mean[has] = np.nanmean(masked[:, has], axis=0)
    median[has] = np.nanmedian(masked[:, has], axis=0)
    return mean, median, count


def pck_curve(errors, visible=None, thresholds=None, per_keypoint: bool = True) -> np.ndarray:
    """Percentage of correct keypoints as a function of the threshold.

    Args:
        errors: ``(N, K)`` errors.
        visible: ``(N, K)`` bool, ``None`` = all.
        thresholds: ``(T,)``; ``None``: :meth:`PCKConfig.thresholds` of the default config.
        per_keypoint: True (paper): the mean over keypoints of each keypoint's fraction;
            False: the fraction of all visible keypoints.

    Returns:
        ``(T,)`` fractions in [0, 1] (NaN if nothing is visible).
    """
    errors = _numpy(errors).astype(np.float64)
    vis = _visible(visible, errors.shape)
    t = PCKConfig().thresholds() if thresholds is None else _numpy(thresholds).astype(np.float64)
    correct = (errors[None] <= t[:, None, None]) & vis[None]  # (T, N, K)
    if not per_keypoint:
        total = vis.sum()
        return correct.sum(axis=(1, 2)) / total if total else np.full(t.shape, np.nan)
    count = vis.sum(axis=0)
    has = count > 0
    if not has.any():
        return np.full(t.shape, np.nan)
    return (correct.sum(axis=1)[:, has] / count[has]).mean(axis=1)


def area_under_curve(thresholds, pck) -> float:
    """Normalised area under a PCK curve: trapezoid integral / (last - first threshold).

    Args:
        thresholds: ``(T,)`` increasing.
        pck: ``(T,)`` values.

    Returns:
        AUC in [0, 1] for PCK values in [0, 1].
    """
    t, y = _numpy(thresholds).astype(np.float64), _numpy(pck).astype(np.float64)
    area = float(np.sum((t[1:] - t[:-1]) * (y[1:] + y[:-1]) / 2))
    return area / float(t[-1] - t[0])


def _json_float(x) -> Optional[float]:
    x = float(x)
    return None if not np.isfinite(x) else x


class EvalAccumulator:
    """Collects per-keypoint errors batch by batch and summarises them.

    Example::

        acc = EvalAccumulator.for_2d()
        for pred_uv, gt_uv, visible in batches:      # (N, 21, 2), (N, 21, 2), (N, 21)
            acc.add(pred_uv, gt_uv, visible)
        json.dump(acc.summary(), f)
    """

    def __init__(
        self,
        pck: PCKConfig = PCKConfig(),
        unit: str = "px",
        keypoint_names: Sequence[str] = KEYPOINT_NAMES,
        unit_scale: float = 1.0,
    ):
        """
        Args:
            pck: threshold grid (its range is the AUC range), in ``unit``.
            unit: name of the error unit in the summary (``"px"``, ``"mm"``).
            keypoint_names: K names for the per-keypoint table.
            unit_scale: errors are multiplied by this before use (e.g. 1000 for keypoints
                given in metres and a summary in mm); > 0.
        """
        if not unit_scale > 0:
            raise ValueError(f"unit_scale must be > 0, got {unit_scale}")
        self.pck = pck
        self.unit = unit
        self.keypoint_names = tuple(keypoint_names)
        self.unit_scale = float(unit_scale)
        self._errors = []
        self._visible = []

    @classmethod
    def for_2d(cls, num_thresholds: int = PCKConfig.num_thresholds) -> "EvalAccumulator":
        """2D keypoints in pixels, AUC over 0-30 px."""
        lo, hi = AUC_RANGE_2D_PX
        return cls(PCKConfig(lo, hi, num_thresholds), unit="px")

    @classmethod
    def for_3d(
        cls, unit_scale: float = 1000.0, num_thresholds: int = PCKConfig.num_thresholds
    ) -> "EvalAccumulator":
        """3D keypoints (metres by default, ``unit_scale`` 1000 -> mm), AUC over 20-50 mm."""
        lo, hi = AUC_RANGE_3D_MM
        return cls(PCKConfig(lo, hi, num_thresholds), unit="mm", unit_scale=unit_scale)

    def add(self, pred, gt, visible=None) -> None:
        """Add a batch: ``pred``, ``gt`` ``(N, K, D)``; ``visible`` ``(N, K)`` bool or None (all)."""
        errors = keypoint_errors(pred, gt)
        self.add_errors(errors, visible)

    def add_errors(self, errors, visible=None) -> None:
        """Add precomputed ``(N, K)`` errors (in the input unit) with ``(N, K)`` visibility."""
        errors = _numpy(errors).astype(np.float64)
        if errors.ndim != 2 or errors.shape[1] != len(self.keypoint_names):
            raise ValueError(f"expected (N, {len(self.keypoint_names)}) errors, got {errors.shape}")
        self._errors.append(errors * self.unit_scale)
        self._visible.append(_visible(visible, errors.shape))

    def __len__(self) -> int:
        return int(sum(e.shape[0] for e in self._errors))

    def arrays(self) -> Tuple[np.ndarray, np.ndarray]:
        """All ``(errors (N, K) in unit, visible (N, K))`` so far."""
        k = len(self.keypoint_names)
        if not self._errors:
            return np.zeros((0, k)), np.zeros((0, k), dtype=bool)
        return np.concatenate(self._errors), np.concatenate(self._visible)

    def summary(self) -> Dict:
        """JSON-able summary (floats, ints, lists, None for undefined values)."""
        errors, vis = self.arrays()
        thresholds = self.pck.thresholds()
        mean, median, count = epe_per_keypoint(errors, vis)
        curve = pck_curve(errors, vis, thresholds)
        curve_all = pck_curve(errors, vis, thresholds, per_keypoint=False)
        has = count > 0
        visible_errors = errors[vis]
        return {
            "unit": self.unit,
            "num_samples": int(errors.shape[0]),
            "num_visible": int(vis.sum()),
            "epe_mean": _json_float(mean[has].mean()) if has.any() else None,
            "epe_median": _json_float(median[has].mean()) if has.any() else None,
            "epe_mean_all": _json_float(visible_errors.mean()) if visible_errors.size else None,
            "epe_median_all": (
                _json_float(np.median(visible_errors)) if visible_errors.size else None
            ),
            "auc": _json_float(area_under_curve(thresholds, curve)) if has.any() else None,
            "auc_all": _json_float(area_under_curve(thresholds, curve_all)) if has.any() else None,
            "auc_range": [float(thresholds[0]), float(thresholds[-1])],
            "pck": {
                "thresholds": [float(t) for t in thresholds],
                "values": [_json_float(v) for v in curve],
            },
            "per_keypoint": {
                name: {
                    "mean": _json_float(mean[i]),
                    "median": _json_float(median[i]),
                    "count": int(count[i]),
                }
                for i, name in enumerate(self.keypoint_names)
            },
        }
