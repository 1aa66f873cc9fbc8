"""Narrowing a trained plain conv stack to a smaller width multiplier (channel pruning).

A pure state-dict function, like the key remapping of :mod:`.convert_tf`: the weights of
a network built at width ``w`` become a start for the same table built at ``w' < w``
(``hand3d train --width w' --init-from`` the wider file), which fine-tuning then repairs.
A narrower HandSegNet pays for a larger input (small hands, the same multiply-adds).

Notation: C_out / C_in a conv's output / input channels in the file, C'_out / C'_in in
the narrower model; layers are visited in the file's order.

Rule ("network slimming", Liu et al. 2017): each conv layer keeps the C'_out output
channels whose batch-norm scale ``|gamma| / sqrt(running_var + eps)`` is largest (the
L1 norm of their filters when the layer has no batch norm), in their original order;
its input channels are the ones its predecessor kept. Only plain stacks qualify: every
conv must read exactly the previous conv's outputs (HandSegNet; not PoseNet, whose
stages read concatenations).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Mapping

import torch

#: Batch-norm epsilon of the networks' norm layers (torch's default).
BN_EPS = 1e-5
_NORM = ".norm."


def _layers(state: Mapping) -> List[str]:
    """Prefixes of the conv layers (``name.weight`` of rank 4), in the state dict's order."""
    return [k[: -len(".weight")] for k, v in state.items()
            if k.endswith(".weight") and _NORM not in k and v.dim() == 4]


def channel_importance(state: Mapping, layer: str) -> torch.Tensor:
    """``(C_out,)`` importance of a conv layer's output channels (module docstring)."""
    gamma = state.get(f"{layer}.norm.weight")
    if gamma is not None:
        return gamma.abs() / torch.sqrt(state[f"{layer}.norm.running_var"] + BN_EPS)
    return state[f"{layer}.weight"].abs().flatten(1).sum(dim=1)


def narrow_state_dict(wide: Mapping, narrow_shapes: Mapping) -> Dict[str, torch.Tensor]:
    """The tensors of ``wide`` cut to the shapes of ``narrow_shapes`` (module docstring).

    Args:
        wide: state dict of the wider network (name -> tensor).
        narrow_shapes: the narrower model's ``state_dict()`` (its tensors give the shapes;
            the same names).

    Returns:
        A state dict that loads into the narrower model.

    Raises:
        ValueError: the names differ, a layer would have to grow, or the network is not
            a plain conv stack.
    """
    if set(wide) != set(narrow_shapes):
        extra = sorted(set(wide) ^ set(narrow_shapes))
        raise ValueError(f"the two networks have different layers (first difference: {extra[0]!r})")
    out: Dict[str, torch.Tensor] = OrderedDict()
    kept_in = None  # channels of the previous layer kept (indices into its C_out)
    previous_out = None
    for layer in _layers(wide):
        weight, target = wide[f"{layer}.weight"], narrow_shapes[f"{layer}.weight"]
        c_out, c_in = weight.shape[:2]
        n_out, n_in = target.shape[:2]
        if n_out > c_out or n_in > c_in:
            raise ValueError(f"{layer}: cannot widen {tuple(weight.shape)} to {tuple(target.shape)}")
        if previous_out is not None and c_in != previous_out:
            raise ValueError(f"{layer} reads {c_in} channels but the layer before it gives {previous_out}: "
                             "only plain conv stacks can be narrowed")
        if kept_in is None:
            kept_in = torch.arange(c_in)
        if len(kept_in) != n_in:
            raise ValueError(f"{layer}: expects {n_in} input channels, the layer before it keeps {len(kept_in)}")
        order = torch.argsort(channel_importance(wide, layer), descending=True)
        kept_out = torch.sort(order[:n_out]).values
        for name in [k for k in wide if k.startswith(layer + ".")]:
            tensor = wide[name]
            if name == f"{layer}.weight":
                tensor = tensor[kept_out][:, kept_in]
            elif tensor.dim() == 1 and tensor.shape[0] == c_out:
                tensor = tensor[kept_out]
            out[name] = tensor.clone()
        kept_in, previous_out = kept_out, c_out
    for name, tensor in wide.items():  # anything that is not a conv layer's (none in HandSegNet)
        out.setdefault(name, tensor.clone())
    for name, tensor in narrow_shapes.items():
        if tuple(out[name].shape) != tuple(tensor.shape):
            raise ValueError(f"{name}: narrowed to {tuple(out[name].shape)}, the model has {tuple(tensor.shape)}")
    return OrderedDict((name, out[name]) for name in narrow_shapes)
