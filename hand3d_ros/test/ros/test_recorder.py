"""The recorder: generic message -> dict, and a recorder process fed over real DDS."""
import json
import math
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, ReliabilityPolicy

hand3d_msgs = pytest.importorskip("hand3d_msgs.msg", reason="hand3d_msgs is not built")
tf2_msgs = pytest.importorskip("tf2_msgs.msg", reason="tf2_msgs is not available")

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from geometry_msgs.msg import TransformStamped  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from hand3d_ros.ros.image_conversions import rgb_to_image_fields  # noqa: E402
from hand3d_ros.ros.recorder import Recorder, json_safe, message_to_dict  # noqa: E402

pytestmark = pytest.mark.ros

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=QoSDurabilityPolicy.VOLATILE)
TIMEOUT_S = 20.0


def _assert_every_field(d, msg, path="msg"):
    """``d`` has exactly the fields of ``msg`` at every level, with equal values."""
    fields = list(msg.get_fields_and_field_types())
    assert list(d) == fields, f"{path}: {list(d)} != {fields}"
    for name in fields:
        value, got = getattr(msg, name), d[name]
        if hasattr(value, "get_fields_and_field_types"):
            _assert_every_field(got, value, f"{path}.{name}")
        elif isinstance(value, (list, tuple)) and value and hasattr(value[0], "get_fields_and_field_types"):
            assert len(got) == len(value), f"{path}.{name}"
            for i, (g, v) in enumerate(zip(got, value)):
                _assert_every_field(g, v, f"{path}.{name}[{i}]")
        elif isinstance(value, str):
            assert got == value
        else:
            assert isinstance(got, (bool, int, float, list)), f"{path}.{name} is {type(got).__name__}"
            np.testing.assert_array_equal(np.asarray(got, dtype=float), np.asarray(value, dtype=float), err_msg=f"{path}.{name}")


def _hand_poses(rng, random_fill, stamp):
    msg = random_fill(hand3d_msgs.HandPose3DArray(), rng)
    msg.header.stamp = stamp
    msg.hands[0].keypoints_3d[4].z = float("nan")  # e.g. no metric scale: written as null
    return msg


def test_message_to_dict_walks_every_field(msg_tools):
    random_fill, _ = msg_tools
    msg = random_fill(hand3d_msgs.HandPose3DArray(), np.random.default_rng(5))
    d = message_to_dict(msg)
    _assert_every_field(d, msg)
    hand = d["hands"][0]
    assert len(hand["keypoints_2d"]) == 21 and set(hand["keypoints_2d"][0]) == {"u", "v", "score"}
    assert isinstance(hand["crop_box"], list) and len(hand["crop_box"]) == 4
    assert set(d["header"]["stamp"]) == {"sec", "nanosec"}
    json.dumps(d)  # plain Python only

    image = Image(**rgb_to_image_fields(np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)))
    assert message_to_dict(image)["data"] == list(range(18))
    info = random_fill(CameraInfo(), np.random.default_rng(6))
    _assert_every_field(message_to_dict(info), info)


def test_json_safe():
    assert json_safe({"a": [1.0, float("nan"), {"b": float("-inf")}], "c": "x", "d": 3}) == {
        "a": [1.0, None, {"b": None}], "c": "x", "d": 3}


def _publish_until_matched(node, spin, pubs):
    assert spin(node, lambda: all(p.get_subscription_count() > 0 for p in pubs), timeout_s=TIMEOUT_S), (
        "the recorder did not subscribe to: " + ", ".join(p.topic_name for p in pubs if p.get_subscription_count() == 0))


