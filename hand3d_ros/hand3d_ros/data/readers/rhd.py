"""Reader for the Rendered Hand Pose Dataset (RHD, Zimmermann & Brox, ICCV 2017).

Layout (``root`` is the unpacked ``RHD_published_v2`` folder)::

    root/training/anno_training.pickle      root/evaluation/anno_evaluation.pickle
    root/<split>/color/%05d.png             RGB, 320x320
    root/<split>/mask/%05d.png              one channel of class labels
    root/<split>/depth/%05d.png             depth in two 8-bit channels

The pickle is a dict ``{sample_id: {'xyz': (42, 3), 'uv_vis': (42, 3), 'K': (3, 3)}}``:

- keypoints 0-20 are the left hand, 21-41 the right hand, each in RHD order (wrist, then
  thumb, index, middle, ring, little, each tip -> MCP); converted here to the public
  order with :func:`hand3d_ros.core.keypoints.rhd_to_ours`;
- ``xyz`` in metres, camera-centred (projecting it with ``K`` gives ``uv``);
- ``uv_vis[:, :2]`` pixels, ``uv_vis[:, 2] == 1`` where the keypoint is visible.

Mask classes: 0 background, 1 person, 2-17 left hand (three per finger, 17 palm), 18-33
right hand. Depth: ``(R * 256 + G) / (2**16 - 1) * 5`` metres (R the high byte).

Which hand a sample shows: as the authors do, the hand with more mask pixels (a tie
goes to the right hand). With ``both_hands=True`` every hand with enough visible
keypoints becomes its own sample instead. The dataset does not state its pixel-centre
convention; ``uv`` and ``K`` are passed through as stored (consistent with each other).
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from hand3d_ros.core.keypoints import NUM_KEYPOINTS, rhd_to_ours

from .common import (
    LEFT,
    MASK_LEFT,
    MASK_RIGHT,
    RIGHT,
    DatasetLayoutError,
    HandSample,
    as_sample,
    check_split,
    read_gray,
    read_rgb,
    require_paths,
)

__all__ = ["RHDReader", "decode_rhd_depth", "rhd_hand_masks", "RHD_DEPTH_MAX_M"]

DATASET = "RHD"
#: Depth that the 16-bit code 2**16 - 1 stands for, metres (RHD's example script).
RHD_DEPTH_MAX_M = 5.0
_DEPTH_CODE_MAX = 2 ** 16 - 1
#: Mask labels of the left hand's parts (three per finger and the palm), inclusive.
RHD_LEFT_LABELS = (2, 17)
#: First mask label of the right hand's parts (18-33).
RHD_RIGHT_FIRST_LABEL = 18
_IMAGE_NAME = "{:05d}.png"


def decode_rhd_depth(depth_rgb: np.ndarray, max_depth_m: float = RHD_DEPTH_MAX_M) -> np.ndarray:
    """Decode an RHD depth image.

    Args:
        depth_rgb: (H, W, 3) uint8 RGB as stored in ``depth/*.png``: R the high byte,
            G the low byte of a 16-bit code.
        max_depth_m: the depth of code ``2**16 - 1``, metres.
    Returns:
        (H, W) float32 depth in metres.
    """
    high = depth_rgb[..., 0].astype(np.float32)
    low = depth_rgb[..., 1].astype(np.float32)
    return ((high * 256.0 + low) / _DEPTH_CODE_MAX * max_depth_m).astype(np.float32)


def rhd_hand_masks(labels: np.ndarray) -> tuple:
    """Split an RHD label image into hand masks.

    Args:
        labels: (H, W) integer RHD class labels.
    Returns:
        ``(left, right)``: two (H, W) bool arrays.
    """
    left = (labels >= RHD_LEFT_LABELS[0]) & (labels <= RHD_LEFT_LABELS[1])
    right = labels >= RHD_RIGHT_FIRST_LABEL
    return left, right


class RHDReader:
    """Map-style reader of one RHD split; ``reader[i]`` is a :class:`HandSample`.

    Args:
        root: the RHD folder that holds ``training/`` and ``evaluation/``.
        split: ``"training"`` or ``"evaluation"``.
        both_hands: False (default): one sample per image, the hand with more mask
            pixels. True: one sample per hand with at least ``min_visible_keypoints``
            visible keypoints (so an image can give two samples).
        min_visible_keypoints: with ``both_hands``, the fewest visible keypoints (0-21)
            for a hand to count.
        load_depth: also decode ``depth/*.png`` into ``sample['depth']``.

    Raises:
        DatasetLayoutError: ``root`` lacks the split's pickle or image folders.
    """

    def __init__(self, root, split: str = "training", both_hands: bool = False,
                 min_visible_keypoints: int = 1, load_depth: bool = True):
        self.root = Path(root)
        self.split = check_split(split, DATASET)
        if not 0 <= min_visible_keypoints <= NUM_KEYPOINTS:
            raise ValueError(f"min_visible_keypoints must be in [0, {NUM_KEYPOINTS}], got {min_visible_keypoints}")
        self.both_hands = both_hands
        self.load_depth = load_depth
        self.folder = self.root / split
        pickle_name = f"{split}/anno_{split}.pickle"
        folders = [f"{split}/color", f"{split}/mask"] + ([f"{split}/depth"] if load_depth else [])
        require_paths(DATASET, self.root, [pickle_name] + folders)
        with open(self.root / pickle_name, "rb") as f:
            # latin1: the pickle may come from Python 2 (numpy arrays inside).
            annotations = pickle.load(f, encoding="latin1")
        if not isinstance(annotations, dict):
            raise DatasetLayoutError(
                f"{self.root / pickle_name}: expected a dict of samples, got {type(annotations).__name__}"
            )
        self.annotations = annotations
        self.sample_ids = sorted(annotations)
        # entries: (sample_id, side) with side None = "decide from the mask".
        if both_hands:
            self.entries = []
            for sample_id in self.sample_ids:
                visible = np.asarray(annotations[sample_id]["uv_vis"])[:, 2] == 1
                for side, part in ((LEFT, visible[:NUM_KEYPOINTS]), (RIGHT, visible[NUM_KEYPOINTS:])):
                    if part.sum() >= min_visible_keypoints:
                        self.entries.append((sample_id, side))
        else:
            self.entries = [(sample_id, None) for sample_id in self.sample_ids]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> HandSample:
        sample_id, side = self.entries[index]
        name = _IMAGE_NAME.format(sample_id)
        image = read_rgb(self.folder / "color" / name)
        labels = read_gray(self.folder / "mask" / name)
        left, right = rhd_hand_masks(labels)
        if side is None:
            side = LEFT if left.sum() > right.sum() else RIGHT
        mask = np.zeros(labels.shape, dtype=np.uint8)
        mask[left] = MASK_LEFT
        mask[right] = MASK_RIGHT

        anno = self.annotations[sample_id]
        hand = slice(0, NUM_KEYPOINTS) if side == LEFT else slice(NUM_KEYPOINTS, 2 * NUM_KEYPOINTS)
        uv_vis = np.asarray(anno["uv_vis"], dtype=np.float64)[hand]
        xyz = np.asarray(anno["xyz"], dtype=np.float64)[hand]
        depth = decode_rhd_depth(read_rgb(self.folder / "depth" / name)) if self.load_depth else None
        return as_sample(
            image=image,
            mask=mask,
            uv=rhd_to_ours(uv_vis[:, :2]),
            xyz=rhd_to_ours(xyz),
            visible=rhd_to_ours(uv_vis[:, 2] == 1, axis=0),
            K=np.asarray(anno["K"], dtype=np.float64),
            hand_side=side,
            depth=depth,
        )

    def __repr__(self) -> str:
        return f"RHDReader(root={str(self.root)!r}, split={self.split!r}, samples={len(self)})"
