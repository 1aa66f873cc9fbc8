"""Two touching hands in one mask component: where to cut it.

HandSegNet's mask does not separate hands that touch (palms pressed together, hands
side by side, fingers interlaced), so one connected component covers both and its box,
about twice a hand's width, crops neither hand well. A component is a *candidate* for
a cut when its box is elongated (long side >= ``min_aspect`` x short side) and the
count of its pixels across the long axis (its *profile*) has a valley in the middle
half that is at most ``max_valley`` x the lower of the two peaks on either side: two
blobs joined by a narrow neck. A single hand lying sideways is elongated too, but its
profile falls off towards the fingertips without rising again, so it has no such
valley. The caller still decides between the whole and the parts (the pipeline keeps
each part it scores higher than the whole: both for two touching hands, one for a hand
the mask joins to a forearm or a skin-coloured shirt).

Notation: masks are ``(h, w)`` bool; boxes are ``[u_min, v_min, u_max, v_max]`` in
continuous pixel coordinates (pixel centres at integers), as
:class:`hand3d_ros.core.mask.HandComponents` boxes: a pixel at (u, v) covers
``[u - 0.5, u + 0.5]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class SplitConfig:
    """When one mask component is cut into two hands (see the module docstring)."""

    min_aspect: float = 1.5
    """Long side / short side of the component's box at or above which a cut is sought;
    >= 1 (0: never cut)."""
    max_valley: float = 0.6
    """Profile at the cut / the lower of the two peaks beside it, at most; (0, 1]."""
    min_part_fraction: float = 0.2
    """Each part holds at least this fraction of the component's pixels; [0, 0.5)."""

    def __post_init__(self):
        if not (self.min_aspect == 0.0 or self.min_aspect >= 1.0):
            raise ValueError(f"split min_aspect must be 0 (never) or >= 1, got {self.min_aspect}")
        if not 0.0 < self.max_valley <= 1.0:
            raise ValueError(f"split max_valley must be in (0, 1], got {self.max_valley}")
        if not 0.0 <= self.min_part_fraction < 0.5:
            raise ValueError(f"split min_part_fraction must be in [0, 0.5), got {self.min_part_fraction}")


def is_elongated(box, min_aspect: float) -> bool:
    """Whether a ``(4,)`` box is long enough to look for a cut (cheap test before
    :func:`split_component` reads the mask)."""
    if min_aspect <= 0.0:
        return False
    w, h = float(box[2] - box[0]), float(box[3] - box[1])
    return max(w, h) >= min_aspect * max(min(w, h), 1e-6)


def split_component(mask: np.ndarray, config: SplitConfig = SplitConfig()) -> Optional[np.ndarray]:
    """The boxes of the two parts of one component, or None when it shows no neck.

    Args:
        mask: ``(h, w)`` bool, one connected component.
        config: :class:`SplitConfig`.

    Returns:
        ``(2, 4)`` float32 boxes (first the part nearer the origin along the long axis),
        each the tight box of its part's pixels; the pixels on the cut line belong to
        neither. None when the mask is not elongated, has no valley deep enough in the
        middle half of its extent, or one part would be too small.
    """
    vs, us = np.nonzero(np.asarray(mask, bool))
    if us.size == 0:
        return None
    box = np.array([us.min() - 0.5, vs.min() - 0.5, us.max() + 0.5, vs.max() + 0.5])
    if not is_elongated(box, config.min_aspect):
        return None
    along = us if box[2] - box[0] >= box[3] - box[1] else vs
    start = int(along.min())
    profile = np.bincount(along - start)
    n = profile.size
    lo, hi = n // 4, n - n // 4
    if hi - lo < 1 or lo < 1:
        return None
    cut = lo + int(np.argmin(profile[lo:hi]))
    peaks = min(profile[:cut].max(), profile[cut + 1:].max()) if cut + 1 < n else 0
    if peaks <= 0 or profile[cut] > config.max_valley * peaks:
        return None
    parts = []
    for side in (along < start + cut, along > start + cut):
        if side.sum() < config.min_part_fraction * us.size or not side.any():
            return None
        u, v = us[side], vs[side]
        parts.append([u.min() - 0.5, v.min() - 0.5, u.max() + 0.5, v.max() + 0.5])
    return np.asarray(parts, np.float32)
