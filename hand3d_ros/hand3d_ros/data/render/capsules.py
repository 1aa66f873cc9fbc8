"""The hand as capsules around its bones: self-intersection test and ambient occlusion.

Bones are the segments joint -> child joint of the imposed finger chains (metacarpals
included), each with a radius. Both uses are approximations chosen for speed (a few
thousand point/segment pairs).
"""
from __future__ import annotations

import numpy as np

from .skeleton import FINGER_JOINTS, JOINT_PARENT, NUM_JOINTS

#: Bones as (joint, child joint) pairs, in JOINT_NAMES index space.
BONE_JOINTS = np.array([(int(JOINT_PARENT[c]), c) for c in range(NUM_JOINTS) if JOINT_PARENT[c] >= 0
                        and int(JOINT_PARENT[c]) != 0], dtype=np.int64)
#: Finger index (0 thumb .. 4 little) of each bone.
BONE_FINGER = np.array([next(f for f, js in enumerate(FINGER_JOINTS.values()) if b in js)
                        for b, _ in BONE_JOINTS], dtype=np.int64)
#: Which bones are phalanges (not metacarpals): the parts that can collide.
BONE_IS_PHALANX = np.array([list(FINGER_JOINTS.values())[f].index(b) > (0 if f else -1)
                            for (b, _), f in zip(BONE_JOINTS, BONE_FINGER)])


def _closest_on_segments(points, a, b):
    """Closest points ``(P, S, 3)`` on segments ``a -> b`` ``(S, 3)`` to ``points (P, 3)``."""
    ab = b - a
    t = np.einsum("psk,sk->ps", points[:, None, :] - a[None], ab) / np.maximum((ab * ab).sum(1), 1e-12)[None]
    return a[None] + np.clip(t, 0, 1)[..., None] * ab[None]


def segment_distance(p1, q1, p2, q2) -> np.ndarray:
    """Shortest distances ``(N,)`` between segments ``p1->q1`` and ``p2->q2`` (each ``(N, 3)``)."""
    d1, d2, r = q1 - p1, q2 - p2, p1 - p2
    a = (d1 * d1).sum(1)
    e = (d2 * d2).sum(1)
    f = (d2 * r).sum(1)
    c = (d1 * r).sum(1)
    b = (d1 * d2).sum(1)
    denom = a * e - b * b
    s = np.where(denom > 1e-12, np.clip((b * f - c * e) / np.maximum(denom, 1e-12), 0, 1), 0.0)
    t = (b * s + f) / np.maximum(e, 1e-12)
    # clamp t and recompute s where t left [0, 1]
    t_c = np.clip(t, 0, 1)
    s = np.where(t != t_c, np.clip((b * t_c - c) / np.maximum(a, 1e-12), 0, 1), s)
    c1 = p1 + s[:, None] * d1
    c2 = p2 + t_c[:, None] * d2
    return np.linalg.norm(c1 - c2, axis=1)


def _pairs():
    """Bone pairs of different fingers, phalanges only (neighbouring fingers touch
    only at the skin, so their axes must stay apart)."""
    idx = np.flatnonzero(BONE_IS_PHALANX)
    i, j = np.triu_indices(idx.size, 1)
    keep = BONE_FINGER[idx[i]] != BONE_FINGER[idx[j]]
    return idx[i[keep]], idx[j[keep]]


_PAIR_I, _PAIR_J = _pairs()


def colliding_fingers(joints: np.ndarray, min_axis_gap_m: float = 0.010) -> set:
    """Pairs ``(f1, f2)`` of finger indices (0 thumb .. 4 little) whose phalanges come
    closer than ``min_axis_gap_m`` (bone axis to bone axis, metres)."""
    a = joints[BONE_JOINTS[:, 0]]
    b = joints[BONE_JOINTS[:, 1]]
    d = segment_distance(a[_PAIR_I], b[_PAIR_I], a[_PAIR_J], b[_PAIR_J])
    hit = d < min_axis_gap_m
    return {(int(f1), int(f2)) for f1, f2 in zip(BONE_FINGER[_PAIR_I[hit]], BONE_FINGER[_PAIR_J[hit]])}


def self_intersecting(joints: np.ndarray, min_axis_gap_m: float = 0.010) -> bool:
    """True if two phalanges of different fingers come closer than ``min_axis_gap_m``
    (bone axis to bone axis, metres; fingers are 14-20 mm thick, a pinch keeps the
    thumb and index tip joints about 12 mm apart).

    Args:
        joints: ``(25, 3)`` joint positions (metres, any frame, unscaled hand).
    """
    a = joints[BONE_JOINTS[:, 0]]
    b = joints[BONE_JOINTS[:, 1]]
    d = segment_distance(a[_PAIR_I], b[_PAIR_I], a[_PAIR_J], b[_PAIR_J])
    return bool((d < min_axis_gap_m).any())


def capsule_occlusion(vertices: np.ndarray, normals: np.ndarray, vertex_part: np.ndarray,
                      joints: np.ndarray, radius_m: float = 0.009, strength: float = 1.0,
                      floor: float = 0.35) -> np.ndarray:
    """Approximate ambient occlusion ``(V,)`` in [floor, 1] of the skin by the bones.

    Each bone (a capsule of ``radius_m``) that the vertex does not belong to (its own
    bone, the one before and the one after are skipped) occludes in proportion to
    the solid angle it covers above the vertex's tangent plane, ``(r / d)^2 cos``.

    Args:
        vertices, normals: ``(V, 3)`` posed skin (metres, any frame).
        vertex_part: ``(V,)`` joint each vertex is weighted most to.
        joints: ``(25, 3)`` posed joint positions in the same frame.
        radius_m: bone capsule radius (metres, scaled with the hand).
        strength: multiplier of the occlusion (0 = none).
        floor: the darkest value.
    """
    f32 = np.float32
    vertices, normals, joints = (np.asarray(x, f32) for x in (vertices, normals, joints))
    radius_m = f32(radius_m)
    a = joints[BONE_JOINTS[:, 0]]
    b = joints[BONE_JOINTS[:, 1]]
    closest = _closest_on_segments(vertices, a, b)  # (V, B, 3)
    d = closest - vertices[:, None, :]
    dist = np.maximum(np.linalg.norm(d, axis=2), radius_m)
    cos = np.einsum("vbk,vk->vb", d, normals) / dist
    occ = np.maximum(cos, 0) * (radius_m / dist) ** 2
    bone_joint = BONE_JOINTS[:, 0]
    part = vertex_part[:, None]
    mine = (bone_joint[None] == part) | (bone_joint[None] == JOINT_PARENT[np.maximum(part, 0)]) \
        | (JOINT_PARENT[bone_joint][None] == part)
    occ[mine] = 0
    return np.clip(1 - f32(strength) * occ.sum(axis=1), f32(floor), f32(1.0))
