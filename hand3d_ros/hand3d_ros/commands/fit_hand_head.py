"""`hand3d fit-hand-head`: teach a weights folder's PoseNet to tell real hands from false detections.

    hand3d fit-hand-head --weights DIR --real LABELLED_DIR... --negatives DIR... [--split train]
        [--val-split val] [--detection-threshold T] [--extra-candidates N] [--write]

Runs the weights' pipeline (no gate) on teacher-labelled photos and hand-free ones, takes
PoseNet's features of every hand it poses, and fits a small classifier on them: the hands
paired with a teacher hand against the false ones (``hand3d_ros.training.hand_head``).
With ``--write`` the head joins ``DIR/posenet.pt`` (its table and weights; the rest of the
network and every calibration unchanged). Then refit the hand confidence so that the gate
reads the head: ``hand3d calibrate-side ... --write`` (until then the head is computed and
not used).
"""
from __future__ import annotations

from hand3d_ros.cli import detection_options, positive_int


def configure(parser):
    from hand3d_ros.training.configs import HandHeadConfig

    defaults = HandHeadConfig()
    parser.add_argument("--weights", required=True, help="weights folder (its posenet.pt gets the head)")
    parser.add_argument("--real", required=True, nargs="+", metavar="DIR", help="hand3d label folders")
    parser.add_argument("--negatives", nargs="*", default=[], metavar="DIR",
                        help="hand3d label --negatives folders (hand-free photos): most false detections")
    parser.add_argument("--split", choices=("train", "val", "test"), default="train",
                        help="fit on the sources of this split (default train)")
    parser.add_argument("--val-split", choices=("train", "val", "test"), default=None,
                        help="also report how well the head separates hands on this split (e.g. val)")
    parser.add_argument("--limit", type=positive_int, default=None, help="first N photos of each folder")
    parser.add_argument("--detection-threshold", type=float, default=-1.0, metavar="T",
                        help="HandSegNet threshold of the pipeline whose detections are sorted, in (0, 1) "
                             "(default -1: the weights' calibrated one); use the one it will run with")
    detection_options(parser)
    parser.add_argument("--backend", default="torch", choices=("torch", "onnxruntime"),
                        help="backend of the pipeline that detects (default torch; features always from torch)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "int8"),
                        help="precision of that backend (int8: onnxruntime on the CPU, as the node runs)")
    parser.add_argument("--cache-dir", default=None, help="where ONNX graphs are cached (default: beside the weights)")
    parser.add_argument("--hidden", type=int, default=defaults.hidden, help=f"hidden units (default {defaults.hidden})")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help=f"passes (default {defaults.epochs})")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"seed (default {defaults.seed})")
    parser.add_argument("--no-progress", action="store_true", help="no progress lines")
    parser.add_argument("--write", action="store_true", help="store the head in WEIGHTS/posenet.pt")


def _samples(args, pipeline, split: str, config):
    from hand3d_ros.evaluation.real import open_photos
    from hand3d_ros.training.hand_head import collect_head_samples

    opened, photos = open_photos(list(args.real) + list(args.negatives), split, config=config, limit=args.limit)
    if not photos:
        raise ValueError(f"no photos of the {split} split in {', '.join(args.real + args.negatives)}")
    step = max(1, len(photos) // 20)

    def progress(done, total):
        if not args.no_progress and (done % step == 0 or done == total):
            print(f"  {split}: {done}/{total} photos", flush=True)

    return collect_head_samples(pipeline, opened, photos, config, progress)


def run(args) -> int:
    import os

    from hand3d_ros.cli import CommandError, detection_config
    from hand3d_ros.evaluation.real import RealEvalConfig
    from hand3d_ros.inference.pipeline import load_pipeline
    from hand3d_ros.models.weights import WeightsError, read_weights, save_weights
    from hand3d_ros.training.configs import HandHeadConfig
    from hand3d_ros.training.hand_head import (TRAINING_KEY, fit_hand_head, fit_record, head_logits, separation,
                                               with_hand_head)

    try:
        head_config = HandHeadConfig(hidden=args.hidden, epochs=args.epochs, seed=args.seed)
        config = RealEvalConfig(detection_threshold=args.detection_threshold, **detection_config(args))
        pipeline = load_pipeline(weights_dir=args.weights, backend=args.backend, precision=args.precision,
                                 device="cpu", cache_dir=args.cache_dir, log=lambda *_: None)
        train = _samples(args, pipeline, args.split, config)
        val = _samples(args, pipeline, args.val_split, config) if args.val_split else None
    except (ValueError, WeightsError, FileNotFoundError) as exc:
        raise CommandError(str(exc)) from None
    hands, total = int(train["is_hand"].sum()), len(train["is_hand"])
    print(f"{args.split}: {total} detections on {train['photos']} photos: {hands} paired with a teacher hand, "
          f"{total - hands} false ({int(train['hand_free'].sum())} on hand-free photos)")
    try:
        head = fit_hand_head(train["features"], train["is_hand"], head_config,
                             log=None if args.no_progress else lambda e, loss: print(f"  epoch {e}: loss {loss:.4f}"))
    except ValueError as exc:
        raise CommandError(f"{args.split}: {exc}") from None
    report = {"train_separation": round(separation(head_logits(head, train["features"]), train["is_hand"]), 4)}
    print(f"separation (chance a real hand scores above a false one): {args.split} {report['train_separation']:.4f}")
    if val is not None:
        report["val_separation"] = round(separation(head_logits(head, val["features"]), val["is_hand"]), 4)
        print(f"  {args.val_split} {report['val_separation']:.4f} ({len(val['is_hand'])} detections, "
              f"{int(val['is_hand'].sum())} hands)")
    if args.write:
        path = os.path.join(args.weights, "posenet.pt")
        try:
            content = read_weights(path)
        except WeightsError as exc:
            raise CommandError(str(exc)) from None
        model = with_hand_head(pipeline.model_set.networks["posenet"], head, head_config)
        source = ", ".join(os.path.basename(os.path.normpath(d)) for d in args.real + args.negatives)
        training = dict(content.get("training") or {})
        training[TRAINING_KEY] = fit_record(train, head_config, f"{source} ({args.split})", report)
        save_weights(path, model, {"preprocessing": content["preprocessing"],
                                   "keypoint_order": content["keypoint_order"], "training": training,
                                   "notes": content.get("notes", []), "calibration": content.get("calibration", {})})
        print(f"written to {path}; now refit the hand confidence to read it: hand3d calibrate-side --weights "
              f"{args.weights} ... --write")
    return 0
