"""The ``hand3d_recorder`` node: listens to the hand3d outputs as a robot would, and records.

Subscriptions (QoS as the hand3d node publishes them):

- ``hand_poses`` (hand3d_msgs/HandPose3DArray, reliable): every message becomes one line
  of ``<output_dir>/poses.jsonl``: ``receive_time`` (node clock, s), ``stamp`` (header,
  s), ``frame_id``, ``latency_ms`` and every field of the message (:func:`message_to_dict`),
  with non-finite floats written as ``null`` (strict JSON);
- ``hand_pose`` (hand3d_msgs/HandPose3D, reliable), ``/tf`` (tf2_msgs/TFMessage, as
  tf2_ros), the markers (visualization_msgs/MarkerArray, ``markers_topic``),
  ``/diagnostics`` (diagnostic_msgs/DiagnosticArray): counted, with latency;
- the debug image (sensor_msgs/Image, sensor-data QoS, ``debug_image_topic``) when
  ``record_debug_image`` is set: the newest ``keep_debug_images`` are kept in memory
  (:meth:`Recorder.latest_debug_images`) and, with ``debug_image_dir``, written as PNGs.

Latency is the node clock at reception minus the header stamp (messages with a zero
stamp are counted but not timed). :meth:`Recorder.summary` gives counts, rates and
latency percentiles; it is written to ``summary.json`` every ``summary_period_s`` and at
shutdown, which also flushes and closes ``poses.jsonl``.
"""
from __future__ import annotations

import array
import json
import math
import os
import sys
import time
from collections import deque
from pathlib import Path
from typing import Optional

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from hand3d_msgs.msg import HandPose3D, HandPose3DArray
from rclpy.node import Node
from rclpy.qos import QoSDurabilityPolicy, QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from hand3d_ros.ros.image_conversions import ImageError, image_to_rgb
from hand3d_ros.ros.param_utils import declare_parameters
from hand3d_ros.ros.params import Param

#: As the hand3d node publishes its results: reliable, keep last 10.
RESULT_QOS = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE, history=QoSHistoryPolicy.KEEP_LAST)
#: As tf2_ros.TransformListener.
TF_QOS = QoSProfile(depth=100, reliability=QoSReliabilityPolicy.RELIABLE, durability=QoSDurabilityPolicy.VOLATILE)
LOG_THROTTLE_S = 5.0
POSES_FILE = "poses.jsonl"
SUMMARY_FILE = "summary.json"
#: Latency percentiles reported by :meth:`Recorder.summary`.
LATENCY_PERCENTILES = (50, 99)

PARAMS = (
    Param("output_dir", "", "Folder for poses.jsonl, summary.json and debug frames; empty: "
          "./hand3d_recording_<date>-<time>.", read_only=True),
    Param("markers_topic", "hand3d/markers", "MarkerArray topic to count.", read_only=True),
    Param("debug_image_topic", "hand3d/debug_image", "Debug image topic.", read_only=True),
    Param("record_debug_image", False, "Subscribe to the debug image and keep the newest ones.", read_only=True),
    Param("debug_image_dir", "", "Also write every debug image as a PNG into this folder (relative: under "
          "output_dir); empty: keep them in memory only.", read_only=True),
    Param("keep_debug_images", 10, "How many of the newest debug images to keep in memory.", min=1, max=10000,
          read_only=True),
    Param("latency_window", 100000, "Latencies kept per topic for the percentiles (the newest).", min=1,
          max=10_000_000, read_only=True),
    Param("summary_period_s", 5.0, "Rewrite summary.json this often, seconds (0: only at shutdown).",
          min=0.0, max=3600.0, read_only=True),
)


# ------------------------------------------------------------------ pure helpers
def message_to_dict(msg) -> dict:
    """Every field of a ROS message as plain Python, walked generically.

    Fields are taken from ``get_fields_and_field_types()`` so none is forgotten:
    nested messages become dicts, arrays and sequences lists (numpy arrays and
    ``array.array`` included), numpy scalars Python numbers, a single ``byte`` an int.
    Floats are kept as they are (NaN included); see :func:`json_safe` for strict JSON.
    Works on any object with the message interface (no rclpy needed).
    """
    return {name: _plain(getattr(msg, name)) for name in msg.get_fields_and_field_types()}


