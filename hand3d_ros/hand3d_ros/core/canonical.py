"""Normalised and canonical hand coordinates, and rotation conversions (torch, batch).

Frames and names (DESIGN.md section 3):

- ``xyz``: 3D keypoints ``(N, 21, 3)`` in any frame and unit (e.g. camera, metres).
- ``w_rel``: relative, normalised: ``(xyz - xyz[ROOT]) / s``, ``s`` the length of
  ``REFERENCE_BONE`` (middle-finger MCP -> PIP) in ``xyz``'s unit; unitless.
- ``w_c``: canonical: ``w_rel`` rotated so that the middle-finger MCP lies on the
  negative y axis and the little-finger MCP in the x-y plane with x > 0; for right
  hands z is then negated, so left and right hands share one canonical shape space.
- ``R``: ``(N, 3, 3)`` viewpoint rotation, with row vectors as the authors::

      w_rel = flip(w_c) @ R            w_c = flip(w_rel @ R^T)

  where ``flip`` negates z for right hands (``hand_side`` 1) and is the identity for
  left hands (0). In column-vector terms ``R`` rotates ``w_rel`` into the canonical
  frame: ``R = R_y @ R_x @ R_z`` (first about z, then x, then y).

All functions accept numpy arrays (converted with ``torch.as_tensor``) and return tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Tuple

import torch

from hand3d_ros.core.keypoints import LITTLE_MCP, MIDDLE_MCP, REFERENCE_BONE, ROOT

LEFT, RIGHT = 0, 1


@dataclass(frozen=True)
class CanonicalConfig:
    """Numerical guards."""

    min_bone_length: float = field(
        default=1e-12,
        metadata={"help": "normalize_pose divides by max(bone length, this) (xyz unit); > 0"},
    )
    rodrigues_eps: float = field(
        default=1e-8,
        metadata={
            "help": "axis_angle_to_matrix uses |aa| = sqrt(|aa|^2 + eps) as the authors; >= 0"
        },
    )


def _float(x) -> torch.Tensor:
    x = torch.as_tensor(x)
    return x if x.is_floating_point() else x.to(torch.float32)


def normalize_pose(
    xyz, min_bone_length: float = CanonicalConfig.min_bone_length
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Root-relative, scale-normalised keypoints.

    Args:
        xyz: ``(N, 21, 3)`` keypoints (public order), any frame and unit.
        min_bone_length: guard against a zero-length reference bone.

    Returns:
        ``(w_rel (N, 21, 3), s (N,))``: ``w_rel = (xyz - xyz[:, ROOT]) / s`` with ``s`` the
        length of ``REFERENCE_BONE`` in ``xyz``'s unit (``xyz = w_rel * s + root``).
    """
    xyz = _float(xyz)
    a, b = REFERENCE_BONE
    s = torch.linalg.vector_norm(xyz[:, b] - xyz[:, a], dim=-1)
    w_rel = (xyz - xyz[:, ROOT : ROOT + 1]) / s.clamp(min=min_bone_length)[:, None, None]
    return w_rel, s


def flip_hand_side(w):
    """Negate z: ``(..., 3)`` -> ``(..., 3)`` (mirror a left hand into a right one and back).
    numpy in, numpy out; tensor in, tensor out."""
    if isinstance(w, torch.Tensor):
        return w * torch.tensor([1.0, 1.0, -1.0], dtype=w.dtype, device=w.device)
    import numpy as np

    return np.asarray(w) * np.array([1.0, 1.0, -1.0])


def _flip_right(w: torch.Tensor, hand_side) -> torch.Tensor:
    """Negate z of ``(N, K, 3)`` where ``hand_side`` ``(N,)`` is RIGHT."""
    side = torch.as_tensor(hand_side, device=w.device)
    sign_z = torch.where(side == RIGHT, -1.0, 1.0).to(w.dtype)
    ones = torch.ones_like(sign_z)
    return w * torch.stack((ones, ones, sign_z), dim=-1)[:, None, :]


def _rotation(axis: int, angle: torch.Tensor) -> torch.Tensor:
    """``(N, 3, 3)`` rotation by ``angle`` ``(N,)`` radians about coordinate ``axis``
    (column vectors, right-handed)."""
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(c), torch.zeros_like(c)
    if axis == 0:
        rows = ((one, zero, zero), (zero, c, -s), (zero, s, c))
    elif axis == 1:
        rows = ((c, zero, s), (zero, one, zero), (-s, zero, c))
    else:
        rows = ((c, -s, zero), (s, c, zero), (zero, zero, one))
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)


