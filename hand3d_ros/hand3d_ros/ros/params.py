"""The node's parameters as one table: name, default, description, range, mutability.

This module is plain Python (no rclpy) so that the README table, the YAML defaults and
the validation logic can be tested without a ROS graph. The node turns each entry into a
``ParameterDescriptor`` (with its range and ``read_only`` flag) and validates every change
with :func:`validate` in its set-parameters callback.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from hand3d_ros.options import (SEGMENTATION_SIDE_RANGE, SEGMENTATION_STRIDE, ZOOM_OUT_FACTOR_RANGE, check_segmentation_hw,
                               is_zoom_out_factor)


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    description: str
    min: Optional[float] = None
    max: Optional[float] = None
    choices: Optional[Sequence[str]] = None
    read_only: bool = False
    """True: fixed at start-up (changing it needs a restart)."""
    dynamic_typing: bool = False
    """True: the value may be a string or an integer (e.g. a camera index or a path)."""

    @property
    def type_name(self) -> str:
        return type(self.default).__name__


PARAMS = (
    # Model and engine (fixed at start-up).
    Param("model_config", "lite", "Network configuration when no weights are found (paper: the authors' layer lists; lite: CPU-sized).",
          choices=("paper", "lite"), read_only=True),
    Param("weights_dir", "", "Folder with handsegnet.pt, posenet.pt, poseprior.pt; empty: the weights shipped with the package.",
          read_only=True),
    Param("allow_random_weights", False, "Run with random weights when none are found (plumbing tests only: the output is meaningless).",
          read_only=True),
    Param("backend", "auto", "Inference backend; auto picks tensorrt > onnxruntime-cuda > torch-cuda > onnxruntime-cpu > torch-cpu.",
          choices=("auto", "torch", "onnxruntime", "tensorrt"), read_only=True),
    Param("device", "auto", "Where the networks run (auto: cuda when available).", choices=("auto", "cpu", "cuda"), read_only=True),
    Param("precision", "auto", "Numeric precision of the networks: auto (int8 for onnxruntime on the CPU when the "
          "weights carry an int8 calibration, as the shipped ones do; fp32 elsewhere), fp32, fp16 (tensorrt, "
          "torch-cuda, onnxruntime-cuda with the TensorRT EP), bf16 (torch), int8 (tensorrt; onnxruntime on the "
          "CPU with weights calibrated by hand3d calibrate-int8).",
          choices=("auto", "fp32", "fp16", "bf16", "int8"), read_only=True),
    Param("engine_cache_dir", "", "Folder for exported ONNX files and TensorRT engines; empty: ~/.cache/hand3d_ros.", read_only=True),
    Param("force_engine_rebuild", False, "Rebuild cached engines even when their key matches.", read_only=True),
    Param("num_threads", 0, "CPU threads for the networks (0: the library default).", min=0, max=256, read_only=True),
    Param("segmentation_width", 0, "Width of the frame HandSegNet reads, pixels (a multiple of 8; 0 with "
          "segmentation_height 0: the weights' own, 320 for the shipped ones). Larger finds smaller, farther hands "
          "at a cost that grows with the pixels (README: accuracy against speed); detection_threshold and "
          "min_hand_score at -1 take the weights' fit for that size when they carry one.", min=0, max=1920,
          read_only=True),
    Param("segmentation_height", 0, "Height of the frame HandSegNet reads, pixels (a multiple of 8; 0 with "
          "segmentation_width 0: the weights' own, 240 for the shipped ones).", min=0, max=1920, read_only=True),
    # Inputs (fixed at start-up: they decide the subscriptions).
    Param("use_compressed", False, "Subscribe to image/compressed (JPEG/PNG) instead of image.", read_only=True),
    Param("use_depth", False, "Subscribe to depth (aligned to the image; 16UC1 mm or 32FC1 m) for the metric scale.", read_only=True),
    Param("image_qos", "sensor_data", "QoS of the camera subscriptions (image, camera_info, depth). sensor_data: "
          "best effort, matches every publisher, but a lost fragment loses the whole image; reliable: lost "
          "fragments are resent (far fewer large images lost over DDS), matches only reliable publishers "
          "(most drivers, image_publisher, ros2 bag play).", choices=("sensor_data", "reliable"), read_only=True),
    Param("input_pause_s", 2.0, "A gap between image stamps longer than this is a pause of the camera, not "
          "frames lost on the way, seconds.", min=0.05, max=60.0, read_only=True),
    Param("input_loss_warn", 0.1, "Diagnostics warn when more than this fraction of the camera's recent frames "
          "(judged from gaps in the image stamps) never reached the node.", min=0.0, max=1.0),
    Param("depth_max_time_offset_s", 0.05, "Largest stamp difference between an image and the depth used with it, seconds.",
          min=0.0, max=1.0),
    Param("max_image_pixels", 4096 * 4096, "Images with more pixels than this are skipped (not resized).",
          min=1, max=2**28, read_only=True),
    # Detection and cropping.
    Param("handedness", "auto", "Hand side: auto estimates it; left/right force it for every hand.", choices=("auto", "left", "right")),
    Param("handedness_unknown_margin", 0.05, "A new hand's side is published as unknown until its smoothed P(right) "
          "(calibrated: 0.9 is right 9 times in 10) is more than this away from 0.5; 0: the likelier side at once.",
          min=0.0, max=0.49),
    Param("handedness_margin", 0.15, "Hysteresis of a published side: a hand published as left becomes right once "
          "its smoothed P(right) exceeds 0.5 + this, and back once it falls below 0.5 - this.", min=0.0, max=0.49),
    Param("detection_threshold", -1.0, "HandSegNet hand probability above which a pixel is hand; -1: the value "
          "calibrated with the weights (0.5 if none).", min=-1.0, max=0.99),
    Param("min_hand_score", -1.0, "Hands whose score is below this are not published. With weights that carry a "
          "hand confidence (the shipped ones) the score is the calibrated probability of a real hand (from the "
          "keypoint scores, HandSegNet's peak and, with a hand head, PoseNet's verdict on the crop); else "
          "HandSegNet's peak. -1: the value calibrated with the "
          "weights (0.2 if none).", min=-1.0, max=1.0),
    Param("min_mean_keypoint_score", -1.0, "Hands whose mean keypoint score is below this are not published "
          "(false detections have diffuse score maps; weights with a hand confidence fold this into the score); "
          "-1: the value calibrated with the weights (0 if none).",
          min=-1.0, max=1.0),
    Param("min_hand_area_px", 16, "Smallest hand mask component considered a hand, pixels of the network input.", min=1, max=100000),
    Param("max_hands", 2, "Most hands estimated per frame.", min=1, max=8),
    Param("extra_candidates", 0, "Hand mask components posed beyond max_hands (next best HandSegNet peaks); the "
          "max_hands with the best hand score are kept, so a face or arm that HandSegNet rates above a real hand "
          "does not take its place: more hands found (distant people), for a PoseNet run per extra component a "
          "frame actually has (README: accuracy against speed).", min=0, max=6),
    Param("split_min_aspect", 1.2, "A hand mask component at least this elongated (long side / short side) is "
          "checked for two touching hands (or a hand joined to an arm): each part scored higher than the whole "
          "replaces it; 0: never.",
          min=0.0, max=10.0),
    Param("split_max_valley", 0.8, "How narrow the neck between two touching hands must be: the component's "
          "width at the cut over the lower of the two widths beside it, at most.", min=0.01, max=1.0),
    Param("crop_margin", 1.25, "Crop side = margin x the larger side of the hand's box.", min=1.0, max=3.0),
    Param("refine_passes", 1, "On frames where HandSegNet runs, crop each hand again around its own keypoints "
          "and run PoseNet again, this many times (a mask up the forearm or over part of the hand gives a crop "
          "of the wrong size): more hands found and better keypoints for one more PoseNet run per re-cropped hand "
          "and pass (refine_max_overlap chooses which; README: Measured speed).", min=0, max=3),
    Param("refine_max_overlap", 0.7, "With refine_passes: re-crop only the hands whose crop around their own "
          "keypoints overlaps the crop PoseNet saw by at most this intersection over union (the hands the mask "
          "cropped badly); 1: every hand. Lower values keep most of the gain at a fraction of the cost.",
          min=0.01, max=1.0),
    Param("zoom_out_factor", 1.6, "On frames where HandSegNet runs, a hand scoring below zoom_out_below_score is "
          "posed again in a window this many times its crop (same centre) and re-cropped around its keypoints; "
          "the better scored result is kept. A crop over part of a hand (a fist seen knuckles-on) then sees the "
          "whole hand: more hands found for up to two PoseNet runs per low-scoring hand (README: accuracy "
          "against speed); 0: off, else at least 1.1.", min=0.0, max=ZOOM_OUT_FACTOR_RANGE[1]),
    Param("zoom_out_below_score", 0.5, "Hands scoring below this are zoomed out (zoom_out_factor); confident "
          "hands never pay for it.", min=0.0, max=1.0),
    Param("crop_scale_min", 0.25, "Smallest crop scale (crop size / side in pixels).", min=0.01, max=10.0),
    Param("crop_scale_max", 5.0, "Largest crop scale (crop size / side in pixels).", min=0.01, max=20.0),
    Param("flip_test", False, "Also run PoseNet on each hand crop's mirror image and average the two: better "
          "keypoints and hand side for a second PoseNet pass per hand (see the README's accuracy against speed; "
          "the shipped weights carry a hand confidence, its gate and a side calibration fitted for each setting)."),
    # Metric 3D.
    Param("reference_bone_length", 0.043, "Hand-size prior: length of the middle-finger MCP->PIP bone, metres.", min=0.02, max=0.08),
    Param("depth_keypoint_blend", 1.0, "With depth: how far each keypoint the depth confirms moves from the lifted hand "
          "to its own measured position (0: depth gives scale and position only; 1: measured keypoints as seen).",
          min=0.0, max=1.0),
    # Tracking and smoothing.
    Param("tracking", True, "Reuse the previous keypoints' crop and skip HandSegNet while keypoints stay confident."),
    Param("track_min_keypoint_score", 0.3, "Mean keypoint score below which a tracked hand is re-detected.", min=0.0, max=1.0),
    Param("redetect_every", 10, "Run HandSegNet at least every N frames while tracking.", min=1, max=1000),
    Param("smoothing", True, "One Euro filtering of 2D and 3D keypoints."),
    Param("smoothing_min_cutoff", 1.0, "One Euro minimum cutoff frequency, Hz (lower: smoother when still).", min=0.01, max=100.0),
    Param("smoothing_beta", 0.05, "One Euro speed coefficient (higher: less lag when moving).", min=0.0, max=10.0),
    # Outputs.
    Param("publish_tf", True, "Broadcast hand_<side> frames (and keypoint frames) on /tf."),
    Param("publish_keypoint_frames", False, "Broadcast one TF frame per keypoint, children of the hand frame."),
    Param("publish_markers", True, "Publish ~/markers (bones, joints, label) for RViz."),
    Param("frame_prefix", "", "Prefix of the published TF frame names (e.g. 'robot1/')."),
    Param("marker_lifetime_s", 0.5, "Lifetime of published markers, seconds (0: forever).", min=0.0, max=60.0),
    Param("diagnostics_period_s", 1.0, "Period of /diagnostics messages, seconds.", min=0.1, max=60.0, read_only=True),
)

PARAMS_BY_NAME = {p.name: p for p in PARAMS}


def check_value(spec: Param, value: Any) -> Optional[str]:
    """Why ``value`` does not fit ``spec`` (type, choices, range); None when it does."""
    name = spec.name
    if spec.dynamic_typing:
        ok = isinstance(value, (str, int)) and not isinstance(value, bool)
        return None if ok else f"{name} must be a string or an integer, got {type(value).__name__}"
    expected = type(spec.default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        return f"{name} must be a {expected.__name__}, got {type(value).__name__}"
    if spec.choices is not None and value not in spec.choices:
        return f"{name} must be one of {', '.join(spec.choices)}, got '{value}'"
    if spec.min is not None and value < spec.min:
        return f"{name} must be >= {spec.min}, got {value}"
    if spec.max is not None and value > spec.max:
        return f"{name} must be <= {spec.max}, got {value}"
    return None


def validate(name: str, value: Any, at_startup: bool = False, table: Optional[dict] = None) -> Optional[str]:
    """Why ``value`` is not acceptable for parameter ``name``; None when it is.

    ``table``: name -> :class:`Param` (default: the hand3d node's). ``at_startup``: the
    value comes from the command line or a YAML file, where read-only parameters may be set.
    Names not in the table (use_sim_time, qos_overrides.*) are not ours to judge.
    """
    spec = (PARAMS_BY_NAME if table is None else table).get(name)
    if spec is None:
        return None
    if spec.read_only and not at_startup:
        return f"{name} is read-only: set it at start-up"
    return check_value(spec, value)


def validate_all(values: dict) -> Optional[str]:
    """Cross-parameter checks on the full set of values (after a change)."""
    if values["crop_scale_min"] > values["crop_scale_max"]:
        return "crop_scale_min must not exceed crop_scale_max"
    if -1.0 < values["detection_threshold"] < 0.01:
        return (f"detection_threshold must be -1 (the weights' calibrated value) or in [0.01, 0.99], "
                f"got {values['detection_threshold']}")
    segmentation = (values["segmentation_height"], values["segmentation_width"])
    if any(segmentation):
        try:
            check_segmentation_hw(segmentation)
        except ValueError:
            lo, hi = SEGMENTATION_SIDE_RANGE
            return (f"segmentation_width and segmentation_height must both be 0 (the weights' size) or multiples of "
                    f"{SEGMENTATION_STRIDE} in [{lo}, {hi}], got {segmentation[1]}x{segmentation[0]}")
    if not is_zoom_out_factor(values["zoom_out_factor"]):
        return ("zoom_out_factor must be 0 (off) or in [%g, %g], got %g"
                % (*ZOOM_OUT_FACTOR_RANGE, values["zoom_out_factor"]))
    if 0.0 < values["split_min_aspect"] < 1.0:
        return f"split_min_aspect must be 0 (never split) or in [1, 10], got {values['split_min_aspect']}"
    return None


def markdown_table() -> str:
    """The parameters as a Markdown table (the README's table is generated from this)."""
    rows = ["| name | type | default | range | changeable at run time | description |", "|---|---|---|---|---|---|"]
    for p in PARAMS:
        if p.choices:
            rng = " / ".join(p.choices)
        elif p.min is not None:
            rng = f"[{p.min}, {p.max}]"
        else:
            rng = ""
        default = f"`{p.default!r}`" if p.default != "" else "`''`"
        rows.append(f"| `{p.name}` | {p.type_name} | {default} | {rng} | {'no' if p.read_only else 'yes'} | {p.description} |")
    return "\n".join(rows)
