"""Readers for the public hand datasets, all yielding the common sample format.

``open_dataset("rhd" | "stb" | "freihand", root, split)`` returns a map-style reader
(``len(reader)``, ``reader[i]`` -> :class:`~hand3d_ros.data.readers.common.HandSample`)
that works directly as a ``torch.utils.data.Dataset``. See :mod:`.common` for the format
and each reader module for the dataset layout it expects.
"""
from __future__ import annotations

from .common import SPLITS, DatasetLayoutError, HandSample, validate_sample
from .freihand import FreiHANDReader
from .rhd import RHDReader
from .stb import STBReader

__all__ = [
    "DATASET_KINDS",
    "SPLITS",
    "DatasetLayoutError",
    "FreiHANDReader",
    "HandSample",
    "RHDReader",
    "STBReader",
    "open_dataset",
    "validate_sample",
]

#: dataset kind (as typed by users) -> reader class
DATASET_KINDS = {"rhd": RHDReader, "stb": STBReader, "freihand": FreiHANDReader}


def open_dataset(kind: str, root, split: str = "training", **options):
    """Open a public dataset.

    Args:
        kind: ``"rhd"``, ``"stb"`` or ``"freihand"`` (case-insensitive).
        root: the dataset's unpacked folder.
        split: ``"training"`` or ``"evaluation"``.
        **options: reader-specific options (e.g. ``both_hands`` for RHD, ``cameras`` for
            STB, ``versions`` for FreiHAND).
    Returns:
        The reader (``RHDReader``, ``STBReader`` or ``FreiHANDReader``).
    Raises:
        ValueError: unknown kind or split (one line).
        DatasetLayoutError: ``root`` does not look like that dataset (names the missing file).
    """
    reader = DATASET_KINDS.get(str(kind).lower())
    if reader is None:
        raise ValueError(f"unknown dataset kind '{kind}' (choose from: {', '.join(DATASET_KINDS)})")
    return reader(root, split, **options)
