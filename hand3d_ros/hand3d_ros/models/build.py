"""Build any network from its table: the dispatch used by the weight files."""
from __future__ import annotations

from torch import nn

from hand3d_ros.models.gesturenet import _build_gesturenet
from hand3d_ros.models.handsegnet import _build_handsegnet
from hand3d_ros.models.posenet import _build_posenet
from hand3d_ros.models.poseprior import _build_poseprior
from hand3d_ros.models.tables import NETWORKS, resolve_config

_BUILDERS = {
    "handsegnet": _build_handsegnet,
    "posenet": _build_posenet,
    "poseprior": _build_poseprior,
    "gesturenet": _build_gesturenet,
}
assert set(_BUILDERS) == set(NETWORKS)


def build_network(network: str, config="paper", width=None, input_size=None) -> nn.Module:
    """Any network by name (one of ``NETWORKS``) from a table name or a full table dict."""
    return _BUILDERS[network](resolve_config(network, config, width, input_size))


def input_shapes(config: dict, batch: int = 1) -> list:
    """Shapes of the forward arguments of a network at its table's ``input_size``.

    handsegnet/posenet ``[(N, 3, H, W)]``; poseprior ``[(N, 21, h, w), (N, 2)]``;
    gesturenet ``[(N, 21, 3)]``.
    """
    name, size = config["network"], tuple(config["input_size"])
    if name in ("handsegnet", "posenet"):
        return [(batch, config["in_channels"]) + size]
    if name == "poseprior":
        return [(batch, config["num_keypoints"]) + size, (batch, config["hand_sides"])]
    return [(batch,) + size]
