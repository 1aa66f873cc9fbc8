"""Gaussian keypoint heatmaps: training targets (encode) and sub-pixel keypoints (decode)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

Size = Union[int, Tuple[int, int]]


@dataclass(frozen=True)
class HeatmapConfig:
    """Parameters of :class:`GaussianHeatmap`."""

    input_size: Size = field(
        default=256, metadata={"help": "network input (crop) size, pixels: S or (W, H); each >= 1"}
    )
    heatmap_size: Size = field(
        default=32,
        metadata={"help": "heatmap size: w or (w, h); must divide input_size; each >= 2"},
    )
    sigma: float = field(
        default=16.0,
        metadata={
            "help": "Gaussian standard deviation in INPUT pixels; range [1, input_size/4]; "
            "see GaussianHeatmap"
        },
    )
    blur_sigma: float = field(
        default=0.0,
        metadata={
            "help": "decode: Gaussian pre-smoothing of the maps, standard deviation in MAP "
            "pixels; 0 = off; range [0, 3]"
        },
    )
    log_floor: float = field(
        default=1e-10,
        metadata={
            "help": "decode: values below this are clamped before the log fit; range (0, 1e-3]"
        },
    )


def _pair(size: Size) -> Tuple[int, int]:
    if isinstance(size, int):
        return (size, size)
    w, h = size
    return (int(w), int(h))


class GaussianHeatmap:
    """Gaussian heatmap codec (PoseNet's score maps).

    Notation::

        N: batch size            K: keypoints per sample (21)
        S_w, S_h: input (crop) size, pixels          w, h: heatmap size, map pixels
        s_u = S_w / w, s_v = S_h / h: stride, input pixels per map pixel (8 for 256 -> 32)

    Shapes::

        uv:       (N, K, 2)     float, input pixels (u right, v down)
        visible:  (N, K)        bool
        maps:     (N, K, h, w)  float
        score:    (N, K)        float, the map's peak value (0 for flat, zero or negative maps)

    Coordinates: pixel centres are integers (``uv = (0, 0)`` is the centre of input pixel
    (0, 0)). Map pixel ``i`` covers input pixels ``[i * s, (i + 1) * s)``, so its centre is
    at input ``u = i * s + (s - 1) / 2`` (3.5, 11.5, ... for s = 8), and input ``u`` is at
    map ``x = (u - (s - 1) / 2) / s``. This is where a network with three 2x2 stride-2
    poolings puts its output pixels.

    Encoding: ``exp(-|uv_pixel - uv|^2 / (2 sigma^2))`` evaluated at each map pixel's
    centre (in input pixels), so the continuous peak is 1 at ``uv`` (a sampled map's
    maximum is slightly below 1 unless ``uv`` is on a pixel centre). Invisible keypoints
    get all-zero maps.

    ``sigma`` (INPUT pixels, default 16 = 2 map pixels at stride 8): the paper says a
    "variance of 25 pixels" (std 5 px = 0.6 map px: sampled at stride 8 that is barely
    more than one non-zero pixel, no sub-pixel information) while the authors' reader
    passes ``sigma=25.0`` for 256-pixel targets (2.2 map px if used as
    ``exp(-d^2/sigma^2)``, 3.1 if a standard deviation). 2 map pixels is the common
    choice for stride-8/4 heatmaps: a 3x3 neighbourhood around the peak holds clearly
    different values (ratio exp(-1/8) = 0.88 to the neighbours), which the sub-pixel
    fit needs, while separate joints of a finger (about 20 input px apart in a 256 crop)
    stay distinct. Training targets and decoding must use the same codec.

    Decoding: integer argmax, then a per-axis parabola through the logarithm of the
    peak and its two neighbours (the log of a Gaussian is a parabola, so this is exact
    for ideal maps; for network outputs it is a local Gaussian fit), optionally after
    Gaussian smoothing (``blur_sigma``, as in DARK, Zhang et al. 2020; it pads by
    replicating the border, which biases peaks closer than about ``2 * blur_sigma`` map
    pixels to the border, so it is off by default). Values are
    clamped to ``log_floor`` before the log, the offset is taken only where the three
    values are strictly concave and is limited to +-0.5 map pixel; on the outermost
    row/column the offset across the border is 0. Flat, zero or negative maps decode to
    finite ``uv`` (the first maximal pixel) and score ``max(peak, 0)``.
    """

    def __init__(
        self,
        input_size: Size = HeatmapConfig.input_size,
        heatmap_size: Size = HeatmapConfig.heatmap_size,
        sigma: float = HeatmapConfig.sigma,
        blur_sigma: float = HeatmapConfig.blur_sigma,
        log_floor: float = HeatmapConfig.log_floor,
    ):
        self.input_size = _pair(input_size)
        self.heatmap_size = _pair(heatmap_size)
        for s_in, s_map in zip(self.input_size, self.heatmap_size):
            if s_map < 2 or s_in < s_map or s_in % s_map:
                raise ValueError(
                    f"heatmap_size {heatmap_size} must be >= 2 and divide input_size {input_size}"
                )
        if not 1.0 <= sigma <= min(self.input_size) / 4:
            raise ValueError(f"sigma must be in [1, input_size/4] input pixels, got {sigma}")
        if not 0.0 <= blur_sigma <= 3.0:
            raise ValueError(f"blur_sigma must be in [0, 3] map pixels, got {blur_sigma}")
        if not 0.0 < log_floor <= 1e-3:
            raise ValueError(f"log_floor must be in (0, 1e-3], got {log_floor}")
        self.sigma = float(sigma)
        self.blur_sigma = float(blur_sigma)
        self.log_floor = float(log_floor)
        #: (s_u, s_v): input pixels per map pixel.
        self.stride = (
            self.input_size[0] // self.heatmap_size[0],
            self.input_size[1] // self.heatmap_size[1],
        )

    @classmethod
    def from_config(cls, config: HeatmapConfig) -> "GaussianHeatmap":
        """Build from a :class:`HeatmapConfig`."""
        return cls(
            config.input_size,
            config.heatmap_size,
            config.sigma,
            config.blur_sigma,
            config.log_floor,
        )

    # ------------------------------------------------------------------ coordinates

    def map_to_input(self, xy):
        """Map pixels ``(..., 2)`` -> input pixels (numpy or torch)."""
        su, sv = self.stride
        u = xy[..., 0] * su + (su - 1) / 2.0
        v = xy[..., 1] * sv + (sv - 1) / 2.0
        return torch.stack((u, v), -1) if isinstance(xy, torch.Tensor) else np.stack((u, v), -1)

    def input_to_map(self, uv):
        """Input pixels ``(..., 2)`` -> map pixels (numpy or torch); inverse of :meth:`map_to_input`."""
        su, sv = self.stride
        x = (uv[..., 0] - (su - 1) / 2.0) / su
        y = (uv[..., 1] - (sv - 1) / 2.0) / sv
        return torch.stack((x, y), -1) if isinstance(uv, torch.Tensor) else np.stack((x, y), -1)

    # ------------------------------------------------------------------ encode

    def encode(self, uv: torch.Tensor, visible: torch.Tensor = None) -> torch.Tensor:
        """Gaussian target maps.

        Args:
            uv: ``(N, K, 2)`` keypoints, input pixels.
            visible: ``(N, K)`` bool; ``None`` means all visible. Invisible -> all-zero map.

        Returns:
            ``(N, K, h, w)`` float32 on ``uv``'s device, continuous peak 1.
        """
        uv = torch.as_tensor(uv, dtype=torch.float32)
        w, h = self.heatmap_size
        device = uv.device
        centres_u = self.map_to_input(
            torch.stack(
                (
                    torch.arange(w, device=device, dtype=torch.float32),
                    torch.zeros(w, device=device),
                ),
                -1,
            )
        )[:, 0]
        centres_v = self.map_to_input(
            torch.stack(
                (
                    torch.zeros(h, device=device),
                    torch.arange(h, device=device, dtype=torch.float32),
                ),
                -1,
            )
        )[:, 1]
        inv = -0.5 / self.sigma**2
        gu = torch.exp(inv * (centres_u - uv[..., 0:1]) ** 2)  # (N, K, w)
        gv = torch.exp(inv * (centres_v - uv[..., 1:2]) ** 2)  # (N, K, h)
        maps = gv[..., :, None] * gu[..., None, :]
        if visible is not None:
            visible = torch.as_tensor(visible, device=device).to(maps.dtype)
            maps = maps * visible[..., None, None]
        return maps

    # ------------------------------------------------------------------ decode

    def decode(self, maps: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Sub-pixel keypoints from heatmaps, on the maps' device.

        Args:
            maps: ``(N, K, h, w)`` float.

        Returns:
            ``(uv (N, K, 2) input pixels, score (N, K))``, float32.
        """
        maps = torch.as_tensor(maps).to(torch.float32)
        n, k, h, w = maps.shape
        score = maps.reshape(n, k, h * w).amax(dim=-1).clamp(min=0.0)
        fit = self._blur(maps) if self.blur_sigma > 0 else maps
        flat = fit.reshape(n, k, h * w)
        idx = flat.argmax(dim=-1)
        ix, iy = idx % w, idx // w
        logs = torch.log(flat.clamp(min=self.log_floor))

        def log_at(dx, dy):
            j = (iy + dy).clamp(0, h - 1) * w + (ix + dx).clamp(0, w - 1)
            return logs.gather(-1, j[..., None])[..., 0]

        centre = log_at(0, 0)
        dx = _parabola_offset(log_at(-1, 0), centre, log_at(1, 0), (ix > 0) & (ix < w - 1))
        dy = _parabola_offset(log_at(0, -1), centre, log_at(0, 1), (iy > 0) & (iy < h - 1))
        xy = torch.stack((ix.to(torch.float32) + dx, iy.to(torch.float32) + dy), dim=-1)
        return self.map_to_input(xy), score

    def _blur(self, maps: torch.Tensor) -> torch.Tensor:
        radius = max(1, int(math.ceil(3 * self.blur_sigma)))
        t = torch.arange(-radius, radius + 1, device=maps.device, dtype=torch.float32)
        kernel = torch.exp(-0.5 * (t / self.blur_sigma) ** 2)
        kernel = kernel / kernel.sum()
        n, k, h, w = maps.shape
        x = maps.reshape(n * k, 1, h, w)
        x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
        x = F.conv2d(x, kernel.view(1, 1, 1, -1))
        x = F.conv2d(x, kernel.view(1, 1, -1, 1))
        return x.view(n, k, h, w)

    # ------------------------------------------------------------------ numpy

    def encode_numpy(self, uv: np.ndarray, visible: np.ndarray = None) -> np.ndarray:
        """:meth:`encode` for numpy: ``(N, K, 2)`` input pixels -> ``(N, K, h, w)`` float32."""
        vis = None if visible is None else torch.from_numpy(np.asarray(visible, dtype=bool))
        return self.encode(torch.from_numpy(np.asarray(uv, dtype=np.float32)), vis).numpy()

    def decode_numpy(self, maps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """:meth:`decode` for numpy: ``(N, K, h, w)`` -> ``(uv (N, K, 2), score (N, K))`` float32."""
        uv, score = self.decode(torch.from_numpy(np.asarray(maps, dtype=np.float32)))
        return uv.numpy(), score.numpy()


def _parabola_offset(
    before: torch.Tensor, centre: torch.Tensor, after: torch.Tensor, interior: torch.Tensor
):
    """Vertex offset (map pixels, in [-0.5, 0.5]) of the parabola through three log values
    at -1, 0, +1; 0 where not interior or not strictly concave."""
    curvature = before - 2 * centre + after
    ok = interior & (curvature < 0)
    safe = torch.where(ok, curvature, torch.ones_like(curvature))
    offset = 0.5 * (before - after) / safe
    return torch.where(ok, offset.clamp(-0.5, 0.5), torch.zeros_like(offset))
