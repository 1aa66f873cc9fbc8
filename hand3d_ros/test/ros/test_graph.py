"""hand3d_graph: the camera, hand3d and the recorder in one process and one executor."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hand3d_ros.ros.graph import graph_nodes

pytestmark = pytest.mark.ros

PEER = Path(__file__).parent / "peers" / "graph.py"
TIMEOUT_S = 90.0


def test_node_names_before_ros_args():
    assert graph_nodes(["hand3d_graph", "recorder", "hand3d", "camera", "--ros-args", "-p", "camera:=x"]) == [
        "camera", "hand3d", "recorder"]
    assert graph_nodes(["hand3d_graph", "hand3d"]) == ["hand3d"]
    for bad, fragment in ((["x"], "name the nodes"), (["x", "--ros-args", "hand3d"], "name the nodes"),
                          (["x", "rviz"], "unknown node 'rviz'"), (["x", "hand3d", "hand3d"], "given twice")):
        with pytest.raises(ValueError, match=fragment):
            graph_nodes(bad)


def test_bad_names_exit_2_and_a_node_that_cannot_start_exits_1(tmp_path):
    result = subprocess.run([sys.executable, str(PEER), "rviz"], capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 2 and result.stderr.startswith("hand3d_graph: unknown node"), result.stderr
    result = subprocess.run([sys.executable, str(PEER), "camera", "hand3d", "--ros-args", "-p",
                             f"source:={tmp_path}/missing.mp4"], capture_output=True, text=True, timeout=TIMEOUT_S)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and "missing.mp4" in lines[0], result.stderr


def _summary(path):
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def test_camera_hand3d_recorder_in_one_process(tmp_path):
    cv2 = pytest.importorskip("cv2")
    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for k in range(3):
        cv2.imwrite(str(frames / f"{k}.png"), rng.integers(0, 256, (96, 128, 3), dtype=np.uint8))
    out = tmp_path / "rec"
    proc = subprocess.Popen(
        [sys.executable, str(PEER), "camera", "hand3d", "recorder", "--ros-args", "-r", "__ns:=/graph",
         "-p", f"source:={frames}", "-p", "fps:=10", "-p", "loop:=true", "-p", "allow_random_weights:=true",
         "-p", "backend:=torch", "-p", "detection_threshold:=0.01", "-p", "min_hand_score:=0.0",
         "-p", f"output_dir:={out}", "-p", "summary_period_s:=0.5", "-p", "record_debug_image:=true"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        summary = None
        while time.monotonic() < deadline and proc.poll() is None:
            summary = _summary(out / "summary.json")
            counts = summary["counts"] if summary else {}
            if counts and counts["/graph/hand_poses"] >= 5 and counts["/graph/hand3d/debug_image"] >= 1 \
                    and counts["/diagnostics"] >= 1:
                break
            time.sleep(0.3)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=TIMEOUT_S)
    output = proc.stdout.read()
    assert summary and summary["counts"]["/graph/hand_poses"] >= 5, (summary, output)
    assert summary["counts"]["/diagnostics"] >= 1 and summary["counts"]["/graph/hand3d/debug_image"] >= 1
    assert code == 0 and "Traceback" not in output, output
    assert "hand3d_recorder: wrote" in output
    record = json.loads((out / "poses.jsonl").read_text().splitlines()[0])
    assert record["frame_id"] == "camera_color_optical_frame" and record["latency_ms"] is not None
