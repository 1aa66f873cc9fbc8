"""The networks as data: one layer table per network and configuration.

Every architecture in this package is a plain dictionary (ints, floats, strings,
lists and tuples only), so that a weight file can carry it and rebuild the network
from the file alone. :data:`CONFIGS` maps a configuration name to one table per
network; :func:`resolve_config` picks one and applies the ``width`` / ``input_size``
overrides. A compact variant is a different table entry, never different code.

Layer entries (tuples, built by :func:`conv`, :func:`pool` and :func:`fc`)::

    ("conv", name, out_channels, kernel, stride, activation)
        2D convolution with bias and TensorFlow 'SAME' padding: output size
        ceil(input / stride); for an odd kernel at stride 1 the padding is
        symmetric, otherwise the extra row/column goes bottom/right.
    ("pool", name, size)
        max-pool size x size, stride size, 'VALID' (output floor(input / size)).
    ("fc", name, out_features, activation, keep_prob)
        fully connected layer with bias; dropout with keep probability
        ``keep_prob`` after the activation (1.0: no dropout; active in train mode only).

``activation`` is ``"leaky"`` (leaky ReLU, slope :data:`LEAKY_SLOPE`) or
``"linear"`` (none: the last layer of a head). The width multiplier scales the
output size of every ``"leaky"`` layer (rounded to a multiple of
:data:`WIDTH_DIVISOR`); ``"linear"`` layers are outputs and keep their size.

Table layouts per network (``input_size`` is (height, width) in pixels for the
image networks and in map cells for PosePrior; HandSegNet and PoseNet tables may set
``batch_norm: True`` for a batch norm between every leaky conv and its activation)::

    handsegnet: layers                       image (N,3,H,W) -> scores (N,2,H/8,W/8)
    posenet:    encoder, stages[0..S-1]      stage 0 reads the encoding, stage k>0
                                             reads concat(maps of stage k-1, encoding)
                [side_head]                  fcs -> (N,2) hand side logits [left, right]
                [side_reads]                 what the side head reads: "encoding" (the
                                             default) or "maps+encoding" (concat of the
                                             last stage's maps and the encoding)
                [side_grid]                  g: that input average-pooled to g x g cells
                                             and flattened (NCHW order); 1 (the default)
                                             is the global mean, which keeps no layout
                [side_layout]                True: one more input, the palm's turn seen
                                             in the last maps (see PoseNet.palm_turn)
                [hand_head]                  fcs -> (N,1) hand logit (a real hand, or a
                                             false detection: a face, a lamp); reads
                                             what the side head reads. Not trained with
                                             the keypoints: fitted afterwards on the
                                             pipeline's own detections (``hand3d
                                             fit-hand-head``), which adds it to a file
    poseprior:  canonical / viewpoint streams, each {convs, fcs, heads}; the first
                fc reads the NHWC-flattened conv output concatenated with the hand
                side one-hot [left, right]; the heads read the last fc's output and
                their outputs are concatenated.
    gesturenet: layers                       w_rel flattened (N,63) -> logits

Cost of the registered configurations (multiply-adds of the convolutions and FC
layers at the table's ``input_size``, batch 1, measured with :func:`table_macs`;
parameters with :func:`hand3d_ros.models.count_parameters`)::

    config  network     input        MACs       parameters
    paper   handsegnet  240x320      30.648 G   13.602 M
    paper   posenet     256x256      30.162 G   17.519 M
    paper   poseprior   32x32 maps    0.104 G    3.876 M
    paper   gesturenet  63 values     0.3 M      0.313 M
    lite    handsegnet  120x160       0.320 G    0.525 M   (batch norm included)
    lite    posenet     128x128       0.462 G    1.240 M   (batch norm and side head included)
    lite    poseprior   16x16 maps    0.012 G    0.873 M
    lite    gesturenet  63 values     0.03 M     0.029 M

The lite pair HandSegNet + PoseNet costs 0.78 G multiply-adds per frame (MediaPipe
Hands: palm detection + landmarks about 0.7 G), against 60.81 G for the paper's pair.
"""
from __future__ import annotations

import copy
import math

from hand3d_ros.core.keypoints import NUM_KEYPOINTS

