"""Sharded sample storage: compressed NPZ files of stacked samples plus a manifest.

Layout of a shard folder::

    manifest.json          count, shard size, field shapes/dtypes, generator info
    shard-000000.npz       samples 0 .. shard_size-1, every field stacked on axis 0
    shard-000001.npz       ...

A sample is a dict of numpy arrays (or scalars) whose shapes are the same for every
sample (the renderer's fields are listed in ``data.render.scene.SAMPLE_FIELDS``).
Shards are ordinary ``.npz`` files (zip, deflate level ``compress_level``); read them
with :class:`ShardDataset` or ``np.load``.

:func:`write_shards` is deterministic per sample index (it only calls
``generator(index)``), resumable (finished shards are kept, a shard is written under a
temporary name and renamed when complete) and parallel (``workers`` processes started
with "spawn", one shard per task; scripts calling it need the usual
``if __name__ == "__main__":`` guard).
"""
from __future__ import annotations

import json
import multiprocessing
import os
import zipfile
from collections import OrderedDict
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np

MANIFEST_NAME = "manifest.json"
SHARD_PATTERN = "shard-{:06d}.npz"
FORMAT_NAME = "hand3d-shards"
FORMAT_VERSION = 1
#: Keys of the manifest that must match when resuming into an existing folder.
_RESUME_KEYS = ("format", "format_version", "count", "shard_size", "info")


class ShardError(RuntimeError):
    """A shard folder is missing, inconsistent or incompatible (one readable line)."""


def shard_name(shard_index: int) -> str:
    """File name of shard ``shard_index``."""
    return SHARD_PATTERN.format(shard_index)


def shard_ranges(count: int, shard_size: int) -> list:
    """``[(start, stop), ...]`` sample index ranges of the shards."""
    if shard_size < 1:
        raise ValueError("shard_size must be >= 1")
    return [(s, min(s + shard_size, count)) for s in range(0, count, shard_size)]


def stack_samples(samples: list) -> dict:
    """Stack a list of sample dicts field by field (axis 0)."""
    keys = list(samples[0].keys())
    out = {}
    for key in keys:
        values = [np.asarray(s[key]) for s in samples]
        shapes = {v.shape for v in values}
        if len(shapes) != 1:
            raise ShardError(f"field {key!r} changes shape between samples: {sorted(shapes)}")
        out[key] = np.stack(values)
    return out


