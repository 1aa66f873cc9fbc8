"""Hand masks: connected components of the thresholded hand probability.

DESIGN.md section 1 step 3: keep the "single object", the connected component of the
foreground ``prob > threshold`` that contains the pixel of maximum probability. The
authors grow it by repeated 21x21 dilation AND mask (about 700 ms per frame when
ported naively); here a real connected-components routine does it:

- numpy / CPU: ``cv2.connectedComponents`` or ``scipy.ndimage.label`` (both imported
  lazily; ``backend="auto"`` takes OpenCV when it imports, else SciPy);
- torch, on the tensors' device: :func:`label_components_torch`, a FastSV-style
  min-label algorithm (neighbour minimum + hooking + pointer jumping), exact, with no
  host copy of the image (one boolean per iteration is read back to stop).

Both give identical components. :func:`hand_mask` / :func:`hand_components` pick
one (``backend="auto"``: torch for tensors on an accelerator, OpenCV/SciPy for numpy
arrays and CPU tensors, where it is about 20x faster than the torch loop).

Measured here (one 320x240 frame, shared 2-core CPU, 1-2 threads): cv2 0.4 ms, scipy
0.6-0.7 ms, torch on CPU 10-15 ms (8 iterations); a naive torch port of the 21x21
dilation loop 330-490 ms.

Conventions:

- ``connectivity`` 8 (default; pixels touching at a corner are connected) or 4.
- ``bridge_px`` (default 0): also join foreground pixels separated by a gap of at most
  this many background pixels (Chebyshev distance <= ``bridge_px + 1``), by labelling
  the foreground dilated with a ``(bridge_px + 1)`` square and keeping only the
  original foreground pixels. The authors' growth by 21x21 dilation joins pixels up
  to 10 px apart, i.e. ``bridge_px = 9`` with connectivity 8 (given enough of their
  iterations); 0 is a plain connected component.
- Ties for the maximum probability go to the first pixel in raster order.
- Boxes are ``[u_min, v_min, u_max, v_max]`` in continuous pixel coordinates (pixel
  centres at integers, see :mod:`hand3d_ros.core.preprocess`): the rectangle the
  component's pixels cover, so a single pixel at (u, v) gives
  ``[u - 0.5, v - 0.5, u + 0.5, v + 0.5]``.
- Empty foreground (no pixel above the threshold): no component. The single mask is
  all False, ``valid`` is False, and :func:`hand3d_ros.core.crop.crop_from_mask` falls
  back to the image centre and its fallback side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class MaskConfig:
    """Parameters of the hand mask and its components."""

    threshold: float = field(
        default=0.5,
        metadata={"help": "foreground is prob > threshold; range [0, 1), 0.5 as the paper"},
    )
    connectivity: int = field(default=8, metadata={"help": "pixel neighbourhood: 4 or 8"})
    bridge_px: int = field(
        default=0,
        metadata={"help": "join foreground across gaps of up to this many pixels; range [0, 64]"},
    )
    max_hands: int = field(default=1, metadata={"help": "components returned; range [1, 16]"})
    min_area_px: int = field(
        default=0,
        metadata={"help": "components smaller than this (pixels) are dropped; range >= 0"},
    )

    def __post_init__(self):
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"MaskConfig.threshold must be in [0, 1), got {self.threshold}")
        _check_connectivity(self.connectivity)
        if not 0 <= self.bridge_px <= 64:
            raise ValueError(f"MaskConfig.bridge_px must be in [0, 64], got {self.bridge_px}")
        if not 1 <= self.max_hands <= 16:
            raise ValueError(f"MaskConfig.max_hands must be in [1, 16], got {self.max_hands}")
        if self.min_area_px < 0:
            raise ValueError(f"MaskConfig.min_area_px must be >= 0, got {self.min_area_px}")


def _check_connectivity(connectivity: int) -> None:
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")


@dataclass
class HandComponents:
    """Up to K hand components per image, sorted by peak probability (highest first).

    All arrays are numpy for numpy input and tensors on the input's device for torch
    input. Entries with ``valid`` False are padding: empty mask, zero box/area/peak.

    Attributes:
        mask: ``(N, K, H, W)`` bool, the component's pixels.
        box: ``(N, K, 4)`` float ``[u_min, v_min, u_max, v_max]``, pixels (module docstring).
        peak: ``(N, K)`` float, maximum hand probability inside the component.
        peak_uv: ``(N, K, 2)`` float, pixel (u, v) of that maximum.
        area: ``(N, K)`` int, number of pixels.
        valid: ``(N, K)`` bool.
    """

    mask: object
    box: object
    peak: object
    peak_uv: object
    area: object
    valid: object


# --------------------------------------------------------------------------- torch


def label_components_torch(
    foreground: torch.Tensor,
    connectivity: int = MaskConfig.connectivity,
    max_iterations: Optional[int] = None,
) -> torch.Tensor:
    """Connected-component labels of a batch of binary masks, on the masks' device.

    Every foreground pixel gets the flat index (into the whole ``(N, H, W)`` batch) of
    the first pixel, in raster order, of its component; background gets ``N * H * W``.
    Labels are therefore unique across the batch and never cross images.

    Algorithm (FastSV-style, Zhang et al. 2020, on the pixel grid): parent pointers
    ``f`` start at each pixel's own index; each iteration takes the minimum
    grandparent ``f[f[v]]`` over each pixel's neighbourhood, hooks the pixel's parent
    and the pixel to it (scatter-min), and shortcuts ``f = f[f]``. Pointers only
    decrease and never leave a component, and an iteration that changes nothing proves
    that ``f`` is constant on every component and equal to its minimum index. Each
    iteration does at least what one step of plain label propagation does, so it ends
    within (longest geodesic path) + 1 <= H * W + 1 iterations; in practice
    logarithmically many (about 5-15 on hand masks).

    Args:
        foreground: ``(N, H, W)`` bool.
        connectivity: 4 or 8.
        max_iterations: stop after this many iterations even if not converged (then
            components may be split). ``None``: ``H * W + 1``, which always converges.

    Returns:
        ``(N, H, W)`` int64 labels as above.
    """
    _check_connectivity(connectivity)
    if foreground.dim() != 3:
        raise ValueError(f"expected (N, H, W) masks, got shape {tuple(foreground.shape)}")
    fg = foreground.to(torch.bool)
    n_img, height, width = fg.shape
    n = n_img * height * width
    device = fg.device
    sentinel = torch.tensor([n], dtype=torch.int64, device=device)
    index = torch.arange(n, dtype=torch.int64, device=device)
    fg_flat = fg.reshape(-1)
    # Parent pointers, with one extra slot (index n) where background points.
    parent = torch.cat((torch.where(fg_flat, index, sentinel), sentinel))
    if max_iterations is None:
        max_iterations = height * width + 1
    for _ in range(max_iterations):
        grand = parent.index_select(0, parent)
        smallest = _neighbour_min(grand[:n].view(n_img, height, width), n, connectivity).reshape(-1)
        smallest = torch.where(fg_flat, smallest, sentinel)
        new = parent.clone()
        new.scatter_reduce_(0, parent[:n], smallest, reduce="amin")  # hook the parents
        new[:n] = torch.minimum(new[:n], smallest)  # hook the pixels themselves
        new = torch.minimum(new, grand)  # shortcut
        if torch.equal(new, parent):
            break
        parent = new
    return parent[:n].view(n_img, height, width)


def _neighbour_min(labels: torch.Tensor, fill: int, connectivity: int) -> torch.Tensor:
    """Minimum over each pixel's 3x3 (8) or cross (4) neighbourhood, itself included,
    of ``(N, H, W)`` int64 labels; outside the image counts as ``fill``."""
    height, width = labels.shape[-2:]
    padded = F.pad(labels, (1, 1, 1, 1), mode="constant", value=fill)
    # Row minimum over u-1, u, u+1 (rows v-1..v+1 of the padded image).
    rows = torch.minimum(torch.minimum(padded[:, :, :-2], padded[:, :, 1:-1]), padded[:, :, 2:])
    if connectivity == 8:  # separable: 3x3 minimum = column minimum of row minima
        return torch.minimum(torch.minimum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])
    centre = padded[:, 1:-1, 1:-1]
    return torch.minimum(
        torch.minimum(rows[:, 1:-1], padded[:, :-2, 1:-1]),
        torch.minimum(padded[:, 2:, 1:-1], centre),
    )


def _bridge_torch(fg: torch.Tensor, bridge_px: int) -> torch.Tensor:
    """Dilate ``(N, H, W)`` bool with a ``(bridge_px + 1)`` square (anchor at its top-left)."""
    if bridge_px <= 0:
        return fg
    k = bridge_px + 1
    x = F.pad(fg[:, None].to(torch.float32), (k - 1, 0, k - 1, 0))
    return F.max_pool2d(x, kernel_size=k, stride=1)[:, 0] > 0


def _components_torch(prob, threshold, connectivity, bridge_px, max_iterations):
    fg = prob > threshold
    labels = label_components_torch(_bridge_torch(fg, bridge_px), connectivity, max_iterations)
    n = labels.numel()
    return fg, torch.where(fg, labels, torch.full_like(labels, n))


def hand_mask_torch(
    prob: torch.Tensor,
    threshold: float = MaskConfig.threshold,
    connectivity: int = MaskConfig.connectivity,
    bridge_px: int = MaskConfig.bridge_px,
    max_iterations: Optional[int] = None,
) -> torch.Tensor:
    """Single-object hand mask on the tensor's device.

    Args:
        prob: ``(N, H, W)`` hand probability (0..1).
        threshold: foreground is ``prob > threshold``.
        connectivity, bridge_px: see the module docstring.
        max_iterations: see :func:`label_components_torch`.

    Returns:
        ``(N, H, W)`` bool: the component containing each image's most probable pixel;
        all False where no pixel exceeds ``threshold``.
    """
    _check_prob(prob)
    fg, labels = _components_torch(prob, threshold, connectivity, bridge_px, max_iterations)
    flat = labels.reshape(labels.shape[0], -1)
    seed = prob.reshape(prob.shape[0], -1).argmax(dim=1, keepdim=True)
    seed_label = flat.gather(1, seed)
    return ((flat == seed_label).view_as(fg)) & fg


def hand_components_torch(
    prob: torch.Tensor,
    threshold: float = MaskConfig.threshold,
    max_hands: int = MaskConfig.max_hands,
    min_area_px: int = MaskConfig.min_area_px,
    connectivity: int = MaskConfig.connectivity,
    bridge_px: int = MaskConfig.bridge_px,
    max_iterations: Optional[int] = None,
) -> HandComponents:
    """Up to ``max_hands`` components per image, by peak probability, on the tensor's device.

    Args:
        prob: ``(N, H, W)`` hand probability.
        threshold, max_hands, min_area_px, connectivity, bridge_px: see :class:`MaskConfig`.
        max_iterations: see :func:`label_components_torch`.

    Returns:
        :class:`HandComponents` of tensors with ``K = max_hands``.
    """
    _check_prob(prob)
    fg, labels = _components_torch(prob, threshold, connectivity, bridge_px, max_iterations)
    n_img, height, width = prob.shape
    n = n_img * height * width
    device = prob.device
    lab = labels.reshape(-1)
    p = prob.reshape(-1).to(torch.float32)
    neg_inf = torch.tensor(float("-inf"), device=device)
    # Per-label statistics in slots 0..n (slot n collects the background).
    peak = torch.full((n + 1,), float("-inf"), device=device).scatter_reduce(0, lab, p, "amax")
    area = torch.zeros(n + 1, dtype=torch.int64, device=device).scatter_add(
        0, lab, torch.ones_like(lab)
    )
    pixel = torch.arange(n, device=device)
    u = pixel % width
    v = (pixel // width) % height
    big = torch.full((n + 1,), n, dtype=torch.int64, device=device)
    small = torch.full((n + 1,), -1, dtype=torch.int64, device=device)
    u_min, v_min = big.scatter_reduce(0, lab, u, "amin"), big.scatter_reduce(0, lab, v, "amin")
    u_max, v_max = small.scatter_reduce(0, lab, u, "amax"), small.scatter_reduce(0, lab, v, "amax")
    # Score each label slot holding a large enough component (a label is the index of a
    # pixel of the same image, so slots stay per image).
    has_component = area[:n] >= max(min_area_px, 1)
    score = torch.where(has_component, peak[:n], neg_inf).view(n_img, height * width)
    k = min(max_hands, height * width)
    top_score, top_local = score.topk(k, dim=1)
    valid = torch.isfinite(top_score)
    root = top_local + (torch.arange(n_img, device=device) * height * width)[:, None]
    root = torch.where(valid, root, torch.full_like(root, n))
    mask = (labels.view(n_img, 1, height * width) == root[:, :, None]) & valid[:, :, None]
    mask = mask.view(n_img, k, height, width)
    box = torch.stack((u_min[root], v_min[root], u_max[root], v_max[root]), dim=-1).to(
        torch.float32
    )
    box = box + torch.tensor([-0.5, -0.5, 0.5, 0.5], device=device)
    zero = torch.zeros((), device=device)
    box = torch.where(valid[..., None], box, zero)
    # Position of each component's peak: argmax of prob inside its mask.
    masked = torch.where(mask, prob[:, None].to(torch.float32), neg_inf).view(n_img, k, -1)
    peak_idx = masked.argmax(dim=-1)
    peak_uv = torch.stack((peak_idx % width, peak_idx // width), dim=-1).to(torch.float32)
    peak_uv = torch.where(valid[..., None], peak_uv, zero)
    result = HandComponents(
        mask=mask,
        box=box,
        peak=torch.where(valid, top_score, zero),
        peak_uv=peak_uv,
        area=torch.where(valid, area[root], torch.zeros_like(root)),
        valid=valid,
    )
    return _pad_components(result, max_hands, torch)


def _check_prob(prob) -> None:
    if prob.ndim != 3:
        raise ValueError(f"expected (N, H, W) probabilities, got shape {tuple(prob.shape)}")


def _pad_components(result: HandComponents, max_hands: int, xp) -> HandComponents:
    """Pad K up to ``max_hands`` when the image has fewer pixels than that (tiny images)."""
    k = result.valid.shape[1]
    if k == max_hands:
        return result
    extra = max_hands - k

    def pad(a):
        shape = (a.shape[0], extra) + tuple(a.shape[2:])
        if xp is torch:
            return torch.cat((a, torch.zeros(shape, dtype=a.dtype, device=a.device)), dim=1)
        return np.concatenate((a, np.zeros(shape, dtype=a.dtype)), axis=1)

    return HandComponents(
        *(pad(getattr(result, f)) for f in ("mask", "box", "peak", "peak_uv", "area", "valid"))
    )


# --------------------------------------------------------------------------- numpy


def label_components_numpy(
    foreground: np.ndarray,
    connectivity: int = MaskConfig.connectivity,
    backend: str = "auto",
) -> np.ndarray:
    """Connected-component labels of a batch of binary masks, on the CPU.

    Args:
        foreground: ``(N, H, W)`` bool.
        connectivity: 4 or 8.
        backend: ``"cv2"`` (``cv2.connectedComponents``), ``"scipy"``
            (``scipy.ndimage.label``) or ``"auto"`` (OpenCV if it imports, else SciPy).

    Returns:
        ``(N, H, W)`` int32 labels: 0 background, 1..M components, unique across the
        batch (numbering differs between backends; the components do not).
    """
    _check_connectivity(connectivity)
    fg = np.ascontiguousarray(foreground, dtype=bool)
    if fg.ndim != 3:
        raise ValueError(f"expected (N, H, W) masks, got shape {fg.shape}")
    if backend == "auto":
        backend = "cv2" if _cv2_available() else "scipy"
    if backend == "cv2":
        import cv2

        labels = np.zeros(fg.shape, dtype=np.int32)
        offset = 0
        for i in range(fg.shape[0]):  # one call per image
            count, lab = cv2.connectedComponents(
                fg[i].view(np.uint8), connectivity=connectivity, ltype=cv2.CV_32S
            )
            labels[i] = np.where(lab > 0, lab + offset, 0)
            offset += count - 1
        return labels
    if backend == "scipy":
        from scipy import ndimage

        structure = np.zeros((3, 3, 3), dtype=bool)  # no connection between images
        structure[1] = ndimage.generate_binary_structure(2, 2 if connectivity == 8 else 1)
        labels, _ = ndimage.label(fg, structure=structure)
        return labels.astype(np.int32, copy=False)
    raise ValueError(f"backend must be 'auto', 'cv2' or 'scipy', got {backend!r}")


def _cv2_available() -> bool:
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


def _bridge_numpy(fg: np.ndarray, bridge_px: int) -> np.ndarray:
    """Dilate ``(N, H, W)`` bool with a ``(bridge_px + 1)`` square (anchor at its top-left),
    as :func:`_bridge_torch`: separable running maximum."""
    if bridge_px <= 0:
        return fg
    k = bridge_px + 1
    out = fg
    for axis in (1, 2):
        pad = [(0, 0)] * 3
        pad[axis] = (k - 1, 0)
        padded = np.pad(out, pad)
        length = out.shape[axis]
        acc = np.zeros_like(out)
        for shift in range(k):
            acc |= np.take(padded, np.arange(shift, shift + length), axis=axis)
        out = acc
    return out


def hand_mask_numpy(
    prob: np.ndarray,
    threshold: float = MaskConfig.threshold,
    connectivity: int = MaskConfig.connectivity,
    bridge_px: int = MaskConfig.bridge_px,
    backend: str = "auto",
) -> np.ndarray:
    """Single-object hand mask on the CPU (same result as :func:`hand_mask_torch`).

    Args:
        prob: ``(N, H, W)`` hand probability.
        threshold, connectivity, bridge_px: see :class:`MaskConfig`.
        backend: see :func:`label_components_numpy`.

    Returns:
        ``(N, H, W)`` bool, all False where no pixel exceeds ``threshold``.
    """
    prob = np.asarray(prob)
    _check_prob(prob)
    fg = prob > threshold
    labels = label_components_numpy(_bridge_numpy(fg, bridge_px), connectivity, backend)
    flat = labels.reshape(labels.shape[0], -1)
    seed = prob.reshape(prob.shape[0], -1).argmax(axis=1)
    seed_label = flat[np.arange(flat.shape[0]), seed]
    return (flat == seed_label[:, None]).reshape(fg.shape) & fg & (seed_label > 0)[:, None, None]


def hand_components_numpy(
    prob: np.ndarray,
    threshold: float = MaskConfig.threshold,
    max_hands: int = MaskConfig.max_hands,
    min_area_px: int = MaskConfig.min_area_px,
    connectivity: int = MaskConfig.connectivity,
    bridge_px: int = MaskConfig.bridge_px,
    backend: str = "auto",
) -> HandComponents:
    """Up to ``max_hands`` components per image, by peak probability, on the CPU.

    Same arguments and result as :func:`hand_components_torch`, as numpy arrays.
    """
    prob = np.asarray(prob)
    _check_prob(prob)
    n_img, height, width = prob.shape
    fg = prob > threshold
    labels = label_components_numpy(_bridge_numpy(fg, bridge_px), connectivity, backend)
    labels = np.where(fg, labels, 0)
    k = max_hands
    out = HandComponents(
        mask=np.zeros((n_img, k, height, width), dtype=bool),
        box=np.zeros((n_img, k, 4), dtype=np.float32),
        peak=np.zeros((n_img, k), dtype=np.float32),
        peak_uv=np.zeros((n_img, k, 2), dtype=np.float32),
        area=np.zeros((n_img, k), dtype=np.int64),
        valid=np.zeros((n_img, k), dtype=bool),
    )
    pix = np.flatnonzero(labels)
    if pix.size == 0:
        return out
    lab = labels.reshape(-1)[pix]
    # Group the foreground pixels by label, highest probability first inside a label.
    p = prob.reshape(-1)[pix].astype(np.float32)
    order = np.lexsort((pix, -p, lab))
    pix, lab, p = pix[order], lab[order], p[order]
    starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    area = np.diff(np.r_[starts, lab.size])
    u, v, img = pix % width, (pix // width) % height, pix // (height * width)
    box = np.stack(
        (
            np.minimum.reduceat(u, starts),
            np.minimum.reduceat(v, starts),
            np.maximum.reduceat(u, starts),
            np.maximum.reduceat(v, starts),
        ),
        axis=-1,
    ).astype(np.float32) + np.array([-0.5, -0.5, 0.5, 0.5], dtype=np.float32)
    comp_img, comp_peak, comp_label = img[starts], p[starts], lab[starts]
    comp_peak_uv = np.stack((u[starts], v[starts]), axis=-1).astype(np.float32)
    keep = area >= max(min_area_px, 1)
    for i in range(n_img):  # at most max_hands components per image
        sel = np.flatnonzero(keep & (comp_img == i))
        sel = sel[np.argsort(-comp_peak[sel], kind="stable")][:k]
        j = np.arange(sel.size)
        out.mask[i, j] = labels[i][None] == comp_label[sel][:, None, None]
        out.box[i, j] = box[sel]
        out.peak[i, j] = comp_peak[sel]
        out.peak_uv[i, j] = comp_peak_uv[sel]
        out.area[i, j] = area[sel]
        out.valid[i, j] = True
    return out


# --------------------------------------------------------------------------- dispatch


def _use_torch(prob, backend: str) -> bool:
    if backend == "torch":
        return True
    if backend not in ("auto", "cv2", "scipy"):
        raise ValueError(f"backend must be 'auto', 'torch', 'cv2' or 'scipy', got {backend!r}")
    # "auto": the device path for tensors off the CPU; on the CPU the OpenCV/SciPy
    # labelling is much faster (about 0.5 ms against 10 ms at 320x240) and needs no copy.
    return backend == "auto" and isinstance(prob, torch.Tensor) and prob.device.type != "cpu"


def hand_mask(
    prob,
    threshold: float = MaskConfig.threshold,
    connectivity: int = MaskConfig.connectivity,
    bridge_px: int = MaskConfig.bridge_px,
    backend: str = "auto",
):
    """Single-object hand mask (the component containing the most probable pixel).

    Args:
        prob: ``(N, H, W)`` hand probability, tensor (any device) or numpy.
        threshold, connectivity, bridge_px: see :class:`MaskConfig`.
        backend: ``"torch"`` (:func:`hand_mask_torch`), ``"cv2"`` / ``"scipy"``
            (:func:`hand_mask_numpy`), or ``"auto"``: torch for tensors on an accelerator,
            OpenCV (else SciPy) for numpy arrays and CPU tensors.

    Returns:
        ``(N, H, W)`` bool, same array type (and device) as ``prob``.
    """
    if _use_torch(prob, backend):
        return hand_mask_torch(torch.as_tensor(prob), threshold, connectivity, bridge_px)
    if isinstance(prob, torch.Tensor):
        out = hand_mask_numpy(
            prob.detach().cpu().numpy(), threshold, connectivity, bridge_px, backend
        )
        return torch.from_numpy(out).to(prob.device)
    return hand_mask_numpy(prob, threshold, connectivity, bridge_px, backend)


def hand_components(
    prob,
    threshold: float = MaskConfig.threshold,
    max_hands: int = MaskConfig.max_hands,
    min_area_px: int = MaskConfig.min_area_px,
    connectivity: int = MaskConfig.connectivity,
    bridge_px: int = MaskConfig.bridge_px,
    backend: str = "auto",
) -> HandComponents:
    """Up to ``max_hands`` hand components of ``(N, H, W)`` probabilities, sorted by peak
    probability (:class:`HandComponents`, arrays of the input's type and device).
    ``backend`` as in :func:`hand_mask`; other arguments see :class:`MaskConfig`."""
    if _use_torch(prob, backend):
        return hand_components_torch(
            torch.as_tensor(prob), threshold, max_hands, min_area_px, connectivity, bridge_px
        )
    if not isinstance(prob, torch.Tensor):
        return hand_components_numpy(
            prob, threshold, max_hands, min_area_px, connectivity, bridge_px, backend
        )
    out = hand_components_numpy(
        prob.detach().cpu().numpy(),
        threshold,
        max_hands,
        min_area_px,
        connectivity,
        bridge_px,
        backend,
    )
    return HandComponents(
        *(
            torch.from_numpy(getattr(out, f)).to(prob.device)
            for f in ("mask", "box", "peak", "peak_uv", "area", "valid")
        )
    )


def mask_to_box(mask):
    """Bounding box of all True pixels of each mask.

    Args:
        mask: ``(N, H, W)`` bool, tensor (any device) or numpy.

    Returns:
        ``(box (N, 4), nonempty (N,))``: box ``[u_min, v_min, u_max, v_max]`` in continuous
        pixels (module docstring), zeros where the mask is empty; same array type as the input.
    """
    if isinstance(mask, torch.Tensor):
        cols, rows = mask.any(dim=1), mask.any(dim=2)  # (N, W), (N, H)
        nonempty = cols.any(dim=1)

        def first_last(a):
            size = a.shape[1]
            first = a.to(torch.uint8).argmax(dim=1)
            last = size - 1 - a.flip(1).to(torch.uint8).argmax(dim=1)
            return first, last

        (u0, u1), (v0, v1) = first_last(cols), first_last(rows)
        box = torch.stack((u0, v0, u1, v1), dim=-1).to(torch.float32)
        box = box + torch.tensor([-0.5, -0.5, 0.5, 0.5], device=mask.device)
        return torch.where(nonempty[:, None], box, torch.zeros_like(box)), nonempty
    mask = np.asarray(mask, dtype=bool)
    cols, rows = mask.any(axis=1), mask.any(axis=2)
    nonempty = cols.any(axis=1)
    u0 = cols.argmax(axis=1)
    u1 = mask.shape[2] - 1 - cols[:, ::-1].argmax(axis=1)
    v0 = rows.argmax(axis=1)
    v1 = mask.shape[1] - 1 - rows[:, ::-1].argmax(axis=1)
    box = np.stack((u0, v0, u1, v1), axis=-1).astype(np.float32) + np.array(
        [-0.5, -0.5, 0.5, 0.5], np.float32
    )
    return np.where(nonempty[:, None], box, 0.0).astype(np.float32), nonempty