def canonical_transform(w_rel, hand_side) -> Tuple[torch.Tensor, torch.Tensor]:
    """Canonical coordinates and viewpoint rotation (DESIGN.md section 3).

    Rotate about z so that the middle MCP's (x, y) points along -y, then about x so that
    it lies on the negative y axis, then about y so that the little MCP has z = 0 and
    x > 0. Right hands then have z negated.

    Args:
        w_rel: ``(N, 21, 3)`` root-relative keypoints (root at the origin).
        hand_side: ``(N,)`` 0 left, 1 right.

    Returns:
        ``(w_c (N, 21, 3), R (N, 3, 3))`` with ``w_rel = flip(w_c) @ R`` (module docstring);
        ``R`` is orthonormal with determinant +1.
    """
    w_rel = _float(w_rel)
    m = w_rel[:, MIDDLE_MCP]
    alpha = -math.pi / 2 - torch.atan2(m[:, 1], m[:, 0])
    r_z = _rotation(2, alpha)
    m1 = (r_z @ m[..., None])[..., 0]  # (0, -r, z)
    beta = math.pi - torch.atan2(m1[:, 2], m1[:, 1])
    r_xz = _rotation(0, beta) @ r_z
    little = (r_xz @ w_rel[:, LITTLE_MCP, :, None])[..., 0]
    gamma = math.pi / 2 - torch.atan2(little[:, 0], little[:, 2])
    rot = _rotation(1, gamma) @ r_xz
    w_c = _flip_right(w_rel @ rot.transpose(-1, -2), hand_side)
    return w_c, rot


def from_canonical(w_c, rot, hand_side) -> torch.Tensor:
    """Undo :func:`canonical_transform`: ``w_rel = flip(w_c) @ R``.

    Args:
        w_c: ``(N, 21, 3)`` canonical coordinates.
        rot: ``(N, 3, 3)`` viewpoint rotation ``R``.
        hand_side: ``(N,)`` 0 left, 1 right.

    Returns:
        ``(N, 21, 3)`` ``w_rel``.
    """
    w_c = _float(w_c)
    return _flip_right(w_c, hand_side) @ torch.as_tensor(rot, dtype=w_c.dtype, device=w_c.device)


def axis_angle_to_matrix(aa, eps: float = CanonicalConfig.rodrigues_eps) -> torch.Tensor:
    """Rodrigues' formula.

    Args:
        aa: ``(N, 3)`` axis-angle, radians (direction = axis, norm = angle).
        eps: the angle is ``sqrt(|aa|^2 + eps)`` (as the authors), so ``aa = 0`` gives the
            identity and gradients stay finite.

    Returns:
        ``(N, 3, 3)`` rotation matrices: ``M @ v`` rotates column vector ``v`` right-handedly
        by the angle about the axis. The PosePrior's ``R`` is such a matrix, used as
        ``w_rel = flip(w_c) @ R``; :func:`matrix_to_axis_angle` is its inverse.
    """
    aa = _float(aa)
    theta = torch.sqrt((aa * aa).sum(dim=-1) + eps)
    axis = aa / theta[:, None]
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack(
        (
            torch.stack((zero, -z, y), -1),
            torch.stack((z, zero, -x), -1),
            torch.stack((-y, x, zero), -1),
        ),
        dim=-2,
    )
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(k)
    s, c = torch.sin(theta)[:, None, None], torch.cos(theta)[:, None, None]
    return eye + s * k + (1 - c) * (k @ k)


def matrix_to_axis_angle(rot) -> torch.Tensor:
    """Inverse of :func:`axis_angle_to_matrix` (angle in [0, pi]).

    Goes through a unit quaternion taken from the largest of its four components
    (Shepperd's method), which is accurate at every angle, including near 0 (no
    division by sin) and near pi (where the axis sign is inherently ambiguous).

    Args:
        rot: ``(N, 3, 3)`` rotation matrices.

    Returns:
        ``(N, 3)`` axis-angle, radians.
    """
    r = _float(rot)
    r00, r11, r22 = r[:, 0, 0], r[:, 1, 1], r[:, 2, 2]
    # 4 q_i^2 for (w, x, y, z).
    sq = torch.stack(
        (1 + r00 + r11 + r22, 1 + r00 - r11 - r22, 1 - r00 + r11 - r22, 1 - r00 - r11 + r22), dim=-1
    ).clamp(min=0)
    a = r[:, 2, 1] - r[:, 1, 2]  # 4 w x
    b = r[:, 0, 2] - r[:, 2, 0]  # 4 w y
    c = r[:, 1, 0] - r[:, 0, 1]  # 4 w z
    d = r[:, 0, 1] + r[:, 1, 0]  # 4 x y
    e = r[:, 0, 2] + r[:, 2, 0]  # 4 x z
    f = r[:, 1, 2] + r[:, 2, 1]  # 4 y z
    # Candidate quaternions (times 4 q_i for the chosen component i).
    cand = torch.stack(
        (
            torch.stack((sq[:, 0], a, b, c), -1),
            torch.stack((a, sq[:, 1], d, e), -1),
            torch.stack((b, d, sq[:, 2], f), -1),
            torch.stack((c, e, f, sq[:, 3]), -1),
        ),
        dim=1,
    )  # (N, 4 candidates, 4)
    best = sq.argmax(dim=-1)
    q = cand[torch.arange(r.shape[0], device=r.device), best]
    q = q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)
    q = torch.where(q[:, :1] < 0, -q, q)  # w >= 0: angle in [0, pi]
    w, v = q[:, 0], q[:, 1:]
    sin_half = torch.linalg.vector_norm(v, dim=-1)
    angle = 2 * torch.atan2(sin_half, w)
    # angle / sin_half -> 2 / w as sin_half -> 0 (w -> 1 there).
    small = sin_half < 1e-6
    factor = torch.where(
        small, 2 / w.clamp(min=0.5), angle / torch.where(small, torch.ones_like(sin_half), sin_half)
    )
    return v * factor[:, None]
