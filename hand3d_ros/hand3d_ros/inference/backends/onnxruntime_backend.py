"""ONNX Runtime backend: the exported graphs (see :mod:`hand3d_ros.inference.export`) on the
CPU execution provider, or on CUDA (TensorRT EP first when present, then the CUDA EP).

CPU sessions are tuned for latency: graph optimisation level ALL, sequential execution,
memory pattern and CPU arena on, ``num_threads`` intra-op threads (0: ONNX Runtime's
default, one per physical core) and one inter-op thread. On CUDA, inputs and outputs are
bound to torch CUDA tensors with I/O binding, so frames never leave the GPU.

INT8 (CPU only): each network in :attr:`OrtSettings.int8_networks` whose weight file holds
an INT8 calibration (``hand3d calibrate-int8``) runs a QDQ INT8 graph quantized with the
stored ranges (:mod:`hand3d_ros.inference.int8`, cached beside the FP32 graph); the others
run FP32, and :meth:`OnnxRuntimeBackend.describe` says which is which.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from hand3d_ros.core.keypoints import NUM_KEYPOINTS
from hand3d_ros.inference.backends.base import Backend, BackendUnavailable, posenet_result
from hand3d_ros.inference.model_set import ModelSet
from hand3d_ros.models.tables import NUM_HAND_LOGITS, NUM_HAND_SIDES, POSENET_MAP_STRIDE

CPU_EP = "CPUExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"
TENSORRT_EP = "TensorrtExecutionProvider"
_PRECISIONS = {"cpu": ("fp32", "int8"), "cuda": ("fp32", "fp16")}
#: Networks quantized by default with precision int8. PosePrior stays FP32: measured on the
#: shipped lite weights (real photos and renders), INT8 moved its rotation matrix entries by
#: up to 0.48 on held-out frames, for a saving of about 0.1 ms per frame (0.81 -> 0.68 ms).
INT8_NETWORKS = ("handsegnet", "posenet")


def import_onnxruntime():
    """The ``onnxruntime`` module, or :class:`BackendUnavailable` saying how to get it."""
    try:
        import onnxruntime
    except ImportError as err:
        raise BackendUnavailable(
            f"onnxruntime is not installed ({err}); pip install onnxruntime (CPU) or onnxruntime-gpu (CUDA)"
        ) from None
    return onnxruntime


@dataclass(frozen=True)
class OrtSettings:
    """Session settings of :class:`OnnxRuntimeBackend` (the defaults are the tuned ones)."""

    intra_op_threads: int = 0
    """Threads inside one operator; 0: ONNX Runtime's default (one per physical core); >= 0."""
    allow_spinning: bool = False
    """Let idle intra-op threads spin after each run. Off by default: the pipeline runs
    torch code (resizing, mask growing, cropping, decoding) between the graphs, and
    spinning ONNX Runtime threads starve it (measured on a 2-core CPU: lite pipeline
    203 ms with 2 spinning threads vs 53 ms without)."""
    enable_tensorrt_ep: bool = True
    """On CUDA, put the TensorRT execution provider first when onnxruntime has it."""
    tensorrt_workspace_bytes: int = 1 << 30
    """Workspace limit of the TensorRT EP, bytes; > 0."""
    int8_networks: Tuple[str, ...] = INT8_NETWORKS
    """With precision int8: the networks to run quantized (when their weights hold an INT8
    calibration); any of handsegnet, posenet, poseprior."""


