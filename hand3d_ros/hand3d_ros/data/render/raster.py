"""A vectorised numpy z-buffer triangle rasteriser.

Camera frame = optical frame: x right, y down, z forward (metres). Pixel ``(row, col)``
has its centre at ``u = col, v = row`` (OpenCV convention), so a point projects to
``u = fx x / z + cx``, ``v = fy y / z + cy``.

Every triangle is cut into pixel rows and each row into the pixel centres inside it;
the nearest fragment per pixel is found with
one ``np.minimum.at`` on a packed (1/z, fragment) integer key. Barycentrics handed
back are perspective-correct. Triangles with a vertex closer than ``near`` are dropped
(no clipping).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Bits of the packed z-buffer key that hold the fragment index (max 4M fragments).
_INDEX_BITS = 22
#: Fixed-point scale of 1/z (1/metres) in the z-test key, and the largest value kept
#: (1/z up to 64 per metre, i.e. z >= 1.6 cm; the near plane must be farther).
_INV_Z_SCALE = float(1 << 24)
_INV_Z_MAX_Q = 1 << 30


@dataclass
class Fragments:
    """The visible surface at every covered pixel.

    Attributes:
        height, width: image size (pixels).
        pixel: ``(M,)`` int64 flat pixel index ``row * width + col`` of each covered pixel.
        face: ``(M,)`` int64 index of the nearest triangle there.
        bary: ``(M, 3)`` float32 perspective-correct barycentric weights of its vertices.
        depth: ``(M,)`` float32 camera-frame z (metres).
    """

    height: int
    width: int
    pixel: np.ndarray
    face: np.ndarray
    bary: np.ndarray
    depth: np.ndarray

    def dense(self, values, fill=0, dtype=None) -> np.ndarray:
        """Scatter per-fragment ``values`` ``(M,)`` or ``(M, C)`` into an image
        ``(H, W)`` or ``(H, W, C)`` filled with ``fill`` elsewhere."""
        values = np.asarray(values)
        dtype = dtype or values.dtype
        shape = (self.height * self.width,) + values.shape[1:]
        out = np.full(shape, fill, dtype=dtype)
        out[self.pixel] = values
        return out.reshape((self.height, self.width) + values.shape[1:])

    def interpolate(self, vertex_values: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """Per-fragment interpolation ``(M, C)`` of per-vertex values ``(V, C)``."""
        corner = vertex_values[faces[self.face]]  # (M, 3, C)
        return np.einsum("mk,mkc->mc", self.bary, corner)


def project(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixel coordinates ``(N, 2)`` of camera-frame points ``(N, 3)`` (metres)."""
    z = points_cam[:, 2:3]
    uvw = points_cam @ np.asarray(K, dtype=np.float64).T
    return uvw[:, :2] / z


