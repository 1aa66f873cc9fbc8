"""Backend selection: what ``auto`` picks here, and one-line failures for what cannot run."""
import importlib.util
import sys

import pytest
import torch

from hand3d_ros.inference.backends.base import BackendUnavailable
from hand3d_ros.inference.backends.select import create_backend
from hand3d_ros.inference.model_set import random_model_set

HAVE_ORT = importlib.util.find_spec("onnxruntime") is not None
NO_CUDA = not torch.cuda.is_available()


@pytest.fixture(scope="module")
def lite():
    torch.set_num_threads(1)
    return random_model_set("lite", seed=2)


@pytest.mark.skipif(not (HAVE_ORT and NO_CUDA), reason="expects a CPU-only machine with onnxruntime")
def test_auto_picks_onnxruntime_cpu_here(lite, tmp_path):
    lines = []
    backend = create_backend("auto", lite, cache_dir=str(tmp_path), log=lines.append)
    assert backend.name == "onnxruntime-cpu" and backend.device.type == "cpu"
    assert lines == [f"backend auto -> {backend.describe()}"]
    assert list((tmp_path / "onnx").glob("*.onnx"))  # exported into the given cache


@pytest.mark.skipif(not NO_CUDA, reason="expects no CUDA GPU")
def test_auto_falls_back_to_torch_without_onnxruntime(lite, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    lines = []
    backend = create_backend("auto", lite, cache_dir=str(tmp_path), log=lines.append)
    assert backend.name == "torch-cpu"
    assert lines == ["backend auto -> torch-cpu (fp32)"]


def test_naming_tensorrt_without_it_fails_in_one_line(lite, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(BackendUnavailable) as info:
        create_backend("tensorrt", lite, device="cpu", precision="fp16", cache_dir=str(tmp_path))
    message = str(info.value)
    assert "TensorRT is not installed" in message and "\n" not in message


def test_naming_onnxruntime_without_it_fails_in_one_line(lite, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(BackendUnavailable) as info:
        create_backend("onnxruntime", lite, device="cpu", cache_dir=str(tmp_path))
    assert "onnxruntime is not installed" in str(info.value) and "\n" not in str(info.value)


def test_unknown_names_and_devices(lite):
    with pytest.raises(BackendUnavailable, match="unknown backend 'openvino'"):
        create_backend("openvino", lite)
    with pytest.raises(BackendUnavailable, match="unknown device 'tpu'"):
        create_backend("torch", lite, device="tpu")


@pytest.mark.skipif(not NO_CUDA, reason="expects no CUDA GPU")
def test_cuda_requested_without_a_gpu(lite):
    with pytest.raises(BackendUnavailable, match="no CUDA GPU"):
        create_backend("torch", lite, device="cuda")


def test_unsupported_precision_names_the_backend(lite, tmp_path):
    with pytest.raises(BackendUnavailable, match="torch backend: fp16 needs CUDA"):
        create_backend("torch", lite, device="cpu", precision="fp16")
    if HAVE_ORT:
        with pytest.raises(BackendUnavailable, match="onnxruntime backend: precision 'bf16'"):
            create_backend("onnxruntime", lite, device="cpu", precision="bf16", cache_dir=str(tmp_path))
