"""PoseNet: 21 keypoint score maps from a hand crop (paper section 4.2)."""
from __future__ import annotations

import torch
from torch import nn

from hand3d_ros.models.layers import make_layers, run_layers
from hand3d_ros.models.tables import POSENET_MAP_STRIDE, resolve_config


class PoseNet(nn.Module):
    """Crop ``(N, 3, S, S)`` (RGB, ``x / 255 - 0.5``) -> tuple of score maps, one per stage.

    Each map is ``(N, 21, S/8, S/8)`` in the public keypoint order of
    :mod:`hand3d_ros.core.keypoints`; the last stage's maps are the ones used at
    inference, all stages are supervised in training. Stage 0 reads the encoding,
    stage k > 0 reads ``concat(maps of stage k-1, encoding)`` along channels (maps
    first, as the authors do).
    """

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        width, hw = config["width"], config["input_size"]
        self.encoder, enc_ch = make_layers(config["encoder"], config["in_channels"], width, hw)
        map_hw = tuple(s // POSENET_MAP_STRIDE for s in hw)
        self.stages = nn.ModuleList()
        in_ch = enc_ch
        for index, stage in enumerate(config["stages"]):
            modules, out = make_layers(stage, in_ch, width, map_hw)
            if out != config["num_keypoints"]:
                raise ValueError(f"PoseNet stage {index} gives {out} maps, not {config['num_keypoints']}")
            self.stages.append(modules)
            in_ch = out + enc_ch
        if not self.stages:
            raise ValueError("PoseNet needs at least one stage")

    def forward(self, crop: torch.Tensor) -> tuple:
        """Tuple of ``len(stages)`` score maps ``(N, 21, S/8, S/8)``; the last is the output."""
        encoding = run_layers(self.encoder, crop)
        maps = []
        for index, stage in enumerate(self.stages):
            x = encoding if index == 0 else torch.cat([maps[-1], encoding], dim=1)
            maps.append(run_layers(stage, x))
        return tuple(maps)


def _build_posenet(config: dict) -> PoseNet:
    return PoseNet(resolve_config("posenet", config))


def build_posenet(config="paper", width=None, input_size=None) -> PoseNet:
    """PoseNet from a table (name in ``CONFIGS`` or a full dict).

    ``input_size`` is the crop size ``(S, S)`` px (paper 256, lite 128); the maps are
    ``S / 8`` wide. ``width`` multiplies the channels.
    """
    return _build_posenet(resolve_config("posenet", config, width, input_size))