def rasterize(vertices_cam: np.ndarray, faces: np.ndarray, K: np.ndarray, height: int, width: int,
              near: float = 0.02, cull_backfaces: bool = True) -> Fragments:
    """Rasterise a triangle mesh seen by a pinhole camera.

    Each triangle is cut into pixel rows; on each row the exact span of pixel centres
    inside all three edges is computed, so only covered pixels become fragments. Along
    a span, 1/z is linear in x (perspective), which the z-test uses directly.

    Args:
        vertices_cam: ``(V, 3)`` vertex positions in the camera frame (metres).
        faces: ``(F, 3)`` vertex indices, counter-clockwise seen from the front.
        K: ``(3, 3)`` intrinsics (pixels; no skew).
        height, width: image size (pixels).
        near: triangles with a vertex at ``z < near`` (metres) are dropped.
        cull_backfaces: skip triangles seen from behind (correct for closed meshes).

    Returns:
        :class:`Fragments` of the nearest surface per covered pixel.
    """
    vertices_cam = np.asarray(vertices_cam, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    empty = Fragments(height, width, np.zeros(0, np.int64), np.zeros(0, np.int64),
                      np.zeros((0, 3), np.float32), np.zeros(0, np.float32))
    z = vertices_cam[:, 2]
    safe_z = np.where(z > near, z, 1.0)
    uv = project(np.c_[vertices_cam[:, :2], safe_z], K)
    tri_uv = uv[faces]  # (F, 3, 2)
    tri_z = z[faces]
    x0, x1, x2 = tri_uv[:, 0, 0], tri_uv[:, 1, 0], tri_uv[:, 2, 0]
    y0, y1, y2 = tri_uv[:, 0, 1], tri_uv[:, 1, 1], tri_uv[:, 2, 1]
    # Twice the signed area in pixel coordinates (y down): negative = front-facing.
    area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
    keep = np.all(tri_z > near, axis=1) & (np.abs(area) > 1e-12)
    if cull_backfaces:
        keep &= area < 0
    ymin = np.maximum(np.ceil(tri_uv[:, :, 1].min(axis=1)), 0)
    ymax = np.minimum(np.floor(tri_uv[:, :, 1].max(axis=1)), height - 1)
    xmin = np.maximum(np.ceil(tri_uv[:, :, 0].min(axis=1)), 0)
    xmax = np.minimum(np.floor(tri_uv[:, :, 0].max(axis=1)), width - 1)
    keep &= (ymax >= ymin) & (xmax >= xmin)
    tri = np.flatnonzero(keep)
    if tri.size == 0:
        return empty
    x0, x1, x2, y0, y1, y2 = (a[tri] for a in (x0, x1, x2, y0, y1, y2))
    # Barycentric edge functions l_i(x, y) = a_i x + b_i y + c_i (l2 = 1 - l0 - l1).
    det = (y1 - y2) * (x0 - x2) + (x2 - x1) * (y0 - y2)
    a = np.stack([(y1 - y2) / det, (y2 - y0) / det], 1)
    b = np.stack([(x2 - x1) / det, (x0 - x2) / det], 1)
    c = -(a * x2[:, None] + b * y2[:, None])
    a = np.c_[a, -a.sum(1)]
    b = np.c_[b, -b.sum(1)]
    c = np.c_[c, 1.0 - c.sum(1)]
    inv_z = 1.0 / tri_z[tri]  # (T, 3), linear in screen space
    # Rows of every triangle.
    nrows = (ymax[tri] - ymin[tri] + 1).astype(np.int64)
    row_tri = np.repeat(np.arange(tri.size), nrows)
    row_y = ymin[tri][row_tri] + (np.arange(row_tri.size) - np.repeat(np.cumsum(nrows) - nrows, nrows))
    # Span of x with a_i x + (b_i y + c_i) >= 0 for all three edges.
    ra = np.take(a, row_tri, axis=0)
    rk = np.take(b, row_tri, axis=0) * row_y[:, None] + np.take(c, row_tri, axis=0)
    eps = 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = -(rk + eps) / ra
    lo = np.where(ra > 0, bound, -np.inf).max(axis=1)
    hi = np.where(ra < 0, bound, np.inf).min(axis=1)
    flat_ok = np.all((ra != 0) | (rk >= -eps), axis=1)  # an edge parallel to the row
    lo = np.maximum(np.ceil(np.maximum(lo, xmin[tri][row_tri])), 0)
    hi = np.minimum(np.floor(np.minimum(hi, xmax[tri][row_tri])), width - 1)
    span = np.where(flat_ok & (hi >= lo), hi - lo + 1, 0).astype(np.int64)
    rows = np.flatnonzero(span)
    if rows.size == 0:
        return empty
    span, lo, row_tri, row_y = span[rows], lo[rows], row_tri[rows], row_y[rows]
    ra, rk = np.take(ra, rows, axis=0), np.take(rk, rows, axis=0)
    # Barycentrics and 1/z along each row: start values and slopes in x.
    t_inv_z = np.take(inv_z, row_tri, axis=0)
    lam_start = ra * lo[:, None] + rk
    row_inv_z = (lam_start * t_inv_z).sum(axis=1)
    row_slope = (ra * t_inv_z).sum(axis=1)
    # Fragments: every pixel centre of every span, in a buffer cropped to the spans.
    total = int(span.sum())
    if total >= (1 << _INDEX_BITS):
        raise ValueError(f"too many fragments for one rasterisation ({total})")
    y_lo, y_hi = int(row_y.min()), int(row_y.max())
    x_lo, x_hi = int(lo.min()), int((lo + span - 1).max())
    crop_w = x_hi - x_lo + 1
    frag_row = np.repeat(np.arange(rows.size, dtype=np.int64), span)
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(span) - span, span)
    frag_inv_z = row_inv_z[frag_row] + row_slope[frag_row] * offset
    row_pixel = ((row_y - y_lo) * crop_w + (lo - x_lo)).astype(np.int64)
    pixel = row_pixel[frag_row] + offset
    key = ((_INV_Z_MAX_Q - (frag_inv_z * _INV_Z_SCALE).astype(np.int64)) << _INDEX_BITS) \
        | np.arange(total, dtype=np.int64)
    zbuf = np.full((y_hi - y_lo + 1) * crop_w, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(zbuf, pixel, key)
    covered = np.flatnonzero(zbuf != np.iinfo(np.int64).max)
    win = zbuf[covered] & ((1 << _INDEX_BITS) - 1)
    cy, cx = np.divmod(covered, crop_w)
    covered = (cy + y_lo) * width + (cx + x_lo)
    wr = frag_row[win]
    wt = row_tri[wr]
    lam = (np.take(lam_start.astype(np.float32), wr, axis=0)
           + np.take(ra.astype(np.float32), wr, axis=0) * offset[win].astype(np.float32)[:, None])
    np.maximum(lam, 0.0, out=lam)
    lam *= np.take(t_inv_z.astype(np.float32), wr, axis=0)
    bary = lam / lam.sum(axis=1, keepdims=True)
    depth = (1.0 / frag_inv_z[win]).astype(np.float32)
    return Fragments(height, width, covered, tri[wt], bary, depth)
