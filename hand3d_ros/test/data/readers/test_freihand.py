"""Tests for hand3d_ros.data.readers.freihand on a tiny fake FreiHAND tree in the real layout."""
import json

import cv2
import numpy as np
import pytest

from hand3d_ros.data.readers.common import DatasetLayoutError, validate_sample
from hand3d_ros.data.readers.freihand import FreiHANDReader

SIZE = 24
N_UNIQUE = 3
JPEG_TOLERANCE = 4  # grey levels a flat JPEG colour may drift


def _K(f):
    return np.array([[f, 0.0, SIZE / 2], [0.0, f, SIZE / 2], [0.0, 0.0, 1.0]])


def _colour(image_id):
    """A distinct flat RGB colour per image file."""
    return np.array([40 + 13 * image_id, 200 - 11 * image_id, 30 + 7 * (image_id % 5)], np.uint8)


def make_freihand(root, split, n_unique, n_versions, seed=0):
    rng = np.random.default_rng(seed)
    xyz = np.stack([
        np.column_stack([rng.uniform(-0.03, 0.03, 21), rng.uniform(-0.03, 0.03, 21), rng.uniform(0.5, 0.7, 21)])
        for _ in range(n_unique)
    ])
    xyz[0, 12] = (1.0, 0.0, 0.6)  # sample 0: middle tip far off the image
    Ks = np.stack([_K(30.0 + 5 * i) for i in range(n_unique)])
    with open(root / f"{split}_xyz.json", "w") as f:
        json.dump(xyz.tolist(), f)
    with open(root / f"{split}_K.json", "w") as f:
        json.dump(Ks.tolist(), f)
    (root / split / "rgb").mkdir(parents=True)
    for image_id in range(n_unique * n_versions):
        bgr = np.tile(_colour(image_id)[::-1], (SIZE, SIZE, 1))
        assert cv2.imwrite(str(root / split / "rgb" / f"{image_id:08d}.jpg"), bgr)
    if split == "training":
        (root / split / "mask").mkdir()
        mask = np.zeros((SIZE, SIZE), np.uint8)
        mask[:, : SIZE // 2] = 255
        for unique in range(n_unique):
            assert cv2.imwrite(str(root / split / "mask" / f"{unique:08d}.jpg"), mask)
    return xyz, Ks


def _project(xyz, K):
    return np.column_stack([K[0, 0] * xyz[:, 0] / xyz[:, 2] + K[0, 2], K[1, 1] * xyz[:, 1] / xyz[:, 2] + K[1, 2]])


def test_training_all_versions(tmp_path):
    xyz, Ks = make_freihand(tmp_path, "training", N_UNIQUE, 4)
    reader = FreiHANDReader(tmp_path, "training")
    assert len(reader) == 4 * N_UNIQUE
    expected_mask = np.zeros((SIZE, SIZE), np.uint8)
    expected_mask[:, : SIZE // 2] = 2
    for index in range(len(reader)):
        sample = validate_sample(reader[index])
        unique = index % N_UNIQUE
        assert reader.image_id(index) == index  # all four versions: ids are the indices
        mean_rgb = sample["image"].reshape(-1, 3).mean(axis=0)
        np.testing.assert_allclose(mean_rgb, _colour(index), atol=JPEG_TOLERANCE)  # RGB order, right file
        np.testing.assert_array_equal(sample["mask"], expected_mask)
        np.testing.assert_array_equal(sample["xyz"], xyz[unique].astype(np.float32))  # metres as stored
        np.testing.assert_array_equal(sample["K"], Ks[unique].astype(np.float32))
        np.testing.assert_allclose(sample["uv"], _project(xyz[unique], Ks[unique]), rtol=1e-5)
        assert sample["hand_side"] == 1
        assert sample["visible"].tolist() == [not (unique == 0 and i == 12) for i in range(21)]


def test_version_subset_maps_file_ids(tmp_path):
    make_freihand(tmp_path, "training", N_UNIQUE, 4)
    reader = FreiHANDReader(tmp_path, "training", versions=("sample",))
    assert len(reader) == N_UNIQUE
    assert [reader.image_id(i) for i in range(N_UNIQUE)] == [6, 7, 8]  # block 2 of 3
    two = FreiHANDReader(tmp_path, "training", versions=("auto", "gs"))
    assert [two.image_id(i) for i in range(len(two))] == [9, 10, 11, 0, 1, 2]
    assert two.image_id(-1) == 2
    np.testing.assert_allclose(two[1]["image"].reshape(-1, 3).mean(0), _colour(10), atol=JPEG_TOLERANCE)
    with pytest.raises(IndexError):
        two[6]
    with pytest.raises(ValueError, match="unknown versions"):
        FreiHANDReader(tmp_path, "training", versions=("colour",))


def test_evaluation_split(tmp_path):
    xyz, _ = make_freihand(tmp_path, "evaluation", 2, 1)
    reader = FreiHANDReader(tmp_path, "evaluation")
    assert len(reader) == 2
    sample = validate_sample(reader[1])
    assert sample["mask"] is None
    np.testing.assert_array_equal(sample["xyz"], xyz[1].astype(np.float32))
    with pytest.raises(ValueError, match="unknown versions"):
        FreiHANDReader(tmp_path, "evaluation", versions=("hom",))


def test_wrong_root_and_inconsistent_files(tmp_path):
    with pytest.raises(DatasetLayoutError) as err:
        FreiHANDReader(tmp_path, "training")
    assert "missing training_xyz.json" in str(err.value) and "FreiHAND" in str(err.value)
    make_freihand(tmp_path, "training", N_UNIQUE, 1)
    with open(tmp_path / "training_K.json", "w") as f:
        json.dump(np.tile(np.eye(3), (N_UNIQUE - 1, 1, 1)).tolist(), f)
    with pytest.raises(DatasetLayoutError, match="training_K.json has 2"):
        FreiHANDReader(tmp_path, "training")
    with open(tmp_path / "training_xyz.json", "w") as f:
        json.dump(np.zeros((2, 20, 3)).tolist(), f)
    with pytest.raises(DatasetLayoutError, match="training_xyz.json"):
        FreiHANDReader(tmp_path, "training")


def test_missing_version_image(tmp_path):
    make_freihand(tmp_path, "training", N_UNIQUE, 1)  # only the gs block was written
    reader = FreiHANDReader(tmp_path, "training")
    validate_sample(reader[0])
    with pytest.raises(DatasetLayoutError, match="00000003.jpg"):
        reader[N_UNIQUE]
