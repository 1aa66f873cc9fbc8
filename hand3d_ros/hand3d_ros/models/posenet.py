"""PoseNet: 21 keypoint score maps from a hand crop (paper section 4.2)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hand3d_ros.core.keypoints import INDEX_MCP, LITTLE_MCP, WRIST
from hand3d_ros.models.layers import make_layers, run_layers
from hand3d_ros.models.tables import (
    NUM_HAND_LOGITS,
    NUM_HAND_SIDES,
    POSENET_MAP_STRIDE,
    SIDE_LAYOUT_BETA,
    resolve_config,
    side_head_features,
)

#: The keypoints whose layout gives the palm's turn: wrist, index and little-finger knuckles.
_TURN = (WRIST, INDEX_MCP, LITTLE_MCP)


class PoseNet(nn.Module):
    """Crop ``(N, 3, S, S)`` (RGB, ``x / 255 - 0.5``) -> tuple of score maps, one per stage.

    Each map is ``(N, 21, S/8, S/8)`` in the public keypoint order of
    :mod:`hand3d_ros.core.keypoints`; the last stage's maps are the ones used at
    inference, all stages are supervised in training. Stage 0 reads the encoding,
    stage k > 0 reads ``concat(maps of stage k-1, encoding)`` along channels (maps
    first, as the authors do).

    Tables with a ``side_head`` (a list of fc entries; the lite table) also classify the
    hand side: :meth:`forward_with_side` gives the maps and ``(N, 2)`` logits [left, right].
    The head reads the encoding, or the last maps and the encoding (``side_reads``),
    average-pooled to ``side_grid`` x ``side_grid`` cells (1: the global mean), and with
    ``side_layout`` the palm's turn (:func:`palm_turn`). The paper
    takes the side as an input; from 2D keypoints alone a left palm and a right back are
    mirror images, while the layout together with the pixels (nails, knuckles, the
    thumb's side) tells them apart. The maps reach the head detached: its loss does not
    shape the keypoints.

    Tables with a ``hand_head`` also score whether the crop holds a real hand at all:
    :meth:`forward_heads` adds ``(N, 1)`` logits. It reads the side head's input
    (:meth:`head_features`) and is fitted on the pipeline's own detections, real hands
    against faces, lamps and other false ones (``hand3d fit-hand-head``), with the rest
    of the network fixed.
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
        self.side_head = self.hand_head = None
        features = side_head_features(config, enc_ch, map_hw)
        if config.get("side_head"):
            self.side_head, out = make_layers(config["side_head"], features, width)
            if out != NUM_HAND_SIDES:
                raise ValueError(f"PoseNet side_head gives {out} logits, not {NUM_HAND_SIDES}")
        if config.get("hand_head"):
            self.hand_head, out = make_layers(config["hand_head"], features, width)
            if out != NUM_HAND_LOGITS:
                raise ValueError(f"PoseNet hand_head gives {out} logits, not {NUM_HAND_LOGITS}")
        self.side_reads_maps = config.get("side_reads", "encoding") == "maps+encoding"
        self.side_layout = bool(config.get("side_layout", False))
        self.side_cell = tuple(s // int(config.get("side_grid", 1)) for s in map_hw)  # pool kernel, cells

    @property
    def has_side_head(self) -> bool:
        return self.side_head is not None

    @property
    def has_hand_head(self) -> bool:
        return self.hand_head is not None

    def forward(self, crop: torch.Tensor) -> tuple:
        """Tuple of ``len(stages)`` score maps ``(N, 21, S/8, S/8)``; the last is the output."""
        return self._run(crop, heads=False)[0]

    def forward_with_side(self, crop: torch.Tensor) -> tuple:
        """``(maps, side_logits)``: the tuple of :meth:`forward` and ``(N, 2)`` logits
        [left, right] (``None`` without a side head)."""
        return self._run(crop, heads=True)[:2]

    def forward_heads(self, crop: torch.Tensor) -> tuple:
        """``(maps, side_logits, hand_logits)``: :meth:`forward_with_side` and the hand
        head's ``(N, 1)`` logits of a real hand (``None`` without a hand head)."""
        return self._run(crop, heads=True)[:3]

    def head_features(self, crop: torch.Tensor) -> torch.Tensor:
        """``(N, F)``: what the side and hand heads read (F from
        :func:`~hand3d_ros.models.tables.side_head_features`)."""
        return self._run(crop, heads=True, features=True)[3]

    def _run(self, crop: torch.Tensor, heads: bool, features: bool = False) -> tuple:
        encoding = run_layers(self.encoder, crop)
        maps = []
        for index, stage in enumerate(self.stages):
            x = encoding if index == 0 else torch.cat([maps[-1], encoding], dim=1)
            maps.append(run_layers(stage, x))
        if not (features or heads and (self.side_head is not None or self.hand_head is not None)):
            return tuple(maps), None, None, None
        x = torch.cat([maps[-1].detach(), encoding], dim=1) if self.side_reads_maps else encoding
        # the global mean stays a ReduceMean in exported graphs (their hashes pin INT8 ranges)
        if self.side_cell == tuple(x.shape[-2:]):
            x = x.mean(dim=(2, 3))
        else:
            x = F.avg_pool2d(x, self.side_cell).flatten(1)
        if self.side_layout:
            x = torch.cat([x, palm_turn(maps[-1].detach())], dim=1)
        side = None if self.side_head is None else run_layers(self.side_head, x)
        hand = None if self.hand_head is None else run_layers(self.hand_head, x)
        return tuple(maps), side, hand, x


def palm_turn(maps: torch.Tensor, beta: float = SIDE_LAYOUT_BETA) -> torch.Tensor:
    """Which way the palm turns in the image, from score maps ``(N, 21, h, w)`` -> ``(N, 1)``.

    The sine of the angle from wrist->index knuckle to wrist->little-finger knuckle (image axes,
    y down), each keypoint at its softmax-weighted mean cell (sharpness ``beta``). A
    right palm facing the camera and a left back turn one way (< 0), their mirror
    images the other (> 0): with whether the palm or the back is seen, this is the side.
    """
    n, k, h, w = maps.shape
    weight = torch.softmax(maps[:, list(_TURN)].flatten(2) * beta, dim=-1).reshape(n, len(_TURN), h, w)
    u = (weight.sum(dim=2) * torch.arange(w, dtype=maps.dtype, device=maps.device)).sum(dim=-1)
    v = (weight.sum(dim=3) * torch.arange(h, dtype=maps.dtype, device=maps.device)).sum(dim=-1)
    index = torch.stack([u[:, 1] - u[:, 0], v[:, 1] - v[:, 0]], dim=-1)
    little = torch.stack([u[:, 2] - u[:, 0], v[:, 2] - v[:, 0]], dim=-1)
    cross = index[:, 0] * little[:, 1] - index[:, 1] * little[:, 0]
    return (cross / (index.norm(dim=-1) * little.norm(dim=-1) + 1e-6))[:, None]


def _build_posenet(config: dict) -> PoseNet:
    return PoseNet(resolve_config("posenet", config))


def build_posenet(config="paper", width=None, input_size=None) -> PoseNet:
    """PoseNet from a table (name in ``CONFIGS`` or a full dict).

    ``input_size`` is the crop size ``(S, S)`` px (paper 256, lite 128); the maps are
    ``S / 8`` wide. ``width`` multiplies the channels.
    """
    return _build_posenet(resolve_config("posenet", config, width, input_size))
