"""INT8 for the ONNX Runtime CPU backend: calibration on real frames, stored in the weight files.

Like a TensorRT calibration table, the activation ranges of each network live with its
weights (``calibration["int8_onnxruntime"]`` of the weight file, see
:func:`hand3d_ros.models.weights.set_calibration`), so a robot never calibrates at start-up:

1. :func:`calibrate_model_set` feeds each network what the pipeline really feeds it on
   the given frames (:func:`hand3d_ros.inference.export.capture_network_inputs`), runs
   ONNX Runtime's calibrator on the pre-processed FP32 graph (:func:`preprocessed_graph`)
   and returns, per network, the per-tensor ranges with what they depend on
   (:func:`make_calibration`).
2. :func:`quantize_graph` turns a cached FP32 graph plus stored ranges into a QDQ INT8
   graph (weights per channel, :class:`QuantSettings`), cached next to the FP32 graph
   under a key of the FP32 graph, the ranges and the settings.

Ranges are keyed by tensor names of the pre-processed graph; these depend on torch's
exporter, the opset and ONNX Runtime's pre-processing, so the calibration records a hash
of the graph's tensor names (:func:`tensor_names_sha256`) and :func:`check_calibration`
refuses ranges made for another graph instead of quantizing it wrongly.

``onnxruntime`` (and torch) are imported inside the functions that need them.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np

from hand3d_ros.inference.engine_cache import PathLike, atomic_write_bytes

if TYPE_CHECKING:  # torch and the networks are imported where used: the CLI's options stay light
    from hand3d_ros.inference.export import ExportedGraph
    from hand3d_ros.inference.model_set import ModelSet

#: Key of the INT8 calibration in a weight file's ``calibration`` metadata.
CALIBRATION_KEY = "int8_onnxruntime"
#: Layout version of that calibration (bump when its content changes meaning).
CALIBRATION_FORMAT = 1
#: Calibration methods: ``minmax`` (the observed range of every tensor) or
#: ``percentile`` (histogram, outliers cut at :data:`DEFAULT_PERCENTILE`).
METHODS = ("minmax", "percentile")
#: Chosen by measurement on the shipped lite weights, calibrated on 48 real photos (with
#: and without hands), agreement with FP32 on 48 others: percentile 99.99 gave HandSegNet
#: mask IoU 0.938 and a mean PoseNet argmax shift of 9.9 px (128 px crops); percentile
#: 99.999 0.890 / 10.4 px; minmax 0.890 / 11.6 px (a few outliers stretch its ranges).
#: The same order with a third of the frames rendered (0.930 / 15.9 px for 99.99), and end
#: to end with PoseNet's ranges from each method (hand3d eval --real, 410 val photos):
#: handedness 0.685 / 0.638 / 0.647, false hands per hand-free photo 0.053 / 0.067 / 0.087
#: (99.99 / 99.999 / minmax; FP32 0.719 and 0.053).
DEFAULT_METHOD = "percentile"
#: Percentile kept by the ``percentile`` method (see :data:`DEFAULT_METHOD`), in (50, 100].
DEFAULT_PERCENTILE = 99.99
#: Histogram bins of the ``percentile`` method.
PERCENTILE_BINS = 2048
#: Samples per calibration run of one graph (bounds the calibrator's memory).
CALIBRATION_BATCH = 8


class Int8CalibrationError(ValueError):
    """Stored INT8 calibration that cannot be used for this graph; the message says why."""


@dataclass(frozen=True)
class QuantSettings:
    """How :func:`quantize_graph` quantizes (QDQ format).

    Activations unsigned 8 bit with a zero point, weights signed 8 bit per output channel,
    full 8-bit range: ONNX Runtime's recommendation for x86 CPUs with VNNI (AVX512-VNNI /
    AVX-VNNI) and for Arm. x86 CPUs without VNNI add pairs of U8S8 products in saturating
    16-bit sums; there unsigned weights (``weight_type="QUInt8"``, U8U8 kernels without that
    step) keep FP32's accuracy, where ``reduce_range`` (7-bit weights) loses some
    (:func:`settings_for_cpu` picks U8U8).
    """

    per_channel: bool = True
    reduce_range: bool = False
    activation_type: str = "QUInt8"
    weight_type: str = "QInt8"


#: /proc/cpuinfo flags of the x86 dot-product instructions ONNX Runtime's INT8 kernels use
#: without saturating (AVX512-VNNI, AVX-VNNI, AMX).
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def cpu_saturates_u8s8(cpuinfo: Optional[str] = None, machine: Optional[str] = None) -> bool:
    """Whether this CPU runs ONNX Runtime's U8S8 INT8 kernels with saturating 16-bit sums:
    an x86-64 CPU without any of :data:`VNNI_FLAGS` (Arm and unknown CPUs: False).

    Args:
        cpuinfo: text of ``/proc/cpuinfo`` (read when None; not Linux: unknown, False).
        machine: ``platform.machine()`` (read when None).
    """
    import platform

    machine = (machine if machine is not None else platform.machine()).lower()
    if machine not in ("x86_64", "amd64", "i386", "i686"):
        return False
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines()
                  if line.startswith("flags")), None)
    return flags is not None and not any(flag in flags for flag in VNNI_FLAGS)


def settings_for_cpu(saturates: Optional[bool] = None) -> QuantSettings:
    """The :class:`QuantSettings` for this CPU (``saturates``: :func:`cpu_saturates_u8s8`
    when None). Measured on an AVX2 CPU without VNNI (session 16, shipped weights, real
    test split, hands found / false hands per hand-free photo): FP32 91.1 % / 0.044,
    U8S8 86.8 % / 0.040, U8S8 with 7-bit weights 90.5 % / 0.047, U8U8 91.0 % / 0.040."""
    if saturates is None:
        saturates = cpu_saturates_u8s8()
    return QuantSettings(weight_type="QUInt8") if saturates else QuantSettings()


# ---------------------------------------------------------------- hashes and names
def _sha256_json(value) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def graph_tensor_names(path: PathLike) -> List[str]:
    """Sorted names of a graph's inputs and of every node output (the names ranges refer to)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    names = {value.name for value in graph.input}
    for node in graph.node:
        names.update(name for name in node.output if name)
    return sorted(names)


