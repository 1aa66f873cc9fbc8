"""Test-wide settings and shared fixtures.

ROS tests talk over real DDS. Each test session picks its own ROS domain and keeps
discovery on this machine, so parallel runs (CI, developers) never hear each other.
"""
import os
import random

import numpy as np
import pytest

from hand3d_ros.core.hand_template import template_hand_xyz
from hand3d_ros.core.keypoints import BONES
from hand3d_ros.data.shards import write_shards

os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_LOCALHOST_ONLY", "1")  # the same, for Humble/Jazzy
# Plumbing tests (and the nodes they start) run on small random-weight networks whatever
# weights the package ships: the default weights folder is an empty one. Tests of the
# shipped weights name them explicitly (test/inference/test_shipped_weights.py).
os.environ["HAND3D_DEFAULT_WEIGHTS"] = os.path.join(os.path.dirname(__file__), "no-default-weights")


# Tiny synthetic shard sets for the training and evaluation tests (no renderer assets needed).
IMAGE_SIZE = 128
FOCAL_PX = 160.0


class StickHands:
    """Sample generator: the template hand, randomly rotated and placed, drawn as thick
    sticks on a random background; every field of the renderer's samples the training
    code reads (image, mask, uv, xyz, visible, K, hand_side)."""

    def __init__(self, seed=0, size=IMAGE_SIZE):
        self.seed, self.size = seed, size

    def __call__(self, index):
        import cv2

        from hand3d_ros.core.canonical import axis_angle_to_matrix

        rng = np.random.default_rng([self.seed, index])
        side = int(rng.integers(0, 2))
        rot = axis_angle_to_matrix(rng.normal(0, 0.5, (1, 3))).numpy()[0]
        xyz = template_hand_xyz(side) @ rot.T
        xyz = xyz - xyz.mean(axis=0) + np.array([rng.uniform(-0.03, 0.03), rng.uniform(-0.03, 0.03),
                                                 rng.uniform(0.45, 0.6)])
        c = (self.size - 1) / 2
        K = np.array([[FOCAL_PX, 0, c], [0, FOCAL_PX, c], [0, 0, 1]], dtype=np.float32)
        uv = (xyz @ K.T)[:, :2] / xyz[:, 2:3]
        image = np.empty((self.size, self.size, 3), np.uint8)
        image[:] = rng.integers(0, 120, 3)
        mask = np.zeros((self.size, self.size), np.uint8)
        for a, b in BONES:
            pa, pb = tuple(int(round(v)) for v in uv[a]), tuple(int(round(v)) for v in uv[b])
            cv2.line(mask, pa, pb, side + 1, 5)
        image[mask > 0] = (220, 170, 140)
        visible = (uv[:, 0] >= 0) & (uv[:, 0] < self.size) & (uv[:, 1] >= 0) & (uv[:, 1] < self.size)
        return {"image": image, "mask": mask, "uv": uv.astype(np.float32), "xyz": xyz.astype(np.float32),
                "visible": visible, "K": K, "hand_side": np.uint8(side)}


def make_shards(folder, num=16, seed=0, shard_size=8):
    write_shards(StickHands(seed), folder, num, shard_size, workers=1, info={"generator": "stick-hands", "seed": seed},
                 progress=False)
    return folder


@pytest.fixture(scope="session")
def tiny_shards(tmp_path_factory):
    """16 samples, 128x128, 2 shards of 8."""
    return make_shards(tmp_path_factory.mktemp("shards") / "train")


@pytest.fixture(scope="session")
def tiny_val(tmp_path_factory):
    """8 held-out samples (another seed)."""
    return make_shards(tmp_path_factory.mktemp("shards") / "val", num=8, seed=1)


@pytest.fixture(scope="session")
def tiny_shards_b(tmp_path_factory):
    """12 samples of another seed, 3 shards of 4 (a second training source)."""
    return make_shards(tmp_path_factory.mktemp("shards") / "b", num=12, seed=9, shard_size=4)
