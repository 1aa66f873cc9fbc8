"""Image messages to numpy without cv_bridge (plain objects with the message's fields)."""
from types import SimpleNamespace

import numpy as np
import pytest

from hand3d_ros.ros.image_conversions import (
    ImageError,
    ImageLimits,
    compressed_to_rgb,
    depth_to_metres,
    image_to_rgb,
    rgb_to_image_fields,
)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)


def _msg(pixels, encoding, step=None, pad=0, big_endian=False):
    h, w = pixels.shape[:2]
    row = pixels.reshape(h, -1).view(np.uint8) if pixels.dtype != np.uint8 else pixels.reshape(h, -1)
    step = step or row.shape[1] + pad
    data = np.zeros((h, step), np.uint8)
    data[:, : row.shape[1]] = row
    return SimpleNamespace(height=h, width=w, encoding=encoding, step=step, is_bigendian=big_endian,
                           data=data.tobytes())


@pytest.mark.parametrize("encoding, pixels", [
    ("rgb8", RGB), ("bgr8", RGB[..., ::-1]), ("rgba8", np.dstack([RGB, np.full(RGB.shape[:2], 9, np.uint8)])),
    ("bgra8", np.dstack([RGB[..., ::-1], np.full(RGB.shape[:2], 9, np.uint8)])),
])
def test_colour_encodings_give_rgb(encoding, pixels):
    for pad in (0, 5):  # rows padded past the pixels (step > width * channels)
        out = image_to_rgb(_msg(np.ascontiguousarray(pixels), encoding, pad=pad))
        np.testing.assert_array_equal(out, RGB)


def test_packed_rgb8_is_a_zero_copy_view():
    msg = _msg(RGB, "rgb8")
    out = image_to_rgb(msg)
    assert np.shares_memory(out, np.frombuffer(msg.data, np.uint8))


def test_mono8_is_replicated():
    gray = RGB[..., 0].copy()
    out = image_to_rgb(_msg(gray[..., None], "mono8"))
    assert out.shape == (5, 7, 3) and np.all(out == gray[..., None])


def test_yuv422_grey_levels():
    # UYVY with U = V = 128 is grey: R = G = B = 1.164 (Y - 16).
    h, w, y = 2, 4, 150
    uyvy = np.tile(np.array([128, y, 128, y], np.uint8), (h, w // 2)).reshape(h, w, 2)
    out = image_to_rgb(_msg(uyvy, "yuv422"))
    assert np.all(np.abs(out.astype(int) - round(1.164 * (y - 16))) <= 1)
    yuyv = np.tile(np.array([y, 128, y, 128], np.uint8), (h, w // 2)).reshape(h, w, 2)
    np.testing.assert_array_equal(image_to_rgb(_msg(yuyv, "yuyv")), out)


@pytest.mark.parametrize("fields, reason", [
    (dict(encoding="32FC3"), "unsupported image encoding '32FC3'"),
    (dict(height=0), "empty image"),
    (dict(width=0), "empty image"),
    (dict(step=7), "step 7 is smaller than a row"),
    (dict(data=b"\0" * 20), "data has 20 bytes"),
])
def test_malformed_images_raise_one_line_reasons(fields, reason):
    msg = _msg(RGB, "rgb8")
    for key, value in fields.items():
        setattr(msg, key, value)
    with pytest.raises(ImageError, match=reason) as info:
        image_to_rgb(msg)
    assert "\n" not in str(info.value)


def test_size_limit():
    msg = _msg(RGB, "rgb8")
    with pytest.raises(ImageError, match="exceeds max_pixels=34"):
        image_to_rgb(msg, ImageLimits(max_pixels=34))
    assert image_to_rgb(msg, ImageLimits(max_pixels=35)).shape == (5, 7, 3)


def test_depth_16uc1_and_32fc1():
    mm = np.array([[0, 1000], [65535, 250]], np.uint16)
    out = depth_to_metres(_msg(mm[..., None], "16UC1"))
    assert np.isnan(out[0, 0]) and out[0, 1] == pytest.approx(1.0) and out[1, 1] == pytest.approx(0.25)
    metres = np.array([[np.nan, np.inf], [0.0, 0.5]], np.float32)
    out = depth_to_metres(_msg(metres[..., None], "32FC1"))
    assert np.isnan(out[0, 0]) and np.isnan(out[0, 1]) and np.isnan(out[1, 0]) and out[1, 1] == 0.5
    big = metres.astype(">f4")
    out = depth_to_metres(_msg(big[..., None], "32FC1", big_endian=True))
    assert out[1, 1] == 0.5
    with pytest.raises(ImageError, match="unsupported depth encoding 'rgb8'"):
        depth_to_metres(_msg(RGB, "rgb8"))


def test_compressed_jpeg_png_and_corrupt():
    cv2 = pytest.importorskip("cv2")
    ok, png = cv2.imencode(".png", RGB[..., ::-1])
    out = compressed_to_rgb(SimpleNamespace(format="png", data=png.tobytes()))
    np.testing.assert_array_equal(out, RGB)
    ok, jpg = cv2.imencode(".jpg", RGB[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert compressed_to_rgb(SimpleNamespace(format="rgb8; jpeg compressed bgr8", data=jpg.tobytes())).shape == RGB.shape
    with pytest.raises(ImageError, match="could not decode"):
        compressed_to_rgb(SimpleNamespace(format="jpeg", data=b"\xff\xd8 nope"))
    with pytest.raises(ImageError, match="empty compressed image"):
        compressed_to_rgb(SimpleNamespace(format="jpeg", data=b""))


def test_rgb_to_image_fields_round_trip():
    fields = rgb_to_image_fields(RGB)
    np.testing.assert_array_equal(image_to_rgb(SimpleNamespace(**fields)), RGB)