def tensor_names_sha256(names: Iterable[str]) -> str:
    """Hex sha256 of a set of tensor names (order-free)."""
    return hashlib.sha256("\n".join(sorted(names)).encode("utf-8")).hexdigest()


def ranges_sha256(ranges: Mapping[str, Sequence[float]]) -> str:
    """Hex sha256 of a ranges table (name -> [low, high])."""
    return _sha256_json({name: [float(v) for v in pair] for name, pair in ranges.items()})


def onnxruntime_version() -> str:
    from hand3d_ros.inference.backends.onnxruntime_backend import import_onnxruntime

    return str(import_onnxruntime().__version__)


# ---------------------------------------------------------------- graphs
def preprocessed_graph(graph: ExportedGraph) -> Path:
    """ONNX Runtime's quantization pre-processing (shape inference, graph optimisation) of
    an exported FP32 graph, cached beside it as ``<graph>-pre-<key16>.onnx`` (key: the
    graph's key and the onnxruntime version). Calibration and quantization both use it."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    key = _sha256_json({"graph": graph.key, "onnxruntime": onnxruntime_version()})
    path = graph.path.with_name(f"{graph.path.stem}-pre-{key[:16]}.onnx")
    if not path.is_file():
        with tempfile.TemporaryDirectory(dir=graph.path.parent, prefix=".pre-") as tmp:
            out = Path(tmp) / "pre.onnx"
            quant_pre_process(str(graph.path), str(out))
            atomic_write_bytes(path, out.read_bytes())
    return path


class _Feeds:
    """ONNX Runtime's CalibrationDataReader over a list of feed dicts."""

    def __init__(self, feeds: Sequence[Dict[str, np.ndarray]]):
        self.feeds, self.index = list(feeds), 0

    def get_next(self):
        if self.index >= len(self.feeds):
            return None
        self.index += 1
        return self.feeds[self.index - 1]

    def __len__(self):
        return len(self.feeds)


def network_feeds(graph: ExportedGraph, calls: Sequence[tuple], batch: int = CALIBRATION_BATCH) -> List[Dict[str, np.ndarray]]:
    """The captured calls of one network (tuples of CPU tensors, see
    :func:`hand3d_ros.inference.export.capture_network_inputs`) as feed dicts of at most
    ``batch`` samples each."""
    feeds = []
    for args in calls:
        arrays = [a.detach().cpu().float().numpy() for a in args]
        for start in range(0, arrays[0].shape[0], batch):
            feeds.append({name: np.ascontiguousarray(a[start:start + batch])
                          for name, a in zip(graph.signature.inputs, arrays)})
    return feeds


