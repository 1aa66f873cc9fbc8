"""The interface every inference backend implements.

Notation: N batch, H x W HandSegNet input, S PoseNet crop side, s = S / 8 map side,
K = 21 keypoints. All tensors are torch tensors on :attr:`Backend.device`; a backend that
computes elsewhere (ONNX Runtime on the CPU, TensorRT) binds or copies them itself.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Optional, Sequence, Tuple

import torch


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run here; the message says what is missing."""


class Backend(ABC):
    """Runs HandSegNet, PoseNet (last stage) and PosePrior.

    Attributes:
        name: e.g. ``"torch-cpu"``, ``"onnxruntime-cuda"``, ``"tensorrt"``.
        device: where input and output tensors live.
        precision: ``"fp32"``, ``"fp16"``, ``"bf16"`` or ``"int8"``.
    """

    name: str = "backend"
    device: torch.device = torch.device("cpu")
    precision: str = "fp32"

    @abstractmethod
    def handsegnet(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalised float32 images -> (N, 2, H, W) float32 logits [background, hand]."""

    @abstractmethod
    def posenet(self, crops: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]:
        """(N, 3, S, S) normalised float32 crops -> ``(maps, side_logits, hand_logits)``:
        (N, K, s, s) float32 score maps (last stage), (N, 2) float32 hand side logits
        [left, right] and (N, 1) float32 logits of a real hand, each ``None`` when the
        PoseNet has no such head (the paper's has neither)."""

    @abstractmethod
    def poseprior(self, maps: torch.Tensor, hand_side: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(N, K, s, s) maps and (N, 2) one-hot [left, right] -> (w_c (N, K, 3), R (N, 3, 3)), float32.

        ``w_c`` is the side-agnostic canonical pose; ``w_rel = flip(w_c) @ R``.
        """

    def synchronize(self) -> None:
        """Wait for queued device work (for honest timings)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def describe(self) -> str:
        return f"{self.name} ({self.precision})"


def posenet_result(output_names: Sequence[str], outputs: Sequence[torch.Tensor]) -> tuple:
    """``(maps, side_logits, hand_logits)`` from a PoseNet graph's named outputs
    (``score_maps`` and, if the graph has them, ``hand_side_logits`` and ``hand_logit``; see
    :func:`hand3d_ros.inference.export.graph_signature`; None for an absent head)."""
    names = list(output_names)

    def named(name):
        return outputs[names.index(name)] if name in names else None

    return outputs[names.index("score_maps")], named("hand_side_logits"), named("hand_logit")
