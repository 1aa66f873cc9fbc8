"""The hand3d node in its own process, driven over real DDS by this test process.

The node runs the real pipeline with small random-weight networks (``allow_random_weights``;
PosePrior starts at a template hand, so the metric stage has a plausible shape to fit), a
detection threshold that always finds a hand, and no score gate: the outputs are
meaningless as poses but exercise every topic, header and parameter. The metric pose, TF
frames and markers (which need a hand posed well enough to lie in front of the camera)
are tested with the shipped weights on rendered frames in ``test_node_shipped.py``.
"""

import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

hand3d_msgs = pytest.importorskip("hand3d_msgs.msg", reason="hand3d_msgs is not built")
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

pytestmark = pytest.mark.ros

FRAME = "test_camera_optical_frame"
WIDTH, HEIGHT = 160, 120
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
NODE_ARGS = ("-p", "allow_random_weights:=true", "-p", "detection_threshold:=0.01", "-p", "crop_margin:=2",
             "-p", "min_hand_score:=0.0", "-p", "backend:=torch", "-p", "max_hands:=1",
             "-p", "diagnostics_period_s:=0.5", "-p", "tracking:=false",
             "-p", "handedness:=right")


def _rgb(seed):
    return (np.random.default_rng(seed).random((HEIGHT, WIDTH, 3)) * 255).astype(np.uint8)


def _image(rgb, stamp_ns, encoding="rgb8"):
    msg = Image(height=rgb.shape[0], width=rgb.shape[1], encoding=encoding, step=rgb.shape[1] * rgb.shape[2])
    msg.data = rgb.tobytes()
    msg.header.frame_id = FRAME
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
    return msg


def _camera_info(focal=150.0):
    info = CameraInfo(width=WIDTH, height=HEIGHT)
    info.header.frame_id = FRAME
    info.k = [focal, 0.0, (WIDTH - 1) / 2, 0.0, focal, (HEIGHT - 1) / 2, 0.0, 0.0, 1.0]
    return info


class Driver:
    """Publishes frames to a node namespace and collects what comes back."""

    def __init__(self, node, spin, ns):
        self.node, self.spin, self.ns = node, spin, ns
        self.image_pub = node.create_publisher(Image, f"{ns}/image", qos_profile_sensor_data)
        self.info_pub = node.create_publisher(CameraInfo, f"{ns}/camera_info", qos_profile_sensor_data)
        self.poses, self.arrays, self.tf, self.markers, self.diag, self.debug = [], [], [], [], [], []
        node.create_subscription(hand3d_msgs.HandPose3D, f"{ns}/hand_pose", self.poses.append, RELIABLE)
        node.create_subscription(hand3d_msgs.HandPose3DArray, f"{ns}/hand_poses", self.arrays.append, RELIABLE)
        node.create_subscription(TFMessage, "/tf", self.tf.append, QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
        node.create_subscription(MarkerArray, f"{ns}/hand3d/markers", self.markers.append, RELIABLE)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, RELIABLE)
        self.sent = {}
        self.seq = 0

    def _on_diag(self, msg):
        for status in msg.status:
            if status.name.startswith(self.ns + "/"):
                self.diag.append({kv.key: kv.value for kv in status.values})

    def send(self, rgb=None, encoding="rgb8", with_info=True, seed=None):
        self.seq += 1
        stamp_ns = 1_000_000_000 + self.seq * 33_000_000
        rgb = _rgb(self.seq if seed is None else seed) if rgb is None else rgb
        msg = _image(rgb, stamp_ns, encoding)
        if with_info:
            info = _camera_info()
            info.header.stamp = msg.header.stamp
            self.info_pub.publish(info)
        self.image_pub.publish(msg)
        self.sent[(msg.header.stamp.sec, msg.header.stamp.nanosec)] = msg
        return msg

    def wait_for(self, predicate, timeout_s=60.0, period_s=0.15, **send_kwargs):
        return self.spin(self.node, predicate, timeout_s=timeout_s, action=lambda: self.send(**send_kwargs),
                         period_s=period_s)

    def idle(self, seconds):
        self.spin(self.node, lambda: False, timeout_s=seconds)


@pytest.fixture(scope="module")
def node_process(node_process_factory):
    """One node process for the module's tests (namespace /t)."""
    with node_process_factory(*NODE_ARGS, "-r", "__ns:=/t", "-r", "__node:=hand3d") as proc:
        yield proc