def feed_samples(feed: Mapping[str, np.ndarray]) -> int:
    """Samples (batch size) of one feed dict."""
    return int(next(iter(feed.values())).shape[0])


def calibrate_ranges(pre_path: PathLike, feeds: Sequence[Dict[str, np.ndarray]], method: str = DEFAULT_METHOD,
                     percentile: float = DEFAULT_PERCENTILE) -> Dict[str, List[float]]:
    """Run ONNX Runtime's calibrator on the pre-processed graph; tensor name -> [low, high]."""
    import contextlib
    import io

    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r} (choose {', '.join(METHODS)})")
    if not feeds:
        raise ValueError("no inputs to calibrate with")
    if method == "percentile" and not 50.0 < percentile <= 100.0:
        raise ValueError(f"percentile must be in (50, 100], got {percentile}")
    kind = CalibrationMethod.MinMax if method == "minmax" else CalibrationMethod.Percentile
    options = {} if method == "minmax" else {"percentile": float(percentile), "num_bins": PERCENTILE_BINS,
                                             "symmetric": False}
    if method == "percentile":  # its histogram collector stacks each tensor over feeds: one sample each
        feeds = [{name: a[i:i + 1] for name, a in feed.items()}
                 for feed in feeds for i in range(feed_samples(feed))]
    with tempfile.TemporaryDirectory(prefix="hand3d-calib-") as tmp:
        calibrator = create_calibrator(Path(pre_path), None, augmented_model_path=os.path.join(tmp, "aug.onnx"),
                                       calibrate_method=kind, extra_options=options)
        with contextlib.redirect_stdout(io.StringIO()):  # the percentile calibrator prints its settings
            calibrator.collect_data(_Feeds(feeds))
            data = calibrator.compute_data()
        del calibrator
    ranges = {}
    for name, td in data.items():
        low, high = (float(np.asarray(v).reshape(-1)[0]) for v in td.range_value)
        # the percentile calibrator's cuts can cross on a nearly constant tensor (e.g. a
        # sigmoid saturated at 1): both are then bin edges next to its value
        ranges[name] = [min(low, high), max(low, high)]
    return ranges


def make_calibration(model_set: ModelSet, graph: ExportedGraph, ranges: Mapping[str, Sequence[float]], method: str,
                     percentile: Optional[float], frames: int, samples: int, source: str) -> dict:
    """The plain-data calibration stored in a weight file: the ranges and what they depend on."""
    import torch

    from hand3d_ros.inference.export import weights_sha256

    pre = preprocessed_graph(graph)
    return {
        "format_version": CALIBRATION_FORMAT,
        "method": method,
        "percentile": float(percentile) if method == "percentile" else None,
        "frames": int(frames),
        "samples": int(samples),
        "source": str(source),
        "onnxruntime": onnxruntime_version(),
        "torch": str(torch.__version__),
        "opset": int(graph.metadata.get("opset", 0)),
        "weights_sha256": weights_sha256(model_set, graph.network),
        "graph_tensors_sha256": tensor_names_sha256(graph_tensor_names(pre)),
        "ranges": {name: [float(lo), float(hi)] for name, (lo, hi) in sorted(ranges.items())},
    }


