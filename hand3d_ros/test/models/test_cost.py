"""Parameter counts and multiply-adds against DESIGN.md section 2, tables against hooks."""
import pytest
import torch

from hand3d_ros.models import (
    CONFIGS,
    NETWORKS,
    build_network,
    count_macs,
    count_parameters,
    input_shapes,
    resolve_config,
    table_macs,
)

# DESIGN.md section 2 (authors' layer lists), in millions / billions.
DESIGN_PARAMS_M = {"handsegnet": 13.60, "posenet": 17.52, "poseprior": 3.88}
DESIGN_MACS_G = {"handsegnet": 30.65, "posenet": 30.16, "poseprior": 0.10}


@pytest.mark.parametrize("network", sorted(DESIGN_PARAMS_M))
def test_paper_parameter_counts_match_design(network):
    params = count_parameters(build_network(network, "paper"))
    assert round(params / 1e6, 2) == DESIGN_PARAMS_M[network]


def test_paper_macs_match_design():
    macs = {n: table_macs(resolve_config(n, "paper")) for n in DESIGN_MACS_G}
    assert resolve_config("handsegnet")["input_size"] == (240, 320)  # 320x240 W x H
    assert resolve_config("posenet")["input_size"] == (256, 256)
    for network, expected in DESIGN_MACS_G.items():
        assert round(macs[network] / 1e9, 2) == expected, network


def test_table_macs_scale_with_input_size():
    small = table_macs(resolve_config("handsegnet", "paper", input_size=(120, 160)))
    assert small * 4 == table_macs(resolve_config("handsegnet", "paper"))


@pytest.mark.parametrize("network", NETWORKS)
def test_hooks_agree_with_table_on_lite(network):
    model = build_network(network, "lite")
    assert count_macs(model, input_shapes(model.config)) == table_macs(model.config)
    assert count_macs(model, input_shapes(model.config, batch=2)) == 2 * table_macs(model.config)


def test_hooks_agree_with_table_on_paper_poseprior_and_gesturenet():
    for network in ("poseprior", "gesturenet"):
        model = build_network(network, "paper")
        assert count_macs(model, input_shapes(model.config)) == table_macs(model.config)


def test_hooks_agree_with_table_under_width_multiplier():
    model = build_network("posenet", "paper", width=0.125, input_size=64)
    assert count_macs(model, input_shapes(model.config)) == table_macs(model.config)


def test_lite_pair_is_sized_for_a_cpu():
    seg = table_macs(resolve_config("handsegnet", "lite"))
    pose = table_macs(resolve_config("posenet", "lite"))
    assert 0.6e9 <= seg + pose <= 1.0e9
    paper = table_macs(resolve_config("handsegnet")) + table_macs(resolve_config("posenet"))
    assert paper / (seg + pose) > 50
    # PoseNet-lite keeps the map stride of 8 and PosePrior-lite reads its maps
    assert resolve_config("posenet", "lite")["input_size"][0] // 8 == \
        resolve_config("poseprior", "lite")["input_size"][0]


def test_count_macs_restores_train_mode_and_counts_trainable():
    model = build_network("gesturenet", "lite").train()
    count_macs(model, [(1, 21, 3)])
    assert model.training
    total = count_parameters(model)
    model.layers.fc_gesture0.weight.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == total - 63 * 128
    assert set(CONFIGS) == {"paper", "lite"}
