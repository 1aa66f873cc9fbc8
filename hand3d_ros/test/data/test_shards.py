"""Shard writing and reading: round trip, resume, parallel determinism, mismatch refusal."""
import json
import os

import numpy as np
import pytest

from hand3d_ros.data.shards import MANIFEST_NAME, ArraySource, ShardDataset, ShardError, shard_name, write_shards


def ToyGenerator(offset=0, count=16):
    """Deterministic per index and picklable (worker processes are spawned), with the
    renderer's kinds of fields."""
    rng = np.random.default_rng(offset)
    return ArraySource({
        "image": rng.integers(0, 256, (count, 8, 6, 3), dtype=np.uint8),
        "uv": rng.random((count, 21, 2), dtype=np.float32),
        "visible": rng.random((count, 21)) < 0.5,
        "hand_side": (np.arange(count) % 2).astype(np.uint8),
        "index": np.arange(count, dtype=np.int64),
    })


def _read_all(root):
    ds = ShardDataset(root)
    return [ds[i] for i in range(len(ds))]


def test_round_trip(tmp_path):
    gen = ToyGenerator()
    manifest = write_shards(gen, tmp_path, num=11, shard_size=4, workers=1, info={"seed": 3}, progress=False)
    assert manifest["num_shards"] == 3 and manifest["complete"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST_NAME] + [shard_name(i) for i in range(3)]
    ds = ShardDataset(tmp_path)
    assert len(ds) == 11 and ds.info == {"seed": 3}
    assert ds.manifest["fields"]["image"] == {"dtype": "|u1", "shape": [8, 6, 3]}
    for i in (0, 5, 10, -1):
        sample, expected = ds[i], gen(i % 11)
        assert int(sample["index"]) == i % 11
        assert sample.keys() == expected.keys()
        for key in expected:
            np.testing.assert_array_equal(sample[key], expected[key])
            assert sample[key].dtype == np.asarray(expected[key]).dtype
    with pytest.raises(IndexError):
        ds[11]
    with np.load(tmp_path / shard_name(2)) as z:  # plain npz, stacked per field
        assert z["image"].shape == (3, 8, 6, 3)


def test_resume_rewrites_only_missing_shards(tmp_path):
    gen = ToyGenerator()
    write_shards(gen, tmp_path, num=12, shard_size=4, progress=False)
    first = _read_all(tmp_path)
    (tmp_path / shard_name(1)).unlink()
    (tmp_path / f"{shard_name(1)}.tmp-999").write_bytes(b"partial")  # an interrupted write
    stamp = os.stat(tmp_path / shard_name(0)).st_mtime_ns
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    manifest["complete"] = False
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ShardError):
        ShardDataset(tmp_path)  # incomplete
    write_shards(gen, tmp_path, num=12, shard_size=4, progress=False)
    assert os.stat(tmp_path / shard_name(0)).st_mtime_ns == stamp
    assert not list(tmp_path.glob("*.tmp-*"))
    again = _read_all(tmp_path)
    for a, b in zip(first, again):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_refuses_to_mix_runs(tmp_path):
    write_shards(ToyGenerator(), tmp_path, num=4, shard_size=2, info={"seed": 1}, progress=False)
    with pytest.raises(ShardError):
        write_shards(ToyGenerator(), tmp_path, num=4, shard_size=2, info={"seed": 2}, progress=False)
    with pytest.raises(ShardError):
        write_shards(ToyGenerator(), tmp_path, num=6, shard_size=2, info={"seed": 1}, progress=False)
    with pytest.raises(ShardError):
        ShardDataset(tmp_path / "nowhere")


def test_two_workers_write_the_same_bytes(tmp_path):
    write_shards(ToyGenerator(7), tmp_path / "a", num=9, shard_size=2, workers=1, progress=False)
    write_shards(ToyGenerator(7), tmp_path / "b", num=9, shard_size=2, workers=2, progress=False)
    for a, b in zip(_read_all(tmp_path / "a"), _read_all(tmp_path / "b")):
        for key in a:
            assert a[key].tobytes() == b[key].tobytes()
