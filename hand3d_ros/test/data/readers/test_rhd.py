"""Tests for hand3d_ros.data.readers.rhd on a tiny fake RHD tree in the real layout."""
import pickle

import cv2
import numpy as np
import pytest

from hand3d_ros.data.readers.common import DatasetLayoutError, validate_sample
from hand3d_ros.data.readers.rhd import RHDReader, decode_rhd_depth

W, H = 40, 32
K = np.array([[50.0, 0.0, 20.0], [0.0, 50.0, 16.0], [0.0, 0.0, 1.0]])

# RHD README: per hand 0 wrist, then thumb, index, middle, ring, little, each listed
# tip -> palm. Public order: wrist, then each finger base -> tip. So public keypoint i
# comes from this RHD index (written out from the README, not computed):
PUBLIC_FROM_RHD = [0, 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17]


def _write_png_rgb(path, rgb):
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _encode_depth(depth_m):
    code = np.round(depth_m / 5.0 * 65535).astype(np.uint16)
    rgb = np.zeros(depth_m.shape + (3,), np.uint8)
    rgb[..., 0] = code >> 8  # R: high byte
    rgb[..., 1] = code & 0xFF  # G: low byte
    return rgb


def _labels(left_pixels, right_pixels, rng):
    """Label image with person pixels, then left labels (2-17) and right labels (18-33)."""
    labels = np.zeros((H, W), np.uint8)
    labels[:4, :] = 1  # person
    flat = labels.reshape(-1)
    cells = rng.permutation(np.arange(4 * W, H * W))
    flat[cells[:left_pixels]] = rng.integers(2, 18, left_pixels)
    flat[cells[left_pixels:left_pixels + right_pixels]] = rng.integers(18, 34, right_pixels)
    return labels


def make_rhd(root, split, specs, seed=0):
    """specs: {sample_id: (left_pixels, right_pixels, visible42)}; returns what was written."""
    rng = np.random.default_rng(seed)
    folder = root / split
    for sub in ("color", "mask", "depth"):
        (folder / sub).mkdir(parents=True)
    annotations, written = {}, {}
    for sample_id, (n_left, n_right, visible) in specs.items():
        xyz = np.column_stack([rng.uniform(-0.1, 0.1, 42), rng.uniform(-0.1, 0.1, 42), rng.uniform(0.4, 0.8, 42)])
        uv = (xyz @ K.T)[:, :2] / xyz[:, 2:]
        uv_vis = np.column_stack([uv, visible.astype(np.float64)]).astype(np.float32)
        annotations[sample_id] = {"xyz": xyz.astype(np.float32), "uv_vis": uv_vis, "K": K.astype(np.float32)}
        image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        labels = _labels(n_left, n_right, rng)
        depth = rng.uniform(0.3, 4.9, (H, W))
        name = f"{sample_id:05d}.png"
        _write_png_rgb(folder / "color" / name, image)
        assert cv2.imwrite(str(folder / "mask" / name), labels)
        _write_png_rgb(folder / "depth" / name, _encode_depth(depth))
        written[sample_id] = dict(image=image, labels=labels, depth=depth, **annotations[sample_id])
    with open(folder / f"anno_{split}.pickle", "wb") as f:
        pickle.dump(annotations, f)
    return written


ALL_VISIBLE = np.ones(42, bool)


@pytest.fixture
def rhd(tmp_path):
    vis = ALL_VISIBLE.copy()
    vis[[3, 30]] = False  # left thumb PIP (RHD 3), right middle MCP (RHD 21 + 9)
    specs = {
        0: (60, 10, vis),  # left dominant
        3: (5, 50, ALL_VISIBLE),  # right dominant
        7: (20, 20, ALL_VISIBLE),  # tie -> right (as the authors)
    }
    return tmp_path, make_rhd(tmp_path, "training", specs)


def test_every_field_and_dominant_hand(rhd):
    root, written = rhd
    reader = RHDReader(root, "training")
    assert len(reader) == 3
    expected_sides = {0: 0, 3: 1, 7: 1}
    for index, sample_id in enumerate([0, 3, 7]):
        sample = validate_sample(reader[index])
        src = written[sample_id]
        side = expected_sides[sample_id]
        assert sample["hand_side"] == side and sample["hand_side"].dtype == np.uint8
        np.testing.assert_array_equal(sample["image"], src["image"])
        labels = src["labels"]
        expected_mask = np.where((labels >= 2) & (labels <= 17), 1, np.where(labels >= 18, 2, 0))
        np.testing.assert_array_equal(sample["mask"], expected_mask)
        offset = 21 * side
        rhd_idx = [offset + j for j in PUBLIC_FROM_RHD]
        np.testing.assert_array_equal(sample["xyz"], src["xyz"][rhd_idx])  # metres, unchanged
        np.testing.assert_array_equal(sample["uv"], src["uv_vis"][rhd_idx, :2])
        np.testing.assert_array_equal(sample["visible"], src["uv_vis"][rhd_idx, 2] == 1)
        np.testing.assert_array_equal(sample["K"], K.astype(np.float32))
        np.testing.assert_allclose(sample["depth"], src["depth"], atol=5.0 / 65535)


