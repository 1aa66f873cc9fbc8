"""Each network's loss falls when it trains on one fixed small batch."""
import pytest
import torch

from hand3d_ros.training.configs import get_config
from hand3d_ros.training.datasets import SampleDataset, collate
from hand3d_ros.training.tasks import make_task

torch.set_num_threads(1)


@pytest.mark.parametrize("network,steps,lr", [("handsegnet", 10, 1e-3), ("posenet", 10, 1e-3),
                                               ("poseprior", 25, 1e-3), ("poseprior-direct", 25, 1e-3)])
def test_overfits_a_fixed_batch(tiny_shards, network, steps, lr):
    torch.manual_seed(0)
    config = get_config(network, "test")
    task = make_task(network, "lite", config.augment, config.loss)
    data = SampleDataset(tiny_shards, task.fields)
    prepared = task.prepare(collate([data[i] for i in range(2)]), generator=None)
    task.model.eval()  # no dropout: a clean overfit signal
    optimiser = torch.optim.Adam(task.model.parameters(), lr=lr)
    values = []
    for _ in range(steps):
        loss = task.loss(prepared)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        values.append(loss.item())
    assert values[-1] < 0.8 * values[0], values
