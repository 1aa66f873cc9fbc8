"""The teacher worker: MediaPipe Hands on request, one process, stdin -> stdout.

This file runs INSIDE the teacher venv (``make teacher``: ``mediapipe==0.10.14``,
``numpy<2``, ``protobuf<5``) as a subprocess of ``hand3d label``; it is started by file
path (``TEACHER_PYTHON .../teacher/worker.py``), so it imports nothing from
``hand3d_ros``. The package's own environment imports only the framing helpers below
(stdlib only); mediapipe is imported in :func:`serve`.

Protocol (binary, on the worker's stdin/stdout; stderr is free-form log text). Every
message is a frame::

    8 bytes  magic + lengths header: b"H3" + uint16 0 + uint32 header length (little endian)
    8 bytes  uint64 body length (little endian)
    header   JSON (utf-8)
    body     raw bytes (may be empty)

Requests (header JSON):

- ``{"id": ID, "path": "/abs/image.jpg"}``: the worker reads the image file itself;
- ``{"id": ID, "shape": [H, W, 3]}`` with the body = ``H*W*3`` uint8 RGB bytes (a frame);
- ``{"id": ID, "quit": true}``: exit.

Reply (header JSON, empty body)::

    {"id": ID, "error": null or "one line", "width": W, "height": H,   # the image as read
     "scale": s,                      # teacher input = image scaled by s (<= 1)
     "views": [VIEW, VIEW]}           # the photo, then its horizontal mirror

    VIEW = {"hands": [{"landmarks": [[x, y, z] * 21],   # x, y normalised to the view [0, 1]
                       "world": [[x, y, z] * 21],       # metres, MediaPipe's world landmarks
                       "label": "Left"|"Right", "label_score": p,   # MediaPipe's own (selfie) label
                       "palm_score": p or null}]}       # palm detector score of that hand

Coordinates are exactly what MediaPipe returns for that view: the mirrored view's
landmarks are NOT mirrored back and its labels are MediaPipe's selfie convention
(the client, ``hand3d_ros.teacher.merge``, combines the views).
"""
from __future__ import annotations

import json
import struct
import sys

MAGIC = b"H3"
#: Teacher name and pinned version (the one ``tools/teacher_env.sh`` installs).
TEACHER_NAME = "mediapipe-hands"
TEACHER_VERSION = "0.10.14"
#: Largest image side fed to MediaPipe (pixels); bigger images are scaled down first.
DEFAULT_MAX_SIDE = 1280
_HEAD = struct.Struct("<2sHIQ")


def write_frame(stream, header: dict, body: bytes = b"") -> None:
    """Write one frame (header dict as JSON + raw body) and flush."""
    data = json.dumps(header, separators=(",", ":")).encode("utf-8")
    stream.write(_HEAD.pack(MAGIC, 0, len(data), len(body)))
    stream.write(data)
    if body:
        stream.write(body)
    stream.flush()


