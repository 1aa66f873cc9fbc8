"""Output shapes and semantics of the four networks (paper and lite tables)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation

from hand3d_ros.core.keypoints import INDEX_MCP, LITTLE_MCP, NUM_KEYPOINTS, THUMB_TIP, WRIST
from hand3d_ros.models import (
    CONFIGS,
    GestureNet,
    HandSegNet,
    PoseNet,
    PosePrior,
    build_gesturenet,
    build_handsegnet,
    build_posenet,
    build_poseprior,
    resolve_config,
)
from hand3d_ros.models.layers import SameConv2d, axis_angle_to_matrix
from hand3d_ros.models.posenet import palm_turn
from hand3d_ros.models.tables import same_pad

torch.manual_seed(0)


@pytest.mark.parametrize("config", ["paper", "lite"])
def test_handsegnet_shapes(config):
    # paper at a small size to stay fast (fully convolutional); odd sizes floor to 1/8
    model = build_handsegnet(config).eval()
    assert isinstance(model, HandSegNet)
    image = torch.randn(2, 3, 61, 83)
    with torch.no_grad():
        assert model.scores(image).shape == (2, 2, 7, 10)
        assert model(image).shape == (2, 2, 61, 83)


def test_handsegnet_upsamples_half_pixel_inside():
    model = build_handsegnet("lite").eval()
    image = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        expected = F.interpolate(model.scores(image), size=(48, 64), mode="bilinear", align_corners=False)
        assert torch.equal(model(image), expected)


def test_posenet_paper_shapes():
    paper_posenet = build_posenet("paper").eval()
    with torch.no_grad():
        maps = paper_posenet(torch.randn(1, 3, 64, 64))
    assert isinstance(maps, tuple) and len(maps) == 3
    assert all(m.shape == (1, NUM_KEYPOINTS, 8, 8) for m in maps)
    assert paper_posenet.stages[1].conv6_1.in_channels == NUM_KEYPOINTS + 128


def test_posenet_lite_shapes():
    model = build_posenet("lite").eval()
    assert isinstance(model, PoseNet)
    with torch.no_grad():
        maps = model(torch.randn(2, 3, 128, 128))
    assert [tuple(m.shape) for m in maps] == [(2, NUM_KEYPOINTS, 16, 16)] * 3


def _encoding(model, crop):
    x = crop
    for module in model.encoder.values():
        x = module(x)
    return x


def _head(model, x):
    for module in model.side_head.values():
        x = module(x)
    return x


def test_posenet_side_head_reads_a_grid_of_maps_and_encoding():
    lite, paper = build_posenet("lite").eval(), build_posenet("paper").eval()
    crop = torch.randn(3, 3, 128, 128)
    with torch.no_grad():
        maps, side = lite.forward_with_side(crop)
        assert lite.has_side_head and side.shape == (3, 2)
        assert all(torch.equal(a, b) for a, b in zip(maps, lite(crop)))  # same maps as forward
        # the lite head reads concat(last maps, encoding) in 4x4 cells of 4x4 map cells,
        # then the palm's turn
        x = torch.cat([maps[-1], _encoding(lite, crop)], dim=1)
        cells = x.reshape(3, x.shape[1], 4, 4, 4, 4).mean(dim=(3, 5))
        features = torch.cat([cells.flatten(1), palm_turn(maps[-1])], dim=1)
        assert torch.allclose(side, _head(lite, features), atol=1e-5)
        # a mirrored crop moves the cells: the head is not blind to the layout
        flipped = lite.forward_with_side(crop.flip(-1))[1]
        assert not torch.allclose(side, flipped, atol=1e-3)
        # the table's older form: the global mean of the encoding alone
        table = dict(lite.config, side_reads="encoding", side_grid=1, side_layout=False)
        table.pop("network"), table.pop("variant")
        mean_head = build_posenet(table).eval()
        pooled = _encoding(mean_head, crop).mean(dim=(2, 3))
        assert torch.allclose(mean_head.forward_with_side(crop)[1], _head(mean_head, pooled), atol=1e-6)
        assert not paper.has_side_head and paper.forward_with_side(torch.randn(1, 3, 64, 64))[1] is None


def test_batch_norm_sits_between_conv_and_activation_in_lite_only():
    lite, paper = build_posenet("lite"), build_posenet("paper")
    assert isinstance(lite.encoder.conv1_1.norm, torch.nn.BatchNorm2d)
    assert lite.stages[0].conv5_2.norm is None  # linear output convs have none
    assert all(m.norm is None for m in paper.modules() if isinstance(m, SameConv2d))
    conv = lite.encoder.conv1_1.eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        conv.norm.running_mean.normal_()
        conv.norm.running_var.uniform_(0.5, 2.0)
        plain = torch.nn.functional.conv2d(x, conv.weight, conv.bias, padding=1)
        expected = F.leaky_relu(conv.norm(plain), 0.01)
        assert torch.allclose(conv(x), expected, atol=1e-6)


@pytest.mark.parametrize("config,size", [("paper", 32), ("lite", 16)])
def test_poseprior_shapes_and_geometry(config, size):
    model = build_poseprior(config).eval()
    assert isinstance(model, PosePrior) and model.config["input_size"] == (size, size)
    maps = torch.rand(2, NUM_KEYPOINTS, size, size)
    side = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    with torch.no_grad():
        out = model(maps, side)
    assert out.w_c.shape == (2, 21, 3) and out.w_rel.shape == (2, 21, 3)
    assert out.axis_angle.shape == (2, 3) and out.R.shape == (2, 3, 3)
    eye = torch.eye(3).expand(2, 3, 3)
    assert torch.allclose(out.R @ out.R.transpose(1, 2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(out.R), torch.ones(2), atol=1e-5)
    # left: w_rel = w_c @ R; right: z of w_c negated first
    assert torch.allclose(out.w_rel[0], out.w_c[0] @ out.R[0], atol=1e-6)
    flipped = out.w_c[1] * torch.tensor([1.0, 1.0, -1.0])
    assert torch.allclose(out.w_rel[1], flipped @ out.R[1], atol=1e-6)
    assert not torch.allclose(out.w_rel[1], out.w_c[1] @ out.R[1], atol=1e-6)


def test_poseprior_dropout_only_in_train_mode():
    model = build_poseprior("lite")
    maps, side = torch.rand(4, 21, 16, 16), torch.tensor([[1.0, 0.0]] * 4)
    model.eval()
    with torch.no_grad():
        a, b = model(maps, side).w_c, model(maps, side).w_c
    assert torch.equal(a, b)
    model.train()
    with torch.no_grad():
        c, d = model(maps, side).w_c, model(maps, side).w_c
    assert not torch.allclose(c, d)
    assert model.canonical.fcs.fc_rel0.dropout.p == pytest.approx(0.2)
    assert model.viewpoint.fcs.fc_vp1.dropout.p == pytest.approx(0.25)


def test_poseprior_rejects_maps_of_another_size():
    model = build_poseprior("paper").eval()
    with pytest.raises(RuntimeError):
        model(torch.rand(1, 21, 16, 16), torch.tensor([[1.0, 0.0]]))
    assert build_poseprior("paper", input_size=16)(torch.rand(1, 21, 16, 16),
                                                   torch.tensor([[1.0, 0.0]])).w_c.shape == (1, 21, 3)


def test_gesturenet_shapes():
    for config in CONFIGS:
        model = build_gesturenet(config)
        assert isinstance(model, GestureNet)
        assert model(torch.randn(3, 21, 3)).shape == (3, 35)
        assert model.layers.fc_gesture1.dropout.p == pytest.approx(0.2)  # paper Table 7


def test_rodrigues_matches_scipy_and_handles_zero():
    rotvec = torch.tensor([[0.3, -1.2, 0.5], [2.5, 0.1, -0.4], [0.0, 0.0, 0.0]], dtype=torch.float64)
    R = axis_angle_to_matrix(rotvec, 1e-8).numpy()
    expected = Rotation.from_rotvec(rotvec.numpy()).as_matrix()
    np.testing.assert_allclose(R, expected, atol=1e-7)
    grad_input = torch.zeros(1, 3, requires_grad=True)
    axis_angle_to_matrix(grad_input, 1e-8).sum().backward()
    assert torch.isfinite(grad_input.grad).all()


@pytest.mark.parametrize("size", [7, 8, 9, 16])
def test_same_conv_stride2_pads_bottom_right_like_tensorflow(size):
    conv = SameConv2d(1, 1, 3, 2, leaky=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, 0] = 1.0  # picks the top-left tap of each window
        conv.bias.zero_()
        x = torch.arange(1.0, size * size + 1).reshape(1, 1, size, size)
        y = conv(x)
    out = -(-size // 2)
    assert y.shape == (1, 1, out, out)
    top, bottom = same_pad(size, 3, 2)
    assert (top, bottom) == ((0, 1) if size % 2 == 0 else (1, 1))
    padded = F.pad(x, (top, bottom, top, bottom))
    assert torch.equal(y, padded[:, :, ::2, ::2][:, :, :out, :out])


def test_leaky_relu_slope_and_linear_heads():
    model = build_handsegnet("lite")
    layers = list(model.layers.values())
    convs = [m for m in layers if isinstance(m, SameConv2d)]
    assert all(c.leaky for c in convs[:-1]) and not convs[-1].leaky
    x = torch.tensor([[-1.0, 2.0]])
    dense = build_gesturenet("lite").eval().layers.fc_gesture0
    with torch.no_grad():
        dense.weight.copy_(torch.eye(dense.out_features, 63))
        dense.bias.zero_()
        y = dense(F.pad(x, (0, 61)))
    assert y[0, 0] == pytest.approx(-0.01) and y[0, 1] == pytest.approx(2.0)


def test_width_and_input_size_overrides():
    model = build_posenet("paper", width=0.25, input_size=96)
    assert model.config["width"] == 0.25 and model.config["input_size"] == (96, 96)
    assert model.encoder.conv1_1.out_channels == 16
    assert model.stages[2].conv7_7.out_channels == NUM_KEYPOINTS  # heads keep their size
    assert model.stages[1].conv6_1.in_channels == NUM_KEYPOINTS + 32
    assert build_handsegnet("lite", input_size=(90, 120)).config["input_size"] == (90, 120)
    # a full table (e.g. from a weight file) rebuilds the same network
    again = build_posenet(model.config)
    assert [p.shape for p in again.parameters()] == [p.shape for p in model.parameters()]


def test_resolve_config_errors():
    with pytest.raises(ValueError, match="unknown config"):
        resolve_config("posenet", "huge")
    with pytest.raises(ValueError, match="unknown network"):
        resolve_config("handnet")
    with pytest.raises(ValueError, match="width must be > 0"):
        resolve_config("posenet", "lite", width=0)
    with pytest.raises(ValueError, match="not 'posenet'"):
        resolve_config("posenet", resolve_config("handsegnet"))
    bad = resolve_config("handsegnet", "lite")
    bad["layers"] = bad["layers"][:-1]
    with pytest.raises(ValueError, match="must give 2 channels"):
        build_handsegnet(bad)
    with pytest.raises(ValueError, match="input too small"):
        build_handsegnet("lite", input_size=(4, 4))


@pytest.mark.parametrize("change, message", [({"side_grid": 3}, "divide"), ({"side_grid": 0}, ">= 1"),
                                             ({"side_reads": "pixels"}, "side_reads")])
def test_posenet_side_head_table_errors(change, message):
    table = {k: v for k, v in build_posenet("lite").config.items() if k not in ("network", "variant")}
    with pytest.raises(ValueError, match=message):
        build_posenet(dict(table, **change))


def test_palm_turn_reads_the_knuckles_and_mirrors():
    """A right palm facing the camera, fingers up: the index knuckle is right of the
    little finger's (image x), the turn is < 0; mirrored (a left palm) it is > 0."""
    maps = torch.full((1, NUM_KEYPOINTS, 16, 16), -0.1)
    maps[0, WRIST, 13, 8] = maps[0, INDEX_MCP, 5, 11] = maps[0, LITTLE_MCP, 6, 4] = 1.0
    maps[0, THUMB_TIP, 9, 14] = 1.0  # the other keypoints do not count
    turn = palm_turn(maps)
    assert turn.shape == (1, 1) and -1.0 <= turn.item() < -0.5
    assert torch.allclose(palm_turn(maps.flip(-1)), -turn, atol=1e-5)
    moved = maps.clone()
    moved[0, THUMB_TIP] = -0.1
    moved[0, THUMB_TIP, 2, 2] = 1.0
    assert torch.allclose(palm_turn(moved), turn)
