"""Tests for hand3d_ros.core.crop: window choice, exact point maps, and that the pixels
cut by crop_images sit where crop_uv says."""

import numpy as np
import pytest
import torch

from hand3d_ros.core.crop import (
    CropConfig,
    KeypointCropConfig,
    crop_from_box,
    crop_from_keypoints,
    crop_from_mask,
    crop_images,
    crop_uv,
    uncrop_uv,
)


def _dot_image(height, width, u, v, sigma):
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
    return float((uu * image).sum() / image.sum()), float((vv * image).sum() / image.sum())


def test_config_ranges():
    CropConfig()
    for bad in (
        dict(margin=0.9),
        dict(margin=3.5),
        dict(scale_min=0.0),
        dict(scale_min=6.0),
        dict(fallback_side_px=0.0),
        dict(output_size=4),
    ):
        with pytest.raises(ValueError):
            CropConfig(**bad)
    with pytest.raises(ValueError):
        KeypointCropConfig(min_keypoints=0)


def test_crop_from_mask_margin_clamp_and_fallback():
    mask = torch.zeros(3, 240, 320, dtype=torch.bool)
    mask[0, 40:140, 100:160] = True  # 60 wide, 100 high
    mask[1, 10:20, 10:16] = True  # tiny: scale clamps to scale_max
    box = crop_from_mask(mask)
    assert torch.allclose(box.center[0], torch.tensor([129.5, 89.5]))
    assert torch.allclose(box.side[0], torch.tensor(125.0))
    assert torch.allclose(box.scale[0], torch.tensor(256 / 125))
    assert torch.allclose(box.scale[1], torch.tensor(5.0)) and torch.allclose(
        box.side[1], torch.tensor(51.2)
    )
    # empty mask: image centre and the fallback side
    assert torch.allclose(box.center[2], torch.tensor([159.5, 119.5]))
    assert torch.allclose(box.side[2], torch.tensor(100.0)) and torch.allclose(
        box.scale[2], torch.tensor(2.56)
    )
    assert box.fallback.tolist() == [False, False, True]
    assert torch.allclose(
        box.to_box()[0], torch.tensor([129.5 - 62.5, 89.5 - 62.5, 129.5 + 62.5, 89.5 + 62.5])
    )


def test_crop_from_box_large_box_clamps_to_scale_min():
    cfg = CropConfig(margin=2.0, output_size=128)
    box = crop_from_box(torch.tensor([[0.0, 0.0, 400.0, 100.0]]), None, (480, 640), cfg)
    assert torch.allclose(box.scale, torch.tensor([0.25])) and torch.allclose(
        box.side, torch.tensor([512.0])
    )
    assert box.output_size == 128


def test_crop_from_keypoints_uses_confident_points_only():
    uv = torch.zeros(2, 21, 2)
    uv[0, :5] = torch.tensor(
        [[100.0, 50.0], [140.0, 60.0], [120.0, 130.0], [110.0, 90.0], [500.0, 500.0]]
    )
    score = torch.zeros(2, 21)
    score[0, :4] = 0.9
    score[0, 4] = 0.1  # the outlier is not confident
    score[1, :2] = 0.9  # only two confident: below min_keypoints=3
    box = crop_from_keypoints(uv, score, 0.5, CropConfig(margin=1.5), image_hw=(200, 300))
    assert torch.allclose(box.center[0], torch.tensor([120.0, 90.0]))
    assert torch.allclose(box.side[0], torch.tensor(1.5 * 80))
    assert box.fallback.tolist() == [False, True]
    assert torch.allclose(box.center[1], torch.tensor([149.5, 99.5]))


@pytest.mark.parametrize("xp", ["numpy", "torch"])
def test_crop_uv_and_uncrop_uv_are_inverse(xp):
    rng = np.random.default_rng(0)
    uv = rng.uniform(-50, 700, (4, 21, 2))
    center = rng.uniform(0, 640, (4, 2))
    scale = rng.uniform(0.25, 5, 4)
    if xp == "torch":
        uv, center, scale = (torch.from_numpy(a) for a in (uv, center, scale))
    back = uncrop_uv(crop_uv(uv, center, scale, 256), center, scale, 256)
    assert np.allclose(np.asarray(back), np.asarray(uv), atol=1e-9)
    # (N, 2) points too, and the window centre maps to the crop centre
    mid = crop_uv(center, center, scale, 256)
    assert np.allclose(np.asarray(mid), 127.5)


def test_crop_images_equals_slicing_at_scale_one():
    image = torch.arange(2 * 30 * 40, dtype=torch.float32).view(1, 2, 30, 40)
    # scale 1, S = 8: centre (a + 3.5, b + 3.5) is the slice [b:b+8, a:a+8]
    out = crop_images(image, torch.tensor([[12 + 3.5, 5 + 3.5]]), torch.tensor([1.0]), 8)
    assert torch.allclose(out, image[:, :, 5:13, 12:20])


def test_crop_images_pads_zeros_outside_the_frame():
    image = torch.ones(1, 1, 20, 30)
    out = crop_images(image, torch.tensor([[0.0, 0.0]]), torch.tensor([1.0]), 16)
    # crop pixel (7.5 + u, 7.5 + v) shows image (u, v): the image starts at crop 7.5
    assert torch.all(out[0, 0, :7, :] == 0) and torch.all(out[0, 0, :, :7] == 0)
    assert torch.all(out[0, 0, 8:, 8:] == 1)


@pytest.mark.parametrize("hw", [(90, 160), (200, 120)])
@pytest.mark.parametrize("scale", [0.6, 1.0, 1.7, 3.3])
def test_dot_lands_at_crop_uv(hw, scale):
    rng = np.random.default_rng(int(scale * 10) + hw[0])
    height, width = hw
    size = 96
    sigma = 2.5  # image pixels
    dots = []
    centers = []
    for _ in range(3):
        u, v = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
        dots.append((u, v))
        # keep the dot (4 sigma) inside both the image and the crop
        max_shift = size / (2 * scale) - 4 * sigma - 2
        centers.append(
            (u + rng.uniform(-1, 1) * max_shift * 0.5, v + rng.uniform(-1, 1) * max_shift * 0.5)
        )
    images = torch.stack([_dot_image(height, width, u, v, sigma) for u, v in dots])[:, None]
    center = torch.tensor(centers, dtype=torch.float64)
    scales = torch.full((3,), scale, dtype=torch.float64)
    crops = crop_images(images, center, scales, size)
    assert crops.shape == (3, 1, size, size)
    expected = crop_uv(torch.tensor(dots, dtype=torch.float64), center, scales, size)
    for i in range(3):
        got = _centroid(crops[i, 0])
        assert np.allclose(got, expected[i].numpy(), atol=0.05), (got, expected[i])


def test_cropbox_methods_match_functions():
    mask = torch.zeros(1, 50, 70, dtype=torch.bool)
    mask[0, 10:30, 20:45] = True
    box = crop_from_mask(mask, CropConfig(output_size=64))
    images = torch.rand(1, 3, 50, 70)
    assert torch.equal(box.crop_images(images), crop_images(images, box.center, box.scale, 64))
    uv = torch.rand(1, 21, 2) * 50
    assert torch.allclose(box.uncrop_uv(box.crop_uv(uv)), uv, atol=1e-5)
    # the window's corners map to the crop's outer pixel edges
    corners = box.to_box().view(1, 2, 2)
    assert torch.allclose(
        box.crop_uv(corners), torch.tensor([[[-0.5, -0.5], [63.5, 63.5]]]), atol=1e-4
    )