#: Negative slope of the leaky ReLU after every conv/FC layer except a head's last.
LEAKY_SLOPE = 0.01
#: Scaled channel counts are rounded to a multiple of this (any width != 1).
WIDTH_DIVISOR = 8
#: PoseNet's score maps have 1/8 of the crop's resolution (three 2x2 pools).
POSENET_MAP_STRIDE = 8
#: HandSegNet's scores have 1/8 of the image's resolution before upsampling.
HANDSEGNET_SCORE_STRIDE = 8
#: Epsilon added to the squared norm of the axis-angle vector (authors' value).
ROTATION_EPS = 1e-8
#: Hand side one-hot: [left, right].
NUM_HAND_SIDES = 2
#: Outputs of a PoseNet hand head: one logit of "a real hand".
NUM_HAND_LOGITS = 1
#: Classes of the segmentation: background, hand.
NUM_SEG_CLASSES = 2
#: Gesture classes of GestureNet (DESIGN.md section 2; the paper's Table 7 also drops
#: 20% of the neurons after each hidden FC layer).
NUM_GESTURES = 35

NETWORKS = ("handsegnet", "posenet", "poseprior", "gesturenet")
ACTIVATIONS = ("leaky", "linear")


# --------------------------------------------------------------------- layer entries
def conv(name: str, out: int, kernel: int = 3, stride: int = 1, act: str = "leaky") -> tuple:
    """A conv table entry: ``("conv", name, out, kernel, stride, act)``."""
    return ("conv", name, int(out), int(kernel), int(stride), act)


def pool(name: str, size: int = 2) -> tuple:
    """A max-pool table entry: ``("pool", name, size)`` (stride = size, 'VALID')."""
    return ("pool", name, int(size))


def fc(name: str, out: int, act: str = "leaky", keep: float = 1.0) -> tuple:
    """A fully connected table entry: ``("fc", name, out, act, keep_prob)``."""
    return ("fc", name, int(out), act, float(keep))


def vgg_block(block: int, convs: int, channels: int, pooled: bool, kernel: int = 3) -> list:
    """Layers ``conv{block}_1 .. conv{block}_{convs}`` (+ ``pool{block}``), the authors' naming."""
    layers = [conv(f"conv{block}_{i}", channels, kernel) for i in range(1, convs + 1)]
    return layers + ([pool(f"pool{block}")] if pooled else [])


def refine_stage(block: int, convs: int, channels: int, kernel: int, hidden: int) -> list:
    """A PoseNet refinement stage: ``convs`` kxk convs, a 1x1 conv, a linear 1x1 to the maps."""
    layers = [conv(f"conv{block}_{i}", channels, kernel) for i in range(1, convs + 1)]
    layers.append(conv(f"conv{block}_{convs + 1}", hidden, 1))
    layers.append(conv(f"conv{block}_{convs + 2}", NUM_KEYPOINTS, 1, act="linear"))
    return layers


def pose_stream(prefix: str, channels: list, fcs: list, keep: float, heads: list) -> dict:
    """A PosePrior stream: per entry of ``channels`` a 3x3 conv at stride 1 and one at stride 2
    (``conv_{prefix}_{i}_1``, ``conv_{prefix}_{i}_2``), FC layers with dropout, linear heads."""
    convs = []
    for i, ch in enumerate(channels):
        convs += [conv(f"conv_{prefix}_{i}_1", ch, 3, 1), conv(f"conv_{prefix}_{i}_2", ch, 3, 2)]
    return {"convs": convs, "fcs": [fc(name, out, keep=keep) for name, out in fcs],
            "heads": [fc(name, out, act="linear") for name, out in heads]}


# ------------------------------------------------------------------------ the tables
_PAPER = {
    "handsegnet": {
        "width": 1.0,
        "input_size": (240, 320),
        "in_channels": 3,
        "layers": (
            vgg_block(1, 2, 64, True) + vgg_block(2, 2, 128, True)
            + vgg_block(3, 4, 256, True) + vgg_block(4, 4, 512, False)
            + [conv("conv5_1", 512, 3), conv("conv5_2", 128, 3),
               conv("conv6_1", 512, 1), conv("conv6_2", NUM_SEG_CLASSES, 1, act="linear")]
        ),
    },
    "posenet": {
        "width": 1.0,
        "input_size": (256, 256),
        "in_channels": 3,
        "num_keypoints": NUM_KEYPOINTS,
        "encoder": (
            vgg_block(1, 2, 64, True) + vgg_block(2, 2, 128, True)
            + vgg_block(3, 4, 256, True) + vgg_block(4, 2, 512, False)
            + [conv(f"conv4_{i}", 256, 3) for i in range(3, 7)] + [conv("conv4_7", 128, 3)]
        ),
        "stages": [
            [conv("conv5_1", 512, 1), conv("conv5_2", NUM_KEYPOINTS, 1, act="linear")],
            refine_stage(6, 5, 128, 7, 128),
            refine_stage(7, 5, 128, 7, 128),
        ],
    },
    "poseprior": {
        "width": 1.0,
        "input_size": (32, 32),
        "num_keypoints": NUM_KEYPOINTS,
        "hand_sides": NUM_HAND_SIDES,
        "rotation_eps": ROTATION_EPS,
        "canonical": pose_stream("pose", [32, 64, 128], [("fc_rel0", 512), ("fc_rel1", 512)], 0.8,
                                 [("fc_xyz", 3 * NUM_KEYPOINTS)]),
        "viewpoint": pose_stream("vp", [64, 128, 256], [("fc_vp0", 256), ("fc_vp1", 128)], 0.75,
                                 [("fc_vp_ux", 1), ("fc_vp_uy", 1), ("fc_vp_uz", 1)]),
    },
    "gesturenet": {
        "width": 1.0,
        "input_size": (NUM_KEYPOINTS, 3),
        "num_classes": NUM_GESTURES,
        "layers": [fc("fc_gesture0", 512, keep=0.8), fc("fc_gesture1", 512, keep=0.8),
                   fc("fc_gesture_out", NUM_GESTURES, act="linear")],
    },
}

