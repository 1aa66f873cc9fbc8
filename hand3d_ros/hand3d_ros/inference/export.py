"""Export the three networks to ONNX (named I/O, dynamic batch) and check them against PyTorch.

Graphs (N is the dynamic batch axis; H x W HandSegNet's input, S PoseNet's crop side,
s = S / 8 the score-map side, K = 21 keypoints in the public order of core/keypoints.py):

============  ===============================================  ==========================================
graph         inputs                                           outputs
============  ===============================================  ==========================================
handsegnet    ``image`` (N, 3, H, W) float32, ``rgb/255-0.5``  ``hand_logits`` (N, 2, H, W) [background, hand]
posenet       ``crop`` (N, 3, S, S) float32, same scaling      ``score_maps`` (N, K, s, s), last stage; with
                                                               a side head ``hand_side_logits`` (N, 2)
                                                               [left, right]; with a hand head
                                                               ``hand_logit`` (N, 1); with ``all_stages`` also
                                                               ``score_maps_stage<i>`` for the earlier
                                                               stages (training tools)
poseprior     ``score_maps`` (N, K, s, s), ``hand_side``       ``w_c`` (N, K, 3), ``rotation`` (N, 3, 3) R,
              (N, 2) one-hot [left, right] float32             ``axis_angle`` (N, 3) radians
============  ===============================================  ==========================================

Each file carries ``metadata_props`` (keys prefixed ``hand3d.``): network, config name,
weights sha256, cache key, input/output names and shapes, preprocessing, keypoint order,
opset, exporter versions. Files are named ``<network>-<config>-w<sha8>-<key16>.onnx``: sha8
begins the weights' sha256, the key hashes everything the graph depends on (weights,
layer table, opset, outputs, this module's format version), so a cache folder can hold
many and re-use the right one.

Mask growing and cropping stay outside the graphs (DESIGN.md section 5).
"""
from __future__ import annotations

import copy
import hashlib
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from hand3d_ros.core.keypoints import KEYPOINT_NAMES
from hand3d_ros.inference.backends.base import Backend
from hand3d_ros.inference.engine_cache import PathLike, atomic_write_bytes, resolve_cache_dir, safe_name
from hand3d_ros.inference.model_set import NETWORK_FILES, ModelSet
from hand3d_ros.models import tensor_sha256

#: Bump when the graphs' layout (names, outputs, metadata) changes: old cached files go stale.
EXPORT_FORMAT_VERSION = 1
#: Opset used unless asked otherwise, and the oldest one accepted.
DEFAULT_OPSET = 17
MIN_OPSET = 17
#: Largest |ONNX - PyTorch| accepted by the FP32 parity check.
PARITY_TOLERANCE = 1e-4
#: Prefix of this project's metadata_props keys.
META_PREFIX = "hand3d."
#: Hex characters of the cache key and of the weights' sha256 in file names.
NAME_KEY_CHARS = 16
NAME_WEIGHTS_CHARS = 8
#: Name of the dynamic batch axis in the graphs.
BATCH_AXIS = "batch"

NETWORKS = tuple(NETWORK_FILES)


@dataclass(frozen=True)
class GraphSignature:
    """Input and output names of one exported graph, in order."""

    inputs: Tuple[str, ...]
    outputs: Tuple[str, ...]


def graph_signature(network: str, all_stages: bool = False, num_stages: int = 3,
                    side_head: bool = False, hand_head: bool = False) -> GraphSignature:
    """Names of a graph's inputs and outputs (see the module docstring).

    PoseNet: ``score_maps`` (the last stage) is always output 0; ``side_head`` adds
    ``hand_side_logits``, then ``hand_head`` adds ``hand_logit``; ``all_stages`` appends
    ``score_maps_stage0 .. score_maps_stage{num_stages-2}``.
    """
    if network == "handsegnet":
        return GraphSignature(("image",), ("hand_logits",))
    if network == "posenet":
        side = (("hand_side_logits",) if side_head else ()) + (("hand_logit",) if hand_head else ())
        extra = tuple(f"score_maps_stage{i}" for i in range(num_stages - 1)) if all_stages else ()
        return GraphSignature(("crop",), ("score_maps",) + side + extra)
    if network == "poseprior":
        return GraphSignature(("score_maps", "hand_side"), ("w_c", "rotation", "axis_angle"))
    raise ValueError(f"unknown network {network!r} (choose from {', '.join(NETWORKS)})")


