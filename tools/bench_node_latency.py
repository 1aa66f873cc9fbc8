#!/usr/bin/env python3
"""Latency of the hand3d node over DDS: image published -> HandPose3DArray received.

Starts ``hand3d_node`` in its own process, publishes camera frames at a fixed rate for a
while, and prints p50/p90/p99 latency (wall clock, both ends on this machine), the rates
in and out, and how many frames the node dropped (it keeps only the newest frame).

    .venv/bin/python tools/bench_node_latency.py --rate 15 --seconds 20 --size 640x480
    .venv/bin/python tools/bench_node_latency.py --node-arg weights_dir:=/path/to/weights

Without trained weights it runs with random weights (the latency is the same).
Ctrl-C stops early and prints what was measured.
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--rate", type=float, default=15.0, help="frames per second published")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to publish")
    parser.add_argument("--size", default="640x480", help="image size WxH")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of frames not counted")
    parser.add_argument("--node-arg", action="append", default=[], help="extra node parameter, name:=value")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(101, 200)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

    import rclpy
    from hand3d_msgs.msg import HandPose3DArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    from hand3d_ros.ros.image_conversions import rgb_to_image_fields

    node_args = ["--ros-args", "-p", "allow_random_weights:=true", "-r", "__ns:=/bench"]
    for extra in args.node_arg:
        node_args += ["-p", extra]
    proc = subprocess.Popen([sys.executable, "-m", "hand3d_ros.ros.hand3d_node", *node_args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rclpy.init()
    node = rclpy.create_node("latency_probe")
    sent, latencies_ms = {}, []
    received = [0]
    start_counting = [None]

    def on_poses(msg):
        key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        received[0] += 1
        if key in sent and start_counting[0] is not None and sent[key] >= start_counting[0]:
            latencies_ms.append((time.perf_counter() - sent[key]) * 1e3)

    node.create_subscription(HandPose3DArray, "/bench/hand_poses", on_poses,
                             QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
    image_pub = node.create_publisher(Image, "/bench/image", qos_profile_sensor_data)
    info_pub = node.create_publisher(CameraInfo, "/bench/camera_info", qos_profile_sensor_data)
    rng = np.random.default_rng(0)
    frames = [(rng.random((height, width, 3)) * 255).astype(np.uint8) for _ in range(8)]
    info = CameraInfo(width=width, height=height, k=[width * 0.9, 0.0, width / 2, 0.0, width * 0.9, height / 2,
                                                     0.0, 0.0, 1.0])
    info.header.frame_id = "camera_color_optical_frame"
    published = 0
    try:
        deadline_ready = time.monotonic() + 60
        while image_pub.get_subscription_count() == 0 and time.monotonic() < deadline_ready:
            rclpy.spin_once(node, timeout_sec=0.1)
        begin = time.monotonic()
        start_counting[0] = time.perf_counter() + args.warmup
        next_t = begin
        while time.monotonic() - begin < args.seconds + args.warmup:
            stamp = node.get_clock().now().to_msg()
            image = Image(**rgb_to_image_fields(frames[published % len(frames)]))
            image.header.stamp, image.header.frame_id = stamp, info.header.frame_id
            info.header.stamp = stamp
            info_pub.publish(info)
            sent[(stamp.sec, stamp.nanosec)] = time.perf_counter()
            image_pub.publish(image)
            published += 1
            next_t += 1.0 / args.rate
            while time.monotonic() < next_t:
                rclpy.spin_once(node, timeout_sec=max(0.0, next_t - time.monotonic()))
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        node.destroy_node()
        rclpy.try_shutdown()
    lat = np.array(latencies_ms)
    print(f"frames: {published} published at {args.rate:g} Hz ({width}x{height}), {received[0]} results received")
    if lat.size:
        p50, p90, p99 = np.percentile(lat, [50, 90, 99])
        print(f"latency image -> HandPose3DArray (after {args.warmup:g} s warm-up, n={lat.size}): "
              f"p50 {p50:.1f} ms, p90 {p90:.1f} ms, p99 {p99:.1f} ms")
    else:
        print("no results were received")
    return 0 if lat.size else 1


if __name__ == "__main__":
    sys.exit(main())
