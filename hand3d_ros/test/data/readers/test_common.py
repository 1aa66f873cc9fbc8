"""Tests for hand3d_ros.data.readers.common (sample format, checks, image reading) and open_dataset."""
import numpy as np
import pytest

from hand3d_ros.data.readers import (
    DatasetLayoutError,
    FreiHANDReader,
    RHDReader,
    STBReader,
    open_dataset,
)
from hand3d_ros.data.readers.common import inside_image, read_gray, read_rgb, validate_sample

H, W = 6, 8


def good_sample():
    return {
        "image": np.zeros((H, W, 3), np.uint8),
        "mask": np.array([[0, 1, 2, 0, 0, 0, 0, 0]] * H, np.uint8),
        "uv": np.zeros((21, 2), np.float32),
        "xyz": np.ones((21, 3), np.float32),
        "visible": np.ones(21, bool),
        "K": np.eye(3, dtype=np.float32),
        "hand_side": np.uint8(1),
        "depth": np.full((H, W), 0.5, np.float32),
    }


def test_good_sample_passes():
    sample = good_sample()
    assert validate_sample(sample) is sample
    sample["mask"] = None
    del sample["depth"]
    sample["source"] = "extra keys are allowed"
    validate_sample(sample)


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("image", np.zeros((H, W, 3), np.float32), "'image'"),
        ("image", np.zeros((H, W), np.uint8), "'image'"),
        ("mask", np.full((H, W), 3, np.uint8), "'mask'"),
        ("mask", np.zeros((H, W + 1), np.uint8), "'mask'"),
        ("uv", np.zeros((42, 2), np.float32), "'uv'"),
        ("uv", np.zeros((21, 2), np.float64), "float32"),
        ("xyz", np.full((21, 3), np.nan, np.float32), "finite"),
        ("visible", np.ones(21, np.uint8), "'visible'"),
        ("K", [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "numpy array"),
        ("hand_side", np.uint8(2), "'hand_side'"),
        ("hand_side", 1, "'hand_side'"),
        ("depth", np.full((H, W), -1.0, np.float32), "'depth'"),
    ],
)
def test_bad_fields_are_named(field, value, words):
    sample = good_sample()
    sample[field] = value
    with pytest.raises(ValueError, match=words) as err:
        validate_sample(sample)
    assert "\n" not in str(err.value)


def test_missing_field():
    sample = good_sample()
    del sample["visible"]
    with pytest.raises(ValueError, match="'visible' is missing"):
        validate_sample(sample)


def test_inside_image_bounds():
    uv = np.array([[-0.5, -0.5], [W - 0.5, 0.0], [0.0, H - 0.51], [np.nan, 1.0], [-0.6, 2.0]])
    assert inside_image(uv, W, H).tolist() == [True, False, True, False, False]


def test_read_errors(tmp_path):
    with pytest.raises(DatasetLayoutError, match="missing image file"):
        read_rgb(tmp_path / "none.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(OSError, match="cannot decode"):
        read_gray(broken)


def test_open_dataset_dispatch(tmp_path):
    # Each kind goes to its own reader: each complains about its own files.
    with pytest.raises(DatasetLayoutError, match="RHD.*anno_evaluation.pickle"):
        open_dataset("RHD", tmp_path, "evaluation")
    with pytest.raises(DatasetLayoutError, match="STB.*labels/B1Counting_SK.mat"):
        open_dataset("stb", tmp_path, "evaluation", cameras="SK_color")
    with pytest.raises(DatasetLayoutError, match="FreiHAND.*training_xyz.json"):
        open_dataset("FreiHAND", tmp_path)
    with pytest.raises(ValueError, match="unknown dataset kind 'coco'"):
        open_dataset("coco", tmp_path)


def test_open_dataset_returns_reader(tmp_path):
    import json
    import pickle

    from scipy.io import savemat

    (tmp_path / "evaluation" / "rgb").mkdir(parents=True)
    for name, value in (("evaluation_xyz.json", np.ones((1, 21, 3))), ("evaluation_K.json", np.eye(3)[None])):
        (tmp_path / name).write_text(json.dumps(value.tolist()))
    reader = open_dataset("freihand", tmp_path, "evaluation")
    assert isinstance(reader, FreiHANDReader) and len(reader) == 1

    for sub in ("color", "mask", "depth"):
        (tmp_path / "evaluation" / sub).mkdir()
    with open(tmp_path / "evaluation" / "anno_evaluation.pickle", "wb") as f:
        pickle.dump({}, f)
    reader = open_dataset("rhd", tmp_path, "evaluation")
    assert isinstance(reader, RHDReader) and len(reader) == 0

    (tmp_path / "labels").mkdir()
    (tmp_path / "images" / "B1Random").mkdir(parents=True)
    savemat(str(tmp_path / "labels" / "B1Random_BB.mat"), {"handPara": np.ones((3, 21, 4))})
    reader = open_dataset("stb", tmp_path, "evaluation", sequences=("B1Random",))
    assert isinstance(reader, STBReader) and len(reader) == 4
