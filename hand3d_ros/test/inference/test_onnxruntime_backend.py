"""ONNX Runtime backend: parity with the PyTorch backend, session settings, providers, guards."""
import sys

import numpy as np
import pytest
import torch

from hand3d_ros.inference.backends.base import BackendUnavailable
from hand3d_ros.inference.backends.torch_backend import TorchBackend
from hand3d_ros.inference.model_set import random_model_set
from hand3d_ros.inference.pipeline import HandPosePipeline
from hand3d_ros.inference.synthetic import synthetic_hand_frames

ort = pytest.importorskip("onnxruntime")
from hand3d_ros.inference.backends import onnxruntime_backend as orb  # noqa: E402

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def lite():
    torch.set_num_threads(1)
    return random_model_set("lite", seed=5)


@pytest.fixture(scope="module")
def backends(lite, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return TorchBackend(lite, "cpu"), orb.OnnxRuntimeBackend(lite, "cpu", cache_dir=str(cache), num_threads=1), cache


def test_networks_match_torch(backends, lite):
    torch_backend, ort_backend, _ = backends
    generator = torch.Generator().manual_seed(0)
    images = torch.rand((3, 3) + lite.seg_input_hw, generator=generator) - 0.5
    crops = torch.rand((3, 3, lite.crop_size, lite.crop_size), generator=generator) - 0.5
    maps = torch.rand((5, 21, lite.map_size, lite.map_size), generator=generator)
    sides = torch.nn.functional.one_hot(torch.tensor([0, 1, 1, 0, 1]), 2).float()

    logits = ort_backend.handsegnet(images)
    assert logits.shape == (3, 2) + lite.seg_input_hw and logits.dtype == torch.float32
    assert (logits - torch_backend.handsegnet(images)).abs().max() < TOLERANCE
    score_maps, side_logits, _ = ort_backend.posenet(crops)
    ref_maps, ref_side, _ = torch_backend.posenet(crops)
    assert score_maps.shape == (3, 21, lite.map_size, lite.map_size) and side_logits.shape == (3, 2)
    assert (score_maps - ref_maps).abs().max() < TOLERANCE
    assert (side_logits - ref_side).abs().max() < TOLERANCE
    w_c, rotation = ort_backend.poseprior(maps, sides)
    ref_w_c, ref_rotation = torch_backend.poseprior(maps, sides)
    assert w_c.shape == (5, 21, 3) and rotation.shape == (5, 3, 3)
    assert (w_c - ref_w_c).abs().max() < TOLERANCE and (rotation - ref_rotation).abs().max() < TOLERANCE
    # the output shapes used for I/O binding agree with what the sessions return
    assert orb.output_shapes("posenet", 3, [crops], ["score_maps"]) == [tuple(score_maps.shape)]
    assert orb.output_shapes("poseprior", 5, [maps, sides], ["w_c", "rotation", "axis_angle"]) == \
        [(5, 21, 3), (5, 3, 3), (5, 3)]
    assert orb.output_shapes("handsegnet", 3, [images], ["hand_logits"]) == [tuple(logits.shape)]


def test_pipeline_results_match_torch(backends, lite):
    torch_backend, ort_backend, _ = backends
    frame = synthetic_hand_frames(1, 120, 160, seed=7)[0]
    boxes = [[40.0, 20.0, 120.0, 100.0]]
    want = HandPosePipeline(torch_backend, lite).pose_in_boxes(frame, boxes).hands[0]
    got = HandPosePipeline(ort_backend, lite).pose_in_boxes(frame, boxes).hands[0]
    np.testing.assert_allclose(got.w_rel, want.w_rel, atol=1e-4)
    np.testing.assert_allclose(got.R, want.R, atol=1e-4)
    assert np.abs(got.uv - want.uv).max() < 1e-2  # sub-pixel decoding of nearly equal maps
    assert got.hand_side == want.hand_side


def test_session_settings(backends):
    _, ort_backend, _ = backends
    assert ort_backend.name == "onnxruntime-cpu" and ort_backend.provider == orb.CPU_EP
    assert ort_backend.describe() == "onnxruntime-cpu (fp32, 1 thread)"
    for session in ort_backend.sessions.values():
        options = session.get_session_options()
        assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
        assert options.enable_mem_pattern and options.enable_cpu_mem_arena
        assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        assert session.get_providers() == [orb.CPU_EP]


def test_exported_graphs_are_cached(backends, lite):
    _, first, cache = backends
    second = orb.OnnxRuntimeBackend(lite, "cpu", cache_dir=str(cache), num_threads=1)
    assert all(graph.reused for graph in second.graphs.values())
    assert {g.path for g in second.graphs.values()} == {g.path for g in first.graphs.values()}
    assert all(path.parent == cache / "onnx" for path in (g.path for g in second.graphs.values()))


def test_cuda_provider_choice(tmp_path):
    settings = orb.OrtSettings()
    with pytest.raises(BackendUnavailable, match="no CUDA execution provider.*onnxruntime-gpu"):
        orb.cuda_providers([orb.CPU_EP], 0, "fp32", str(tmp_path), settings)
    plain = orb.cuda_providers([orb.CUDA_EP, orb.CPU_EP], 1, "fp32", str(tmp_path), settings)
    assert [name for name, _ in plain] == [orb.CUDA_EP, orb.CPU_EP] and plain[0][1]["device_id"] == 1
    with pytest.raises(BackendUnavailable, match="fp16 needs the TensorRT"):
        orb.cuda_providers([orb.CUDA_EP, orb.CPU_EP], 0, "fp16", str(tmp_path), settings)
    full = orb.cuda_providers([orb.TENSORRT_EP, orb.CUDA_EP, orb.CPU_EP], 0, "fp16", str(tmp_path), settings)
    assert [name for name, _ in full] == [orb.TENSORRT_EP, orb.CUDA_EP, orb.CPU_EP]
    assert full[0][1]["trt_fp16_enable"] and full[0][1]["trt_engine_cache_path"] == str(tmp_path / "ort-tensorrt")
    no_trt = orb.cuda_providers([orb.TENSORRT_EP, orb.CUDA_EP], 0, "fp32", str(tmp_path),
                                orb.OrtSettings(enable_tensorrt_ep=False))
    assert [name for name, _ in no_trt] == [orb.CUDA_EP, orb.CPU_EP]


@pytest.mark.skipif(orb.CUDA_EP in ort.get_available_providers(), reason="this onnxruntime has the CUDA EP")
def test_cuda_without_cuda_provider_is_one_clear_line(lite, tmp_path):
    with pytest.raises(BackendUnavailable) as info:
        orb.OnnxRuntimeBackend(lite, "cuda", cache_dir=str(tmp_path))
    assert "CUDA execution provider" in str(info.value) and "\n" not in str(info.value)


def test_unsupported_precision_and_device(lite, tmp_path):
    with pytest.raises(BackendUnavailable, match="precision 'bf16'"):
        orb.OnnxRuntimeBackend(lite, "cpu", precision="bf16", cache_dir=str(tmp_path))
    with pytest.raises(BackendUnavailable, match="unknown device"):
        orb.OnnxRuntimeBackend(lite, "mps", cache_dir=str(tmp_path))


def test_missing_onnxruntime_is_backend_unavailable(lite, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    with pytest.raises(BackendUnavailable, match="onnxruntime is not installed.*pip install onnxruntime"):
        orb.OnnxRuntimeBackend(lite, "cpu", cache_dir=str(tmp_path))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or orb.CUDA_EP not in ort.get_available_providers(),
                    reason="needs a CUDA GPU and onnxruntime-gpu")
def test_cuda_io_binding_matches_torch(lite, tmp_path):
    gpu = orb.OnnxRuntimeBackend(lite, "cuda", cache_dir=str(tmp_path), settings=orb.OrtSettings(enable_tensorrt_ep=False))
    reference = TorchBackend(random_model_set("lite", seed=5), "cpu")
    crops = torch.rand((2, 3, lite.crop_size, lite.crop_size)) - 0.5
    maps, side, _ = gpu.posenet(crops.cuda())
    ref_maps, ref_side, _ = reference.posenet(crops)
    assert maps.is_cuda and side.is_cuda
    assert (maps.cpu() - ref_maps).abs().max() < 1e-3 and (side.cpu() - ref_side).abs().max() < 1e-3
    sides = torch.eye(2).cuda()
    w_c, rotation = gpu.poseprior(maps, sides)
    ref_w_c, ref_rotation = reference.poseprior(maps.cpu(), sides.cpu())
    assert (w_c.cpu() - ref_w_c).abs().max() < 1e-3 and (rotation.cpu() - ref_rotation).abs().max() < 1e-3


def test_a_hand_head_is_a_graph_output_that_matches_torch_and_reaches_the_hands(lite, tmp_path):
    """PoseNet with a hand head: the exported graph gives ``hand_logit`` (FP32 and INT8),
    equal to torch's; the pipeline reports it per hand, and a hand confidence that reads it
    scores with it."""
    import dataclasses

    from hand3d_ros.core.hand_confidence import HandConfidence
    from hand3d_ros.models.layers import make_layers
    from hand3d_ros.training.configs import HandHeadConfig
    from hand3d_ros.training.hand_head import with_hand_head

    config = HandHeadConfig(hidden=8)
    posenet = lite.networks["posenet"]
    width = posenet.head_features(torch.zeros(1, 3, lite.crop_size, lite.crop_size)).shape[1]
    torch.manual_seed(3)
    head, _ = make_layers(config.table(), width, 1.0)
    with_head = dataclasses.replace(lite, networks={**lite.networks, "posenet": with_hand_head(posenet, head.eval(),
                                                                                              config)})
    crops = torch.rand((4, 3, lite.crop_size, lite.crop_size), generator=torch.Generator().manual_seed(1)) - 0.5
    reference = TorchBackend(with_head, "cpu")
    ref_maps, ref_side, ref_hand = reference.posenet(crops)
    assert ref_hand.shape == (4, 1)
    fp32 = orb.OnnxRuntimeBackend(with_head, "cpu", cache_dir=str(tmp_path), num_threads=1)
    maps, side, hand = fp32.posenet(crops)
    assert (hand - ref_hand).abs().max() < TOLERANCE and (maps - ref_maps).abs().max() < TOLERANCE
    assert "hand_logit" in fp32.graphs["posenet"].signature.outputs
    assert orb.output_shapes("posenet", 4, [crops], ["score_maps", "hand_side_logits", "hand_logit"])[2] == (4, 1)

    pipeline = HandPosePipeline(reference, with_head)
    rgb = synthetic_hand_frames(1, 120, 160, seed=2)[0]
    boxes = [[10, 10, 70, 70], [60, 40, 150, 110]]
    hands = pipeline.pose_in_boxes(rgb, boxes, peaks=[0.9, 0.6]).hands
    assert len(hands) == 2 and all(np.isfinite(h.hand_logit) for h in hands)
    confidence = HandConfidence(keypoint_scale=2.0, peak_scale=1.0, bias=-1.0, hand_scale=0.5)
    pipeline.hand_confidences = {False: confidence, True: confidence}
    for hand in pipeline.pose_in_boxes(rgb, boxes, peaks=[0.9, 0.6]).hands:
        expected = confidence.probability(np.mean(hand.uv_score), hand.peak, hand.hand_logit)
        assert hand.score == pytest.approx(float(expected), abs=1e-5)
    # a hand confidence that reads a head the PoseNet lacks is refused when the pipeline is made
    entry = {"detection": {"hand_confidence": confidence.to_entry(), "min_hand_score": 0.2}}
    metadata = {**lite.metadata, "posenet": {**lite.metadata.get("posenet", {}), "calibration": entry}}
    with pytest.raises(ValueError, match="hand head"):
        HandPosePipeline(TorchBackend(lite, "cpu"), dataclasses.replace(lite, metadata=metadata))
