"""Choosing and creating a backend by name (``auto`` picks the fastest available).

Order of ``auto``: tensorrt > onnxruntime-cuda > torch-cuda > onnxruntime-cpu > torch-cpu.
Naming a backend that cannot run here raises :class:`BackendUnavailable` whose message
says what is missing.

Precision ``auto`` (the default of the node and ``hand3d infer``) is the fastest measured
precision that needs nothing extra: int8 for ONNX Runtime on the CPU when the weights carry
an int8 calibration (``hand3d calibrate-int8``; the shipped ones do), fp32 everywhere else.
"""
from __future__ import annotations

from typing import Optional

from hand3d_ros.inference.backends.base import Backend, BackendUnavailable
from hand3d_ros.inference.model_set import ModelSet

BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")
#: Every precision a caller may name; ``auto`` resolves per backend (:func:`precision_candidates`).
PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")


def precision_candidates(name: str, device: str, precision: str) -> tuple:
    """The precisions to try, best first, for backend ``name`` on ``device``.

    An explicit precision is tried alone. ``auto``: ``("int8", "fp32")`` for onnxruntime on
    the CPU (int8 runs only with an int8 calibration in the weights, else the backend says
    it is unavailable and fp32 follows), ``("fp32",)`` otherwise.
    """
    if precision != "auto":
        return (precision,)
    if name == "onnxruntime" and device == "cpu":
        return ("int8", "fp32")
    return ("fp32",)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if _cuda_available() else "cpu"
    if device == "cuda" and not _cuda_available():
        raise BackendUnavailable("device 'cuda' was requested but no CUDA GPU is visible to torch")
    if device not in ("cpu", "cuda"):
        raise BackendUnavailable(f"unknown device '{device}' (choose auto, cpu or cuda)")
    return device


def create_backend(name: str, model_set: ModelSet, device: str = "auto", precision: str = "fp32",
                   cache_dir: Optional[str] = None, force_rebuild: bool = False, num_threads: int = 0,
                   log=print) -> Backend:
    """A ready backend for ``model_set``.

    Args:
        name: one of :data:`BACKENDS`.
        device: auto, cpu or cuda.
        precision: auto, fp32, fp16, bf16 or int8 (what each backend supports differs;
            auto: see the module docstring).
        cache_dir: where exported ONNX files and engines are kept.
        force_rebuild: rebuild cached engines even when their key matches.
        num_threads: CPU threads (0: library default).
        log: called with one line naming the choice.
    """
    if name not in BACKENDS:
        raise BackendUnavailable(f"unknown backend '{name}' (choose {', '.join(BACKENDS)})")
    if precision not in PRECISIONS:
        raise BackendUnavailable(f"unknown precision '{precision}' (choose {', '.join(PRECISIONS)})")
    device = _resolve_device(device)
    if name == "auto":
        backend = _auto(model_set, device, precision, cache_dir, force_rebuild, num_threads, log)
        log(f"backend auto -> {backend.describe()}")
        return backend
    backend = _create(name, model_set, device, precision, cache_dir, force_rebuild, num_threads, log)
    log(f"backend {backend.describe()}")
    return backend


def _create(name, model_set, device, precision, cache_dir, force_rebuild, num_threads, log=None) -> Backend:
    """One backend; with precision ``auto`` the first candidate precision that starts
    (``log`` hears why a better one did not)."""
    candidates = precision_candidates(name, device, precision)
    for chosen in candidates[:-1]:
        try:
            return _create_one(name, model_set, device, chosen, cache_dir, force_rebuild, num_threads)
        except BackendUnavailable as err:
            if log is not None:
                log(f"precision auto: {name}-{device} {chosen} not used ({err})")
    return _create_one(name, model_set, device, candidates[-1], cache_dir, force_rebuild, num_threads)


def _create_one(name, model_set, device, precision, cache_dir, force_rebuild, num_threads) -> Backend:
    if name == "torch":
        from hand3d_ros.inference.backends.torch_backend import TorchBackend

        return TorchBackend(model_set, device=device, precision=precision, num_threads=num_threads)
    if name == "onnxruntime":
        from hand3d_ros.inference.backends.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(model_set, device=device, precision=precision, cache_dir=cache_dir,
                                  num_threads=num_threads)
    if name == "tensorrt":
        from hand3d_ros.inference.backends.tensorrt_backend import TensorRTBackend

        return TensorRTBackend(model_set, precision=precision, cache_dir=cache_dir, force_rebuild=force_rebuild)
    raise BackendUnavailable(f"unknown backend '{name}'")


def _auto(model_set, device, precision, cache_dir, force_rebuild, num_threads, log) -> Backend:
    if device == "cuda":
        order = [("tensorrt", "cuda"), ("onnxruntime", "cuda"), ("torch", "cuda")]
    else:
        order = [("onnxruntime", "cpu"), ("torch", "cpu")]
    reasons = []
    for name, dev in order:
        try:
            return _create(name, model_set, dev, precision, cache_dir, force_rebuild, num_threads, log)
        except (BackendUnavailable, ImportError, ModuleNotFoundError) as err:
            reasons.append(f"{name}-{dev}: {err}")
    raise BackendUnavailable("no backend can run here: " + "; ".join(reasons))