def calibrate_model_set(model_set: ModelSet, frames: np.ndarray, graphs: Mapping[str, ExportedGraph],
                        method: str = DEFAULT_METHOD, percentile: float = DEFAULT_PERCENTILE,
                        source: str = "", chunk: int = 16, captured: Optional[dict] = None) -> Dict[str, dict]:
    """Calibrate every network of ``graphs`` on ``frames``.

    Args:
        frames: (T, H, W, 3) uint8 RGB, all one size.
        graphs: the FP32 graphs (:func:`hand3d_ros.inference.export.export_model_set`).
        chunk: frames per pipeline run while capturing inputs (bounds memory).
        captured: the inputs already captured on ``frames`` (:func:`capture_inputs`), if any.
    Returns:
        network -> calibration (see :func:`make_calibration`).
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or not len(frames):
        raise ValueError(f"frames must be (T, H, W, 3) uint8 with T >= 1, got {frames.shape} {frames.dtype}")
    captured = captured if captured is not None else capture_inputs(model_set, frames, chunk)
    out = {}
    for network, graph in graphs.items():
        feeds = network_feeds(graph, captured[graph.network])
        ranges = calibrate_ranges(preprocessed_graph(graph), feeds, method, percentile)
        samples = sum(feed_samples(f) for f in feeds)
        out[network] = make_calibration(model_set, graph, ranges, method, percentile, len(frames), samples, source)
    return out


def capture_inputs(model_set: ModelSet, frames: np.ndarray, chunk: int = 16) -> Dict[str, list]:
    """:func:`hand3d_ros.inference.export.capture_network_inputs` over ``frames`` in chunks
    of ``chunk`` frames (calls of all chunks, in order)."""
    from hand3d_ros.inference.export import NETWORKS, capture_network_inputs

    captured = {name: [] for name in NETWORKS}
    for start in range(0, len(frames), max(1, int(chunk))):
        for network, calls in capture_network_inputs(model_set, frames[start:start + chunk]).items():
            captured[network].extend(calls)
    return captured


# ---------------------------------------------------------------- using a stored calibration
def stored_calibration(model_set: ModelSet, network: str) -> Optional[dict]:
    """The INT8 calibration in ``network``'s weight-file metadata, or None."""
    return (model_set.metadata.get(network, {}).get("calibration") or {}).get(CALIBRATION_KEY)


def check_calibration(model_set: ModelSet, graph: ExportedGraph, calibration: Mapping) -> Path:
    """The pre-processed graph that ``calibration`` fits; raises :class:`Int8CalibrationError`
    when it was made for other weights, another format or another graph (other torch,
    opset or onnxruntime: tensor names differ)."""
    from hand3d_ros.inference.export import weights_sha256

    where = f"{graph.network} int8 calibration"
    if calibration.get("format_version") != CALIBRATION_FORMAT or not isinstance(calibration.get("ranges"), dict):
        raise Int8CalibrationError(f"{where}: format {calibration.get('format_version')!r} is not "
                                   f"{CALIBRATION_FORMAT}; run hand3d calibrate-int8 again")
    if calibration.get("method") not in METHODS:
        raise Int8CalibrationError(f"{where}: unknown method {calibration.get('method')!r}")
    if calibration.get("weights_sha256") != weights_sha256(model_set, graph.network):
        raise Int8CalibrationError(f"{where} was made for other weights; run hand3d calibrate-int8 again")
    pre = preprocessed_graph(graph)
    names = graph_tensor_names(pre)
    if calibration.get("graph_tensors_sha256") != tensor_names_sha256(names) or not set(calibration["ranges"]) <= set(names):
        raise Int8CalibrationError(
            f"{where} names the tensors of another ONNX graph (made with torch {calibration.get('torch')}, "
            f"onnxruntime {calibration.get('onnxruntime')}, opset {calibration.get('opset')}; this graph: opset "
            f"{graph.metadata.get('opset')}, onnxruntime {onnxruntime_version()}); run hand3d calibrate-int8 again")
    return pre


def quantized_key(graph: ExportedGraph, calibration: Mapping, settings: QuantSettings) -> str:
    """Hex sha256 of what a quantized graph depends on."""
    return _sha256_json({"graph": graph.key, "onnxruntime": onnxruntime_version(), "method": calibration["method"],
                         "ranges": ranges_sha256(calibration["ranges"]), "settings": asdict(settings)})


