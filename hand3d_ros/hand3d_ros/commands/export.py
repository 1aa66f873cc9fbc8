"""`hand3d export`: the three networks to ONNX, with a parity check against PyTorch.

Writes ``<out>/<network>-<config>-w<sha8>-<key16>.onnx`` (named inputs/outputs, dynamic batch,
metadata_props; see :mod:`hand3d_ros.inference.export`), then runs every graph with
ONNX Runtime on the inputs the pipeline really feeds the networks (hand-like synthetic
frames through the pipeline's own preprocessing and cropping) and prints the largest
|ONNX - PyTorch| per output; fails when one reaches the tolerance.
"""
from hand3d_ros.cli import CommandError


def configure(parser):
    parser.add_argument("--config", default="lite", choices=("lite", "paper"),
                        help="model configuration (default: lite)")
    parser.add_argument("--weights", default=None,
                        help="weights folder (handsegnet.pt, posenet.pt, poseprior.pt); default: the shipped "
                             "weights of --config")
    parser.add_argument("--random-weights", action="store_true",
                        help="use random weights when no weights are found (plumbing only)")
    parser.add_argument("--out", default=None,
                        help="output folder (default: the cache, ~/.cache/hand3d_ros/onnx or $HAND3D_CACHE_DIR/onnx)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset, >= 17 (default: 17)")
    parser.add_argument("--all-stages", action="store_true",
                        help="also write posenet-stages-*.onnx with every stage's score maps (training tools)")
    parser.add_argument("--force", action="store_true", help="export again even when a file with the same key exists")
    parser.add_argument("--parity-frames", type=int, default=2,
                        help="synthetic frames for the parity check (default: 2; 0 skips the check)")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest accepted |ONNX - PyTorch| in FP32 (default: 1e-4)")


def run(args) -> int:
    from hand3d_ros.inference import export
    from hand3d_ros.inference.engine_cache import resolve_cache_dir
    from hand3d_ros.models import WeightsError

    if args.opset < export.MIN_OPSET:
        raise CommandError(f"--opset {args.opset} is too old: use {export.MIN_OPSET} or newer")
    try:
        from hand3d_ros.inference.model_set import resolve_model_set

        model_set = resolve_model_set(args.weights, args.config, allow_random_weights=args.random_weights)
    except (FileNotFoundError, WeightsError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    if model_set.random:
        print(f"WARNING: exporting random weights ({model_set.name}): the graphs compute nothing useful")
    out = args.out if args.out else resolve_cache_dir(None) / "onnx"
    try:
        graphs = export.export_model_set(model_set, out_dir=out, opset=args.opset, all_stages=args.all_stages,
                                         force=args.force)
    except OSError as exc:
        raise CommandError(f"{out}: cannot write ({exc.strerror or exc})") from None
    for name, graph in graphs.items():
        state = "kept (same key)" if graph.reused else "wrote"
        print(f"{state} {graph.path}  inputs {', '.join(graph.signature.inputs)} -> "
              f"outputs {', '.join(graph.signature.outputs)}")
    if args.parity_frames <= 0:
        print("parity check skipped")
        return 0
    from hand3d_ros.inference.synthetic import synthetic_hand_frames

    frames = synthetic_hand_frames(args.parity_frames)
    results = export.parity_check(model_set, graphs, frames, tolerance=args.tolerance)
    print(f"parity with PyTorch (FP32, ONNX Runtime CPU) on {args.parity_frames} synthetic "
          f"{frames.shape[2]}x{frames.shape[1]} frames through the pipeline's preprocessing:")
    print(export.format_parity(results))
    bad = [r for r in results if not r.ok]
    if bad:
        worst = max(bad, key=lambda r: r.max_abs_error)
        raise CommandError(f"parity failed: {worst.network} {worst.output} differs by {worst.max_abs_error:.3e} "
                           f"(tolerance {args.tolerance:.0e})")
    return 0
