"""Tests for hand3d_ros.core.mask: the torch and numpy paths against each other and
against masks whose components are known."""

import numpy as np
import pytest
import torch

from hand3d_ros.core import mask as M

BACKENDS = ["scipy", "cv2"]


def _backend(name):
    pytest.importorskip("scipy.ndimage" if name == "scipy" else "cv2")
    return name


def _canonical_labels(labels):
    """Relabel each component by the smallest flat index of its pixels (-1 background)."""
    flat = labels.reshape(-1)
    out = np.full(flat.shape, -1, dtype=np.int64)
    fg = np.flatnonzero(flat)
    order = np.argsort(flat[fg], kind="stable")
    lab = flat[fg][order]
    starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    first = np.minimum.reduceat(fg[order], starts)
    out[fg[order]] = np.repeat(first, np.diff(np.r_[starts, lab.size]))
    return out.reshape(labels.shape)


def _torch_canonical(fg, connectivity):
    labels = M.label_components_torch(torch.from_numpy(fg), connectivity).numpy()
    return np.where(fg, labels, -1)


def _spiral(size):
    """One pixel wide square spiral (a single component with a geodesic path of about
    size^2 / 2 pixels): the worst case for label propagation."""
    grid = np.zeros((size, size), dtype=bool)
    lengths = [size - 1] * 3 + [n for n in range(size - 3, 0, -2) for _ in range(2)]
    directions = [(0, 1), (1, 0), (0, -1), (-1, 0)]
    r, c = 0, 0
    grid[r, c] = True
    for i, length in enumerate(lengths):
        dr, dc = directions[i % 4]
        for _ in range(length):
            r, c = r + dr, c + dc
            grid[r, c] = True
    return grid


def _random_masks(rng, n, height, width):
    masks = []
    for density in np.linspace(0.3, 0.7, n):
        masks.append(rng.random((height, width)) < density)
    return np.stack(masks)


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("backend", BACKENDS)
def test_torch_labels_match_numpy_on_random_masks(connectivity, backend):
    rng = np.random.default_rng(1)
    fg = _random_masks(rng, 5, 37, 53)  # near the percolation threshold: many odd shapes
    expected = _canonical_labels(M.label_components_numpy(fg, connectivity, _backend(backend)))
    assert np.array_equal(_torch_canonical(fg, connectivity), expected)


@pytest.mark.parametrize("connectivity", [4, 8])
def test_long_geodesic_paths_converge(connectivity):
    spiral = _spiral(41)
    snake = np.zeros((21, 40), dtype=bool)
    snake[::2] = True
    snake[1::4, -1] = True
    snake[3::4, 0] = True
    for fg in (spiral[None], snake[None]):
        labels = _torch_canonical(fg, connectivity)
        assert len(np.unique(labels[fg])) == 1  # one component: a single label
        expected = _canonical_labels(M.label_components_numpy(fg, connectivity, _backend("scipy")))
        assert np.array_equal(labels, expected)


def test_connectivity_decides_diagonal_neighbours():
    prob = np.zeros((1, 6, 6), dtype=np.float32)
    prob[0, 1, 1] = 0.9
    prob[0, 2, 2] = 0.8  # touches (1, 1) only at a corner
    prob[0, 4, 4] = 0.7  # separate
    for connectivity, expected in ((8, {(1, 1), (2, 2)}), (4, {(1, 1)})):
        for result in (
            M.hand_mask_numpy(prob, 0.5, connectivity),
            M.hand_mask_torch(torch.from_numpy(prob), 0.5, connectivity).numpy(),
        ):
            assert set(zip(*np.nonzero(result[0]))) == expected


def _three_blobs():
    """prob (2, 40, 60): image 0 has blobs A (peak 0.9), B (0.95, 4 px), C (0.8);
    image 1 is empty (all below threshold)."""
    prob = np.full((2, 40, 60), 0.1, dtype=np.float32)
    prob[0, 5:15, 3:23] = 0.7
    prob[0, 9, 12] = 0.9  # A: rows 5..14, cols 3..22, 200 px
    prob[0, 30:32, 50:52] = 0.95  # B: 4 px, the global maximum
    prob[0, 20:36, 30:40] = 0.6
    prob[0, 25, 33] = 0.8  # C: rows 20..35, cols 30..39, 160 px
    return prob


def test_single_mask_is_the_component_of_the_maximum_and_empty_falls_back():
    prob = _three_blobs()
    for result in (M.hand_mask_numpy(prob), M.hand_mask_torch(torch.from_numpy(prob)).numpy()):
        assert result[0].sum() == 4 and result[0, 30:32, 50:52].all()
        assert not result[1].any()


