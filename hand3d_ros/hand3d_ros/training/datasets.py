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
    "posenet": ("image", "uv", "visible", "hand_side", "kp_score"),
    "poseprior": ("uv", "visible", "xyz", "hand_side", "image_hw"),
    "poseprior-direct": ("uv", "visible", "xyz", "hand_side", "image_hw"),
    "all": ("image", "mask", "uv", "visible", "xyz", "hand_side", "K"),
}


#: Fields a source may lack, and how their default is made from the sample's other fields:
#: ``kp_score`` (per-keypoint label confidence, ``(K,)`` float32 in [0, 1]; teacher-labelled
#: real photos carry it, rendered and public data sets have exact labels: all 1).
OPTIONAL_FIELDS = {
    "kp_score": lambda sample: np.ones(np.asarray(sample["uv"]).shape[0], np.float32),
}
#: Fields the optional fields' defaults are made from (decoded when a default is needed).
_DEFAULT_NEEDS = {"kp_score": ("uv",)}
#: ``--data`` syntax for a weighted mixture: ``SOURCE*WEIGHT`` (weight > 0; default 1).
WEIGHT_SEPARATOR = "*"


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
        self.defaults = []
        path = Path(self.source)
        if (path / "manifest.json").is_file():
            from hand3d_ros.data.shards import ShardDataset, ShardError

            want = [f for f in self.fields if f != "image_hw"]
            need_image_shape = "image_hw" in self.fields
            try:
                spec = ShardDataset(path, fields=["hand_side"], cache_shards=1).manifest.get("fields") or {}
                self.defaults = [f for f in want if f in OPTIONAL_FIELDS and f not in spec]
                decode = [f for f in want if f not in self.defaults]
                decode += [n for f in self.defaults for n in _DEFAULT_NEEDS[f] if n not in decode]
                self.shards = ShardDataset(path, fields=decode or ["hand_side"], cache_shards=cache_shards)
            except ShardError as exc:
                raise DataError(str(exc)) from None
            missing = [f for f in want if f not in spec and f not in self.defaults]
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
            elif name in OPTIONAL_FIELDS and name not in sample:
                out[name] = OPTIONAL_FIELDS[name](sample)
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


class MixedDataset(Dataset):
    """Several sources drawn in proportion to their weights, one source per batch.

    Sources may differ in image size (rendered 320x320, real photos 320x240): a batch
    never mixes them, the tasks crop or resize per batch. Sample ``i`` of source ``s`` is
    global index ``offsets[s] + i``.

    Args:
        sources: ``[(source, weight), ...]`` with ``source`` as :class:`SampleDataset`
            takes it and ``weight > 0`` (the share of batches drawn from it).
        fields, cache_shards: as :class:`SampleDataset`.
    """

    def __init__(self, sources: Sequence, fields: Sequence[str] = FIELDS["all"], cache_shards: int = 2):
        if not sources:
            raise DataError("no data sources")
        self.parts, weights = [], []
        for source, weight in sources:
            if not weight > 0:
                raise DataError(f"{source}: weight must be > 0, got {weight}")
            self.parts.append(source if isinstance(source, SampleDataset)
                              else SampleDataset(source, fields, cache_shards=cache_shards))
            weights.append(float(weight))
        self.weights = np.asarray(weights) / sum(weights)
        self.offsets = np.cumsum([0] + [len(p) for p in self.parts])[:-1]
        self.fields = tuple(fields)

    def __len__(self) -> int:
        return int(sum(len(p) for p in self.parts))

    def describe(self) -> dict:
        """Plain description for weight-file metadata: each source's description and weight."""
        return {"mixture": [dict(p.describe(), weight=round(float(w), 6))
                            for p, w in zip(self.parts, self.weights)], "count": len(self)}

    def __getitem__(self, index: int) -> dict:
        part = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return self.parts[part][int(index - self.offsets[part])]


