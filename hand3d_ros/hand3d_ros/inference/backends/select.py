"""Choosing and creating a backend by name (``auto`` picks the fastest available).

Order of ``auto``: tensorrt > onnxruntime-cuda > torch-cuda > onnxruntime-cpu > torch-cpu.
Naming a backend that cannot run here raises :class:`BackendUnavailable` whose message
says what is missing.
"""
from __future__ import annotations

from typing import Optional

from hand3d_ros.inference.backends.base import Backend, BackendUnavailable
from hand3d_ros.inference.model_set import ModelSet

BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")


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
        precision: fp32, fp16, bf16 or int8 (what each backend supports differs).
        cache_dir: where exported ONNX files and engines are kept.
        force_rebuild: rebuild cached engines even when their key matches.
        num_threads: CPU threads (0: library default).
        log: called with one line naming the choice.
    """
    if name not in BACKENDS:
        raise BackendUnavailable(f"unknown backend '{name}' (choose {', '.join(BACKENDS)})")
    device = _resolve_device(device)
    if name == "auto":
        backend = _auto(model_set, device, precision, cache_dir, force_rebuild, num_threads, log)
        log(f"backend auto -> {backend.describe()}")
        return backend
    backend = _create(name, model_set, device, precision, cache_dir, force_rebuild, num_threads)
    log(f"backend {backend.describe()}")
    return backend


def _create(name, model_set, device, precision, cache_dir, force_rebuild, num_threads) -> Backend:
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
            return _create(name, model_set, dev, precision, cache_dir, force_rebuild, num_threads)
        except (BackendUnavailable, ImportError, ModuleNotFoundError) as err:
            reasons.append(f"{name}-{dev}: {err}")
    raise BackendUnavailable("no backend can run here: " + "; ".join(reasons))
