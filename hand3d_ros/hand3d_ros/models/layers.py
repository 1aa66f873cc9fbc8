"""Building blocks shared by the networks: TF-'SAME' conv, dense layer, table -> modules.

Weights are initialised for training from scratch: He (Kaiming) normal for layers
followed by a leaky ReLU, Xavier uniform for linear output layers, zero biases.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hand3d_ros.models.tables import LEAKY_SLOPE, same_pad, walk


class SameConv2d(nn.Conv2d):
    """Conv2d with bias, TensorFlow 'SAME' padding, optional batch norm and leaky ReLU.

    Input ``(N, C_in, H, W)`` -> output ``(N, C_out, ceil(H / stride), ceil(W / stride))``.
    Stride 1 with an odd kernel pads symmetrically (``nn.Conv2d`` padding); any other
    case pads explicitly with the extra row/column at the bottom/right, as TensorFlow
    does, so that converted TF weights give identical outputs. With ``batch_norm`` a
    :class:`nn.BatchNorm2d` (module ``norm``) sits between the convolution and the
    activation: the lite tables, trained from scratch, use it; the authors' networks have
    none.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int,
                 leaky: bool, batch_norm: bool = False):
        symmetric = stride == 1 and kernel % 2 == 1
        super().__init__(in_channels, out_channels, kernel, stride,
                         padding=kernel // 2 if symmetric else 0, bias=True)
        self.explicit_pad = not symmetric
        self.leaky = leaky
        self.norm = nn.BatchNorm2d(out_channels) if batch_norm else None
        _init(self, leaky)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.explicit_pad:
            (top, bottom), (left, right) = (
                same_pad(int(size), self.kernel_size[0], self.stride[0]) for size in x.shape[-2:]
            )
            x = F.pad(x, (left, right, top, bottom))
        y = super().forward(x)
        if self.norm is not None:
            y = self.norm(y)
        return F.leaky_relu(y, LEAKY_SLOPE) if self.leaky else y


class Dense(nn.Linear):
    """Linear layer with bias, optional leaky ReLU, then dropout (``keep_prob`` < 1).

    Input ``(N, in_features)`` -> ``(N, out_features)``. Dropout is active in train
    mode only (``p = 1 - keep_prob``, survivors scaled by ``1 / keep_prob``, as in TF).
    """

    def __init__(self, in_features: int, out_features: int, leaky: bool, keep_prob: float):
        super().__init__(in_features, out_features, bias=True)
        self.leaky = leaky
        self.dropout = nn.Dropout(1.0 - keep_prob) if keep_prob < 1.0 else nn.Identity()
        _init(self, leaky)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        if self.leaky:
            y = F.leaky_relu(y, LEAKY_SLOPE)
        return self.dropout(y)


def _init(module: nn.Module, leaky: bool) -> None:
    if leaky:
        nn.init.kaiming_normal_(module.weight, a=LEAKY_SLOPE, nonlinearity="leaky_relu")
    else:
        nn.init.xavier_uniform_(module.weight)
    nn.init.zeros_(module.bias)


def make_layers(layers, in_channels: int, width: float, hw=None, batch_norm: bool = False) -> tuple:
    """Modules of a layer list (see :mod:`hand3d_ros.models.tables`).

    Args:
        layers: table entries (conv / pool, or fc only).
        in_channels: channels (or features, for an fc list) of the input.
        width: channel multiplier.
        hw: ``(H, W)`` of the input, to check that pools do not run out of pixels
            (``None``: unchecked; always ``None`` for fc lists).
        batch_norm: batch norm after every ``"leaky"`` conv (the table's ``batch_norm``
            key); linear output convs never get one.

    Returns:
        ``(nn.ModuleDict name -> module, out_channels)``.
    """
    modules, out = nn.ModuleDict(), in_channels
    for entry, cin, cout, _, _ in walk(layers, in_channels, hw, width):
        kind, name = entry[0], entry[1]
        if kind == "conv":
            leaky = entry[5] == "leaky"
            modules[name] = SameConv2d(cin, cout, entry[3], entry[4], leaky, batch_norm and leaky)
        elif kind == "pool":
            modules[name] = nn.MaxPool2d(entry[2], entry[2])
        else:
            modules[name] = Dense(cin, cout, entry[3] == "leaky", entry[4])
        out = cout
    return modules, out


def run_layers(modules: nn.ModuleDict, x: torch.Tensor) -> torch.Tensor:
    """Apply the modules of a :class:`nn.ModuleDict` in order."""
    for module in modules.values():
        x = module(x)
    return x


def axis_angle_to_matrix(axis_angle: torch.Tensor, eps: float) -> torch.Tensor:
    """Rodrigues' formula, batched: axis-angle ``(N, 3)`` -> rotation matrices ``(N, 3, 3)``.

    The angle is ``theta = sqrt(|u|^2 + eps)`` (the authors add ``eps`` = 1e-8 so the
    zero vector stays differentiable), the axis ``u / theta``;
    ``R = cos(theta) I + (1 - cos(theta)) a a^T + sin(theta) [a]_x``.
    Private to models/ until it is merged with ``hand3d_ros.core.canonical``.
    """
    theta = torch.sqrt((axis_angle * axis_angle).sum(dim=-1) + eps)  # (N,)
    ux, uy, uz = (axis_angle / theta.unsqueeze(-1)).unbind(-1)
    c, s = torch.cos(theta), torch.sin(theta)
    oc = 1.0 - c
    rows = [
        c + ux * ux * oc, ux * uy * oc - uz * s, ux * uz * oc + uy * s,
        uy * ux * oc + uz * s, c + uy * uy * oc, uy * uz * oc - ux * s,
        uz * ux * oc - uy * s, uz * uy * oc + ux * s, c + uz * uz * oc,
    ]
    return torch.stack(rows, dim=-1).reshape(axis_angle.shape[:-1] + (3, 3))
