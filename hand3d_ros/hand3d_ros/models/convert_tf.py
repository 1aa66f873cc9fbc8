"""Convert the authors' TensorFlow weight pickles to this project's weight files.

The authors released their weights as Python pickles (``handsegnet-rhd.pickle``,
``posenet3d-rhd-stb-slr-finetuned.pickle``): a dict from TF variable names to numpy
arrays. Naming scheme (facts about their files; no code of theirs is used)::

    <scope>/<layer>/weights     conv: HWIO (kh, kw, in, out); fc: (in, out)
    <scope>/<layer>/biases      (out,)

    scope         layers                                          our network, prefix
    HandSegNet    conv1_1 .. conv6_2 (as our "paper" table)        handsegnet  layers.
    PoseNet2D     conv1_1 .. conv4_7 (encoder)                     posenet     encoder.
                  conv5_1, conv5_2 (stage 0)                                   stages.0.
                  conv6_1 .. conv6_7, conv7_1 .. conv7_7                       stages.1/2.
    PosePrior     conv_pose_{0,1,2}_{1,2}, fc_rel0, fc_rel1, fc_xyz  poseprior canonical.
    ViewpointNet  conv_vp_{0,1,2}_{1,2}, fc_vp0, fc_vp1,                       viewpoint.
                  fc_vp_ux, fc_vp_uy, fc_vp_uz

Our layer names are the authors' layer names, so :data:`TF_NAME_TABLE` is derived
from the "paper" tables of :mod:`hand3d_ros.models.tables`.

Layout: conv kernels HWIO -> OIHW, FC (in, out) -> (out, in). Our PosePrior
flattens in NHWC order like TF, so its FC weights need no reordering.

Keypoint order: the authors' networks use the RHD order; ours use the public order
of :mod:`hand3d_ros.core.keypoints`. The converter permutes
  - the output channels of PoseNet's last conv of every stage,
  - the first 21 input channels (the previous stage's maps) of stages 1 and 2,
  - the input channels of PosePrior's first conv in both streams,
  - the 21 x 3 outputs of ``fc_xyz``.

Root keypoint: **in the authors' released weights keypoint 0 is the palm centre**
(midpoint of the wrist and the middle-finger MCP), not the wrist (their README,
"known issues"). PoseNet's map 0 therefore marks the palm centre and stays so
(files record it: ``keypoint_order[0] == "palm_centre"``). PosePrior's 3D output is
re-rooted at the wrist by default: the wrist is estimated as
``2 * palm_centre - middle_mcp`` and subtracted from every keypoint. Both are linear
in ``w_c`` and commute with the flip and the rotation, so they are folded exactly
into ``fc_xyz``; the canonical axes do not change (wrist, palm centre and middle MCP
lie on one line, the canonical -y axis) and the scale bone (middle MCP -> PIP) is
the same as ours.
"""
from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass

import numpy as np

from hand3d_ros.core.keypoints import KEYPOINT_NAMES, MIDDLE_MCP, NUM_KEYPOINTS, RHD_TO_OURS, WRIST
from hand3d_ros.models.tables import CONFIGS, stream_fc_inputs, walk

#: Names of the authors' 21 outputs in our order: keypoint 0 is the palm centre.
AUTHORS_KEYPOINT_NAMES = ("palm_centre",) + tuple(KEYPOINT_NAMES[1:])

#: Networks of each TF scope.
TF_SCOPES = {"HandSegNet": "handsegnet", "PoseNet2D": "posenet",
             "PosePrior": "poseprior", "ViewpointNet": "poseprior"}


@dataclass(frozen=True)
class TFLayer:
    """One layer of the authors' networks and where it goes in ours."""

    scope: str  #: TF scope, e.g. "PoseNet2D"
    layer: str  #: TF (and our) layer name, e.g. "conv6_1"
    network: str  #: our network, e.g. "posenet"
    module: str  #: our module path, e.g. "stages.1.conv6_1"
    kind: str  #: "conv" or "fc"
    tf_shape: tuple  #: TF weight shape: HWIO for conv, (in, out) for fc
    keypoints_in: bool  #: the first 21 input channels are RHD-ordered score maps
    keypoints_out: str  #: "" | "channels" (21 RHD maps) | "xyz" (21 x 3 RHD coords)