def cpu_session_options(ort, settings: OrtSettings):
    """``SessionOptions`` for low-latency CPU inference (see the module docstring)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.enable_mem_pattern = True
    options.enable_cpu_mem_arena = True
    options.intra_op_num_threads = max(0, int(settings.intra_op_threads))
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if settings.allow_spinning else "0")
    return options


def cuda_providers(available: Sequence[str], device_id: int, precision: str, cache_dir: str,
                   settings: OrtSettings) -> List[Tuple[str, dict]]:
    """Execution providers (with options) for ``device='cuda'``, best first.

    The TensorRT EP (when available and enabled) caches its engines under
    ``<cache_dir>/ort-tensorrt``; FP16 needs it (the CUDA EP runs the FP32 graph as is).

    Raises:
        BackendUnavailable: no CUDA EP, or fp16 without the TensorRT EP.
    """
    if CUDA_EP not in available:
        raise BackendUnavailable(
            f"onnxruntime has no CUDA execution provider (available: {', '.join(available)}); "
            "pip install onnxruntime-gpu"
        )
    providers = []
    use_trt = settings.enable_tensorrt_ep and TENSORRT_EP in available
    if precision == "fp16" and not use_trt:
        raise BackendUnavailable("onnxruntime fp16 needs the TensorRT execution provider "
                                 f"(available: {', '.join(available)})")
    if use_trt:
        providers.append((TENSORRT_EP, {
            "device_id": device_id,
            "trt_fp16_enable": precision == "fp16",
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": os.path.join(cache_dir, "ort-tensorrt"),
            "trt_timing_cache_enable": True,
            "trt_max_workspace_size": int(settings.tensorrt_workspace_bytes),
        }))
    providers.append((CUDA_EP, {"device_id": device_id}))
    providers.append((CPU_EP, {}))
    return providers


_NUMPY_DTYPES = {torch.float32: np.float32, torch.float16: np.float16}


class OnnxRuntimeBackend(Backend):
    """HandSegNet, PoseNet and PosePrior as ONNX Runtime sessions.

    Args:
        model_set: the networks (exported once, cached by weights hash in ``cache_dir``).
        device: ``"cpu"`` or ``"cuda"`` (``"cuda:1"`` picks a GPU).
        precision: fp32 (CPU or CUDA); fp16 (CUDA with the TensorRT EP); int8 (CPU, with
            the INT8 calibration stored in the weight files, see the module docstring).
        cache_dir: see :func:`hand3d_ros.inference.engine_cache.resolve_cache_dir`.
        num_threads: intra-op threads on the CPU (0: ONNX Runtime's default).
        settings: other session settings (``num_threads`` overrides its thread count).

    Raises:
        BackendUnavailable: onnxruntime missing, no CUDA EP for ``device='cuda'``, an
            unsupported precision; int8 when no network has an INT8 calibration or a stored
            calibration does not fit its graph (other weights, torch, opset or onnxruntime).
    """

    def __init__(self, model_set: ModelSet, device: str = "cpu", precision: str = "fp32",
                 cache_dir: Optional[str] = None, num_threads: int = 0, settings: Optional[OrtSettings] = None,
                 opset: Optional[int] = None):
        ort = import_onnxruntime()
        from hand3d_ros.inference import export
        from hand3d_ros.inference.engine_cache import resolve_cache_dir

        self.device = torch.device(device)
        if self.device.type not in _PRECISIONS:
            raise BackendUnavailable(f"onnxruntime backend: unknown device '{device}' (cpu or cuda)")
        if precision not in _PRECISIONS[self.device.type]:
            raise BackendUnavailable(f"onnxruntime backend: precision '{precision}' is not supported on "
                                     f"{self.device.type} ({', '.join(_PRECISIONS[self.device.type])})")
        settings = settings or OrtSettings()
        if num_threads > 0:
            settings = OrtSettings(**{**settings.__dict__, "intra_op_threads": int(num_threads)})
        self.settings, self.precision = settings, precision
        cache = resolve_cache_dir(cache_dir)
        available = ort.get_available_providers()
        if self.device.type == "cuda":
            device_id = self.device.index or 0
            providers = cuda_providers(available, device_id, precision, str(cache), settings)
            if not torch.cuda.is_available():
                raise BackendUnavailable("onnxruntime backend: device 'cuda' needs torch with CUDA "
                                         "(inputs and outputs are torch CUDA tensors)")
            self.device = torch.device("cuda", device_id)
        else:
            device_id, providers = 0, [(CPU_EP, {})]
        self._device_id = device_id

        self.graphs = export.export_model_set(model_set, cache_dir=cache,
                                              opset=opset or export.DEFAULT_OPSET)
        #: network -> the INT8 graph file it runs (empty unless precision int8).
        self.int8_paths = {}
        #: network -> True when its INT8 graph came from the cache (not quantized now).
        self.int8_reused = {}
        #: How the INT8 graphs are quantized (int8.settings_for_cpu: unsigned weights on x86 without VNNI).
        self.quant_settings = None
        if precision == "int8":
            self._quantize(model_set)
        self.sessions = {}
        for network, graph in self.graphs.items():
            options = cpu_session_options(ort, settings)
            path = self.int8_paths.get(network, graph.path)
            self.sessions[network] = self._session(ort, str(path), options, providers)
        used = self.sessions["handsegnet"].get_providers()[0]
        if self.device.type == "cuda" and used not in (CUDA_EP, TENSORRT_EP):
            raise BackendUnavailable(f"onnxruntime could not start a CUDA session (got {used})")
        self.provider = used
        label = {CPU_EP: "cpu", CUDA_EP: "cuda", TENSORRT_EP: "tensorrt-ep"}.get(used, used)
        self.name = f"onnxruntime-{label}"

    def _quantize(self, model_set: ModelSet) -> None:
        from hand3d_ros.inference import int8

        unknown = set(self.settings.int8_networks) - set(self.graphs)
        if unknown:
            raise BackendUnavailable(f"onnxruntime int8: unknown networks {sorted(unknown)} in int8_networks")
        calibrated = {network: int8.stored_calibration(model_set, network) for network in self.settings.int8_networks}
        if not any(calibrated.values()):
            raise BackendUnavailable(f"onnxruntime int8: none of {', '.join(calibrated)} has an INT8 calibration "
                                     "in its weights; run hand3d calibrate-int8 --weights DIR --images ... --write")
        self.quant_settings = int8.settings_for_cpu()
        for network, calibration in calibrated.items():
            if calibration:
                try:
                    path, reused = int8.quantize_graph(model_set, self.graphs[network], calibration,
                                                       self.quant_settings)
                except int8.Int8CalibrationError as err:
                    raise BackendUnavailable(f"onnxruntime int8: {err}") from None
                self.int8_paths[network], self.int8_reused[network] = path, reused

    @staticmethod
    def _session(ort, path: str, options, providers):
        try:
            return ort.InferenceSession(path, options, providers=[p for p, _ in providers],
                                        provider_options=[o for _, o in providers])
        except Exception as err:  # a provider that fails to start (e.g. TensorRT libraries missing)
            if providers[0][0] != TENSORRT_EP:
                raise BackendUnavailable(f"onnxruntime could not load {os.path.basename(path)}: {err}") from None
            return OnnxRuntimeBackend._session(ort, path, options, providers[1:])

    def describe(self) -> str:
        threads = self.settings.intra_op_threads
        count = "default threads" if not threads else f"{threads} thread{'' if threads == 1 else 's'}"
        extra = f", {count}" if self.device.type == "cpu" else ""
        if self.precision == "int8":
            fp32 = [f"{n} ({'no int8 calibration' if n in self.settings.int8_networks else 'int8_networks setting'})"
                    for n in self.graphs if n not in self.int8_paths]
            extra = f" {'+'.join(self.int8_paths)}" + (f"; fp32 {', '.join(fp32)}" if fp32 else "") + extra
            if self.int8_paths and self.quant_settings.weight_type == "QUInt8":
                extra += "; unsigned weights: this CPU has no VNNI"
        return f"{self.name} ({self.precision}{extra})"

    # ------------------------------------------------------------ running
    def _run(self, network: str, args: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        graph, session = self.graphs[network], self.sessions[network]
        if self.device.type == "cuda":
            return self._run_bound(graph, session, args)
        feeds = {name: a.detach().to("cpu", torch.float32).contiguous().numpy()
                 for name, a in zip(graph.signature.inputs, args)}
        return [torch.from_numpy(out) for out in session.run(list(graph.signature.outputs), feeds)]

    def _run_bound(self, graph, session, args) -> List[torch.Tensor]:
        """I/O binding against torch CUDA tensors: outputs are allocated by torch with the
        shapes :func:`output_shapes` gives, ONNX Runtime writes into them."""
        inputs = [a.detach().to(self.device, torch.float32).contiguous() for a in args]
        batch = int(inputs[0].shape[0])
        outputs = [torch.empty(shape, dtype=torch.float32, device=self.device)
                   for shape in output_shapes(graph.network, batch, inputs, graph.signature.outputs)]
        binding = session.io_binding()
        for name, tensor in zip(graph.signature.inputs, inputs):
            binding.bind_input(name=name, device_type="cuda", device_id=self._device_id,
                               element_type=_NUMPY_DTYPES[tensor.dtype], shape=tuple(tensor.shape),
                               buffer_ptr=tensor.data_ptr())
        for name, tensor in zip(graph.signature.outputs, outputs):
            binding.bind_output(name=name, device_type="cuda", device_id=self._device_id,
                                element_type=_NUMPY_DTYPES[tensor.dtype], shape=tuple(tensor.shape),
                                buffer_ptr=tensor.data_ptr())
        # ONNX Runtime runs on its own CUDA stream: let torch's queued work (which wrote
        # the inputs) finish first, and wait for ONNX Runtime before torch reads outputs.
        torch.cuda.current_stream(self.device).synchronize()
        session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        return outputs

    def handsegnet(self, images):
        """(N, 3, H, W) -> (N, 2, H, W) logits on :attr:`device`."""
        (logits,) = self._run("handsegnet", [images])
        return logits

    def posenet(self, crops):
        """(N, 3, S, S) -> last-stage score maps (N, K, s, s), side logits (N, 2) and hand
        logits (N, 1), each head's ``None`` without it, on :attr:`device`."""
        return posenet_result(self.graphs["posenet"].signature.outputs, self._run("posenet", [crops]))

    def poseprior(self, maps, hand_side) -> Tuple[torch.Tensor, torch.Tensor]:
        """(N, K, s, s), (N, 2) -> w_c (N, K, 3), R (N, 3, 3) on :attr:`device`."""
        w_c, rotation, _axis_angle = self._run("poseprior", [maps, hand_side.float()])
        return w_c, rotation


def output_shapes(network: str, batch: int, inputs: Sequence[torch.Tensor],
                  output_names: Sequence[str]) -> List[Tuple[int, ...]]:
    """Shapes of a graph's outputs for a batch, from its inputs' shapes (for I/O binding).

    handsegnet: (N, 2, H, W) from image (N, 3, H, W); posenet: (N, K, s, s) per map output,
    s = ceil(S / 8), K = 21, (N, 2) side and (N, 1) hand logits, one shape per name in
    ``output_names``; poseprior:
    w_c (N, K, 3), rotation (N, 3, 3), axis_angle (N, 3) with K from score_maps (N, K, s, s).
    """
    if network == "handsegnet":
        _, _, height, width = inputs[0].shape
        return [(batch, 2, int(height), int(width))]
    if network == "posenet":
        side = -(-int(inputs[0].shape[-1]) // POSENET_MAP_STRIDE)
        heads = {"hand_side_logits": (batch, NUM_HAND_SIDES), "hand_logit": (batch, NUM_HAND_LOGITS)}
        return [heads.get(name, (batch, NUM_KEYPOINTS, side, side)) for name in output_names]
    if network == "poseprior":
        keypoints = int(inputs[0].shape[1])
        return [(batch, keypoints, 3), (batch, 3, 3), (batch, 3)]
    raise ValueError(f"unknown network {network!r}")
