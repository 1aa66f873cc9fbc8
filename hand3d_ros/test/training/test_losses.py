import torch

from hand3d_ros.training import losses


def test_score_map_loss_sums_stages_means_batch():
    target = torch.zeros(2, 21, 4, 4)
    maps = (torch.ones(2, 21, 4, 4), torch.zeros(2, 21, 4, 4))
    assert losses.score_map_loss(maps, target) == 21 * 16
    assert losses.score_map_loss((target, target), target) == 0


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
