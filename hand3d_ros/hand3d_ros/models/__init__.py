"""The paper's networks as data: layer tables, builders, cost, weight files, TF converter.

Networks (all batch-first, NCHW, public keypoint order of ``core/keypoints.py``):

- :class:`HandSegNet`: image ``(N, 3, H, W)`` -> logits ``(N, 2, H, W)``
- :class:`PoseNet`: crop ``(N, 3, S, S)`` -> tuple of stage maps ``(N, 21, S/8, S/8)``
- :class:`PosePrior`: maps ``(N, 21, h, w)`` + hand side ``(N, 2)`` -> :class:`PosePriorOutput`
  (``w_c``, ``axis_angle``, ``R``, ``w_rel``)
- :class:`GestureNet`: ``w_rel`` ``(N, 21, 3)`` -> logits ``(N, 35)``

Architectures live in :data:`CONFIGS` (``"paper"``, ``"lite"``); see
:mod:`hand3d_ros.models.tables` for the table format and the measured cost.
The TF converter (:mod:`hand3d_ros.models.convert_tf`) is imported on demand.
"""
from hand3d_ros.models.build import build_network, input_shapes
from hand3d_ros.models.cost import count_macs, count_parameters
from hand3d_ros.models.gesturenet import GestureNet, build_gesturenet
from hand3d_ros.models.handsegnet import HandSegNet, build_handsegnet
from hand3d_ros.models.posenet import PoseNet, build_posenet
from hand3d_ros.models.poseprior import PosePrior, PosePriorOutput, build_poseprior
from hand3d_ros.models.tables import CONFIGS, NETWORKS, resolve_config, table_macs
from hand3d_ros.models.weights import (
    WeightsError,
    load_state_into,
    load_weights,
    read_weights,
    save_weights,
    tensor_sha256,
)

__all__ = [
    "CONFIGS", "NETWORKS", "GestureNet", "HandSegNet", "PoseNet", "PosePrior", "PosePriorOutput",
    "WeightsError", "build_gesturenet", "build_handsegnet", "build_network", "build_posenet",
    "build_poseprior", "count_macs", "count_parameters", "input_shapes", "load_state_into",
    "load_weights", "read_weights", "resolve_config", "save_weights", "table_macs",
    "tensor_sha256",
]