# Sized for a CPU: the same kinds of layers, narrower, shallower and on smaller inputs,
# with batch norm after every leaky conv of HandSegNet and PoseNet (they are trained from
# scratch on a CPU; ONNX Runtime and TensorRT fold it into the convolutions). Batch norm
# alone did not get PoseNet off its all-zero plateau: the weighted map loss did
# (training/configs.py, LossWeights).
# HandSegNet at 160x120 (hands of 20-60 px are still several score cells wide);
# PoseNet on a 128x128 crop (16x16 maps, stride 8 kept) with two refinement
# stages of 5x5 convs (the maps are 16 cells wide: four 5x5 layers see them whole).
_LITE = {
    "handsegnet": {
        "width": 1.0,
        "input_size": (120, 160),
        "in_channels": 3,
        "batch_norm": True,
        "layers": (
            vgg_block(1, 2, 16, True) + vgg_block(2, 2, 32, True)
            + vgg_block(3, 2, 64, True) + vgg_block(4, 2, 128, False)
            + [conv("conv5_1", 128, 3), conv("conv5_2", 64, 3),
               conv("conv6_1", 128, 1), conv("conv6_2", NUM_SEG_CLASSES, 1, act="linear")]
        ),
    },
    "posenet": {
        "width": 1.0,
        "input_size": (128, 128),
        "in_channels": 3,
        "batch_norm": True,
        "num_keypoints": NUM_KEYPOINTS,
        "encoder": (
            vgg_block(1, 2, 16, True) + vgg_block(2, 2, 32, True)
            + vgg_block(3, 3, 64, True) + vgg_block(4, 2, 128, False)
            + [conv("conv4_3", 96, 3), conv("conv4_4", 96, 3), conv("conv4_5", 64, 3)]
        ),
        "stages": [
            [conv("conv5_1", 128, 1), conv("conv5_2", NUM_KEYPOINTS, 1, act="linear")],
            refine_stage(6, 4, 48, 5, 64),
            refine_stage(7, 4, 48, 5, 64),
        ],
        # The side head sees the layout (which way the palm turns from wrist, index and
        # little-finger knuckles; where the thumb is) and the pixels there (nails or palm): the
        # palm's turn and a 4x4 grid of the maps and the encoding. The global mean
        # (side_grid 1) of the first real-photo weights kept neither and agreed with the
        # teacher on 64 % of test hands; the turn alone agrees on 77 % of val crops.
        "side_head": [fc("fc_side0", 64), fc("fc_side1", NUM_HAND_SIDES, act="linear")],
        "side_reads": "maps+encoding",
        "side_grid": 4,
        "side_layout": True,
    },
    "poseprior": {
        "width": 1.0,
        "input_size": (16, 16),
        "num_keypoints": NUM_KEYPOINTS,
        "hand_sides": NUM_HAND_SIDES,
        "rotation_eps": ROTATION_EPS,
        "canonical": pose_stream("pose", [32, 64, 128], [("fc_rel0", 256), ("fc_rel1", 256)], 0.8,
                                 [("fc_xyz", 3 * NUM_KEYPOINTS)]),
        "viewpoint": pose_stream("vp", [32, 64, 128], [("fc_vp0", 128), ("fc_vp1", 64)], 0.75,
                                 [("fc_vp_ux", 1), ("fc_vp_uy", 1), ("fc_vp_uz", 1)]),
    },
    "gesturenet": {
        "width": 1.0,
        "input_size": (NUM_KEYPOINTS, 3),
        "num_classes": NUM_GESTURES,
        "layers": [fc("fc_gesture0", 128, keep=0.8), fc("fc_gesture1", 128, keep=0.8),
                   fc("fc_gesture_out", NUM_GESTURES, act="linear")],
    },
}

