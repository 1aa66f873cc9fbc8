"""Hand trajectories as a table: one row per hand per frame, written as CSV and NPZ.

Row fields (N rows; K = 21 keypoints in the order of ``core.keypoints``):

- ``stamp_ns`` (int64, image header stamp, ns since the epoch), ``frame`` (int, index in
  stamp order), ``hand_id`` (stable while tracked), ``side`` ("left" / "right" /
  "unknown"), ``handedness_score``, ``score``;
- ``keypoints_3d_m`` (K, 3) metres in the camera optical frame (NaN without camera_info),
  ``keypoints_2d_px`` (K, 2) pixels, ``keypoint_scores`` (K,);
- ``palm_position_m`` (3,) and ``palm_quaternion_xyzw`` (4,): the palm frame in the
  camera frame (as the ``hand_pose`` of the message and the TF frame);
- ``scale_source`` ("none" / "hand_size_prior" / "depth" / "too_few_keypoints" /
  "no_solution"; keypoints in metres only with the two valid sources), ``reference_bone_length_m``,
  ``reprojection_error_px``.

The CSV has one column per scalar (``<keypoint>_x_m``, ``<keypoint>_u_px``...) and is
written row by row as frames are processed (flushed, so an interrupted run keeps its rows);
the NPZ holds the same data as arrays and is written on :meth:`TrajectoryTable.close`.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from hand3d_ros.core.keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS
from hand3d_ros.messages import SCALE_SOURCE_NAMES, SIDE_NAMES, quaternion_xyzw

SCALAR_FIELDS = ("stamp_ns", "frame", "hand_id", "side", "handedness_score", "score", "scale_source",
                 "reference_bone_length_m", "reprojection_error_px")


def csv_columns() -> list:
    """The CSV header, in order."""
    columns = list(SCALAR_FIELDS)
    columns += [f"palm_{a}_m" for a in "xyz"] + [f"palm_q{a}" for a in "xyzw"]
    columns += [f"{name}_{a}_m" for name in KEYPOINT_NAMES for a in "xyz"]
    columns += [f"{name}_{a}_px" for name in KEYPOINT_NAMES for a in "uv"]
    columns += [f"{name}_score" for name in KEYPOINT_NAMES]
    return columns


def hand_row(hand, stamp_ns: int, frame: int) -> dict:
    """One :class:`~hand3d_ros.inference.estimator.HandState` as a table row (numpy values)."""
    return {
        "stamp_ns": int(stamp_ns), "frame": int(frame), "hand_id": int(hand.hand_id),
        "side": SIDE_NAMES.get(int(hand.handedness), "unknown"), "handedness_score": float(hand.handedness_score),
        "score": float(hand.score), "scale_source": SCALE_SOURCE_NAMES[int(hand.scale_source)],
        "reference_bone_length_m": float(hand.bone_length_m),
        "reprojection_error_px": float(hand.reprojection_error_px),
        "palm_position_m": np.asarray(hand.palm_origin, dtype=np.float64).reshape(3),
        "palm_quaternion_xyzw": np.array(quaternion_xyzw(hand.palm_rotation)),
        "keypoints_3d_m": np.asarray(hand.xyz, dtype=np.float64).reshape(NUM_KEYPOINTS, 3),
        "keypoints_2d_px": np.asarray(hand.uv, dtype=np.float64).reshape(NUM_KEYPOINTS, 2),
        "keypoint_scores": np.asarray(hand.uv_score, dtype=np.float64).reshape(NUM_KEYPOINTS),
    }


def _csv_values(row: dict) -> list:
    values = [row[name] for name in SCALAR_FIELDS]
    values += list(row["palm_position_m"]) + list(row["palm_quaternion_xyzw"])
    values += list(row["keypoints_3d_m"].ravel()) + list(row["keypoints_2d_px"].ravel())
    values += list(row["keypoint_scores"])
    return [repr(float(v)) if isinstance(v, (float, np.floating)) else v for v in values]


class TrajectoryTable:
    """Rows appended frame by frame to ``<stem>.csv``; ``<stem>.npz`` on :meth:`close`."""

    def __init__(self, stem):
        self.csv_path = Path(f"{stem}.csv")
        self.npz_path = Path(f"{stem}.npz")
        self.rows = []
        self._file = open(self.csv_path, "w", newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerow(csv_columns())

    def add(self, hands, stamp_ns: int, frame: int) -> None:
        for hand in hands:
            row = hand_row(hand, stamp_ns, frame)
            self.rows.append(row)
            self._csv.writerow(_csv_values(row))
        self._file.flush()

    def arrays(self) -> dict:
        """The rows as arrays (N, ...) keyed by field name."""
        if not self.rows:
            empty = hand_row_shapes()
            return {name: np.zeros((0,) + shape, dtype=dtype) for name, (shape, dtype) in empty.items()}
        return {name: np.stack([np.asarray(r[name]) for r in self.rows]) for name in self.rows[0]}

    def close(self) -> None:
        if self._file.closed:
            return
        self._file.close()
        np.savez_compressed(self.npz_path, keypoint_names=np.array(KEYPOINT_NAMES), **self.arrays())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def hand_row_shapes() -> dict:
    """field -> (shape per row, dtype): what an empty table's arrays look like."""
    scalars = {"stamp_ns": np.int64, "frame": np.int64, "hand_id": np.int64, "side": "<U7",
               "handedness_score": np.float64, "score": np.float64, "scale_source": "<U24",
               "reference_bone_length_m": np.float64, "reprojection_error_px": np.float64}
    shapes = {name: ((), dtype) for name, dtype in scalars.items()}
    shapes.update({"palm_position_m": ((3,), np.float64), "palm_quaternion_xyzw": ((4,), np.float64),
                   "keypoints_3d_m": ((NUM_KEYPOINTS, 3), np.float64),
                   "keypoints_2d_px": ((NUM_KEYPOINTS, 2), np.float64),
                   "keypoint_scores": ((NUM_KEYPOINTS,), np.float64)})
    return shapes


def read_csv(path) -> dict:
    """A CSV written by :class:`TrajectoryTable` back as the arrays of :meth:`TrajectoryTable.arrays`."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if header != csv_columns():
            raise ValueError(f"{path} is not a hand3d trajectory table (unexpected columns)")
        lines = list(reader)
    shapes = hand_row_shapes()
    out = {}
    for index, name in enumerate(SCALAR_FIELDS):
        out[name] = np.array([line[index] for line in lines], dtype=shapes[name][1])
    width = len(csv_columns()) - len(SCALAR_FIELDS)
    numbers = np.array([[float(v) for v in line[len(SCALAR_FIELDS):]] for line in lines],
                       dtype=np.float64).reshape(len(lines), width)  # explicit width: a table may be empty
    start = 0
    for name in ("palm_position_m", "palm_quaternion_xyzw", "keypoints_3d_m", "keypoints_2d_px", "keypoint_scores"):
        shape = shapes[name][0]
        size = int(np.prod(shape))
        out[name] = numbers[:, start:start + size].reshape((len(lines),) + shape)
        start += size
    return out
