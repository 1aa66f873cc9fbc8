"""Reader for FreiHAND (Zimmermann et al., ICCV 2019).

Layout (``root`` is the unpacked ``FreiHAND_pub_v2`` folder, facts from the dataset's
toolbox ``lmb-freiburg/freihand``)::

    root/training_xyz.json   list of 32560 (21, 3) keypoints, metres, camera frame
    root/training_K.json     list of 32560 (3, 3) intrinsics
    root/training_mano.json  MANO fits (not needed here)
    root/training/rgb/%08d.jpg    130240 = 4 x 32560 images, 224x224
    root/training/mask/%08d.jpg   32560 hand masks (one per unique sample)
    root/evaluation_xyz.json, evaluation_K.json, root/evaluation/rgb/%08d.jpg  (3960)

The training images come in four colour versions of the same frames: image id
``i + 32560 * v`` with ``v`` = 0 ``gs`` (green screen), 1 ``hom`` (homogenised), 2
``sample``, 3 ``auto`` (two automatic background colourisations). The evaluation split has
only ``gs``. The keypoint order is already the public order. Every hand is a right hand
(the maintainer: "The dataset exclusively contains right hands", lmb-freiburg/freihand#7).

``uv`` is the projection of ``xyz`` with ``K``. No visibility labels: ``visible`` = "on
the image". The training masks are JPEG (lossy): a pixel is hand where the grey value
exceeds ``mask_threshold``. The evaluation split has no masks here (``mask`` is None).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hand3d_ros.core.keypoints import NUM_KEYPOINTS

from .common import (
    MASK_RIGHT,
    RIGHT,
    DatasetLayoutError,
    HandSample,
    check_split,
    projected_sample,
    read_gray,
    read_rgb,
    require_paths,
)

__all__ = ["FreiHANDReader", "FREIHAND_VERSIONS", "DEFAULT_MASK_THRESHOLD"]

DATASET = "FreiHAND"
#: Colour versions of the training images, in the order of their id blocks.
FREIHAND_VERSIONS = ("gs", "hom", "sample", "auto")
#: Versions each split has.
_SPLIT_VERSIONS = {"training": FREIHAND_VERSIONS, "evaluation": ("gs",)}
#: Grey level (0-255) above which a JPEG mask pixel is hand.
DEFAULT_MASK_THRESHOLD = 128
_IMAGE_NAME = "{:08d}.jpg"


def _load_json_array(path: Path, shape_tail: tuple) -> np.ndarray:
    with open(path, "r") as f:
        data = np.asarray(json.load(f), dtype=np.float64)
    if data.ndim != 1 + len(shape_tail) or data.shape[1:] != shape_tail:
        raise DatasetLayoutError(f"{path}: expected a list of {shape_tail} arrays, got shape {data.shape}")
    return data


class FreiHANDReader:
    """Map-style reader of one FreiHAND split; ``reader[i]`` is a :class:`HandSample`.

    Args:
        root: the FreiHAND folder (where ``training/`` and ``evaluation/`` branch off).
        split: ``"training"`` or ``"evaluation"``.
        versions: colour versions to read (subset of ``gs, hom, sample, auto``); default:
            all the split has (training: 4 x 32560 samples). Samples run version by
            version: ``i = unique_id + n_unique * k`` for the k-th requested version.
        mask_threshold: grey level (0-254) above which a mask pixel is hand.

    Raises:
        DatasetLayoutError: ``root`` lacks the split's json files or image folders.
    """

    def __init__(self, root, split: str = "training", versions=None,
                 mask_threshold: int = DEFAULT_MASK_THRESHOLD):
        self.root = Path(root)
        self.split = check_split(split, DATASET)
        available = _SPLIT_VERSIONS[split]
        if versions is None:
            versions = available
        elif isinstance(versions, str):
            versions = (versions,)
        wrong = [v for v in versions if v not in available]
        if wrong or not versions:
            raise ValueError(f"FreiHAND {split}: unknown versions {wrong} (choose from: {', '.join(available)})")
        if not 0 <= mask_threshold < 255:
            raise ValueError(f"mask_threshold must be in [0, 254], got {mask_threshold}")
        self.versions = tuple(versions)
        self.mask_threshold = mask_threshold
        self.has_masks = split == "training"

        required = [f"{split}_xyz.json", f"{split}_K.json", f"{split}/rgb"]
        if self.has_masks:
            required.append(f"{split}/mask")
        require_paths(DATASET, self.root, required)
        self.xyz = _load_json_array(self.root / f"{split}_xyz.json", (NUM_KEYPOINTS, 3))
        self.K = _load_json_array(self.root / f"{split}_K.json", (3, 3))
        if len(self.xyz) != len(self.K):
            raise DatasetLayoutError(
                f"{self.root}: {split}_xyz.json has {len(self.xyz)} samples but {split}_K.json has {len(self.K)}"
            )
        self.num_unique = len(self.xyz)

    def __len__(self) -> int:
        return self.num_unique * len(self.versions)

    def image_id(self, index: int) -> int:
        """The file number of sample ``index`` (``%08d.jpg``; negative indices count from the end)."""
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        k, unique = divmod(index, self.num_unique)
        return unique + self.num_unique * FREIHAND_VERSIONS.index(self.versions[k])

    def __getitem__(self, index: int) -> HandSample:
        image_id = self.image_id(index)
        unique = image_id % self.num_unique
        image = read_rgb(self.root / self.split / "rgb" / _IMAGE_NAME.format(image_id))
        mask = None
        if self.has_masks:
            grey = read_gray(self.root / self.split / "mask" / _IMAGE_NAME.format(unique))
            mask = np.where(grey > self.mask_threshold, MASK_RIGHT, 0).astype(np.uint8)
        return projected_sample(image, mask, self.xyz[unique], self.K[unique], RIGHT)

    def __repr__(self) -> str:
        return (f"FreiHANDReader(root={str(self.root)!r}, split={self.split!r}, versions={self.versions}, "
                f"samples={len(self)})")
