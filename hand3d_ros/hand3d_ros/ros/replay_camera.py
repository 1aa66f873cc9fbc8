"""The ``replay_camera`` node: a video, image folder, NPZ sequence or webcam as a ROS camera.

Like image_pipeline's ``image_publisher``: publishes ``image`` (rgb8) and ``camera_info``
with the same stamp and ``frame_id`` on a wall-clock (steady) timer, plus ``depth``
(32FC1, metres, NaN = no data) when the NPZ sequence has depth and ``publish_depth`` is
set. Stamps come from the node clock at publication (``get_clock().now()``, so
``use_sim_time`` is honoured) and are never reused: when the clock has not advanced
since the previous frame the stamp is the previous one plus 1 ns.

QoS: as ``image_publisher`` (``image_transport::create_camera_publisher`` with the
default profile): reliable, volatile, keep last 10, for image, camera_info and depth.
A reliable publisher serves both best-effort (sensor-data) subscribers, such as the
hand3d node, and reliable ones (RViz, ros2 bag, the recorder); a best-effort publisher
would be invisible to the latter. Reliability, history and depth can be overridden with
the usual ``qos_overrides./<topic>.publisher.*`` parameters.

camera_info comes from ``camera_info_url`` (a calibration YAML; scaled when its size
differs from the images'), else from the NPZ's ``K``, else from a guess from
``hfov_deg``.

For in-process use (several nodes, one executor) construct :class:`ReplayCamera` with a
``source`` object (e.g. an :class:`~hand3d_ros.data.sources.ArraySource` of rendered
frames), call :meth:`ReplayCamera.step` yourself with ``use_timer=False``, or publish
arbitrary images with :meth:`ReplayCamera.publish_frame`.
"""
from __future__ import annotations

import threading
from typing import Optional

import numpy as np
import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from hand3d_ros.core.camera_model import CameraModel, load_calibration
from hand3d_ros.data.sources import FrameSource, SourceError, open_source
from hand3d_ros.ros.image_conversions import byte_array, rgb_to_image_fields
from hand3d_ros.ros.param_utils import declare_parameters
from hand3d_ros.ros.params import Param, validate

#: As image_transport's default camera publisher (rmw_qos_profile_default).
CAMERA_QOS = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE, history=QoSHistoryPolicy.KEEP_LAST)

PARAMS = (
    Param("source", "", "What to replay: a video file, an image folder (sorted png/jpg), an .npz sequence "
          "(image, K, optional depth and stamps), a single image, or a camera index such as 0.", read_only=True, dynamic_typing=True),
    Param("fps", 0.0, "Playback rate, frames per second (0: the source's own rate).", min=0.0, max=1000.0),
    Param("loop", False, "Start again at the end of the source (stamps keep increasing)."),
    Param("frame_id", "camera_color_optical_frame", "frame_id of image, camera_info and depth (the optical frame)."),
    Param("camera_info_url", "", "Calibration YAML (file:///path or a plain path); empty: the NPZ's K, "
          "else a guess from hfov_deg.", read_only=True),
    Param("hfov_deg", 60.0, "Horizontal field of view for the camera_info guess, degrees.", min=1.0, max=179.0,
          read_only=True),
    Param("publish_depth", False, "Publish depth (32FC1, metres) when the source has it (NPZ sequences).",
          read_only=True),
    Param("max_frames", 0, "Stop after this many published frames (0: all; loops count).", min=0, max=2**31 - 1,
          read_only=True),
    Param("wait_for_subscribers", 0, "Hold the first frame until image, camera_info (and depth) each have at "
          "least this many subscribers (0: start at once).", min=0, max=1000, read_only=True),
    Param("shutdown_when_done", False, "Shut ROS down (ending the process, or the launch) when the source ends.",
          read_only=True),
    Param("shutdown_delay_s", 1.0, "Wait between the last frame and the shutdown, seconds (lets the last "
          "messages arrive).", min=0.0, max=60.0, read_only=True),
)
PARAMS_BY_NAME = {p.name: p for p in PARAMS}


def depth_to_image_fields(depth_m: np.ndarray) -> dict:
    """Fields of a 32FC1 ``sensor_msgs/Image`` holding ``depth_m`` (H, W) metres (NaN = no data)."""
    depth = np.ascontiguousarray(depth_m, dtype="<f4")
    height, width = depth.shape
    return {"height": height, "width": width, "encoding": "32FC1", "is_bigendian": 0, "step": 4 * width,
            "data": byte_array(depth)}


