"""TensorRT backend: engines built from the exported ONNX graphs with the TensorRT 10 Python API.

Build (once per key, see :mod:`hand3d_ros.inference.engine_cache`): ``trt.Builder`` ->
network (explicit batch, the only mode in TensorRT 10) -> ``trt.OnnxParser`` ->
``IBuilderConfig`` (workspace limit, FP16 or INT8 flag, one optimisation profile over the
dynamic batch axis, a shared timing cache, an ``IInt8EntropyCalibrator2`` for INT8) ->
``build_serialized_network`` -> stored atomically with a JSON sidecar.

Run: ``Runtime.deserialize_cuda_engine`` -> ``create_execution_context``; per call
``set_input_shape`` and ``set_tensor_address`` with the ``data_ptr()`` of torch CUDA
tensors (outputs allocated by torch), then ``execute_async_v3`` on torch's current CUDA
stream, so the engines queue behind and ahead of the pipeline's torch work with no host
synchronisation. Batches larger than the profile's maximum are run in chunks.

TensorRT is imported lazily; without it (or without a CUDA GPU) the constructor raises
:class:`BackendUnavailable`. The pure parts (profile shapes, chunking, calibration
batching, cache keys) are functions below, tested without TensorRT.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from hand3d_ros.inference.backends.base import Backend, BackendUnavailable, posenet_result
from hand3d_ros.inference.model_set import ModelSet

#: Oldest TensorRT major version this backend is written for (named I/O tensors, enqueueV3).
MIN_TENSORRT_MAJOR = 10
PRECISIONS = ("fp32", "fp16", "int8")

Shape = Tuple[int, ...]
ProfileShapes = Dict[str, Tuple[Shape, Shape, Shape]]


@dataclass(frozen=True)
class BatchLimits:
    """Optimisation-profile batch sizes of one network: min 1, ``opt`` (tuned for), ``max``."""

    opt: int
    max: int

    def __post_init__(self):
        if not 1 <= self.opt <= self.max:
            raise ValueError(f"batch limits need 1 <= opt <= max, got opt={self.opt}, max={self.max}")


@dataclass(frozen=True)
class TensorRTSettings:
    """Builder settings of :class:`TensorRTBackend`."""

    handsegnet_batch: BatchLimits = BatchLimits(opt=1, max=8)
    """Frames per HandSegNet call (one per frame)."""
    posenet_batch: BatchLimits = BatchLimits(opt=1, max=16)
    """Crops per PoseNet call (one per hand)."""
    poseprior_batch: BatchLimits = BatchLimits(opt=2, max=32)
    """Rows per PosePrior call (two per hand with automatic handedness)."""
    workspace_bytes: int = 1 << 30
    """Builder workspace limit (MemoryPoolType.WORKSPACE), bytes; > 0."""
    builder_optimization_level: int = 3
    """TensorRT's builder optimisation level, 0..5 (higher: longer builds, maybe faster engines)."""
    calibration_batch: int = 8
    """Batch size of the INT8 calibration batches; >= 1."""
    calibration_frames: int = 32
    """Synthetic frames used for INT8 calibration when none are given (a poor substitute
    for real ones: pass representative frames); >= 1."""

    def limits(self, network: str) -> BatchLimits:
        return {"handsegnet": self.handsegnet_batch, "posenet": self.posenet_batch,
                "poseprior": self.poseprior_batch}[network]


# ----------------------------------------------------------------------- pure helpers
def profile_shapes(sample_shapes: Mapping[str, Shape], limits: BatchLimits) -> ProfileShapes:
    """(min, opt, max) shapes of every input for one optimisation profile over the batch axis.

    Args:
        sample_shapes: input name -> shape of one sample (no batch axis), e.g.
            ``{"image": (3, 240, 320)}``.
        limits: batch sizes (min is always 1).
    Returns:
        input name -> ((1, ...), (opt, ...), (max, ...)).
    """
    return {name: ((1,) + tuple(shape), (limits.opt,) + tuple(shape), (limits.max,) + tuple(shape))
            for name, shape in sample_shapes.items()}


