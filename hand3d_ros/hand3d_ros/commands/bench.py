"""`hand3d bench`: per-stage latency (p50/p90/p99) and FPS of every available backend.

Default: the lite configuration, every backend variant available here (see
:func:`hand3d_ros.inference.bench.default_variants`), batch 1 and 4, detection and
tracking modes and the networks alone; about a minute on a 2-core CPU. ``--config
paper`` adds the paper's networks (much slower on a CPU). Ctrl-C prints what was measured.
"""
from hand3d_ros.cli import (FLIP_TEST_HELP, CommandError, detection_config, detection_options, parse_wxh,
                            segmentation_option)


def configure(parser):
    parser.add_argument("--config", nargs="+", default=["lite"], choices=("lite", "paper"),
                        help="model configurations (default: lite)")
    parser.add_argument("--weights", default=None,
                        help="weights folder (default: the shipped weights of each config, else random weights)")
    parser.add_argument("--backends", nargs="+", default=None, metavar="SPEC",
                        help="variants as backend[:precision][@threads], e.g. torch torch:bf16 onnxruntime@1 "
                             "tensorrt:fp16 (default: every one available here)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: auto")
    parser.add_argument("--iterations", type=int, default=20, help="measured iterations per measurement (default 20)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured iterations first (default 2)")
    parser.add_argument("--budget", type=float, default=8.0,
                        help="seconds per measurement after which it stops early (>= 3 iterations; default 8)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 4], help="frames per call (default: 1 4)")
    parser.add_argument("--sequence", default=None, metavar="NPZ",
                        help="frames to use: an NPZ with 'image' (T, H, W, 3) uint8 [and 'uv' (T, 21, 2)]; "
                             "default: synthetic hand-like frames")
    parser.add_argument("--frame-size", default="640x480", metavar="WxH",
                        help="size of the synthetic frames (default 640x480)")
    parser.add_argument("--peer", choices=("mediapipe",), default=None,
                        help="also time MediaPipe Hands on the same frames (if installed)")
    parser.add_argument("--cache-dir", default=None, help="exported graphs and engines (default ~/.cache/hand3d_ros)")
    parser.add_argument("--flip-test", action="store_true", help=FLIP_TEST_HELP)
    detection_options(parser)
    segmentation_option(parser)
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the full report as JSON")


def run(args) -> int:
    import json
    import sys

    from hand3d_ros.inference.bench import BenchSettings, format_report, parse_variant, run_bench

    if args.iterations < 1 or args.warmup < 0 or args.budget <= 0 or any(b < 1 for b in args.batch):
        raise CommandError("--iterations and --batch must be >= 1, --warmup >= 0, --budget > 0")
    try:
        for spec in args.backends or ():
            parse_variant(spec)
        frame_hw = parse_wxh(args.frame_size, "--frame-size")[::-1]
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    settings = BenchSettings(
        configs=tuple(dict.fromkeys(args.config)), variants=tuple(args.backends) if args.backends else None,
        device=args.device, iterations=args.iterations, warmup=args.warmup, budget_s=args.budget,
        min_iterations=min(3, args.iterations), batches=tuple(dict.fromkeys(args.batch)),
        frame_hw=frame_hw, weights_dir=args.weights, sequence=args.sequence, peer=args.peer,
        cache_dir=args.cache_dir, flip_test=args.flip_test, segmentation_hw=args.segmentation_size,
        **detection_config(args))
    try:
        report = run_bench(settings, log=lambda line: print(line, file=sys.stderr, flush=True)).as_dict()
    except (ValueError, FileNotFoundError) as exc:
        raise CommandError(str(exc)) from None
    print(format_report(report))
    if args.json:
        try:
            with open(args.json, "w", encoding="utf-8") as handle:
                json.dump(report, handle, indent=2)
        except OSError as exc:
            raise CommandError(f"{args.json}: cannot write ({exc.strerror or exc})") from None
        print(f"wrote {args.json}")
    return 130 if report["interrupted"] else 0