@pytest.fixture
def driver(ros_node, spin, node_process):
    assert node_process.poll() is None, node_process.stdout.read()
    return Driver(ros_node, spin, "/t")


def _stamp(header):
    return (header.stamp.sec, header.stamp.nanosec)


def test_hand_pose_has_the_image_header(driver):
    assert driver.wait_for(lambda: len(driver.poses) >= 3), "no HandPose3D from the node within 60 s"
    for pose in driver.poses:
        assert pose.header.frame_id == FRAME
        assert _stamp(pose.header) in driver.sent, "the pose's stamp is not one of the images' stamps"
        assert len(pose.keypoints_2d) == 21 and len(pose.keypoints_3d) == 21
        assert pose.handedness in (pose.LEFT, pose.RIGHT, pose.UNKNOWN)
        assert 0.0 <= pose.score <= 1.0
        u = np.array([k.u for k in pose.keypoints_2d])
        v = np.array([k.v for k in pose.keypoints_2d])
        crop = np.asarray(pose.crop_box)
        assert np.all((u >= crop[0] - 1) & (u <= crop[2] + 1) & (v >= crop[1] - 1) & (v <= crop[3] + 1))
    assert driver.wait_for(lambda: len(driver.arrays) >= 3)
    assert all(_stamp(a.header) in driver.sent and a.header.frame_id == FRAME for a in driver.arrays)
    assert all(len(a.hands) <= 1 for a in driver.arrays)


def test_parameters_are_validated(driver, set_parameters):
    node_name = f"{driver.ns}/hand3d"
    (bad_range,) = set_parameters(driver.node, node_name, detection_threshold=1.5)
    assert not bad_range.successful and "detection_threshold" in bad_range.reason
    (bad_choice,) = set_parameters(driver.node, node_name, handedness="middle")
    assert not bad_choice.successful and "handedness" in bad_choice.reason
    (read_only,) = set_parameters(driver.node, node_name, backend="onnxruntime")
    assert not read_only.successful
    (bad_type,) = set_parameters(driver.node, node_name, max_hands="two")
    assert not bad_type.successful
    (ok,) = set_parameters(driver.node, node_name, smoothing_beta=0.2)
    assert ok.successful, ok.reason
    (ok_int_for_float,) = set_parameters(driver.node, node_name, smoothing_beta=1)  # as `ros2 param set ... 1`
    assert ok_int_for_float.successful, ok_int_for_float.reason
    (ok_handedness,) = set_parameters(driver.node, node_name, handedness="left")
    assert ok_handedness.successful
    driver.poses.clear()
    assert driver.wait_for(lambda: len(driver.poses) >= 2)
    assert driver.poses[-1].handedness == driver.poses[-1].LEFT
    set_parameters(driver.node, node_name, handedness="right")  # back to the module's setting


def test_debug_image_only_while_subscribed(driver):
    assert driver.wait_for(lambda: len(driver.diag) >= 2)
    driver.diag.clear()
    driver.wait_for(lambda: len(driver.diag) >= 2)
    assert driver.diag[-1]["debug_images_published"] == "0"
    received = []
    driver.node.create_subscription(Image, f"{driver.ns}/hand3d/debug_image", received.append, qos_profile_sensor_data)
    assert driver.wait_for(lambda: bool(received)), "no debug image while subscribed"
    debug = received[0]
    assert (debug.width, debug.height, debug.encoding) == (WIDTH, HEIGHT, "rgb8")
    assert _stamp(debug.header) in driver.sent and debug.header.frame_id == FRAME
    original = np.frombuffer(bytes(driver.sent[_stamp(debug.header)].data), np.uint8)
    assert not np.array_equal(np.frombuffer(bytes(debug.data), np.uint8), original), "nothing was drawn"


def test_diagnostics_report_rates_and_backend(driver):
    driver.diag.clear()
    assert driver.wait_for(lambda: len(driver.diag) >= 2)
    values = driver.diag[-1]
    for key in ("input_rate_hz", "output_rate_hz", "latency_p50_ms", "latency_p99_ms", "frames_dropped",
                "backend", "model"):
        assert key in values
    assert "torch" in values["backend"] and "random" in values["model"]
    assert float(values["input_rate_hz"]) > 0 and float(values["output_rate_hz"]) > 0