def _table_layers(scope, network, prefix, layers, in_ch, width=1.0, keypoints_in=False,
                  keypoints_out_last=""):
    rows = []
    entries = list(walk(layers, in_ch, None, width))
    for index, (entry, cin, cout, _, _) in enumerate(entries):
        if entry[0] == "pool":
            continue
        kind, name = entry[0], entry[1]
        shape = (entry[3], entry[3], cin, cout) if kind == "conv" else (cin, cout)
        rows.append(TFLayer(scope, name, network, f"{prefix}{name}", kind, shape,
                            keypoints_in and index == 0,
                            keypoints_out_last if index == len(entries) - 1 else ""))
    return rows


def tf_layer_table() -> tuple:
    """Every layer of the authors' four TF scopes, in network order (:class:`TFLayer`)."""
    paper = CONFIGS["paper"]
    seg, pose, prior = paper["handsegnet"], paper["posenet"], dict(paper["poseprior"])
    rows = _table_layers("HandSegNet", "handsegnet", "layers.", seg["layers"], seg["in_channels"])
    rows += _table_layers("PoseNet2D", "posenet", "encoder.", pose["encoder"], pose["in_channels"])
    enc_ch = rows[-1].tf_shape[-1]
    in_ch = enc_ch
    for index, stage in enumerate(pose["stages"]):
        rows += _table_layers("PoseNet2D", "posenet", f"stages.{index}.", stage, in_ch,
                              keypoints_in=index > 0, keypoints_out_last="channels")
        in_ch = NUM_KEYPOINTS + enc_ch
    prior["network"] = "poseprior"
    for scope, stream in (("PosePrior", "canonical"), ("ViewpointNet", "viewpoint")):
        table = prior[stream]
        rows += _table_layers(scope, "poseprior", f"{stream}.convs.", table["convs"],
                              prior["num_keypoints"], keypoints_in=True)
        features = stream_fc_inputs(prior, stream)
        rows += _table_layers(scope, "poseprior", f"{stream}.fcs.", table["fcs"], features)
        features = rows[-1].tf_shape[-1]
        for head in table["heads"]:
            rows += _table_layers(scope, "poseprior", f"{stream}.heads.", [head], features,
                                  keypoints_out_last="xyz" if head[1] == "fc_xyz" else "")
    return tuple(rows)


#: TF variable name -> (network, our state_dict key), e.g.
#: ``"PoseNet2D/conv6_3/biases" -> ("posenet", "stages.1.conv6_3.bias")``.
TF_NAME_TABLE = {
    f"{row.scope}/{row.layer}/{tf_suffix}": (row.network, f"{row.module}.{suffix}")
    for row in tf_layer_table()
    for tf_suffix, suffix in (("weights", "weight"), ("biases", "bias"))
}


def tf_variable_shapes() -> dict:
    """TF variable name -> shape of the authors' arrays (HWIO / (in, out) / (out,))."""
    shapes = {}
    for row in tf_layer_table():
        shapes[f"{row.scope}/{row.layer}/weights"] = row.tf_shape
        shapes[f"{row.scope}/{row.layer}/biases"] = (row.tf_shape[-1],)
    return shapes


def unmatched_tf_names(tf_dict) -> list:
    """Keys of a TF dict that the converter does not use (sorted)."""
    return sorted(name for name in tf_dict if name not in TF_NAME_TABLE)