class _HandSegNetGraph(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, image):
        return self.net(image)


class _PoseNetGraph(nn.Module):
    def __init__(self, net: nn.Module, all_stages: bool):
        super().__init__()
        self.net, self.all_stages = net, all_stages

    def forward(self, crop):
        return tuple(posenet_outputs(self.net, crop, self.all_stages))


class _PosePriorGraph(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, score_maps, hand_side):
        out = self.net(score_maps, hand_side)
        return out.w_c, out.R, out.axis_angle


def _graph_module(network: str, net: nn.Module, all_stages: bool) -> nn.Module:
    if network == "handsegnet":
        return _HandSegNetGraph(net)
    if network == "posenet":
        return _PoseNetGraph(net, all_stages)
    return _PosePriorGraph(net)


def sample_input_shapes(model_set: ModelSet, network: str) -> Dict[str, Tuple[int, ...]]:
    """Shape of one sample (no batch axis) of every input of ``network``'s graph."""
    if network == "handsegnet":
        return {"image": (3,) + tuple(model_set.seg_input_hw)}
    if network == "posenet":
        return {"crop": (3, model_set.crop_size, model_set.crop_size)}
    if network == "poseprior":
        keypoints = int(model_set.networks["poseprior"].config["num_keypoints"])
        return {"score_maps": (keypoints, model_set.map_size, model_set.map_size), "hand_side": (2,)}
    raise ValueError(f"unknown network {network!r}")


def example_inputs(model_set: ModelSet, network: str, batch: int = 1, seed: int = 0) -> Tuple[torch.Tensor, ...]:
    """Random float32 inputs of the right shapes: images/crops in [-0.5, 0.5], maps in [0, 1],
    alternating one-hot hand sides [left, right]."""
    generator = torch.Generator().manual_seed(seed)
    shapes = sample_input_shapes(model_set, network)
    if network == "poseprior":
        maps = torch.rand((batch,) + shapes["score_maps"], generator=generator)
        side = torch.nn.functional.one_hot(torch.arange(batch) % 2, 2).float()
        return maps, side
    (name,) = shapes
    return (torch.rand((batch,) + shapes[name], generator=generator) - 0.5,)


def weights_sha256(model_set: ModelSet, network: str) -> str:
    """sha256 of the network's tensors (:func:`hand3d_ros.models.tensor_sha256`), memoised
    in ``model_set.extra`` (equal to the weight file's ``sha256`` for loaded weights)."""
    memo = model_set.extra.setdefault("weights_sha256", {})
    if network not in memo:
        memo[network] = tensor_sha256(model_set.networks[network].state_dict())
    return memo[network]


def export_key(model_set: ModelSet, network: str, opset: int = DEFAULT_OPSET, all_stages: bool = False) -> str:
    """Hex sha256 of everything the exported graph depends on."""
    content = {
        "format_version": EXPORT_FORMAT_VERSION,
        "network": network,
        "weights_sha256": weights_sha256(model_set, network),
        "layer_table": model_set.networks[network].config,
        "opset": int(opset),
        "signature": model_signature(model_set, network, all_stages).__dict__,
        "input_shapes": sample_input_shapes(model_set, network),
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=list)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def model_signature(model_set: ModelSet, network: str, all_stages: bool = False) -> GraphSignature:
    """:func:`graph_signature` of ``network`` as ``model_set`` builds it (stages, heads)."""
    posenet = model_set.networks["posenet"]
    return graph_signature(network, all_stages, len(posenet.config["stages"]), posenet.has_side_head,
                           posenet.has_hand_head)


def posenet_outputs(net: nn.Module, crop: torch.Tensor, all_stages: bool = False) -> list:
    """PoseNet's graph outputs in signature order: last maps, side logits (if the net has a
    side head), hand logits (if it has a hand head), earlier stages (``all_stages``)."""
    maps, side, hand = net.forward_heads(crop)
    heads = [h for h in (side, hand) if h is not None]
    return [maps[-1]] + heads + (list(maps[:-1]) if all_stages else [])


