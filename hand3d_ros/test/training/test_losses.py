import torch

from hand3d_ros.training import losses
from hand3d_ros.training.configs import LossWeights


def test_score_map_loss_sums_stages_means_batch():
    target = torch.zeros(2, 21, 4, 4)
    maps = (torch.ones(2, 21, 4, 4), torch.zeros(2, 21, 4, 4))
    assert losses.score_map_loss(maps, target) == 21 * 16
    assert losses.score_map_loss((target, target), target) == 0


def test_foreground_weight_counts_the_gaussians_more_but_keeps_the_minimum():
    target = torch.zeros(1, 21, 4, 4)
    target[0, :, 1, 1] = 1.0  # one full-height peak per map
    zeros = (torch.zeros_like(target),)
    assert losses.score_map_loss(zeros, target) == 21
    assert losses.score_map_loss(zeros, target, foreground_weight=10.0) == 21 * 11
    assert losses.score_map_loss((target,), target, foreground_weight=10.0) == 0
    # a false peak on the background costs the same with or without the weight
    false = target.clone()
    false[0, :, 3, 3] = 1.0
    assert losses.score_map_loss((false,), target, 10.0) == losses.score_map_loss((false,), target) == 21


def test_posenet_loss_adds_the_weighted_side_cross_entropy():
    target = torch.zeros(2, 21, 4, 4)
    logits, side = torch.zeros(2, 2), torch.tensor([0, 1])
    chance = torch.log(torch.tensor(2.0))
    weights = LossWeights(side=5.0)
    assert torch.isclose(losses.posenet_loss((target,), target, logits, side, weights), 5 * chance)
    assert losses.posenet_loss((target,), target, None, None) == 0  # no head: maps only


def test_poseprior_loss_and_direct():
    w = torch.zeros(3, 21, 3)
    eye = torch.eye(3).expand(3, 3, 3)
    assert losses.poseprior_loss(w, eye, w, eye) == 0
    assert losses.poseprior_loss(w + 1, eye, w, eye) == 63
    assert losses.poseprior_loss(w, -eye, w, eye) == 12
    assert losses.direct_loss(w + 2, w) == 63 * 4


def test_segmentation_loss_is_cross_entropy():
    logits = torch.zeros(1, 2, 2, 2)
    labels = torch.ones(1, 2, 2, dtype=torch.long)
    assert torch.isclose(losses.segmentation_loss(logits, labels), torch.log(torch.tensor(2.0)))
    logits[:, 1] = 20
    assert losses.segmentation_loss(logits, labels) < 1e-6