def batch_chunks(total: int, max_batch: int) -> List[Tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(total)`` in pieces of at most ``max_batch``."""
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    return [(start, min(start + max_batch, total)) for start in range(0, max(total, 0), max_batch)]


def check_input_shape(name: str, shape: Shape, shapes: Tuple[Shape, Shape, Shape]) -> None:
    """Raise ValueError unless ``shape`` lies inside the profile's (min, max) box."""
    low, _, high = shapes
    if len(shape) != len(low) or any(s < lo or s > hi for s, lo, hi in zip(shape, low, high)):
        raise ValueError(f"input {name}: shape {tuple(shape)} is outside the engine's profile "
                         f"{tuple(low)} .. {tuple(high)}")


def calibration_batches(samples: Mapping[str, np.ndarray], batch_size: int) -> List[Dict[str, np.ndarray]]:
    """Split calibration samples into equal batches (TensorRT wants every batch full).

    Args:
        samples: input name -> (M, ...) float32 array; every input has the same M >= 1.
        batch_size: >= 1.
    Returns:
        ``ceil(M / batch_size)`` dicts of (batch_size, ...) contiguous float32 arrays; the
        last one is completed with samples from the start (wrap-around), so every sample
        is seen and no batch is short. With M < batch_size the samples repeat.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    counts = {name: int(np.asarray(a).shape[0]) for name, a in samples.items()}
    if not counts or len(set(counts.values())) != 1 or next(iter(counts.values())) < 1:
        raise ValueError(f"calibration inputs need the same number (>= 1) of samples each, got {counts}")
    total = next(iter(counts.values()))
    batches = []
    for start in range(0, total, batch_size):
        index = np.arange(start, start + batch_size) % total
        batches.append({name: np.ascontiguousarray(np.asarray(a)[index], dtype=np.float32)
                        for name, a in samples.items()})
    return batches


def arrays_sha256(samples: Mapping[str, np.ndarray]) -> str:
    """Hex sha256 over named arrays (name, dtype, shape, bytes; names sorted): identifies a
    calibration set in the engine's cache key."""
    digest = hashlib.sha256()
    for name in sorted(samples):
        array = np.ascontiguousarray(samples[name])
        digest.update(f"{name}\0{array.dtype.str}\0{array.shape}\0".encode("utf-8"))
        digest.update(array.tobytes())
    return digest.hexdigest()


def calibration_samples(captured: Mapping[str, list], network: str, input_names: Sequence[str]) -> Dict[str, np.ndarray]:
    """Concatenate the captured calls of one network (see
    :func:`hand3d_ros.inference.export.capture_network_inputs`) into name -> (M, ...) arrays."""
    calls = captured.get(network, [])
    if not calls:
        raise ValueError(f"no calibration inputs were captured for {network}")
    return {name: np.concatenate([call[i].numpy() for call in calls], axis=0).astype(np.float32)
            for i, name in enumerate(input_names)}


# ----------------------------------------------------------------------- TensorRT parts
def import_tensorrt():
    """The ``tensorrt`` module (10 or newer), or :class:`BackendUnavailable`."""
    try:
        import tensorrt as trt
    except ImportError as err:
        raise BackendUnavailable(
            f"TensorRT is not installed ({err}): the tensorrt backend needs the TensorRT {MIN_TENSORRT_MAJOR}+ "
            "Python package (pip install tensorrt, or JetPack on Jetson) and a CUDA GPU"
        ) from None
    check_tensorrt_version(str(trt.__version__))
    return trt


def check_tensorrt_version(version: str) -> None:
    """Raise :class:`BackendUnavailable` unless ``version`` (e.g. ``"10.3.0"``) is at least
    :data:`MIN_TENSORRT_MAJOR`."""
    head = version.split(".")[0]
    if not head.isdigit() or int(head) < MIN_TENSORRT_MAJOR:
        raise BackendUnavailable(f"TensorRT {version} is too old or unknown: the tensorrt backend needs "
                                 f"{MIN_TENSORRT_MAJOR} or newer")


def gpu_identity(device: torch.device) -> Tuple[str, Tuple[int, int]]:
    """(name, (major, minor) compute capability) of a CUDA device."""
    return torch.cuda.get_device_name(device), tuple(int(v) for v in torch.cuda.get_device_capability(device))


def make_calibrator(trt, batches: List[Dict[str, np.ndarray]], cache_path, device: torch.device):
    """An ``IInt8EntropyCalibrator2`` that feeds ``batches`` (see :func:`calibration_batches`)
    and keeps its calibration table at ``cache_path``."""
    from hand3d_ros.inference.engine_cache import atomic_write_bytes

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)
            self._index = 0
            self._alive = []  # device copies of the current batch, kept until the next call

        def get_batch_size(self):
            return int(next(iter(batches[0].values())).shape[0])

        def get_batch(self, names):
            if self._index >= len(batches):
                return None
            batch = batches[self._index]
            self._index += 1
            self._alive = [torch.from_numpy(batch[name]).to(device) for name in names]
            torch.cuda.synchronize(device)
            return [int(t.data_ptr()) for t in self._alive]

        def read_calibration_cache(self):
            try:
                with open(cache_path, "rb") as handle:
                    return handle.read()
            except OSError:
                return None

        def write_calibration_cache(self, cache):
            atomic_write_bytes(cache_path, bytes(cache))

    return EntropyCalibrator()