def graph_file_name(model_set: ModelSet, network: str, key: str, all_stages: bool = False) -> str:
    """``<network>[-stages]-<config>-w<weights sha256, 8>-<key16>.onnx``."""
    tag = f"{network}-stages" if all_stages else network
    weights = weights_sha256(model_set, network)[:NAME_WEIGHTS_CHARS]
    return f"{tag}-{safe_name(model_set.config_name)}-w{weights}-{key[:NAME_KEY_CHARS]}.onnx"


@dataclass
class ExportedGraph:
    """One ONNX file on disk.

    Attributes:
        network: handsegnet, posenet or poseprior.
        path: the .onnx file.
        key: the full cache key (see :func:`export_key`).
        signature: input/output names.
        metadata: the file's ``hand3d.*`` metadata_props (values JSON-decoded).
        reused: True when an existing file with the same key was kept.
    """

    network: str
    path: Path
    key: str
    signature: GraphSignature
    metadata: dict = field(default_factory=dict)
    reused: bool = False


def read_metadata(path: PathLike) -> dict:
    """The ``hand3d.*`` metadata_props of an ONNX file (prefix removed, JSON-decoded);
    empty when the file has none. Raises OSError / onnx errors for unreadable files."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return _decode_props(model)


def _decode_props(model) -> dict:
    out = {}
    for prop in model.metadata_props:
        if prop.key.startswith(META_PREFIX):
            try:
                out[prop.key[len(META_PREFIX):]] = json.loads(prop.value)
            except ValueError:
                out[prop.key[len(META_PREFIX):]] = prop.value
    return out


def _metadata(model_set: ModelSet, network: str, key: str, opset: int, signature: GraphSignature) -> dict:
    meta = model_set.metadata.get(network, {})
    shapes = sample_input_shapes(model_set, network)
    return {
        "format_version": EXPORT_FORMAT_VERSION,
        "network": network,
        "config": model_set.config_name,
        "model_set": model_set.name,
        "random_weights": bool(model_set.random),
        "weights_sha256": weights_sha256(model_set, network),
        "cache_key": key,
        "opset": int(opset),
        "input_names": list(signature.inputs),
        "output_names": list(signature.outputs),
        "input_shapes": {name: [BATCH_AXIS] + list(shape) for name, shape in shapes.items()},
        "input_size": list(meta.get("input_size", model_set.networks[network].config["input_size"])),
        "preprocessing": meta.get("preprocessing", {}),
        "keypoint_order": list(meta.get("keypoint_order") or ([] if network == "handsegnet" else KEYPOINT_NAMES)),
        "torch_version": str(torch.__version__),
    }


def export_network(model_set: ModelSet, network: str, out_dir: PathLike, opset: int = DEFAULT_OPSET,
                   all_stages: bool = False, force: bool = False) -> ExportedGraph:
    """Export one network to ``out_dir`` (created), or re-use the file already there.

    A file is re-used when its name (which holds the key) exists and its metadata's
    ``cache_key`` equals the full key; ``force`` always re-exports. The file is written
    atomically after ``onnx.checker.check_model`` passes.

    Raises:
        ValueError: opset below :data:`MIN_OPSET`, unknown network, or ``all_stages``
            for a network other than PoseNet.
    """
    import onnx

    if opset < MIN_OPSET:
        raise ValueError(f"opset {opset} is too old: use {MIN_OPSET} or newer")
    if all_stages and network != "posenet":
        raise ValueError("all_stages applies to posenet only")
    signature = model_signature(model_set, network, all_stages)
    key = export_key(model_set, network, opset, all_stages)
    path = Path(out_dir) / graph_file_name(model_set, network, key, all_stages)
    if path.is_file() and not force:
        try:
            meta = read_metadata(path)
        except Exception:  # a damaged file is simply exported again
            meta = {}
        if meta.get("cache_key") == key:
            return ExportedGraph(network, path, key, signature, meta, reused=True)

    net = copy.deepcopy(model_set.networks[network]).to("cpu", torch.float32)
    net = net.to(memory_format=torch.contiguous_format).eval()
    module = _graph_module(network, net, all_stages).eval()
    names = list(signature.inputs) + list(signature.outputs)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        torch.onnx.export(module, example_inputs(model_set, network, batch=1), buffer, opset_version=int(opset),
                          dynamo=False, input_names=list(signature.inputs), output_names=list(signature.outputs),
                          dynamic_axes={name: {0: BATCH_AXIS} for name in names}, do_constant_folding=True)
    model = onnx.load_from_string(buffer.getvalue())
    metadata = _metadata(model_set, network, key, opset, signature)
    del model.metadata_props[:]
    for name, value in metadata.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = META_PREFIX + name, json.dumps(value, sort_keys=True)
    model.doc_string = f"hand3d_ros {network} ({model_set.name}); see metadata_props {META_PREFIX}*"
    onnx.checker.check_model(model)
    atomic_write_bytes(path, model.SerializeToString())
    return ExportedGraph(network, path, key, signature, _decode_props(model), reused=False)


def export_model_set(model_set: ModelSet, out_dir: Optional[PathLike] = None, cache_dir: Optional[PathLike] = None,
                     opset: int = DEFAULT_OPSET, networks: Sequence[str] = NETWORKS, all_stages: bool = False,
                     force: bool = False) -> Dict[str, ExportedGraph]:
    """Export (or re-use) several networks.

    Args:
        out_dir: folder for the files; None: ``<cache_dir>/onnx`` (see
            :func:`hand3d_ros.inference.engine_cache.resolve_cache_dir`).
        networks: which networks (default all three).
        all_stages: also export PoseNet with every stage's maps (an extra file,
            ``posenet-stages``, keyed ``"posenet-stages"`` in the result).
    Returns:
        name -> :class:`ExportedGraph`.
    """
    folder = Path(out_dir) if out_dir is not None else resolve_cache_dir(cache_dir) / "onnx"
    graphs = {}
    for network in networks:
        graphs[network] = export_network(model_set, network, folder, opset, False, force)
    if all_stages and "posenet" in networks:
        graphs["posenet-stages"] = export_network(model_set, "posenet", folder, opset, True, force)
    return graphs


# ---------------------------------------------------------------- parity on real inputs
def capture_network_inputs(model_set: ModelSet, frames: np.ndarray, box_fraction: float = 0.5) -> Dict[str, list]:
    """The tensors the pipeline actually feeds to each network, on ``frames``.

    Runs :class:`hand3d_ros.inference.pipeline.HandPosePipeline` on a PyTorch CPU
    backend that records its inputs: once in detection mode on all frames (HandSegNet's
    resized, normalised frames; crops and maps of any hands found) and once in tracking
    mode on the first frame with two square boxes, one centred and one shifted by a
    quarter of its side (so PoseNet and PosePrior always get real crops, batched, even
    when random weights find no hand).

    Args:
        frames: (N, H, W, 3) uint8 RGB.
        box_fraction: side of the tracking box as a fraction of the shorter image side; (0, 1].
    Returns:
        network -> list of argument tuples (CPU float32 tensors) in call order.
    """
    from hand3d_ros.inference.backends.torch_backend import TorchBackend
    from hand3d_ros.inference.pipeline import HandPosePipeline

    recorder = RecordingBackend(TorchBackend(model_set, device="cpu", precision="fp32"))
    pipeline = HandPosePipeline(recorder, model_set)
    frames = np.ascontiguousarray(frames)
    pipeline.detect(torch.from_numpy(frames))
    height, width = frames.shape[1:3]
    half = box_fraction * min(height, width) / 2.0
    boxes = [[width / 2.0 + shift - half, height / 2.0 + shift - half,
              width / 2.0 + shift + half, height / 2.0 + shift + half] for shift in (0.0, half / 2.0)]
    pipeline.pose_in_boxes(frames[0], boxes)
    return recorder.calls


class RecordingBackend(Backend):
    """Wraps a backend and keeps a CPU copy of every input it is given (``calls``:
    network -> list of argument tuples)."""

    def __init__(self, inner: Backend):
        self.inner = inner
        self.name, self.device, self.precision = inner.name, inner.device, inner.precision
        self.calls = {name: [] for name in NETWORKS}

    def _keep(self, network: str, *args) -> None:
        self.calls[network].append(tuple(a.detach().to("cpu", torch.float32).clone() for a in args))

    def handsegnet(self, images):
        self._keep("handsegnet", images)
        return self.inner.handsegnet(images)

    def posenet(self, crops):
        self._keep("posenet", crops)
        return self.inner.posenet(crops)

    def poseprior(self, maps, hand_side):
        self._keep("poseprior", maps, hand_side)
        return self.inner.poseprior(maps, hand_side)

    def synchronize(self) -> None:
        self.inner.synchronize()

    def describe(self) -> str:
        return f"recording {self.inner.describe()}"


@dataclass
class ParityResult:
    """|ONNX Runtime - PyTorch| of one output on one captured input."""

    network: str
    output: str
    batch: int
    max_abs_error: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return bool(self.max_abs_error < self.tolerance)


def _torch_outputs(model_set: ModelSet, network: str, args, all_stages: bool) -> List[np.ndarray]:
    net = model_set.networks[network]
    device = next(net.parameters()).device
    args = [a.to(device) for a in args]
    with torch.no_grad():
        if network == "handsegnet":
            outs = [net(*args)]
        elif network == "posenet":
            outs = posenet_outputs(net, *args, all_stages=all_stages)
        else:
            out = net(*args)
            outs = [out.w_c, out.R, out.axis_angle]
    return [o.detach().float().cpu().numpy() for o in outs]


def parity_check(model_set: ModelSet, graphs: Dict[str, ExportedGraph], frames: np.ndarray,
                 tolerance: float = PARITY_TOLERANCE, num_threads: int = 0) -> List[ParityResult]:
    """Run every graph with ONNX Runtime (CPU, FP32) on the inputs the pipeline feeds the
    networks for ``frames`` (see :func:`capture_network_inputs`) and compare with PyTorch.

    Returns one :class:`ParityResult` per (graph, captured call, output).
    """
    import onnxruntime

    captured = capture_network_inputs(model_set, frames)
    options = onnxruntime.SessionOptions()
    if num_threads > 0:
        options.intra_op_num_threads = num_threads
    results = []
    for name, graph in graphs.items():
        network = graph.network
        all_stages = name.endswith("-stages")
        session = onnxruntime.InferenceSession(str(graph.path), options, providers=["CPUExecutionProvider"])
        for args in captured[network]:
            feeds = {n: a.numpy() for n, a in zip(graph.signature.inputs, args)}
            got = session.run(list(graph.signature.outputs), feeds)
            want = _torch_outputs(model_set, network, args, all_stages)
            for output, g, w in zip(graph.signature.outputs, got, want):
                if g.shape != w.shape:
                    raise ValueError(f"{graph.path.name}: output {output} has shape {g.shape}, PyTorch gives {w.shape}")
                error = float(np.max(np.abs(g.astype(np.float64) - w))) if g.size else 0.0
                results.append(ParityResult(name, output, int(args[0].shape[0]), error, tolerance))
    return results


def format_parity(results: Sequence[ParityResult]) -> str:
    """A small table, one line per (graph, output): worst error over the captured calls."""
    worst: Dict[Tuple[str, str], ParityResult] = {}
    batches: Dict[Tuple[str, str], set] = {}
    for r in results:
        key = (r.network, r.output)
        batches.setdefault(key, set()).add(r.batch)
        if key not in worst or r.max_abs_error > worst[key].max_abs_error:
            worst[key] = r
    lines = [f"{'graph':16s} {'output':20s} {'batches':10s} {'max |onnx - torch|':>20s}  ok"]
    for key, r in worst.items():
        sizes = ",".join(str(b) for b in sorted(batches[key]))
        lines.append(f"{r.network:16s} {r.output:20s} {sizes:10s} {r.max_abs_error:20.3e}  "
                     f"{'yes' if r.ok else 'NO (>= %.0e)' % r.tolerance}")
    return "\n".join(lines)
