#!/usr/bin/env python3
"""Throughput and latency of the hand3d node fed like a robot's camera, over DDS.

Each run starts two processes, as a robot would: ``replay_camera`` playing frames with
hands (rendered sequences of a moving hand, or a folder of photos given by ``--images``)
in a loop at ``--rate`` (image, camera_info with the same stamp, and 32FC1 depth for the
depth runs; reliable QoS, like a camera driver), and ``hand3d_node`` (the shipped weights
unless ``--node-arg`` says otherwise). This process only listens: it takes the camera's
real rate from the camera_info stamps, times image stamp -> HandPose3DArray received
(latency, both ends on this machine's clock), reads the node's /diagnostics counters,
samples the node's CPU time and RSS from /proc, and calls the node's get_parameters and
set_parameters services (alternately, setting the value just read) twice a second.

By default it runs 640x480 and 1280x720, each without and with depth, at 30 Hz, and prints
one row per run: frames published / received / processed / dropped per second, latency
p50/p99, node and camera CPU % (100 % = one core), node RSS at the start and end of the
window, and the median and slowest parameter service answer.

    .venv/bin/python tools/bench_node_latency.py                      # the 4 runs, 20 s each
    .venv/bin/python tools/bench_node_latency.py --size 640x480 --depth off --seconds 60
    .venv/bin/python tools/bench_node_latency.py --camera-info off    # the stream without camera_info
    .venv/bin/python tools/bench_node_latency.py --reliable           # node subscribes reliably
    .venv/bin/python tools/bench_node_latency.py --images ~/photos --hold 15
    .venv/bin/python tools/bench_node_latency.py --profile out/prof   # py-spy record of the node

Rendering needs the hand meshes (tools/fetch_hand_assets.sh; ``--asset-dir``). Ctrl-C
stops early and prints what was measured.
"""
import argparse
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: Frames of each rendered sequence (one second at 30 Hz); the loop has a cut between them.
FRAMES_PER_SEQUENCE = 30
#: Rendered sequences: (sequence index, two hands).
SEQUENCES = ((0, False), (1, True))
RENDER_SEED = 16
#: Horizontal field of view assumed for photos (camera_info guess), degrees.
PHOTO_HFOV_DEG = 60.0
#: Period of the node's /diagnostics during the benchmark, seconds.
DIAGNOSTICS_PERIOD_S = 0.25
#: Period of the parameter service probe, seconds.
PARAM_PROBE_PERIOD_S = 0.5
#: The parameter read and set (to the value read) by that probe.
PROBED_PARAMETER = "smoothing_beta"
NAMESPACE = "/bench"


def parse_size(text: str) -> tuple:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH (e.g. 640x480), got {text!r}") from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return width, height


def render_frames(width: int, height: int, asset_dir) -> dict:
    """Rendered sequences of a moving hand: image (T, H, W, 3) uint8, K (T, 3, 3) pixels,
    depth (T, H, W) metres."""
    from hand3d_ros.data.render.scene import HandRenderer, RenderConfig
    from hand3d_ros.data.render.sequences import SequenceConfig, sequence_frame

    renderer = HandRenderer(RenderConfig(height=height, width=width, split="test", with_depth=True), asset_dir)
    config = SequenceConfig(num_frames=FRAMES_PER_SEQUENCE, fps=30.0)
    frames = [sequence_frame(renderer, RENDER_SEED, index, t, two_hands, config)
              for index, two_hands in SEQUENCES for t in range(FRAMES_PER_SEQUENCE)]
    return {"image": np.stack([f["image"] for f in frames]),
            "K": np.stack([f["K"] for f in frames]).astype(np.float64),
            "depth": np.stack([f["depth"] for f in frames]).astype(np.float32)}


def photo_frames(folder: Path, width: int, height: int, hold: int) -> dict:
    """The photos of ``folder`` (png/jpg, sorted), each cropped to the aspect ratio, resized
    to width x height and held for ``hold`` frames (then a cut); K from PHOTO_HFOV_DEG."""
    import cv2

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        raise SystemExit(f"bench_node_latency: no png/jpg files in {folder}")
    images = []
    for path in files:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"bench_node_latency: cannot read {path}")
        h, w = bgr.shape[:2]
        scale = max(width / w, height / h)
        crop_w, crop_h = min(w, round(width / scale)), min(h, round(height / scale))
        x0, y0 = (w - crop_w) // 2, (h - crop_h) // 2
        rgb = cv2.resize(bgr[y0:y0 + crop_h, x0:x0 + crop_w], (width, height), interpolation=cv2.INTER_AREA)[..., ::-1]
        images += [np.ascontiguousarray(rgb)] * hold
    f = (width / 2.0) / math.tan(math.radians(PHOTO_HFOV_DEG) / 2.0)
    K = np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])
    return {"image": np.stack(images), "K": K}


