"""The numpy rasteriser against brute-force per-pixel tests and analytic depth."""
import numpy as np

from hand3d_ros.data.render.geometry import box_mesh, sphere_mesh
from hand3d_ros.data.render.raster import project, rasterize

K = np.array([[60.0, 0, 23.5], [0, 60.0, 19.5], [0, 0, 1]])
H, W = 40, 48


def _front(tri):
    """Order a triangle's vertices so that it faces the camera (CCW seen from -z)."""
    tri = np.asarray(tri, float)
    uv = project(tri, K)
    area = (uv[1, 0] - uv[0, 0]) * (uv[2, 1] - uv[0, 1]) - (uv[1, 1] - uv[0, 1]) * (uv[2, 0] - uv[0, 0])
    return tri if area < 0 else tri[[0, 2, 1]]


def _brute_force_cover(tri):
    uv = project(tri, K)
    ys, xs = np.mgrid[0:H, 0:W]
    p = np.stack([xs.ravel(), ys.ravel()], 1).astype(float)

    def edge(a, b):
        return (b[0] - a[0]) * (p[:, 1] - a[1]) - (b[1] - a[1]) * (p[:, 0] - a[0])

    e = np.stack([edge(uv[0], uv[1]), edge(uv[1], uv[2]), edge(uv[2], uv[0])], 1)
    return (np.all(e >= 0, 1) | np.all(e <= 0, 1)).reshape(H, W)


def test_coverage_matches_point_in_triangle_and_depth_is_perspective_correct():
    # a tilted triangle: plane z = 0.5 + 0.3 x
    tri = _front([[-0.15, -0.1, 0.5 - 0.045], [0.2, -0.05, 0.5 + 0.06], [0.0, 0.15, 0.5]])
    frag = rasterize(tri, np.array([[0, 1, 2]]), K, H, W)
    cover = np.zeros(H * W, bool)
    cover[frag.pixel] = True
    expected = _brute_force_cover(tri)
    # pixels exactly on an edge may go either way: allow a handful
    assert (cover.reshape(H, W) != expected).sum() <= 3
    assert cover.sum() > 100
    # depth: intersect each pixel ray with the plane n.x = d
    n = np.cross(tri[1] - tri[0], tri[2] - tri[0])
    d = n @ tri[0]
    rows, cols = np.divmod(frag.pixel, W)
    rays = np.stack([(cols - K[0, 2]) / K[0, 0], (rows - K[1, 2]) / K[1, 1], np.ones(cols.size)], 1)
    z_true = d / (rays @ n)
    np.testing.assert_allclose(frag.depth, z_true, rtol=1e-5)
    # perspective-correct barycentrics reproduce the 3D point
    points = frag.bary.astype(float) @ tri
    np.testing.assert_allclose(points, rays * z_true[:, None], atol=1e-5)


def test_nearest_surface_wins_in_any_order():
    near = _front([[-0.3, -0.3, 0.5], [0.3, -0.3, 0.5], [0.0, 0.3, 0.5]])
    far = _front([[-0.3, -0.2, 0.8], [0.3, -0.2, 0.8], [0.0, 0.4, 0.8]])
    for order in ([near, far], [far, near]):
        verts = np.concatenate(order)
        faces = np.array([[0, 1, 2], [3, 4, 5]])
        frag = rasterize(verts, faces, K, H, W)
        near_face = 0 if order[0] is near else 1
        both = _brute_force_cover(near) & _brute_force_cover(far)
        idx = np.flatnonzero(both.ravel())
        hit = np.searchsorted(frag.pixel, idx)
        assert (frag.face[hit] == near_face).mean() > 0.97
        assert np.allclose(frag.depth[hit][frag.face[hit] == near_face], 0.5, atol=1e-5)


def test_back_faces_are_culled_and_closed_meshes_render_the_same_either_way():
    tri = _front([[-0.2, -0.2, 0.5], [0.2, -0.2, 0.5], [0.0, 0.2, 0.5]])
    assert rasterize(tri, np.array([[0, 2, 1]]), K, H, W).pixel.size == 0
    assert rasterize(tri, np.array([[0, 2, 1]]), K, H, W, cull_backfaces=False).pixel.size > 0
    for mesh in (sphere_mesh(0.1, (1, 1, 1), 0), box_mesh((0.1, 0.15, 0.12), (1, 1, 1), 0)):
        verts = mesh.vertices @ np.array([[0.8, -0.6, 0], [0.6, 0.8, 0], [0, 0, 1.0]]).T + [0.02, 0.01, 0.6]
        culled = rasterize(verts, mesh.faces, K, H, W)
        full = rasterize(verts, mesh.faces, K, H, W, cull_backfaces=False)
        np.testing.assert_array_equal(culled.pixel, full.pixel)
        np.testing.assert_allclose(culled.depth, full.depth, atol=1e-6)


def test_triangles_behind_the_near_plane_and_off_screen_are_dropped():
    behind = np.array([[-0.1, -0.1, -0.5], [0.1, -0.1, -0.5], [0.0, 0.1, -0.5]])
    assert rasterize(behind, np.array([[0, 1, 2], [0, 2, 1]]), K, H, W).pixel.size == 0
    off = _front([[5.0, 5.0, 0.5], [5.2, 5.0, 0.5], [5.1, 5.2, 0.5]])
    assert rasterize(off, np.array([[0, 1, 2]]), K, H, W).pixel.size == 0


def test_shadow_map_darkens_what_lies_behind_a_caster():
    from hand3d_ros.data.render.shadows import shadow_visibility

    def quad(z, half):  # facing the camera
        v = np.array([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]])
        return v, np.array([[0, 2, 1], [0, 3, 2]])

    caster_v, caster_f = quad(0.45, 0.03)
    floor_v, floor_f = quad(0.55, 0.2)
    verts = np.concatenate([caster_v, floor_v])
    faces = np.concatenate([caster_f, floor_f + 4])
    light = np.array([0.0, 0.0, -1.0])  # from the camera side, straight down the z axis
    points = np.array([[0.0, 0.0, 0.55], [0.1, 0.1, 0.55], [0.0, 0.0, 0.45]])
    normals = np.tile([0.0, 0.0, -1.0], (3, 1))
    lit = shadow_visibility(verts, faces, np.array([0, 0, 0.5]), light, points, normals)
    assert lit[0] < 0.2  # on the floor behind the caster
    assert lit[1] > 0.9  # on the floor beside it
    assert lit[2] > 0.9  # the caster itself is lit (no self-shadowing)
