"""`hand3d calibrate-int8`: INT8 calibration of a weights folder for the ONNX Runtime CPU backend.

    hand3d calibrate-int8 --weights DIR --images PATH... [--max-frames N] [--method M]
                          [--networks NET...] [--write]

Runs the pipeline on real frames (shard folders with an ``image`` field, folders of
photos, single photos), records what each network is fed, and calibrates the activation
ranges of each network's ONNX graph with ONNX Runtime's calibrator
(``hand3d_ros.inference.int8``). Prints what it would store and how the INT8 graphs agree
with FP32 on those frames; with ``--write`` the ranges go into each weight file
(``calibration["int8_onnxruntime"]``), where ``--precision int8`` of the onnxruntime
backend finds them. A network left out of ``--networks`` keeps whatever its file holds
(the backend runs a network without INT8 calibration in FP32).

Calibrate on what the camera will see: real frames with and without hands. Measured on
the shipped weights, a third of rendered frames among the calibration frames widened
PoseNet's ranges and raised its keypoint scores by 0.07 on real photos (more false hands).
"""
from __future__ import annotations

from hand3d_ros.cli import positive_int


def configure(parser):
    from hand3d_ros.inference.int8 import DEFAULT_METHOD, DEFAULT_PERCENTILE, METHODS

    parser.add_argument("--weights", required=True, help="weights folder (handsegnet.pt, posenet.pt, poseprior.pt)")
    parser.add_argument("--images", required=True, nargs="+", metavar="PATH",
                        help="calibration frames: shard folders (field 'image'; DIR:SPLIT for a split of a real-teacher folder), "
                             "photo folders or photos")
    parser.add_argument("--max-frames", type=positive_int, default=96,
                        help="frames in all, spread evenly over the sources (default 96)")
    parser.add_argument("--size", default="320x240", metavar="WxH",
                        help="frames are centre-cropped to this aspect and resized to it (default 320x240, the camera's)")
    parser.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                        help=f"range calibration (default {DEFAULT_METHOD}: chosen by agreement with FP32)")
    parser.add_argument("--percentile", type=float, default=DEFAULT_PERCENTILE,
                        help=f"with --method percentile: the percentile kept, in (50, 100] (default {DEFAULT_PERCENTILE})")
    parser.add_argument("--networks", nargs="+", choices=("handsegnet", "posenet", "poseprior"),
                        default=["handsegnet", "posenet", "poseprior"],
                        help="networks to calibrate (default all three; the backend quantizes handsegnet and "
                             "posenet by default)")
    parser.add_argument("--cache-dir", default=None, help="where the ONNX graphs are cached (default ~/.cache/hand3d_ros)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: the libraries' defaults)")
    parser.add_argument("--write", action="store_true", help="store the calibration in the weight files")


def run(args) -> int:
    import os

    import torch

    from hand3d_ros.cli import CommandError, parse_wxh
    from hand3d_ros.inference import int8
    from hand3d_ros.inference.backends.base import BackendUnavailable
    from hand3d_ros.inference.export import export_model_set
    from hand3d_ros.inference.model_set import NETWORK_FILES, load_model_set
    from hand3d_ros.models.weights import WeightsError, set_calibration

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        int8.onnxruntime_version()
    except BackendUnavailable as err:
        raise CommandError(str(err)) from None
    if args.method == "percentile" and not 50.0 < args.percentile <= 100.0:
        raise CommandError(f"--percentile must be in (50, 100], got {args.percentile}")
    try:
        size = parse_wxh(args.size, "--size")
        model_set = load_model_set(args.weights)
        frames, source = int8.load_frames(args.images, args.max_frames, size)
    except (ValueError, WeightsError, FileNotFoundError) as exc:
        raise CommandError(str(exc)) from None
    print(f"{len(frames)} frames ({size[0]}x{size[1]}): {source}")
    graphs = export_model_set(model_set, cache_dir=args.cache_dir, networks=args.networks)
    captured = int8.capture_inputs(model_set, frames)
    try:
        calibrations = int8.calibrate_model_set(model_set, frames, graphs, args.method, args.percentile, source,
                                                captured=captured)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    for network, cal in calibrations.items():
        graph = graphs[network]
        path, _ = int8.quantize_graph(model_set, graph, cal)
        agree = int8.agreement(graph, path, int8.network_feeds(graph, captured[network]), args.threads)
        shown = ", ".join(f"{k} {v}" for k, v in cal.items() if k != "ranges")
        print(f"{network}: {len(cal['ranges'])} tensor ranges (sha256 {int8.ranges_sha256(cal['ranges'])[:12]}); {shown}")
        print("  int8 vs fp32 on these frames: " + ", ".join(f"{k} {v:.4g}" for k, v in agree.items()))
    if args.write:
        for network, cal in calibrations.items():
            path = os.path.join(args.weights, NETWORK_FILES[network])
            set_calibration(path, int8.CALIBRATION_KEY, cal)
            print(f"written to {path}")
    else:
        print("(not written: add --write to store it in the weight files)")
    return 0
