"""Inference backends: one interface (:class:`Backend`) for the pipeline's three networks.

Implementations are imported lazily by :func:`hand3d_ros.inference.backends.select.create_backend`
so that a missing optional library (onnxruntime, tensorrt) only matters when asked for.
"""
from hand3d_ros.inference.backends.base import Backend, BackendUnavailable

__all__ = ["Backend", "BackendUnavailable"]