class MixedBatchSampler(torch.utils.data.Sampler):
    """Infinite, deterministic batches of a :class:`MixedDataset`: batch ``b`` comes from the
    source drawn with ``rng(seed, b)`` by weight, as that source's next
    :class:`ShardBlockSampler` batch; the same for any ``start_batch`` (resumable)."""

    def __init__(self, data: MixedDataset, batch_size: int, seed: int = 0, start_batch: int = 0,
                 shuffle: bool = True):
        self.data, self.batch_size, self.seed, self.shuffle = data, int(batch_size), int(seed), shuffle
        self.start_batch = int(start_batch)

    def source_of(self, batch_index: int) -> int:
        """Index of the source batch ``batch_index`` is drawn from."""
        if len(self.data.parts) == 1:
            return 0
        u = np.random.default_rng([self.seed, 7919, int(batch_index)]).random()
        return int(min(np.searchsorted(np.cumsum(self.data.weights), u, side="right"), len(self.data.parts) - 1))

    def __iter__(self) -> Iterator[List[int]]:
        done = np.zeros(len(self.data.parts), dtype=np.int64)
        for b in range(self.start_batch):
            done[self.source_of(b)] += 1
        streams = [iter(ShardBlockSampler(len(p), p.shard_size, self.batch_size, self.seed + 101 * i,
                                          int(done[i]), shuffle=self.shuffle))
                   for i, p in enumerate(self.data.parts)]
        b = self.start_batch
        while True:
            part = self.source_of(b)
            yield [int(self.data.offsets[part]) + i for i in next(streams[part])]
            b += 1

    def __len__(self) -> int:  # DataLoader asks; the stream is endless
        return 2 ** 62


def parse_sources(text_or_list) -> list:
    """``--data`` values -> ``[(source, weight), ...]``: each value is ``SOURCE`` or
    ``SOURCE*WEIGHT``, several values separated by commas or given as a list."""
    items = [text_or_list] if isinstance(text_or_list, (str, Path)) else list(text_or_list)
    out = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            source, sep, weight = part.rpartition(WEIGHT_SEPARATOR)
            if not sep:
                out.append((part, 1.0))
                continue
            try:
                out.append((source, float(weight)))
            except ValueError:
                raise DataError(f"{part}: the weight after '{WEIGHT_SEPARATOR}' must be a number") from None
    if not out:
        raise DataError("no data sources given")
    return out


def open_data(text_or_list, fields: Sequence[str], cache_shards: int = 2):
    """A :class:`SampleDataset` for one source, a :class:`MixedDataset` for several or a weighted one."""
    sources = parse_sources(text_or_list)
    if len(sources) == 1 and sources[0][1] == 1.0:
        return SampleDataset(sources[0][0], fields, cache_shards=cache_shards)
    return MixedDataset(sources, fields, cache_shards=cache_shards)


def collate(samples: List[dict]) -> dict:
    """Stack sample dicts into tensors (uint8 images stay uint8)."""
    return {k: torch.from_numpy(np.stack([s[k] for s in samples])) for k in samples[0]}


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """CPU generator of one step's augmentation (same batch for the same seed and step)."""
    g = torch.Generator()
    g.manual_seed(int(np.random.SeedSequence([int(seed), int(step), int(stream)]).generate_state(1)[0]))
    return g


def make_loader(dataset, batch_size: int, seed: int, start_batch: int = 0,
                num_workers: int = 1, shuffle: bool = True):
    """An endless DataLoader of collated batches of a :class:`SampleDataset` (see
    :class:`ShardBlockSampler`) or a :class:`MixedDataset` (see :class:`MixedBatchSampler`)."""
    if isinstance(dataset, MixedDataset):
        sampler = MixedBatchSampler(dataset, batch_size, seed, start_batch, shuffle=shuffle)
    else:
        sampler = ShardBlockSampler(len(dataset), dataset.shard_size, batch_size, seed, start_batch,
                                    shuffle=shuffle)
    # An own generator: creating the iterator must not draw from the global RNG (dropout's),
    # or a resumed run would diverge from an uninterrupted one.
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers,
                                       collate_fn=collate, persistent_workers=False, generator=generator,
                                       prefetch_factor=2 if num_workers > 0 else None)
