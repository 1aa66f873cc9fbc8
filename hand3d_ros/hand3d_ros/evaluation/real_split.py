"""The fixed held-out split of real labelled photos, **by source** (pure; numpy and yaml only).

A real-teacher shard folder (``hand3d label``) records per sample its ``source``: an index
into the manifest's ``info["sources"]`` (``{name, licence, root}``: a repository or a
folder). Whole sources go to one split, so a repository (a person, a place, a camera)
used for evaluation is never seen in training. The table below is the one place that
says which source is which; ``hand3d train --data DIR:train`` and ``hand3d eval --real
DIR --split test`` both read it (:func:`split_indices`).

Rules:

- a table maps each split (``train``, ``val``, ``test``) to a list of source names;
  a name may be an ``fnmatch`` pattern (``"ardamavi/*"``); a source matching two
  splits is an error;
- a source listed nowhere belongs to :data:`DEFAULT_SPLIT` (``train``): held-out
  sources must be named explicitly, so adding a new source never changes the test set;
- another table can be given as YAML (same keys) with ``--split-table``.
"""
from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

SPLITS = ("train", "val", "test")
#: Split of a source the table does not name.
DEFAULT_SPLIT = "train"

#: The project's split of its real sources (names as in the manifests' ``info["sources"]``,
#: as ``tools/prepare_real_sources.py`` lays them out; the sources, counts and licences are
#: listed in the README's model card). Test: a whole repository (linto: one person, a gesture
#: set, 640x480 webcam) and two people of the classroom set (anthoniusadi/Hand-dataset, one
#: folder per person) never seen in training, plus living rooms as hand-free photos. Val: a
#: third classroom person, the subhih repository's own test folder (its person is in
#: training: held out by photo only), bathrooms. The other seven classroom people train.
REAL_SPLIT: Dict[str, List[str]] = {
    "train": ["subhih/train", "classroom/aries", "classroom/cbnw", "classroom/edwin", "classroom/hendrik",
              "classroom/meisy", "classroom/novi", "classroom/silfany", "signdigits", "torioux", "roboflow_hands",
              "neg_train"],
    "val": ["classroom/thomas", "subhih/test", "neg_val"],
    "test": ["linto", "classroom/tongam", "classroom/viany", "neg_test"],
}


class SplitError(ValueError):
    """A split table or a split request that cannot be used (one readable line)."""


def check_table(table: dict) -> Dict[str, List[str]]:
    """A validated copy of ``table`` (``{split: [source name or pattern, ...]}``)."""
    if not isinstance(table, dict):
        raise SplitError(f"a split table maps {list(SPLITS)} to lists of source names, got {type(table).__name__}")
    unknown = sorted(set(table) - set(SPLITS))
    if unknown:
        raise SplitError(f"unknown split(s) {unknown} in the split table (expected {list(SPLITS)})")
    out = {}
    for split in SPLITS:
        names = table.get(split) or []
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            raise SplitError(f"split {split!r} of the split table must be a list of source names")
        out[split] = list(names)
    return out


def load_split_table(path=None) -> Dict[str, List[str]]:
    """The table from a YAML file (``train: [...]``, ``val: [...]``, ``test: [...]``), or
    :data:`REAL_SPLIT` when ``path`` is None."""
    if path is None:
        return check_table(REAL_SPLIT)
    import yaml

    try:
        table = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SplitError(f"cannot read the split table {path}: {exc}") from None
    return check_table(table or {})


def split_of(name: str, table: Optional[dict] = None) -> str:
    """The split of the source called ``name`` (:data:`DEFAULT_SPLIT` when unnamed)."""
    table = check_table(REAL_SPLIT if table is None else table)
    hits = [split for split in SPLITS if any(fnmatch.fnmatchcase(name, pattern) for pattern in table[split])]
    if len(hits) > 1:
        raise SplitError(f"source {name!r} is in more than one split: {hits}")
    return hits[0] if hits else DEFAULT_SPLIT


def source_names(info: dict) -> List[str]:
    """Names of the sources of a real-teacher manifest ``info`` (index = ``source`` field)."""
    names = []
    for i, entry in enumerate(info.get("sources") or []):
        name = entry.get("name") if isinstance(entry, dict) else entry
        names.append(str(name if name is not None else f"source-{i}"))
    return names


def split_indices(source: Sequence[int], names: Sequence[str], split: str, table: Optional[dict] = None) -> np.ndarray:
    """Indices of the samples whose source belongs to ``split``.

    Args:
        source: ``(N,)`` int, each sample's index into ``names``.
        names: source names (:func:`source_names` of the manifest).
        split: one of :data:`SPLITS`.
        table: split table (default :data:`REAL_SPLIT`).

    Returns:
        ``(M,)`` int64 sample indices, ascending.
    """
    if split not in SPLITS:
        raise SplitError(f"unknown split {split!r} (expected one of {list(SPLITS)})")
    source = np.asarray(source, dtype=np.int64).reshape(-1)
    bad = source[(source < 0) | (source >= len(names))]
    if bad.size:
        raise SplitError(f"sample source index {int(bad[0])} is not in the manifest's {len(names)} sources")
    keep = np.array([split_of(name, table) == split for name in names], dtype=bool)
    return np.flatnonzero(keep[source]) if len(names) else np.zeros(0, np.int64)


def shard_split_indices(root, split: str, table: Optional[dict] = None) -> np.ndarray:
    """:func:`split_indices` of a real-teacher shard folder (reads only its ``source`` field)."""
    from hand3d_ros.data.shards import ShardDataset

    shards = ShardDataset(root, fields=["source"])
    if "source" not in (shards.manifest.get("fields") or {}):
        raise SplitError(f"{root} has no 'source' field: a split by source needs a real-teacher folder "
                         "(hand3d label)")
    num_shards = (len(shards) + shards.shard_size - 1) // shards.shard_size
    source = np.concatenate([shards.shard(i)["source"] for i in range(num_shards)]) if num_shards else []
    return split_indices(source, source_names(shards.info), split, table)


def parse_split_source(text: str):
    """``"DIR:SPLIT"`` -> ``(DIR, SPLIT)`` when DIR is a shard folder and SPLIT one of
    :data:`SPLITS`; otherwise ``(text, None)`` (a plain folder or ``KIND:ROOT[:SPLIT]``)."""
    head, sep, tail = str(text).rpartition(":")
    if sep and tail in SPLITS and (Path(head) / "manifest.json").is_file():
        return head, tail
    return str(text), None