def test_known_points_land_at_public_indices(rhd):
    root, written = rhd
    sample = RHDReader(root, "training")[0]  # left hand
    xyz = written[0]["xyz"]
    np.testing.assert_array_equal(sample["xyz"][1], xyz[4])  # RHD left thumb MCP-end -> thumb CMC
    np.testing.assert_array_equal(sample["xyz"][4], xyz[1])  # thumb tip
    np.testing.assert_array_equal(sample["xyz"][9], xyz[12])  # middle MCP
    np.testing.assert_array_equal(sample["xyz"][20], xyz[17])  # little tip
    np.testing.assert_array_equal(sample["xyz"][0], xyz[0])  # wrist
    # RHD 3 (left thumb PIP) was marked invisible: public thumb MCP (2)
    assert sample["visible"].tolist() == [i != 2 for i in range(21)]
    right = RHDReader(root, "training")[1]  # right hand
    np.testing.assert_array_equal(right["xyz"][1], written[3]["xyz"][25])


def test_depth_decoding_high_and_low_byte():
    rgb = np.zeros((1, 2, 3), np.uint8)
    rgb[0, 0] = (0x12, 0x34, 0)
    rgb[0, 1] = (0xFF, 0xFF, 0)
    depth = decode_rhd_depth(rgb)
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth[0], [0x1234 / 65535 * 5.0, 5.0], rtol=1e-6)


def test_both_hands(tmp_path):
    right_hidden = ALL_VISIBLE.copy()
    right_hidden[21:] = False
    few_left = ALL_VISIBLE.copy()
    few_left[2:21] = False  # 2 visible left keypoints
    make_rhd(tmp_path, "evaluation", {1: (30, 5, right_hidden), 2: (5, 30, few_left)})
    reader = RHDReader(tmp_path, "evaluation", both_hands=True)
    assert reader.entries == [(1, 0), (2, 0), (2, 1)]
    sides = [int(reader[i]["hand_side"]) for i in range(len(reader))]
    assert sides == [0, 0, 1]
    np.testing.assert_array_equal(reader[1]["mask"], reader[2]["mask"])  # same image, both hands marked
    strict = RHDReader(tmp_path, "evaluation", both_hands=True, min_visible_keypoints=3)
    assert strict.entries == [(1, 0), (2, 1)]


def test_without_depth(tmp_path):
    make_rhd(tmp_path, "training", {0: (10, 0, ALL_VISIBLE)})
    (tmp_path / "training" / "depth" / "00000.png").unlink()
    sample = RHDReader(tmp_path, "training", load_depth=False)[0]
    assert "depth" not in sample
    validate_sample(sample)


def test_wrong_root_names_missing_file(tmp_path):
    with pytest.raises(DatasetLayoutError) as err:
        RHDReader(tmp_path, "training")
    message = str(err.value)
    assert "training/anno_training.pickle" in message and "RHD" in message and "\n" not in message
    make_rhd(tmp_path, "training", {0: (10, 0, ALL_VISIBLE)})
    (tmp_path / "training" / "color" / "00000.png").unlink()
    (tmp_path / "training" / "color").rmdir()
    with pytest.raises(DatasetLayoutError, match="missing training/color"):
        RHDReader(tmp_path, "training")
    with pytest.raises(DatasetLayoutError, match="missing evaluation/anno_evaluation.pickle"):
        RHDReader(tmp_path, "evaluation")


def test_missing_image_and_bad_split(tmp_path):
    make_rhd(tmp_path, "training", {0: (10, 0, ALL_VISIBLE)})
    (tmp_path / "training" / "mask" / "00000.png").unlink()
    reader = RHDReader(tmp_path, "training")
    with pytest.raises(DatasetLayoutError, match="00000.png"):
        reader[0]
    with pytest.raises(ValueError, match="unknown split 'train'"):
        RHDReader(tmp_path, "train")
