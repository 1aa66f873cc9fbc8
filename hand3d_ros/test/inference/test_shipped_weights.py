"""The weights the package ships: present, self-describing, small, and they find and pose
hands in held-out renders (the real renderer, a split and seed no training run used)."""
import numpy as np
import pytest
import torch

from hand3d_ros.core.keypoints import KEYPOINT_NAMES
from hand3d_ros.inference.backends.torch_backend import TorchBackend
from hand3d_ros.inference.model_set import NETWORK_FILES, SHIPPED_WEIGHTS_DIR, load_model_set
from hand3d_ros.inference.pipeline import HandPosePipeline, PipelineConfig

LITE = SHIPPED_WEIGHTS_DIR / "lite"
#: The issue's budget for the committed weights.
MAX_TOTAL_BYTES = 25 * 1024 * 1024
#: Held-out frames: the renderer's "test" split (other photos and seed stream than
#: training and validation) with a seed no shipped run used.
NUM_FRAMES, TEST_SEED = 12, 4242
#: Bound on the median 2D error of the full pipeline on those frames, pixels.
MEDIAN_2D_ERROR_MAX_PX = 25.0



@pytest.fixture(scope="module")
def shipped():
    return load_model_set(LITE)


@pytest.fixture(scope="module")
def held_out_frames():
    from hand3d_ros.data.render.assets import resolve_asset_dir
    from hand3d_ros.data.render.scene import HandRenderer, RenderConfig

    renderer = HandRenderer(RenderConfig(split="test"), str(resolve_asset_dir(None)))
    return [renderer.sample(TEST_SEED, i) for i in range(NUM_FRAMES)]


def test_the_lite_weights_ship_small_and_self_describing(shipped):
    sizes = [(LITE / name).stat().st_size for name in NETWORK_FILES.values()]
    assert sum(sizes) <= MAX_TOTAL_BYTES
    assert not shipped.random and shipped.config_name == "lite"
    for network in NETWORK_FILES:
        meta = shipped.metadata[network]
        assert meta["training"]["steps_done"] > 0 and meta["sha256"]
        if network != "handsegnet":
            assert list(meta["keypoint_order"]) == list(KEYPOINT_NAMES)
    assert shipped.networks["posenet"].has_side_head


def test_they_find_and_pose_held_out_rendered_hands(shipped, held_out_frames):
    torch.manual_seed(0)
    pipeline = HandPosePipeline(TorchBackend(shipped, "cpu"), shipped, PipelineConfig(max_hands=1))
    errors, found = [], 0
    for sample in held_out_frames:
        result = pipeline(sample["image"])
        if not result.hands:
            continue
        found += 1
        hand = result.hands[0]
        visible = np.asarray(sample["visible"], bool)
        errors.append(np.linalg.norm(hand.uv - sample["uv"], axis=1)[visible])
        assert 0.0 <= hand.p_right <= 1.0 and np.all(np.isfinite(hand.w_rel))
    assert found >= 0.75 * NUM_FRAMES, f"hands found in {found} of {NUM_FRAMES} frames"
    median_px = float(np.median(np.concatenate(errors)))
    # random weights land 60+ px off on these 320x320 frames; see README (Shipped weights)
    assert median_px < MEDIAN_2D_ERROR_MAX_PX, f"median 2D error {median_px:.1f} px"
    # (the hand side is not asserted: from single images it is barely above chance with
    # these weights; README, Limitations)
