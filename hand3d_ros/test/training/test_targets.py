import numpy as np
import torch

from hand3d_ros.core.canonical import from_canonical
from hand3d_ros.core.hand_template import template_hand_xyz
from hand3d_ros.inference.pipeline import PipelineConfig
from hand3d_ros.training import targets
from hand3d_ros.training.datasets import step_generator


def _uv_batch():
    uv = torch.tensor(np.random.default_rng(0).uniform(40, 90, (3, 21, 2)), dtype=torch.float32)
    visible = torch.ones(3, 21, dtype=torch.bool)
    visible[1, :5] = False
    return uv, visible


def test_codec_matches_the_pipeline_decoder():
    for size in (128, 256):
        codec = targets.heatmap_codec(size)
        assert codec.heatmap_size == (size // 8, size // 8)
        assert codec.sigma == PipelineConfig().heatmap_sigma * size / 256


def test_gt_crops_hold_the_visible_keypoints():
    uv, visible = _uv_batch()
    crops = targets.gt_crops(uv, visible, (128, 128), 64, margin=1.25)
    uv_crop = crops.crop_uv(uv)
    assert targets.inside(uv_crop, (64, 64))[visible].all()
    extent = (uv[0].amax(0) - uv[0].amin(0)).max()
    assert torch.isclose(crops.side[0], 1.25 * extent)


def test_crop_noise_is_reproducible_and_bounded():
    uv, visible = _uv_batch()
    a = targets.gt_crops(uv, visible, (128, 128), 64, center_noise=0.05, scale_noise=0.1,
                         generator=step_generator(0, 5))
    b = targets.gt_crops(uv, visible, (128, 128), 64, center_noise=0.05, scale_noise=0.1,
                         generator=step_generator(0, 5))
    c = targets.gt_crops(uv, visible, (128, 128), 64, center_noise=0.05, scale_noise=0.1,
                         generator=step_generator(0, 6))
    plain = targets.gt_crops(uv, visible, (128, 128), 64)
    assert torch.equal(a.center, b.center) and not torch.equal(a.center, c.center)
    assert ((a.center - plain.center).abs() < 0.5 * plain.side[:, None]).all()


def test_score_maps_zero_for_invisible_and_outside():
    uv, visible = _uv_batch()
    codec = targets.heatmap_codec(128)
    uv[2, 7] = torch.tensor([500.0, 10.0])  # outside the crop
    maps = targets.score_map_targets(uv, visible, codec)
    assert maps.shape == (3, 21, 16, 16)
    assert maps[1, :5].abs().sum() == 0 and maps[2, 7].abs().sum() == 0
    assert maps[0].amax(dim=(1, 2)).min() > 0.5
    decoded, _ = codec.decode(maps)
    assert torch.allclose(decoded[0], uv[0], atol=0.5)


def test_noisy_map_keypoints_scale_and_translate():
    uv, _ = _uv_batch()
    same = targets.noisy_map_keypoints(uv, 128)
    assert torch.equal(same, uv)
    moved = targets.noisy_map_keypoints(uv, 128, keypoint_noise_px=4.0, map_scale=(0.8, 1.2), map_translate=0.05,
                                        generator=step_generator(1, 2))
    assert moved.shape == uv.shape and not torch.allclose(moved, uv)
    again = targets.noisy_map_keypoints(uv, 128, keypoint_noise_px=4.0, map_scale=(0.8, 1.2), map_translate=0.05,
                                        generator=step_generator(1, 2))
    assert torch.equal(moved, again)


def test_canonical_targets_invert():
    xyz = torch.tensor(np.stack([template_hand_xyz(0), template_hand_xyz(1)]) + [0.1, 0.0, 0.5],
                       dtype=torch.float32)
    side = torch.tensor([0, 1])
    t = targets.canonical_targets(xyz, side)
    assert torch.allclose(t["bone"], torch.full((2,), 0.043), atol=2e-3)
    assert torch.allclose(from_canonical(t["w_c"], t["R"], side), t["w_rel"], atol=1e-5)
    # both sides share one canonical shape (the right hand is the mirrored left)
    assert torch.allclose(t["w_c"][0], t["w_c"][1], atol=1e-5)


def test_contrast_and_labels():
    images = torch.rand(2, 3, 8, 8) - 0.5
    out = targets.contrast_jitter(images, 0.5, 0.5)
    assert torch.allclose(out.std(dim=(1, 2, 3)), 0.5 * images.std(dim=(1, 2, 3)), atol=1e-6)
    assert targets.contrast_jitter(images, 1.0, 1.0) is images
    mask = torch.tensor([[[0, 1, 2]]], dtype=torch.uint8)
    assert targets.segmentation_labels(mask).tolist() == [[[0, 1, 1]]]
    assert targets.hand_side_one_hot(torch.tensor([0, 1])).tolist() == [[1, 0], [0, 1]]
