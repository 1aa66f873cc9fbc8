"""Tests for hand3d_ros.core.preprocess."""

import numpy as np
import pytest
import torch

from hand3d_ros.core.preprocess import NormalizeConfig, ResizeInfo, normalize_rgb, resize_images


def _gaussian_dot(height, width, u, v, sigma):
    vv, uu = torch.meshgrid(
        torch.arange(height, dtype=torch.float64),
        torch.arange(width, dtype=torch.float64),
        indexing="ij",
    )
    return torch.exp(-((uu - u) ** 2 + (vv - v) ** 2) / (2 * sigma**2))


def _centroid(image):
    vv, uu = torch.meshgrid(
        torch.arange(image.shape[0], dtype=torch.float64),
        torch.arange(image.shape[1], dtype=torch.float64),
        indexing="ij",
    )
    image = image.to(torch.float64)
    return float((uu * image).sum() / image.sum()), float((vv * image).sum() / image.sum())


def test_normalize_values_layout_and_channel_order():
    images = np.zeros((2, 4, 5, 3), dtype=np.uint8)
    images[0, 1, 2] = (0, 51, 255)
    images[1, 3, 4] = (255, 0, 102)
    out = normalize_rgb(images)
    assert out.shape == (2, 3, 4, 5) and out.dtype == torch.float32
    assert torch.allclose(out[0, :, 1, 2], torch.tensor([-0.5, -0.3, 0.5]), atol=1e-6)
    assert torch.allclose(out[1, :, 3, 4], torch.tensor([0.5, -0.5, -0.1]), atol=1e-6)
    assert torch.all(out[0, :, 0, 0] == -0.5)


def test_normalize_parameters_and_channels_last():
    images = torch.randint(0, 256, (3, 6, 7, 3), dtype=torch.uint8)
    out = normalize_rgb(images, scale=2.0, offset=1.0, channels_last=True)
    assert out.is_contiguous(memory_format=torch.channels_last)
    expected = images.permute(0, 3, 1, 2).float() * 2.0 + 1.0
    assert torch.equal(out, expected)


def test_normalize_rejects_bad_shape_and_config():
    with pytest.raises(ValueError):
        normalize_rgb(torch.zeros(4, 5, 3, dtype=torch.uint8))
    with pytest.raises(ValueError):
        NormalizeConfig(scale=0.0)


def test_resize_info_maps_points_and_boxes_both_ways():
    info = ResizeInfo(in_hw=(480, 640), out_hw=(240, 320))
    assert info.scale_uv == (0.5, 0.5)
    full = np.array([-0.5, -0.5, 639.5, 479.5])
    assert np.allclose(info.box_to_resized(full), [-0.5, -0.5, 319.5, 239.5])
    uv = torch.rand(5, 21, 2, dtype=torch.float64) * 600
    assert torch.allclose(info.to_original(info.to_resized(uv)), uv, atol=1e-9)
    # pixel (1, 1) of the small image is the centre of the 2x2 block 2..3 of the big one
    assert np.allclose(info.to_original(np.array([1.0, 1.0])), [2.5, 2.5])


@pytest.mark.parametrize(
    "in_hw,out_hw", [((240, 320), (480, 640)), ((240, 320), (180, 200)), ((90, 160), (240, 320))]
)
def test_resize_moves_a_dot_to_the_mapped_position(in_hw, out_hw):
    u, v = 0.41 * in_hw[1] + 0.37, 0.53 * in_hw[0] + 0.71
    sigma = 4.0  # wide enough to survive shrinking without aliasing
    image = _gaussian_dot(*in_hw, u, v, sigma).float()[None, None]
    resized, info = resize_images(image, out_hw)
    assert resized.shape == (1, 1) + out_hw
    expected = info.to_resized(np.array([u, v]))
    got = _centroid(resized[0, 0])
    assert np.allclose(got, expected, atol=0.05), (got, expected)


def test_antialias_only_matters_when_shrinking():
    noise = torch.rand(1, 3, 64, 80, generator=torch.Generator().manual_seed(0))
    up_a, _ = resize_images(noise, (128, 120), antialias=True)
    up_b, _ = resize_images(noise, (128, 120), antialias=False)
    assert torch.allclose(up_a, up_b, atol=1e-5)
    down_a, _ = resize_images(noise, (16, 20), antialias=True)
    down_b, _ = resize_images(noise, (16, 20), antialias=False)
    # plain bilinear averages only 2x2 pixels out of each 4x4 block: more noise survives
    assert down_a.var() < 0.5 * down_b.var()


def test_resize_same_size_is_identity():
    images = torch.rand(2, 3, 24, 32)
    out, info = resize_images(images, (24, 32))
    assert out is images and info.scale_uv == (1.0, 1.0)