def save_npz(path: Path, arrays: dict, compress_level: int = 1) -> None:
    """Write ``arrays`` as a deflate-compressed ``.npz`` (readable by ``np.load``).

    ``np.savez_compressed`` always uses zlib level 6; level 1 is about three times
    faster on images at a slightly larger size.
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compress_level) as zf:
        for key, value in arrays.items():
            with zf.open(f"{key}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(value), allow_pickle=False)


def field_spec(sample: dict) -> dict:
    """``{field: {"dtype": str, "shape": [...]}}`` of one sample (per-sample shapes)."""
    return {k: {"dtype": np.asarray(v).dtype.str, "shape": list(np.asarray(v).shape)} for k, v in sample.items()}


class ArraySource:
    """Picklable ``index -> sample`` view of arrays stacked on axis 0 (e.g. another
    dataset converted in memory), usable as the ``generator`` of :func:`write_shards`."""

    def __init__(self, arrays: dict):
        self.arrays = {k: np.asarray(v) for k, v in arrays.items()}
        lengths = {len(v) for v in self.arrays.values()}
        if len(lengths) != 1:
            raise ValueError(f"arrays differ in length: {sorted(lengths)}")
        self.length = lengths.pop()

    def __len__(self) -> int:
        return self.length

    def __call__(self, index: int) -> dict:
        return {k: v[index] for k, v in self.arrays.items()}


# ----------------------------------------------------------------------------- writing

_WORKER_GENERATOR = None


def _init_worker(generator):
    global _WORKER_GENERATOR
    _WORKER_GENERATOR = generator
    try:  # one process per core: keep OpenCV's own thread pool out of the way
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass


def _save_shard(out_dir: str, shard_index: int, samples: list, compress_level: int) -> tuple:
    final = Path(out_dir) / shard_name(shard_index)
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    save_npz(tmp, stack_samples(samples), compress_level)
    os.replace(tmp, final)
    return shard_index, len(samples), field_spec(samples[0])


def _write_one(out_dir: str, shard_index: int, start: int, stop: int, compress_level: int,
               generator=None) -> tuple:
    gen = generator if generator is not None else _WORKER_GENERATOR
    return _save_shard(out_dir, shard_index, [gen(i) for i in range(start, stop)], compress_level)


def _read_manifest(out_dir: Path):
    path = out_dir / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ShardError(f"cannot read {path}: {exc}") from exc


def _write_manifest(out_dir: Path, manifest: dict) -> None:
    tmp = out_dir / f"{MANIFEST_NAME}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, out_dir / MANIFEST_NAME)


def write_shards(generator, out_dir, num: int, shard_size: int = 256, workers: int = 1,
                 info: dict | None = None, progress: bool = True, compress_level: int = 1,
                 description: str = "shards") -> dict:
    """Generate ``num`` samples into shard files in ``out_dir``.

    Args:
        generator: picklable callable ``generator(index) -> dict`` of numpy arrays; the
            sample must depend only on ``index`` (and the generator's own settings).
        out_dir: folder to write (created if needed).
        num: number of samples (>= 1).
        shard_size: samples per shard (>= 1).
        workers: processes (1 = in this process).
        info: JSON-friendly description stored in the manifest (generator version,
            seed, image size, configuration). Resuming requires the same ``info``.
        progress: show a tqdm progress bar (samples).
        compress_level: zlib level 0-9 of the shards.
        description: label of the progress bar.

    Returns:
        the manifest dict (also written to ``out_dir/manifest.json``).

    Raises:
        ShardError: ``out_dir`` holds shards of a different run.
    """
    if num < 1:
        raise ValueError("num must be >= 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = json.loads(json.dumps(info or {}))  # normalise (tuples -> lists) for comparison
    ranges = shard_ranges(num, shard_size)
    manifest = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "count": num,
        "shard_size": shard_size, "num_shards": len(ranges), "shard_pattern": SHARD_PATTERN,
        "info": info, "complete": False, "fields": None,
    }
    old = _read_manifest(out_dir)
    if old is not None:
        for key in _RESUME_KEYS:
            if old.get(key) != manifest[key]:
                raise ShardError(
                    f"{out_dir} already holds shards of a different run ({key} differs); "
                    "use another folder or delete it")
        manifest["fields"] = old.get("fields")
    for stale in out_dir.glob("shard-*.npz.tmp-*"):  # left by an interrupted run
        stale.unlink()
    todo = [(i, a, b) for i, (a, b) in enumerate(ranges) if not (out_dir / shard_name(i)).is_file()]
    _write_manifest(out_dir, manifest)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=num, initial=num - sum(b - a for _, a, b in todo), unit="img", desc=description,
                   dynamic_ncols=True)

    def done(result):
        _, n, spec = result
        if manifest["fields"] is None:
            manifest["fields"] = spec
            _write_manifest(out_dir, manifest)
        if bar is not None:
            bar.update(n)

    try:
        if workers <= 1 or len(todo) <= 1:
            # One process: compress and write shard i in a thread (zlib releases the
            # GIL) while the samples of shard i + 1 are generated.
            _init_worker(generator)
            with ThreadPoolExecutor(max_workers=1) as saver:
                saving = None
                for i, a, b in todo:
                    samples = [generator(k) for k in range(a, b)]
                    if saving is not None:
                        done(saving.result())
                    saving = saver.submit(_save_shard, str(out_dir), i, samples, compress_level)
                if saving is not None:
                    done(saving.result())
        else:
            # "spawn": a forked child inherits OpenCV's and BLAS's thread pools in an
            # unusable state and can hang once the parent has used them.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                                     initargs=(generator,), mp_context=context) as pool:
                pending = {pool.submit(_write_one, str(out_dir), i, a, b, compress_level) for i, a, b in todo}
                try:
                    while pending:
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in finished:
                            done(fut.result())
                except BaseException:
                    for fut in pending:
                        fut.cancel()
                    raise
    finally:
        if bar is not None:
            bar.close()
    if manifest["fields"] is None:  # every shard existed already: read one field spec
        with np.load(out_dir / shard_name(0)) as z:
            manifest["fields"] = {k: {"dtype": z[k].dtype.str, "shape": list(z[k].shape[1:])} for k in z.files}
    manifest["complete"] = True
    _write_manifest(out_dir, manifest)
    return manifest


# ----------------------------------------------------------------------------- reading

class ShardDataset:
    """Random access to samples in a shard folder (plain Python; no torch needed).

    ``dataset[i]`` returns the dict of sample ``i`` (each field without the shard
    axis). A few decoded shards are cached, so reading in index order (or shard by
    shard) is fast; fully random access decompresses a shard field per new shard.

    Args:
        root: the shard folder (with ``manifest.json``).
        fields: only load these fields (default: all).
        cache_shards: how many decoded shards to keep in memory (>= 1).
        require_complete: refuse a folder whose writing has not finished.
    """

    def __init__(self, root, fields=None, cache_shards: int = 2, require_complete: bool = True):
        self.root = Path(root)
        manifest = _read_manifest(self.root)
        if manifest is None:
            raise ShardError(f"no {MANIFEST_NAME} in {self.root} (not a shard folder)")
        if manifest.get("format") != FORMAT_NAME:
            raise ShardError(f"{self.root} is not a {FORMAT_NAME} folder")
        if require_complete and not manifest.get("complete"):
            raise ShardError(f"{self.root} is incomplete: resume the writing run first")
        self.manifest = manifest
        self.fields = tuple(fields) if fields is not None else None
        self.cache_shards = max(1, int(cache_shards))
        self._cache = OrderedDict()

    def __len__(self) -> int:
        return int(self.manifest["count"])

    @property
    def shard_size(self) -> int:
        return int(self.manifest["shard_size"])

    @property
    def info(self) -> dict:
        """The generator description stored by :func:`write_shards`."""
        return self.manifest.get("info", {})

    def locate(self, index: int) -> tuple:
        """``(shard_index, offset)`` of sample ``index``."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} out of range (0..{len(self) - 1})")
        index %= len(self)
        return divmod(index, self.shard_size)

    def shard(self, shard_index: int) -> dict:
        """All (selected) fields of one shard, stacked ``(n, ...)``."""
        if shard_index in self._cache:
            self._cache.move_to_end(shard_index)
            return self._cache[shard_index]
        path = self.root / shard_name(shard_index)
        if not path.is_file():
            raise ShardError(f"missing shard {path}")
        with np.load(path, allow_pickle=False) as z:
            names = z.files if self.fields is None else [f for f in self.fields if f in z.files]
            data = {name: z[name] for name in names}
        self._cache[shard_index] = data
        while len(self._cache) > self.cache_shards:
            self._cache.popitem(last=False)
        return data

    def __getitem__(self, index: int) -> dict:
        shard_index, offset = self.locate(int(index))
        data = self.shard(shard_index)
        return {k: v[offset] for k, v in data.items()}

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]
