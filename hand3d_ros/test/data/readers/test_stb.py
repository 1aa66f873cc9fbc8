"""Tests for hand3d_ros.data.readers.stb on a tiny fake STB tree in the real layout."""
import cv2
import numpy as np
import pytest
from scipy.io import savemat
from scipy.spatial.transform import Rotation

from hand3d_ros.data.readers.common import DatasetLayoutError, validate_sample
from hand3d_ros.data.readers.stb import STBReader

W, H = 640, 480
FRAMES = 2
# From the STB README.
BB_K = np.array([[822.79041, 0, 318.47345], [0, 822.79041, 250.31296], [0, 0, 1]])
SK_K = np.array([[607.92271, 0, 314.78337], [0, 607.88192, 236.42484], [0, 0, 1]])
SK_OM = [0.00531, -0.01196, 0.00301]
SK_T_MM = np.array([-24.0381, -0.4563, -1.2326])
BASELINE_MM = 120.054
# STB order (README): palm, little mcp..tip, ring, middle, index, thumb (mcp, pip, dip, tip).
# Public index of each STB keypoint, written out by name:
PUBLIC_OF_STB = [0, 17, 18, 19, 20, 13, 14, 15, 16, 9, 10, 11, 12, 5, 6, 7, 8, 1, 2, 3, 4]
STB_MIDDLE_MCP = 9


def _hand_mm(rng):
    """(21, 3) millimetres around 500 mm in front of the camera, STB order."""
    return np.column_stack([rng.uniform(-60, 60, 21), rng.uniform(-60, 60, 21), rng.uniform(400, 600, 21)])


