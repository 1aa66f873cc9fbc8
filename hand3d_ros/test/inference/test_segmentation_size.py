"""HandSegNet reading another frame size than its weights' (``segmentation_size``): the
model set, the exported graphs (cached per size), the pipeline on a real ONNX Runtime
session, the command line and the node's parameters."""
import numpy as np
import pytest
import torch

from hand3d_ros.cli import main
from hand3d_ros.inference import export
from hand3d_ros.inference.estimator import build_estimator, segmentation_hw_from_params
from hand3d_ros.inference.model_set import random_model_set
from hand3d_ros.inference.pipeline import HandPosePipeline, PipelineConfig
from hand3d_ros.inference.synthetic import synthetic_hand_frames
from hand3d_ros.ros import params as node_params

pytest.importorskip("onnxruntime")
from hand3d_ros.inference.backends import onnxruntime_backend as orb  # noqa: E402


@pytest.fixture(scope="module")
def lite():
    torch.set_num_threads(1)
    return random_model_set("lite", seed=5)


def test_model_set_reads_the_chosen_size_and_says_so(lite):
    own = lite.seg_input_hw
    bigger = lite.with_segmentation_size((160, 224))
    assert bigger.seg_input_hw == (160, 224) and lite.seg_input_hw == own  # a copy; the original keeps its size
    assert bigger.name.endswith("HandSegNet reads 224x160") and bigger.networks is lite.networks
    back = bigger.with_segmentation_size(None)
    assert back.seg_input_hw == own and back.name == lite.name
    assert lite.with_segmentation_size(own).segmentation_hw is None  # the weights' own size is no override
    for bad in ((161, 224), (160, 32), (4000, 224), "big"):
        with pytest.raises(ValueError, match="segmentation size"):
            lite.with_segmentation_size(bad)


def test_calibration_is_looked_up_for_the_chosen_size(lite):
    """A calibration fitted at HandSegNet's chosen size wins; else the other flip_test
    mode's at that size, else the weights' own size's."""
    from dataclasses import replace

    from hand3d_ros.inference.backends.torch_backend import TorchBackend
    from hand3d_ros.inference.estimator import HandEstimator
    from hand3d_ros.inference.pipeline import calibration_key, detection_calibration

    assert calibration_key("detection", True, (288, 384)) == "detection@384x288_flip_test"
    assert calibration_key("side", False) == "side"
    entries = {"detection": {"detection_threshold": 0.5, "min_hand_score": 0.2},
               "detection_flip_test": {"detection_threshold": 0.45, "min_hand_score": 0.14},
               "detection@384x288": {"detection_threshold": 0.6, "min_hand_score": 0.3}}
    metadata = {**lite.metadata, "posenet": {**lite.metadata["posenet"], "calibration": entries}}
    assert detection_calibration(metadata, False)["min_hand_score"] == 0.2
    assert detection_calibration(metadata, True)["min_hand_score"] == 0.14
    assert detection_calibration(metadata, False, (288, 384))["min_hand_score"] == 0.3
    assert detection_calibration(metadata, True, (288, 384))["min_hand_score"] == 0.3  # the size first
    assert detection_calibration(metadata, True, (336, 448))["min_hand_score"] == 0.14  # no fit at that size
    own = replace(lite, metadata=metadata)
    for hw, threshold, gate in ((None, 0.5, 0.2), ((288, 384), 0.6, 0.3), ((336, 448), 0.5, 0.2)):
        model_set = own.with_segmentation_size(hw)
        estimator = HandEstimator(HandPosePipeline(TorchBackend(model_set), model_set, PipelineConfig()))
        assert estimator.pipeline.detection_threshold == threshold
        assert estimator.weights_gates(False)["min_hand_score"] == gate


def test_graphs_are_exported_and_cached_per_size(lite, tmp_path):
    own = export.export_network(lite, "handsegnet", tmp_path)
    bigger = export.export_network(lite.with_segmentation_size((160, 224)), "handsegnet", tmp_path)
    assert bigger.path != own.path and bigger.key != own.key
    assert export.read_metadata(bigger.path)["input_shapes"] == {"image": ["batch", 3, 160, 224]}
    # PoseNet does not depend on HandSegNet's size: the same graph
    assert (export.export_network(lite.with_segmentation_size((160, 224)), "posenet", tmp_path).key
            == export.export_network(lite, "posenet", tmp_path).key)


def test_pipeline_runs_onnxruntime_at_the_chosen_size(lite, tmp_path):
    frames = synthetic_hand_frames(2, 240, 320)
    model_set = lite.with_segmentation_size((176, 232))
    backend = orb.OnnxRuntimeBackend(model_set, "cpu", cache_dir=str(tmp_path), num_threads=1)
    pipeline = HandPosePipeline(backend, model_set, PipelineConfig(detection_threshold=0.01))
    results = pipeline(frames, keep_mask=True)
    assert [r.hand_prob.shape for r in results] == [(176, 232)] * 2
    assert all(r.mask.shape == (240, 320) for r in results)


def test_command_line_size_is_checked(capsys, tmp_path):
    image = tmp_path / "frame.npy"
    np.save(image, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(SystemExit) as exit_info:
        main(["infer", str(image), "--segmentation-size", "300x200"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--segmentation-size 300x200: both sides must be >= 64 and <= 1920 and a multiple of 8" in err[0]


def test_node_parameters_choose_the_size():
    defaults = {p.name: p.default for p in node_params.PARAMS}
    assert segmentation_hw_from_params(defaults) is None
    assert node_params.validate_all(defaults) is None
    chosen = {**defaults, "segmentation_width": 384, "segmentation_height": 288}
    assert node_params.validate_all(chosen) is None and segmentation_hw_from_params(chosen) == (288, 384)
    for width, height in ((384, 0), (385, 288), (384, 32)):
        reason = node_params.validate_all({**defaults, "segmentation_width": width, "segmentation_height": height})
        assert reason and "multiples of 8" in reason
    assert "read-only" in node_params.validate("segmentation_width", 384)
    estimator = build_estimator({**chosen, "allow_random_weights": True, "backend": "torch"}, log=lambda *_: None)
    assert estimator.pipeline.seg_hw == (288, 384)
