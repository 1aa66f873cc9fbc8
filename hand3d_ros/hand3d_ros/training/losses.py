"""Training losses (DESIGN.md section 3). Every loss is a mean over the batch."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from hand3d_ros.training.configs import LossWeights


def segmentation_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """HandSegNet: softmax cross-entropy, mean over the labelled pixels of the batch.

    Args:
        logits: ``(N, 2, H, W)`` (background, hand). labels: ``(N, H, W)`` long 0/1, or
            -100 for pixels without a label (skipped; see ``targets.segmentation_labels``).
    """
    if not bool((labels >= 0).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels, ignore_index=-100)


def score_map_loss(stage_maps: Sequence[torch.Tensor], target: torch.Tensor,
                   foreground_weight: float = 0.0, keypoint_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """PoseNet: squared L2 between every stage's maps and the Gaussian targets, summed over
    stages, keypoints and cells, mean over the batch; each cell weighted
    ``1 + foreground_weight * target`` (0: the paper's plain L2), each map by its keypoint's
    label confidence.

    Args:
        stage_maps: tuple of ``(N, K, M, M)`` maps, one per stage.
        target: ``(N, K, M, M)`` targets (all-zero maps for invisible keypoints).
        foreground_weight: see :class:`hand3d_ros.training.configs.LossWeights`.
        keypoint_weight: ``(N, K)`` in [0, 1] (teacher labels: per-keypoint confidence);
            None: all 1.
    """
    n = target.shape[0]
    weight = 1.0 + foreground_weight * target if foreground_weight else torch.ones_like(target[:1, :1])
    if keypoint_weight is not None:
        weight = weight * keypoint_weight[:, :, None, None].to(target.dtype)
    return sum((weight * (maps - target) ** 2).sum() for maps in stage_maps) / n


def posenet_loss(stage_maps: Sequence[torch.Tensor], target: torch.Tensor,
                 side_logits: Optional[torch.Tensor] = None, hand_side: Optional[torch.Tensor] = None,
                 weights: LossWeights = LossWeights(), keypoint_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """:func:`score_map_loss` (foreground weight ``weights.map_foreground``) plus
    ``weights.side`` x the softmax cross-entropy of the side head (``side_logits``
    ``(N, 2)`` [left, right], ``hand_side`` ``(N,)`` long 0 = left, 1 = right) when the
    network has one; ``keypoint_weight`` ``(N, K)``: see :func:`score_map_loss`. The map
    loss is scaled by ``weights.maps`` (and skipped at 0)."""
    loss = stage_maps[-1].new_zeros(())
    if weights.maps > 0:
        loss = loss + weights.maps * score_map_loss(stage_maps, target, weights.map_foreground, keypoint_weight)
    if side_logits is not None:
        loss = loss + weights.side * F.cross_entropy(side_logits, hand_side)
    return loss


def poseprior_loss(w_c: torch.Tensor, rot: torch.Tensor, w_c_gt: torch.Tensor, rot_gt: torch.Tensor) -> torch.Tensor:
    """PosePrior: squared L2 on the canonical coordinates plus squared L2 on the rotation
    matrix (unweighted sum), mean over the batch.

    Args:
        w_c, w_c_gt: ``(N, K, 3)`` canonical coordinates (unitless). rot, rot_gt: ``(N, 3, 3)``.
    """
    n = w_c.shape[0]
    return (((w_c - w_c_gt) ** 2).sum() + ((rot - rot_gt) ** 2).sum()) / n


def direct_loss(w_rel: torch.Tensor, w_rel_gt: torch.Tensor) -> torch.Tensor:
    """Direct-regression baseline: squared L2 on ``w_rel`` ``(N, K, 3)``, mean over the batch."""
    return ((w_rel - w_rel_gt) ** 2).sum() / w_rel.shape[0]