def quantize_graph(model_set: ModelSet, graph: ExportedGraph, calibration: Mapping,
                   settings: Optional[QuantSettings] = None) -> tuple:
    """The INT8 (QDQ) graph of ``graph`` with the stored ranges, cached beside it
    (``settings``: :func:`settings_for_cpu` when None).

    Returns:
        ``(path, reused)``: the ``<graph>-int8-<key16>.onnx`` file, True when it was already there.
    Raises:
        Int8CalibrationError: see :func:`check_calibration`.
    """
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import CalibrationMethod, TensorData, TensorsData, save_tensors_data

    from hand3d_ros.inference.export import META_PREFIX

    pre = check_calibration(model_set, graph, calibration)
    settings = settings if settings is not None else settings_for_cpu()
    key = quantized_key(graph, calibration, settings)
    path = graph.path.with_name(f"{graph.path.stem}-int8-{key[:16]}.onnx")
    if path.is_file():
        try:
            meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        except Exception:  # a damaged file is made again
            meta = {}
        if meta.get(META_PREFIX + "int8_key") == json.dumps(key):
            return path, True
    method = CalibrationMethod.MinMax if calibration["method"] == "minmax" else CalibrationMethod.Percentile
    table = TensorsData(method, {name: TensorData(lowest=np.float32(lo), highest=np.float32(hi))
                                 for name, (lo, hi) in calibration["ranges"].items()})
    with tempfile.TemporaryDirectory(dir=graph.path.parent, prefix=".int8-") as tmp:
        cache, out = Path(tmp) / "ranges.json", Path(tmp) / "int8.onnx"
        save_tensors_data(table, cache)
        quantize_static(str(pre), str(out), None, quant_format=QuantFormat.QDQ, per_channel=settings.per_channel,
                        reduce_range=settings.reduce_range, activation_type=QuantType[settings.activation_type],
                        weight_type=QuantType[settings.weight_type], calibrate_method=method,
                        calibration_cache_path=str(cache))
        model = onnx.load(str(out))
    for name, value in {"int8_key": key, "int8_settings": asdict(settings), "int8_method": calibration["method"],
                        "fp32_cache_key": graph.key}.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = META_PREFIX + name, json.dumps(value, sort_keys=True)
    atomic_write_bytes(path, model.SerializeToString())
    return path, False


# ---------------------------------------------------------------- agreement with FP32
def _session(path: PathLike, threads: int):
    """A CPU session with the backend's own options (:func:`cpu_session_options`)."""
    from hand3d_ros.inference.backends.onnxruntime_backend import OrtSettings, cpu_session_options, import_onnxruntime

    ort = import_onnxruntime()
    options = cpu_session_options(ort, OrtSettings(intra_op_threads=max(0, int(threads))))
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def agreement(graph: ExportedGraph, int8_path: PathLike, feeds: Sequence[Dict[str, np.ndarray]],
              threads: int = 0) -> dict:
    """How the INT8 graph agrees with the FP32 graph on ``feeds`` (see :func:`network_feeds`).

    handsegnet: ``mask_iou`` (pooled over all pixels: |A and B| / |A or B| of the hand
    masks, logit hand > background), ``pixel_agreement``; posenet: ``argmax_px_mean`` /
    ``argmax_px_max`` (distance of each keypoint's score-map maximum, crop pixels),
    ``map_max_abs`` (score maps), ``side_agreement``; poseprior: ``w_c_max_abs``,
    ``rotation_max_abs``. Every network: ``samples``.
    """
    fp32, int8 = _session(graph.path, threads), _session(int8_path, threads)
    outputs = list(graph.signature.outputs)
    stats: Dict[str, list] = {}
    for feed in feeds:
        want = dict(zip(outputs, fp32.run(outputs, feed)))
        got = dict(zip(outputs, int8.run(outputs, feed)))
        for name, value in _compare(graph.network, want, got).items():
            stats.setdefault(name, []).append(value)
    samples = sum(feed_samples(f) for f in feeds)
    out = {"samples": samples}
    if graph.network == "handsegnet":
        inter, union, same, total = (float(np.sum(stats[k])) for k in ("inter", "union", "same", "pixels"))
        out.update(mask_iou=inter / union if union else 1.0, pixel_agreement=same / total if total else 1.0)
    elif graph.network == "posenet":
        distances = np.concatenate(stats["argmax_px"]) if stats.get("argmax_px") else np.zeros(0)
        out.update(argmax_px_mean=float(distances.mean()) if distances.size else 0.0,
                   argmax_px_max=float(distances.max()) if distances.size else 0.0,
                   map_max_abs=float(np.max(stats["map_max_abs"])))
        if "side_same" in stats:
            out["side_agreement"] = float(np.sum(stats["side_same"]) / samples)
    else:
        out.update(w_c_max_abs=float(np.max(stats["w_c_max_abs"])),
                   rotation_max_abs=float(np.max(stats["rotation_max_abs"])))
    return out


