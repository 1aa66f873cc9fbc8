"""The demo graph in one process: replay camera -> hand3d node -> recorder, one executor.

This is the Python stand-in for a component container: three nodes share one process
and one single-threaded executor (as every node of the package: see ``runner.run_node``;
the hand3d node runs its networks on its own worker thread), and talk over the ROS graph exactly as separate
processes would (real topics, real QoS, real serialisation). The camera plays the
rendered stream at a fixed rate; the hand3d node drops what it cannot keep up with, as
it would with a live camera; the recorder subscribes like a robot.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

from hand3d_ros.data.demo import score_frame, summarize_scores
from hand3d_ros.data.sources import ArraySource
from hand3d_ros.ros.hand3d_node import Hand3DNode
from hand3d_ros.ros.recorder import Recorder
from hand3d_ros.ros.replay_camera import ReplayCamera

NAMESPACE = "/demo"


@dataclass
class DemoOptions:
    """How the demo runs."""

    fps: float = 10.0
    """Rate the camera plays at, frames per second."""
    drain_s: float = 3.0
    """How long to wait for the last results after the last frame, seconds."""
    node_parameters: Optional[dict] = None
    """Overrides of the hand3d node's parameters (weights_dir, backend, ...)."""


def _overrides(values: dict) -> list:
    return [Parameter(name, value=value) for name, value in values.items()]


def run_graph(sequence_npz: Path, out_dir: Path, options: DemoOptions,
              progress: Optional[Callable[[int, int], None]] = None) -> dict:
    """Play ``sequence_npz`` through the graph; returns what the camera, node and recorder saw.

    Writes ``poses.jsonl``, ``summary.json`` and ``frames/*.png`` (debug images) in
    ``out_dir`` (the recorder's files) and returns ``{"stamps": {stamp_s: frame index},
    "published": n, "recorder": summary, "diagnostics": last node diagnostics}``.
    """
    source = ArraySource.from_npz(sequence_npz)
    frames = list(source)
    with_depth = bool(frames) and frames[0].extras.get("depth") is not None
    context = rclpy.context.Context()
    rclpy.init(context=context)
    nodes, executor, thread = [], None, None
    try:
        camera = ReplayCamera("replay_camera", source=None, use_timer=False, context=context, namespace=NAMESPACE,
                              parameter_overrides=_overrides({"publish_depth": with_depth,
                                                              "frame_id": "camera_color_optical_frame"}))
        node_params = {"use_depth": with_depth, "publish_keypoint_frames": False}
        node_params.update(options.node_parameters or {})
        hand3d = Hand3DNode("hand3d", context=context, namespace=NAMESPACE,
                            parameter_overrides=_overrides(node_params))
        recorder = Recorder("recorder", context=context, namespace=NAMESPACE, parameter_overrides=_overrides({
            "output_dir": str(out_dir), "record_debug_image": True, "debug_image_dir": "frames",
            "keep_debug_images": 1, "summary_period_s": 0.0}))
        nodes = [camera, hand3d, recorder]
        executor = SingleThreadedExecutor(context=context)
        for node in nodes:
            executor.add_node(node)
        thread = threading.Thread(target=executor.spin, daemon=True)
        thread.start()
        _wait_for_connections(camera, hand3d, recorder)

        stamps = {}
        period = 1.0 / options.fps
        next_time = time.monotonic()
        for index, frame in enumerate(frames):
            stamp = camera.publish_frame(frame.rgb, frame.extras.get("depth"), frame.extras.get("K"))
            stamps[round(stamp.sec + stamp.nanosec * 1e-9, 9)] = index
            if progress is not None:
                progress(index + 1, len(frames))
            next_time += period
            time.sleep(max(0.0, next_time - time.monotonic()))
        time.sleep(options.drain_s)
        diagnostics = hand3d.stats()
        summary = recorder.close()
        return {"stamps": stamps, "published": len(frames), "recorder": summary, "diagnostics": diagnostics}
    finally:
        if executor is not None:
            executor.shutdown(timeout_sec=2.0)
        for node in reversed(nodes):
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        if thread is not None:
            thread.join(timeout=2.0)


def _wait_for_connections(camera, hand3d, recorder, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (camera.image_pub.get_subscription_count() > 0 and hand3d.poses_pub.get_subscription_count() > 0
                and hand3d.debug_pub.get_subscription_count() > 0):
            return
        time.sleep(0.05)


def score_recording(out_dir: Path, sequence_npz: Path, stamps: dict) -> tuple:
    """Read ``poses.jsonl``; match each message to its frame by stamp; score against the
    ground truth. Returns (summary dict, per-frame list of (frame index, hands))."""
    with np.load(sequence_npz, allow_pickle=False) as data:
        gt = {k: data[k] for k in ("gt_uv", "gt_xyz", "gt_visible", "gt_hand_side")}
    per_frame, scores = [], []
    with open(out_dir / "poses.jsonl", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            index = stamps.get(round(record["stamp"], 9))
            if index is None:
                continue
            hands = record["hands"]
            per_frame.append((index, hands))
            scores.append(score_frame(hands, gt["gt_uv"][index], gt["gt_xyz"][index], gt["gt_visible"][index],
                                      gt["gt_hand_side"][index]))
    return summarize_scores(scores), per_frame
