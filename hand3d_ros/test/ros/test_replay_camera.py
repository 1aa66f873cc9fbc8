"""The replay camera over real DDS: a peer process replays NPZ sequences and PNG folders.

The peer runs the console script's main (peers/replay_camera.py); the test node receives
image, camera_info and depth and checks contents, stamps, frame ids and intrinsics.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy

from hand3d_ros.core.camera_model import CameraModel, calibration_to_yaml
from hand3d_ros.data.sources import ArraySource

sensor_msgs = pytest.importorskip("sensor_msgs.msg", reason="sensor_msgs is not available")
cv2 = pytest.importorskip("cv2")

pytestmark = pytest.mark.ros

HEIGHT, WIDTH = 24, 32
QOS = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
PEER_TIMEOUT_S = 20.0
PEER = Path(__file__).parent / "peers" / "replay_camera.py"
QUIET_S = 1.0  # how long to listen for frames that must not come, seconds


def _frames(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, HEIGHT, WIDTH, 3), dtype=np.uint8)


class Listener:
    """Collects image, camera_info and depth under one namespace."""

    def __init__(self, node, ns):
        self.images, self.infos, self.depths = [], [], []
        node.create_subscription(sensor_msgs.Image, f"{ns}/image", self.images.append, QOS)
        node.create_subscription(sensor_msgs.CameraInfo, f"{ns}/camera_info", self.infos.append, QOS)
        node.create_subscription(sensor_msgs.Image, f"{ns}/depth", self.depths.append, QOS)

    def rgb(self, i):
        msg = self.images[i]
        assert (msg.encoding, msg.height, msg.width, msg.step) == ("rgb8", HEIGHT, WIDTH, 3 * WIDTH)
        return np.frombuffer(bytes(msg.data), np.uint8).reshape(HEIGHT, WIDTH, 3)


def _check_pairs(listener, frame_id, K):
    assert len(listener.infos) == len(listener.images)
    stamps = []
    for image, info in zip(listener.images, listener.infos):
        assert image.header.stamp == info.header.stamp
        assert image.header.frame_id == info.header.frame_id == frame_id
        assert (info.width, info.height) == (WIDTH, HEIGHT)
        np.testing.assert_allclose(np.reshape(info.k, (3, 3)), K, rtol=0, atol=1e-9)
        np.testing.assert_allclose(np.reshape(info.p, (3, 4))[:, :3], K, rtol=0, atol=1e-9)
        stamps.append(image.header.stamp.sec * 10**9 + image.header.stamp.nanosec)
    assert all(b > a for a, b in zip(stamps, stamps[1:])), "stamps must strictly increase"


def _wait_exit(peer):
    try:
        rc = peer.wait(timeout=PEER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail("the replay camera did not exit after the source ended (shutdown_when_done)")
    return rc


def test_npz_sequence_with_depth_then_shutdown(ros_node, start_peer, spin, tmp_path):
    frames = _frames(3)
    K = np.array([[41.5, 0.0, 15.25], [0.0, 42.5, 11.75], [0.0, 0.0, 1.0]])
    depth = np.random.default_rng(1).uniform(0.2, 2.0, (3, HEIGHT, WIDTH)).astype(np.float32)
    depth[0, 0, 0] = np.nan  # no data stays NaN
    path = tmp_path / "seq.npz"
    np.savez(path, image=frames, K=K, depth=depth, stamps=np.arange(3) / 30.0, uv=np.zeros((3, 21, 2)))
    listener = Listener(ros_node, "/npz")
    before = ros_node.get_clock().now().nanoseconds
    peer = start_peer("replay_camera.py", "--ros-args", "-r", "__ns:=/npz", "-p", f"source:={path}",
                      "-p", "fps:=20.0", "-p", "publish_depth:=true", "-p", "frame_id:=test_optical",
                      "-p", "wait_for_subscribers:=1", "-p", "shutdown_when_done:=true", "-p", "shutdown_delay_s:=0.5")
    ok = spin(ros_node, lambda: len(listener.images) == len(listener.infos) == len(listener.depths) == 3,
              timeout_s=PEER_TIMEOUT_S)
    assert ok, f"got {len(listener.images)} images, {len(listener.infos)} infos, {len(listener.depths)} depths"
    assert _wait_exit(peer) == 0, peer.stdout.read()
    spin(ros_node, lambda: False, timeout_s=0.2)
    assert len(listener.images) == 3, "frames after the end of the source"

    _check_pairs(listener, "test_optical", K)
    for i in range(3):
        np.testing.assert_array_equal(listener.rgb(i), frames[i])
        d = listener.depths[i]
        assert d.header == listener.images[i].header
        assert (d.encoding, d.step, d.is_bigendian) == ("32FC1", 4 * WIDTH, 0)
        np.testing.assert_array_equal(np.frombuffer(bytes(d.data), "<f4").reshape(HEIGHT, WIDTH), depth[i])
    first = listener.images[0].header.stamp
    assert before <= first.sec * 10**9 + first.nanosec  # stamped when published, on the node clock
    out = peer.stdout.read()
    assert "stopped publishing after 3 frames" in out and "the sequence's K" in out


def test_png_folder_with_calibration_stops_at_end(ros_node, start_peer, spin, tmp_path):
    frames = _frames(2, seed=2)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, rgb in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:04d}.png"), np.ascontiguousarray(rgb[..., ::-1]))
    # Calibrated at twice the resolution: the node scales it to the images.
    calibration = CameraModel.from_K([[80.0, 0, 31.5], [0, 82.0, 23.5], [0, 0, 1]], 2 * WIDTH, 2 * HEIGHT,
                                     camera_name="test_cam")
    (tmp_path / "cam.yaml").write_text(calibration_to_yaml(calibration))
    listener = Listener(ros_node, "/png")
    peer = start_peer("replay_camera.py", "--ros-args", "-r", "__ns:=/png", "-p", f"source:={folder}",
                      "-p", "fps:=25.0", "-p", f"camera_info_url:=file://{tmp_path}/cam.yaml",
                      "-p", "wait_for_subscribers:=1")
    assert spin(ros_node, lambda: len(listener.images) == len(listener.infos) == 2, timeout_s=PEER_TIMEOUT_S)
    spin(ros_node, lambda: False, timeout_s=QUIET_S)
    assert len(listener.images) == 2 and len(listener.depths) == 0
    assert peer.poll() is None, "without shutdown_when_done the node keeps running"
    _check_pairs(listener, "camera_color_optical_frame", calibration.scaled(WIDTH, HEIGHT).K)
    np.testing.assert_allclose(listener.infos[0].k[0], 40.0)
    for i in range(2):
        np.testing.assert_array_equal(listener.rgb(i), frames[i])


def test_loop_with_max_frames_and_fov_guess(ros_node, start_peer, spin, tmp_path):
    frames = _frames(2, seed=3)
    for i, rgb in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.ascontiguousarray(rgb[..., ::-1]))
    listener = Listener(ros_node, "/loop")
    peer = start_peer("replay_camera.py", "--ros-args", "-r", "__ns:=/loop", "-p", f"source:={tmp_path}",
                      "-p", "fps:=30", "-p", "loop:=true", "-p", "max_frames:=5", "-p", "hfov_deg:=90.0",
                      "-p", "wait_for_subscribers:=1", "-p", "shutdown_when_done:=true", "-p", "shutdown_delay_s:=0.3")
    assert spin(ros_node, lambda: len(listener.images) == len(listener.infos) == 5, timeout_s=PEER_TIMEOUT_S)
    assert _wait_exit(peer) == 0
    spin(ros_node, lambda: False, timeout_s=0.2)
    assert len(listener.images) == 5
    _check_pairs(listener, "camera_color_optical_frame", CameraModel.from_fov(WIDTH, HEIGHT, 90.0).K)
    assert listener.infos[0].k[0] == pytest.approx(WIDTH / 2)
    for i in range(5):
        np.testing.assert_array_equal(listener.rgb(i), frames[i % 2])


@pytest.mark.parametrize("case", ["missing_source", "empty_source", "bad_calibration", "out_of_range"])
def test_bad_start_up_exits_1_with_one_line(case, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "0.png"), np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("image_width: 32\nimage_height: 24\ncamera_matrix: {rows: 3, cols: 3, data: [1, 2]}\n")
    args, expected = {
        "missing_source": (["-p", f"source:={tmp_path}/missing.mp4"], f"no such file or folder: {tmp_path}/missing.mp4"),
        "empty_source": ([], "parameter 'source' is empty"),
        "bad_calibration": (["-p", f"source:={folder}", "-p", f"camera_info_url:={bad_yaml}"],
                            "camera_matrix has rows=3 cols=3 but 2 values"),
        "out_of_range": (["-p", f"source:={folder}", "-p", "hfov_deg:=200.0"], "hfov_deg"),
    }[case]
    result = subprocess.run([sys.executable, str(PEER), "--ros-args", *args],
                            capture_output=True, text=True, timeout=PEER_TIMEOUT_S)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("replay_camera: ") and expected in lines[0], result.stderr


def test_in_process_step_and_publish_frame(ros_node, spin):
    """The node as a library: one process, the caller paces it (as the demo does)."""
    from rclpy.parameter import Parameter

    from hand3d_ros.ros.replay_camera import ReplayCamera

    frames = _frames(2, seed=4)
    K = np.array([[30.0, 0, 15.5], [0, 30.0, 11.5], [0, 0, 1]])
    depth = np.full((2, HEIGHT, WIDTH), 0.75, np.float32)
    camera = ReplayCamera(
        context=ros_node.context, source=ArraySource(frames, K=K, depth=depth), use_timer=False,
        parameter_overrides=[Parameter("publish_depth", value=True), Parameter("wait_for_subscribers", value=1),
                             Parameter("frame_id", value="in_process")],
        namespace="/inproc",
    )
    try:
        listener = Listener(ros_node, "/inproc")
        assert spin(ros_node, lambda: len(listener.images) == len(listener.infos) == len(listener.depths) == 2,
                    timeout_s=PEER_TIMEOUT_S,
                    action=camera.step, period_s=0.05)
        assert camera.step() is False and camera.finished and camera.done.is_set()
        _check_pairs(listener, "in_process", K)
        np.testing.assert_array_equal(listener.rgb(1), frames[1])

        # Any image, any time: publish_frame (no K given and no calibration: the hfov guess).
        stamp = camera.publish_frame(frames[0][::-1].copy())
        assert spin(ros_node, lambda: len(listener.images) == len(listener.infos) == 3, timeout_s=5.0)
        assert listener.images[2].header.stamp == listener.infos[2].header.stamp == stamp
        np.testing.assert_allclose(np.reshape(listener.infos[2].k, (3, 3)), CameraModel.from_fov(WIDTH, HEIGHT, 60.0).K)
        np.testing.assert_array_equal(listener.rgb(2), frames[0][::-1])
        with pytest.raises(ValueError, match=r"rgb must be \(H, W, 3\) uint8"):
            camera.publish_frame(frames[0].astype(np.float32))
    finally:
        camera.destroy_node()


def test_stamps_never_repeat_when_the_clock_stands_still(ros_node):
    """With use_sim_time and no /clock, now() is 0: stamps still strictly increase."""
    from rclpy.parameter import Parameter

    from hand3d_ros.ros.replay_camera import ReplayCamera

    camera = ReplayCamera(context=ros_node.context, parameter_overrides=[Parameter("use_sim_time", value=True)])
    try:
        stamps = [camera.publish_frame(_frames(1)[0]) for _ in range(3)]
        assert [(s.sec, s.nanosec) for s in stamps] == [(0, 0), (0, 1), (0, 2)]
        assert camera.published == 3 and camera.step() is False  # no source: manual only
        # Run-time parameters are validated; start-up ones are read-only.
        assert camera.set_parameters([Parameter("fps", value=12.5)])[0].successful and camera.rate == 12.5
        assert camera.set_parameters([Parameter("frame_id", value="other")])[0].successful
        assert camera.publish_frame(_frames(1)[0]) and camera.p["frame_id"] == "other"
        assert not camera.set_parameters([Parameter("fps", value=-1.0)])[0].successful
        assert not camera.set_parameters([Parameter("source", value="/tmp")])[0].successful
        assert camera.rate == 12.5
    finally:
        camera.destroy_node()
