"""Simple meshes besides the hand: forearm with sleeve, occluders, clutter.

Every builder returns a :class:`Mesh` with faces counter-clockwise seen from outside
(the rasteriser culls back faces).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Mesh:
    """Triangle mesh: ``vertices (V, 3)`` metres, ``normals (V, 3)``, ``faces (F, 3)`` int,
    ``colors (V, 3)`` linear RGB albedo in [0, 1], ``face_part (F,)`` int part id."""

    vertices: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    face_part: np.ndarray

    def transformed(self, matrix: np.ndarray) -> "Mesh":
        """The mesh moved by a 4x4 transform (rotation may carry a uniform scale)."""
        m = np.asarray(matrix, dtype=np.float64)
        rot = m[:3, :3]
        normals = self.normals @ rot.T
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
        return Mesh(self.vertices @ rot.T + m[:3, 3], normals, self.faces, self.colors, self.face_part)


def concatenate(meshes) -> Mesh:
    """One mesh holding all of ``meshes`` (face indices offset accordingly)."""
    meshes = [m for m in meshes if m is not None and len(m.faces)]
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
    return Mesh(
        np.concatenate([m.vertices for m in meshes]),
        np.concatenate([m.normals for m in meshes]),
        np.concatenate([m.faces + o for m, o in zip(meshes, offsets)]).astype(np.int64),
        np.concatenate([m.colors for m in meshes]),
        np.concatenate([m.face_part for m in meshes]),
    )


def _tube(z, radius_x, radius_y, segments: int, cap_start: bool, cap_end: bool):
    """Elliptic tube along +Z: rings at ``z (R,)`` with semi-axes ``radius_x/y (R,)``."""
    angles = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    c, s = np.cos(angles), np.sin(angles)
    rings = len(z)
    verts = np.stack([
        radius_x[:, None] * c[None, :],
        radius_y[:, None] * s[None, :],
        np.repeat(z[:, None], segments, axis=1),
    ], axis=-1).reshape(-1, 3)
    nrm = np.stack([
        c[None, :] / radius_x[:, None],
        s[None, :] / radius_y[:, None],
        np.zeros((rings, segments)),
    ], axis=-1).reshape(-1, 3)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    i = np.arange(rings - 1)[:, None] * segments
    j = np.arange(segments)[None, :]
    a, b = i + j, i + (j + 1) % segments
    c_, d = a + segments, b + segments
    # Outward normals with z along the tube: (a, b, d) and (a, d, c) are CCW from outside.
    faces = np.concatenate([np.stack([a, b, d], -1).reshape(-1, 3),
                            np.stack([a, d, c_], -1).reshape(-1, 3)])
    verts, nrm, faces = [verts], [nrm], [faces]
    count = rings * segments
    for end, flag in ((0, cap_start), (rings - 1, cap_end)):
        if not flag:
            continue
        centre = count
        normal = np.array([0.0, 0.0, -1.0 if end == 0 else 1.0])
        ring = np.arange(segments) + end * segments
        verts.append(np.array([[0.0, 0.0, z[end]]]))
        nrm.append(normal[None])
        # Cap disc vertices share the ring positions but need the cap normal.
        verts.append(verts[0][ring])
        nrm.append(np.repeat(normal[None], segments, axis=0))
        rim = centre + 1 + np.arange(segments)
        nxt = centre + 1 + (np.arange(segments) + 1) % segments
        if end == 0:
            faces.append(np.stack([np.full(segments, centre), nxt, rim], -1))
        else:
            faces.append(np.stack([np.full(segments, centre), rim, nxt], -1))
        count += 1 + segments
    return np.concatenate(verts), np.concatenate(nrm), np.concatenate(faces).astype(np.int64)


@dataclass
class ForearmConfig:
    """Forearm and sleeve shape (wrist frame: +Z toward the elbow, X across the palm).

    Attributes:
        wrist_radius_m: semi-axes (across, thickness) at the wrist joint (metres),
            matching the WebXR mesh's wrist section so the seam hides inside it.
        elbow_radius_m: semi-axes at ``elbow_distance_m``.
        elbow_distance_m: wrist to elbow (metres).
        length_m: total length drawn (metres; long enough to leave the image).
        segments: vertices around the tube.
        sleeve_start_m: range of the wrist-to-sleeve distance (metres).
        sleeve_radius_factor: range of sleeve / arm radius.
        bare_arm_probability: probability of no sleeve at all (0 .. 1).
    """

    wrist_radius_m: tuple = (0.0245, 0.0172)
    elbow_radius_m: tuple = (0.034, 0.030)
    elbow_distance_m: float = 0.24
    length_m: float = 0.6
    segments: int = 16
    sleeve_start_m: tuple = (0.03, 0.2)
    sleeve_radius_factor: tuple = (1.08, 1.45)
    bare_arm_probability: float = 0.25


#: Part ids of non-hand surfaces (hand skin parts are the joint indices 0..24).
PART_FOREARM = 25
PART_SLEEVE = 26
PART_OCCLUDER = 27
PART_CLUTTER = 28
NUM_PARTS = 29


def forearm_mesh(rng: np.random.Generator, skin_rgb, sleeve_rgb,
                 config: ForearmConfig | None = None) -> Mesh:
    """Forearm (skin) and, usually, a sleeve over it, in the wrist frame (metres)."""
    config = config or ForearmConfig()
    rings_z = np.concatenate([np.linspace(0.0, config.elbow_distance_m, 9),
                              np.linspace(config.elbow_distance_m, config.length_m, 5)[1:]])

    def radii(z):
        """(rx, ry) of the arm at distances z from the wrist: wrist to elbow, then constant."""
        t = np.clip(z / config.elbow_distance_m, 0, 1)
        return tuple(w + t * (e - w) for w, e in zip(config.wrist_radius_m, config.elbow_radius_m))

    has_sleeve = rng.random() >= config.bare_arm_probability
    sleeve_at = rng.uniform(*config.sleeve_start_m) if has_sleeve else config.length_m
    arm_z = rings_z[rings_z <= sleeve_at + 0.02] if has_sleeve else rings_z
    if has_sleeve and arm_z[-1] < sleeve_at + 0.02:
        arm_z = np.append(arm_z, sleeve_at + 0.02)
    arm_rx, arm_ry = radii(arm_z)
    v, n, f = _tube(arm_z, arm_rx, arm_ry, config.segments, cap_start=False, cap_end=not has_sleeve)
    meshes = [Mesh(v, n, f, np.repeat(np.asarray(skin_rgb, np.float64)[None], len(v), 0),
                   np.full(len(f), PART_FOREARM))]
    if has_sleeve:
        factor = rng.uniform(*config.sleeve_radius_factor)
        sz = np.concatenate([[sleeve_at], rings_z[rings_z > sleeve_at + 0.01]])
        srx, sry = radii(sz)
        v, n, f = _tube(sz, factor * srx, factor * sry, config.segments, cap_start=True, cap_end=True)
        meshes.append(Mesh(v, n, f, np.repeat(np.asarray(sleeve_rgb, np.float64)[None], len(v), 0),
                           np.full(len(f), PART_SLEEVE)))
    return concatenate(meshes)


def disc_mesh(centre, normal, radius_u: float, radius_v: float, segments: int, rgb, part: int,
              rotation: float = 0.0, jitter: float = 0.0, rng=None) -> Mesh:
    """A flat (possibly irregular) polygon facing along ``normal`` (one-sided)."""
    normal = np.asarray(normal, np.float64)
    normal = normal / np.linalg.norm(normal)
    helper = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    eu = np.cross(helper, normal)
    eu /= np.linalg.norm(eu)
    ev = np.cross(normal, eu)
    ang = rotation + np.linspace(0, 2 * np.pi, segments, endpoint=False)
    r = np.ones(segments)
    if jitter and rng is not None:
        r = 1.0 + rng.uniform(-jitter, jitter, segments)
    rim = (np.asarray(centre, np.float64)[None]
           + (radius_u * r * np.cos(ang))[:, None] * eu[None]
           + (radius_v * r * np.sin(ang))[:, None] * ev[None])
    verts = np.concatenate([np.asarray(centre, np.float64)[None], rim])
    k = np.arange(segments)
    faces = np.stack([np.zeros(segments, np.int64), 1 + k, 1 + (k + 1) % segments], -1)
    # orient the fan so it faces along ``normal``
    fn = np.cross(verts[faces[0, 1]] - verts[0], verts[faces[0, 2]] - verts[0])
    if fn @ normal < 0:
        faces = faces[:, [0, 2, 1]]
    return Mesh(verts, np.repeat(normal[None], len(verts), 0), faces,
                np.repeat(np.asarray(rgb, np.float64)[None], len(verts), 0), np.full(segments, part))


def box_mesh(size, rgb, part: int) -> Mesh:
    """An axis-aligned box centred at the origin, ``size (3,)`` metres, flat normals."""
    half = np.asarray(size, np.float64) / 2
    verts, normals, faces = [], [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            n = np.zeros(3)
            n[axis] = sign
            u, v = (axis + 1) % 3, (axis + 2) % 3
            corners = []
            for cu, cv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                p = np.zeros(3)
                p[axis] = sign * half[axis]
                p[u] = cu * half[u]
                p[v] = cv * half[v]
                corners.append(p)
            base = len(verts)
            verts.extend(corners)
            normals.extend([n] * 4)
            quad = [[base, base + 1, base + 2], [base, base + 2, base + 3]]
            if sign < 0:
                quad = [q[::-1] for q in quad]
            faces.extend(quad)
    verts = np.array(verts)
    return Mesh(verts, np.array(normals), np.array(faces, np.int64),
                np.repeat(np.asarray(rgb, np.float64)[None], len(verts), 0), np.full(len(faces), part))


def sphere_mesh(radius: float, rgb, part: int, rings: int = 8, segments: int = 14) -> Mesh:
    """A UV sphere at the origin (metres)."""
    theta = np.linspace(0, np.pi, rings + 1)[1:-1]
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    st, ct = np.sin(theta)[:, None], np.cos(theta)[:, None]
    ring_pts = np.stack([st * np.cos(phi)[None], st * np.sin(phi)[None], np.repeat(ct, segments, 1)], -1)
    unit = np.concatenate([[[0, 0, 1.0]], ring_pts.reshape(-1, 3), [[0, 0, -1.0]]])
    faces = []
    j = np.arange(segments)
    top, bottom = 0, len(unit) - 1
    faces.append(np.stack([np.full(segments, top), 1 + j, 1 + (j + 1) % segments], -1))
    for r in range(rings - 2):
        a = 1 + r * segments + j
        b = 1 + r * segments + (j + 1) % segments
        faces.append(np.stack([a, a + segments, b + segments], -1))
        faces.append(np.stack([a, b + segments, b], -1))
    last = 1 + (rings - 2) * segments
    faces.append(np.stack([np.full(segments, bottom), last + (j + 1) % segments, last + j], -1))
    faces = np.concatenate(faces).astype(np.int64)
    # make every face counter-clockwise seen from outside
    v = unit[faces]
    outward = np.einsum("fi,fi->f", np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), v.mean(1)) > 0
    faces[~outward] = faces[~outward][:, [0, 2, 1]]
    return Mesh(unit * radius, unit.copy(), faces,
                np.repeat(np.asarray(rgb, np.float64)[None], len(unit), 0), np.full(len(faces), part))
