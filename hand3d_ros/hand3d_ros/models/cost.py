"""Size and cost of a network: parameters and multiply-adds (measured on a forward pass).

:func:`hand3d_ros.models.tables.table_macs` gives the same multiply-add count
analytically from a layer table.
"""
from __future__ import annotations

import torch
from torch import nn


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter values (weights and biases) of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def count_macs(module: nn.Module, input_shapes, dtype: torch.dtype = torch.float32) -> int:
    """Multiply-adds of the Conv2d and Linear layers in one forward pass.

    Args:
        module: the network (run once in eval mode on zeros, without gradients; its
            train/eval mode is restored afterwards).
        input_shapes: one shape per forward argument, e.g. ``[(1, 3, 240, 320)]``, or
            ``[(1, 21, 32, 32), (1, 2)]`` for PosePrior; the count is for that batch.
        dtype: dtype of the zero inputs.

    Returns:
        Sum over every Conv2d output value of ``in_channels / groups * kh * kw`` and
        over every Linear output value of ``in_features`` (biases, activations,
        pooling and resizing are not counted).
    """
    total = [0]

    def hook(layer, _inputs, output):
        if isinstance(layer, nn.Conv2d):
            per_value = layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1]
        else:
            per_value = layer.in_features
        total[0] += output.numel() * per_value

    handles = [m.register_forward_hook(hook) for m in module.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = module.training
    device = next((p.device for p in module.parameters()), torch.device("cpu"))
    try:
        module.eval()
        with torch.no_grad():
            # a PoseNet with heads runs them too (inference does)
            run = getattr(module, "forward_heads", module)
            run(*(torch.zeros(tuple(shape), dtype=dtype, device=device) for shape in input_shapes))
    finally:
        for handle in handles:
            handle.remove()
        module.train(was_training)
    return total[0]
