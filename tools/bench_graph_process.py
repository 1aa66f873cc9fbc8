#!/usr/bin/env python3
"""Camera -> hand3d -> recorder as three processes or as one (hand3d_graph): latency and CPU.

Renders a few camera-like frames, then runs the same graph twice for ``--seconds``:
``replay_camera``, ``hand3d_node`` and ``hand3d_recorder`` as separate processes, and
all three in one process with one executor (``hand3d_graph``). Prints, per layout, the
recorder's latency from image stamp to HandPose3DArray received (p50, p99, start-up
included), the poses received per second, and the CPU seconds used per second of the
measured window (all processes, user + system, after the first pose arrived).

    .venv/bin/python tools/bench_graph_process.py --seconds 30 --size 640x480 --fps 15

``--node-arg name:=value`` passes extra parameters to every process (e.g.
``backend:=onnxruntime``). Without ``--weights-dir`` the networks have random weights
(allow_random_weights): the compute is that of the lite model, the output meaningless.
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _frames(folder: Path, width: int, height: int, count: int = 8) -> None:
    import cv2

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for k in range(count):
        base = np.stack([128 + 100 * np.sin((xx + 7 * k) / 97.0), 128 + 100 * np.cos(yy / 71.0),
                         128 + 60 * np.sin((xx + yy) / 53.0)], -1)
        rgb = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"{k:03d}.png"), rgb[..., ::-1])


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(commands, seconds: float, env: dict, ready) -> float:
    """Start the commands; once ``ready()`` (first pose recorded), let them run for
    ``seconds``; stop them with SIGINT. Returns the CPU seconds used in that window."""
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for c in commands]
    try:
        deadline = time.monotonic() + 180.0
        while not ready():
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"the graph did not start: {commands}")
            time.sleep(0.2)
        start = sum(_cpu_s(p.pid) for p in procs)
        time.sleep(seconds)
        return sum(_cpu_s(p.pid) for p in procs) - start
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            proc.wait(timeout=60)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", default="640x480", help="frame size WxH")
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--weights-dir", default="", help="trained weights; empty: random weights")
    parser.add_argument("--node-arg", action="append", default=[], help="extra parameter name:=value")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(101, 200)), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    py = [sys.executable, "-m"]
    with tempfile.TemporaryDirectory() as tmp:
        frames = Path(tmp) / "frames"
        frames.mkdir()
        _frames(frames, width, height)
        weights = [f"weights_dir:={args.weights_dir}"] if args.weights_dir else ["allow_random_weights:=true"]
        common = [a for p in weights + ["backend:=torch", *args.node_arg] for a in ("-p", p)]
        camera = ["-p", f"source:={frames}", "-p", f"fps:={args.fps}", "-p", "loop:=true"]
        print(f"{'layout':>16} {'latency p50':>12} {'p99':>8} {'poses/s':>8} {'CPU s/s':>8}")
        for layout in ("three processes", "one process"):
            out = Path(tmp) / layout.replace(" ", "_")
            recorder = ["-p", f"output_dir:={out}", "-p", "summary_period_s:=0.0"]
            if layout == "one process":
                commands = [py + ["hand3d_ros.ros.graph", "camera", "hand3d", "recorder", "--ros-args",
                                  *common, *camera, *recorder]]
            else:
                commands = [py + ["hand3d_ros.ros.replay_camera", "--ros-args", *camera],
                            py + ["hand3d_ros.ros.hand3d_node", "--ros-args", *common],
                            py + ["hand3d_ros.ros.recorder", "--ros-args", *recorder]]
            poses = out / "poses.jsonl"
            cpu = _run(commands, args.seconds, env, lambda: poses.is_file() and poses.stat().st_size > 0)
            summary = json.loads((out / "summary.json").read_text())
            latency = summary["latency_ms"]["/hand_poses"]
            rate = summary["rate_hz"]["/hand_poses"]
            print(f"{layout:>16} {latency['p50'] or float('nan'):>10.1f}ms {latency['p99'] or float('nan'):>6.1f}ms "
                  f"{rate:>8.1f} {cpu / args.seconds:>8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
