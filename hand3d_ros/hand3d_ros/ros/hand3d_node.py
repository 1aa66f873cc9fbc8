"""The hand3d node: camera in; HandPose3D, TF frames, RViz markers and diagnostics out.

The node is thin: it converts messages, keeps the newest frame, and hands it to a worker
thread that runs :class:`hand3d_ros.inference.estimator.HandEstimator` (networks, metric
3D, tracking, smoothing: pure library code). Callbacks and parameter services stay
responsive while the networks run; frames that arrive meanwhile replace each other
(counted as dropped), so a slow model never builds a queue.

Bad input never stops the node: each problem is logged (throttled) with its reason and
the frame is skipped.
"""
from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from typing import Optional

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from hand3d_msgs.msg import HandPose3D, HandPose3DArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.qos import QoSDurabilityPolicy, QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from hand3d_ros.core.camera_model import CameraModel
from hand3d_ros.ros import conversions
from hand3d_ros.ros.frame_gaps import StampGaps
from hand3d_ros.ros.image_conversions import (
    ImageError,
    ImageLimits,
    compressed_to_rgb,
    depth_to_metres,
    image_to_rgb,
    rgb_to_image_fields,
)
from hand3d_ros.ros.latest import LatestSlot
from hand3d_ros.ros.param_utils import declare_parameters
from hand3d_ros.ros.params import PARAMS, validate, validate_all

#: Reliable, keep-last results: controllers must not miss a hand pose.
RESULT_QOS = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE, history=QoSHistoryPolicy.KEEP_LAST)
#: As tf2_ros.TransformBroadcaster.
TF_QOS = QoSProfile(depth=100, reliability=QoSReliabilityPolicy.RELIABLE, durability=QoSDurabilityPolicy.VOLATILE)

#: Camera subscriptions by the image_qos parameter: sensor data (best effort, keep last 5)
#: or the same history, reliable.
CAMERA_QOS = {
    "sensor_data": qos_profile_sensor_data,
    "reliable": QoSProfile(depth=qos_profile_sensor_data.depth, reliability=QoSReliabilityPolicy.RELIABLE,
                           history=QoSHistoryPolicy.KEEP_LAST),
}

LOG_THROTTLE_S = 5.0


class _Frame:
    """One image waiting for the worker: the message and when it arrived."""

    __slots__ = ("msg", "compressed", "arrival")

    def __init__(self, msg, compressed: bool):
        self.msg, self.compressed, self.arrival = msg, compressed, time.monotonic()


