"""TensorRT backend: the pure parts everywhere; engines only where TensorRT and a CUDA GPU exist."""
import importlib.util
import sys

import numpy as np
import pytest
import torch

from hand3d_ros.inference import engine_cache
from hand3d_ros.inference.backends import tensorrt_backend as trb
from hand3d_ros.inference.backends.base import BackendUnavailable
from hand3d_ros.inference.model_set import random_model_set

HAVE_TENSORRT = importlib.util.find_spec("tensorrt") is not None


@pytest.fixture(scope="module")
def lite():
    torch.set_num_threads(1)
    return random_model_set("lite", seed=11)


def test_missing_tensorrt_is_one_clear_line(lite, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError, here and anywhere
    with pytest.raises(BackendUnavailable) as info:
        trb.TensorRTBackend(lite, precision="fp16")
    message = str(info.value)
    assert message.startswith("TensorRT is not installed") and "\n" not in message


def test_unknown_precision_fails_before_importing(lite):
    with pytest.raises(BackendUnavailable, match="precision 'bf16'"):
        trb.TensorRTBackend(lite, precision="bf16")


def test_tensorrt_version_check():
    for old in ("8.6.1", "9.3.0", "", "x.1"):
        with pytest.raises(BackendUnavailable, match="too old or unknown"):
            trb.check_tensorrt_version(old)
    for good in ("10.0.1", "10.3.0.26", "11.4.1"):
        trb.check_tensorrt_version(good)


def test_profile_shapes():
    shapes = trb.profile_shapes({"score_maps": (21, 16, 16), "hand_side": (2,)}, trb.BatchLimits(opt=2, max=32))
    assert shapes == {"score_maps": ((1, 21, 16, 16), (2, 21, 16, 16), (32, 21, 16, 16)),
                      "hand_side": ((1, 2), (2, 2), (32, 2))}
    with pytest.raises(ValueError):
        trb.BatchLimits(opt=0, max=4)
    with pytest.raises(ValueError):
        trb.BatchLimits(opt=8, max=4)
    settings = trb.TensorRTSettings()
    assert settings.limits("poseprior").opt == 2  # automatic handedness lifts both sides
    assert settings.limits("handsegnet").max >= 1


def test_profile_shapes_feed_the_cache_key(lite):
    from hand3d_ros.inference.export import sample_input_shapes

    def key(limits):
        shapes = trb.profile_shapes(sample_input_shapes(lite, "handsegnet"), limits)
        return engine_cache.EngineKey("handsegnet", "00" * 32, "10.3.0", "GPU", (8, 9), "fp16", shapes)

    small, large = key(trb.BatchLimits(1, 8)), key(trb.BatchLimits(1, 16))
    assert small.as_dict()["profile_shapes"]["image"] == [[1, 3, 120, 160], [1, 3, 120, 160], [8, 3, 120, 160]]
    assert small.digest() != large.digest()


@pytest.mark.parametrize("total,max_batch,expected", [
    (0, 4, []),
    (3, 4, [(0, 3)]),
    (8, 4, [(0, 4), (4, 8)]),
    (9, 4, [(0, 4), (4, 8), (8, 9)]),
    (5, 1, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]),
])
def test_batch_chunks(total, max_batch, expected):
    assert trb.batch_chunks(total, max_batch) == expected


def test_batch_chunks_rejects_zero():
    with pytest.raises(ValueError):
        trb.batch_chunks(3, 0)


def test_check_input_shape():
    shapes = ((1, 3, 8, 8), (2, 3, 8, 8), (4, 3, 8, 8))
    trb.check_input_shape("crop", (4, 3, 8, 8), shapes)
    trb.check_input_shape("crop", (1, 3, 8, 8), shapes)
    for bad in [(5, 3, 8, 8), (0, 3, 8, 8), (2, 3, 9, 8), (2, 3, 8)]:
        with pytest.raises(ValueError, match="outside the engine's profile"):
            trb.check_input_shape("crop", bad, shapes)


def test_calibration_batches_wrap_and_cover_every_sample():
    samples = {"score_maps": np.arange(10, dtype=np.float64).reshape(10, 1) * np.ones((10, 3)),
               "hand_side": np.eye(2)[np.arange(10) % 2]}
    batches = trb.calibration_batches(samples, 4)
    assert len(batches) == 3
    assert all(b["score_maps"].shape == (4, 3) and b["hand_side"].shape == (4, 2) for b in batches)
    assert all(b["score_maps"].dtype == np.float32 and b["score_maps"].flags.c_contiguous for b in batches)
    seen = np.concatenate([b["score_maps"][:, 0] for b in batches])
    np.testing.assert_array_equal(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])  # the last batch wraps around
    # inputs stay paired
    for b in batches:
        np.testing.assert_array_equal(b["hand_side"][:, 1], b["score_maps"][:, 0] % 2)
    few = trb.calibration_batches({"image": np.ones((2, 3))}, 5)
    assert len(few) == 1 and few[0]["image"].shape == (5, 3)


