"""Per-stage latency of the pipeline on every available backend (what ``hand3d bench`` runs).

For each configuration (lite, paper) and each backend variant (backend, precision,
threads) it measures, after warm-up:

- ``detect``: the full pipeline (:meth:`HandPosePipeline.detect`) on batches of 1 and
  more frames; per stage (see :data:`hand3d_ros.inference.pipeline.STAGES`) and total;
- ``networks``: the floor, i.e. the three networks alone on the very tensors the pipeline
  fed them (captured once), so ``overhead = total / networks`` shows what the glue costs;
- ``track``: :meth:`HandPosePipeline.pose_in_boxes` with a fixed box (PoseNet and
  PosePrior only: the tracking mode that skips HandSegNet), and its network floor;
- optionally a peer (MediaPipe Hands) on the same frames, detection and tracking modes.

Latencies are reported as p50/p90/p99 in milliseconds, throughput as frames per second
(batch / p50 total). Numbers are wall-clock on a possibly shared machine: the report
records the load average before and after.

With random weights nothing looks like a hand, so the benchmark lowers the detection
threshold (:data:`FORCED_DETECTION_THRESHOLD`) to make every frame hold exactly one hand
and the whole pipeline run; the report says so.
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from hand3d_ros.options import DETECTION_SETTINGS

#: Detection threshold used with random weights so that every frame holds one "hand".
FORCED_DETECTION_THRESHOLD = 1e-6
#: Percentiles reported for every stage.
PERCENTILES = (50, 90, 99)
#: Keys of a stage's statistics.
TOTAL = "total"
#: CPU flags that make bf16 run natively (otherwise torch emulates it, slower than fp32).
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
#: Hint printed when the MediaPipe peer is asked for but missing.
MEDIAPIPE_HINT = ("make teacher (MediaPipe Hands 0.10.14 in its own venv, .venv-teacher; it needs numpy<2, "
                  "so it cannot live in the package's venv)")


# ------------------------------------------------------------------ pure helpers
def percentiles(values: Sequence[float]) -> dict:
    """{"p50", "p90", "p99", "mean", "min", "max", "n"} of ``values`` (ms); NaN-free input,
    empty input gives n = 0 and None values."""
    data = np.asarray(list(values), dtype=np.float64)
    if data.size == 0:
        return {**{f"p{p}": None for p in PERCENTILES}, "mean": None, "min": None, "max": None, "n": 0}
    out = {f"p{p}": float(np.percentile(data, p)) for p in PERCENTILES}
    out.update(mean=float(data.mean()), min=float(data.min()), max=float(data.max()), n=int(data.size))
    return out


def summarize(samples: Sequence[Dict[str, float]]) -> Dict[str, dict]:
    """Per-key statistics of a list of {stage: ms} samples (keys in first-seen order)."""
    keys: List[str] = []
    for sample in samples:
        keys += [k for k in sample if k not in keys]
    return {key: percentiles([s[key] for s in samples if key in s]) for key in keys}


@dataclass(frozen=True)
class Variant:
    """One way of running the networks.

    Attributes:
        backend: torch, onnxruntime or tensorrt.
        precision: fp32, fp16, bf16 or int8.
        threads: CPU threads (0: the library's default).
        device: cpu or cuda.
    """

    backend: str
    precision: str = "fp32"
    threads: int = 0
    device: str = "cpu"

    @property
    def label(self) -> str:
        """e.g. ``onnxruntime-cpu fp32 1t``."""
        device = "" if self.backend == "tensorrt" else f"-{self.device}"
        threads = f" {self.threads}t" if self.threads else ""
        return f"{self.backend}{device} {self.precision}{threads}"


def parse_variant(text: str, device: str = "cpu") -> Variant:
    """``backend[:precision][@threads]`` -> :class:`Variant`, e.g. ``onnxruntime@1``,
    ``torch:bf16``, ``tensorrt:fp16``. TensorRT always runs on cuda."""
    body, _, threads = text.partition("@")
    backend, _, precision = body.partition(":")
    if backend not in ("torch", "onnxruntime", "tensorrt"):
        raise ValueError(f"unknown backend '{backend}' in '{text}' (torch, onnxruntime, tensorrt)")
    if precision and precision not in ("fp32", "fp16", "bf16", "int8"):
        raise ValueError(f"unknown precision '{precision}' in '{text}' (fp32, fp16, bf16, int8)")
    if threads and not (threads.isdigit() and int(threads) >= 1):
        raise ValueError(f"threads must be a positive integer in '{text}'")
    default_precision = "fp16" if backend == "tensorrt" else "fp32"
    return Variant(backend, precision or default_precision, int(threads or 0),
                   "cuda" if backend == "tensorrt" else device)


def cpu_flags() -> set:
    """The CPU's feature flags from /proc/cpuinfo (empty where unreadable)."""
    try:
        with open("/proc/cpuinfo", "r", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def default_variants(device: str, cores: int, flags: Optional[set] = None) -> Tuple[List[Variant], List[dict]]:
    """The variants a plain ``hand3d bench`` measures, and the ones it skips (with why).

    CPU: torch fp32, onnxruntime fp32 (default threads, and 1 thread when there are more
    cores), onnxruntime int8 (the node's CPU default with calibrated weights; reported as
    unavailable for weights without an INT8 calibration), torch bf16 only where the CPU has
    native bf16. CUDA: torch fp32/fp16, onnxruntime fp32, tensorrt fp16.
    """
    flags = cpu_flags() if flags is None else flags
    if device == "cuda":
        return [Variant("torch", "fp32", 0, "cuda"), Variant("torch", "fp16", 0, "cuda"),
                Variant("onnxruntime", "fp32", 0, "cuda"), Variant("tensorrt", "fp16", 0, "cuda")], []
    variants = [Variant("torch"), Variant("onnxruntime")]
    if cores > 1:
        variants.append(Variant("onnxruntime", threads=1))
    variants.append(Variant("onnxruntime", "int8"))
    skipped = []
    if flags & set(NATIVE_BF16_FLAGS):
        variants.append(Variant("torch", "bf16"))
    else:
        skipped.append({"variant": Variant("torch", "bf16").label,
                        "reason": "no native bf16 on this CPU (no avx512_bf16/amx_bf16): emulated, slower than "
                                  "fp32; measure it with --backends torch:bf16"})
    return variants, skipped


def tracking_box(height: int, width: int, uv: Optional[np.ndarray] = None, margin: float = 1.25,
                 fraction: float = 0.4) -> List[float]:
    """A square box [u_min, v_min, u_max, v_max] (pixels) for the tracking measurement:
    around ``uv`` (K, 2) with ``margin`` when given, else centred with side ``fraction``
    of the shorter image side."""
    if uv is not None and np.isfinite(uv).all():
        low, high = uv.min(axis=0), uv.max(axis=0)
        center, side = (low + high) / 2.0, max(float((high - low).max()) * margin, 8.0)
    else:
        center, side = np.array([width / 2.0, height / 2.0]), fraction * min(height, width)
    return [float(center[0] - side / 2), float(center[1] - side / 2),
            float(center[0] + side / 2), float(center[1] + side / 2)]


def load_sequence(path: str) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Frames from an NPZ: ``image`` (or ``images``/``rgb``) (T, H, W, 3) uint8, and ``uv``
    (T, 21, 2) pixels when present (used for the tracking box).

    Raises:
        ValueError: missing file, no image array, wrong shape or dtype (one line).
    """
    if not os.path.isfile(path):
        raise ValueError(f"no such sequence file: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            names = list(data.files)
            key = next((k for k in ("image", "images", "rgb") if k in names), None)
            frames = data[key] if key else None
            uv = data["uv"] if "uv" in names else None
    except Exception as err:  # zip / format / pickle errors
        raise ValueError(f"cannot read {path}: {type(err).__name__}: {err}") from None
    if frames is None:
        raise ValueError(f"{path} has no 'image' array (has: {', '.join(names) or 'nothing'})")
    if frames.ndim == 3 and frames.shape[-1] == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"{path}: '{key}' must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if uv is not None and (uv.ndim != 3 or uv.shape[0] != frames.shape[0] or uv.shape[-1] != 2):
        uv = None
    return frames, uv


# ------------------------------------------------------------------ environment
def machine_info() -> dict:
    """CPU model, cores, GPU, OS and the load average (1 min) now."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", "r", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"cpu": model, "cores": os.cpu_count(), "os": platform.platform(), "gpu": None,
            "native_bf16": bool(cpu_flags() & set(NATIVE_BF16_FLAGS)), "load_avg_1min": _load()}
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def _load() -> Optional[float]:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def versions(extra: Sequence[str] = ()) -> dict:
    """Versions of Python and the libraries that matter ("not installed" when missing).

    Read from the installed distributions' metadata, without importing the libraries
    (importing some, e.g. MediaPipe, starts threads that would disturb the timings).
    """
    from importlib import metadata, util

    out = {"python": platform.python_version()}
    for name in ("torch", "numpy", "onnx", "onnxruntime", "tensorrt") + tuple(extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "installed (version unknown)" if util.find_spec(name) else "not installed"
        except ValueError:  # a name metadata cannot look up
            out[name] = "unknown"
    return out


# ------------------------------------------------------------------ the benchmark
@dataclass
class BenchSettings:
    """What :func:`run_bench` measures."""

    configs: Tuple[str, ...] = ("lite",)
    """Model configurations (lite, paper)."""
    variants: Optional[Tuple[str, ...]] = None
    """Variant specs (see :func:`parse_variant`); None: :func:`default_variants`."""
    device: str = "auto"
    """auto, cpu or cuda."""
    iterations: int = 20
    """Measured iterations per measurement (fewer when ``budget_s`` runs out); >= 1."""
    warmup: int = 2
    """Unmeasured iterations before each measurement; >= 0."""
    budget_s: float = 8.0
    """Seconds of measured iterations per measurement, after which it stops (but never
    before ``min_iterations``); > 0."""
    min_iterations: int = 3
    """Fewest measured iterations, budget or not; >= 1."""
    batches: Tuple[int, ...] = (1, 4)
    """Frames per pipeline call in detection mode."""
    frame_hw: Tuple[int, int] = (480, 640)
    """Size of the synthetic frames (H, W) when no sequence is given, pixels."""
    num_frames: int = 8
    """Synthetic frames made (cycled through); >= 1."""
    weights_dir: Optional[str] = None
    """Weights folder (else the shipped weights of each config, else random weights)."""
    sequence: Optional[str] = None
    """NPZ of frames (see :func:`load_sequence`)."""
    peer: Optional[str] = None
    """'mediapipe' to time MediaPipe Hands on the same frames."""
    cache_dir: Optional[str] = None
    """Where exported graphs and engines are cached."""
    flip_test: bool = False
    """PoseNet also on each crop's mirror image (``PipelineConfig.flip_test``)."""
    segmentation_hw: Optional[Tuple[int, int]] = None
    """(H, W) HandSegNet reads instead of the weights' size (None: theirs)."""
    extra_candidates: Optional[int] = None
    """Mask components posed beyond the most hands (``PipelineConfig.extra_candidates``;
    None: its default)."""
    refine_passes: Optional[int] = None
    """Re-crops around each detected hand's keypoints (``PipelineConfig.refine_passes``;
    None: its default)."""
    refine_max_overlap: Optional[float] = None
    """Which hands are re-cropped (``PipelineConfig.refine_max_overlap``; None: its default)."""
    zoom_out_factor: Optional[float] = None
    """Low-scoring hands posed again in a larger window (``PipelineConfig.zoom_out_factor``;
    None: its default)."""


@dataclass
class BenchReport:
    """Everything measured (JSON-ready through :meth:`as_dict`)."""

    machine: dict
    versions: dict
    settings: dict
    results: List[dict] = field(default_factory=list)
    summary: List[dict] = field(default_factory=list)
    unavailable: List[dict] = field(default_factory=list)
    peer: dict = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    interrupted: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def _timed_loop(step: Callable[[int], Dict[str, float]], settings: BenchSettings) -> List[Dict[str, float]]:
    """Warm up, then call ``step(i)`` (which returns {key: ms}) until ``iterations`` or the
    budget is spent (never fewer than ``min_iterations``)."""
    for i in range(settings.warmup):
        step(i)
    samples, started = [], time.perf_counter()
    for i in range(settings.iterations):
        samples.append(step(settings.warmup + i))
        spent = time.perf_counter() - started
        if len(samples) >= settings.min_iterations and spent > settings.budget_s:
            break
    return samples


class _Progress:
    def __init__(self, log: Callable[[str], None]):
        self.log, self.count = log, 0

    def __call__(self, text: str) -> None:
        self.count += 1
        self.log(f"[{self.count}] {text}")


def _result(config: str, variant: str, mode: str, batch: int, samples, extra: Optional[dict] = None) -> dict:
    stages = summarize(samples)
    p50 = stages.get(TOTAL, {}).get("p50")
    out = {"config": config, "variant": variant, "mode": mode, "batch": batch, "iterations": len(samples),
           "stages_ms": stages, "fps": (batch * 1000.0 / p50) if p50 else None}
    out.update(extra or {})
    return out


def _measure_pipeline(pipeline, frames: np.ndarray, batch: int, settings: BenchSettings):
    """Detection mode: per-stage times, total wall-clock and 'unattributed' (total minus the stages)."""
    count = frames.shape[0]
    hands = []

    def step(i: int) -> Dict[str, float]:
        index = [(i * batch + j) % count for j in range(batch)]
        started = time.perf_counter()
        results = pipeline.detect(frames[index])
        total = (time.perf_counter() - started) * 1e3
        stages = dict(results[0].timings_ms)
        hands.append(sum(len(r.hands) for r in results) / batch)
        stages["unattributed"] = max(0.0, total - sum(stages.values()))
        stages[TOTAL] = total
        return stages

    samples = _timed_loop(step, settings)
    return samples, float(np.mean(hands)) if hands else 0.0


def _measure_tracking(pipeline, frames: np.ndarray, boxes: List[List[float]], settings: BenchSettings):
    count = frames.shape[0]

    def step(i: int) -> Dict[str, float]:
        started = time.perf_counter()
        result = pipeline.pose_in_boxes(frames[i % count], [boxes[i % count]])
        total = (time.perf_counter() - started) * 1e3
        stages = dict(result.timings_ms)
        stages["unattributed"] = max(0.0, total - sum(stages.values()))
        stages[TOTAL] = total
        return stages

    return _timed_loop(step, settings)


def _measure_networks(backend, calls: Dict[str, list], settings: BenchSettings) -> List[Dict[str, float]]:
    """The floor: each captured network call on ready tensors (on the backend's device),
    synchronised around each, summed into 'total'."""
    ready = {name: [tuple(a.to(backend.device) for a in args) for args in items] for name, items in calls.items()}

    def step(_i: int) -> Dict[str, float]:
        times = {}
        for name in ("handsegnet", "posenet", "poseprior"):
            if not ready.get(name):
                continue
            backend.synchronize()
            started = time.perf_counter()
            for args in ready[name]:
                getattr(backend, name)(*args)
            backend.synchronize()
            times[name] = (time.perf_counter() - started) * 1e3
        times[TOTAL] = sum(times.values())
        return times

    return _timed_loop(step, settings)


def _capture(pipeline, backend, call: Callable[[], object]) -> Dict[str, list]:
    """Run ``call`` once with a recording wrapper around the pipeline's backend."""
    from hand3d_ros.inference.export import RecordingBackend

    recorder = RecordingBackend(backend)
    pipeline.backend = recorder
    try:
        call()
    finally:
        pipeline.backend = backend
    return recorder.calls


def _create_backend(variant: Variant, model_set, cache_dir):
    import torch

    from hand3d_ros.inference.backends.select import create_backend

    threads = torch.get_num_threads()
    try:
        return create_backend(variant.backend, model_set, device=variant.device, precision=variant.precision,
                              cache_dir=cache_dir, num_threads=variant.threads, log=lambda _line: None)
    finally:
        torch.set_num_threads(threads)  # a torch variant with threads must not change the others


def _model_set(config: str, settings: BenchSettings):
    from hand3d_ros.inference.model_set import resolve_model_set

    return resolve_model_set(settings.weights_dir, config, allow_random_weights=True).with_segmentation_size(
        settings.segmentation_hw)


def run_bench(settings: BenchSettings, log: Callable[[str], None] = print) -> BenchReport:
    """Measure everything :class:`BenchSettings` asks for.

    Ctrl-C (KeyboardInterrupt) stops the run and returns what was measured so far with
    ``interrupted = True``. ``log`` receives one progress line per measurement.
    """
    import torch

    from hand3d_ros.inference.backends.base import BackendUnavailable
    from hand3d_ros.inference.pipeline import HandPosePipeline, PipelineConfig

    device = settings.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    machine = machine_info()
    report = BenchReport(machine=machine, versions=versions(("mediapipe",) if settings.peer else ()),
                         settings={**asdict(settings), "device": device})
    progress = _Progress(log)
    if settings.variants:
        variants, skipped = [parse_variant(v, device) for v in settings.variants], []
    else:
        variants, skipped = default_variants(device, machine["cores"] or 1)
    report.unavailable.extend(skipped)

    if settings.sequence:
        frames, uv = load_sequence(settings.sequence)
        source = f"sequence {settings.sequence} ({frames.shape[0]} frames {frames.shape[2]}x{frames.shape[1]})"
    else:
        from hand3d_ros.inference.synthetic import synthetic_hand_frames

        frames, uv = synthetic_hand_frames(settings.num_frames, *settings.frame_hw), None
        source = f"{frames.shape[0]} synthetic frames {frames.shape[2]}x{frames.shape[1]}"
    boxes = [tracking_box(frames.shape[1], frames.shape[2], None if uv is None else uv[i])
             for i in range(frames.shape[0])]
    report.notes.append(f"frames: {source}")
    report.notes.append("PoseNet flip_test: " + ("on (each crop and its mirror image)" if settings.flip_test else "off"))

    try:
        for config in settings.configs:
            model_set = _model_set(config, settings)
            chosen = {name: getattr(settings, name) for name in DETECTION_SETTINGS
                      if getattr(settings, name) is not None}
            pipeline_config = PipelineConfig(flip_test=settings.flip_test, **chosen)
            seg_h, seg_w = model_set.seg_input_hw
            report.notes.append(f"{config}: HandSegNet reads {seg_w}x{seg_h}, extra_candidates "
                                f"{pipeline_config.extra_candidates}, refine_passes "
                                f"{pipeline_config.refine_passes}, refine_max_overlap "
                                f"{pipeline_config.refine_max_overlap:g} (PoseNet again per detected hand whose "
                                "keypoint crop overlaps its crop by at most that IoU), zoom_out_factor "
                                f"{pipeline_config.zoom_out_factor:g} (below score "
                                f"{pipeline_config.zoom_out_below_score:g})")
            if model_set.random:
                pipeline_config = replace(pipeline_config, detection_threshold=FORCED_DETECTION_THRESHOLD)
                report.notes.append(f"{config}: random weights; detection threshold {FORCED_DETECTION_THRESHOLD} "
                                    "so that every frame holds one hand (the whole frame)")
            for variant in variants:
                try:
                    backend = _create_backend(variant, model_set, settings.cache_dir)
                except (BackendUnavailable, ImportError) as err:
                    report.unavailable.append({"config": config, "variant": variant.label, "reason": str(err)})
                    progress(f"{config} {variant.label}: unavailable ({err})")
                    continue
                _bench_variant(report, progress, config, model_set, variant, backend,
                               HandPosePipeline(backend, model_set, pipeline_config), frames, boxes, settings)
                del backend
        if settings.peer:
            report.peer = run_peer(settings.peer, frames, settings, progress)
    except KeyboardInterrupt:
        report.interrupted = True
        progress("interrupted: reporting what was measured so far")
    report.machine["load_avg_1min_end"] = _load()
    return report


def _bench_variant(report: BenchReport, progress, config, model_set, variant: Variant, backend, pipeline,
                   frames, boxes, settings: BenchSettings) -> None:
    label = f"{variant.label}"
    described = backend.describe()
    summary = {"config": config, "model_set": model_set.name, "variant": label, "backend": described}
    for batch in settings.batches:
        progress(f"{config} {label}: detect, batch {batch}")
        samples, hands = _measure_pipeline(pipeline, frames, batch, settings)
        detect = _result(config, label, "detect", batch, samples, {"hands_per_frame": hands, "backend": described})
        report.results.append(detect)
        calls = _capture(pipeline, backend, lambda: pipeline.detect(frames[[i % frames.shape[0] for i in range(batch)]]))
        progress(f"{config} {label}: networks alone, batch {batch}")
        floor = _result(config, label, "networks", batch, _measure_networks(backend, calls, settings),
                        {"calls": {k: [list(a[0].shape) for a in v] for k, v in calls.items()}})
        report.results.append(floor)
        total, net = detect["stages_ms"][TOTAL]["p50"], floor["stages_ms"][TOTAL]["p50"]
        summary[f"batch{batch}"] = {
            "total_p50_ms": total, "per_frame_p50_ms": total / batch, "fps": detect["fps"],
            "networks_p50_ms": net, "overhead_ratio": (total / net) if net else None,
            "hands_per_frame": hands,
        }
    progress(f"{config} {label}: tracking (PoseNet + PosePrior in a fixed box)")
    track = _result(config, label, "track", 1, _measure_tracking(pipeline, frames, boxes, settings),
                    {"backend": described})
    report.results.append(track)
    calls = _capture(pipeline, backend, lambda: pipeline.pose_in_boxes(frames[0], [boxes[0]]))
    track_floor = _result(config, label, "track_networks", 1, _measure_networks(backend, calls, settings))
    report.results.append(track_floor)
    t_total, t_net = track["stages_ms"][TOTAL]["p50"], track_floor["stages_ms"][TOTAL]["p50"]
    summary["track"] = {"total_p50_ms": t_total, "fps": track["fps"], "networks_p50_ms": t_net,
                        "overhead_ratio": (t_total / t_net) if t_net else None}
    detect1 = summary.get("batch1", {}).get("total_p50_ms")
    summary["track"]["speedup_vs_detect"] = (detect1 / t_total) if detect1 and t_total else None
    report.summary.append(summary)


# ------------------------------------------------------------------ the peer
def run_peer(name: str, frames: np.ndarray, settings: BenchSettings, progress=print) -> dict:
    """Time a peer system on the same frames; only 'mediapipe' is known.

    Imported here, after every other measurement, so that its libraries (TFLite, XNNPACK,
    OpenCV threads) cannot disturb them.
    """
    if name != "mediapipe":
        return {"name": name, "available": False, "reason": f"unknown peer '{name}' (known: mediapipe)"}
    try:
        import mediapipe
    except ImportError as err:
        teacher = _teacher_python()
        if teacher is not None:  # the teacher venv (make teacher) has it: time it there
            return _peer_in_teacher_venv(teacher, frames, settings, progress)
        progress(f"peer mediapipe: not installed ({err}); {MEDIAPIPE_HINT}")
        return {"name": "mediapipe", "available": False, "reason": f"not installed ({err})", "install": MEDIAPIPE_HINT}
    out = {"name": "mediapipe", "available": True, "version": getattr(mediapipe, "__version__", "unknown"),
           "model": "Hands (legacy solution), model_complexity=1, max_num_hands=1"}
    try:
        _time_mediapipe(mediapipe, frames, settings, progress, out)
    except Exception as err:  # e.g. a MediaPipe without the legacy 'solutions' API
        progress(f"peer mediapipe: failed ({type(err).__name__}: {err})")
        return {"name": "mediapipe", "available": False, "reason": f"{type(err).__name__}: {err}",
                "install": MEDIAPIPE_HINT}
    return out


def _teacher_python():
    """The teacher venv's python (``make teacher``), or None."""
    from hand3d_ros.teacher.client import TeacherError, find_teacher_python

    try:
        return find_teacher_python()
    except TeacherError:
        return None


def _peer_in_teacher_venv(python, frames: np.ndarray, settings: BenchSettings, progress) -> dict:
    """MediaPipe timed in the teacher venv (``teacher/peer_bench.py``) on the same frames,
    same warm-up, iterations and budget; while it runs, nothing else of ours does."""
    import json
    import subprocess
    import tempfile
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "teacher" / "peer_bench.py"
    progress(f"peer mediapipe: in the teacher venv ({python})")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frames.npy"
        np.save(path, np.ascontiguousarray(frames))
        done = subprocess.run([str(python), str(script), str(path), str(settings.warmup), str(settings.iterations),
                               str(settings.min_iterations), str(settings.budget_s)],
                              capture_output=True, text=True)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        progress(f"peer mediapipe: failed in the teacher venv ({reason})")
        return {"name": "mediapipe", "available": False, "reason": reason, "install": MEDIAPIPE_HINT}
    reply = json.loads(done.stdout.strip().splitlines()[-1])
    out = {"name": "mediapipe", "available": True, "version": reply["version"],
           "model": "Hands (legacy solution), model_complexity=1, max_num_hands=1 (teacher venv)"}
    for mode in ("detect", "track"):
        out[mode] = _peer_mode([{TOTAL: ms} for ms in reply[mode]["ms"]], reply[mode]["hands"])
    return out


def _peer_mode(samples: List[Dict[str, float]], hands_found: Sequence[int]) -> dict:
    """One peer mode's report entry from its timed samples and hands found per frame."""
    stages = summarize(samples)
    p50 = stages[TOTAL]["p50"] if samples else None
    return {"stages_ms": stages, "fps": 1000.0 / p50 if p50 else None, "iterations": len(samples),
            "hands_per_frame": float(np.mean(hands_found)) if len(hands_found) else 0.0}


def _time_mediapipe(mediapipe, frames: np.ndarray, settings: BenchSettings, progress, out: dict) -> None:
    """Detection (static_image_mode=True) and tracking (False) timings into ``out``."""
    for mode, static in (("detect", True), ("track", False)):
        progress(f"peer mediapipe: {mode} (static_image_mode={static})")
        hands_found = []
        with mediapipe.solutions.hands.Hands(static_image_mode=static, max_num_hands=1, model_complexity=1,
                                             min_detection_confidence=0.5) as hands:
            def step(i: int) -> Dict[str, float]:
                frame = np.ascontiguousarray(frames[i % frames.shape[0]])
                started = time.perf_counter()
                result = hands.process(frame)
                hands_found.append(len(result.multi_hand_landmarks or []))
                return {TOTAL: (time.perf_counter() - started) * 1e3}

            samples = _timed_loop(step, settings)
        out[mode] = _peer_mode(samples, hands_found)


# ------------------------------------------------------------------ printing
_STAGE_COLUMNS = ("preprocess", "handsegnet", "mask_crop", "posenet", "decode", "poseprior")


def _fmt(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_report(report: dict) -> str:
    """Human-readable tables of a report (as from :meth:`BenchReport.as_dict`)."""
    m, v = report["machine"], report["versions"]
    lines = [
        f"machine: {m['cpu']} ({m['cores']} cores), GPU: {m['gpu'] or 'none'}, native bf16: "
        f"{'yes' if m.get('native_bf16') else 'no'}, load {m.get('load_avg_1min')} -> {m.get('load_avg_1min_end')}",
        "versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
    ]
    lines += [f"note: {n}" for n in report.get("notes", [])]
    header = (f"{'config':6s} {'variant':26s} {'mode':15s} {'b':>2s} " + " ".join(f"{s[:10]:>10s}" for s in _STAGE_COLUMNS)
              + f" {'total p50/p90/p99 ms':>22s} {'FPS':>7s} {'n':>3s}")
    lines += ["", "per-stage p50 latency (ms; per call: a batch of b frames)", header]
    for r in report["results"]:
        st = r["stages_ms"]
        if r["mode"] in ("networks", "track_networks"):
            cells = [_fmt(st.get(s, {}).get("p50")) if s in ("handsegnet", "posenet", "poseprior") else ""
                     for s in _STAGE_COLUMNS]
        else:
            cells = [_fmt(st.get(s, {}).get("p50")) for s in _STAGE_COLUMNS]
        t = st.get(TOTAL, {})
        total = f"{_fmt(t.get('p50'))}/{_fmt(t.get('p90'))}/{_fmt(t.get('p99'))}"
        lines.append(f"{r['config']:6s} {r['variant']:26s} {r['mode']:15s} {r['batch']:>2d} "
                     + " ".join(f"{c:>10s}" for c in cells) + f" {total:>22s} {_fmt(r.get('fps')):>7s} "
                     f"{r['iterations']:>3d}")
    lines += ["", "summary (p50): total vs the networks alone; overhead = total / networks",
              f"{'config':6s} {'variant':26s} {'batch':>5s} {'total ms':>9s} {'per frame':>9s} {'FPS':>7s} "
              f"{'networks':>9s} {'overhead':>8s} {'hands/fr':>8s}"]
    for s in report["summary"]:
        for key in sorted(k for k in s if k.startswith("batch")):
            b = s[key]
            lines.append(f"{s['config']:6s} {s['variant']:26s} {key[5:]:>5s} {_fmt(b['total_p50_ms']):>9s} "
                         f"{_fmt(b['per_frame_p50_ms']):>9s} {_fmt(b['fps']):>7s} {_fmt(b['networks_p50_ms']):>9s} "
                         f"{_fmt(b['overhead_ratio'], 2):>8s} {_fmt(b['hands_per_frame'], 2):>8s}")
        t = s.get("track")
        if t:
            lines.append(f"{s['config']:6s} {s['variant']:26s} {'track':>5s} {_fmt(t['total_p50_ms']):>9s} "
                         f"{_fmt(t['total_p50_ms']):>9s} {_fmt(t['fps']):>7s} {_fmt(t['networks_p50_ms']):>9s} "
                         f"{_fmt(t['overhead_ratio'], 2):>8s}  (x{_fmt(t['speedup_vs_detect'], 2)} vs detect)")
    peer = report.get("peer") or {}
    if peer:
        lines.append("")
        if peer.get("available"):
            for mode in ("detect", "track"):
                if mode in peer:
                    t = peer[mode]["stages_ms"][TOTAL]
                    lines.append(f"peer {peer['name']} {peer.get('version', '')} {mode}: p50/p90/p99 "
                                 f"{_fmt(t['p50'])}/{_fmt(t['p90'])}/{_fmt(t['p99'])} ms, "
                                 f"{_fmt(peer[mode]['fps'])} FPS, hands/frame {_fmt(peer[mode]['hands_per_frame'], 2)}")
        else:
            lines.append(f"peer {peer.get('name')}: {peer.get('reason')}" +
                         (f"; {peer['install']}" if peer.get("install") else ""))
    if report.get("unavailable"):
        lines.append("")
        lines += [f"not measured: {u.get('config', '')} {u['variant']}: {u['reason']}".replace("  ", " ")
                  for u in report["unavailable"]]
    if report.get("interrupted"):
        lines.append("INTERRUPTED: partial results")
    return "\n".join(lines)