def _read_json(path):
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def test_recorder_process_writes_every_field_and_counts(ros_node, start_peer, spin, msg_tools, tmp_path):
    random_fill, _ = msg_tools
    rng = np.random.default_rng(7)
    out = tmp_path / "rec"
    peer = start_peer("recorder.py", "--ros-args", "-p", f"output_dir:={out}", "-p", "record_debug_image:=true",
                      "-p", "debug_image_dir:=frames", "-p", "summary_period_s:=0.2", "-p", "keep_debug_images:=1")
    node = ros_node
    pubs = {
        "poses": node.create_publisher(hand3d_msgs.HandPose3DArray, "/hand_poses", RELIABLE),
        "pose": node.create_publisher(hand3d_msgs.HandPose3D, "/hand_pose", RELIABLE),
        "tf": node.create_publisher(tf2_msgs.TFMessage, "/tf", TF_QOS),
        "markers": node.create_publisher(MarkerArray, "/hand3d/markers", RELIABLE),
        "debug": node.create_publisher(Image, "/hand3d/debug_image", RELIABLE),
        "diag": node.create_publisher(DiagnosticArray, "/diagnostics", RELIABLE),
    }
    _publish_until_matched(node, spin, pubs.values())

    now = lambda: node.get_clock().now().to_msg()  # noqa: E731
    sent_poses = [_hand_poses(rng, random_fill, now()) for _ in range(3)]
    sent_poses.append(hand3d_msgs.HandPose3DArray())  # a frame without hands, stamp 0: not timed
    sent_poses[-1].header.frame_id = "camera_color_optical_frame"
    for msg in sent_poses:
        pubs["poses"].publish(msg)
    for _ in range(2):
        pose = random_fill(hand3d_msgs.HandPose3D(), rng)
        pose.header.stamp = now()
        pubs["pose"].publish(pose)
        transform = random_fill(TransformStamped(), rng)
        transform.header.stamp = now()
        pubs["tf"].publish(tf2_msgs.TFMessage(transforms=[transform]))
        marker = Marker(ns="hand", id=1)
        marker.header.stamp = now()
        pubs["markers"].publish(MarkerArray(markers=[marker]))
    diag = DiagnosticArray(status=[DiagnosticStatus(name="test")])
    diag.header.stamp = now()
    pubs["diag"].publish(diag)
    # The debug image is best-effort (as the node publishes it): a sample sent before the
    # recorder's reader has matched this writer is lost for good, although this side
    # already counts the subscription (matching is not symmetric; on a fast machine both
    # first images were lost 3 times in 4). So send images until the recorder has two,
    # as a camera would keep sending; every image differs (rgb + k) to tell them apart.
    rgb = rng.integers(0, 100, (6, 8, 3), dtype=np.uint8)
    sent_debug = []

    def send_debug():
        image = Image(**rgb_to_image_fields(rgb + len(sent_debug)))
        image.header.stamp = now()
        pubs["debug"].publish(image)
        sent_debug.append(rgb + len(sent_debug))

    def debug_count():
        summary = _read_json(out / "summary.json")
        return summary["counts"]["/hand3d/debug_image"] if summary else 0

    assert spin(node, lambda: debug_count() >= 2, timeout_s=TIMEOUT_S, action=send_debug, period_s=0.1), (
        _read_json(out / "summary.json"))
    assert len(sent_debug) < 100

    expected = {"/hand_poses": 4, "/hand_pose": 2, "/tf": 2, "/hand3d/markers": 2, "/diagnostics": 1}

    def all_counted():
        summary = _read_json(out / "summary.json")
        return summary is not None and {k: summary["counts"][k] for k in expected} == expected

    assert spin(node, all_counted, timeout_s=TIMEOUT_S), _read_json(out / "summary.json")
    peer.send_signal(signal.SIGTERM)
    assert peer.wait(timeout=TIMEOUT_S) == 0, peer.stdout.read()
    assert "wrote" in peer.stdout.read()

    lines = (out / "poses.jsonl").read_text().splitlines()
    assert len(lines) == 4
    for line, sent in zip(lines, sent_poses):
        record = json.loads(line)
        assert record["stamp"] == sent.header.stamp.sec + sent.header.stamp.nanosec * 1e-9
        assert record["frame_id"] == sent.header.frame_id
        assert record["header"] == message_to_dict(sent)["header"]
        assert record["hands"] == json_safe(message_to_dict(sent)["hands"])
        for hand_record, hand in zip(record["hands"], sent.hands):
            assert set(hand_record) == set(hand.get_fields_and_field_types())
    assert json.loads(lines[0])["hands"][0]["keypoints_3d"][4]["z"] is None  # NaN -> null
    assert json.loads(lines[3])["hands"] == [] and json.loads(lines[3])["latency_ms"] is None

    summary = _read_json(out / "summary.json")
    debug_received = summary["counts"].pop("/hand3d/debug_image")
    assert summary["counts"] == expected and 2 <= debug_received <= len(sent_debug)
    assert summary["frames_with_hands"] == 3 and summary["hands"] == sum(len(m.hands) for m in sent_poses)
    latency = summary["latency_ms"]["/hand_poses"]
    assert latency["n"] == 3 and 0.0 <= latency["p50"] <= latency["p99"] < 10_000.0
    assert summary["latency_ms"]["/tf"]["n"] == 2 and summary["types"]["/tf"] == "tf2_msgs/msg/TFMessage"
    frames = sorted((out / "frames").glob("*.png"))
    assert [f.name for f in frames] == [f"{i:06d}.png" for i in range(debug_received)]
    assert summary["debug_images_written"] == debug_received
    cv2 = pytest.importorskip("cv2")
    written = [cv2.imread(str(f))[..., ::-1] for f in frames]
    order = [next(k for k, sent in enumerate(sent_debug) if np.array_equal(image, sent)) for image in written]
    assert order == sorted(set(order)), "each PNG is one sent image, in the order sent"