def make_stb(root, sequences, seed=0):
    """Writes labels and images; returns {(sequence, suffix): (frames, 21, 3) mm} and images."""
    rng = np.random.default_rng(seed)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    labels, images = {}, {}
    for seq in sequences:
        folder = root / "images" / seq
        folder.mkdir(parents=True)
        for suffix in ("BB", "SK"):
            hands = np.stack([_hand_mm(rng) for _ in range(FRAMES)])  # (F, 21, 3)
            hands[1, 4] = (5000.0, 0.0, 500.0)  # frame 1: little tip far off to the right
            labels[(seq, suffix)] = hands
            savemat(str(root / "labels" / f"{seq}_{suffix}.mat"), {"handPara": hands.transpose(2, 1, 0)})
        for prefix in ("BB_left", "BB_right", "SK_color", "SK_depth"):
            for frame in range(FRAMES):
                rgb = np.zeros((H, W, 3), np.uint8)
                rgb[:8, :8] = rng.integers(0, 256, 3, dtype=np.uint8)
                images[(seq, prefix, frame)] = rgb
                assert cv2.imwrite(str(folder / f"{prefix}_{frame}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return labels, images


@pytest.fixture
def stb(tmp_path):
    return (tmp_path,) + make_stb(tmp_path, ["B1Counting", "B1Random"])


def _project(xyz, K):
    return np.column_stack([K[0, 0] * xyz[:, 0] / xyz[:, 2] + K[0, 2], K[1, 1] * xyz[:, 1] / xyz[:, 2] + K[1, 2]])


def test_bb_left_fields_units_and_order(stb):
    root, labels, images = stb
    reader = STBReader(root, "evaluation", wrist_from_palm=False)
    assert len(reader) == 2 * FRAMES
    for index, (seq, frame) in enumerate([("B1Counting", 0), ("B1Counting", 1), ("B1Random", 0), ("B1Random", 1)]):
        sample = validate_sample(reader[index])
        mm = labels[(seq, "BB")][frame]
        expected = np.empty((21, 3))
        expected[PUBLIC_OF_STB] = mm / 1000.0  # millimetres -> metres
        np.testing.assert_allclose(sample["xyz"], expected, rtol=1e-6)
        np.testing.assert_array_equal(sample["image"], images[(seq, "BB_left", frame)])
        np.testing.assert_allclose(sample["K"], BB_K.astype(np.float32))
        np.testing.assert_allclose(sample["uv"], _project(expected, BB_K), rtol=1e-5)
        assert sample["hand_side"] == 0 and sample["mask"] is None and "depth" not in sample
        visible = np.ones(21, bool)
        if frame == 1:
            visible[20] = False  # STB 4 = little tip -> public 20, off the image
        np.testing.assert_array_equal(sample["visible"], visible)


def test_named_points(stb):
    root, labels, _ = stb
    sample = STBReader(root, "evaluation", wrist_from_palm=False)[0]
    mm = labels[("B1Counting", "BB")][0]
    np.testing.assert_allclose(sample["xyz"][1], mm[17] / 1000, rtol=1e-6)  # STB thumb "mcp" -> thumb CMC
    np.testing.assert_allclose(sample["xyz"][4], mm[20] / 1000, rtol=1e-6)  # thumb tip
    np.testing.assert_allclose(sample["xyz"][8], mm[16] / 1000, rtol=1e-6)  # index tip
    np.testing.assert_allclose(sample["xyz"][17], mm[1] / 1000, rtol=1e-6)  # little MCP
    np.testing.assert_allclose(sample["xyz"][0], mm[0] / 1000, rtol=1e-6)  # palm centre kept


def test_palm_to_wrist(stb):
    root, labels, _ = stb
    mm = labels[("B1Counting", "BB")][0]
    palm, middle_mcp = mm[0] / 1000, mm[STB_MIDDLE_MCP] / 1000
    default = STBReader(root, "evaluation")[0]
    np.testing.assert_allclose(default["xyz"][0], 2 * palm - middle_mcp, rtol=1e-6)
    np.testing.assert_allclose(default["xyz"][9], middle_mcp, rtol=1e-6)
    wider = STBReader(root, "evaluation", palm_to_wrist_factor=2.5)[0]
    np.testing.assert_allclose(wider["xyz"][0], middle_mcp + 2.5 * (palm - middle_mcp), rtol=1e-6)
    with pytest.raises(ValueError, match="palm_to_wrist_factor"):
        STBReader(root, "evaluation", palm_to_wrist_factor=0.5)


def test_right_and_sk_cameras(stb):
    root, labels, images = stb
    reader = STBReader(root, "evaluation", cameras=("BB_left", "BB_right", "SK_color"), wrist_from_palm=False)
    assert len(reader) == 3 * 2 * FRAMES
    left, right, sk = reader[0], reader[4], reader[8]  # camera-major order, same frame
    np.testing.assert_allclose(right["xyz"], left["xyz"] - [BASELINE_MM / 1000, 0, 0], atol=1e-6)
    np.testing.assert_array_equal(right["image"], images[("B1Counting", "BB_right", 0)])
    # SK labels are in the depth camera; README: X_depth = R(om) X_colour + T.
    R = Rotation.from_rotvec(SK_OM).as_matrix()
    depth_mm = np.empty((21, 3))
    depth_mm[PUBLIC_OF_STB] = labels[("B1Counting", "SK")][0]
    colour_mm = (R.T @ (depth_mm - SK_T_MM).T).T
    np.testing.assert_allclose(sk["xyz"], colour_mm / 1000, atol=1e-6)
    np.testing.assert_allclose((R @ (sk["xyz"].astype(np.float64) * 1000).T).T + SK_T_MM, depth_mm, atol=1e-3)
    np.testing.assert_allclose(sk["K"], SK_K.astype(np.float32))
    np.testing.assert_allclose(sk["uv"], _project(colour_mm / 1000, SK_K), rtol=1e-5)
    np.testing.assert_array_equal(sk["image"], images[("B1Counting", "SK_color", 0)])
    with pytest.raises(ValueError, match="unknown cameras"):
        STBReader(root, "evaluation", cameras=("SK_depth",))


def test_wrong_root_and_missing_sequence(tmp_path):
    with pytest.raises(DatasetLayoutError) as err:
        STBReader(tmp_path, "evaluation")
    assert "missing labels/B1Counting_BB.mat" in str(err.value) and "STB" in str(err.value)
    make_stb(tmp_path, ["B1Counting", "B1Random"])
    with pytest.raises(DatasetLayoutError, match="missing labels/B2Counting_BB.mat"):
        STBReader(tmp_path, "training")
    only = STBReader(tmp_path, "training", sequences=("B1Random",))
    assert len(only) == FRAMES


def test_bad_label_shape(tmp_path):
    make_stb(tmp_path, ["B1Counting", "B1Random"])
    savemat(str(tmp_path / "labels" / "B1Random_BB.mat"), {"handPara": np.zeros((3, 20, 2))})
    with pytest.raises(DatasetLayoutError, match=r"\(3, 21, frames\)"):
        STBReader(tmp_path, "evaluation")
