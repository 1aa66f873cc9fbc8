"""`hand3d eval`: accuracy of a weights folder on held-out data, beside the paper's numbers.

    hand3d eval --weights DIR --data SHARD_DIR [--limit N] [--json out.json] [--plots DIR]
    hand3d eval --weights DIR --sequences SEQUENCE_SHARDS [--json out.json]
    hand3d eval --weights DIR --real LABELLED_DIR... [--negatives DIR...] [--split test]
                [--json out.json] [--sheet sheet.png]

Metrics: ``hand3d_ros.evaluation.evaluate`` (HandSegNet IoU, 2D EPE/AUC with GT and
HandSegNet crops, 3D lifting EPE/AUC of PosePrior and the direct baseline); with
``--sequences`` (single-hand sequences from ``hand3d render --sequences``) also the
tracked metric hand over time (``hand3d_ros.evaluation.sequences``: wrist and keypoint
error in the camera frame with the hand-size prior, the true hand size and depth; depth
error; jitter with and without smoothing; handedness accuracy; tracking speed-up).
With ``--real`` (or a ``--data`` folder whose manifest says ``kind: real-teacher``):
real photos labelled by a teacher (``hand3d label``), scored against its labels
(``hand3d_ros.evaluation.real``: PCK@0.2 of hand size, median error in hand sizes,
hands found / missed, false hands, handedness, PoseNet on teacher crops, per source).
"""
from __future__ import annotations

from hand3d_ros.cli import (FLIP_TEST_HELP, detection_config, detection_options, positive_int,
                            segmentation_option)



def configure(parser):
    parser.add_argument("--weights", required=True, help="folder with handsegnet.pt, posenet.pt, poseprior.pt")
    parser.add_argument("--data", default=None, help="held-out data: shard folder or KIND:ROOT[:SPLIT]")
    parser.add_argument("--sequences", default=None,
                        help="rendered sequence shards (hand3d render --sequences) for the metric/tracking evaluation")
    parser.add_argument("--real", nargs="+", default=None, metavar="DIR",
                        help="real photos labelled by a teacher (hand3d label folders)")
    parser.add_argument("--negatives", nargs="+", default=(), metavar="DIR",
                        help="with --real: labelled folders of hand-free photos (false hands per photo)")
    parser.add_argument("--split", default=None, choices=("train", "val", "test"),
                        help="with --real: only sources of this split (hand3d_ros/evaluation/real_split.py)")
    parser.add_argument("--split-table", default=None, metavar="YAML",
                        help="with --split: another split table (train/val/test: lists of source names)")
    parser.add_argument("--min-kp-score", type=float, default=0.5,
                        help="with --real: teacher keypoints with a lower kp_score do not count (default 0.5)")
    parser.add_argument("--sheet", default=None, metavar="PNG",
                        help="with --real: contact sheet of the worst and best hands (teacher | ours)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="with --real: torch device of the networks (default auto)")
    parser.add_argument("--backend", default="torch", choices=("torch", "onnxruntime", "tensorrt", "auto"),
                        help="with --real: inference backend (default torch)")
    parser.add_argument("--precision", default="fp32", choices=("auto", "fp32", "fp16", "bf16", "int8"),
                        help="with --real: precision of the backend (default fp32; int8: onnxruntime on the CPU "
                             "with weights calibrated by hand3d calibrate-int8)")
    parser.add_argument("--cache-dir", default=None,
                        help="with --real: exported graphs and engines (default ~/.cache/hand3d_ros)")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="first N samples only (with --real: first N photos of each folder)")
    parser.add_argument("--direct", default=None,
                        help="weights of the direct-regression baseline (default: WEIGHTS/poseprior_direct.pt if present)")
    parser.add_argument("--batch-size", type=positive_int, default=8, help="samples per batch (default 8)")
    parser.add_argument("--lift-noise", type=float, default=0.0,
                        help="std of noise on the GT 2D keypoints for the lifting metrics, px at a 256 crop (default 0)")
    parser.add_argument("--json", default=None, help="write all results (with PCK curves) to this JSON file")
    parser.add_argument("--plots", default=None, help="write PCK plots (PNG) into this folder")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--flip-test", action="store_true", help=FLIP_TEST_HELP)
    detection_options(parser)
    segmentation_option(parser)