def _read_exact(stream, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            raise EOFError(f"stream ended after {got} of {n} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(stream):
    """Read one frame: ``(header dict, body bytes)``; raises EOFError at the end."""
    magic, _, head_len, body_len = _HEAD.unpack(_read_exact(stream, _HEAD.size))
    if magic != MAGIC:
        raise ValueError(f"bad frame magic {magic!r} (not a teacher stream)")
    header = json.loads(_read_exact(stream, head_len).decode("utf-8"))
    body = _read_exact(stream, body_len) if body_len else b""
    return header, body


# ----------------------------------------------------------------------------- inside the teacher venv

def _make_hands(max_hands: int, complexity: int, min_detection: float, min_presence: float):
    """MediaPipe Hands (static images) that also outputs the palm detections (scores)."""
    from mediapipe.python.solution_base import SolutionBase
    from mediapipe.python.solutions import hands as mp_hands

    class _Hands(SolutionBase):
        def __init__(self):
            super().__init__(
                binary_graph_path=mp_hands._BINARYPB_FILE_PATH,
                side_inputs={"model_complexity": complexity, "num_hands": max_hands,
                             "use_prev_landmarks": False},
                calculator_params={
                    "palmdetectioncpu__TensorsToDetectionsCalculator.min_score_thresh": min_detection,
                    "handlandmarkcpu__ThresholdingCalculator.threshold": min_presence,
                },
                outputs=["multi_hand_landmarks", "multi_hand_world_landmarks", "multi_handedness",
                         "palm_detections"])

    return _Hands()


def _palm_boxes(result):
    boxes = []
    for det in result.palm_detections or []:
        box = det.location_data.relative_bounding_box
        boxes.append((box.xmin, box.ymin, box.xmin + box.width, box.ymin + box.height, float(det.score[0])))
    return boxes


def _view(hands, rgb) -> dict:
    result = hands.process(rgb)
    out = []
    if not result.multi_hand_landmarks:
        return {"hands": out}
    boxes = _palm_boxes(result)
    worlds = result.multi_hand_world_landmarks or []
    for i, marks in enumerate(result.multi_hand_landmarks):
        lm = [[p.x, p.y, p.z] for p in marks.landmark]
        world = [[p.x, p.y, p.z] for p in worlds[i].landmark] if i < len(worlds) else None
        cls = result.multi_handedness[i].classification[0]
        # The palm detection of this hand: the box holding most of its palm keypoints.
        palm = [lm[k] for k in (0, 5, 9, 13, 17)]
        best, best_in = None, 0
        for x0, y0, x1, y1, score in boxes:
            inside = sum(1 for x, y, _ in palm if x0 <= x <= x1 and y0 <= y <= y1)
            if inside > best_in:
                best, best_in = score, inside
        out.append({"landmarks": lm, "world": world, "label": cls.label, "label_score": float(cls.score),
                    "palm_score": best})
    return {"hands": out}


def serve(max_side: int, max_hands: int, complexity: int, min_detection: float, min_presence: float) -> int:
    import cv2
    import numpy as np

    cv2.setNumThreads(1)
    hands = _make_hands(max_hands, complexity, min_detection, min_presence)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # anything printed by libraries must not corrupt the stream
    while True:
        try:
            header, body = read_frame(stdin)
        except EOFError:
            return 0
        if header.get("quit"):
            return 0
        reply = {"id": header.get("id"), "error": None}
        try:
            if "path" in header:
                data = np.fromfile(header["path"], dtype=np.uint8)
                bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
                if bgr is None:
                    raise ValueError("not a readable image")
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            else:
                h, w, c = header["shape"]
                rgb = np.frombuffer(body, dtype=np.uint8).reshape(h, w, c)
            height, width = rgb.shape[:2]
            scale = min(1.0, max_side / max(height, width))
            if scale < 1.0:
                size = (max(1, round(width * scale)), max(1, round(height * scale)))
                rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            rgb = np.ascontiguousarray(rgb)
            reply.update(width=width, height=height, scale=scale,
                         views=[_view(hands, rgb), _view(hands, np.ascontiguousarray(rgb[:, ::-1]))])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            reply["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        write_frame(stdout, reply)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="MediaPipe Hands teacher worker (stdin/stdout frames)")
    parser.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE)
    parser.add_argument("--max-hands", type=int, default=2)
    parser.add_argument("--complexity", type=int, default=1, choices=(0, 1))
    parser.add_argument("--min-detection", type=float, default=0.5)
    parser.add_argument("--min-presence", type=float, default=0.5)
    parser.add_argument("--version", action="store_true", help="print the mediapipe version and exit")
    args = parser.parse_args(argv)
    if args.version:
        import mediapipe

        print(json.dumps({"name": TEACHER_NAME, "version": mediapipe.__version__}))
        return 0
    return serve(args.max_side, args.max_hands, args.complexity, args.min_detection, args.min_presence)


if __name__ == "__main__":
    sys.exit(main())