def convert_tf_state(tf_dict, rebase_root_to_wrist: bool = True) -> dict:
    """Map the authors' TF variables to our state dicts (pure: numpy in, numpy out).

    Args:
        tf_dict: TF variable name -> array (as in the authors' pickles). Unknown
            names are ignored (see :func:`unmatched_tf_names`).
        rebase_root_to_wrist: fold the palm-centre -> wrist re-rooting into
            PosePrior's ``fc_xyz`` (see the module docstring); ``False`` keeps the
            authors' root (keypoint 0 = palm centre) in ``w_c`` / ``w_rel``.

    Returns:
        ``{network: {state_dict key: float32 array}}`` for every network whose
        variables the dict holds (handsegnet / posenet / poseprior).

    Raises:
        ValueError: no known variable; a network only partly present (names the
            first missing variable); an array of the wrong shape (names it).
    """
    rows_by_network = {}
    for row in tf_layer_table():
        rows_by_network.setdefault(row.network, []).append(row)
    out = {}
    for network, rows in rows_by_network.items():
        names = [f"{r.scope}/{r.layer}/{s}" for r in rows for s in ("weights", "biases")]
        present = [name for name in names if name in tf_dict]
        if not present:
            continue
        if len(present) != len(names):
            missing = next(name for name in names if name not in tf_dict)
            raise ValueError(f"{network}: variable {missing!r} is missing "
                             f"({len(names) - len(present)} of {len(names)} missing)")
        state = {}
        for row in rows:
            weight = _array(tf_dict, f"{row.scope}/{row.layer}/weights", row.tf_shape)
            bias = _array(tf_dict, f"{row.scope}/{row.layer}/biases", (row.tf_shape[-1],))
            weight, bias = _convert_layer(row, weight, bias, rebase_root_to_wrist)
            state[f"{row.module}.weight"], state[f"{row.module}.bias"] = weight, bias
        out[network] = state
    if not out:
        raise ValueError("no variable of HandSegNet, PoseNet2D, PosePrior or ViewpointNet found")
    return out


def _array(tf_dict, name, shape) -> np.ndarray:
    array = np.asarray(tf_dict[name])
    if array.shape != tuple(shape):
        raise ValueError(f"variable {name!r}: expected shape {tuple(shape)}, found {array.shape}")
    return array.astype(np.float32)


def _convert_layer(row: TFLayer, weight: np.ndarray, bias: np.ndarray, rebase: bool) -> tuple:
    perm = RHD_TO_OURS  # our keypoint i is RHD keypoint perm[i]
    if row.kind == "conv":
        if row.keypoints_in:
            weight = np.concatenate([weight[:, :, perm, :], weight[:, :, NUM_KEYPOINTS:, :]], axis=2)
        if row.keypoints_out == "channels":
            weight, bias = weight[..., perm], bias[perm]
        return np.ascontiguousarray(weight.transpose(3, 2, 0, 1)), np.ascontiguousarray(bias)
    if row.keypoints_out == "xyz":
        weight = weight.reshape(-1, NUM_KEYPOINTS, 3)[:, perm, :]
        bias = bias.reshape(NUM_KEYPOINTS, 3)[perm, :]
        if rebase:
            weight, bias = _rebase_to_wrist(weight, 1), _rebase_to_wrist(bias, 0)
        weight, bias = weight.reshape(-1, 3 * NUM_KEYPOINTS), bias.reshape(-1)
    return np.ascontiguousarray(weight.T), np.ascontiguousarray(bias)


def _rebase_to_wrist(coords: np.ndarray, axis: int) -> np.ndarray:
    """Linear map of keypoint outputs (along ``axis``, our order, slot 0 = palm centre)
    to wrist-rooted ones: wrist = 2 palm - middle MCP, then subtract the wrist."""
    coords = np.moveaxis(coords.copy(), axis, 0)
    wrist = 2.0 * coords[WRIST] - coords[MIDDLE_MCP]
    coords[WRIST] = wrist
    return np.moveaxis(coords - wrist[None], 0, axis)