#: Configuration name -> network name -> layer table (see the module docstring).
CONFIGS = {"paper": _PAPER, "lite": _LITE}


# ------------------------------------------------------------------------ resolving
def resolve_config(network: str, config="paper", width=None, input_size=None) -> dict:
    """The full, self-contained table of one network.

    Args:
        network: one of :data:`NETWORKS`.
        config: a name in :data:`CONFIGS` (``"paper"``, ``"lite"``) or a full table
            (e.g. ``model.config`` or the ``config`` of a weight file).
        width: channel multiplier (> 0) replacing the table's ``width``.
        input_size: ``(height, width)`` (or one int for a square) replacing the
            table's ``input_size``; pixels for HandSegNet/PoseNet, map cells for
            PosePrior. Ignored by GestureNet.

    Returns:
        A deep copy with keys ``network`` and ``variant`` added; the builders and
        :func:`table_macs` take it as is.
    """
    if network not in NETWORKS:
        raise ValueError(f"unknown network {network!r} (choose from {', '.join(NETWORKS)})")
    if isinstance(config, str):
        if config not in CONFIGS:
            raise ValueError(f"unknown config {config!r} (choose from {', '.join(CONFIGS)})")
        cfg = copy.deepcopy(CONFIGS[config][network])
        cfg["network"], cfg["variant"] = network, config
    elif isinstance(config, dict):
        cfg = copy.deepcopy(config)
        if cfg.get("network", network) != network:
            raise ValueError(f"config is for network {cfg['network']!r}, not {network!r}")
        cfg.setdefault("network", network)
        cfg.setdefault("variant", "custom")
    else:
        raise TypeError(f"config must be a name or a dict, not {type(config).__name__}")
    if width is not None:
        if not width > 0:
            raise ValueError(f"width must be > 0, got {width}")
        cfg["width"] = float(width)
    if input_size is not None and network != "gesturenet":
        cfg["input_size"] = _hw(input_size)
    cfg["input_size"] = tuple(int(v) for v in cfg["input_size"])
    return cfg


def _hw(size) -> tuple:
    if isinstance(size, int):
        size = (size, size)
    height, width = (int(v) for v in size)
    if height < 1 or width < 1:
        raise ValueError(f"input_size must be positive, got {size}")
    return (height, width)


def scaled_channels(out: int, act: str, width: float) -> int:
    """Output size of a layer under the width multiplier (heads, ``"linear"``, keep theirs)."""
    if act == "linear" or width == 1.0:
        return int(out)
    return max(WIDTH_DIVISOR, int(round(out * width / WIDTH_DIVISOR)) * WIDTH_DIVISOR)