def test_summary_in_process(ros_node, spin, tmp_path):
    """summary() and latest_debug_images() on a recorder node in this process."""
    from rclpy.parameter import Parameter

    recorder = Recorder(context=ros_node.context, parameter_overrides=[
        Parameter("output_dir", value=str(tmp_path / "in")), Parameter("record_debug_image", value=True),
        Parameter("keep_debug_images", value=2), Parameter("summary_period_s", value=0.0)])
    try:
        pub = ros_node.create_publisher(Image, "/hand3d/debug_image", RELIABLE)
        assert spin(recorder, lambda: pub.get_subscription_count() > 0, timeout_s=TIMEOUT_S)
        sent = []

        def send():  # best-effort: send until three arrived (see the process test)
            msg = Image(**rgb_to_image_fields(np.full((4, 5, 3), len(sent), np.uint8)))
            msg.header.stamp = ros_node.get_clock().now().to_msg()
            pub.publish(msg)
            sent.append(msg)

        count = lambda: recorder.summary()["counts"]["/hand3d/debug_image"]  # noqa: E731
        assert spin(recorder, lambda: count() >= 3, timeout_s=TIMEOUT_S, action=send, period_s=0.05)
        received = count()
        latest = recorder.latest_debug_images()
        values = [int(rgb[0, 0, 0]) for _, rgb in latest]
        assert len(latest) == 2 and values[0] < values[1] < len(sent)  # the newest two, oldest first
        summary = recorder.summary()
        assert summary["counts"]["/hand_poses"] == 0 and summary["latency_ms"]["/hand_poses"]["p50"] is None
        assert summary["latency_ms"]["/hand3d/debug_image"]["n"] == received and summary["rate_hz"]["/hand3d/debug_image"] > 0
        assert not (tmp_path / "in" / "summary.json").exists()  # summary_period_s=0: only at close
    finally:
        recorder.destroy_node()
    written = json.loads((tmp_path / "in" / "summary.json").read_text())
    assert written["counts"]["/hand3d/debug_image"] == received and not math.isnan(written["duration_s"])
    assert (tmp_path / "in" / "poses.jsonl").read_text() == ""


def test_unusable_output_dir_exits_1_with_one_line(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    peer = Path(__file__).parent / "peers" / "recorder.py"
    result = subprocess.run([sys.executable, str(peer), "--ros-args", "-p", f"output_dir:={blocker}/rec"],
                            capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hand3d_recorder: ") and str(blocker) in lines[0], result.stderr
