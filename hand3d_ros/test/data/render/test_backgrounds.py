"""Backgrounds, skin tones and camera effects."""
import numpy as np

from hand3d_ros.data.render import backgrounds as bg
from hand3d_ros.data.render.appearance import (MONK_SKIN_TONES_SRGB, linear_to_srgb, linear_to_srgb_lut,
                                               sample_skin_srgb, srgb_to_linear)
from hand3d_ros.data.render.postprocess import apply_camera_effects, jpeg_roundtrip, motion_blur_kernel


def test_every_procedural_kind_is_a_valid_varied_image():
    rng = np.random.default_rng(0)
    means = []
    for kind in bg.PROCEDURAL_KINDS:
        img = bg.procedural_background(rng, 40, 56, kind)
        assert img.shape == (40, 56, 3) and img.dtype == np.float32
        assert img.min() >= 0 and img.max() <= 1
        means.append(img.mean(axis=(0, 1)))
    assert np.std(means, axis=0).max() > 0.02  # kinds differ
    a = bg.sample_background(np.random.default_rng(5), 32, 32)
    b = bg.sample_background(np.random.default_rng(5), 32, 32)
    np.testing.assert_array_equal(a, b)


def test_photos_with_hands_are_excluded_and_splits_are_disjoint(tmp_path):
    import cv2

    names = ["astronaut.png", "camera.png", "cameraman.jpg", "coffee.png"] + [f"photo{i}.jpg" for i in range(20)]
    for name in names:
        cv2.imwrite(str(tmp_path / name), np.full((40, 50, 3), 128, np.uint8))
    found = {p.name for p in bg.find_photos([tmp_path], include_system=False)}
    assert "coffee.png" in found and not any(n.startswith(("astronaut", "camera")) for n in found)
    train = bg.PhotoLibrary.for_split("train", [tmp_path], include_system=False)
    val = bg.PhotoLibrary.for_split("val", [tmp_path], include_system=False)
    assert set(train.paths).isdisjoint(val.paths) and len(train) + len(val) == len(found)
    crop = train.sample(np.random.default_rng(0), 24, 30)
    assert crop.shape == (24, 30, 3) and np.allclose(crop, 128 / 255)


def test_skin_tones_span_light_to_dark():
    rng = np.random.default_rng(0)
    lum = [srgb_to_linear(sample_skin_srgb(rng)[0]).mean() for _ in range(300)]
    assert min(lum) < 0.06 and max(lum) > 0.5
    assert MONK_SKIN_TONES_SRGB.shape == (10, 3)
    x = np.linspace(0, 1, 1000, dtype=np.float32)
    assert np.abs(linear_to_srgb_lut(x) - linear_to_srgb(x)).max() < 2e-3
    np.testing.assert_allclose(srgb_to_linear(linear_to_srgb(x)), x, atol=1e-5)


def test_camera_effects():
    k = motion_blur_kernel(5.0, 0.3)
    assert np.isclose(k.sum(), 1.0) and k.shape[0] % 2 == 1
    img = np.random.default_rng(0).random((32, 40, 3)).astype(np.float32)
    out = apply_camera_effects(np.random.default_rng(1), img)
    assert out.shape == (32, 40, 3) and out.dtype == np.uint8
    smooth = np.full((16, 16, 3), 100, np.uint8)
    assert np.abs(jpeg_roundtrip(smooth, 90).astype(int) - 100).max() <= 2
