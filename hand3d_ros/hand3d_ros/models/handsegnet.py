"""HandSegNet: hand / background segmentation of a whole frame (paper section 4.1)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hand3d_ros.models.layers import make_layers, run_layers
from hand3d_ros.models.tables import NUM_SEG_CLASSES, resolve_config


class HandSegNet(nn.Module):
    """Image ``(N, 3, H, W)`` (RGB, ``x / 255 - 0.5``) -> logits ``(N, 2, H, W)``.

    Channel 0 is background, 1 is hand; softmax over dim 1 gives probabilities. The
    network computes scores at 1/8 resolution (:meth:`scores`, ``(N, 2, H//8, W//8)``)
    and upsamples them bilinearly to the input size inside the module.

    Upsampling uses ``align_corners=False`` (half-pixel centres, ONNX Resize
    ``half_pixel``): score cell ``i`` covers input pixels ``8i .. 8i+7`` and sits at
    their centre, which is where the pooled features come from. The authors' TF 1.x
    ``resize_images`` used the legacy asymmetric mapping (``src = dst / 8``), which
    shifts the mask by 3.5 px toward the top-left; this is deliberately not copied.
    """

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        self.layers, out = make_layers(config["layers"], config["in_channels"], config["width"],
                                       config["input_size"], config.get("batch_norm", False))
        if out != NUM_SEG_CLASSES:
            raise ValueError(f"HandSegNet's last layer must give {NUM_SEG_CLASSES} channels, not {out}")

    def scores(self, image: torch.Tensor) -> torch.Tensor:
        """Low-resolution logits ``(N, 2, H//8, W//8)`` of image ``(N, 3, H, W)``."""
        return run_layers(self.layers, image)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 2, H, W)`` at the input's resolution."""
        return F.interpolate(self.scores(image), size=image.shape[-2:], mode="bilinear",
                             align_corners=False)


def _build_handsegnet(config: dict) -> HandSegNet:
    return HandSegNet(resolve_config("handsegnet", config))


def build_handsegnet(config="paper", width=None, input_size=None) -> HandSegNet:
    """HandSegNet from a table (name in ``CONFIGS`` or a full dict).

    ``width`` multiplies the channels; ``input_size`` ``(H, W)`` px is the frame size
    the network is meant for (it is fully convolutional; the size sets the cost and
    travels with the weights). Paper: 240x320, lite: 120x160.
    """
    return _build_handsegnet(resolve_config("handsegnet", config, width, input_size))
