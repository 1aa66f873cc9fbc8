"""Weight files: one network per file, self-describing, loadable with ``weights_only=True``.

A file is ``torch.save`` of one plain dictionary::

    format          "hand3d_ros-weights"
    format_version  1
    network         "handsegnet" | "posenet" | "poseprior" | "gesturenet"
    config          the network's full layer table (rebuilds the network alone)
    input_size      (H, W) the network was made for (px; map cells for PosePrior)
    preprocessing   e.g. {"scale": 1/255, "offset": -0.5, "layout": "NCHW", "color": "RGB"}
    keypoint_order  names of the keypoints (core/keypoints.py order) in the outputs
                    (empty for HandSegNet)
    training        free-form: data, steps, ... (plain values only)
    notes           free-form list of strings (e.g. caveats of converted weights)
    software        versions that wrote the file
    sha256          hash of the tensors (see :func:`tensor_sha256`)
    state_dict      name -> tensor

Only plain values (dict, list, tuple, str, int, float, bool, None) and tensors are
stored, so ``torch.load(weights_only=True)`` reads them without running code.
Every problem with a file is one :class:`WeightsError` whose message names the file
and the first thing wrong.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

import torch
from torch import nn

from hand3d_ros.core.keypoints import KEYPOINT_NAMES

FORMAT = "hand3d_ros-weights"
FORMAT_VERSION = 1
#: Keys every file has.
REQUIRED_KEYS = ("format", "format_version", "network", "config", "input_size",
                 "preprocessing", "keypoint_order", "training", "sha256", "state_dict")
#: Metadata a caller may set in :func:`save_weights` (the rest comes from the model).
METADATA_KEYS = ("preprocessing", "keypoint_order", "training", "notes", "calibration")
#: Longest excerpt of an underlying error quoted in a WeightsError message.
MAX_REASON_CHARS = 200

#: Preprocessing of the image networks: ``x = rgb_uint8 * scale + offset``, NCHW, RGB.
IMAGE_PREPROCESSING = {"scale": 1.0 / 255.0, "offset": -0.5, "layout": "NCHW", "color": "RGB"}
_DEFAULT_PREPROCESSING = {
    "handsegnet": IMAGE_PREPROCESSING,
    "posenet": IMAGE_PREPROCESSING,
    "poseprior": {"input": "PoseNet score maps of the last stage", "layout": "NCHW",
                  "hand_side": "one-hot [left, right]"},
    "gesturenet": {"input": "w_rel (N, 21, 3), root-relative, reference bone = 1"},
}


class WeightsError(ValueError):
    """A weight file that cannot be used: missing, corrupt, foreign or mismatching."""


def default_preprocessing(network: str) -> dict:
    """The preprocessing a network of this project expects (stored unless overridden)."""
    return dict(_DEFAULT_PREPROCESSING[network])


def tensor_sha256(state_dict: Mapping) -> str:
    """Hex sha256 over the tensors, deterministic and independent of dict order.

    For each name in sorted order: the UTF-8 name, the dtype (``str(dtype)``), the
    shape, each followed by a NUL byte, then the tensor's raw bytes (C order, the
    machine's byte order: little-endian on every supported platform).
    """
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        for part in (name, str(tensor.dtype), repr(tuple(tensor.shape))):
            digest.update(part.encode("utf-8") + b"\0")
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def save_atomically(obj, path) -> None:
    """``torch.save`` ``obj`` to a temporary file beside ``path``, then rename it over
    ``path``: a reader never sees a half-written file, and an interrupted write leaves the
    old one."""
    tmp = os.fspath(path) + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, os.fspath(path))


def save_weights(path, model: nn.Module, metadata: Mapping = None) -> str:
    """Write ``model`` (built by this package: it has ``model.config``) to ``path``
    (atomically: :func:`save_atomically`).

    Args:
        path: file to write (parent folders are created).
        model: a network from :mod:`hand3d_ros.models`.
        metadata: optional ``preprocessing``, ``keypoint_order`` (list of names),
            ``training`` (dict), ``notes`` (list of str) and ``calibration`` (dict: output
            calibrations, e.g. ``core.side_calibration``); plain values only.

    Returns:
        The sha256 of the tensors, as stored in the file.
    """
    config = getattr(model, "config", None)
    if not isinstance(config, dict) or "network" not in config:
        raise ValueError("model has no .config table: build it with hand3d_ros.models")
    metadata = dict(metadata or {})
    unknown = set(metadata) - set(METADATA_KEYS)
    if unknown:
        raise ValueError(f"unknown metadata keys {sorted(unknown)} (allowed: {METADATA_KEYS})")
    network = config["network"]
    state = {name: t.detach().cpu().contiguous().clone() for name, t in model.state_dict().items()}
    content = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "network": network,
        "config": config,
        "input_size": tuple(config["input_size"]),
        "preprocessing": metadata.get("preprocessing", default_preprocessing(network)),
        "keypoint_order": list(metadata.get("keypoint_order", _default_keypoints(network))),
        "training": metadata.get("training", {}),
        "notes": list(metadata.get("notes", [])),
        # Output calibrations fitted after training (e.g. core.side_calibration: hand side).
        "calibration": dict(metadata.get("calibration", {})),
        "software": {"torch": str(torch.__version__)},
        "sha256": tensor_sha256(state),
    }
    for key, value in content.items():
        _check_plain(value, key)
    content["state_dict"] = state
    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    save_atomically(content, path)
    return content["sha256"]


def read_weights(path, map_location="cpu") -> dict:
    """The verified content of a weight file (all keys, ``state_dict`` included).

    Raises:
        WeightsError: missing, unreadable, foreign, newer-format or corrupt file
            (tensors not matching their sha256).
    """
    where = os.fspath(path)
    if not os.path.isfile(where):
        raise WeightsError(f"{where}: no such file")
    try:
        content = torch.load(where, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for damaged/foreign files
        raise WeightsError(f"{where}: not a readable weights file ({_reason(exc)})") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        found = content.get("format") if isinstance(content, dict) else type(content).__name__
        raise WeightsError(f"{where}: not a {FORMAT} file (format: {found!r})")
    if not isinstance(content.get("format_version"), int) or content["format_version"] > FORMAT_VERSION:
        raise WeightsError(f"{where}: format version {content.get('format_version')!r} is not "
                           f"supported (this version reads up to {FORMAT_VERSION})")
    missing = [key for key in REQUIRED_KEYS if key not in content]
    if missing:
        raise WeightsError(f"{where}: incomplete weights file (no {missing[0]!r})")
    state = content["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise WeightsError(f"{where}: state_dict is not a dict of tensors")
    if tensor_sha256(state) != content["sha256"]:
        raise WeightsError(f"{where}: tensors do not match their sha256 (file damaged or edited)")
    return content


def set_calibration(path, name: str, value: dict) -> None:
    """Store (or replace) the output calibration ``name`` in the weight file ``path``
    (its ``calibration`` metadata), keeping everything else; the file is rewritten atomically."""
    content = read_weights(path)
    calibration = dict(content.get("calibration") or {})
    calibration[name] = value
    _check_plain(calibration, "calibration")
    content["calibration"] = calibration
    save_atomically(content, path)


def check_state_dict(expected: Mapping, found: Mapping, source: str = "weights") -> None:
    """Raise one :class:`WeightsError` naming the first tensor that does not fit.

    Args:
        expected: the model's ``state_dict()`` (name -> tensor).
        found: the file's state dict.
        source: what to name in the message (the file).
    """
    problems = []
    for name, tensor in expected.items():
        if name not in found:
            problems.append(f"missing tensor '{name}' (expected shape {tuple(tensor.shape)})")
        elif tuple(found[name].shape) != tuple(tensor.shape):
            problems.append(f"tensor '{name}': expected shape {tuple(tensor.shape)}, "
                            f"found {tuple(found[name].shape)}")
    problems += [f"unexpected tensor '{name}' (shape {tuple(found[name].shape)})"
                 for name in found if name not in expected]
    if problems:
        more = f" (and {len(problems) - 1} more mismatches)" if len(problems) > 1 else ""
        raise WeightsError(f"{source}: weights do not fit the architecture: {problems[0]}{more}")


#: Prefix of a PoseNet hand head's tensors in a state dict (see :func:`load_state_into`).
HAND_HEAD_PREFIX = "hand_head."


def load_state_into(model: nn.Module, path, map_location="cpu", fresh=(), narrow: bool = False) -> dict:
    """Load a weight file into an existing ``model``; returns the file's metadata.

    The file's network must match ``model.config["network"]`` (when the model has
    a config) and every tensor must fit (else one :class:`WeightsError` naming the
    first mismatching tensor), except under the top-level modules named in ``fresh``:
    when any of their tensors is missing from the file or has another shape (a new
    head), all of that module keeps the model's own (initial) values. With ``narrow``,
    a file of the same table at a larger width multiplier is cut to the model's width
    (:mod:`hand3d_ros.models.narrow`: the channels with the largest batch-norm scales).
    A PoseNet hand head in the file is left out when the model has none (training goes on
    from weights with a head; fit it again on the result).
    """
    content = read_weights(path, map_location)
    where = os.fspath(path)
    own = getattr(model, "config", {}).get("network")
    if own is not None and own != content["network"]:
        raise WeightsError(f"{where}: holds {content['network']} weights, the model is a {own}")
    expected, found = model.state_dict(), dict(content["state_dict"])
    if narrow and _width(content["config"]) > _width(getattr(model, "config", {})):
        from hand3d_ros.models.narrow import narrow_state_dict

        try:
            found = dict(narrow_state_dict(found, expected))
        except ValueError as exc:
            raise WeightsError(f"{where}: cannot narrow width {_width(content['config'])} to "
                               f"{_width(model.config)}: {exc}") from None
    if not any(k.startswith(HAND_HEAD_PREFIX) for k in expected):
        # a PoseNet hand head is fitted on the finished network's features (hand3d
        # fit-hand-head), not trained with it: a model without one leaves the file's out
        found = {k: v for k, v in found.items() if not k.startswith(HAND_HEAD_PREFIX)}
    for name in fresh:
        prefix = name + "."
        mine = {k: v for k, v in expected.items() if k.startswith(prefix)}
        theirs = {k: v for k, v in found.items() if k.startswith(prefix)}
        if mine.keys() != theirs.keys() or any(v.shape != theirs[k].shape for k, v in mine.items()):
            found = {k: v for k, v in found.items() if not k.startswith(prefix)}
            found.update(mine)
    check_state_dict(expected, found, where)
    model.load_state_dict(found)
    return _metadata(content)


def _width(config) -> float:
    """Width multiplier of a network table (1 when it names none)."""
    return float(config.get("width", 1.0)) if isinstance(config, Mapping) else 1.0


def load_weights(path, map_location="cpu") -> tuple:
    """Rebuild the network stored in ``path`` and load its weights.

    Returns:
        ``(model, metadata)``: the model in eval mode, moved to ``map_location``
        when that names a device; metadata is the file's dict without the tensors.
    """
    # deferred: build imports every network module, weights stays light to import
    from hand3d_ros.models.build import build_network

    content = read_weights(path, map_location)
    where = os.fspath(path)
    try:
        model = build_network(content["network"], content["config"])
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise WeightsError(f"{where}: its config does not build a network ({_reason(exc)})") from None
    check_state_dict(model.state_dict(), content["state_dict"], where)
    model.load_state_dict(content["state_dict"])
    if isinstance(map_location, (str, torch.device)):
        model.to(map_location)
    return model.eval(), _metadata(content)


def _default_keypoints(network: str) -> list:
    return [] if network == "handsegnet" else list(KEYPOINT_NAMES)


def _metadata(content: dict) -> dict:
    return {key: value for key, value in content.items() if key != "state_dict"}


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:MAX_REASON_CHARS]


_PLAIN = (str, int, float, bool, type(None))


def _check_plain(value, where: str) -> None:
    # exact types: a subclass (e.g. torch's TorchVersion str) would not load with weights_only
    if type(value) in _PLAIN:
        return
    if type(value) in (list, tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise ValueError(f"metadata {where}: keys must be strings, got {key!r}")
            _check_plain(item, f"{where}.{key}")
        return
    raise ValueError(f"metadata {where}: {type(value).__name__} is not a plain value")
