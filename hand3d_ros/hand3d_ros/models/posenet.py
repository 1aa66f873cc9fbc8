"""PoseNet: 21 keypoint score maps from a hand crop (paper section 4.2)."""
from __future__ import annotations

import torch
from torch import nn

from hand3d_ros.models.layers import make_layers, run_layers
from hand3d_ros.models.tables import NUM_HAND_SIDES, POSENET_MAP_STRIDE, resolve_config


class PoseNet(nn.Module):
    """Crop ``(N, 3, S, S)`` (RGB, ``x / 255 - 0.5``) -> tuple of score maps, one per stage.

    Each map is ``(N, 21, S/8, S/8)`` in the public keypoint order of
    :mod:`hand3d_ros.core.keypoints`; the last stage's maps are the ones used at
    inference, all stages are supervised in training. Stage 0 reads the encoding,
    stage k > 0 reads ``concat(maps of stage k-1, encoding)`` along channels (maps
    first, as the authors do).

    Tables with a ``side_head`` (a list of fc entries; the lite table) also classify the
    hand side from the globally average-pooled encoding: :meth:`forward_with_side` gives
    the maps and ``(N, 2)`` logits [left, right]. The paper takes the side as an input;
    from 2D keypoints alone a left palm and a right back are mirror images, while the
    pixels (nails, knuckles, the thumb's side) tell them apart.
    """

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        width, hw, batch_norm = config["width"], config["input_size"], config.get("batch_norm", False)
        self.encoder, enc_ch = make_layers(config["encoder"], config["in_channels"], width, hw, batch_norm)
        map_hw = tuple(s // POSENET_MAP_STRIDE for s in hw)
        self.stages = nn.ModuleList()
        in_ch = enc_ch
        for index, stage in enumerate(config["stages"]):
            modules, out = make_layers(stage, in_ch, width, map_hw, batch_norm)
            if out != config["num_keypoints"]:
                raise ValueError(f"PoseNet stage {index} gives {out} maps, not {config['num_keypoints']}")
            self.stages.append(modules)
            in_ch = out + enc_ch
        if not self.stages:
            raise ValueError("PoseNet needs at least one stage")
        self.side_head = None
        if config.get("side_head"):
            self.side_head, out = make_layers(config["side_head"], enc_ch, width)
            if out != NUM_HAND_SIDES:
                raise ValueError(f"PoseNet side_head gives {out} logits, not {NUM_HAND_SIDES}")

    @property
    def has_side_head(self) -> bool:
        return self.side_head is not None

    def forward(self, crop: torch.Tensor) -> tuple:
        """Tuple of ``len(stages)`` score maps ``(N, 21, S/8, S/8)``; the last is the output."""
        return self._run(crop, with_side=False)[0]

    def forward_with_side(self, crop: torch.Tensor) -> tuple:
        """``(maps, side_logits)``: the tuple of :meth:`forward` and ``(N, 2)`` logits
        [left, right] (``None`` without a side head)."""
        return self._run(crop, with_side=True)

    def _run(self, crop: torch.Tensor, with_side: bool) -> tuple:
        encoding = run_layers(self.encoder, crop)
        maps = []
        for index, stage in enumerate(self.stages):
            x = encoding if index == 0 else torch.cat([maps[-1], encoding], dim=1)
            maps.append(run_layers(stage, x))
        side = None
        if with_side and self.side_head is not None:
            side = run_layers(self.side_head, encoding.mean(dim=(2, 3)))
        return tuple(maps), side


def _build_posenet(config: dict) -> PoseNet:
    return PoseNet(resolve_config("posenet", config))


def build_posenet(config="paper", width=None, input_size=None) -> PoseNet:
    """PoseNet from a table (name in ``CONFIGS`` or a full dict).

    ``input_size`` is the crop size ``(S, S)`` px (paper 256, lite 128); the maps are
    ``S / 8`` wide. ``width`` multiplies the channels.
    """
    return _build_posenet(resolve_config("posenet", config, width, input_size))