# ------------------------------------------------------------------ reading pickles
_NUMPY_GLOBALS = {
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"), ("collections", "OrderedDict"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts of numpy arrays only (no other code can run)."""

    def find_class(self, module, name):
        if (module, name) not in _NUMPY_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("numpy.core"):  # numpy 1.x names -> numpy 2 modules
            try:
                return super().find_class(module.replace("numpy.core", "numpy._core", 1), name)
            except (ImportError, AttributeError):
                pass
        return super().find_class(module, name)


def load_tf_pickle(path) -> dict:
    """The authors' weight pickle as ``{variable name: np.ndarray}``.

    Only numpy arrays are unpickled (a restricted unpickler); Python 2 pickles are
    read with ``encoding="latin1"``.

    Raises:
        ValueError: missing file, not a pickle, or not a dict of arrays (one line).
    """
    where = os.fspath(path)
    if not os.path.isfile(where):
        raise ValueError(f"{where}: no such file")
    try:
        with open(where, "rb") as stream:
            content = _ArrayUnpickler(stream, encoding="latin1").load()
    except Exception as exc:  # any unpickling failure is a foreign/corrupt file
        first = (str(exc).splitlines() or [""])[0]
        raise ValueError(f"{where}: not a weight pickle ({type(exc).__name__}: {first})") from None
    if not isinstance(content, dict) or not all(isinstance(k, str) for k in content):
        raise ValueError(f"{where}: not a dict of TF variables")
    return {name: np.asarray(value) for name, value in content.items()}


def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------ writing files
def converted_metadata(network: str, source: str, rebase_root_to_wrist: bool = True,
                       source_sha256: str = "") -> dict:
    """Metadata for :func:`hand3d_ros.models.weights.save_weights` of a converted network."""
    notes = [f"Converted from the authors' TensorFlow weights ({source}); "
             "keypoints reordered from RHD to the public order."]
    keypoints = list(KEYPOINT_NAMES)
    if network == "posenet":
        keypoints = list(AUTHORS_KEYPOINT_NAMES)
        notes.append("Map 0 is the PALM CENTRE (midpoint of wrist and middle-finger MCP), "
                     "not the wrist: the authors' released weights were trained that way.")
    elif network == "poseprior":
        notes.append("Expects input map 0 to be the palm centre (as the converted PoseNet gives).")
        if rebase_root_to_wrist:
            notes.append("Outputs re-rooted at the wrist, estimated as 2*palm_centre - middle_mcp "
                         "(folded into fc_xyz).")
        else:
            keypoints = list(AUTHORS_KEYPOINT_NAMES)
            notes.append("Outputs keep the authors' root: keypoint 0 is the palm centre.")
    elif network == "handsegnet":
        keypoints = []
        notes = [notes[0].split(";")[0] + "."]
    training = {"source": "Zimmermann & Brox (ICCV 2017), released TensorFlow weights",
                "pickle": source, "pickle_sha256": source_sha256,
                "data": "as released by the authors (see the pickle's name)"}
    return {"keypoint_order": keypoints, "training": training, "notes": notes}


def write_converted(tf_dict, outdir, source: str = "", rebase_root_to_wrist: bool = True,
                    source_sha256: str = "") -> list:
    """Convert and write one weight file per network found: ``outdir/<network>.pt``.

    Returns:
        ``[(network, path), ...]`` in the order written.
    """
    import torch  # heavy: only when writing

    from hand3d_ros.models.build import build_network
    from hand3d_ros.models.weights import check_state_dict, save_weights

    written = []
    for network, state in convert_tf_state(tf_dict, rebase_root_to_wrist).items():
        model = build_network(network, "paper")
        tensors = {key: torch.from_numpy(value) for key, value in state.items()}
        check_state_dict(model.state_dict(), tensors, f"converted {network}")
        model.load_state_dict(tensors)
        path = os.path.join(os.fspath(outdir), f"{network}.pt")
        save_weights(path, model, converted_metadata(network, source, rebase_root_to_wrist,
                                                     source_sha256))
        written.append((network, path))
    return written


__all__ = [
    "AUTHORS_KEYPOINT_NAMES", "TF_NAME_TABLE", "TF_SCOPES", "TFLayer", "convert_tf_state",
    "converted_metadata", "file_sha256", "load_tf_pickle", "tf_layer_table",
    "tf_variable_shapes", "unmatched_tf_names", "write_converted",
]
