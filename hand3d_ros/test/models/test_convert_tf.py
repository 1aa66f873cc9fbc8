"""The TF converter: names, layouts, keypoint permutation, and parity with a TF-semantics forward.

The reference forward below applies the authors' TF arrays directly, in numpy float64,
with TF semantics (NHWC, HWIO kernels, 'SAME' padding with the extra pad after,
'VALID' 2x2 pooling, NHWC flatten), independently of our layer tables.
"""
import pickle

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

from hand3d_ros.core.keypoints import MIDDLE_MCP, RHD_TO_OURS, WRIST, rhd_to_ours
from hand3d_ros.models import build_handsegnet, build_posenet, build_poseprior
from hand3d_ros.models.convert_tf import (
    AUTHORS_KEYPOINT_NAMES,
    TF_NAME_TABLE,
    convert_tf_state,
    load_tf_pickle,
    tf_variable_shapes,
    unmatched_tf_names,
)

SLOPE = 0.01

# Layer sequences of the authors' networks, written out here independently of the
# tables: "P" is a 2x2 max-pool, a trailing "!" marks a linear (no activation) layer.
HANDSEGNET_TF = (["conv1_1", "conv1_2", "P", "conv2_1", "conv2_2", "P"]
                 + [f"conv3_{i}" for i in range(1, 5)] + ["P"]
                 + [f"conv4_{i}" for i in range(1, 5)]
                 + ["conv5_1", "conv5_2", "conv6_1", "conv6_2!"])
POSENET_ENCODER_TF = (["conv1_1", "conv1_2", "P", "conv2_1", "conv2_2", "P"]
                      + [f"conv3_{i}" for i in range(1, 5)] + ["P"]
                      + [f"conv4_{i}" for i in range(1, 8)])
POSENET_STAGES_TF = [["conv5_1", "conv5_2!"]] + [
    [f"conv{b}_{i}" for i in range(1, 7)] + [f"conv{b}_7!"] for b in (6, 7)
]

# A few names and shapes of the authors' release, written out by hand.
KNOWN_SHAPES = {
    "HandSegNet/conv1_1/weights": (3, 3, 3, 64),
    "HandSegNet/conv6_2/biases": (2,),
    "PoseNet2D/conv4_7/weights": (3, 3, 256, 128),
    "PoseNet2D/conv6_1/weights": (7, 7, 149, 128),
    "PoseNet2D/conv7_7/weights": (1, 1, 128, 21),
    "PosePrior/conv_pose_0_1/weights": (3, 3, 21, 32),
    "PosePrior/fc_rel0/weights": (2050, 512),
    "PosePrior/fc_xyz/weights": (512, 63),
    "ViewpointNet/fc_vp0/weights": (4098, 256),
    "ViewpointNet/fc_vp_uz/biases": (1,),
}


# --------------------------------------------------------------- TF-semantics reference
def tf_conv(x, w, b, stride=1, linear=False):
    kh, kw = w.shape[:2]
    n, h, wd, _ = x.shape
    oh, ow = -(-h // stride), -(-wd // stride)
    ph, pw = max((oh - 1) * stride + kh - h, 0), max((ow - 1) * stride + kw - wd, 0)
    x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    patches = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride][:, :oh, :ow]
    y = np.einsum("nhwcij,ijco->nhwo", patches, w.astype(np.float64), optimize=True) + b
    return y if linear else np.maximum(y, SLOPE * y)


