"""Weight files: round trip, hash, one clear message per problem."""
import pickle

import pytest
import torch

from hand3d_ros.core.keypoints import KEYPOINT_NAMES
from hand3d_ros.models import (
    PosePrior,
    WeightsError,
    build_handsegnet,
    build_poseprior,
    load_state_into,
    load_weights,
    read_weights,
    save_weights,
    tensor_sha256,
)
from hand3d_ros.models.weights import FORMAT, FORMAT_VERSION, check_state_dict

TRAINING = {"data": "render-v1", "steps": 1200, "schedule": {"lr": [1e-4, 1e-5]}}


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = build_poseprior("lite", width=0.5)
    path = tmp_path / "sub" / "poseprior.pt"
    digest = save_weights(path, model, {"training": TRAINING})
    return model, path, digest


def test_round_trip_rebuilds_from_the_file_alone(saved):
    model, path, digest = saved
    loaded, meta = load_weights(path)
    assert isinstance(loaded, PosePrior) and not loaded.training
    assert meta["format"] == FORMAT and meta["format_version"] == FORMAT_VERSION
    assert meta["network"] == "poseprior" and meta["config"] == model.config
    assert meta["config"]["width"] == 0.5 and meta["input_size"] == (16, 16)
    assert meta["keypoint_order"] == list(KEYPOINT_NAMES)
    assert meta["training"] == TRAINING and meta["sha256"] == digest
    assert "state_dict" not in meta
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    maps, side = torch.rand(2, 21, 16, 16), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    with torch.no_grad():
        assert torch.equal(model.eval()(maps, side).w_rel, loaded(maps, side).w_rel)
    # the file is readable by plain torch with weights_only=True
    raw = torch.load(path, weights_only=True)
    assert set(raw["state_dict"]) == set(model.state_dict())


def test_image_networks_record_their_preprocessing(tmp_path):
    path = tmp_path / "seg.pt"
    save_weights(path, build_handsegnet("lite"))
    meta = read_weights(path)
    assert meta["preprocessing"] == {"scale": 1 / 255, "offset": -0.5, "layout": "NCHW", "color": "RGB"}
    assert meta["keypoint_order"] == [] and meta["input_size"] == (120, 160)


def test_hash_is_deterministic_and_order_free():
    state = build_poseprior("lite").state_dict()
    backwards = dict(reversed(list(state.items())))
    assert tensor_sha256(state) == tensor_sha256(backwards)
    changed = dict(state)
    name = next(iter(state))
    changed[name] = state[name].clone()
    changed[name].view(-1)[0] += 1e-3
    assert tensor_sha256(changed) != tensor_sha256(state)
    as_double = {k: v.double() for k, v in state.items()}
    assert tensor_sha256(as_double) != tensor_sha256(state)  # dtype is part of the hash


def test_edited_tensor_fails_the_hash(saved, tmp_path):
    _, path, _ = saved
    content = torch.load(path, weights_only=True)
    content["state_dict"]["canonical.heads.fc_xyz.bias"][0] += 1.0
    edited = tmp_path / "edited.pt"
    torch.save(content, edited)
    with pytest.raises(WeightsError, match=r"edited.pt: tensors do not match their sha256"):
        load_weights(edited)


def test_architecture_mismatch_names_the_first_tensor(saved):
    _, path, _ = saved
    paper = build_poseprior("paper")
    with pytest.raises(WeightsError) as info:
        load_state_into(paper, path)
    message = str(info.value)
    assert "\n" not in message
    assert "tensor 'canonical.convs.conv_pose_0_1.weight': expected shape (32, 21, 3, 3), found (16, 21, 3, 3)" in message
    assert "more mismatches" in message


def test_missing_and_unexpected_tensors_are_named():
    expected = {"a.weight": torch.zeros(2, 3), "a.bias": torch.zeros(2)}
    with pytest.raises(WeightsError, match=r"missing tensor 'a.bias' \(expected shape \(2,\)\)$"):
        check_state_dict(expected, {"a.weight": torch.zeros(2, 3)}, "f.pt")
    with pytest.raises(WeightsError, match=r"f.pt: .*unexpected tensor 'b.weight' \(shape \(1,\)\)$"):
        check_state_dict(expected, dict(expected, **{"b.weight": torch.zeros(1)}), "f.pt")
    check_state_dict(expected, expected)


