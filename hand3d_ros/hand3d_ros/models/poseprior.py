"""PosePrior: lifts 2D score maps to 3D via a canonical frame and a viewpoint (section 4.3)."""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from hand3d_ros.models.layers import axis_angle_to_matrix, make_layers, run_layers
from hand3d_ros.models.tables import resolve_config, stream_fc_inputs


class PosePriorOutput(NamedTuple):
    """What PosePrior gives, batch-first, in the public keypoint order.

    Coordinates are relative to the root keypoint and normalised by the reference
    bone length (unitless).
    """

    w_c: torch.Tensor  #: (N, 21, 3) canonical coordinates as predicted (side-agnostic)
    axis_angle: torch.Tensor  #: (N, 3) viewpoint as axis * angle (radians)
    R: torch.Tensor  #: (N, 3, 3) rotation of the viewpoint (Rodrigues of axis_angle)
    w_rel: torch.Tensor  #: (N, 21, 3) = flip(w_c) @ R, flip negates z for right hands


class PosePriorStream(nn.Module):
    """Convs on the maps, NHWC flatten, concat hand side, FCs with dropout, linear heads."""

    def __init__(self, config: dict, stream: str):
        super().__init__()
        table, width = config[stream], config["width"]
        self.convs, _ = make_layers(table["convs"], config["num_keypoints"], width,
                                    config["input_size"])
        self.fcs, features = make_layers(table["fcs"], stream_fc_inputs(config, stream), width)
        self.heads = nn.ModuleDict()
        for head in table["heads"]:
            modules, _ = make_layers([head], features, width)
            self.heads.update(modules)

    def forward(self, maps: torch.Tensor, hand_side: torch.Tensor) -> torch.Tensor:
        """maps ``(N, K, h, w)``, hand_side ``(N, 2)`` -> concatenated heads ``(N, sum of heads)``."""
        x = run_layers(self.convs, maps)
        # flatten in NHWC order, as the authors' FC weights expect
        x = torch.cat([x.permute(0, 2, 3, 1).flatten(1), hand_side.to(x.dtype)], dim=1)
        x = run_layers(self.fcs, x)
        return torch.cat([head(x) for head in self.heads.values()], dim=1)


class PosePrior(nn.Module):
    """Score maps ``(N, 21, h, w)`` + hand side ``(N, 2)`` one-hot [left, right] -> :class:`PosePriorOutput`.

    ``(h, w)`` must be the table's ``input_size`` (the FC layers depend on it):
    32x32 for the paper's PoseNet, 16x16 for the lite one. Dropout acts in train
    mode only.
    """

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        self.num_keypoints = config["num_keypoints"]
        self.rotation_eps = config["rotation_eps"]
        self.canonical = PosePriorStream(config, "canonical")
        self.viewpoint = PosePriorStream(config, "viewpoint")

    def forward(self, maps: torch.Tensor, hand_side: torch.Tensor) -> PosePriorOutput:
        """See the class docstring; all outputs batch-first, float like ``maps``."""
        w_c = self.canonical(maps, hand_side).reshape(-1, self.num_keypoints, 3)
        axis_angle = self.viewpoint(maps, hand_side)
        R = axis_angle_to_matrix(axis_angle, self.rotation_eps)
        is_right = hand_side[:, 1] > hand_side[:, 0]  # argmax == 1 (ties: left)
        z_sign = 1.0 - 2.0 * is_right.to(w_c.dtype)
        w_flip = torch.cat([w_c[..., :2], w_c[..., 2:] * z_sign[:, None, None]], dim=-1)
        return PosePriorOutput(w_c, axis_angle, R, torch.matmul(w_flip, R))


def _build_poseprior(config: dict) -> PosePrior:
    return PosePrior(resolve_config("poseprior", config))


def build_poseprior(config="paper", width=None, input_size=None) -> PosePrior:
    """PosePrior (both streams) from a table (name in ``CONFIGS`` or a full dict).

    ``input_size`` is the score-map size ``(h, w)`` in cells (PoseNet crop / 8).
    """
    return _build_poseprior(resolve_config("poseprior", config, width, input_size))


def init_mean_pose(poseprior: PosePrior, w_c_mean, weight_scale: float = 0.01) -> PosePrior:
    """Start PosePrior at a mean canonical pose: its canonical head's bias becomes
    ``w_c_mean`` (21, 3) and the head's weights are scaled by ``weight_scale`` (so the
    untrained output stays near that pose); the viewpoint heads start at the identity
    rotation. A common initialisation for training, and it gives random-weight models a
    plausible hand for plumbing tests. Returns ``poseprior``.
    """
    mean = torch.as_tensor(w_c_mean, dtype=torch.float32).reshape(-1)
    with torch.no_grad():
        head = list(poseprior.canonical.heads.values())[-1]
        head.weight.mul_(weight_scale)
        head.bias.copy_(mean)
        for head in poseprior.viewpoint.heads.values():
            head.weight.mul_(weight_scale)
            head.bias.zero_()
    return poseprior
