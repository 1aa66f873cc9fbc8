"""Datasets for training: shard folders and public-dataset readers, plus batch augmentation.

Decoding happens in DataLoader workers (:class:`SampleDataset`); everything random
(crops, noise, contrast, flips) happens on whole batches in the training process
(:func:`augment_batch_for`), from a generator seeded by ``(seed, step)``, so a step's
batch does not depend on the number of workers and a resumed run sees exactly the
batches an uninterrupted one would.

Data order: :class:`ShardBlockSampler` shuffles shard by shard (shards in random order,
samples shuffled within a block of ``block_shards`` shards), so a worker decodes each
shard once per epoch instead of once per sample.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

#: Fields each network needs (the rest of a shard is not decoded).
FIELDS = {
    "handsegnet": ("image", "mask"),
    "posenet": ("image", "uv", "visible", "hand_side"),
    "poseprior": ("uv", "visible", "xyz", "hand_side", "image_hw"),
    "poseprior-direct": ("uv", "visible", "xyz", "hand_side", "image_hw"),
    "all": ("image", "mask", "uv", "visible", "xyz", "hand_side", "K"),
}


class DataError(ValueError):
    """A data folder cannot be used (one readable line)."""


class SampleDataset(Dataset):
    """Samples of a shard folder or of a public dataset as dicts of numpy arrays.

    Args:
        source: a shard folder (``manifest.json``) or ``"KIND:ROOT[:SPLIT]"`` for
            :func:`hand3d_ros.data.readers.open_dataset` (e.g. ``rhd:/data/RHD:evaluation``).
        fields: field names to return (``image_hw`` is derived: ``(2,)`` int64 H, W).
        limit: use only the first ``limit`` samples (None: all).
        cache_shards: decoded shards kept per worker.
    """

    def __init__(self, source, fields: Sequence[str] = FIELDS["all"], limit: Optional[int] = None,
                 cache_shards: int = 2):
        self.source = str(source)
        self.fields = tuple(fields)
        self.reader = None
        self.shards = None
        path = Path(self.source)
        if (path / "manifest.json").is_file():
            from hand3d_ros.data.shards import ShardDataset, ShardError

            want = [f for f in self.fields if f != "image_hw"]
            need_image_shape = "image_hw" in self.fields
            try:
                self.shards = ShardDataset(path, fields=want or ["hand_side"], cache_shards=cache_shards)
            except ShardError as exc:
                raise DataError(str(exc)) from None
            spec = self.shards.manifest.get("fields") or {}
            missing = [f for f in want if f not in spec]
            if missing:
                raise DataError(f"{path} has no field(s) {missing}")
            self._image_hw = tuple(spec["image"]["shape"][:2]) if "image" in spec else None
            if need_image_shape and self._image_hw is None:
                raise DataError(f"{path} has no images (image size unknown)")
            self.count = len(self.shards)
            self.shard_size = self.shards.shard_size
        elif ":" in self.source:
            from hand3d_ros.data.readers import open_dataset

            kind, _, rest = self.source.partition(":")
            root, _, split = rest.partition(":")
            try:
                self.reader = open_dataset(kind, root, split or "training")
            except (ValueError, FileNotFoundError) as exc:
                raise DataError(str(exc)) from None
            self.count = len(self.reader)
            self.shard_size = 1
            self._image_hw = None
        else:
            raise DataError(f"{self.source} is neither a shard folder (no manifest.json) nor KIND:ROOT[:SPLIT]")
        if limit is not None:
            self.count = min(self.count, int(limit))
        if self.count < 1:
            raise DataError(f"{self.source} holds no samples")

    def __len__(self) -> int:
        return self.count

    def describe(self) -> dict:
        """Plain description for weight-file metadata: source, count, manifest info and hash."""
        out = {"source": str(Path(self.source).resolve()) if self.shards else self.source, "count": self.count}
        if self.shards is not None:
            manifest = self.shards.manifest
            out["manifest_info"] = json.loads(json.dumps(manifest.get("info", {})))
            out["manifest_sha256"] = hashlib.sha256(
                json.dumps(manifest, sort_keys=True).encode()).hexdigest()
        return out

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.count:
            raise IndexError(index)
        sample = self.shards[index] if self.shards is not None else self.reader[index]
        out = {}
        for name in self.fields:
            if name == "image_hw":
                hw = self._image_hw or np.asarray(sample["image"]).shape[:2]
                out[name] = np.asarray(hw, dtype=np.int64)
            else:
                value = np.asarray(sample[name])
                if name == "hand_side":
                    value = value.astype(np.int64)
                elif name == "visible":
                    value = value.astype(bool)
                elif value.dtype == np.float64:
                    value = value.astype(np.float32)
                out[name] = value
        return out


class ShardBlockSampler(torch.utils.data.Sampler):
    """Infinite, deterministic batch sampler (yields lists of indices) starting at a given batch.

    Epoch ``e`` is a permutation seeded by ``(seed, e)``: shard blocks in random order,
    samples shuffled within each block of ``block_shards`` shards. Batch ``b`` of the
    whole stream is the same whatever ``start_batch`` is (used to resume).
    """

    def __init__(self, count: int, shard_size: int, batch_size: int, seed: int = 0, start_batch: int = 0,
                 block_shards: int = 2, shuffle: bool = True):
        self.count, self.shard_size, self.batch_size = int(count), max(1, int(shard_size)), int(batch_size)
        self.seed, self.start_batch, self.block_shards, self.shuffle = seed, int(start_batch), block_shards, shuffle

    def epoch_order(self, epoch: int) -> np.ndarray:
        """``(count,)`` sample order of ``epoch``."""
        if not self.shuffle:
            return np.arange(self.count)
        rng = np.random.default_rng([self.seed, epoch])
        shard_starts = np.arange(0, self.count, self.shard_size)
        rng.shuffle(shard_starts)
        block = max(1, self.block_shards) if self.shard_size > 1 else self.count
        order = []
        for i in range(0, len(shard_starts), block):
            idx = np.concatenate([np.arange(s, min(s + self.shard_size, self.count))
                                  for s in shard_starts[i:i + block]])
            rng.shuffle(idx)
            order.append(idx)
        return np.concatenate(order)

    def __iter__(self) -> Iterator[List[int]]:
        # The stream is the concatenation of the epochs, cut into batches.
        position = self.start_batch * self.batch_size
        epoch, offset = divmod(position, self.count)
        order = self.epoch_order(epoch)
        while True:
            batch = []
            while len(batch) < self.batch_size:
                if offset >= self.count:
                    epoch, offset = epoch + 1, 0
                    order = self.epoch_order(epoch)
                take = min(self.batch_size - len(batch), self.count - offset)
                batch.extend(int(i) for i in order[offset:offset + take])
                offset += take
            yield batch

    def __len__(self) -> int:  # DataLoader asks; the stream is endless
        return 2 ** 62


def collate(samples: List[dict]) -> dict:
    """Stack sample dicts into tensors (uint8 images stay uint8)."""
    return {k: torch.from_numpy(np.stack([s[k] for s in samples])) for k in samples[0]}


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """CPU generator of one step's augmentation (same batch for the same seed and step)."""
    g = torch.Generator()
    g.manual_seed(int(np.random.SeedSequence([int(seed), int(step), int(stream)]).generate_state(1)[0]))
    return g


def make_loader(dataset: SampleDataset, batch_size: int, seed: int, start_batch: int = 0,
                num_workers: int = 1, shuffle: bool = True):
    """An endless DataLoader of collated batches (see :class:`ShardBlockSampler`)."""
    sampler = ShardBlockSampler(len(dataset), dataset.shard_size, batch_size, seed, start_batch, shuffle=shuffle)
    # An own generator: creating the iterator must not draw from the global RNG (dropout's),
    # or a resumed run would diverge from an uninterrupted one.
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers,
                                       collate_fn=collate, persistent_workers=False, generator=generator,
                                       prefetch_factor=2 if num_workers > 0 else None)