def run(args) -> int:
    import json
    from pathlib import Path

    import torch

    from hand3d_ros.cli import CommandError
    from hand3d_ros.evaluation.evaluate import EvalConfig, evaluate, format_table, write_plots
    from hand3d_ros.models import WeightsError
    from hand3d_ros.training.datasets import DataError

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.lift_noise < 0:
        raise CommandError("--lift-noise must be >= 0")
    if not args.data and not args.sequences and not args.real:
        raise CommandError("give --data, --real and/or --sequences")
    real = list(args.real or [])
    if args.data and _is_real(args.data):
        real.append(args.data)
        args.data = None
    if args.negatives and not real:
        raise CommandError("--negatives needs --real")
    results = {}
    if real:
        results["real"] = _real(args, real)
    if args.data:
        try:
            results.update(evaluate(args.weights, args.data, limit=args.limit, direct_weights=args.direct,
                                    config=EvalConfig(batch_size=args.batch_size, lift_noise_px=args.lift_noise,
                                                      flip_test=args.flip_test,
                                                      segmentation_hw=args.segmentation_size),
                                    progress=not args.no_progress))
        except (DataError, WeightsError, FileNotFoundError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        print(format_table(results))
    if args.sequences:
        results["sequences"] = _sequences(args)
        print(json.dumps(results["sequences"], indent=1))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
        print(f"hand3d eval: results in {args.json}")
    if args.plots and "segmentation" in results:
        for path in write_plots(results, args.plots):
            print(f"hand3d eval: plot {path}")
    return 0


def _is_real(data: str) -> bool:
    from hand3d_ros.evaluation.real import is_real_folder
    from hand3d_ros.evaluation.real_split import parse_split_source

    return is_real_folder(parse_split_source(data)[0])


def _real(args, folders) -> dict:
    from hand3d_ros.cli import CommandError
    from hand3d_ros.evaluation.real import RealEvalConfig, evaluate_real
    from hand3d_ros.evaluation.real_report import format_real_table
    from hand3d_ros.evaluation.real_split import SplitError, load_split_table, parse_split_source
    from hand3d_ros.models import WeightsError

    split, roots = args.split, []
    for folder in folders:  # DIR:SPLIT works here as for --data
        root, own = parse_split_source(folder)
        if own and split and own != split:
            raise CommandError(f"{folder} asks for split {own!r} but --split is {split!r}")
        split = split or own
        roots.append(root)
    try:
        table = load_split_table(args.split_table) if args.split_table else None
        results = evaluate_real(args.weights, roots, args.negatives, split=split, split_table=table,
                                config=RealEvalConfig(min_kp_score=args.min_kp_score, flip_test=args.flip_test,
                                                      **detection_config(args)),
                                limit=args.limit,
                                device=args.device, progress=not args.no_progress, sheet=args.sheet,
                                backend=args.backend, precision=args.precision, cache_dir=args.cache_dir,
                                segmentation_hw=args.segmentation_size)
    except (SplitError, WeightsError, FileNotFoundError, ValueError, RuntimeError) as exc:  # BackendUnavailable too
        raise CommandError(str(exc)) from None
    print(f"backend: {results['settings']['backend']}")
    print(format_real_table(results))
    if args.sheet:
        print(f"hand3d eval: contact sheet {args.sheet}")
    return results


def _sequences(args) -> dict:
    from hand3d_ros.cli import CommandError
    from hand3d_ros.evaluation.sequences import evaluate_sequences, load_sequences
    from hand3d_ros.inference.estimator import EstimatorConfig, HandEstimator
    from hand3d_ros.inference.pipeline import load_pipeline

    try:
        pipeline = load_pipeline(weights_dir=args.weights, backend="torch", device="cpu",
                                 segmentation_hw=args.segmentation_size, log=lambda *_: None)
        sequences = list(load_sequences(args.sequences, limit=args.limit))
    except (FileNotFoundError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    config = EstimatorConfig(pipeline=pipeline.config)
    return evaluate_sequences(HandEstimator(pipeline, config), sequences)
