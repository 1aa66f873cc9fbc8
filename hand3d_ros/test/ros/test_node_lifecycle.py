"""Start-up failures and Ctrl-C, as a user meets them: the node process run as
``ros2 run`` does, stopped as a terminal (or ``ros2 launch``) stops it."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

hand3d_msgs = pytest.importorskip("hand3d_msgs.msg", reason="hand3d_msgs is not built")
from sensor_msgs.msg import Image  # noqa: E402

from hand3d_ros.ros.image_conversions import rgb_to_image_fields  # noqa: E402

pytestmark = pytest.mark.ros

PEERS = Path(__file__).parent / "peers"
RANDOM_WEIGHTS = ("-p", "allow_random_weights:=true", "-p", "backend:=torch", "-p", "detection_threshold:=0.01",
                  "-p", "min_hand_score:=0.0", "-p", "max_hands:=1")
TIMEOUT_S = 60.0


def _run(script, *ros_args):
    return subprocess.run([sys.executable, str(PEERS / script), "--ros-args", *ros_args],
                          capture_output=True, text=True, timeout=TIMEOUT_S)


@pytest.mark.parametrize("args, expected", [
    (("-p", "weights_dir:=/nonexistent/weights"), "no handsegnet.pt in /nonexistent/weights"),
    (("-p", "backend:=foo"), "backend must be one of auto, torch, onnxruntime, tensorrt, got 'foo'"),
    (("-p", "crop_scale_min:=6.0", "-p", "crop_scale_max:=2.0"), "crop_scale_min must not exceed crop_scale_max"),
])
def test_node_that_cannot_start_exits_1_with_one_line(args, expected):
    result = _run("node.py", *args)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hand3d_node: ") and expected in lines[0], result.stderr


def _start_in_own_group(script, *ros_args):
    """As a shell starts a command: its own process group, which Ctrl-C signals as a whole."""
    return subprocess.Popen([sys.executable, str(PEERS / script), "--ros-args", *ros_args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _ctrl_c(proc, repeat_after_s=None):
    """SIGINT to the process group (a terminal's Ctrl-C); again after ``repeat_after_s``
    (``ros2 launch`` forwards its own SIGINT to the node after the terminal's)."""
    os.killpg(proc.pid, signal.SIGINT)
    if repeat_after_s is not None:
        time.sleep(repeat_after_s)
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:  # already gone
            pass
    try:
        code = proc.wait(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = None
    return code, proc.stdout.read()


@pytest.mark.parametrize("repeat_after_s", [None, 0.0, 0.05, 0.3])
def test_ctrl_c_while_processing_exits_0_without_traceback(ros_node, spin, repeat_after_s):
    """Ctrl-C (once, or twice at different moments) while frames are being processed:
    exit status 0 and no traceback, every time."""
    ns = f"/ctrlc{int((repeat_after_s or 0) * 1000)}{'' if repeat_after_s is None else 'x2'}"
    proc = _start_in_own_group("node.py", *RANDOM_WEIGHTS, "-r", f"__ns:={ns}")
    try:
        image_pub = ros_node.create_publisher(Image, f"{ns}/image", qos_profile_sensor_data)
        poses = []
        ros_node.create_subscription(hand3d_msgs.HandPose3DArray, f"{ns}/hand_poses", poses.append,
                                     QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
        rgb = (np.random.default_rng(1).random((120, 160, 3)) * 255).astype(np.uint8)

        def send():
            msg = Image(**rgb_to_image_fields(rgb))
            msg.header.stamp = ros_node.get_clock().now().to_msg()
            image_pub.publish(msg)

        assert spin(ros_node, lambda: len(poses) >= 3, timeout_s=TIMEOUT_S, action=send, period_s=0.02), (
            "the node did not answer")
        spin(ros_node, lambda: False, timeout_s=0.3, action=send, period_s=0.01)  # busy: frames in flight
    finally:
        code, output = _ctrl_c(proc, repeat_after_s)
    assert code == 0, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output


def test_recorder_ctrl_c_twice_exits_0_and_writes_its_summary(tmp_path):
    proc = _start_in_own_group("recorder.py", "-p", f"output_dir:={tmp_path}", "-p", "summary_period_s:=0.0")
    deadline = time.monotonic() + TIMEOUT_S
    while not (tmp_path / "poses.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    code, output = _ctrl_c(proc, repeat_after_s=0.0)
    assert code == 0 and "Traceback" not in output, output
    assert (tmp_path / "summary.json").exists()
