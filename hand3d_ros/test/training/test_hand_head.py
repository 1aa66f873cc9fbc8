"""PoseNet's hand head: the fit on detections' features, folding, and the network it makes."""
import numpy as np
import pytest
import torch

from hand3d_ros.models.posenet import build_posenet
from hand3d_ros.models.tables import side_head_features
from hand3d_ros.training.configs import HandHeadConfig
from hand3d_ros.training.hand_head import fit_hand_head, head_logits, separation, with_hand_head


def _detections(n, seed, features=40):
    """Features of n detections on very different scales (the fit must standardise them):
    real hands differ from false ones along a few of them."""
    rng = np.random.default_rng(seed)
    is_hand = rng.random(n) < 0.6
    scale = np.logspace(-2, 3, features)
    x = rng.normal(size=(n, features))
    x[:, :3] += np.where(is_hand, 1.5, -1.5)[:, None]
    return (x * scale + 7.0).astype(np.float32), is_hand


def test_the_head_separates_held_out_detections_on_raw_features():
    features, is_hand = _detections(600, seed=0)
    head = fit_hand_head(features, is_hand, HandHeadConfig(hidden=16, epochs=40))
    held_out, truth = _detections(400, seed=1)
    logits = head_logits(head, held_out)
    assert separation(logits, truth) > 0.97
    # standardisation folded in: the head reads raw features, its logits are log-odds (sign)
    assert np.mean((logits > 0) == truth) > 0.85
    assert not head.training


def test_the_fit_is_a_function_of_its_seed():
    features, is_hand = _detections(200, seed=2)
    config = HandHeadConfig(hidden=8, epochs=5, seed=3)
    one, two = fit_hand_head(features, is_hand, config), fit_hand_head(features, is_hand, config)
    other = fit_hand_head(features, is_hand, HandHeadConfig(hidden=8, epochs=5, seed=4))
    for a, b, c in zip(one.state_dict().values(), two.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    assert not all(torch.equal(a, c) for a, c in zip(one.state_dict().values(), other.state_dict().values()))


def test_one_class_or_mismatched_rows_are_refused():
    features, is_hand = _detections(50, seed=5)
    with pytest.raises(ValueError, match="both real and false"):
        fit_hand_head(features, np.ones(50, bool))
    with pytest.raises(ValueError, match="49 feature rows for 50 labels"):
        fit_hand_head(features[:49], is_hand)


def test_config_ranges():
    for bad in ({"hidden": 2}, {"keep_prob": 0.0}, {"epochs": 0}, {"batch_size": 4}, {"learning_rate": 1.0},
                {"weight_decay": -0.1}):
        with pytest.raises(ValueError):
            HandHeadConfig(**bad)
    table = HandHeadConfig(hidden=32, keep_prob=0.5).table()
    assert table == [("fc", "fc_hand0", 32, "leaky", 0.5), ("fc", "fc_hand1", 1, "linear", 1.0)]


def test_separation_is_the_chance_a_hand_outscores_a_false_one():
    assert separation([3, 2, 1, 0], [True, True, False, False]) == 1.0
    assert separation([0, 1, 2, 3], [True, True, False, False]) == 0.0
    assert separation([1, 1], [True, False]) == 0.5  # a tie counts half
    assert np.isnan(separation([1, 2], [True, True]))


def test_with_hand_head_keeps_the_network_and_adds_the_head():
    torch.manual_seed(0)
    posenet = build_posenet("lite").eval()
    crops = torch.randn(6, 3, 128, 128)
    with torch.no_grad():
        features = posenet.head_features(crops).numpy()
    enc_ch = posenet.config["encoder"][-1][2]
    assert features.shape == (6, side_head_features(posenet.config, enc_ch, (16, 16)))
    config = HandHeadConfig(hidden=8, epochs=3)
    head = fit_hand_head(features, np.array([True, False] * 3), config)
    model = with_hand_head(posenet, head, config)
    assert model.has_hand_head and not posenet.has_hand_head and model.config["hand_head"] == config.table()
    with torch.no_grad():
        maps, side, hand = model.forward_heads(crops)
        ref_maps, ref_side = posenet.forward_with_side(crops)
    assert hand.shape == (6, 1)
    assert torch.equal(maps[-1], ref_maps[-1]) and torch.equal(side, ref_side)
    assert np.allclose(hand[:, 0].numpy(), head_logits(head, features), atol=1e-5)