def tf_pool(x):
    n, h, w, c = x.shape
    return x[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def tf_fc(x, tf, name, linear=False):
    y = x @ tf[f"{name}/weights"].astype(np.float64) + tf[f"{name}/biases"]
    return y if linear else np.maximum(y, SLOPE * y)


def tf_sequence(x, tf, scope, names, stride_of=lambda name: 1):
    for name in names:
        if name == "P":
            x = tf_pool(x)
        else:
            layer = name.rstrip("!")
            x = tf_conv(x, tf[f"{scope}/{layer}/weights"], tf[f"{scope}/{layer}/biases"],
                        stride_of(layer), linear=name.endswith("!"))
    return x


def tf_posenet(x, tf):
    encoding = tf_sequence(x, tf, "PoseNet2D", POSENET_ENCODER_TF)
    maps = [tf_sequence(encoding, tf, "PoseNet2D", POSENET_STAGES_TF[0])]
    for stage in POSENET_STAGES_TF[1:]:
        maps.append(tf_sequence(np.concatenate([maps[-1], encoding], axis=3), tf, "PoseNet2D", stage))
    return maps


def tf_stream(maps, side, tf, scope, prefix, fcs, heads):
    convs = [f"conv_{prefix}_{i}_{j}" for i in range(3) for j in (1, 2)]
    x = tf_sequence(maps, tf, scope, convs, stride_of=lambda name: 2 if name.endswith("_2") else 1)
    x = np.concatenate([x.reshape(len(x), -1), side], axis=1)
    for name in fcs:
        x = tf_fc(x, tf, f"{scope}/{name}")
    return [tf_fc(x, tf, f"{scope}/{name}", linear=True) for name in heads]


def tf_poseprior(maps, side, tf):
    (xyz,) = tf_stream(maps, side, tf, "PosePrior", "pose", ["fc_rel0", "fc_rel1"], ["fc_xyz"])
    w_c = xyz.reshape(-1, 21, 3)
    u = np.concatenate(tf_stream(maps, side, tf, "ViewpointNet", "vp", ["fc_vp0", "fc_vp1"],
                                 ["fc_vp_ux", "fc_vp_uy", "fc_vp_uz"]), axis=1)
    theta = np.sqrt((u ** 2).sum(1) + 1e-8)
    a = u / theta[:, None]
    cross = np.zeros((len(u), 3, 3))
    cross[:, 0, 1], cross[:, 0, 2], cross[:, 1, 2] = -a[:, 2], a[:, 1], -a[:, 0]
    cross -= cross.transpose(0, 2, 1)
    c, s = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    R = c * np.eye(3) + (1 - c) * a[:, :, None] * a[:, None, :] + s * cross
    flip = np.where(side[:, 1:2, None] > 0.5, [1.0, 1.0, -1.0], 1.0)
    return w_c, u, R, (w_c * flip) @ R


def random_tf_dict(scopes, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in tf_variable_shapes().items():
        if name.split("/")[0] not in scopes:
            continue
        if name.endswith("/weights"):
            fan_in = int(np.prod(shape[:-1]))
            out[name] = (rng.standard_normal(shape, dtype=np.float32) * np.sqrt(2.0 / fan_in))
        else:
            out[name] = rng.uniform(-0.1, 0.1, shape).astype(np.float32)
    return out


def load_into(model, state):
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    return model.eval()


def assert_close(ours, ref, rel=1e-5):
    ours = ours.detach().double().numpy() if isinstance(ours, torch.Tensor) else ours
    scale = max(np.abs(ref).max(), 1e-12)
    err = np.abs(ours - ref).max() / scale
    assert err < rel, f"relative error {err:.2e} >= {rel:.0e}"


# --------------------------------------------------------------------------- tests
def test_name_table_has_the_authors_names_and_shapes():
    shapes = tf_variable_shapes()
    for name, shape in KNOWN_SHAPES.items():
        assert shapes[name] == shape, name
    counts = {}
    for name in shapes:
        counts[name.split("/")[0]] = counts.get(name.split("/")[0], 0) + 1
    assert counts == {"HandSegNet": 32, "PoseNet2D": 62, "PosePrior": 18, "ViewpointNet": 22}
    assert TF_NAME_TABLE["PoseNet2D/conv6_3/biases"] == ("posenet", "stages.1.conv6_3.bias")
    assert TF_NAME_TABLE["ViewpointNet/fc_vp_ux/weights"] == ("poseprior", "viewpoint.heads.fc_vp_ux.weight")
    assert TF_NAME_TABLE["HandSegNet/conv1_1/weights"] == ("handsegnet", "layers.conv1_1.weight")
    assert AUTHORS_KEYPOINT_NAMES[0] == "palm_centre"


def test_table_keys_are_exactly_our_state_dicts():
    ours = {
        "handsegnet": set(build_handsegnet("paper", width=0.125).state_dict()),
        "posenet": set(build_posenet("paper", width=0.125).state_dict()),
        "poseprior": set(build_poseprior("paper").state_dict()),
    }
    for network, keys in ours.items():
        assert {k for n, k in TF_NAME_TABLE.values() if n == network} == keys


@pytest.mark.parametrize("rebase", [False, True])
def test_poseprior_parity(rebase):
    tf = random_tf_dict({"PosePrior", "ViewpointNet"}, seed=1)
    state = convert_tf_state(tf, rebase_root_to_wrist=rebase)
    assert set(state) == {"poseprior"}
    model = load_into(build_poseprior("paper"), state["poseprior"])
    rng = np.random.default_rng(2)
    maps_rhd = rng.uniform(0, 1, (2, 32, 32, 21))  # NHWC, RHD order
    side = np.array([[1.0, 0.0], [0.0, 1.0]])  # left, right
    w_c, u, R, w_rel = tf_poseprior(maps_rhd, side, tf)
    maps_ours = torch.from_numpy(maps_rhd.transpose(0, 3, 1, 2)[:, RHD_TO_OURS]).float()
    with torch.no_grad():
        out = model(maps_ours, torch.from_numpy(side).float())
    assert_close(out.axis_angle, u)
    assert_close(out.R, R)
    w_c, w_rel = rhd_to_ours(w_c), rhd_to_ours(w_rel)
    if rebase:  # slot 0 (palm centre) -> wrist = 2 palm - middle MCP, then re-root there
        for coords in (w_c, w_rel):
            wrist = 2 * coords[:, WRIST] - coords[:, MIDDLE_MCP]
            coords[:, WRIST] = wrist
            coords -= wrist[:, None]
        assert np.abs(out.w_rel[:, WRIST].numpy()).max() < 1e-5
    assert_close(out.w_c, w_c)
    assert_close(out.w_rel, w_rel)


def test_handsegnet_and_posenet_parity_at_small_inputs():
    tf = random_tf_dict({"HandSegNet", "PoseNet2D"}, seed=3)
    state = convert_tf_state(tf)
    assert set(state) == {"handsegnet", "posenet"}
    rng = np.random.default_rng(4)

    image = rng.uniform(-0.5, 0.5, (1, 40, 48, 3))  # NHWC; scores 5 x 6
    seg = load_into(build_handsegnet("paper"), state["handsegnet"])
    with torch.no_grad():
        scores = seg.scores(torch.from_numpy(image.transpose(0, 3, 1, 2)).float())
    assert_close(scores, tf_sequence(image, tf, "HandSegNet", HANDSEGNET_TF).transpose(0, 3, 1, 2))
    del seg

    crop = rng.uniform(-0.5, 0.5, (1, 32, 32, 3))  # maps 4 x 4: 7x7 convs pad beyond the map
    pose = load_into(build_posenet("paper"), state["posenet"])
    with torch.no_grad():
        maps = pose(torch.from_numpy(crop.transpose(0, 3, 1, 2)).float())
    for ours, ref in zip(maps, tf_posenet(crop, tf)):
        assert_close(ours, ref.transpose(0, 3, 1, 2)[:, RHD_TO_OURS])


def test_missing_variable_and_wrong_shape_are_named():
    tf = random_tf_dict({"PosePrior", "ViewpointNet"})
    broken = dict(tf)
    del broken["ViewpointNet/fc_vp1/biases"]
    with pytest.raises(ValueError, match="'ViewpointNet/fc_vp1/biases' is missing"):
        convert_tf_state(broken)
    broken = dict(tf)
    broken["PosePrior/fc_rel0/weights"] = np.zeros((2048, 512), np.float32)
    with pytest.raises(ValueError, match=r"'PosePrior/fc_rel0/weights': expected shape \(2050, 512\)"):
        convert_tf_state(broken)
    with pytest.raises(ValueError, match="no variable"):
        convert_tf_state({"global_step": np.zeros(())})
    tf["global_step"] = np.zeros(())
    assert unmatched_tf_names(tf) == ["global_step"]
    assert set(convert_tf_state(tf)) == {"poseprior"}


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_load_tf_pickle_reads_arrays_and_refuses_code(tmp_path, protocol):
    arrays = {"PosePrior/fc_xyz/biases": np.arange(63, dtype=np.float32)}
    path = tmp_path / "w.pickle"
    path.write_bytes(pickle.dumps(arrays, protocol=protocol))
    loaded = load_tf_pickle(path)
    np.testing.assert_array_equal(loaded["PosePrior/fc_xyz/biases"], arrays["PosePrior/fc_xyz/biases"])

    evil = tmp_path / "evil.pickle"
    evil.write_bytes(pickle.dumps({"x": print}, protocol=protocol))
    with pytest.raises(ValueError, match=r"not a weight pickle.*refusing to load \w+\.print"):
        load_tf_pickle(evil)
    garbage = tmp_path / "garbage.pickle"
    garbage.write_bytes(b"\x00not a pickle at all")
    with pytest.raises(ValueError, match="not a weight pickle"):
        load_tf_pickle(garbage)
    with pytest.raises(ValueError, match="no such file"):
        load_tf_pickle(tmp_path / "absent.pickle")