@pytest.mark.parametrize("path", ["numpy", "torch"])
def test_hand_components_sorted_filtered_with_boxes(path):
    prob = _three_blobs()
    if path == "torch":
        out = M.hand_components_torch(torch.from_numpy(prob), 0.5, max_hands=3, min_area_px=10)
        out = M.HandComponents(
            *(getattr(out, f).numpy() for f in ("mask", "box", "peak", "peak_uv", "area", "valid"))
        )
    else:
        out = M.hand_components_numpy(prob, 0.5, max_hands=3, min_area_px=10)
    assert out.valid.tolist() == [[True, True, False], [False, False, False]]
    assert np.allclose(out.peak[0], [0.9, 0.8, 0.0])
    assert out.area[0].tolist() == [200, 160, 0]
    assert np.allclose(out.box[0, 0], [2.5, 4.5, 22.5, 14.5])
    assert np.allclose(out.box[0, 1], [29.5, 19.5, 39.5, 35.5])
    assert np.allclose(out.peak_uv[0, :2], [[12, 9], [33, 25]])
    assert out.mask[0, 0].sum() == 200 and out.mask[0, 0, 9, 12]
    assert not out.mask[0, 2].any() and not out.mask[1].any()
    assert np.all(out.box[1] == 0)


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("bridge_px", [0, 2])
def test_hand_components_torch_equals_numpy_on_smooth_random_fields(connectivity, bridge_px):
    rng = np.random.default_rng(7)
    noise = torch.from_numpy(rng.random((3, 1, 48, 64)).astype(np.float32))
    prob = torch.nn.functional.avg_pool2d(noise, 7, 1, 3, count_include_pad=False)[:, 0]
    prob = (prob - prob.amin(dim=(1, 2), keepdim=True)) / (
        prob.amax(dim=(1, 2), keepdim=True) - prob.amin(dim=(1, 2), keepdim=True)
    )
    a = M.hand_components_numpy(
        prob.numpy(), 0.55, 4, 5, connectivity, bridge_px, backend=_backend("scipy")
    )
    b = M.hand_components_torch(prob, 0.55, 4, 5, connectivity, bridge_px)
    assert a.valid.sum() >= 6  # the test sees several components
    for f in ("mask", "box", "peak", "peak_uv", "area", "valid"):
        assert np.array_equal(getattr(a, f), getattr(b, f).numpy()), f
    single = M.hand_mask_numpy(prob.numpy(), 0.55, connectivity, bridge_px)
    assert np.array_equal(single, M.hand_mask_torch(prob, 0.55, connectivity, bridge_px).numpy())
    assert np.array_equal(single, a.mask[:, 0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_numpy_backends_agree(backend):
    rng = np.random.default_rng(3)
    fg = _random_masks(rng, 4, 30, 30)
    for connectivity in (4, 8):
        labels = M.label_components_numpy(fg, connectivity, _backend(backend))
        assert labels.dtype == np.int32
        expected = _canonical_labels(M.label_components_numpy(fg, connectivity, _backend("scipy")))
        assert np.array_equal(_canonical_labels(labels), expected)
        # labels never cross images
        per_image = [set(np.unique(labels[i])) - {0} for i in range(fg.shape[0])]
        assert all(not (a & b) for i, a in enumerate(per_image) for b in per_image[i + 1 :])


@pytest.mark.parametrize("path", ["numpy", "torch"])
def test_bridge_joins_gaps_up_to_bridge_px(path):
    prob = np.zeros((1, 20, 30), dtype=np.float32)
    prob[0, 5:15, 2:10] = 0.9  # cols 2..9
    prob[0, 8:12, 13:20] = 0.8  # cols 13..19: a gap of 3 background columns
    fn = (
        M.hand_mask_numpy
        if path == "numpy"
        else lambda p, *a: M.hand_mask_torch(torch.from_numpy(p), *a).numpy()
    )
    assert fn(prob, 0.5, 8, 2).sum() == 80
    assert fn(prob, 0.5, 8, 3).sum() == 80 + 28
    assert fn(prob, 0.5, 8, 0).sum() == 80


def test_dispatch_keeps_type_and_matches():
    prob = torch.from_numpy(_three_blobs())
    for backend in ("auto", "torch", "scipy"):
        result = M.hand_mask(prob, backend=backend)
        assert isinstance(result, torch.Tensor) and result.dtype == torch.bool
        assert result[0].sum() == 4
    assert isinstance(M.hand_mask(prob.numpy()), np.ndarray)
    comps = M.hand_components(prob, max_hands=2)
    assert isinstance(comps.box, torch.Tensor) and comps.valid[0].all()
    with pytest.raises(ValueError):
        M.hand_mask(prob, backend="nope")


def test_mask_to_box_numpy_and_torch():
    mask = np.zeros((3, 10, 12), dtype=bool)
    mask[0, 2:5, 3:9] = True
    mask[1, 9, 11] = True
    for box, nonempty in (
        M.mask_to_box(mask),
        tuple(t.numpy() for t in M.mask_to_box(torch.from_numpy(mask))),
    ):
        assert nonempty.tolist() == [True, True, False]
        assert np.allclose(box, [[2.5, 1.5, 8.5, 4.5], [10.5, 8.5, 11.5, 9.5], [0, 0, 0, 0]])


def test_max_iterations_bound_and_config_validation():
    spiral = torch.from_numpy(_spiral(21))[None]
    full = M.label_components_torch(spiral)
    assert len(torch.unique(full[spiral])) == 1
    with pytest.raises(ValueError):
        M.MaskConfig(connectivity=6)
    with pytest.raises(ValueError):
        M.MaskConfig(threshold=1.0)
    with pytest.raises(ValueError):
        M.label_components_torch(spiral, connectivity=5)