class ProcessMeter:
    """CPU time and RSS of a process from /proc (Linux)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.ticks = os.sysconf("SC_CLK_TCK")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.ticks  # utime + stime

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
        return float("nan")


def run_once(args, npz: Path, size: tuple, depth: bool, camera_info: bool, profile_out) -> dict:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from hand3d_msgs.msg import HandPose3DArray
    from rcl_interfaces.msg import Parameter
    from rcl_interfaces.srv import GetParameters, SetParameters
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo

    python = sys.executable
    ns = ["-r", f"__ns:={NAMESPACE}"]
    node_args = ["--ros-args", *ns, "-p", f"diagnostics_period_s:={DIAGNOSTICS_PERIOD_S}",
                 "-p", f"use_depth:={str(depth).lower()}"]
    if args.reliable:
        for topic in ("image", "camera_info", "depth"):
            node_args += ["-p", f"qos_overrides.{NAMESPACE}/{topic}.subscription.reliability:=reliable"]
    for extra in args.node_arg:
        node_args += ["-p", extra]
    camera_args = ["--ros-args", *ns, "-p", f"source:={npz}", "-p", f"fps:={args.rate}", "-p", "loop:=true",
                   "-p", f"publish_depth:={str(depth).lower()}"]
    if not camera_info:
        camera_args += ["-r", "camera_info:=camera_info_not_for_the_node"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL} if not args.verbose else {}
    node = subprocess.Popen([python, "-m", "hand3d_ros.ros.hand3d_node", *node_args], **quiet)
    camera = None
    spy = None
    rclpy.init()
    probe = rclpy.create_node("bench_probe")
    result = {"size": f"{size[0]}x{size[1]}", "depth": depth, "camera_info": camera_info}
    try:
        latencies, diags, infos, param_ms = [], [], [], []
        window = [None, None]  # wall-clock seconds

        def on_poses(msg):
            now = time.time()
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            if window[0] is not None and window[0] <= stamp and (window[1] is None or stamp <= window[1]):
                latencies.append((now - stamp) * 1e3)

        def on_diag(msg):
            for status in msg.status:
                if status.name.startswith(f"{NAMESPACE}/hand3d:"):
                    diags.append((time.monotonic(), {kv.key: kv.value for kv in status.values}))

        probe.create_subscription(HandPose3DArray, f"{NAMESPACE}/hand_poses", on_poses,
                                  QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
        probe.create_subscription(DiagnosticArray, "/diagnostics", on_diag,
                                  QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
        info_topic = f"{NAMESPACE}/camera_info" if camera_info else f"{NAMESPACE}/camera_info_not_for_the_node"
        probe.create_subscription(CameraInfo, info_topic,
                                  lambda msg: infos.append(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9),
                                  qos_profile_sensor_data)
        get_client = probe.create_client(GetParameters, f"{NAMESPACE}/hand3d/get_parameters")
        set_client = probe.create_client(SetParameters, f"{NAMESPACE}/hand3d/set_parameters")

        def spin_for(seconds, until=None):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                rclpy.spin_once(probe, timeout_sec=0.02)
                if until is not None and until():
                    return True
            return False

        if not spin_for(args.start_timeout, until=lambda: bool(diags)):
            raise RuntimeError("the node published no diagnostics (did it start? try --verbose)")
        camera = subprocess.Popen([python, "-m", "hand3d_ros.ros.replay_camera", *camera_args], **quiet)
        if not spin_for(args.start_timeout, until=lambda: int(diags[-1][1]["frames_processed"]) > 0):
            raise RuntimeError("the node processed no frame (did the camera start? try --verbose)")
        spin_for(args.warmup)
        node_meter, camera_meter = ProcessMeter(node.pid), ProcessMeter(camera.pid)
        if profile_out is not None:
            spy = subprocess.Popen(["py-spy", "record", "--threads", "--pid", str(node.pid), "-d",
                                    str(int(args.seconds)), "-o", str(profile_out), "-f", "speedscope"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        diags.clear()
        if not spin_for(args.start_timeout, until=lambda: bool(diags)):
            raise RuntimeError("the node stopped publishing diagnostics")
        first_diag = diags[-1]
        infos.clear()
        window[0] = time.time()
        begin = time.monotonic()
        cpu0, cam0, rss0 = node_meter.cpu_s(), camera_meter.cpu_s(), node_meter.rss_mb()
        next_param = begin
        pending, value = None, None
        while time.monotonic() - begin < args.seconds:
            if pending is None and time.monotonic() >= next_param:
                # alternately read PROBED_PARAMETER and set it to the value read (no change)
                if value is None:
                    future = get_client.call_async(GetParameters.Request(names=[PROBED_PARAMETER]))
                else:
                    future = set_client.call_async(SetParameters.Request(
                        parameters=[Parameter(name=PROBED_PARAMETER, value=value)]))
                pending = (time.monotonic(), future, value is None)
                next_param += PARAM_PROBE_PERIOD_S
            rclpy.spin_once(probe, timeout_sec=0.005)
            if pending is not None and pending[1].done():
                param_ms.append((time.monotonic() - pending[0]) * 1e3)
                value = pending[1].result().values[0] if pending[2] else None
                pending = None
        elapsed = time.monotonic() - begin
        if node.poll() is not None or camera.poll() is not None:
            raise RuntimeError("the node or the camera exited during the run (try --verbose)")
        cpu1, cam1, rss1 = node_meter.cpu_s(), camera_meter.cpu_s(), node_meter.rss_mb()
        window[1] = time.time()
        spin_for(1.0)  # results of the last frames in the window
        last_diag = diags[-1]
        dt = last_diag[0] - first_diag[0]

        def per_s(key):
            return (int(last_diag[1][key]) - int(first_diag[1][key])) / dt if dt > 0 else float("nan")

        lat = np.array(latencies)
        result.update({
            "seconds": round(elapsed, 1),
            "published_per_s": published_rate(infos, window),
            "received_per_s": per_s("frames_received"),
            "processed_per_s": per_s("frames_processed"),
            "dropped_per_s": per_s("frames_dropped"),
            "skipped_per_s": per_s("frames_skipped_bad_input"),
            "latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else float("nan"),
            "latency_p99_ms": float(np.percentile(lat, 99)) if lat.size else float("nan"),
            "results": int(lat.size),
            "node_cpu_percent": 100.0 * (cpu1 - cpu0) / elapsed,
            "camera_cpu_percent": 100.0 * (cam1 - cam0) / elapsed,
            "node_rss_mb": [round(rss0, 1), round(rss1, 1)],
            "parameter_service_ms": {"n": len(param_ms), "p50": float(np.median(param_ms)) if param_ms else None,
                                     "max": float(np.max(param_ms)) if param_ms else None,
                                     "unanswered": int(pending is not None)},
            "backend": last_diag[1].get("backend", "?"),
        })
        return result
    finally:
        for proc in (camera, node):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in (camera, node):
            if proc is not None:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if spy is not None:
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
        probe.destroy_node()
        rclpy.try_shutdown()


def published_rate(stamps: list, window: list) -> float:
    """The camera's rate, frames per second, from the stamps (camera clock, seconds) of
    the camera_info messages received with stamps inside ``window`` (wall clock)."""
    inside = sorted(t for t in stamps if window[0] <= t <= window[1])
    if len(inside) < 2 or inside[-1] <= inside[0]:
        return float("nan")
    return (len(inside) - 1) / (inside[-1] - inside[0])


def print_row(r: dict) -> None:
    params = r["parameter_service_ms"]
    param_text = (f"{params['p50']:.0f}/{params['max']:.0f}" if params["n"] else "-") + \
        (f" ({params['unanswered']} unanswered)" if params["unanswered"] else "")
    print(f"| {r['size']} | {'yes' if r['depth'] else 'no'} | {'yes' if r['camera_info'] else 'no'} "
          f"| {r['published_per_s']:.1f} | {r['received_per_s']:.1f} | {r['processed_per_s']:.1f} "
          f"| {r['dropped_per_s']:.1f} | {r['latency_p50_ms']:.0f} | {r['latency_p99_ms']:.0f} "
          f"| {r['node_cpu_percent']:.0f} | {r['camera_cpu_percent']:.0f} "
          f"| {r['node_rss_mb'][0]:.0f} -> {r['node_rss_mb'][1]:.0f} | {param_text} |", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=30.0, help="camera frame rate, Hz (default 30)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per run (default 20)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of stream before measuring (default 5)")
    parser.add_argument("--size", type=parse_size, action="append",
                        help="image size WxH; repeatable (default 640x480 and 1280x720)")
    parser.add_argument("--depth", choices=("off", "on", "both"),
                        help="runs without / with aligned depth (default both; off with --images)")
    parser.add_argument("--camera-info", choices=("on", "off", "both"), default="on",
                        help="runs with / without camera_info reaching the node (default on)")
    parser.add_argument("--images", type=Path, help="folder of photos to play instead of rendered frames")
    parser.add_argument("--hold", type=int, default=15, help="frames each photo is held (--images; default 15)")
    parser.add_argument("--asset-dir", help="hand meshes for rendering (default: $HAND3D_ASSET_DIR or the repo's)")
    parser.add_argument("--reliable", action="store_true",
                        help="the node subscribes to image, camera_info and depth reliably (QoS override) "
                             "instead of best-effort (its default, sensor data)")
    parser.add_argument("--node-arg", action="append", default=[], help="node parameter name:=value; repeatable")
    parser.add_argument("--profile", type=Path, help="folder for a py-spy record (speedscope) of the node per run")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--start-timeout", type=float, default=120.0, help="seconds to wait for the node (default 120)")
    parser.add_argument("--verbose", action="store_true", help="show the node's and camera's output")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or args.warmup < 0 or args.hold < 1:
        parser.error("--rate, --seconds and --hold must be positive and --warmup >= 0")
    if args.images is not None and not args.images.is_dir():
        parser.error(f"--images: no such folder: {args.images}")
    if args.profile is not None and shutil.which("py-spy") is None:
        parser.error("--profile needs py-spy on PATH (pip install py-spy)")
    sizes = args.size or [(640, 480), (1280, 720)]
    depths = {"off": [False], "on": [True], "both": [False, True]}[args.depth or ("off" if args.images else "both")]
    infos = {"on": [True], "off": [False], "both": [True, False]}[args.camera_info]
    if args.images is not None and True in depths:
        parser.error("--images has no depth: use --depth off")
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(101, 200)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {args.rate:g} Hz; "
          f"{'photos from ' + str(args.images) if args.images else 'rendered hands'}; "
          f"{args.seconds:g} s per run after {args.warmup:g} s warm-up; node subscriptions "
          f"{'reliable' if args.reliable else 'best-effort (default)'}", flush=True)
    print("| size | depth | camera_info | published/s | received/s | processed/s | dropped/s | latency p50 ms "
          "| p99 ms | node CPU % | camera CPU % | node RSS MB | get/set_parameters p50/max ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_node_") as tmp:
        try:
            for width, height in sizes:
                if args.images is not None:
                    arrays = photo_frames(args.images, width, height, args.hold)
                else:
                    try:
                        arrays = render_frames(width, height, args.asset_dir)
                    except FileNotFoundError as err:  # the hand meshes are missing
                        print(f"bench_node_latency: {err}", file=sys.stderr)
                        return 1
                npz = Path(tmp) / f"frames_{width}x{height}.npz"
                np.savez(npz, **arrays)
                del arrays
                for depth in depths:
                    for camera_info in infos:
                        profile_out = None
                        if args.profile is not None:
                            args.profile.mkdir(parents=True, exist_ok=True)
                            profile_out = args.profile / (f"node_{width}x{height}_depth-{'on' if depth else 'off'}"
                                                          f"_info-{'on' if camera_info else 'off'}.speedscope.json")
                        try:
                            result = run_once(args, npz, (width, height), depth, camera_info, profile_out)
                        except RuntimeError as err:
                            print(f"| {width}x{height} | {depth} | {camera_info} | failed: {err} |", flush=True)
                            continue
                        results.append(result)
                        print_row(result)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    if results:
        print(f"backend: {results[-1]['backend']}; load average at the end {os.getloadavg()[0]:.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
