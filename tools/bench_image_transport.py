#!/usr/bin/env python3
"""Camera frames delivered over DDS on one machine: image size x subscriber QoS x transport.

For each combination a publisher process (reliable, keep last 10, as image_publisher and
most camera drivers) sends the same frame ``--fps`` times a second for ``--seconds``, and
a subscriber process (best effort = the sensor-data QoS, or reliable) counts what
arrives. Both processes get the same ``FASTDDS_BUILTIN_TRANSPORTS`` (Fast DDS >= 2.13:
DEFAULT = shared memory + UDP, SHM, UDPv4, LARGE_DATA = shared memory + TCP + UDP for
discovery). ``--compressed`` adds a JPEG (quality 90) row per size. Prints one row per
combination: frames sent, received, received per second, and the share received.

    .venv/bin/python tools/bench_image_transport.py --sizes 640x480,1280x720 --fps 15 --seconds 10

The publisher waits until the subscriber is matched (plus a second, so its reader has
matched too) before sending, so start-up is not counted as loss.
"""
import argparse
import os
import random
import subprocess
import sys
import time

import numpy as np

TRANSPORTS = ("DEFAULT", "SHM", "UDPv4", "LARGE_DATA")
QOS = ("best_effort", "reliable")
TOPIC = "/bench_image_transport/image"
#: The subscriber stops this long after the last frame (or the publisher's end).
IDLE_S = 3.0


def _frame(width: int, height: int) -> np.ndarray:
    """A camera-like frame: smooth shading plus sensor noise (so JPEG sizes are realistic)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([128 + 100 * np.sin(xx / 97.0), 128 + 100 * np.cos(yy / 71.0), 128 + 60 * np.sin((xx + yy) / 53.0)], -1)
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def publish(width: int, height: int, fps: float, seconds: float, compressed: bool) -> int:
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CompressedImage, Image

    rclpy.init()
    node = rclpy.create_node("bench_image_publisher")
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    rgb = _frame(width, height)
    if compressed:
        import cv2

        ok, jpeg = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
        msg = CompressedImage(format="jpeg", data=jpeg.tobytes())
        pub = node.create_publisher(CompressedImage, TOPIC + "/compressed", qos)
    else:
        msg = Image(height=height, width=width, encoding="rgb8", step=3 * width, data=rgb.tobytes())
        pub = node.create_publisher(Image, TOPIC, qos)
    deadline = time.monotonic() + 30.0
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    count = int(round(fps * seconds))
    start = time.monotonic()
    for k in range(count):
        msg.header.stamp = node.get_clock().now().to_msg()
        pub.publish(msg)
        time.sleep(max(0.0, start + (k + 1) / fps - time.monotonic()))
    time.sleep(0.5)
    node.destroy_node()
    rclpy.try_shutdown()
    print(count, len(msg.data), flush=True)
    return 0


def subscribe(qos_name: str, compressed: bool, timeout_s: float) -> int:
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import CompressedImage, Image

    rclpy.init()
    node = rclpy.create_node("bench_image_subscriber")
    qos = qos_profile_sensor_data if qos_name == "best_effort" else QoSProfile(
        depth=qos_profile_sensor_data.depth, reliability=ReliabilityPolicy.RELIABLE)
    times = []
    node.create_subscription(CompressedImage if compressed else Image, TOPIC + ("/compressed" if compressed else ""),
                             lambda _msg: times.append(time.monotonic()), qos)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not (times and time.monotonic() - times[-1] > IDLE_S):
        rclpy.spin_once(node, timeout_sec=0.05)
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    print(len(times), f"{rate:.2f}", flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def run_one(width, height, qos_name, transport, compressed, fps, seconds) -> dict:
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(101, 200)), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    if transport != "DEFAULT":
        env["FASTDDS_BUILTIN_TRANSPORTS"] = transport
    else:
        env.pop("FASTDDS_BUILTIN_TRANSPORTS", None)
    me = [sys.executable, os.path.abspath(__file__)]
    flag = ["--compressed"] if compressed else []
    sub = subprocess.Popen(me + ["--role", "sub", "--qos", qos_name, "--timeout", str(seconds + 40)] + flag,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    pub = subprocess.Popen(me + ["--role", "pub", "--sizes", f"{width}x{height}", "--fps", str(fps),
                                 "--seconds", str(seconds)] + flag,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    sent, size = (int(v) for v in pub.communicate(timeout=seconds + 60)[0].split())
    received, rate = sub.communicate(timeout=seconds + 60)[0].split()
    return {"sent": sent, "bytes": size, "received": int(received), "rate": float(rate)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--sizes", default="640x480,1280x720", help="comma-separated WxH")
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--qos", default=",".join(QOS), help=f"comma-separated, of {', '.join(QOS)}")
    parser.add_argument("--transports", default=",".join(TRANSPORTS), help=f"comma-separated, of {', '.join(TRANSPORTS)}")
    parser.add_argument("--compressed", action="store_true", help="also JPEG CompressedImage (DEFAULT transport)")
    parser.add_argument("--role", choices=("main", "pub", "sub"), default="main", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=60.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",")]
    if args.role == "pub":
        return publish(*sizes[0], args.fps, args.seconds, args.compressed)
    if args.role == "sub":
        return subscribe(args.qos, args.compressed, args.timeout)

    print(f"{'size':>9} {'payload':>9} {'subscriber':>11} {'transport':>10} {'sent':>5} {'received':>8} "
          f"{'per s':>6} {'share':>6}")
    cases = [(w, h, q, t, False) for (w, h) in sizes for q in args.qos.split(",") for t in args.transports.split(",")]
    if args.compressed:
        cases += [(w, h, q, "DEFAULT", True) for (w, h) in sizes for q in args.qos.split(",")]
    for width, height, qos_name, transport, compressed in cases:
        r = run_one(width, height, qos_name, transport, compressed, args.fps, args.seconds)
        kind = f"{width}x{height}" + (" jpg" if compressed else "")
        print(f"{kind:>9} {r['bytes'] / 1e6:>7.2f}MB {qos_name:>11} {transport:>10} {r['sent']:>5} {r['received']:>8} "
              f"{r['rate']:>6.1f} {100 * r['received'] / r['sent']:>5.0f}%", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
