"""Write camera frames as a rosbag2 recording (what a lab records: images, camera_info, depth).

For trying ``hand3d infer BAG`` without a recording (``tools/make_demo_bag.py`` renders a
sequence into one) and for the tests, which build their input bags with it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from hand3d_ros.offline.bags import CAMERA_INFO_TYPE, COMPRESSED_TYPE, IMAGE_TYPE, make_message

#: Base of the header stamps written by :func:`write_camera_bag`, ns (2023-11-14).
STAMP0_NS = 1_700_000_000_000_000_000
COLOR_TOPIC = "/camera/color/image_raw"
CAMERA_INFO_TOPIC = "/camera/color/camera_info"
DEPTH_TOPIC = "/camera/aligned_depth_to_color/image_raw"
OPTICAL_FRAME = "camera_color_optical_frame"


def frame_stamps(count: int, fps: float = 30.0) -> list:
    """Header stamps (ns) of ``count`` frames at ``fps`` from :data:`STAMP0_NS`."""
    return [STAMP0_NS + int(round(t * 1e9 / fps)) for t in range(count)]


def write_camera_bag(path, frames: dict, *, storage: str = "mcap", compressed: bool = False,
                     camera_info: bool = True, depth: bool = False, image_topic: str = COLOR_TOPIC,
                     encoding: str = "rgb8", fps: float = 30.0, log_order: Optional[Sequence[int]] = None,
                     extra_topics: Sequence = (), depth_values: Optional[np.ndarray] = None, jpeg_quality: int = 95):
    """A rosbag2 folder at ``path`` (must not exist) with the frames of a rendered sequence.

    Args:
        frames: ``image`` (T, H, W, 3) uint8 RGB; ``K`` (T, 3, 3) for camera_info;
            ``depth`` (T, H, W) metres, 0 = none, for depth.
        storage: "mcap" or "sqlite3".
        compressed: JPEG on ``<image_topic>/compressed`` instead of raw ``encoding``
            ("rgb8", "bgr8", or any other name, written as bgr8 bytes: an unsupported
            encoding for the tests).
        camera_info / depth: also write them (depth as 32FC1 on :data:`DEPTH_TOPIC`;
            ``depth_values`` (H, W) replaces every frame's depth).
        log_order: frame indices in the order written (log time = write order); default
            stamp order with log time = stamp.
        extra_topics: (topic, type) connections without messages.

    Returns:
        (folder, storage file, header stamps in ns).
    """
    import cv2
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    path = Path(path)
    store = get_typestore(Stores.ROS2_HUMBLE)
    images = np.asarray(frames["image"])
    count, height, width = images.shape[:3]
    stamps = frame_stamps(count, fps)

    def message(type_name, **fields):
        return make_message(store, type_name, fields)

    def header(ns):
        return message("std_msgs/msg/Header", frame_id=OPTICAL_FRAME,
                       stamp=message("builtin_interfaces/msg/Time", sec=ns // 10**9, nanosec=ns % 10**9))

    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=Writer.VERSION_LATEST, storage_plugin=plugin) as writer:
        image_conn = writer.add_connection(f"{image_topic}/compressed" if compressed else image_topic,
                                           COMPRESSED_TYPE if compressed else IMAGE_TYPE, typestore=store)
        info_conn = writer.add_connection(CAMERA_INFO_TOPIC, CAMERA_INFO_TYPE, typestore=store) if camera_info else None
        depth_conn = writer.add_connection(DEPTH_TOPIC, IMAGE_TYPE, typestore=store) if depth else None
        for topic, msgtype in extra_topics:
            writer.add_connection(topic, msgtype, typestore=store)

        def write(connection, msg, log_ns):
            writer.write(connection, log_ns, store.serialize_cdr(msg, connection.msgtype))

        for k, t in enumerate(range(count) if log_order is None else log_order):
            ns = stamps[t]
            log_ns = ns if log_order is None else STAMP0_NS + 1000 * k
            if compressed:
                ok, jpeg = cv2.imencode(".jpg", images[t][..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
                assert ok, "JPEG encoding failed"
                write(image_conn, message(COMPRESSED_TYPE, header=header(ns), format="jpeg", data=jpeg.reshape(-1)),
                      log_ns)
            else:
                pixels = images[t] if encoding == "rgb8" else images[t][..., ::-1]
                write(image_conn, message(IMAGE_TYPE, header=header(ns), height=height, width=width,
                                          encoding=encoding, step=3 * width,
                                          data=np.ascontiguousarray(pixels).reshape(-1)), log_ns)
            if info_conn is not None:
                K = np.asarray(frames["K"][t], dtype=np.float64)
                write(info_conn, message(CAMERA_INFO_TYPE, header=header(ns), height=height, width=width,
                                         distortion_model="plumb_bob", d=np.zeros(5), k=K.reshape(-1),
                                         r=np.eye(3).reshape(-1), p=np.hstack([K, np.zeros((3, 1))]).reshape(-1)),
                      log_ns)
            if depth_conn is not None:
                values = np.asarray(frames["depth"][t] if depth_values is None else depth_values, dtype="<f4")
                write(depth_conn, message(IMAGE_TYPE, header=header(ns), height=height, width=width,
                                          encoding="32FC1", step=4 * width,
                                          data=np.frombuffer(values.tobytes(), np.uint8)), log_ns)
    files = sorted(p for p in path.iterdir() if p.suffix in (".mcap", ".db3"))
    return path, files[0], stamps