def test_load_state_into_checks_the_network_and_loads(saved):
    model, path, _ = saved
    with pytest.raises(WeightsError, match="holds poseprior weights, the model is a handsegnet"):
        load_state_into(build_handsegnet("lite"), path)
    fresh = build_poseprior("lite", width=0.5)
    meta = load_state_into(fresh, path)
    assert meta["training"]["steps"] == 1200
    assert torch.equal(fresh.canonical.heads.fc_xyz.weight, model.canonical.heads.fc_xyz.weight)


def test_a_posenet_goes_on_training_from_a_file_with_a_hand_head(tmp_path):
    """The hand head is fitted after training: a PoseNet built from its table (no head)
    loads a file that has one, the rest of the tensors exactly; one with a head loads it."""
    from hand3d_ros.models.posenet import PoseNet, build_posenet
    from hand3d_ros.training.configs import HandHeadConfig

    torch.manual_seed(0)
    with_head = PoseNet({**build_posenet("lite").config, "hand_head": HandHeadConfig(hidden=8).table()})
    save_weights(tmp_path / "posenet.pt", with_head)
    plain = build_posenet("lite")
    load_state_into(plain, tmp_path / "posenet.pt")
    assert not plain.has_hand_head
    for name, tensor in plain.state_dict().items():
        assert torch.equal(tensor, with_head.state_dict()[name])
    again = PoseNet(with_head.config)
    load_state_into(again, tmp_path / "posenet.pt")
    assert torch.equal(again.hand_head.fc_hand1.weight, with_head.hand_head.fc_hand1.weight)


@pytest.mark.parametrize("kind", ["missing", "garbage", "truncated", "foreign", "list", "pickle"])
def test_bad_files_give_one_clear_error(saved, tmp_path, kind):
    _, good, _ = saved
    path = tmp_path / f"{kind}.pt"
    if kind == "garbage":
        path.write_bytes(b"this is not a torch file")
    elif kind == "truncated":
        path.write_bytes(good.read_bytes()[:5000])
    elif kind == "foreign":
        torch.save({"model": torch.zeros(3)}, path)
    elif kind == "list":
        torch.save([torch.zeros(3)], path)
    elif kind == "pickle":  # code in a pickle is refused by weights_only
        path.write_bytes(pickle.dumps({"format": FORMAT, "x": print}, protocol=2))
    with pytest.raises(WeightsError) as info:
        load_weights(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    expected = {"missing": "no such file", "garbage": "not a readable weights file",
                "truncated": "not a readable weights file", "foreign": f"not a {FORMAT} file",
                "list": f"not a {FORMAT} file", "pickle": "not a readable weights file"}[kind]
    assert expected in message


def test_newer_format_and_broken_config_are_reported(saved, tmp_path):
    _, path, _ = saved
    content = torch.load(path, weights_only=True)
    newer = dict(content, format_version=FORMAT_VERSION + 1)
    torch.save(newer, tmp_path / "newer.pt")
    with pytest.raises(WeightsError, match="format version 2 is not supported"):
        load_weights(tmp_path / "newer.pt")
    broken = dict(content, config={"network": "poseprior", "width": 1.0})
    torch.save(broken, tmp_path / "broken.pt")
    with pytest.raises(WeightsError, match="its config does not build a network"):
        load_weights(tmp_path / "broken.pt")


def test_save_rejects_unknown_or_non_plain_metadata(tmp_path):
    model = build_poseprior("lite")
    with pytest.raises(ValueError, match="unknown metadata keys"):
        save_weights(tmp_path / "x.pt", model, {"color": "red"})
    with pytest.raises(ValueError, match="training.when: datetime is not a plain value"):
        import datetime

        save_weights(tmp_path / "x.pt", model, {"training": {"when": datetime.datetime.now()}})
    with pytest.raises(ValueError, match="no .config"):
        save_weights(tmp_path / "x.pt", torch.nn.Linear(2, 2))