class ReplayCamera(Node):
    """ROS 2 node publishing a frame source as a camera; see the module docstring.

    source: a ready :class:`FrameSource` (overrides the ``source`` parameter), or None to
    open the parameter's source; with neither, only :meth:`publish_frame` publishes.
    use_timer: False leaves the pacing to the caller (:meth:`step`).
    require_source: raise SourceError when there is no source at all (the console script).
    Raises ValueError (SourceError, CalibrationError) with one line for a bad
    source, calibration or parameter.
    """

    def __init__(self, node_name: str = "replay_camera", *, source: Optional[FrameSource] = None,
                 use_timer: bool = True, require_source: bool = False, **kwargs):
        super().__init__(node_name, **kwargs)
        self.p = declare_parameters(self, PARAMS)
        self.p["source"] = str(self.p["source"]).strip()

        url = self.p["camera_info_url"]
        self.calibration: Optional[CameraModel] = load_calibration(url) if url else None
        if source is None and self.p["source"]:
            source = open_source(self.p["source"], fps=self.p["fps"] or None, loop=self.p["loop"])
        if source is None and require_source:
            raise SourceError("parameter 'source' is empty: give a video, an image folder, an .npz sequence "
                              "or a camera index (--ros-args -p source:=...)")
        self.source = source
        if source is not None:
            source.loop = bool(self.p["loop"])

        overrides = QoSOverridingOptions.with_default_policies()
        self.image_pub = self.create_publisher(Image, "image", CAMERA_QOS, qos_overriding_options=overrides)
        self.info_pub = self.create_publisher(CameraInfo, "camera_info", CAMERA_QOS, qos_overriding_options=overrides)
        self.depth_pub = None
        if self.p["publish_depth"]:
            if source is not None and not source.has_depth:
                self.get_logger().warning(f"publish_depth is set but {source.description} has no depth")
            else:
                self.depth_pub = self.create_publisher(Image, "depth", CAMERA_QOS, qos_overriding_options=overrides)

        self.published = 0
        """Frames published so far (image + camera_info pairs)."""
        self.finished = False
        """True once the source has ended (or max_frames was reached)."""
        self.done = threading.Event()
        """Set when the source has ended: for in-process callers that wait on it."""
        self._frames = iter(source) if source is not None else None
        self._last_stamp_ns: Optional[int] = None
        self._model_key = None
        self._model: Optional[CameraModel] = None
        self._warned_scaled = False
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._timer = None
        self._shutdown_timer = None
        self.add_on_set_parameters_callback(self._on_set_parameters)
        if source is not None and use_timer:
            self._timer = self.create_timer(1.0 / self.rate, self.step, clock=self._steady)
        if source is not None:
            self.get_logger().info(
                f"replaying {source.description} at {self.rate:g} Hz on {self.image_pub.topic_name}"
                f"{' (looping)' if self.p['loop'] else ''}; camera_info from {self._camera_info_origin()}"
            )

    # ------------------------------------------------------------- public API
    @property
    def rate(self) -> float:
        """Playback rate, frames per second: the fps parameter, or the source's own."""
        if self.p["fps"] > 0:
            return float(self.p["fps"])
        return float(self.source.fps) if self.source is not None else 0.0

    def camera_model(self, width: int, height: int, K: Optional[np.ndarray] = None) -> CameraModel:
        """The camera published with a (height, width) image: the calibration (scaled to
        the image size if needed), else ``K`` ((3, 3) pixels), else the hfov_deg guess."""
        key = (width, height, None if K is None else np.asarray(K, dtype=np.float64).tobytes())
        if key == self._model_key:
            return self._model
        if self.calibration is not None:
            model = self.calibration
            if (model.width, model.height) != (width, height):
                if not self._warned_scaled:
                    self._warned_scaled = True
                    self.get_logger().info(
                        f"calibration is for {model.width}x{model.height}: scaled to the {width}x{height} images")
                model = model.scaled(width, height)
        elif K is not None:
            model = CameraModel.from_K(K, width, height)
        else:
            model = CameraModel.from_fov(width, height, self.p["hfov_deg"])
        self._model_key, self._model = key, model
        return model

    def next_stamp(self):
        """Now on the node clock, strictly later than any stamp published before."""
        now = self.get_clock().now()
        ns = now.nanoseconds
        if self._last_stamp_ns is not None and ns <= self._last_stamp_ns:
            ns = self._last_stamp_ns + 1
        self._last_stamp_ns = ns
        return Time(nanoseconds=ns, clock_type=now.clock_type).to_msg()

    def publish_frame(self, rgb: np.ndarray, depth_m: Optional[np.ndarray] = None,
                      K: Optional[np.ndarray] = None):
        """Publish one frame now: ``rgb`` (H, W, 3) uint8 on ``image``, its camera_info
        (see :meth:`camera_model`; ``K`` (3, 3) pixels is used when no calibration is
        set) and, with ``publish_depth``, ``depth_m`` (H, W) metres on ``depth``; all
        with one fresh stamp and the ``frame_id`` parameter. Returns the stamp."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
        height, width = rgb.shape[:2]
        header = Header(stamp=self.next_stamp(), frame_id=self.p["frame_id"])
        info = CameraInfo(header=header, **self.camera_model(width, height, K).camera_info_fields())
        self.info_pub.publish(info)  # first, so a subscriber has the intrinsics when the image arrives
        self.image_pub.publish(Image(header=header, **rgb_to_image_fields(rgb)))
        if depth_m is not None and self.p["publish_depth"]:
            if self.depth_pub is None:
                self.depth_pub = self.create_publisher(Image, "depth", CAMERA_QOS)
            if np.shape(depth_m) != (height, width):
                raise ValueError(f"depth must be {(height, width)} like the image, got {np.shape(depth_m)}")
            self.depth_pub.publish(Image(header=header, **depth_to_image_fields(depth_m)))
        self.published += 1
        return header.stamp

    def step(self) -> bool:
        """Publish the source's next frame; False once the source has ended (or
        ``max_frames`` is reached), or True without publishing while waiting for
        subscribers (``wait_for_subscribers``)."""
        if self.finished or self._frames is None:
            return False
        if self.published == 0 and not self._subscribers_ready():
            return True
        try:
            frame = next(self._frames)
        except StopIteration:
            self._finish(f"end of {self.source.description}")
            return False
        except SourceError as err:
            self.get_logger().error(f"cannot read the next frame: {err}")
            self._finish("read error")
            return False
        depth = frame.extras.get("depth") if self.depth_pub is not None else None
        self.publish_frame(frame.rgb, depth, frame.extras.get("K", self.source.K))
        if self.p["max_frames"] and self.published >= self.p["max_frames"]:
            self._finish(f"max_frames={self.p['max_frames']} reached")
        return True

    # ------------------------------------------------------------- internals
    def _camera_info_origin(self) -> str:
        if self.calibration is not None:
            return f"calibration {self.p['camera_info_url']}"
        if self.source is not None and self.source.K is not None:
            return "the sequence's K"
        return f"a guess from hfov_deg={self.p['hfov_deg']:g}"

    def _subscribers_ready(self) -> bool:
        need = self.p["wait_for_subscribers"]
        if need <= 0:
            return True
        pubs = [self.image_pub, self.info_pub] + ([self.depth_pub] if self.depth_pub is not None else [])
        return all(pub.get_subscription_count() >= need for pub in pubs)

    def _finish(self, reason: str) -> None:
        self.finished = True
        if self._timer is not None:
            self._timer.cancel()
        if self.source is not None:
            self.source.close()
        self.get_logger().info(f"stopped publishing after {self.published} frames: {reason}")
        self.done.set()
        if self.p["shutdown_when_done"]:
            self._shutdown_timer = self.create_timer(max(self.p["shutdown_delay_s"], 1e-3), self._shutdown,
                                                     clock=self._steady)

    def _shutdown(self) -> None:
        self._shutdown_timer.cancel()
        self.get_logger().info("shutting down (shutdown_when_done)")
        rclpy.try_shutdown(context=self.context)

    def _on_set_parameters(self, params) -> SetParametersResult:
        for param in params:
            reason = validate(param.name, param.value, table=PARAMS_BY_NAME)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        for param in params:
            if param.name not in PARAMS_BY_NAME:
                continue
            value = float(param.value) if param.name == "fps" else param.value
            self.p[param.name] = value
            if param.name == "loop" and self.source is not None:
                self.source.loop = bool(value)
            if param.name == "fps" and self._timer is not None and not self.finished and self.rate > 0:
                self.destroy_timer(self._timer)
                self._timer = self.create_timer(1.0 / self.rate, self.step, clock=self._steady)
        return SetParametersResult(successful=True)

    def destroy_node(self):
        source = getattr(self, "source", None)  # None too when __init__ failed half-way
        if source is not None:
            source.close()
        return super().destroy_node()


def main(args=None) -> int:
    """Console script ``replay_camera`` (``ros2 run hand3d_ros replay_camera --ros-args -p source:=clip.mp4``).

    Exit status 0 after a clean shutdown (Ctrl-C, or shutdown_when_done), 1 with one
    line on stderr when the source, calibration or a parameter is unusable.
    """
    from hand3d_ros.ros.runner import run_node

    return run_node("replay_camera", lambda: ReplayCamera(require_source=True), args)

if __name__ == "__main__":
    raise SystemExit(main())