def _compare(network: str, want: dict, got: dict) -> dict:
    from hand3d_ros.models.tables import POSENET_MAP_STRIDE

    if network == "handsegnet":
        a = want["hand_logits"][:, 1] > want["hand_logits"][:, 0]
        b = got["hand_logits"][:, 1] > got["hand_logits"][:, 0]
        return {"inter": int(np.sum(a & b)), "union": int(np.sum(a | b)), "same": int(np.sum(a == b)), "pixels": a.size}
    if network == "posenet":
        maps_a, maps_b = want["score_maps"], got["score_maps"]
        n, k, h, w = maps_a.shape
        ia = np.argmax(maps_a.reshape(n, k, -1), axis=-1)
        ib = np.argmax(maps_b.reshape(n, k, -1), axis=-1)
        cells = np.hypot(ia // w - ib // w, ia % w - ib % w)
        out = {"argmax_px": (cells * POSENET_MAP_STRIDE).reshape(-1),
               "map_max_abs": float(np.max(np.abs(maps_a - maps_b)))}
        if "hand_side_logits" in want:
            out["side_same"] = int(np.sum(np.argmax(want["hand_side_logits"], -1) == np.argmax(got["hand_side_logits"], -1)))
        return out
    return {"w_c_max_abs": float(np.max(np.abs(want["w_c"] - got["w_c"]))),
            "rotation_max_abs": float(np.max(np.abs(want["rotation"] - got["rotation"])))}


# ---------------------------------------------------------------- calibration frames
def load_frames(paths: Sequence[PathLike], max_frames: int, size: tuple = (320, 240)) -> tuple:
    """Calibration frames from shard folders (field ``image``), image folders and image files.

    ``max_frames`` are spread evenly over the sources and within each; every frame is
    centre-cropped to the aspect of ``size`` (W, H) and resized to it. A real-teacher shard
    folder may be given as ``DIR:SPLIT`` (``hand3d train``'s syntax): only the photos of the
    sources of that split (:mod:`hand3d_ros.evaluation.real_split`) are used.

    Returns:
        ``(frames (T, H, W, 3) uint8 RGB, description)``.
    Raises:
        ValueError: a path that holds no frames, or ``max_frames`` < 1.
    """
    from hand3d_ros.data.label import read_rgb
    from hand3d_ros.data.shards import ShardDataset, ShardError
    from hand3d_ros.data.sources import IMAGE_SUFFIXES
    from hand3d_ros.evaluation.real_split import SplitError, parse_split_source, shard_split_indices

    if max_frames < 1 or not paths:
        raise ValueError("need at least one frame source and max_frames >= 1")
    per_source = [max_frames // len(paths) + (1 if i < max_frames % len(paths) else 0) for i in range(len(paths))]
    frames, parts = [], []
    for given, want in zip(paths, per_source):
        given, split = parse_split_source(os.path.expanduser(os.fspath(given)))
        path = Path(given)
        if (path / "manifest.json").is_file():
            try:
                data = ShardDataset(path, fields=["image"])
                indices = shard_split_indices(path, split) if split else np.arange(len(data))
            except (ShardError, SplitError) as err:
                raise ValueError(str(err)) from None
            picks = [int(indices[i]) for i in _spread(len(indices), want)]
            images = [data[i].get("image") for i in picks]
            if any(im is None for im in images):
                raise ValueError(f"{path}: its shards have no 'image' field")
        elif path.is_dir() or path.is_file():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
            if path.is_file() and path.suffix.lower() not in IMAGE_SUFFIXES:
                raise ValueError(f"{path}: not an image ({'/'.join(IMAGE_SUFFIXES)}) nor a shard folder")
            try:
                images = [read_rgb(str(files[i])) for i in _spread(len(files), want)]
            except OSError as err:
                raise ValueError(str(err)) from None
        else:
            raise ValueError(f"{path}: no such file or folder")
        if not images:
            raise ValueError(f"{path}: no frames (shard folder with 'image', or png/jpg images)")
        frames += [fit_frame(np.asarray(im), size) for im in images]
        parts.append(f"{path.name}{':' + split if split else ''} ({len(images)})")
    return np.stack(frames), ", ".join(parts)


def _spread(count: int, want: int) -> List[int]:
    if count <= want:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, want)})


def fit_frame(image: np.ndarray, size: tuple) -> np.ndarray:
    """(H, W, 3) uint8 centre-cropped to the aspect of ``size`` (W, H), resized to it."""
    import cv2

    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"frames must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    width, height = int(size[0]), int(size[1])
    h, w = image.shape[:2]
    if w * height > h * width:  # too wide
        keep = int(round(h * width / height))
        image = image[:, (w - keep) // 2:(w - keep) // 2 + keep]
    elif w * height < h * width:
        keep = int(round(w * height / width))
        image = image[(h - keep) // 2:(h - keep) // 2 + keep]
    if image.shape[:2] != (height, width):
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)
