"""The node as a robot runs it: the shipped weights and default parameters (auto
handedness, tracking, smoothing), fed a held-out rendered sequence with its intrinsics and
aligned depth over real DDS. The published hand must line up with the image, sit where
the hand is in the camera frame (depth fusion on), and come with its TF frame and markers.
"""
import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy

hand3d_msgs = pytest.importorskip("hand3d_msgs.msg", reason="hand3d_msgs is not built")
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from hand3d_ros.inference.model_set import SHIPPED_WEIGHTS_DIR  # noqa: E402

pytestmark = pytest.mark.ros

NS, FRAME = "/shipped", "render_optical_frame"
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
NUM_FRAMES, SEED = 16, 31
#: Bounds for the median errors over the published hands (the README's evaluation is
#: the measurement; these only catch a broken chain).
MAX_MEDIAN_2D_PX, MAX_MEDIAN_3D_MM = 25.0, 70.0
#: Median distance, pixels, between the published 2D keypoints and the projection of the
#: published metric ones (both are smoothed, each by its own filter).
MAX_MEDIAN_OVERLAY_PX = 6.0
#: Share of the frames with a published hand. Measured 9 of 16 with session 7's weights:
#: their detection gate (0.57, fitted on real photos) drops rendered hands whose score
#: maps are diffuse (`make demo` publishes 57 % of its hand-frames); session 6's (gate
#: 0.55) published 12 or more. A broken chain publishes none.
MIN_PUBLISHED_SHARE = 0.5


@pytest.fixture(scope="module")
def sequence():
    from hand3d_ros.data.render.assets import resolve_asset_dir
    from hand3d_ros.data.render.scene import HandRenderer, RenderConfig
    from hand3d_ros.data.render.sequences import render_sequence

    renderer = HandRenderer(RenderConfig(split="test", with_depth=True), str(resolve_asset_dir(None)))
    return render_sequence(renderer, SEED, 0, NUM_FRAMES)


@pytest.fixture(scope="module")
def node_process(node_process_factory):
    with node_process_factory(
            "-p", f"weights_dir:={SHIPPED_WEIGHTS_DIR / 'lite'}", "-p", "backend:=torch",
            "-p", "use_depth:=true", "-p", "max_hands:=1",
            # every message every time: best-effort delivery of 300-400 kB messages is lossy
            # here, and in a full test run camera_info was once lost for a whole sequence
            "-p", f"qos_overrides.{NS}/image.subscription.reliability:=reliable",
            "-p", f"qos_overrides.{NS}/depth.subscription.reliability:=reliable",
            "-p", f"qos_overrides.{NS}/camera_info.subscription.reliability:=reliable",
            "-p", "diagnostics_period_s:=0.2",
            "-r", f"__ns:={NS}", "-r", "__node:=hand3d") as proc:
        yield proc


def _header(msg, t):
    msg.header.frame_id = FRAME
    msg.header.stamp.sec, msg.header.stamp.nanosec = 100 + t // 30, (t % 30) * 33_333_333
    return msg


