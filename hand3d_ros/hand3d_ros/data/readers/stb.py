"""Reader for the Stereo Hand Pose Tracking Benchmark (STB, Zhang et al., ICIP 2017).

Layout (``root`` is the unpacked dataset; facts from the dataset's README)::

    root/images/<sequence>/BB_left_<i>.png, BB_right_<i>.png    Bumblebee2 stereo pair
    root/images/<sequence>/SK_color_<i>.png, SK_depth_<i>.png   RealSense F200
    root/labels/<sequence>_BB.mat, <sequence>_SK.mat            'handPara' (3, 21, frames)

12 sequences ``B1Counting, B1Random, ..., B6Counting, B6Random`` of 1500 frames each
(640x480), one person's LEFT hand. ``handPara`` holds 3D positions in millimetres in this
order: palm centre, then little, ring, middle, index, thumb, each MCP -> tip (the thumb's
four points are named mcp, pip, dip, tip; they map base -> tip onto our thumb CMC, MCP,
IP, TIP).

Frames:
- ``_BB`` labels are in the left Bumblebee camera's frame; the right camera sits one
  baseline (120.054 mm) to the right (rectified pair, same intrinsics).
- ``_SK`` labels are in the F200 depth camera's frame; the README gives the rotation
  vector ``om`` and translation ``T`` with ``X_depth = R(om) X_colour + T``, so the
  reader maps them into the colour camera with ``X_colour = R^T (X_depth - T)``.

Root keypoint: STB's keypoint 0 is the palm centre, not the wrist. By default the
reader extrapolates a wrist ``w = m + f * (p - m)`` from the palm centre ``p`` and the
middle-finger MCP ``m`` with ``f = 2``, i.e. it inverts the authors' definition of the
palm keypoint as the midpoint of wrist and middle MCP. This is an approximation (STB's
palm centre is not defined that way); pass ``wrist_from_palm=False`` to keep the palm
centre in slot 0 (e.g. to compare with models whose keypoint 0 is the palm).

Splits: ``evaluation`` = B1 (3000 frames), ``training`` = B2-B6 (15000 frames), as in the
paper (S-val / S-train). STB has no visibility labels: ``visible`` = "on the image".
No hand masks; the SK depth image is in the depth camera's frame (not aligned with any
colour image), so no ``depth`` either.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hand3d_ros.core.keypoints import KEYPOINT_INDEX, MIDDLE_MCP, NUM_KEYPOINTS, WRIST
from hand3d_ros.core.metric3d import rotation_from_vector

from .common import (
    LEFT,
    DatasetLayoutError,
    HandSample,
    check_split,
    projected_sample,
    read_rgb,
    require_paths,
)

__all__ = [
    "STBReader",
    "STB_KEYPOINT_NAMES",
    "STB_TO_OURS",
    "STB_CAMERAS",
    "STB_SEQUENCES",
    "stb_intrinsics",
]

DATASET = "STB"
MM_PER_M = 1000.0

#: STB's keypoints, in STB order, named with this package's names. STB's slot 0 is the
#: palm centre; it lands in our wrist slot (see the module docstring).
STB_KEYPOINT_NAMES = ("wrist",) + tuple(
    f"{finger}_{joint}"
    for finger, joints in (
        ("little", ("mcp", "pip", "dip", "tip")),
        ("ring", ("mcp", "pip", "dip", "tip")),
        ("middle", ("mcp", "pip", "dip", "tip")),
        ("index", ("mcp", "pip", "dip", "tip")),
        ("thumb", ("cmc", "mcp", "ip", "tip")),  # STB names these mcp, pip, dip, tip
    )
    for joint in joints
)
#: ``STB_TO_OURS[i]`` is the STB index of our keypoint ``i``.
STB_TO_OURS = np.argsort([KEYPOINT_INDEX[name] for name in STB_KEYPOINT_NAMES])

STB_SEQUENCES = {
    "evaluation": ("B1Counting", "B1Random"),
    "training": tuple(f"B{b}{kind}" for b in range(2, 7) for kind in ("Counting", "Random")),
}

#: Bumblebee2 intrinsics (pixels) and baseline (mm), from the README.
BB_FOCAL_PX = (822.79041, 822.79041)
BB_PRINCIPAL_PX = (318.47345, 250.31296)
BB_BASELINE_MM = 120.054
#: RealSense F200 colour intrinsics (pixels), from the README.
SK_COLOR_FOCAL_PX = (607.92271, 607.88192)
SK_COLOR_PRINCIPAL_PX = (314.78337, 236.42484)
#: Colour -> depth camera transform of the F200: X_depth = R(om) X_colour + T.
SK_ROTATION_VECTOR = (0.00531, -0.01196, 0.00301)
SK_TRANSLATION_MM = (-24.0381, -0.4563, -1.2326)

#: camera name -> (image file prefix, label file suffix)
STB_CAMERAS = {
    "BB_left": ("BB_left", "BB"),
    "BB_right": ("BB_right", "BB"),
    "SK_color": ("SK_color", "SK"),
}

#: Default factor of the palm -> wrist extrapolation (2 inverts "palm = midpoint of
#: wrist and middle MCP").
PALM_TO_WRIST_FACTOR = 2.0


def stb_intrinsics(camera: str) -> np.ndarray:
    """(3, 3) intrinsics of an STB camera (``"BB_left"``, ``"BB_right"`` or ``"SK_color"``)."""
    if camera not in STB_CAMERAS:
        raise ValueError(f"STB: unknown camera '{camera}' (choose from: {', '.join(STB_CAMERAS)})")
    if camera == "SK_color":
        focal, principal = SK_COLOR_FOCAL_PX, SK_COLOR_PRINCIPAL_PX
    else:
        focal, principal = BB_FOCAL_PX, BB_PRINCIPAL_PX
    return np.array([[focal[0], 0.0, principal[0]], [0.0, focal[1], principal[1]], [0.0, 0.0, 1.0]])


def _to_camera_m(xyz_label_mm: np.ndarray, camera: str) -> np.ndarray:
    """Label coordinates (..., 21, 3) mm in the label file's frame -> ``camera``'s frame, metres."""
    if camera == "SK_color":
        R = rotation_from_vector(SK_ROTATION_VECTOR)
        xyz_mm = (xyz_label_mm - np.asarray(SK_TRANSLATION_MM)) @ R  # row form of R^T (X - T)
    elif camera == "BB_right":
        xyz_mm = xyz_label_mm - np.array([BB_BASELINE_MM, 0.0, 0.0])
    else:
        xyz_mm = xyz_label_mm
    return xyz_mm / MM_PER_M


class STBReader:
    """Map-style reader of STB; ``reader[i]`` is a :class:`HandSample` (left hand).

    Args:
        root: the STB folder holding ``images/`` and ``labels/``.
        split: ``"training"`` (B2-B6) or ``"evaluation"`` (B1).
        cameras: which images to read, any of ``"BB_left"``, ``"BB_right"``,
            ``"SK_color"``; samples run camera by camera, then sequence, then frame.
        sequences: override the split's sequence names (e.g. ``("B3Random",)``).
        wrist_from_palm: replace STB's palm centre (slot 0) by an extrapolated wrist.
        palm_to_wrist_factor: ``f`` in ``wrist = middle_mcp + f * (palm - middle_mcp)``;
            > 1 (2.0 assumes the palm centre halves wrist -> middle MCP).

    Raises:
        DatasetLayoutError: a label file or image folder is missing.
    """

    def __init__(self, root, split: str = "training", cameras=("BB_left",), sequences=None,
                 wrist_from_palm: bool = True, palm_to_wrist_factor: float = PALM_TO_WRIST_FACTOR):
        self.root = Path(root)
        self.split = check_split(split, DATASET)
        if isinstance(cameras, str):
            cameras = (cameras,)
        unknown = [c for c in cameras if c not in STB_CAMERAS]
        if unknown or not cameras:
            raise ValueError(f"STB: unknown cameras {unknown} (choose from: {', '.join(STB_CAMERAS)})")
        if not palm_to_wrist_factor > 1.0:
            raise ValueError(f"palm_to_wrist_factor must be > 1, got {palm_to_wrist_factor}")
        self.cameras = tuple(cameras)
        self.sequences = tuple(sequences) if sequences is not None else STB_SEQUENCES[split]
        self.wrist_from_palm = wrist_from_palm
        self.palm_to_wrist_factor = palm_to_wrist_factor

        suffixes = sorted({STB_CAMERAS[c][1] for c in self.cameras})
        require_paths(
            DATASET, self.root,
            [f"labels/{seq}_{suffix}.mat" for seq in self.sequences for suffix in suffixes]
            + [f"images/{seq}" for seq in self.sequences],
        )
        labels = {(seq, suffix): self._load_labels(seq, suffix) for seq in self.sequences for suffix in suffixes}
        # xyz per (camera, sequence): (frames, 21, 3) metres, public order, camera frame.
        self._xyz = {}
        self.entries = []  # (camera, sequence, frame)
        for camera in self.cameras:
            for seq in self.sequences:
                xyz = _to_camera_m(labels[(seq, STB_CAMERAS[camera][1])], camera)[:, STB_TO_OURS]
                if wrist_from_palm:
                    palm, middle_mcp = xyz[:, WRIST], xyz[:, MIDDLE_MCP]
                    xyz[:, WRIST] = middle_mcp + palm_to_wrist_factor * (palm - middle_mcp)
                self._xyz[(camera, seq)] = xyz
                self.entries.extend((camera, seq, frame) for frame in range(xyz.shape[0]))

    def _load_labels(self, sequence: str, suffix: str) -> np.ndarray:
        """(frames, 21, 3) millimetres, STB order, in the label file's camera frame."""
        from scipy.io import loadmat  # lazy: only this reader needs scipy.io

        path = self.root / "labels" / f"{sequence}_{suffix}.mat"
        content = loadmat(str(path))
        if "handPara" not in content:
            raise DatasetLayoutError(f"{path}: no 'handPara' array")
        hand = np.asarray(content["handPara"], dtype=np.float64)
        if hand.ndim != 3 or hand.shape[:2] != (3, NUM_KEYPOINTS):
            raise DatasetLayoutError(f"{path}: 'handPara' must be (3, 21, frames), got {hand.shape}")
        return np.transpose(hand, (2, 1, 0))

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> HandSample:
        camera, seq, frame = self.entries[index]
        image = read_rgb(self.root / "images" / seq / f"{STB_CAMERAS[camera][0]}_{frame}.png")
        return projected_sample(image, None, self._xyz[(camera, seq)][frame], stb_intrinsics(camera), LEFT)

    def __repr__(self) -> str:
        return (f"STBReader(root={str(self.root)!r}, split={self.split!r}, cameras={self.cameras}, "
                f"samples={len(self)})")