def _plain(value):
    if hasattr(value, "get_fields_and_field_types"):
        return message_to_dict(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, array.array):
        return value.tolist()
    if isinstance(value, (bytes, bytearray)):
        return value[0] if len(value) == 1 else list(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def json_safe(obj):
    """``obj`` with every non-finite float (NaN, +-inf) replaced by None (JSON null)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [json_safe(v) for v in obj]
    return obj


def stamp_seconds(stamp) -> float:
    """A builtin_interfaces/Time as seconds (float)."""
    return stamp.sec + stamp.nanosec * 1e-9


def _percentiles(values) -> dict:
    if not values:
        return {f"p{q}": None for q in LATENCY_PERCENTILES} | {"n": 0}
    arr = np.asarray(values, dtype=np.float64)
    return {f"p{q}": float(np.percentile(arr, q)) for q in LATENCY_PERCENTILES} | {"n": int(arr.size)}


class _TopicStats:
    """Count, reception times and latencies of one topic."""

    def __init__(self, type_name: str, window: int):
        self.type_name = type_name
        self.count = 0
        self.first = None
        self.last = None
        self.latencies_ms = deque(maxlen=window)

    def add(self, now_s: float, stamp_s: Optional[float]) -> Optional[float]:
        self.count += 1
        self.first = now_s if self.first is None else self.first
        self.last = now_s
        if stamp_s is None or stamp_s == 0.0:
            return None
        latency = (now_s - stamp_s) * 1e3
        self.latencies_ms.append(latency)
        return latency

    def rate_hz(self) -> float:
        if self.count < 2 or self.last <= self.first:
            return 0.0
        return (self.count - 1) / (self.last - self.first)


class Recorder(Node):
    """ROS 2 node recording the hand3d outputs; see the module docstring.

    Raises ValueError (bad parameter) or OSError (output folder) at construction.
    """

    def __init__(self, node_name: str = "hand3d_recorder", **kwargs):
        super().__init__(node_name, **kwargs)
        self.p = declare_parameters(self, PARAMS)
        out = self.p["output_dir"] or f"hand3d_recording_{time.strftime('%Y%m%d-%H%M%S')}"
        self.output_dir = Path(os.path.expanduser(out)).resolve()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.debug_dir: Optional[Path] = None
        if self.p["record_debug_image"] and self.p["debug_image_dir"]:
            self.debug_dir = self.output_dir / os.path.expanduser(self.p["debug_image_dir"])
            self.debug_dir.mkdir(parents=True, exist_ok=True)
        self._poses_file = open(self.output_dir / POSES_FILE, "w", encoding="utf-8")
        self._stats: dict = {}
        self._debug_images = deque(maxlen=int(self.p["keep_debug_images"]))
        self.debug_images_written = 0
        self.frames_with_hands = 0
        self.hands_seen = 0
        self._started = time.monotonic()
        self._closed = False

        self._subscribe(HandPose3DArray, "hand_poses", RESULT_QOS, self._on_hand_poses)
        self._subscribe(HandPose3D, "hand_pose", RESULT_QOS, self._header_timed)
        self._subscribe(TFMessage, "/tf", TF_QOS, self._tf_timed)
        self._subscribe(MarkerArray, self.p["markers_topic"], RESULT_QOS, self._markers_timed)
        self._subscribe(DiagnosticArray, "/diagnostics", RESULT_QOS, self._header_timed)
        if self.p["record_debug_image"]:
            self._subscribe(Image, self.p["debug_image_topic"], qos_profile_sensor_data, self._on_debug_image)
        if self.p["summary_period_s"] > 0:
            self.create_timer(float(self.p["summary_period_s"]), self.write_summary)
        self.get_logger().info(f"recording {', '.join(sorted(self._stats))} into {self.output_dir}")

    # ------------------------------------------------------------- subscriptions
    def _subscribe(self, msg_type, topic, qos, handler) -> None:
        resolved = self.resolve_topic_name(topic)
        package, name = msg_type.__module__.split(".")[0], msg_type.__name__
        stats = self._stats.setdefault(resolved, _TopicStats(f"{package}/msg/{name}", int(self.p["latency_window"])))

        def callback(msg):
            handler(msg, stats)

        self.create_subscription(msg_type, resolved, callback, qos)

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _header_timed(self, msg, stats) -> Optional[float]:
        return stats.add(self._now_s(), stamp_seconds(msg.header.stamp))

    def _tf_timed(self, msg, stats) -> None:
        stats.add(self._now_s(), stamp_seconds(msg.transforms[0].header.stamp) if msg.transforms else None)

    def _markers_timed(self, msg, stats) -> None:
        stamps = [stamp_seconds(m.header.stamp) for m in msg.markers]
        stats.add(self._now_s(), next((s for s in stamps if s != 0.0), None))

    def _on_hand_poses(self, msg, stats) -> None:
        now = self._now_s()
        latency = stats.add(now, stamp_seconds(msg.header.stamp))
        self.hands_seen += len(msg.hands)
        self.frames_with_hands += bool(msg.hands)
        record = {"receive_time": now, "stamp": stamp_seconds(msg.header.stamp), "frame_id": msg.header.frame_id,
                  "latency_ms": latency}
        record.update(message_to_dict(msg))
        if not self._closed:
            self._poses_file.write(json.dumps(json_safe(record), allow_nan=False) + "\n")
            self._poses_file.flush()

    def _on_debug_image(self, msg, stats) -> None:
        stats.add(self._now_s(), stamp_seconds(msg.header.stamp))
        try:
            rgb = np.array(image_to_rgb(msg))  # a copy: the message buffer is not ours to keep
        except ImageError as err:
            self.get_logger().warning(f"skipping debug image: {err}", throttle_duration_sec=LOG_THROTTLE_S)
            return
        self._debug_images.append((stamp_seconds(msg.header.stamp), rgb))
        if self.debug_dir is not None:
            import cv2  # lazily: only when writing PNGs

            path = self.debug_dir / f"{stats.count - 1:06d}.png"
            if cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1])):
                self.debug_images_written += 1
            else:
                self.get_logger().warning(f"cannot write {path}", throttle_duration_sec=LOG_THROTTLE_S)

    # ------------------------------------------------------------- results
    def latest_debug_images(self) -> list:
        """The newest debug images, oldest first: [(stamp_s, rgb (H, W, 3) uint8), ...]."""
        return list(self._debug_images)

    def summary(self) -> dict:
        """What was recorded: ``counts`` and ``rate_hz`` per resolved topic, ``latency_ms``
        per topic (``p50``, ``p99`` in milliseconds, None without samples, and ``n``),
        ``types``, ``duration_s``, ``frames_with_hands``, ``hands``,
        ``debug_images_written`` and ``output_dir``."""
        return {
            "output_dir": str(self.output_dir),
            "duration_s": time.monotonic() - self._started,
            "counts": {topic: s.count for topic, s in self._stats.items()},
            "rate_hz": {topic: s.rate_hz() for topic, s in self._stats.items()},
            "latency_ms": {topic: _percentiles(s.latencies_ms) for topic, s in self._stats.items()},
            "types": {topic: s.type_name for topic, s in self._stats.items()},
            "frames_with_hands": self.frames_with_hands,
            "hands": self.hands_seen,
            "debug_images_written": self.debug_images_written,
        }

    def write_summary(self) -> dict:
        """Write :meth:`summary` to ``summary.json`` (atomically) and return it."""
        summary = self.summary()
        tmp = self.output_dir / (SUMMARY_FILE + ".tmp")
        tmp.write_text(json.dumps(json_safe(summary), indent=2, allow_nan=False) + "\n", encoding="utf-8")
        os.replace(tmp, self.output_dir / SUMMARY_FILE)
        return summary

    def close(self) -> dict:
        """Flush and close poses.jsonl and write summary.json; idempotent. Returns the summary."""
        summary = self.write_summary()
        if not self._closed:
            self._closed = True
            self._poses_file.close()
        return summary

    def destroy_node(self):
        if hasattr(self, "_closed"):  # not when __init__ failed half-way (rclpy's context destroys it too)
            self.close()
        return super().destroy_node()


def main(args=None) -> int:
    """Console script ``hand3d_recorder`` (``ros2 run hand3d_ros hand3d_recorder``).

    Exit status 0 after a clean shutdown (Ctrl-C / SIGTERM), 1 with one line on stderr
    when a parameter or the output folder is unusable.
    """
    from hand3d_ros.ros.runner import run_node

    return run_node("hand3d_recorder", Recorder, args, before_destroy=report)


def report(node: Recorder) -> None:
    """Close the recording and say on stderr where it went and what it counted."""
    summary = node.close()
    counts = ", ".join(f"{topic}: {n}" for topic, n in sorted(summary["counts"].items()))
    sys.stderr.write(f"hand3d_recorder: wrote {node.output_dir} ({counts})\n")


if __name__ == "__main__":
    raise SystemExit(main())