@pytest.mark.timeout(150)  # it waits for hands that the regressed detector does not publish
def test_shipped_weights_through_the_node(ros_node, spin, node_process, sequence, set_parameters):
    assert node_process.poll() is None, node_process.stdout.read()
    image_pub = ros_node.create_publisher(Image, f"{NS}/image", RELIABLE)
    depth_pub = ros_node.create_publisher(Image, f"{NS}/depth", RELIABLE)
    info_pub = ros_node.create_publisher(CameraInfo, f"{NS}/camera_info", RELIABLE)
    poses, tf, markers = [], [], []
    ros_node.create_subscription(hand3d_msgs.HandPose3D, f"{NS}/hand_pose", poses.append, RELIABLE)
    ros_node.create_subscription(TFMessage, "/tf", tf.append, QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
    ros_node.create_subscription(MarkerArray, f"{NS}/hand3d/markers", markers.append, RELIABLE)
    node_stats = {}

    def on_diagnostics(msg):
        for status in msg.status:
            if status.name.startswith(f"{NS}/hand3d"):
                node_stats.update({kv.key: kv.value for kv in status.values})

    ros_node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, RELIABLE)
    stamps = {}

    def send_info_and_depth(t, k=None):  # camera_info and depth of frame t, stamped as the k-th frame
        k = t if k is None else k
        height, width = sequence["image"][t].shape[:2]
        depth_m = np.nan_to_num(sequence["depth"][t].astype(np.float32), nan=0.0)
        depth = _header(Image(height=height, width=width, encoding="32FC1", step=width * 4), k)
        depth.data = depth_m.tobytes()
        info = _header(CameraInfo(width=width, height=height), k)
        info.k = [float(v) for v in np.asarray(sequence["K"][t], dtype=np.float64).ravel()]
        info_pub.publish(info)
        depth_pub.publish(depth)

    def send(t, k=None):  # frame t of the sequence, stamped as the k-th frame sent (default t)
        k = t if k is None else k
        height, width = sequence["image"][t].shape[:2]
        image = _header(Image(height=height, width=width, encoding="rgb8", step=width * 3), k)
        image.data = np.ascontiguousarray(sequence["image"][t]).tobytes()
        send_info_and_depth(t, k)
        image_pub.publish(image)
        stamps[(image.header.stamp.sec, image.header.stamp.nanosec)] = t

    # wait until the node hears us, then play the sequence frame by frame
    def heard():
        return all(p.get_subscription_count() > 0 for p in (image_pub, depth_pub, info_pub)) and \
            all(ros_node.count_publishers(topic) > 0 for topic in (f"{NS}/hand_pose", "/tf", f"{NS}/hand3d/markers"))

    assert spin(ros_node, heard, timeout_s=60), \
        node_process.stdout.read() if node_process.poll() is not None else "node not up"
    # ... and until it has camera_info and depth (DDS matching can lag behind the
    # subscription counts: in a full test run a whole sequence once went by without
    # camera_info reaching the node)
    assert spin(ros_node, lambda: int(node_stats.get("camera_info_received", 0)) > 0
                and int(node_stats.get("depth_received", 0)) > 0, timeout_s=60,
                action=lambda: send_info_and_depth(0), period_s=0.2), f"node never got camera_info/depth: {node_stats}"
    for t in range(NUM_FRAMES):
        count = len(poses)
        send(t)
        spin(ros_node, lambda: len(poses) > count, timeout_s=10)  # one frame in flight at a time

    assert len(poses) >= MIN_PUBLISHED_SHARE * NUM_FRAMES, f"hands published for {len(poses)} of {NUM_FRAMES} frames"
    errors_2d, errors_3d, sources, overlay_px = [], [], [], []
    for pose in poses:
        t = stamps[(pose.header.stamp.sec, pose.header.stamp.nanosec)]
        assert pose.header.frame_id == FRAME
        visible = np.asarray(sequence["visible"][t], bool)
        uv = np.array([[k.u, k.v] for k in pose.keypoints_2d])
        errors_2d.append(np.linalg.norm(uv - sequence["uv"][t], axis=1)[visible])
        xyz = np.array([[p.x, p.y, p.z] for p in pose.keypoints_3d])
        if pose.scale_source in (pose.SCALE_HAND_SIZE_PRIOR, pose.SCALE_DEPTH):
            errors_3d.append(np.linalg.norm(xyz - sequence["xyz"][t], axis=1)[visible] * 1000.0)
            assert np.all(xyz[:, 2] > 0)
            # overlay check (what RViz shows over the image): the metric keypoints, projected
            # with the camera's K, fall on the published 2D keypoints
            K = np.asarray(sequence["K"][t], dtype=np.float64)
            projected = (xyz / xyz[:, 2:]) @ K.T
            overlay_px.append(np.linalg.norm(projected[:, :2] - uv, axis=1))
            wrist = pose.hand_pose.position
            np.testing.assert_allclose([wrist.x, wrist.y, wrist.z], xyz[0], atol=1e-6)
        sources.append(pose.scale_source)
    assert errors_3d, f"no metric pose (scale sources {sorted(set(sources))}): camera_info never used"
    median_2d = float(np.median(np.concatenate(errors_2d)))
    median_3d = float(np.median(np.concatenate(errors_3d)))
    assert median_2d < MAX_MEDIAN_2D_PX, f"2D median {median_2d:.1f} px"
    assert median_3d < MAX_MEDIAN_3D_MM, f"3D median {median_3d:.1f} mm"
    median_overlay = float(np.median(np.concatenate(overlay_px)))
    assert median_overlay < MAX_MEDIAN_OVERLAY_PX, f"metric keypoints project {median_overlay:.1f} px off the 2D ones"
    assert hand3d_msgs.HandPose3D.SCALE_DEPTH in sources, "depth was never used for the scale"

    hand_frames = [t for msg in tf for t in msg.transforms if t.child_frame_id.startswith("hand_")]
    assert hand_frames and all(t.header.frame_id == FRAME for t in hand_frames)
    assert {(t.header.stamp.sec, t.header.stamp.nanosec) for t in hand_frames} <= set(stamps)
    added = [m for msg in markers for m in msg.markers if m.action == Marker.ADD]
    assert {m.ns for m in added} >= {"bones", "joints", "label"}

    # the hand disappears (nothing passes the detection threshold): its markers are deleted
    results = set_parameters(ros_node, f"{NS}/hand3d", detection_threshold=0.99, tracking=False)
    assert all(r.successful for r in results), [r.reason for r in results]
    live = {(m.ns, m.id) for m in added}
    frames = iter(range(NUM_FRAMES, 10 * NUM_FRAMES))

    def deleted():
        return {(m.ns, m.id) for msg in markers for m in msg.markers if m.action == Marker.DELETE} & live

    assert spin(ros_node, lambda: {ns for ns, _ in deleted()} == {"bones", "joints", "label"}, timeout_s=60,
                action=lambda: (lambda k: send(k % NUM_FRAMES, k))(next(frames)), period_s=0.3), "no DELETE markers"
