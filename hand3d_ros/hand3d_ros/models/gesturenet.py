"""GestureNet: gesture classes from the 3D pose (paper section 6.3 and Table 7; optional)."""
from __future__ import annotations

import torch
from torch import nn

from hand3d_ros.models.layers import make_layers, run_layers
from hand3d_ros.models.tables import resolve_config


class GestureNet(nn.Module):
    """w_rel ``(N, 21, 3)`` (normalised, public keypoint order) -> logits ``(N, num_classes)``.

    FC layers with leaky ReLU and dropout (train mode only) then a linear output.
    """

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        features = config["input_size"][0] * config["input_size"][1]
        self.layers, out = make_layers(config["layers"], features, config["width"])
        if out != config["num_classes"]:
            raise ValueError(f"GestureNet's last layer gives {out} values, not {config['num_classes']}")

    def forward(self, w_rel: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)``; softmax over dim 1 gives class probabilities."""
        return run_layers(self.layers, w_rel.flatten(1))


def _build_gesturenet(config: dict) -> GestureNet:
    return GestureNet(resolve_config("gesturenet", config))


def build_gesturenet(config="paper", width=None, input_size=None) -> GestureNet:
    """GestureNet from a table (name in ``CONFIGS`` or a full dict); ``input_size`` is ignored."""
    return _build_gesturenet(resolve_config("gesturenet", config, width, input_size))