class Hand3DNode(Node):
    """ROS 2 node; see the README for topics, parameters and frames.

    ``estimator`` may be given (e.g. tests, or several nodes sharing one process);
    otherwise it is built from the parameters.
    """

    def __init__(self, node_name: str = "hand3d", *, estimator=None, **kwargs):
        super().__init__(node_name, **kwargs)
        self.p = declare_parameters(self, PARAMS)
        reason = validate_all(self.p)
        if reason:
            raise ValueError(f"invalid parameters: {reason}")
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self.limits = ImageLimits(max_pixels=int(self.p["max_image_pixels"]))
        self.estimator = estimator if estimator is not None else self._build_estimator()

        qos_overrides = QoSOverridingOptions.with_default_policies()
        self._camera_info: Optional[CameraInfo] = None
        self._camera_infos_received = 0
        self._warned_no_camera_info = False
        self._depth = deque(maxlen=8)
        self._depth_received = 0
        self._slot = LatestSlot()
        self._stats_lock = threading.Lock()
        self._latencies_ms = deque(maxlen=500)
        self._out_stamps = deque(maxlen=200)
        self._in_stamps = deque(maxlen=200)
        self._gaps = StampGaps(pause_s=float(self.p["input_pause_s"]))
        self._skipped = 0
        self._processed = 0
        self._debug_published = 0
        self._last_logged: dict = {}
        self._live_hand_ids: set = set()

        camera_qos = CAMERA_QOS[self.p["image_qos"]]
        if self.p["use_compressed"]:
            self.create_subscription(CompressedImage, "image/compressed", self._on_compressed,
                                     camera_qos, qos_overriding_options=qos_overrides)
        else:
            self.create_subscription(Image, "image", self._on_image, camera_qos,
                                     qos_overriding_options=qos_overrides)
        self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, camera_qos,
                                 qos_overriding_options=qos_overrides)
        if self.p["use_depth"]:
            self.create_subscription(Image, "depth", self._on_depth, camera_qos,
                                     qos_overriding_options=qos_overrides)

        self.pose_pub = self.create_publisher(HandPose3D, "hand_pose", RESULT_QOS, qos_overriding_options=qos_overrides)
        self.poses_pub = self.create_publisher(HandPose3DArray, "hand_poses", RESULT_QOS,
                                               qos_overriding_options=qos_overrides)
        self.markers_pub = self.create_publisher(MarkerArray, "~/markers", RESULT_QOS)
        self.debug_pub = self.create_publisher(Image, "~/debug_image", qos_profile_sensor_data)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", RESULT_QOS)
        self._tf_send = self._make_tf_sender()
        self.create_timer(float(self.p["diagnostics_period_s"]), self._publish_diagnostics)

        self._worker = threading.Thread(target=self._work, name="hand3d_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"hand3d ready: backend {self.estimator.description}; HandSegNet threshold "
            f"{self.estimator.pipeline.detection_threshold:.2f}, hand score gate "
            f"{self.estimator.config.tracker.min_hand_score:.2f} "
            f"({'hand confidence' if self.estimator.pipeline.hand_confidence else 'HandSegNet peak'}), "
            f"keypoint gate {self.estimator.config.tracker.min_mean_keypoint_score:.2f}; listening on "
            f"{self.resolve_topic_name('image/compressed' if self.p['use_compressed'] else 'image')}"
        )

    # ----------------------------------------------------------------- setup
    def _build_estimator(self):
        from hand3d_ros.inference.estimator import build_estimator

        return build_estimator(self.p, log=self.get_logger().info)

    def _make_tf_sender(self):
        try:
            from tf2_ros import TransformBroadcaster
        except ImportError:  # no tf2_ros (e.g. ROS from PyPI wheels): same type and QoS by hand
            from tf2_msgs.msg import TFMessage

            pub = self.create_publisher(TFMessage, "/tf", TF_QOS)
            return lambda transforms: pub.publish(TFMessage(transforms=transforms))
        broadcaster = TransformBroadcaster(self)
        return broadcaster.sendTransform

    def _on_set_parameters(self, params) -> SetParametersResult:
        changes = {}
        for param in params:
            reason = validate(param.name, param.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
            if param.name in self.p:
                changes[param.name] = param.value
        reason = validate_all({**self.p, **changes})
        if reason:
            return SetParametersResult(successful=False, reason=reason)
        self.p.update(changes)
        if changes and hasattr(self, "estimator"):
            from hand3d_ros.inference.estimator import estimator_config_from_params

            self.estimator.configure(estimator_config_from_params(self.p))
        return SetParametersResult(successful=True)

    # -------------------------------------------------------------- callbacks
    def _on_image(self, msg: Image) -> None:
        self._received(msg)
        self._slot.put(_Frame(msg, compressed=False))

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._received(msg)
        self._slot.put(_Frame(msg, compressed=True))

    def _received(self, msg) -> None:
        self._in_stamps.append(time.monotonic())
        with self._stats_lock:
            self._gaps.add(_stamp_s(msg.header))

    def _on_camera_info(self, msg: CameraInfo) -> None:
        k = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
        if not np.all(np.isfinite(k)) or k[0, 0] <= 0 or k[1, 1] <= 0:
            self._warn_throttled(f"ignoring camera_info with invalid focal length (fx={k[0, 0]}, fy={k[1, 1]})")
            return
        self._camera_info = msg
        self._camera_infos_received += 1

    def _on_depth(self, msg: Image) -> None:
        self._depth.append(msg)
        self._depth_received += 1

    # ----------------------------------------------------------------- worker
    def _work(self) -> None:
        while rclpy.ok(context=self.context) and not self._slot.closed:
            frame = self._slot.take(timeout=0.2)
            if frame is None:
                continue
            try:
                self._process(frame)
            except ImageError as err:
                self._skipped += 1
                self._warn_throttled(f"skipping frame: {err}")
            except Exception as err:  # the node never dies of one frame
                self._skipped += 1
                self._warn_throttled(f"skipping frame: {type(err).__name__}: {err}", error=True)

    def _warn_throttled(self, text: str, error: bool = False) -> None:
        """Log ``text`` at most once per LOG_THROTTLE_S for each kind of problem (the text
        with its numbers masked), so one bad stream cannot hide another problem."""
        if not rclpy.ok(context=self.context):  # shutting down: no logger to write to
            return
        key = re.sub(r"\d+", "#", text)
        now = time.monotonic()
        if now - self._last_logged.get(key, -math.inf) < LOG_THROTTLE_S:
            return
        self._last_logged[key] = now
        (self.get_logger().error if error else self.get_logger().warning)(text)

    def _intrinsics(self, shape) -> Optional[np.ndarray]:
        """K of the received image; scaled when the image is a resized copy of the
        calibrated one (pixel centres as cv2.resize)."""
        info = self._camera_info
        if info is None:
            if not self._warned_no_camera_info:
                self._warned_no_camera_info = True
                self.get_logger().warning("no camera_info yet: publishing 2D and normalised 3D only")
            return None
        model = CameraModel.from_camera_info(info)
        if info.width and info.height and (info.width, info.height) != (shape[1], shape[0]):
            model = model.scaled(shape[1], shape[0])
        return np.asarray(model.K, dtype=np.float64)

    def _matching_depth(self, header, shape) -> Optional[np.ndarray]:
        if not self._depth:
            return None
        stamp = _stamp_s(header)
        best = min(self._depth, key=lambda m: abs(_stamp_s(m.header) - stamp))
        if abs(_stamp_s(best.header) - stamp) > self.p["depth_max_time_offset_s"]:
            return None
        try:
            depth = depth_to_metres(best, self.limits)
        except ImageError as err:
            self._warn_throttled(f"ignoring depth: {err}")
            return None
        if depth.shape != shape[:2]:
            self._warn_throttled(f"ignoring depth of {depth.shape[1]}x{depth.shape[0]}: not aligned to the "
                                 f"{shape[1]}x{shape[0]} image")
            return None
        return depth

    def _process(self, frame: _Frame) -> None:
        msg = frame.msg
        rgb = compressed_to_rgb(msg, self.limits) if frame.compressed else image_to_rgb(msg, self.limits)
        header = msg.header
        k = self._intrinsics(rgb.shape)
        depth = self._matching_depth(header, rgb.shape) if self.p["use_depth"] else None
        want_debug = self.debug_pub.get_subscription_count() > 0
        out = self.estimator.process(rgb, _stamp_s(header), K=k, depth_m=depth, keep_mask=want_debug)
        self._publish(out, header)
        if want_debug:
            from hand3d_ros.visualize import draw_overlay

            debug = Image(header=header, **rgb_to_image_fields(draw_overlay(rgb, out.hands, out.mask)))
            self.debug_pub.publish(debug)
            self._debug_published += 1
        with self._stats_lock:
            self._processed += 1
            self._latencies_ms.append((time.monotonic() - frame.arrival) * 1e3)
            self._out_stamps.append(time.monotonic())

    def _publish(self, out, header) -> None:
        hands = out.hands
        poses = conversions.hand_pose_array_msg(hands, header)
        self.poses_pub.publish(poses)
        if hands:  # the same message: publish() serialises it, nothing keeps a reference
            self.pose_pub.publish(poses.hands[0])
        if self.p["publish_tf"]:
            names = conversions.hand_frame_names(hands, self.p["frame_prefix"])
            transforms = [
                t for h, name in zip(hands, names)
                for t in conversions.hand_transforms(h, header, name, self.p["publish_keypoint_frames"])
            ]
            if transforms:
                self._tf_send(transforms)
        if self.p["publish_markers"]:
            live = {int(h.hand_id) for h in hands}
            markers = [m for h in hands for m in conversions.hand_markers(h, header, self.p["marker_lifetime_s"])]
            for gone in sorted(self._live_hand_ids - live):
                markers += conversions.delete_markers(gone, header)
            self._live_hand_ids = live
            if markers:
                self.markers_pub.publish(conversions.marker_array(markers))

    def stats(self) -> dict:
        """Counters and latency percentiles since start (also published on /diagnostics)."""
        with self._stats_lock:
            lat = np.array(self._latencies_ms)
            out_rate = _rate(self._out_stamps)
            processed = self._processed
            camera_rate, missing, recent_loss = self._gaps.rate_hz(), self._gaps.missing_total, self._gaps.recent_loss()
        return {
            "input_rate_hz": _rate(self._in_stamps),
            "camera_rate_hz": camera_rate,
            "frames_missing_before_node": missing,
            "recent_input_loss": recent_loss,
            "output_rate_hz": out_rate,
            "latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else float("nan"),
            "latency_p99_ms": float(np.percentile(lat, 99)) if lat.size else float("nan"),
            "frames_received": self._slot.received,
            "frames_processed": processed,
            "frames_dropped": self._slot.dropped,
            "frames_skipped_bad_input": self._skipped,
            "camera_info_received": self._camera_infos_received,
            "depth_received": self._depth_received,
            "debug_images_published": self._debug_published,
            "backend": self.estimator.description,
            "model": self.estimator.model_name,
        }

    def _publish_diagnostics(self) -> None:
        stats = self.stats()
        status = DiagnosticStatus(name=f"{self.get_fully_qualified_name()}: hand pose", hardware_id=stats["backend"])
        problems = []  # most fundamental first
        if stats["frames_received"] == 0:
            problems.append("no images received")
        if self._camera_info is None:
            problems.append("no camera_info: no metric 3D")
        if stats["recent_input_loss"] > self.p["input_loss_warn"]:
            hint = "try image_qos:=reliable" if self.p["image_qos"] != "reliable" else "see 'Large images over DDS'"
            problems.append(f"{100 * stats['recent_input_loss']:.0f} % of the camera's recent frames never arrived "
                            f"(gaps in the image stamps): transport loss? {hint}")
        status.level = DiagnosticStatus.WARN if problems else DiagnosticStatus.OK
        status.message = "; ".join(problems) or "ok"
        status.values = [KeyValue(key=k, value=f"{v:.2f}" if isinstance(v, float) else str(v))
                         for k, v in stats.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(msg)

    def destroy_node(self):
        # Also called (by rclpy's context) on a node whose __init__ failed half-way.
        slot, worker = getattr(self, "_slot", None), getattr(self, "_worker", None)
        if slot is not None:
            slot.close()
        if worker is not None and worker.is_alive():
            worker.join(timeout=2.0)
        return super().destroy_node()


def _stamp_s(header) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


def _rate(stamps) -> float:
    if len(stamps) < 2 or time.monotonic() - stamps[-1] > 5.0:
        return 0.0
    return (len(stamps) - 1) / max(stamps[-1] - stamps[0], 1e-9)


def main(args=None) -> int:
    """Console script ``hand3d_node`` (``ros2 run hand3d_ros hand3d_node``)."""
    from hand3d_ros.ros.runner import run_node

    return run_node("hand3d_node", Hand3DNode, args)

if __name__ == "__main__":
    raise SystemExit(main())
