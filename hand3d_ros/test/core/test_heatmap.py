"""Tests for hand3d_ros.core.heatmap.GaussianHeatmap."""

import numpy as np
import pytest
import torch

from hand3d_ros.core.heatmap import GaussianHeatmap, HeatmapConfig


def test_pixel_centre_rule():
    codec = GaussianHeatmap(256, 32)
    assert codec.stride == (8, 8)
    # map pixel i covers input [8i, 8i + 8): its centre is 8i + 3.5
    assert np.allclose(
        codec.map_to_input(np.array([[0.0, 0.0], [31.0, 1.0]])), [[3.5, 3.5], [251.5, 11.5]]
    )
    uv = np.random.default_rng(0).uniform(0, 256, (5, 2))
    assert np.allclose(codec.map_to_input(codec.input_to_map(uv)), uv)
    rect = GaussianHeatmap((256, 128), (32, 32))
    assert rect.stride == (8, 4)
    assert np.allclose(rect.map_to_input(np.array([1.0, 1.0])), [11.5, 5.5])


def test_encode_peak_invisible_and_shape():
    codec = GaussianHeatmap(256, 32, sigma=16.0)
    uv = torch.tensor([[[5 * 8 + 3.5, 7 * 8 + 3.5], [100.0, 100.0], [10.0, 20.0]]])
    visible = torch.tensor([[True, True, False]])
    maps = codec.encode(uv, visible)
    assert maps.shape == (1, 3, 32, 32) and maps.dtype == torch.float32
    assert maps[0, 0, 7, 5] == 1.0 and maps[0, 0].argmax() == 7 * 32 + 5  # on a centre: exactly 1
    assert torch.isclose(maps[0, 0, 7, 6], torch.exp(torch.tensor(-64 / (2 * 16.0**2))))
    assert 0.9 < maps[0, 1].max() < 1.0
    assert torch.all(maps[0, 2] == 0)
    assert torch.equal(codec.encode(uv)[0, :2], maps[0, :2])


@pytest.mark.parametrize("sigma,blur", [(16.0, 0.0), (16.0, 1.0), (8.0, 0.0), (25.0, 0.0)])
def test_decode_random_positions_sub_pixel(sigma, blur):
    codec = GaussianHeatmap(256, 32, sigma=sigma, blur_sigma=blur)
    rng = np.random.default_rng(42)
    # real-valued positions, away from the outermost map pixel and, with smoothing, from
    # the border region that the smoothing's padding distorts (see the class docstring)
    margin = 1.0 + 2 * blur
    xy_map = rng.uniform(margin, 31.0 - margin, (16, 21, 2))
    uv = codec.map_to_input(xy_map)
    maps = codec.encode(torch.from_numpy(uv).float())
    got, score = codec.decode(maps)
    err_input = np.linalg.norm(got.numpy() - uv, axis=-1)
    err_map = err_input / 8
    print(
        f"sigma {sigma} blur {blur}: max error {err_map.max():.2e} map px = {err_input.max():.2e} input px"
    )
    assert err_map.max() < 0.1
    assert torch.all(score > 0.5) and torch.all(score <= 1.0)


def test_decode_beats_integer_argmax_under_noise():
    codec = GaussianHeatmap(256, 32)
    rng = np.random.default_rng(3)
    uv = codec.map_to_input(rng.uniform(2.0, 29.0, (32, 21, 2)))
    maps = codec.encode(torch.from_numpy(uv).float())
    maps = maps + 0.01 * torch.from_numpy(rng.standard_normal(maps.shape)).float()
    got, _ = codec.decode(maps)
    err = np.linalg.norm(got.numpy() - uv, axis=-1).mean()
    flat = maps.flatten(2).argmax(-1)
    argmax_uv = codec.map_to_input(torch.stack((flat % 32, flat // 32), -1).float()).numpy()
    err_argmax = np.linalg.norm(argmax_uv - uv, axis=-1).mean()
    assert err < 0.5 * err_argmax and err < 1.0  # input pixels


def test_decode_degenerate_maps_are_finite_with_zero_score():
    codec = GaussianHeatmap(256, 32)
    maps = torch.zeros(2, 3, 32, 32)
    maps[0, 1] = -0.3
    maps[0, 2] = -torch.rand(32, 32)
    maps[1, 0] = 0.4  # flat but positive: finite, score is its value
    uv, score = codec.decode(maps)
    assert torch.isfinite(uv).all()
    assert torch.all(score[0] == 0) and torch.all(score[1, 1:] == 0)
    assert torch.isclose(score[1, 0], torch.tensor(0.4))
    assert torch.all((uv >= 0) & (uv <= 256))


def test_decode_peak_at_the_border_stays_in_range():
    codec = GaussianHeatmap(256, 32)
    uv = torch.tensor([[[0.0, 128.0], [255.0, 255.0]]])
    got, score = codec.decode(codec.encode(uv))
    assert torch.isfinite(got).all()
    assert torch.allclose(got[0, 0, 1], torch.tensor(128.0), atol=0.1)  # interior axis still exact
    assert torch.all((got >= 3.5 - 4) & (got <= 251.5 + 4))


def test_numpy_wrappers_match_torch():
    codec = GaussianHeatmap.from_config(HeatmapConfig(sigma=12.0))
    uv = np.random.default_rng(1).uniform(10, 240, (2, 21, 2)).astype(np.float32)
    vis = np.ones((2, 21), dtype=bool)
    vis[0, 3] = False
    maps = codec.encode_numpy(uv, vis)
    assert isinstance(maps, np.ndarray) and np.array_equal(
        maps, codec.encode(torch.from_numpy(uv), torch.from_numpy(vis)).numpy()
    )
    got, score = codec.decode_numpy(maps)
    assert isinstance(got, np.ndarray) and score[0, 3] == 0
    assert np.abs(got - uv)[vis].max() < 0.1 * 8


def test_parameter_validation():
    with pytest.raises(ValueError):
        GaussianHeatmap(256, 30)  # does not divide
    with pytest.raises(ValueError):
        GaussianHeatmap(256, 32, sigma=0.5)
    with pytest.raises(ValueError):
        GaussianHeatmap(256, 32, blur_sigma=5.0)
