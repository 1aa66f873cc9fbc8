import itertools

import numpy as np
import pytest

from hand3d_ros.training.datasets import (FIELDS, DataError, SampleDataset, ShardBlockSampler, collate,
                                          make_loader)


def _take(sampler, n):
    return list(itertools.islice(iter(sampler), n))


def test_sampler_is_a_permutation_per_epoch_and_resumable():
    s = ShardBlockSampler(20, 8, 4, seed=3)
    batches = _take(s, 10)  # two epochs
    assert sorted(sum(batches[:5], [])) == list(range(20))
    assert sorted(sum(batches[5:], [])) == list(range(20))
    assert sum(batches[:5], []) != sum(batches[5:], [])
    assert _take(ShardBlockSampler(20, 8, 4, seed=3, start_batch=7), 3) == batches[7:10]
    assert _take(ShardBlockSampler(20, 8, 4, seed=4), 5) != batches[:5]


def test_sampler_keeps_shards_together():
    order = ShardBlockSampler(64, 16, 4, seed=0, block_shards=1).epoch_order(0)
    shards = order // 16
    assert all(len(set(shards[i:i + 16])) == 1 for i in range(0, 64, 16))


def test_dataset_reads_only_the_needed_fields(tiny_shards):
    data = SampleDataset(tiny_shards, FIELDS["poseprior"])
    assert len(data) == 16
    sample = data[3]
    assert set(sample) == set(FIELDS["poseprior"])
    assert sample["image_hw"].tolist() == [128, 128] and sample["hand_side"].dtype == np.int64
    assert SampleDataset(tiny_shards, FIELDS["posenet"], limit=5).describe()["count"] == 5
    with pytest.raises(IndexError):
        data[16]


def test_loader_batches(tiny_shards):
    data = SampleDataset(tiny_shards, FIELDS["all"])
    batch = next(iter(make_loader(data, 4, seed=0, num_workers=0)))
    assert batch["image"].shape == (4, 128, 128, 3) and batch["uv"].shape == (4, 21, 2)
    assert collate([data[0], data[1]])["xyz"].shape == (2, 21, 3)


def test_bad_sources(tmp_path):
    with pytest.raises(DataError, match="neither a shard folder"):
        SampleDataset(tmp_path)
    with pytest.raises(DataError):
        SampleDataset(f"rhd:{tmp_path}")
