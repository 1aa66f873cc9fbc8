"""The common per-image sample format and helpers shared by the dataset readers.

Every reader (RHD, STB, FreiHAND) and the synthetic renderer yield one
:class:`HandSample` per image (a plain ``dict``), with these fields:

============  =============  ================================================================
field         dtype, shape   meaning
============  =============  ================================================================
``image``     uint8 (H,W,3)  RGB image.
``mask``      uint8 (H,W)    0 background, 1 left-hand pixel, 2 right-hand pixel; ``None``
                             when the dataset has no hand masks.
``uv``        float32 (21,2) keypoints in pixels, (u right, v down); the centre of pixel
                             (0, 0) is uv = (0, 0) (OpenCV's convention).
``xyz``       float32 (21,3) keypoints in metres, camera frame (x right, y down, z forward).
``visible``   bool (21,)     the keypoint is visible in the image (dataset annotation where
                             there is one, else "inside the image").
``K``         float32 (3,3)  camera intrinsics; ``uv ~ K @ xyz``.
``hand_side`` uint8 ()       0 left hand, 1 right hand (:data:`LEFT`, :data:`RIGHT`).
``depth``     float32 (H,W)  optional: depth along z in metres, aligned with ``image``.
============  =============  ================================================================

Keypoints are in the public order of :mod:`hand3d_ros.core.keypoints` (wrist, then each
finger base -> tip). Readers convert from the dataset's own order once, when a sample
is built; nothing downstream converts again.

Images are decoded with OpenCV, imported lazily on first read.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional, TypedDict

import numpy as np

from hand3d_ros.core.keypoints import NUM_KEYPOINTS
from hand3d_ros.core.palm import LEFT, RIGHT

__all__ = [
    "LEFT",
    "RIGHT",
    "MASK_BACKGROUND",
    "MASK_LEFT",
    "MASK_RIGHT",
    "SPLITS",
    "HandSample",
    "DatasetLayoutError",
    "validate_sample",
    "check_split",
    "require_paths",
    "read_rgb",
    "read_gray",
    "read_unchanged",
    "as_sample",
    "inside_image",
    "projected_sample",
]

#: Mask values of the common format.
MASK_BACKGROUND = 0
MASK_LEFT = 1
MASK_RIGHT = 2
_MASK_VALUES = (MASK_BACKGROUND, MASK_LEFT, MASK_RIGHT)

#: Split names every reader accepts: the datasets' own names for their two parts.
SPLITS = ("training", "evaluation")


class _HandSampleRequired(TypedDict):
    image: np.ndarray
    mask: Optional[np.ndarray]
    uv: np.ndarray
    xyz: np.ndarray
    visible: np.ndarray
    K: np.ndarray
    hand_side: np.uint8


class HandSample(_HandSampleRequired, total=False):
    """One image with one annotated hand (see the module docstring for every field)."""

    depth: np.ndarray


class DatasetLayoutError(FileNotFoundError):
    """A dataset folder lacks a file or folder the reader needs (message: one line)."""


def _fail(field: str, expected: str, got) -> None:
    raise ValueError(f"sample field '{field}': expected {expected}, got {got}")


def _check_array(sample: dict, field: str, dtype, shape: tuple) -> np.ndarray:
    value = sample[field]
    if not isinstance(value, np.ndarray):
        _fail(field, f"a numpy array {np.dtype(dtype).name} {shape}", type(value).__name__)
    if value.dtype != dtype or value.shape != shape:
        _fail(field, f"{np.dtype(dtype).name} {shape}", f"{value.dtype.name} {value.shape}")
    return value


def validate_sample(sample: dict) -> dict:
    """Check that ``sample`` follows the common format; return it unchanged.

    Checks presence, dtype and shape of every field, mask values in {0, 1, 2},
    ``hand_side`` in {0, 1}, finite ``uv``/``xyz``/``K`` and a positive-depth,
    finite ``depth`` where given. Keys outside the format are allowed (ignored).

    Raises:
        ValueError: one line naming the first field that is wrong.
    """
    if not isinstance(sample, dict):
        raise ValueError(f"a sample must be a dict, got {type(sample).__name__}")
    for field in _HandSampleRequired.__annotations__:
        if field not in sample:
            raise ValueError(f"sample field '{field}' is missing")

    image = sample["image"]
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype.name} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        _fail("image", "uint8 (H, W, 3)", got)
    height, width = image.shape[:2]

    mask = sample["mask"]
    if mask is not None:
        _check_array(sample, "mask", np.uint8, (height, width))
        if not np.all(np.isin(mask, _MASK_VALUES)):
            _fail("mask", "values in {0, 1, 2}", sorted(set(np.unique(mask).tolist()) - set(_MASK_VALUES)))

    uv = _check_array(sample, "uv", np.float32, (NUM_KEYPOINTS, 2))
    xyz = _check_array(sample, "xyz", np.float32, (NUM_KEYPOINTS, 3))
    _check_array(sample, "visible", np.bool_, (NUM_KEYPOINTS,))
    K = _check_array(sample, "K", np.float32, (3, 3))
    for field, value in (("uv", uv), ("xyz", xyz), ("K", K)):
        if not np.all(np.isfinite(value)):
            _fail(field, "finite values", "NaN or inf")

    side = sample["hand_side"]
    if np.ndim(side) != 0 or np.asarray(side).dtype != np.uint8 or int(side) not in (LEFT, RIGHT):
        _fail("hand_side", "uint8 scalar 0 (left) or 1 (right)", repr(side))

    if "depth" in sample and sample["depth"] is not None:
        depth = _check_array(sample, "depth", np.float32, (height, width))
        if not np.all(np.isfinite(depth)) or np.any(depth < 0):
            _fail("depth", "finite, non-negative metres", "negative or non-finite values")
    return sample


def check_split(split: str, dataset: str) -> str:
    """Return ``split`` if it is one of :data:`SPLITS`, else raise a one-line ValueError."""
    if split not in SPLITS:
        raise ValueError(f"{dataset}: unknown split '{split}' (choose from: {', '.join(SPLITS)})")
    return split


def require_paths(dataset: str, root: Path, relative_paths: Iterable[str]) -> None:
    """Raise :class:`DatasetLayoutError` naming the first of ``relative_paths`` missing under ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"{dataset} root {root} is not a folder")
    for relative in relative_paths:
        if not (root / relative).exists():
            raise DatasetLayoutError(
                f"{root} does not look like the {dataset} dataset: missing {relative}"
            )


