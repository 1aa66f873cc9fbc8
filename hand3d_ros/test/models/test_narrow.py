"""Narrowing a plain conv stack's weights to a smaller width (models/narrow.py)."""
import pytest
import torch

from hand3d_ros.models import build_network
from hand3d_ros.models.narrow import channel_importance, narrow_state_dict
from hand3d_ros.models.weights import WeightsError, load_state_into, save_weights


def _trained_like(width=1.0, seed=0):
    """A lite HandSegNet with random batch-norm statistics (as a trained one has)."""
    torch.manual_seed(seed)
    net = build_network("handsegnet", "lite", width=width, input_size=(48, 64))
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data.uniform_(-1.0, 1.0)
            module.running_var.uniform_(0.5, 2.0)
            module.running_mean.normal_()
    return net.eval()


def test_keeps_the_channels_with_the_largest_batch_norm_scale():
    wide = _trained_like()
    narrow = build_network("handsegnet", "lite", width=0.75, input_size=(48, 64))
    state = wide.state_dict()
    out = narrow_state_dict(state, narrow.state_dict())
    narrow.load_state_dict(out)
    # conv2_1: 32 -> 24 outputs, 16 inputs (conv1_2 keeps all 16 at width 0.75).
    kept = torch.sort(torch.argsort(channel_importance(state, "layers.conv2_1"), descending=True)[:24]).values
    assert torch.equal(out["layers.conv2_1.weight"], state["layers.conv2_1.weight"][kept])
    assert torch.equal(out["layers.conv2_1.norm.running_var"], state["layers.conv2_1.norm.running_var"][kept])
    # conv2_2 reads exactly the channels conv2_1 kept.
    kept2 = torch.sort(torch.argsort(channel_importance(state, "layers.conv2_2"), descending=True)[:24]).values
    assert torch.equal(out["layers.conv2_2.weight"], state["layers.conv2_2.weight"][kept2][:, kept])
    # The class layer keeps both outputs and reads what conv6_1 kept.
    assert out["layers.conv6_2.weight"].shape == (2, 96, 1, 1)


def test_narrowing_to_the_same_width_is_the_identity():
    wide = _trained_like()
    out = narrow_state_dict(wide.state_dict(), wide.state_dict())
    x = torch.rand(1, 3, 48, 64) - 0.5
    same = build_network("handsegnet", "lite", input_size=(48, 64)).eval()
    same.load_state_dict(out)
    assert torch.allclose(same(x), wide(x))


def test_rejects_widening_other_layers_and_stacks_with_concatenations():
    narrow = build_network("handsegnet", "lite", width=0.5, input_size=(48, 64))
    wide = build_network("handsegnet", "lite", input_size=(48, 64))
    with pytest.raises(ValueError, match="cannot widen"):
        narrow_state_dict(narrow.state_dict(), wide.state_dict())
    posenet = build_network("posenet", "lite")
    with pytest.raises(ValueError, match="different layers"):
        narrow_state_dict(wide.state_dict(), posenet.state_dict())
    thin_posenet = build_network("posenet", "lite", width=0.5)
    with pytest.raises(ValueError, match="plain conv stacks"):
        narrow_state_dict(posenet.state_dict(), thin_posenet.state_dict())


def test_load_state_into_narrows_only_when_asked(tmp_path):
    path = tmp_path / "handsegnet.pt"
    save_weights(path, _trained_like())
    narrow = build_network("handsegnet", "lite", width=0.75, input_size=(48, 64))
    with pytest.raises(WeightsError, match="do not fit"):
        load_state_into(narrow, path)
    load_state_into(narrow, path, narrow=True)
    assert narrow.state_dict()["layers.conv5_1.weight"].shape == (96, 96, 3, 3)
    posenet_path = tmp_path / "posenet.pt"
    save_weights(posenet_path, build_network("posenet", "lite"))
    with pytest.raises(WeightsError, match="cannot narrow"):
        load_state_into(build_network("posenet", "lite", width=0.5), posenet_path, narrow=True)