def same_out(size: int, stride: int) -> int:
    """Output length of a TensorFlow 'SAME' convolution: ceil(size / stride)."""
    return -(-size // stride)


def same_pad(size: int, kernel: int, stride: int) -> tuple:
    """TensorFlow 'SAME' padding ``(before, after)`` of one axis (extra pad after)."""
    total = max((same_out(size, stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def walk(layers, in_channels: int, hw, width: float):
    """Follow a layer list: yields ``(entry, in_ch, out_ch, in_hw, out_hw)`` per layer.

    For ``fc`` entries ``in_ch`` / ``out_ch`` are feature counts and the hw are ``None``
    (the caller flattens before the first fc); with ``hw=None`` only channels are
    followed. Shapes only: no torch involved.
    """
    ch, size = in_channels, (None if hw is None else tuple(hw))
    for entry in layers:
        kind = entry[0]
        if kind == "conv":
            _, _, out, kernel, stride, act = entry
            _check_act(entry, act)
            out_ch = scaled_channels(out, act, width)
            out_hw = None if size is None else tuple(same_out(s, stride) for s in size)
            yield entry, ch, out_ch, size, out_hw
        elif kind == "pool":
            out_ch = ch
            out_hw = None if size is None else tuple(s // entry[2] for s in size)
            if out_hw is not None and min(out_hw) < 1:
                raise ValueError(f"input too small: {entry[1]} would give {out_hw}")
            yield entry, ch, ch, size, out_hw
        elif kind == "fc":
            _, _, out, act, keep = entry
            _check_act(entry, act)
            if not 0.0 < keep <= 1.0:
                raise ValueError(f"{entry[1]}: keep_prob must be in (0, 1], got {keep}")
            out_ch, out_hw = scaled_channels(out, act, width), None
            yield entry, ch, out_ch, None, None
        else:
            raise ValueError(f"unknown layer kind {kind!r} in {entry}")
        ch, size = out_ch, out_hw


def _check_act(entry, act):
    if act not in ACTIVATIONS:
        raise ValueError(f"{entry[1]}: activation must be one of {ACTIVATIONS}, got {act!r}")


def stream_fc_inputs(cfg: dict, stream: str) -> int:
    """Input features of a PosePrior stream's first fc: NHWC-flattened convs + hand side."""
    convs = list(walk(cfg[stream]["convs"], cfg["num_keypoints"], cfg["input_size"], cfg["width"]))
    _, _, out_ch, _, out_hw = convs[-1]
    return out_hw[0] * out_hw[1] * out_ch + cfg["hand_sides"]


#: What a PoseNet side head may read (``side_reads``; see the module docstring).
SIDE_READS = ("encoding", "maps+encoding")
#: Softmax sharpness when the side head locates keypoints in the maps: trained maps peak
#: near 1 over a background near 0, so beta 20 weighs a peak e^20 times a background cell.
SIDE_LAYOUT_BETA = 20.0


def side_head_features(cfg: dict, enc_ch: int, enc_hw) -> int:
    """Input features of a PoseNet side head's first fc (see the module docstring):
    ``channels x side_grid^2`` (+ 1 with ``side_layout``), channels = ``enc_ch`` (+ K
    maps for ``"maps+encoding"``).
    Raises ``ValueError`` for an unknown ``side_reads`` or a grid that does not divide
    the encoding's ``enc_hw`` (cells)."""
    reads, grid = cfg.get("side_reads", "encoding"), int(cfg.get("side_grid", 1))
    if reads not in SIDE_READS:
        raise ValueError(f"side_reads must be one of {SIDE_READS}, got {reads!r}")
    if grid < 1 or any(int(s) % grid for s in enc_hw):
        raise ValueError(f"side_grid {grid} must be >= 1 and divide the encoding's {tuple(enc_hw)} cells")
    channels = enc_ch + (cfg["num_keypoints"] if reads == "maps+encoding" else 0)
    return channels * grid * grid + (1 if cfg.get("side_layout", False) else 0)


# --------------------------------------------------------------------------- cost
def _layer_macs(entry, in_ch, out_ch, out_hw) -> int:
    if entry[0] == "conv":
        return out_hw[0] * out_hw[1] * out_ch * in_ch * entry[3] * entry[3]
    if entry[0] == "fc":
        return in_ch * out_ch
    return 0


def _macs(layers, in_ch, hw, width) -> tuple:
    total, last = 0, None
    for entry, cin, cout, _, out_hw in walk(layers, in_ch, hw, width):
        total += _layer_macs(entry, cin, cout, out_hw)
        last = (cout, out_hw)
    return total, last


def table_macs(config, network: str = None) -> int:
    """Multiply-adds of one forward pass (batch 1) at the table's ``input_size``.

    Counts the convolutions and FC layers (kernel x input channels per output value;
    biases, activations, pooling and upsampling are not counted), computed from the
    table alone.

    Args:
        config: a resolved table (:func:`resolve_config`, ``model.config``).
        network: only needed if ``config`` lacks its ``network`` key.
    """
    cfg = resolve_config(network or config["network"], config)
    name, width = cfg["network"], cfg["width"]
    if name == "handsegnet":
        return _macs(cfg["layers"], cfg["in_channels"], cfg["input_size"], width)[0]
    if name == "posenet":
        total, (enc_ch, enc_hw) = _macs(cfg["encoder"], cfg["in_channels"], cfg["input_size"], width)
        in_ch = enc_ch
        for stage in cfg["stages"]:
            macs, (maps_ch, _) = _macs(stage, in_ch, enc_hw, width)
            total += macs
            in_ch = maps_ch + enc_ch
        for head in ("side_head", "hand_head"):
            if cfg.get(head):
                total += _macs(cfg[head], side_head_features(cfg, enc_ch, enc_hw), None, width)[0]
        return total
    if name == "poseprior":
        total = 0
        for stream in ("canonical", "viewpoint"):
            s = cfg[stream]
            total += _macs(s["convs"], cfg["num_keypoints"], cfg["input_size"], width)[0]
            macs, (feat, _) = _macs(s["fcs"], stream_fc_inputs(cfg, stream), None, width)
            total += macs + sum(_macs([h], feat, None, width)[0] for h in s["heads"])
        return total
    # gesturenet
    return _macs(cfg["layers"], math.prod(cfg["input_size"]), None, width)[0]
