"""ONNX export: names, dynamic batch, metadata, cache keys, parity with PyTorch on real inputs."""
import os

import pytest
import torch

from hand3d_ros import cli
from hand3d_ros.inference import export
from hand3d_ros.inference.model_set import random_model_set
from hand3d_ros.inference.synthetic import synthetic_hand_frames
from hand3d_ros.models import tensor_sha256

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def lite():
    torch.set_num_threads(1)
    return random_model_set("lite", seed=3)


@pytest.fixture(scope="module")
def graphs(lite, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    return export.export_model_set(lite, out_dir=folder, all_stages=True)


EXPECTED = {
    "handsegnet": (["image"], ["hand_logits"]),
    "posenet": (["crop"], ["score_maps", "hand_side_logits"]),
    "poseprior": (["score_maps", "hand_side"], ["w_c", "rotation", "axis_angle"]),
    "posenet-stages": (["crop"], ["score_maps", "hand_side_logits", "score_maps_stage0", "score_maps_stage1"]),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_graph_names_batch_axis_and_checker(graphs, lite, name):
    graph = graphs[name]
    model = onnx.load(str(graph.path))
    onnx.checker.check_model(model)
    inputs, outputs = EXPECTED[name]
    assert [i.name for i in model.graph.input] == inputs
    assert [o.name for o in model.graph.output] == outputs
    for value in list(model.graph.input) + list(model.graph.output):
        assert value.type.tensor_type.shape.dim[0].dim_param == export.BATCH_AXIS, value.name
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    sha = tensor_sha256(lite.networks[graph.network].state_dict())
    assert graph.path.name == f"{name}-lite-w{sha[:8]}-{graph.key[:export.NAME_KEY_CHARS]}.onnx"


def test_metadata_props(graphs, lite):
    meta = export.read_metadata(graphs["posenet"].path)
    assert meta["network"] == "posenet" and meta["config"] == "lite"
    assert meta["weights_sha256"] == tensor_sha256(lite.networks["posenet"].state_dict())
    assert meta["cache_key"] == graphs["posenet"].key
    assert meta["input_shapes"] == {"crop": ["batch", 3, 128, 128]}
    assert meta["input_size"] == [128, 128]
    assert meta["preprocessing"]["scale"] == pytest.approx(1 / 255) and meta["preprocessing"]["offset"] == -0.5
    assert meta["keypoint_order"][0] == "wrist" and len(meta["keypoint_order"]) == 21
    assert meta["opset"] == 17 and meta["random_weights"] is True
    seg = export.read_metadata(graphs["handsegnet"].path)
    assert seg["input_shapes"] == {"image": ["batch", 3, 120, 160]} and seg["keypoint_order"] == []
    prior = export.read_metadata(graphs["poseprior"].path)
    assert prior["input_shapes"]["score_maps"] == ["batch", 21, 16, 16]
    assert prior["output_names"] == ["w_c", "rotation", "axis_angle"]


def test_reuse_force_and_new_weights(lite, tmp_path):
    first = export.export_network(lite, "poseprior", tmp_path)
    assert not first.reused
    stamp = os.stat(first.path).st_mtime_ns
    again = export.export_network(lite, "poseprior", tmp_path)
    assert again.reused and again.path == first.path and os.stat(again.path).st_mtime_ns == stamp
    forced = export.export_network(lite, "poseprior", tmp_path, force=True)
    assert not forced.reused and forced.path == first.path

    other = random_model_set("lite", seed=4)  # other weights: another key, another file
    changed = export.export_network(other, "poseprior", tmp_path)
    assert changed.path != first.path and not changed.reused
    newer_opset = export.export_network(lite, "poseprior", tmp_path, opset=18)
    assert newer_opset.path != first.path and newer_opset.metadata["opset"] == 18
    # a damaged file under the right name is exported again
    first.path.write_bytes(b"not onnx")
    repaired = export.export_network(lite, "poseprior", tmp_path)
    assert not repaired.reused and export.read_metadata(repaired.path)["cache_key"] == first.key
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".onnx"] * 3  # no temp files left


def test_bad_requests(lite, tmp_path):
    with pytest.raises(ValueError, match="opset"):
        export.export_network(lite, "posenet", tmp_path, opset=16)
    with pytest.raises(ValueError, match="posenet only"):
        export.export_network(lite, "handsegnet", tmp_path, all_stages=True)
    with pytest.raises(ValueError, match="unknown network"):
        export.graph_signature("gesturenet")


def test_cache_dir_default(lite, tmp_path, monkeypatch):
    monkeypatch.setenv("HAND3D_CACHE_DIR", str(tmp_path))
    graphs = export.export_model_set(lite, networks=("poseprior",))
    assert graphs["poseprior"].path.parent == tmp_path / "onnx"


def test_captured_inputs_are_the_pipelines(lite):
    frames = synthetic_hand_frames(2, 96, 128, seed=1)
    calls = export.capture_network_inputs(lite, frames)
    (images,) = calls["handsegnet"][0]
    assert images.shape == (2, 3, 120, 160)
    # normalised like the pipeline: rgb / 255 - 0.5
    assert -0.5 - 1e-6 <= float(images.min()) and float(images.max()) <= 0.5 + 1e-6
    crops = calls["posenet"][-1][0]
    assert crops.shape == (2, 3, 128, 128)  # two tracking boxes
    maps, sides = calls["poseprior"][-1]
    assert maps.shape == (4, 21, 16, 16) and sides.shape == (4, 2)  # both sides of both hands
    assert torch.equal(sides.sum(dim=1), torch.ones(4))


def test_parity_with_pytorch_below_tolerance(lite, graphs):
    frames = synthetic_hand_frames(2, 120, 160, seed=2)
    results = export.parity_check(lite, graphs, frames, num_threads=1)
    outputs = {(r.network, r.output) for r in results}
    assert outputs == {(name, out) for name, (_, outs) in EXPECTED.items() for out in outs}
    assert {r.batch for r in results if r.network == "poseprior"} >= {4}  # dynamic batch exercised
    worst = max(r.max_abs_error for r in results)
    assert worst < export.PARITY_TOLERANCE, export.format_parity(results)
    assert all(r.ok for r in results)
    table = export.format_parity(results)
    assert "hand_logits" in table and "NO" not in table


def test_parity_catches_a_wrong_graph(lite, graphs):
    """The check is not vacuous: a graph from other weights fails it."""
    other = random_model_set("lite", seed=99)
    frames = synthetic_hand_frames(1, 120, 160, seed=2)
    results = export.parity_check(other, {"poseprior": graphs["poseprior"]}, frames, num_threads=1)
    assert not all(r.ok for r in results)


def test_export_command(tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["export", "--config", "lite", "--random-weights", "--out", str(out), "--parity-frames", "1"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert sorted(p.name.split("-")[0] for p in out.glob("*.onnx")) == ["handsegnet", "posenet", "poseprior"]
    assert "max |onnx - torch|" in printed and "hand_logits" in printed
    assert cli.main(["export", "--config", "lite", "--random-weights", "--out", str(out), "--parity-frames", "0"]) == 0
    assert "kept (same key)" in capsys.readouterr().out


def test_export_command_failures(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HAND3D_DEFAULT_WEIGHTS", str(tmp_path / "none"))
    assert cli.main(["export", "--config", "lite", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hand3d export: no weights") and err.count("\n") == 1
    assert cli.main(["export", "--random-weights", "--opset", "13", "--out", str(tmp_path)]) == 1
    assert "opset" in capsys.readouterr().err
