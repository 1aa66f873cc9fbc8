"""Recorded bags for the offline tests, written with the ``rosbags`` library from rendered frames."""
import os

import numpy as np
import pytest

pytest.importorskip("rosbags")

#: Base of the header stamps of the test bags, ns (a real-looking epoch time).
STAMP0_NS = 1_700_000_000_000_000_000


@pytest.fixture(scope="session")
def rendered():
    """A short rendered single-hand sequence (120x160) with ground truth, or a skip
    when the hand meshes are not fetched."""
    from hand3d_ros.data.render.assets import assets_available

    if not assets_available():
        pytest.skip("hand meshes not fetched (make setup fetches them)")
    from hand3d_ros.data.render.scene import HandRenderer, RenderConfig
    from hand3d_ros.data.render.sequences import render_sequence

    return render_sequence(HandRenderer(RenderConfig(height=120, width=160, split="test")), seed=3, num_frames=6)


def frame_stamps(count, fps=30.0):
    return [STAMP0_NS + int(round(t * 1e9 / fps)) for t in range(count)]


def write_bag(path, frames, *, storage="mcap", compressed=False, camera_info=True, depth=False,
              image_topic="/camera/color/image_raw", encoding="rgb8", log_order=None, extra_topics=(),
              depth_values=None):
    """A rosbag2 folder at ``path`` holding ``frames["image"]`` (T, H, W, 3) on
    ``image_topic`` (raw ``encoding``, or JPEG on ``<topic>/compressed``), optionally
    camera_info (from ``frames["K"]``) and 32FC1 depth (``frames["depth"]``, 0 = none, or
    ``depth_values``). Header stamps are :func:`frame_stamps`; messages are logged in
    ``log_order`` (default: stamp order). ``extra_topics``: (topic, type) connections
    with no messages. Returns (folder, storage file, stamps)."""
    import cv2
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    T = store.types
    images = np.asarray(frames["image"])
    count, height, width = images.shape[:3]
    stamps = frame_stamps(count)
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3

    def header(ns, frame_id):
        return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9),
                                        frame_id=frame_id)

    with Writer(path, version=9, storage_plugin=plugin) as writer:
        if compressed:
            image_conn = writer.add_connection(f"{image_topic}/compressed", "sensor_msgs/msg/CompressedImage",
                                               typestore=store)
        else:
            image_conn = writer.add_connection(image_topic, "sensor_msgs/msg/Image", typestore=store)
        info_conn = writer.add_connection("/camera/color/camera_info", "sensor_msgs/msg/CameraInfo",
                                          typestore=store) if camera_info else None
        depth_conn = writer.add_connection("/camera/aligned_depth_to_color/image_raw", "sensor_msgs/msg/Image",
                                           typestore=store) if depth else None
        for topic, msgtype in extra_topics:
            writer.add_connection(topic, msgtype, typestore=store)
        for k, t in enumerate(range(count) if log_order is None else log_order):
            ns = stamps[t]
            ns_log = ns if log_order is None else STAMP0_NS + 1000 * k  # logged in the order written
            if compressed:
                ok, jpeg = cv2.imencode(".jpg", images[t][..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
                assert ok
                msg = T["sensor_msgs/msg/CompressedImage"](header=header(ns, "camera_color_optical_frame"),
                                                            format="jpeg", data=jpeg.reshape(-1))
            else:
                pixels = images[t] if encoding == "rgb8" else images[t][..., ::-1]
                msg = T["sensor_msgs/msg/Image"](header=header(ns, "camera_color_optical_frame"), height=height,
                                                 width=width, encoding=encoding, is_bigendian=0, step=3 * width,
                                                 data=np.ascontiguousarray(pixels).reshape(-1))
            writer.write(image_conn, ns_log, store.serialize_cdr(msg, image_conn.msgtype))
            if info_conn is not None:
                K = np.asarray(frames["K"][t], dtype=np.float64)
                info = T["sensor_msgs/msg/CameraInfo"](
                    header=header(ns, "camera_color_optical_frame"), height=height, width=width,
                    distortion_model="plumb_bob", d=np.zeros(5), k=K.reshape(-1), r=np.eye(3).reshape(-1),
                    p=np.hstack([K, np.zeros((3, 1))]).reshape(-1), binning_x=0, binning_y=0,
                    roi=T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                              do_rectify=False))
                writer.write(info_conn, ns_log, store.serialize_cdr(info, info_conn.msgtype))
            if depth_conn is not None:
                values = np.asarray(frames["depth"][t] if depth_values is None else depth_values, dtype="<f4")
                msg = T["sensor_msgs/msg/Image"](header=header(ns, "camera_color_optical_frame"), height=height,
                                                 width=width, encoding="32FC1", is_bigendian=0, step=4 * width,
                                                 data=np.frombuffer(values.tobytes(), np.uint8))
                writer.write(depth_conn, ns_log, store.serialize_cdr(msg, depth_conn.msgtype))
    files = [p for p in os.listdir(path) if p.endswith((".mcap", ".db3"))]
    return path, path / files[0], stamps


def read_bag(path):
    """topic -> [(log time ns, message)] of a bag, decoded with the type definitions stored
    in the bag only (as a reader without hand3d_msgs installed would)."""
    from rosbags.highlevel import AnyReader

    out = {}
    with AnyReader([path]) as reader:  # no default typestore: the bag must carry the definitions
        for connection, log_ns, raw in reader.messages():
            out.setdefault(connection.topic, []).append((log_ns, reader.deserialize(raw, connection.msgtype)))
    return out


@pytest.fixture
def bag_tools():
    return write_bag, read_bag, frame_stamps
