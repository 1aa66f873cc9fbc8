"""Time MediaPipe Hands on frames, for ``hand3d bench --peer mediapipe``.

Runs INSIDE the teacher venv (``make teacher``; started by file path, imports nothing from
``hand3d_ros``): the package's own venv cannot import mediapipe 0.10.14 (numpy < 2).

    TEACHER_PYTHON peer_bench.py FRAMES.npy WARMUP ITERATIONS MIN_ITERATIONS BUDGET_S

``FRAMES.npy``: ``(N, H, W, 3)`` uint8 RGB. Prints one JSON line on stdout::

    {"version": ..., "detect": {"ms": [...], "hands": [...]}, "track": {...}}

``detect`` is ``static_image_mode=True`` (every frame searched), ``track`` is ``False``
(MediaPipe's own tracking from the previous landmarks), both ``max_num_hands=1``,
``model_complexity=1`` (the settings of the in-process peer).
"""
import json
import sys
import time


def main(argv) -> int:
    import mediapipe
    import numpy as np

    frames = np.load(argv[0])
    warmup, iterations, min_iterations, budget_s = int(argv[1]), int(argv[2]), int(argv[3]), float(argv[4])
    out = {"version": getattr(mediapipe, "__version__", "unknown")}
    for mode, static in (("detect", True), ("track", False)):
        times, hands = [], []
        with mediapipe.solutions.hands.Hands(static_image_mode=static, max_num_hands=1, model_complexity=1,
                                             min_detection_confidence=0.5) as model:
            started = None
            for i in range(warmup + iterations):
                frame = np.ascontiguousarray(frames[i % frames.shape[0]])
                t0 = time.perf_counter()
                result = model.process(frame)
                elapsed = (time.perf_counter() - t0) * 1e3
                if i < warmup:
                    continue
                started = started or t0
                times.append(elapsed)
                hands.append(len(result.multi_hand_landmarks or []))
                if len(times) >= min_iterations and time.perf_counter() - started > budget_s:
                    break
        out[mode] = {"ms": times, "hands": hands}
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