def _cv2():
    import cv2  # lazy: only readers that decode images need OpenCV

    return cv2


def read_unchanged(path: Path) -> np.ndarray:
    """Decode an image file as stored (any depth/channels; colour comes back BGR(A)).

    Raises:
        DatasetLayoutError: the file does not exist.
        OSError: the file exists but cannot be decoded.
    """
    cv2 = _cv2()
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"missing image file {path}")
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise OSError(f"cannot decode image file {path}")
    return data


def read_rgb(path: Path) -> np.ndarray:
    """Decode an image file to uint8 RGB ``(H, W, 3)`` (grey images are replicated)."""
    cv2 = _cv2()
    data = read_unchanged(path)
    if data.dtype != np.uint8:
        raise OSError(f"expected an 8-bit image in {path}, got {data.dtype}")
    if data.ndim == 2:
        return np.repeat(data[:, :, None], 3, axis=2)
    if data.shape[2] == 4:
        return cv2.cvtColor(data, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(data, cv2.COLOR_BGR2RGB)


def read_gray(path: Path) -> np.ndarray:
    """Decode an image file to a single channel ``(H, W)`` (the first channel of a colour file
    stored with equal channels, e.g. a label or mask image written as RGB)."""
    data = read_unchanged(path)
    return data if data.ndim == 2 else np.ascontiguousarray(data[:, :, 0])


def inside_image(uv: np.ndarray, width: int, height: int) -> np.ndarray:
    """Which keypoints lie on the image.

    Args:
        uv: (..., 2) pixels, centre of pixel (0, 0) at (0, 0).
        width, height: image size in pixels.
    Returns:
        (...,) bool: ``-0.5 <= u < width - 0.5`` and ``-0.5 <= v < height - 0.5`` (the
        area the pixels cover), False for non-finite coordinates.
    """
    uv = np.asarray(uv)
    u, v = uv[..., 0], uv[..., 1]
    with np.errstate(invalid="ignore"):
        return (u >= -0.5) & (u < width - 0.5) & (v >= -0.5) & (v < height - 0.5)


def as_sample(image, mask, uv, xyz, visible, K, hand_side, depth=None) -> HandSample:
    """Build a :class:`HandSample` with the format's dtypes (arrays are copied only where
    the dtype changes)."""
    sample: HandSample = {
        "image": np.ascontiguousarray(image, dtype=np.uint8),
        "mask": None if mask is None else np.ascontiguousarray(mask, dtype=np.uint8),
        "uv": np.asarray(uv, dtype=np.float32),
        "xyz": np.asarray(xyz, dtype=np.float32),
        "visible": np.asarray(visible, dtype=bool),
        "K": np.asarray(K, dtype=np.float32),
        "hand_side": np.uint8(hand_side),
    }
    if depth is not None:
        sample["depth"] = np.asarray(depth, dtype=np.float32)
    return sample


def projected_sample(image, mask, xyz, K, hand_side) -> HandSample:
    """A sample for datasets that give 3D keypoints but no 2D ones or visibility (STB,
    FreiHAND): ``uv`` is ``xyz`` projected with ``K``; a keypoint counts as visible when it
    lies on the image and in front of the camera."""
    from hand3d_ros.core.metric3d import project_points

    uv = project_points(xyz, K)
    height, width = np.shape(image)[:2]
    visible = inside_image(uv, width, height) & (np.asarray(xyz)[:, 2] > 0)
    return as_sample(image=image, mask=mask, uv=uv, xyz=xyz, visible=visible, K=K, hand_side=hand_side)