def test_calibration_batches_errors():
    with pytest.raises(ValueError):
        trb.calibration_batches({"a": np.ones((3, 1)), "b": np.ones((4, 1))}, 2)
    with pytest.raises(ValueError):
        trb.calibration_batches({"a": np.ones((0, 1))}, 2)
    with pytest.raises(ValueError):
        trb.calibration_batches({"a": np.ones((3, 1))}, 0)


def test_calibration_samples_from_the_pipeline(lite):
    from hand3d_ros.inference.export import capture_network_inputs
    from hand3d_ros.inference.synthetic import synthetic_hand_frames

    captured = capture_network_inputs(lite, synthetic_hand_frames(2, 96, 128, seed=3))
    images = trb.calibration_samples(captured, "handsegnet", ["image"])
    assert images["image"].shape == (2, 3, 120, 160) and images["image"].dtype == np.float32
    prior = trb.calibration_samples(captured, "poseprior", ["score_maps", "hand_side"])
    assert prior["score_maps"].shape[0] == prior["hand_side"].shape[0] >= 4
    digest = trb.arrays_sha256(prior)
    assert digest == trb.arrays_sha256(dict(prior))
    changed = dict(prior, hand_side=prior["hand_side"][:, ::-1].copy())  # sides swapped
    assert trb.arrays_sha256(changed) != digest
    with pytest.raises(ValueError, match="no calibration inputs"):
        trb.calibration_samples({"posenet": []}, "posenet", ["crop"])


# ------------------------------------------------------------------ on a GPU with TensorRT
gpu = pytest.mark.skipif(not (HAVE_TENSORRT and torch.cuda.is_available()), reason="needs TensorRT 10 and a CUDA GPU")


@pytest.mark.gpu
@gpu
def test_fp32_engines_match_torch_and_are_cached(lite, tmp_path):
    from hand3d_ros.inference.backends.torch_backend import TorchBackend

    lines = []
    backend = trb.TensorRTBackend(lite, precision="fp32", cache_dir=str(tmp_path), log=lines.append)
    assert sum("building" in line for line in lines) == 3
    reference = TorchBackend(random_model_set("lite", seed=11), "cpu")
    images = torch.rand((2, 3) + lite.seg_input_hw) - 0.5
    assert (backend.handsegnet(images.cuda()).cpu() - reference.handsegnet(images)).abs().max() < 1e-3
    crops = torch.rand((20, 3, lite.crop_size, lite.crop_size)) - 0.5  # > max batch 16: chunked
    maps, side, _ = backend.posenet(crops.cuda())
    ref_maps, ref_side, _ = reference.posenet(crops)
    assert maps.shape == (20, 21, lite.map_size, lite.map_size) and maps.is_cuda and side.shape == (20, 2)
    assert (maps.cpu() - ref_maps).abs().max() < 1e-3 and (side.cpu() - ref_side).abs().max() < 1e-3
    sides = torch.nn.functional.one_hot(torch.arange(20) % 2, 2).float()
    w_c, rotation = backend.poseprior(maps, sides.cuda())
    ref_w_c, ref_rotation = reference.poseprior(maps.cpu(), sides)
    assert (w_c.cpu() - ref_w_c).abs().max() < 1e-3 and (rotation.cpu() - ref_rotation).abs().max() < 1e-3

    lines.clear()
    trb.TensorRTBackend(lite, precision="fp32", cache_dir=str(tmp_path), log=lines.append)
    assert sum("from cache" in line for line in lines) == 3
    lines.clear()
    trb.TensorRTBackend(lite, precision="fp32", cache_dir=str(tmp_path), force_rebuild=True, log=lines.append)
    assert sum("rebuild forced" in line for line in lines) == 3


@pytest.mark.gpu
@gpu
def test_fp16_and_int8_engines_run(lite, tmp_path):
    from hand3d_ros.inference.synthetic import synthetic_hand_frames

    crops = (torch.rand((3, 3, lite.crop_size, lite.crop_size)) - 0.5).cuda()
    fp32, _, _ = trb.TensorRTBackend(lite, precision="fp32", cache_dir=str(tmp_path), log=lambda _: None).posenet(crops)
    fp16, _, _ = trb.TensorRTBackend(lite, precision="fp16", cache_dir=str(tmp_path), log=lambda _: None).posenet(crops)
    assert torch.isfinite(fp16).all()
    assert (fp16 - fp32).abs().max() <= 0.05 * fp32.abs().max() + 1e-3
    frames = synthetic_hand_frames(16, 120, 160, seed=1)
    int8 = trb.TensorRTBackend(lite, precision="int8", cache_dir=str(tmp_path), calibration_frames=frames,
                               log=lambda _: None)
    assert torch.isfinite(int8.posenet(crops)[0]).all()
