"""Metric 3D keypoints in the camera frame from the paper's relative pose.

The networks give ``w_rel`` (21, 3): keypoints relative to the wrist, unitless, scaled
so that the reference bone (middle-finger MCP -> PIP, ``keypoints.REFERENCE_BONE``) has
length 1, axes parallel to the camera's optical frame (x right, y down, z forward).
A robot needs metres. With a bone length ``s`` (metres), the wrist position ``t``
(metres, camera frame) and a small correction ``R`` of the lifted viewpoint (a rotation
about the wrist, the identity unless refined) every keypoint is::

    xyz_cam[i] = t + s * R @ w_rel[i]

and it must project onto the detected pixel ``uv[i]`` (pixel (0, 0)'s centre is at
uv = (0, 0), OpenCV / ``CameraInfo.K``). Two ways to find ``(s, t, R)``:

* monocular (:data:`ScaleSource.HAND_SIZE_PRIOR`): ``s`` from a hand-size prior, ``t``
  from the projection equations (:func:`solve_translation`, closed form), then
  Gauss-Newton on the reprojection error over ``s``, ``t`` and ``R``
  (:func:`refine_scale_translation` without ``R``). The image alone cannot tell a small
  near hand from a large far one (scaling ``s`` and ``t`` together leaves every
  projection unchanged), so the depth of the hand is only as right as the prior: a
  10 % larger hand than the prior is placed 10 % too far.
* with an aligned depth image (:data:`ScaleSource.DEPTH`): that same scaling is the one
  number depth has to fix: the depth at the keypoints, back-projected, scales the
  monocular placement about the camera centre (:func:`solve_with_depth`); the fit is
  checked and rejected (with a reason) when it is implausible, and the caller falls
  back to the prior. Keypoints the depth confirms then move to their measured
  positions.

:func:`lift_to_metric` strings these together for one hand.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from .keypoints import NUM_KEYPOINTS, ROOT

__all__ = [
    "ScaleSource",
    "MetricConfig",
    "MetricResult",
    "DepthFit",
    "project_points",
    "pixel_rays",
    "keypoint_weights",
    "solve_translation",
    "refine_scale_translation",
    "rotation_from_vector",
    "reprojection_rms",
    "sample_depth",
    "solve_with_depth",
    "lift_to_metric",
    "lift_to_metric_batch",
]


class ScaleSource(IntEnum):
    """How the metric scale was obtained (same numbers as ``hand3d_msgs/HandPose3D.SCALE_*``)."""

    NONE = 0  #: no (valid) intrinsics, e.g. no camera_info yet: metric keypoints are NaN
    HAND_SIZE_PRIOR = 1  #: monocular: reference bone length from the hand-size prior
    DEPTH = 2  #: from the aligned depth image
    TOO_FEW_KEYPOINTS = 3  #: intrinsics known, but fewer than 2 confident keypoints (or no wrist): NaN
    NO_SOLUTION = 4  #: intrinsics and keypoints, but no placement in front of the camera: NaN

    @property
    def is_metric(self) -> bool:
        """True when the metric keypoints are valid (HAND_SIZE_PRIOR or DEPTH)."""
        return self in (ScaleSource.HAND_SIZE_PRIOR, ScaleSource.DEPTH)


@dataclass
class MetricConfig:
    """Parameters of the metric lifting (:func:`lift_to_metric`).

    Attributes:
        bone_length_m: hand-size prior, metres: length of the reference bone
            (middle-finger MCP joint centre -> PIP joint centre), i.e. the middle
            finger's proximal phalanx. Adult proximal phalanges of the middle finger
            measure roughly 40-47 mm (shorter in women and children, longer in large
            male hands); 0.043 m sits in the middle of the adult range, so an adult
            hand is usually within +-10 % of it, and so is the monocular distance.
            Range: within ``bone_length_range_m``.
        bone_length_range_m: (min, max) metres of a plausible reference bone, from a
            small child's hand to a large adult's. A depth fit outside it is rejected.
            Range: 0 < min < max.
        min_score: keypoints with a confidence below this are not used (weight 0);
            the others are weighted by their confidence. Range [0, 1].
        gauss_newton_iterations: Gauss-Newton steps on the reprojection error after
            the closed-form solution; 0 disables the refinement. Range >= 0 (5-20: with
            the rotation it needs about 10 to converge).
        refine_rotation: let the refinement also turn the lifted shape about the wrist.
            The lifted viewpoint is often tens of degrees off, and a shape seen from the
            wrong angle is foreshortened wrongly, which the closed form can only explain
            by a wrong distance (on rendered sequences with the shipped weights and the
            true hand size: median wrist depth error 22 % without, 12 % with).
        rotation_min_keypoints: the rotation is refined only when at least this many
            keypoints are used (7 unknowns need the 2 equations of each of them with
            room to spare; fewer keep the lifted viewpoint). Range >= 4.
        scale_prior_weight: how strongly the prior holds the bone length during the
            refinement, in pixels of residual per unit relative deviation
            (residual = weight * (s / bone_length_m - 1)). In the monocular case the
            image cannot tell scale from distance, so any positive weight keeps
            ``s`` at the prior and the weight only conditions the problem.
            Range > 0.
        robust_loss_px: Huber threshold on a keypoint's reprojection error during the
            refinement, pixels: keypoints farther off than this count linearly, not
            quadratically (a misdetected keypoint pulls less). 0 disables (plain
            least squares). Range >= 0.
        depth_window_px: side of the square window around a keypoint whose valid
            depth pixels are reduced with the median, pixels. Odd, range >= 1.
        depth_surface_offset_m: the depth camera sees the skin while keypoints are
            joint centres, 6-25 mm under the skin (half a finger's or the wrist's
            thickness); the back-projected point is pushed this far along the
            viewing ray. Range [0, 0.03].
        depth_min_pixels: a keypoint's depth sample counts only if its window holds at
            least this many valid pixels (finite, > 0, inside ``hand_mask`` when given).
            Range 1 .. depth_window_px**2.
        depth_min_keypoints: the depth fit needs at least this many keypoints with a
            valid depth sample (and at least this many inliers after outlier
            rejection); otherwise it is rejected. Range >= 3 (the fit has 4 unknowns
            and 3 equations per keypoint; more makes it robust).
        depth_inlier_threshold_m: a keypoint whose back-projected point is farther than
            this from the fitted hand is always an outlier (occluded keypoint, depth
            hole, background), metres. Range > depth_inlier_floor_m; about the spread
            of the joint-to-skin offset plus depth noise (0.02-0.03) plus the error of
            the lifted shape (several centimetres with the shipped lite weights: 0.06;
            0.04 rejected one frame in eleven of the rendered sequences).
        depth_inlier_floor_m: the outlier threshold adapts to the spread of the
            residuals (3 robust standard deviations, from the median absolute
            residual) but never drops below this, metres, so that the natural spread
            of the joint-to-skin offset (about 1 cm) never counts as an outlier.
            Range (0, depth_inlier_threshold_m].
        depth_max_rms_m: maximum RMS distance of the inliers to the fitted hand,
            metres; above it depth and keypoints disagree and the fit is rejected
            (0.012 suits an exact shape; 0.045 lets the lite weights' shapes through
            while a wall or a misregistered depth image still fails, mostly by the
            bone-length check). Range > 0.
        depth_max_iterations: rounds of refit-and-reclassify for the outlier
            rejection. Range >= 1.
        depth_keypoint_blend: once the depth fit is accepted, each keypoint with a
            depth sample within ``depth_keypoint_gate_m`` of the fitted hand model
            (``t + s w_rel``) moves this fraction of the way to its own measured position
            (its ray at the sampled depth plus the surface offset). 0 keeps the lifted
            shape and takes only scale and translation from depth; 1 trusts the depth
            camera for every keypoint it confirms (the lifted shape then fills in only
            the occluded, unmeasured or rejected ones). Range [0, 1].
        depth_keypoint_gate_m: largest distance, metres, between a keypoint's measured
            position and the fitted hand model for the measurement to replace the model
            (wider than the fit's inlier threshold: the lifted shape is often a few
            centimetres off where the depth is right; narrower than a hand, so that an
            occluder or the background is never taken). Range [depth_inlier_threshold_m, 0.2].
    """

    bone_length_m: float = 0.043
    bone_length_range_m: tuple = (0.025, 0.065)
    min_score: float = 0.2
    gauss_newton_iterations: int = 10
    refine_rotation: bool = True
    rotation_min_keypoints: int = 6
    scale_prior_weight: float = 100.0
    robust_loss_px: float = 10.0
    depth_window_px: int = 5
    depth_surface_offset_m: float = 0.01
    depth_min_pixels: int = 3
    depth_min_keypoints: int = 6
    depth_inlier_threshold_m: float = 0.06
    depth_inlier_floor_m: float = 0.01
    depth_max_rms_m: float = 0.045
    depth_max_iterations: int = 10
    depth_keypoint_blend: float = 1.0
    depth_keypoint_gate_m: float = 0.1

    def __post_init__(self):
        lo, hi = self.bone_length_range_m
        if not 0 < lo < hi:
            raise ValueError(f"bone_length_range_m must satisfy 0 < min < max, got {self.bone_length_range_m}")
        if not lo <= self.bone_length_m <= hi:
            raise ValueError(f"bone_length_m {self.bone_length_m} outside bone_length_range_m {self.bone_length_range_m}")
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {self.min_score}")
        if self.gauss_newton_iterations < 0:
            raise ValueError("gauss_newton_iterations must be >= 0")
        if self.rotation_min_keypoints < 4:
            raise ValueError("rotation_min_keypoints must be >= 4")
        if self.scale_prior_weight <= 0:
            raise ValueError("scale_prior_weight must be > 0")
        if self.robust_loss_px < 0:
            raise ValueError("robust_loss_px must be >= 0")
        if self.depth_window_px < 1 or self.depth_window_px % 2 == 0:
            raise ValueError(f"depth_window_px must be odd and >= 1, got {self.depth_window_px}")
        if not 0.0 <= self.depth_surface_offset_m <= 0.03:
            raise ValueError("depth_surface_offset_m must be in [0, 0.03]")
        if not 1 <= self.depth_min_pixels <= self.depth_window_px ** 2:
            raise ValueError("depth_min_pixels must be in [1, depth_window_px**2]")
        if self.depth_min_keypoints < 3:
            raise ValueError("depth_min_keypoints must be >= 3")
        if not 0 < self.depth_inlier_floor_m <= self.depth_inlier_threshold_m:
            raise ValueError("need 0 < depth_inlier_floor_m <= depth_inlier_threshold_m")
        if self.depth_max_rms_m <= 0:
            raise ValueError("depth_max_rms_m must be > 0")
        if self.depth_max_iterations < 1:
            raise ValueError("depth_max_iterations must be >= 1")
        if not 0.0 <= self.depth_keypoint_blend <= 1.0:
            raise ValueError("depth_keypoint_blend must be in [0, 1]")
        if not self.depth_inlier_threshold_m <= self.depth_keypoint_gate_m <= 0.2:
            raise ValueError("depth_keypoint_gate_m must be in [depth_inlier_threshold_m, 0.2]")


@dataclass
class MetricResult:
    """Metric pose of one hand.

    Attributes:
        xyz_cam: (21, 3) keypoints, metres, camera optical frame (NaN when
            ``scale_source`` is NONE).
        translation: (3,) wrist position, metres, camera frame (NaN when NONE).
        scale: reference bone length used, metres (NaN when NONE).
        scale_source: :class:`ScaleSource`.
        reprojection_error_px: RMS distance, pixels, between ``uv`` and the projection
            of ``xyz_cam`` over the keypoints used (NaN when NONE).
        reason: empty when all went as asked; otherwise why depth was rejected or why
            there is no solution.
        num_keypoints_used: keypoints that took part in the fit.
    """

    xyz_cam: np.ndarray
    translation: np.ndarray
    scale: float
    scale_source: ScaleSource
    reprojection_error_px: float
    reason: str = ""
    num_keypoints_used: int = 0


@dataclass
class DepthFit:
    """Outcome of :func:`solve_with_depth`.

    Attributes:
        ok: True when the fit passed every check and can be used.
        scale: fitted reference bone length, metres (NaN if no fit was possible).
        translation: (3,) fitted wrist position, metres, camera frame (NaN if none).
        reason: why the fit was rejected (empty when ok).
        num_samples: keypoints with a valid depth sample.
        num_inliers: keypoints kept after outlier rejection.
        rms_m: RMS distance, metres, of the inliers to the fitted hand.
        xyz_measured: (21, 3) back-projected keypoints (joint centres), metres, NaN
            where there was no valid sample.
        inliers: (21,) bool, keypoints used by the final fit.
        rotation: (3, 3) rotation applied to ``w_rel`` about the wrist by the monocular
            refinement (the fitted hand is ``translation + scale * rotation @ w_rel_i``).
    """

    ok: bool
    scale: float
    translation: np.ndarray
    reason: str
    num_samples: int
    num_inliers: int
    rms_m: float
    xyz_measured: np.ndarray
    inliers: np.ndarray
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))


# --------------------------------------------------------------------------- helpers


def _check_K(K) -> np.ndarray:
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"K must be 3x3, got shape {K.shape}")
    return K


def _valid_K(K) -> bool:
    if K is None:
        return False
    K = np.asarray(K, dtype=np.float64)
    return (
        K.shape == (3, 3)
        and bool(np.all(np.isfinite(K)))
        and K[0, 0] > 0
        and K[1, 1] > 0
        and abs(K[2, 2] - 1.0) < 1e-9
        and K[1, 0] == 0
        and K[2, 0] == 0
        and K[2, 1] == 0
    )


def project_points(xyz_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Project camera-frame points to pixels.

    Args:
        xyz_cam: (..., 3) metres (any unit works), camera optical frame.
        K: (3, 3) intrinsics (``CameraInfo.K``; skew allowed).
    Returns:
        (..., 2) pixels, (0, 0) = centre of the top-left pixel. Points with z <= 0
        give non-finite or meaningless values; check z yourself.
    """
    K = _check_K(K)
    xyz = np.asarray(xyz_cam, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = xyz[..., 0] / xyz[..., 2]
        y = xyz[..., 1] / xyz[..., 2]
    u = K[0, 0] * x + K[0, 1] * y + K[0, 2]
    v = K[1, 1] * y + K[1, 2]
    return np.stack([u, v], axis=-1)


def pixel_rays(uv: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Viewing rays of pixels, normalised to z = 1.

    Args:
        uv: (..., 2) pixels.
        K: (3, 3) intrinsics.
    Returns:
        (..., 3) ``K^-1 [u, v, 1]``: a point at depth z on the ray is ``z * ray``.
    """
    K = _check_K(K)
    uv = np.asarray(uv, dtype=np.float64)
    homogeneous = np.concatenate([uv, np.ones(uv.shape[:-1] + (1,))], axis=-1)
    return homogeneous @ np.linalg.inv(K).T


def keypoint_weights(score: np.ndarray, min_score: float, *arrays: np.ndarray) -> np.ndarray:
    """Per-keypoint weight: the confidence, 0 below ``min_score`` or where any input is non-finite.

    Args:
        score: (..., 21) confidences in [0, 1].
        min_score: threshold in [0, 1].
        arrays: (..., 21, D) arrays (uv, w_rel) whose non-finite rows get weight 0.
    Returns:
        (..., 21) float64 weights >= 0.
    """
    score = np.asarray(score, dtype=np.float64)
    weight = np.where(np.isfinite(score) & (score >= min_score), score, 0.0)
    weight = np.clip(weight, 0.0, None)
    for a in arrays:
        weight = np.where(np.all(np.isfinite(np.asarray(a, dtype=np.float64)), axis=-1), weight, 0.0)
    return weight


def _as_batch(w_rel, uv, score):
    w_rel = np.asarray(w_rel, dtype=np.float64)
    uv = np.asarray(uv, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    single = w_rel.ndim == 2
    if single:
        w_rel, uv, score = w_rel[None], uv[None], score[None]
    n = w_rel.shape[0]
    if w_rel.shape != (n, NUM_KEYPOINTS, 3) or uv.shape != (n, NUM_KEYPOINTS, 2) or score.shape != (n, NUM_KEYPOINTS):
        raise ValueError(
            f"expected w_rel (N, 21, 3), uv (N, 21, 2), score (N, 21) (or without N); "
            f"got {w_rel.shape}, {uv.shape}, {score.shape}"
        )
    return w_rel, uv, score, single


def _per_hand(value, n: int) -> np.ndarray:
    value = np.asarray(value, dtype=np.float64)
    return np.broadcast_to(value, (n,)) if value.ndim == 0 else value.reshape(n)


# --------------------------------------------------------------------------- monocular


def solve_translation(w_rel, uv, score, K, bone_length_m, min_score: float = 0.0) -> np.ndarray:
    """Wrist translation from the projection equations, closed form.

    With ``X_i = t + s * w_rel_i`` and the normalised ray ``(x_i, y_i, 1) = K^-1 (u_i, v_i, 1)``
    the projection gives two equations per keypoint, linear in ``t``::

        t_x - x_i t_z = s (x_i w_iz - w_ix)
        t_y - y_i t_z = s (y_i w_iz - w_iy)

    solved by least squares, each keypoint's rows weighted by the square root of its
    confidence (keypoints below ``min_score``, with zero score or non-finite input
    are ignored). Exact for noise-free input.

    Args:
        w_rel: (N, 21, 3) or (21, 3) relative pose, unitless (reference bone = 1).
        uv: (N, 21, 2) or (21, 2) keypoints, pixels.
        score: (N, 21) or (21,) confidences in [0, 1].
        K: (3, 3) intrinsics.
        bone_length_m: scalar or (N,) reference bone length ``s``, metres.
        min_score: confidence threshold in [0, 1].
    Returns:
        (N, 3) or (3,) wrist position, metres, camera frame; NaN for a hand with fewer
        than 2 usable keypoints (the problem is then underdetermined).
    """
    w_rel, uv, score, single = _as_batch(w_rel, uv, score)
    n = w_rel.shape[0]
    s = _per_hand(bone_length_m, n)
    rays = pixel_rays(uv, K)
    weight = keypoint_weights(score, min_score, uv, w_rel)
    t = np.full((n, 3), np.nan)
    for h in range(n):
        used = weight[h] > 0
        if used.sum() < 2:
            continue
        x, y = rays[h, used, 0], rays[h, used, 1]
        w = w_rel[h, used]
        root_w = np.sqrt(weight[h, used])
        zeros, ones = np.zeros_like(x), np.ones_like(x)
        A = np.concatenate([
            np.stack([ones, zeros, -x], axis=1),
            np.stack([zeros, ones, -y], axis=1),
        ]) * np.concatenate([root_w, root_w])[:, None]
        b = s[h] * np.concatenate([x * w[:, 2] - w[:, 0], y * w[:, 2] - w[:, 1]]) * np.concatenate([root_w, root_w])
        solution, _, rank, _ = np.linalg.lstsq(A, b, rcond=None)
        if rank == 3:
            t[h] = solution
    return t[0] if single else t


def _huber_cost(err: np.ndarray, weight: np.ndarray, delta: float) -> float:
    if delta <= 0:
        return float(np.sum(weight * err ** 2))
    rho = np.where(err <= delta, err ** 2, 2.0 * delta * err - delta ** 2)
    return float(np.sum(weight * rho))


def _skew(a: np.ndarray) -> np.ndarray:
    """(M, 3) vectors -> (M, 3, 3) matrices ``[a]_x`` with ``[a]_x b = a x b``."""
    z = np.zeros(a.shape[0])
    return np.stack([
        np.stack([z, -a[:, 2], a[:, 1]], axis=1),
        np.stack([a[:, 2], z, -a[:, 0]], axis=1),
        np.stack([-a[:, 1], a[:, 0], z], axis=1),
    ], axis=1)


def rotation_from_vector(omega) -> np.ndarray:
    """Rodrigues' formula: (3,) rotation vector (axis * angle, radians) -> (3, 3) rotation."""
    omega = np.asarray(omega, dtype=np.float64)
    angle = float(np.linalg.norm(omega))
    if angle < 1e-12:
        return np.eye(3)
    k = _skew((omega / angle)[None])[0]
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def _refine_one(w, uv, weight, K, s, t, s_prior, prior_weight, iterations, delta, rotate=False):
    """Gauss-Newton for one hand; returns ``(s, t, R)`` with ``X_i = t + s R w_i``
    (``R`` stays the identity unless ``rotate``)."""
    used = weight > 0
    w, uv, c = w[used], uv[used], weight[used]
    fx, skew, fy = K[0, 0], K[0, 1], K[1, 1]
    R = np.eye(3)

    def residuals(s_, t_, R_):
        X = t_ + s_ * (w @ R_.T)
        if np.any(X[:, 2] <= 0):
            return None, X
        return project_points(X, K) - uv, X

    def cost(e, s_):
        err = np.linalg.norm(e, axis=1)
        return _huber_cost(err, c, delta) + (prior_weight * (s_ / s_prior - 1.0)) ** 2

    e, X = residuals(s, t, R)
    if e is None:
        return s, t, R
    s_ = s
    current = cost(e, s_)
    for _ in range(iterations):
        err = np.linalg.norm(e, axis=1)
        robust = np.ones_like(err) if delta <= 0 else np.minimum(1.0, delta / np.maximum(err, 1e-12))
        row_w = np.sqrt(c * robust)
        Xx, Xy, Z = X[:, 0], X[:, 1], X[:, 2]
        # d(u, v)/d(X, Y, Z)
        J_uX = np.stack([fx / Z, skew / Z, -(fx * Xx + skew * Xy) / Z ** 2], axis=1)
        J_vX = np.stack([np.zeros_like(Z), fy / Z, -fy * Xy / Z ** 2], axis=1)
        # chain with dX/ds = R w, dX/dt = I and, for a rotation exp([d]_x) R about the
        # wrist, dX/dd = -s [R w]_x  -> columns (s, tx, ty, tz[, dx, dy, dz])
        rw = w @ R.T
        J_u = [np.sum(J_uX * rw, axis=1, keepdims=True), J_uX]
        J_v = [np.sum(J_vX * rw, axis=1, keepdims=True), J_vX]
        if rotate:
            dX_dd = -s_ * _skew(rw)
            J_u.append(np.einsum("mi,mij->mj", J_uX, dX_dd))
            J_v.append(np.einsum("mi,mij->mj", J_vX, dX_dd))
        J_u, J_v = np.concatenate(J_u, axis=1), np.concatenate(J_v, axis=1)
        prior_row = np.zeros((1, J_u.shape[1]))
        prior_row[0, 0] = prior_weight / s_prior
        J = np.concatenate([J_u * row_w[:, None], J_v * row_w[:, None], prior_row])
        r = np.concatenate([e[:, 0] * row_w, e[:, 1] * row_w, [prior_weight * (s_ / s_prior - 1.0)]])
        step = np.linalg.lstsq(J, -r, rcond=None)[0]
        # Backtracking: accept the step (or a shorter one) only if the cost decreases.
        accepted = False
        for fraction in (1.0, 0.5, 0.25, 0.125):
            s_new, t_new = s_ + fraction * step[0], t + fraction * step[1:4]
            R_new = rotation_from_vector(fraction * step[4:7]) @ R if rotate else R
            e_new, X_new = residuals(s_new, t_new, R_new)
            if e_new is None:
                continue
            new_cost = cost(e_new, s_new)
            if new_cost < current:
                s_, t, R, e, X, current, accepted = s_new, t_new, R_new, e_new, X_new, new_cost, True
                break
        if not accepted or np.max(np.abs(step[1:])) < 1e-9:
            break
    return s_, t, R


def refine_scale_translation(
    w_rel,
    uv,
    score,
    K,
    scale_m,
    translation,
    scale_prior_m,
    prior_weight: float = 100.0,
    iterations: int = 5,
    min_score: float = 0.0,
    robust_loss_px: float = 0.0,
):
    """Gauss-Newton on the reprojection error over the bone length ``s`` and the translation ``t``.

    Minimises ``sum_i c_i rho(|project(t + s w_rel_i) - uv_i|) + (prior_weight (s / scale_prior_m - 1))^2``
    with ``c_i`` the keypoint weight (confidence, 0 below ``min_score``) and ``rho`` the
    square (or Huber with threshold ``robust_loss_px``). A step is accepted only if it
    lowers the cost (halving it up to three times), so the cost never increases.

    Args:
        w_rel: (N, 21, 3) or (21, 3) relative pose, unitless.
        uv: (N, 21, 2) or (21, 2) pixels.
        score: (N, 21) or (21,) confidences.
        K: (3, 3) intrinsics.
        scale_m: scalar or (N,) starting bone length, metres.
        translation: (N, 3) or (3,) starting wrist position, metres (e.g. from
            :func:`solve_translation`); hands with a non-finite start are returned as is.
        scale_prior_m: scalar or (N,) prior bone length, metres.
        prior_weight: pixels of residual per unit relative scale deviation, > 0.
        iterations: Gauss-Newton steps, >= 0.
        min_score: confidence threshold in [0, 1].
        robust_loss_px: Huber threshold, pixels; 0 = least squares.
    Returns:
        ``(scale, translation)``: (N,) metres and (N, 3) metres (or a float and (3,)
        for unbatched input).
    """
    K = _check_K(K)
    w_rel, uv, score, single = _as_batch(w_rel, uv, score)
    n = w_rel.shape[0]
    s = _per_hand(scale_m, n).copy()
    s_prior = _per_hand(scale_prior_m, n)
    t = np.asarray(translation, dtype=np.float64).reshape(n, 3).copy()
    weight = keypoint_weights(score, min_score, uv, w_rel)
    for h in range(n):
        if iterations <= 0 or not np.all(np.isfinite(t[h])) or not np.isfinite(s[h]) or (weight[h] > 0).sum() < 2:
            continue
        s[h], t[h], _ = _refine_one(w_rel[h], uv[h], weight[h], K, s[h], t[h], s_prior[h], prior_weight, iterations,
                                    robust_loss_px)
    return (float(s[0]), t[0]) if single else (s, t)


def reprojection_rms(xyz_cam, uv, K, used=None) -> float:
    """RMS pixel distance between ``uv`` and the projection of ``xyz_cam``.

    Args:
        xyz_cam: (21, 3) metres, camera frame.
        uv: (21, 2) pixels.
        K: (3, 3) intrinsics.
        used: optional (21,) bool, keypoints to include (default: all finite ones).
    Returns:
        RMS error in pixels; NaN if no keypoint is included or one lies behind the camera.
    """
    xyz_cam = np.asarray(xyz_cam, dtype=np.float64)
    uv = np.asarray(uv, dtype=np.float64)
    mask = np.all(np.isfinite(xyz_cam), axis=-1) & np.all(np.isfinite(uv), axis=-1)
    if used is not None:
        mask &= np.asarray(used, dtype=bool)
    if not mask.any() or np.any(xyz_cam[mask, 2] <= 0):
        return float("nan")
    err = project_points(xyz_cam[mask], K) - uv[mask]
    return float(np.sqrt(np.mean(np.sum(err ** 2, axis=-1))))


# --------------------------------------------------------------------------- depth


def sample_depth(depth_m, uv, window_px: int = 5, hand_mask=None, min_pixels: int = 1) -> np.ndarray:
    """Robust depth at pixel positions: median of the valid pixels in a square window.

    Args:
        depth_m: (H, W) float depth image, metres, registered to the colour image
            (same pixels and intrinsics); NaN, inf and values <= 0 are invalid.
        uv: (K, 2) pixels.
        window_px: odd window side, pixels.
        hand_mask: optional (H, W) bool; only pixels inside it count.
        min_pixels: fewest valid pixels a window needs.
    Returns:
        (K,) depth in metres along the optical axis (z), NaN where the window
        had too few valid pixels or lies outside the image.
    """
    depth = np.asarray(depth_m, dtype=np.float64)
    if depth.ndim != 2:
        raise ValueError(f"depth_m must be (H, W), got {depth.shape}")
    if hand_mask is not None:
        hand_mask = np.asarray(hand_mask, dtype=bool)
        if hand_mask.shape != depth.shape:
            raise ValueError(f"hand_mask shape {hand_mask.shape} differs from depth shape {depth.shape}")
    uv = np.asarray(uv, dtype=np.float64)
    height, width = depth.shape
    half = window_px // 2
    out = np.full(uv.shape[0], np.nan)
    for k, (u, v) in enumerate(uv):
        if not (np.isfinite(u) and np.isfinite(v)):
            continue
        col, row = int(np.rint(u)), int(np.rint(v))
        r0, r1 = max(row - half, 0), min(row + half + 1, height)
        c0, c1 = max(col - half, 0), min(col + half + 1, width)
        if r0 >= r1 or c0 >= c1:
            continue
        patch = depth[r0:r1, c0:c1]
        valid = np.isfinite(patch) & (patch > 0)
        if hand_mask is not None:
            valid &= hand_mask[r0:r1, c0:c1]
        if valid.sum() >= min_pixels:
            out[k] = float(np.median(patch[valid]))
    return out


#: Median of |N(0, 1)| is 0.6745: sigma = median absolute deviation / 0.6745.
_MAD_TO_SIGMA = 1.4826


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Median of ``values`` (M,) with non-negative ``weights`` (M,); NaN when all weights are 0."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    if cumulative[-1] <= 0:
        return float("nan")
    return float(values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def _place_monocular(w_rel, uv, weight, K, config: MetricConfig):
    """The hand placed from its 2D keypoints with the hand-size prior.

    Closed-form translation (:func:`solve_translation`), then Gauss-Newton on the
    reprojection error over the bone length, the translation and (with
    ``config.refine_rotation``) a rotation of the lifted shape about the wrist.

    Returns:
        ``(s, t, R)``: bone length (m), wrist (3,) metres and (3, 3) rotation applied to
        ``w_rel`` (``X_i = t + s R w_rel_i``); None when there is no solution in front
        of the camera (fewer than 2 usable keypoints, or a keypoint behind it).
    """
    used = weight > 0
    s = config.bone_length_m
    t = solve_translation(w_rel, uv, weight, K, s, min_score=0.0)
    if used.sum() < 2 or not np.all(np.isfinite(t)) or np.any(t[2] + s * w_rel[used, 2] <= 0):
        return None
    R = np.eye(3)
    if config.gauss_newton_iterations > 0:
        rotate = config.refine_rotation and used.sum() >= config.rotation_min_keypoints
        s, t, R = _refine_one(w_rel, uv, weight, K, s, t, config.bone_length_m, config.scale_prior_weight,
                              config.gauss_newton_iterations, config.robust_loss_px, rotate=rotate)
    return float(s), t, R


def _fit_depth(w_rel, placement, uv, weight, K, depth_m, hand_mask, config: MetricConfig) -> DepthFit:
    """Scale a monocular placement (:func:`_place_monocular`) about the camera centre until
    it meets the depth image (see :func:`solve_with_depth`)."""
    nan3 = np.full(3, np.nan)
    xyz_measured = np.full((NUM_KEYPOINTS, 3), np.nan)
    no_inliers = np.zeros(NUM_KEYPOINTS, dtype=bool)
    rotation = np.eye(3) if placement is None else placement[2]

    def reject(reason, num_samples=0, s=float("nan"), t=nan3, num_inliers=0, rms=float("nan"), inliers=no_inliers):
        return DepthFit(False, s, t, reason, num_samples, num_inliers, rms, xyz_measured, inliers, rotation)

    if placement is None:
        return reject("no monocular placement to scale (too few keypoints, or none in front of the camera)")
    s0, t0, _ = placement
    confident = weight > 0
    z = np.full(NUM_KEYPOINTS, np.nan)
    if confident.any():
        z[confident] = sample_depth(depth_m, uv[confident], config.depth_window_px, hand_mask, config.depth_min_pixels)
    sampled = confident & np.isfinite(z)
    num_samples = int(sampled.sum())
    if num_samples < config.depth_min_keypoints:
        return reject(
            f"too few keypoints with valid depth ({num_samples} < {config.depth_min_keypoints})", num_samples
        )
    rays = pixel_rays(uv[sampled], K)
    unit_rays = rays / np.linalg.norm(rays, axis=1, keepdims=True)
    xyz_measured[sampled] = z[sampled, None] * rays + config.depth_surface_offset_m * unit_rays

    X, c = xyz_measured[sampled], weight[sampled]
    # Scaling the placed hand about the camera centre leaves every projection unchanged:
    # one factor k, the ratio of measured to placed distance, fixes size and distance.
    M = (t0 + s0 * (w_rel @ rotation.T))[sampled]
    # Robust start: the weighted median of the per-keypoint depth ratios.
    k = _weighted_median(X[:, 2] / M[:, 2], c)
    inliers = np.zeros(num_samples, dtype=bool)
    for _ in range(config.depth_max_iterations):
        residual = np.linalg.norm(X - k * M, axis=1)
        # Adaptive threshold: 3 robust sigmas of the current inliers (all at first),
        # clamped to [floor, threshold].
        reference = residual[inliers] if inliers.sum() >= config.depth_min_keypoints else residual
        robust_sigma = _MAD_TO_SIGMA * float(np.median(reference))
        threshold = float(np.clip(3.0 * robust_sigma, config.depth_inlier_floor_m, config.depth_inlier_threshold_m))
        new_inliers = residual <= threshold
        if new_inliers.sum() < config.depth_min_keypoints:
            inliers = new_inliers
            break
        if np.array_equal(new_inliers, inliers):
            break
        inliers = new_inliers
        ci, Xi, Mi = c[inliers], X[inliers], M[inliers]
        k = float(np.sum(ci * np.sum(Xi * Mi, axis=1)) / np.sum(ci * np.sum(Mi * Mi, axis=1)))
    s, t = k * s0, k * t0
    inliers_all = np.zeros(NUM_KEYPOINTS, dtype=bool)
    inliers_all[np.flatnonzero(sampled)[inliers]] = True
    num_inliers = int(inliers.sum())
    residual = np.linalg.norm(X - k * M, axis=1)
    rms = float(np.sqrt(np.mean(residual[inliers] ** 2))) if num_inliers else float("nan")
    common = dict(num_samples=num_samples, s=s, t=t, num_inliers=num_inliers, rms=rms, inliers=inliers_all)
    if num_inliers < config.depth_min_keypoints:
        return reject(f"too few depth inliers ({num_inliers} < {config.depth_min_keypoints})", **common)
    if not rms <= config.depth_max_rms_m:
        return reject(f"depth and keypoints disagree (RMS {rms:.4f} m > {config.depth_max_rms_m} m)", **common)
    lo, hi = config.bone_length_range_m
    if not lo <= s <= hi:
        return reject(f"depth gives an implausible bone length {s:.4f} m (outside [{lo}, {hi}])", **common)
    if not t[2] > 0:
        return reject("depth places the wrist behind the camera", **common)
    return DepthFit(True, s, t, "", num_samples, num_inliers, rms, xyz_measured, inliers_all, rotation)


def solve_with_depth(w_rel, uv, score, K, depth_m, hand_mask=None, config: MetricConfig | None = None) -> DepthFit:
    """Fit the bone length and the wrist position of one hand to an aligned depth image.

    1. The hand placed from its 2D keypoints with the hand-size prior (closed form, then
       Gauss-Newton over bone length, translation and, with ``config.refine_rotation``,
       the shape's rotation): ``M_i = t0 + s0 R w_rel_i``.
    2. Depth at each confident keypoint: median of the valid pixels in a
       ``config.depth_window_px`` window (:func:`sample_depth`), back-projected along
       the keypoint's ray and pushed ``config.depth_surface_offset_m`` further along it
       (joint centres lie under the skin): ``X_i``.
    3. Scaling the placed hand about the camera centre by ``k`` keeps every projection
       and changes only size and distance, so depth needs to fix one number: ``k`` starts
       as the weighted median of the depth ratios ``X_iz / M_iz`` and is refined by least
       squares of ``X_i = k M_i`` on the inliers, alternating with reclassification at an
       adaptive threshold (3 robust sigmas, clamped to ``[config.depth_inlier_floor_m,
       config.depth_inlier_threshold_m]``; occluded keypoints see the occluder's depth).
       A one-parameter fit stays well posed when the lifted shape is a few centimetres
       off, where a free fit of scale and translation drifts to implausible sizes.
    4. Checks: enough samples and inliers, inlier RMS <= ``config.depth_max_rms_m``,
       ``s = k s0`` within ``config.bone_length_range_m``, wrist in front of the camera.

    Args:
        w_rel: (21, 3) relative pose, unitless.
        uv: (21, 2) pixels.
        score: (21,) confidences.
        K: (3, 3) intrinsics of the colour image (the depth must be registered to it).
        depth_m: (H, W) float depth, metres (convert 16UC1 millimetres first);
            NaN / inf / 0 mean no data.
        hand_mask: optional (H, W) bool; depth outside it is ignored.
        config: :class:`MetricConfig` (default values when None).
    Returns:
        :class:`DepthFit` (the hand is ``t + s R w_rel``); when ``ok`` is False,
        ``reason`` says why and the caller should fall back to the hand-size prior.
    """
    config = config or MetricConfig()
    K = _check_K(K)
    w_rel = np.asarray(w_rel, dtype=np.float64)
    uv = np.asarray(uv, dtype=np.float64)
    weight = keypoint_weights(score, config.min_score, uv, w_rel)
    placement = _place_monocular(w_rel, uv, weight, K, config)
    return _fit_depth(w_rel, placement, uv, weight, K, depth_m, hand_mask, config)


# --------------------------------------------------------------------------- together


def _none_result(reason: str, source: ScaleSource = ScaleSource.NONE) -> MetricResult:
    return MetricResult(
        xyz_cam=np.full((NUM_KEYPOINTS, 3), np.nan),
        translation=np.full(3, np.nan),
        scale=float("nan"),
        scale_source=source,
        reprojection_error_px=float("nan"),
        reason=reason,
        num_keypoints_used=0,
    )


def lift_to_metric(w_rel, uv, score, K, config: MetricConfig | None = None, depth_m=None, hand_mask=None) -> MetricResult:
    """Metric 3D keypoints of one hand in the camera frame.

    Uses the depth image when given and consistent (:func:`solve_with_depth`; keypoints
    measured within ``config.depth_keypoint_gate_m`` of the fitted hand then move toward
    their measured positions by ``config.depth_keypoint_blend``), otherwise the
    hand-size prior (:func:`solve_translation` then :func:`refine_scale_translation`). Without intrinsics (``K`` None or invalid) there
    is no metric answer: ``scale_source`` NONE and NaN keypoints; with intrinsics but too
    few confident keypoints, TOO_FEW_KEYPOINTS; with no placement in front of the
    camera, NO_SOLUTION (NaN keypoints in both).

    Args:
        w_rel: (21, 3) relative pose, unitless, reference bone = 1, camera axes.
        uv: (21, 2) keypoints, pixels of the image ``K`` belongs to.
        score: (21,) confidences in [0, 1].
        K: (3, 3) intrinsics or None.
        config: :class:`MetricConfig` (defaults when None).
        depth_m: optional (H, W) float depth registered to the image, metres.
        hand_mask: optional (H, W) bool mask of the hand (restricts depth samples).
    Returns:
        :class:`MetricResult`; ``reason`` says why depth was rejected (the result
        then uses the prior) or why there is no solution.
    """
    config = config or MetricConfig()
    if not _valid_K(K):
        return _none_result("no valid camera intrinsics")
    K = np.asarray(K, dtype=np.float64)
    w_rel = np.asarray(w_rel, dtype=np.float64)
    uv = np.asarray(uv, dtype=np.float64)
    weight = keypoint_weights(score, config.min_score, uv, w_rel)
    used = weight > 0
    num_used = int(used.sum())
    root_ok = bool(np.all(np.isfinite(w_rel[ROOT])))
    placement = _place_monocular(w_rel, uv, weight, K, config) if num_used >= 2 and root_ok else None

    reason = ""
    if depth_m is not None:
        fit = _fit_depth(w_rel, placement, uv, weight, K, depth_m, hand_mask, config)
        if fit.ok:
            xyz = fit.translation + fit.scale * (w_rel @ fit.rotation.T)
            distance = np.linalg.norm(fit.xyz_measured - xyz, axis=1)  # NaN where unmeasured
            confirmed = np.isfinite(distance) & (distance <= config.depth_keypoint_gate_m)
            blend = config.depth_keypoint_blend * confirmed[:, None]
            xyz = np.where(blend > 0, (1.0 - blend) * xyz + blend * fit.xyz_measured, xyz)
            return MetricResult(
                xyz_cam=xyz,
                translation=fit.translation,
                scale=fit.scale,
                scale_source=ScaleSource.DEPTH,
                reprojection_error_px=reprojection_rms(xyz, uv, K, used),
                reason="",
                num_keypoints_used=fit.num_inliers,
            )
        reason = f"depth rejected: {fit.reason}; using the hand-size prior"

    prefix = f"{reason}; " if reason else ""
    if num_used < 2 or not root_ok:
        return _none_result(f"{prefix}too few usable keypoints ({num_used} < 2)", ScaleSource.TOO_FEW_KEYPOINTS)
    if placement is None:
        return _none_result(f"{prefix}no solution in front of the camera", ScaleSource.NO_SOLUTION)
    s, t, R = placement
    xyz = t + s * (w_rel @ R.T)
    return MetricResult(
        xyz_cam=xyz,
        translation=t,
        scale=float(s),
        scale_source=ScaleSource.HAND_SIZE_PRIOR,
        reprojection_error_px=reprojection_rms(xyz, uv, K, used),
        reason=reason,
        num_keypoints_used=num_used,
    )


def lift_to_metric_batch(w_rel, uv, score, K, config: MetricConfig | None = None, depth_m=None, hand_masks=None) -> list:
    """:func:`lift_to_metric` for N hands of one image.

    Args:
        w_rel: (N, 21, 3); uv: (N, 21, 2); score: (N, 21); K: (3, 3) or None.
        depth_m: optional (H, W) depth shared by all hands.
        hand_masks: optional sequence of N (H, W) bool masks (or None entries).
    Returns:
        list of N :class:`MetricResult`.
    """
    n = len(w_rel)
    masks = hand_masks if hand_masks is not None else [None] * n
    return [lift_to_metric(w_rel[h], uv[h], score[h], K, config, depth_m, masks[h]) for h in range(n)]
