"""PyTorch backend: CPU or CUDA; fp32, fp16 (CUDA) or bf16 autocast; channels-last."""
from __future__ import annotations

import contextlib
from typing import Tuple

import torch

from hand3d_ros.inference.backends.base import Backend, BackendUnavailable
from hand3d_ros.inference.model_set import ModelSet

_DTYPES = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


class TorchBackend(Backend):
    """The model set's ``nn.Module`` s on one device.

    ``precision``: fp32; fp16 (CUDA only: autocast); bf16 (autocast; fast on CPUs with
    AMX/AVX-512-BF16). Outputs are always float32. ``channels_last`` stores activations
    NHWC, which the CPU and tensor-core kernels prefer.
    """

    def __init__(self, model_set: ModelSet, device: str = "cpu", precision: str = "fp32",
                 channels_last: bool = True, num_threads: int = 0):
        if precision not in _DTYPES:
            raise BackendUnavailable(f"torch backend: precision '{precision}' is not supported (fp32, fp16, bf16)")
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable("torch backend: CUDA was requested but torch.cuda.is_available() is False")
        if precision == "fp16" and self.device.type != "cuda":
            raise BackendUnavailable("torch backend: fp16 needs CUDA (use bf16 on the CPU)")
        if num_threads > 0:
            torch.set_num_threads(num_threads)
        self.precision = precision
        self.name = f"torch-{self.device.type}"
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self._memory_format = memory_format
        self._nets = {
            name: net.to(self.device, memory_format=memory_format).eval()
            for name, net in model_set.networks.items()
        }

    def _autocast(self):
        dtype = _DTYPES[self.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, non_blocking=True).contiguous(memory_format=self._memory_format)

    @torch.inference_mode()
    def handsegnet(self, images):
        with self._autocast():
            return self._nets["handsegnet"](self._prepare(images)).float()

    @torch.inference_mode()
    def posenet(self, crops):
        with self._autocast():
            maps, side, hand = self._nets["posenet"].forward_heads(self._prepare(crops))
        return maps[-1].float().contiguous(), *(None if h is None else h.float() for h in (side, hand))

    @torch.inference_mode()
    def poseprior(self, maps, hand_side) -> Tuple[torch.Tensor, torch.Tensor]:
        with self._autocast():
            out = self._nets["poseprior"](self._prepare(maps), hand_side.to(self.device).float())
        return out.w_c.float(), out.R.float()
