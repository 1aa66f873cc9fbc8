"""A fitted model stored as one entry of a weight file's ``calibration`` metadata (pure).

:class:`MetadataEntry` gives a frozen dataclass ``to_entry`` (its fields as a dict) and
``from_entry`` (back, ignoring keys an older or newer version does not know; None for a
missing or empty entry), so every calibration reads and writes its entry the same way.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Optional


class MetadataEntry:
    """Mixin for frozen dataclasses kept in weight-file metadata."""

    def to_entry(self) -> dict:
        """The fields as a plain dict (the metadata entry)."""
        return asdict(self)

    @classmethod
    def from_entry(cls, entry: Optional[dict]):
        """The instance from its metadata entry (:meth:`to_entry`'s value), or None when the
        entry is missing or empty. Unknown keys are ignored, missing ones take their defaults."""
        if not entry:
            return None
        return cls(**{k: entry[k] for k in cls.__dataclass_fields__ if k in entry})
