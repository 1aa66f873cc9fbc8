"""Geometry, decoding, canonical frame, keypoint order, metric recovery, tracking, metrics (numpy/torch only)."""