def build_engine(trt, onnx_path: str, shapes: ProfileShapes, precision: str, settings: TensorRTSettings,
                 timing_cache_file=None, calibrator=None) -> bytes:
    """Parse an ONNX file and build a serialised engine (see the module docstring).

    Args:
        trt: the tensorrt module.
        onnx_path: the exported graph.
        shapes: the optimisation profile (see :func:`profile_shapes`).
        precision: fp32 (TF32 off), fp16, or int8 (needs ``calibrator``; FP16 fallback).
        timing_cache_file: read before and written after the build (None: no cache).
    Returns:
        The serialised engine.
    """
    from hand3d_ros.inference.engine_cache import atomic_write_bytes

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(settings.workspace_bytes))
    config.builder_optimization_level = int(settings.builder_optimization_level)
    flags = trt.BuilderFlag
    if precision == "fp32" and hasattr(flags, "TF32"):
        config.clear_flag(flags.TF32)  # strict FP32 (TF32 is on by default on Ampere and newer)
    if precision in ("fp16", "int8"):
        if not hasattr(flags, "FP16"):
            raise BackendUnavailable(f"TensorRT {trt.__version__} has no FP16 builder flag (weakly typed "
                                     "networks were removed): use fp32, or TensorRT 10")
        config.set_flag(flags.FP16)  # int8: layers without INT8 kernels fall back to FP16
    profile = builder.create_optimization_profile()
    for name, (low, opt, high) in shapes.items():
        profile.set_shape(name, low, opt, high)
    config.add_optimization_profile(profile)
    if precision == "int8":
        if not (hasattr(flags, "INT8") and hasattr(config, "int8_calibrator")):
            raise BackendUnavailable(f"TensorRT {trt.__version__} has no INT8 calibration (implicit "
                                     "quantization was removed after TensorRT 10): use fp16")
        config.set_flag(flags.INT8)
        config.int8_calibrator = calibrator
        calibration = builder.create_optimization_profile()
        batch = calibrator.get_batch_size()
        for name, (low, _, _) in shapes.items():
            fixed = (batch,) + tuple(low[1:])
            calibration.set_shape(name, fixed, fixed, fixed)
        config.set_calibration_profile(calibration)
    timing_bytes = b""
    if timing_cache_file is not None:
        try:
            with open(timing_cache_file, "rb") as handle:
                timing_bytes = handle.read()
        except OSError:
            timing_bytes = b""
    timing_cache = config.create_timing_cache(timing_bytes)
    config.set_timing_cache(timing_cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path} ({precision})")
    if timing_cache_file is not None:
        atomic_write_bytes(timing_cache_file, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


_TORCH_DTYPES = {"FLOAT": torch.float32, "HALF": torch.float16, "INT32": torch.int32, "INT8": torch.int8,
                 "BOOL": torch.bool, "INT64": torch.int64, "BF16": torch.bfloat16}


class _Engine:
    """One deserialised engine with its execution context, run on torch tensors."""

    def __init__(self, runtime, data: bytes, network: str, input_names, output_names, shapes: ProfileShapes,
                 device: torch.device):
        self.network, self.device = network, device
        self.engine = runtime.deserialize_cuda_engine(data)
        if self.engine is None:
            raise RuntimeError(f"TensorRT could not deserialise the {network} engine")
        self.context = self.engine.create_execution_context()
        self.input_names, self.output_names, self.shapes = list(input_names), list(output_names), shapes
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        missing = [n for n in self.input_names + self.output_names if n not in names]
        if missing:
            raise RuntimeError(f"the {network} engine lacks tensors {missing} (has {names})")
        self.max_batch = int(shapes[self.input_names[0]][2][0])

    def _dtype(self, name: str) -> torch.dtype:
        return _TORCH_DTYPES[self.engine.get_tensor_dtype(name).name]

    def __call__(self, args: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        total = int(args[0].shape[0])
        pieces = [self._run_chunk([a[start:stop] for a in args]) for start, stop in batch_chunks(total, self.max_batch)]
        if len(pieces) == 1:
            return pieces[0]
        return [torch.cat([p[i] for p in pieces], dim=0) for i in range(len(self.output_names))]

    def _run_chunk(self, args: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        inputs = [a.detach().to(self.device, self._dtype(n)).contiguous() for n, a in zip(self.input_names, args)]
        for name, tensor in zip(self.input_names, inputs):
            check_input_shape(name, tuple(tensor.shape), self.shapes[name])
            self.context.set_input_shape(name, tuple(tensor.shape))
            self.context.set_tensor_address(name, int(tensor.data_ptr()))
        outputs = []
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            out = torch.empty(shape, dtype=self._dtype(name), device=self.device)
            self.context.set_tensor_address(name, int(out.data_ptr()))
            outputs.append(out)
        stream = torch.cuda.current_stream(self.device).cuda_stream
        if not self.context.execute_async_v3(stream):
            raise RuntimeError(f"TensorRT failed to run the {self.network} engine")
        return [o.float() for o in outputs]


class TensorRTBackend(Backend):
    """HandSegNet, PoseNet and PosePrior as TensorRT engines on a CUDA GPU.

    Args:
        model_set: the networks (exported to ONNX first, cached).
        precision: fp32, fp16 or int8 (int8 calibrates on ``calibration_frames``, else on
            synthetic frames, with a warning).
        cache_dir: ONNX files and engines (see :mod:`hand3d_ros.inference.engine_cache`).
        force_rebuild: build even when a cached engine matches.
        device: ``"cuda"`` or ``"cuda:<index>"``.
        settings: profile batch sizes, workspace, calibration batch.
        calibration_frames: (M, H, W, 3) uint8 representative frames for INT8.
        log: one line per engine built or loaded.

    Raises:
        BackendUnavailable: TensorRT missing or older than 10, no CUDA GPU, unknown precision.
    """

    def __init__(self, model_set: ModelSet, precision: str = "fp16", cache_dir: Optional[str] = None,
                 force_rebuild: bool = False, device: str = "cuda", settings: Optional[TensorRTSettings] = None,
                 calibration_frames: Optional[np.ndarray] = None, log: Callable[[str], None] = print):
        if precision not in PRECISIONS:
            raise BackendUnavailable(f"tensorrt backend: precision '{precision}' is not supported "
                                     f"({', '.join(PRECISIONS)})")
        trt = import_tensorrt()
        if not torch.cuda.is_available():
            raise BackendUnavailable("tensorrt backend: no CUDA GPU is visible to torch")
        from hand3d_ros.inference import engine_cache, export

        self.device = torch.device(device)
        if self.device.type != "cuda":
            raise BackendUnavailable(f"tensorrt backend: runs on CUDA devices only, not '{device}'")
        if self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.precision, self.name = precision, "tensorrt"
        self.settings = settings or TensorRTSettings()
        cache = engine_cache.resolve_cache_dir(cache_dir)
        graphs = export.export_model_set(model_set, cache_dir=cache)
        gpu_name, capability = gpu_identity(self.device)
        timing = engine_cache.timing_cache_path(trt.__version__, gpu_name, capability, cache)
        captured = None
        if precision == "int8":
            if calibration_frames is None:
                from hand3d_ros.inference.synthetic import synthetic_hand_frames

                log("WARNING: INT8 calibration on synthetic frames; pass representative frames for a usable engine")
                calibration_frames = synthetic_hand_frames(self.settings.calibration_frames)
            captured = export.capture_network_inputs(model_set, np.asarray(calibration_frames))
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engines: Dict[str, _Engine] = {}
        with torch.cuda.device(self.device):
            for network, graph in graphs.items():
                shapes = profile_shapes(export.sample_input_shapes(model_set, network), self.settings.limits(network))
                options = {"workspace_bytes": self.settings.workspace_bytes,
                           "builder_optimization_level": self.settings.builder_optimization_level}
                calibrator = None
                if captured is not None:
                    samples = calibration_samples(captured, network, graph.signature.inputs)
                    options["calibration_sha256"] = arrays_sha256(samples)
                    options["calibration_batch"] = self.settings.calibration_batch
                key = engine_cache.EngineKey(
                    name=network, onnx_sha256=engine_cache.file_sha256(graph.path),
                    tensorrt_version=str(trt.__version__), gpu_name=gpu_name, compute_capability=capability,
                    precision=precision, profile_shapes=shapes, options=options)
                reason = engine_cache.rebuild_reason(key, cache, force_rebuild)
                if reason is None:
                    data = engine_cache.load_engine(key, cache)
                    log(f"tensorrt: {network} engine from cache ({engine_cache.engine_path(key, cache).name})")
                else:
                    log(f"tensorrt: building the {network} engine ({precision}; {reason}) ...")
                    if captured is not None:
                        batches = calibration_batches(samples, self.settings.calibration_batch)
                        table = engine_cache.engine_path(key, cache).with_suffix(".calib")
                        calibrator = make_calibrator(trt, batches, table, self.device)
                    started = time.perf_counter()
                    data = build_engine(trt, str(graph.path), shapes, precision, self.settings, timing, calibrator)
                    seconds = time.perf_counter() - started
                    path = engine_cache.store_engine(key, data, cache, build_seconds=seconds)
                    log(f"tensorrt: built {path.name} in {seconds:.1f} s")
                self.engines[network] = _Engine(runtime, data, network, graph.signature.inputs,
                                                graph.signature.outputs, shapes, self.device)

    def handsegnet(self, images):
        """(N, 3, H, W) -> (N, 2, H, W) logits (CUDA, float32)."""
        return self.engines["handsegnet"]([images])[0]

    def posenet(self, crops):
        """(N, 3, S, S) -> last-stage score maps (N, K, s, s), side logits (N, 2) and hand
        logits (N, 1), each head's ``None`` without it (CUDA, float32)."""
        engine = self.engines["posenet"]
        return posenet_result(engine.output_names, engine([crops]))

    def poseprior(self, maps, hand_side) -> Tuple[torch.Tensor, torch.Tensor]:
        """(N, K, s, s), (N, 2) -> w_c (N, K, 3), R (N, 3, 3) (CUDA, float32)."""
        w_c, rotation, _axis_angle = self.engines["poseprior"]([maps, hand_side.float()])
        return w_c, rotation
