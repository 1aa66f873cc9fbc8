"""The node keeps up with a camera: fed image + camera_info at 30 Hz over real DDS, it
processes a steady share of the frames (issue 16: the node's multi-threaded executor
starved its worker thread; 4 of 30 frames per second were processed with camera_info).

The node runs in its own process through its console entry point (``peers/node.py``, so
the executor under test is the one ``ros2 run`` gets), with small random-weight networks.
The bound is generous (the machine may be a loaded 2-core box); the benchmark,
``tools/bench_node_latency.py``, measures the rate.
"""
import time

import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

hand3d_msgs = pytest.importorskip("hand3d_msgs.msg", reason="hand3d_msgs is not built")
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from hand3d_ros.ros.image_conversions import rgb_to_image_fields  # noqa: E402

pytestmark = pytest.mark.ros

NS, FRAME = "/throughput", "throughput_optical_frame"
#: A camera's rate, frames per second, and a frame small enough for best-effort delivery
#: of every frame (large samples are lossy over best-effort DDS; not what is tested here).
RATE_HZ, WIDTH, HEIGHT = 30.0, 320, 240
#: Stream before and during the measurement, seconds.
WARMUP_S, WINDOW_S = 4.0, 12.0
#: Least share of the published frames the node must process. Measured on the 2-core
#: machine under a load average of 6-9.5 (other jobs), five runs each: 215-358 of 360
#: frames (0.60-0.99) with the single-threaded executor; 124-255 (0.34-0.71) with the
#: multi-threaded one it replaced, which failed this bound in 2 of 5 runs.
MIN_PROCESSED_SHARE = 0.5
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
NODE_ARGS = ("-p", "allow_random_weights:=true", "-p", "max_hands:=1", "-p", "diagnostics_period_s:=0.5",
             "-r", f"__ns:={NS}", "-r", "__node:=hand3d")


def _frames(count):
    rng = np.random.default_rng(16)
    frames = []
    for _ in range(count):
        rgb = (rng.random((HEIGHT, WIDTH, 3)) * 255).astype(np.uint8)
        msg = Image(**rgb_to_image_fields(rgb))
        msg.header.frame_id = FRAME
        frames.append(msg)
    return frames


def test_node_processes_a_steady_share_of_a_30_hz_stream(ros_node, spin, node_process_factory):
    node = ros_node
    image_pub = node.create_publisher(Image, f"{NS}/image", qos_profile_sensor_data)
    info_pub = node.create_publisher(CameraInfo, f"{NS}/camera_info", qos_profile_sensor_data)
    diags, results = [], []

    def on_diag(msg):
        for status in msg.status:
            if status.name.startswith(f"{NS}/hand3d:"):
                diags.append({kv.key: kv.value for kv in status.values})

    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, RELIABLE)
    node.create_subscription(hand3d_msgs.HandPose3DArray, f"{NS}/hand_poses", results.append, RELIABLE)
    frames = _frames(8)
    info = CameraInfo(width=WIDTH, height=HEIGHT, k=[300.0, 0.0, (WIDTH - 1) / 2, 0.0, 300.0, (HEIGHT - 1) / 2,
                                                     0.0, 0.0, 1.0])
    info.header.frame_id = FRAME
    published = [0]

    def publish():
        stamp = node.get_clock().now().to_msg()
        image = frames[published[0] % len(frames)]
        image.header.stamp = info.header.stamp = stamp
        info_pub.publish(info)
        image_pub.publish(image)
        published[0] += 1

    def stream(seconds):
        """Publish at RATE_HZ for ``seconds`` while spinning; returns frames published."""
        before = published[0]
        start = next_time = time.monotonic()
        while time.monotonic() - start < seconds:
            publish()
            next_time += 1.0 / RATE_HZ
            spin(node, lambda: time.monotonic() >= next_time, timeout_s=max(0.0, next_time - time.monotonic()),
                 period_s=0.01)
        return published[0] - before

    with node_process_factory(*NODE_ARGS):
        assert spin(node, lambda: image_pub.get_subscription_count() > 0 and len(diags) > 0, timeout_s=60), \
            "the node did not start"
        assert spin(node, lambda: len(results) > 0, timeout_s=60, action=publish, period_s=1.0 / RATE_HZ), \
            "the node published no result"
        stream(WARMUP_S)
        diags.clear()
        assert spin(node, lambda: len(diags) > 0, timeout_s=5)
        first = diags[-1]
        sent = stream(WINDOW_S)
        diags.clear()
        assert spin(node, lambda: len(diags) > 0, timeout_s=5)
        last = diags[-1]

    def delta(key):
        return int(last[key]) - int(first[key])

    processed, received = delta("frames_processed"), delta("frames_received")
    summary = (f"{sent} frames published in {WINDOW_S:g} s, {received} received, {processed} processed, "
               f"{delta('frames_dropped')} dropped, {delta('camera_info_received')} camera_info received; "
               f"latency p50 {last['latency_p50_ms']} ms")
    print(summary)
    assert delta("camera_info_received") > 0, summary
    assert delta("frames_skipped_bad_input") == 0, summary
    assert processed >= MIN_PROCESSED_SHARE * sent, summary
