"""`hand3d calibrate-side`: make a weights folder's ``handedness_score`` mean what it says,
and fit its detection gate.

    hand3d calibrate-side --weights DIR --real LABELLED_DIR... [--negatives DIR...] [--split val] [--write]
        [--max-false-per-hand-free RATE [--detection-thresholds T...]]

Fits a logistic calibration of the hand side on teacher-labelled real photos and, on the
same photos plus hand-free ones, the hand confidence (P(real hand) from a detection's mean
keypoint score and HandSegNet peak) with the detection gate on it (the confidence below
which a reported hand is dropped), and, given a false-hand budget and several candidate
HandSegNet thresholds, the threshold that finds the most hands within the budget
(``hand3d_ros.evaluation.side_fit``); with ``--write`` they are stored in
``DIR/posenet.pt`` (``calibration`` metadata), where the pipeline and the estimator find
them (node parameters ``detection_threshold`` and ``min_hand_score`` at -1). With
``--segmentation-size WxH`` the fit is for HandSegNet reading that size and is stored
beside the others (``calibration.detection@WxH``), used when the pipeline reads that size.
"""
from __future__ import annotations

from hand3d_ros.cli import positive_int, segmentation_option
from hand3d_ros.options import SIDE_CROPS


def configure(parser):
    parser.add_argument("--weights", required=True, help="weights folder (its posenet.pt gets the calibration)")
    parser.add_argument("--real", required=True, nargs="+", metavar="DIR", help="hand3d label folders")
    parser.add_argument("--negatives", nargs="*", default=[], metavar="DIR",
                        help="hand3d label --negatives folders (hand-free photos) for the detection gate")
    parser.add_argument("--max-found-loss", type=float, default=0.01,
                        help="the detection gate may lose at most this fraction of the found hands (default 0.01)")
    parser.add_argument("--max-false-per-hand-free", type=float, default=None, metavar="RATE",
                        help="instead of --max-found-loss: the lowest gate with at most RATE false hands per "
                             "hand-free photo (needs --negatives)")
    parser.add_argument("--budget-confidence", type=float, default=0.9, metavar="P",
                        help="with --max-false-per-hand-free: the budget must hold for the upper P bound of the "
                             "false-hand rate (Poisson), in [0, 1); 0: for the count on these photos (default 0.9)")
    parser.add_argument("--detection-thresholds", type=float, nargs="+", default=None, metavar="T",
                        help="with --max-false-per-hand-free: candidate HandSegNet thresholds in (0, 1); the "
                             "pipeline runs once per candidate (default: the weights' current threshold only)")
    parser.add_argument("--gate-step", type=float, default=0.01,
                        help="grid step of the detection gate in (0, 0.5] (default 0.01; the table prints every 0.05)")
    parser.add_argument("--gate", type=float, default=None, metavar="SCORE",
                        help="keep this detection gate (with a hand confidence: the probability of a real hand "
                             "below which a hand is dropped) instead of the fitted one, on the --gate-step grid; "
                             "the table still shows the fit. For photos that cannot tell gates apart (as many "
                             "hands found over a range of gates)")
    parser.add_argument("--split", choices=("train", "val", "test"), default="val",
                        help="sources of this split only (default val)")
    parser.add_argument("--limit", type=positive_int, default=None, help="first N photos of each folder")
    parser.add_argument("--flip-test", action="store_true",
                        help="fit for the pipeline with flip_test on (PoseNet also on the mirrored crops); "
                             "stored beside the flip_test-off fit (calibration.side_flip_test, "
                             "calibration.detection_flip_test)")
    segmentation_option(parser)
    parser.add_argument("--side-crops", choices=SIDE_CROPS, default="pipeline",
                        help="the hand side is fitted on the hands the pipeline finds, cut as it cuts them "
                             "(pipeline, the default: what the node sees), or on windows around every "
                             "teacher hand's keypoints (teacher)")
    parser.add_argument("--write", action="store_true", help="store the calibration in WEIGHTS/posenet.pt")


def run(args) -> int:
    import os

    from hand3d_ros.cli import CommandError
    from hand3d_ros.core.hand_confidence import METADATA_KEY as HAND_CONFIDENCE
    from hand3d_ros.core.side_calibration import METADATA_KEY
    from hand3d_ros.evaluation.real import RealEvalConfig
    from hand3d_ros.evaluation.side_fit import (collect_detections, collect_side_cues, fit_and_report,
                                                fit_gate, gated_row, pick_detection_threshold,
                                                with_hand_confidence)
    from hand3d_ros.inference.pipeline import DETECTION_CALIBRATION, calibration_key
    from hand3d_ros.models.weights import WeightsError, set_calibration

    if not 0.0 <= args.max_found_loss < 1.0:
        raise CommandError("--max-found-loss must be in [0, 1)")
    budget = args.max_false_per_hand_free
    if budget is not None and (budget < 0.0 or not args.negatives):
        raise CommandError("--max-false-per-hand-free needs a rate >= 0 and --negatives (hand-free photos)")
    if not 0.0 <= args.budget_confidence < 1.0:
        raise CommandError("--budget-confidence must be in [0, 1)")
    if not 0.0 < args.gate_step <= 0.5:
        raise CommandError("--gate-step must be in (0, 0.5]")
    if args.gate is not None and not 0.0 <= args.gate < 1.0:
        raise CommandError("--gate must be in [0, 1)")
    thresholds = args.detection_thresholds or [-1.0]
    if args.detection_thresholds and (budget is None or not all(0.0 < t < 1.0 for t in thresholds)):
        raise CommandError("--detection-thresholds needs --max-false-per-hand-free and values in (0, 1)")
    flip_test = args.flip_test
    try:
        cues = collect_side_cues(args.weights, args.real, args.split, args.limit, RealEvalConfig(flip_test=flip_test),
                                 side_crops=args.side_crops, segmentation_hw=args.segmentation_size)
        runs = [collect_detections(args.weights, list(args.real) + list(args.negatives), args.split, args.limit,
                                   RealEvalConfig(detection_threshold=t, flip_test=flip_test),
                                   segmentation_hw=args.segmentation_size) for t in thresholds]
        runs = {d["detection_threshold"]: d for d in runs}  # -1 resolved to the weights' threshold
    except (ValueError, WeightsError, FileNotFoundError) as exc:
        raise CommandError(str(exc)) from None
    if len(cues["head"]) < 20 or cues["is_right"].all() or not cues["is_right"].any():
        raise CommandError(f"{len(cues['head'])} hands with side cues (both sides needed, at least 20): "
                           "more labelled photos, or weights with a side head")
    segmentation_hw = next(iter(runs.values()))["segmentation_hw"]  # None: the weights' own size
    size_note = f", HandSegNet reads {segmentation_hw[1]}x{segmentation_hw[0]}" if segmentation_hw else ""
    source = (", ".join(os.path.basename(os.path.normpath(r)) for r in args.real)
              + f" ({args.split}, {args.side_crops} crops" + (", flip_test" if flip_test else "")
              + size_note + ")")
    cal, report = fit_and_report(cues, source)
    print(f"{report['hands']} hands; side accuracy: raw {report['accuracy_raw']:.3f}, "
          f"head alone {report['accuracy_head']:.3f}, calibrated {report['accuracy_calibrated']:.3f}")
    print("confidence bin      hands  mean conf  accuracy   (raw -> calibrated)")
    for name in ("reliability_raw", "reliability_calibrated"):
        for lo, hi, n, conf, acc in report[name]:
            print(f"  {name[12:]:>10} {lo:.1f}-{hi:.1f} {n:7d} {conf:10.3f} {acc:9.3f}")
    print(f"calibration: head {cal.head_scale:.3f}, residual {cal.residual_scale:.3f}, bias {cal.bias:.3f}; "
          f"head only {cal.head_only_scale:.3f}, bias {cal.head_only_bias:.3f}")
    rule = (f"at most {budget} false hands per hand-free photo"
            + (f" (upper {args.budget_confidence:g} bound)" if args.budget_confidence > 0 else "")
            if budget is not None else f"at most {args.max_found_loss} of the found hands lost")
    runs = {t: with_hand_confidence(d, source) for t, d in runs.items()}
    fits = {t: fit_gate(d, args.max_found_loss, step=args.gate_step, max_false_per_hand_free=budget,
                                 budget_confidence=args.budget_confidence) for t, d in runs.items()}
    fitted = {t: gate for t, (gate, _) in fits.items()}
    if args.gate is not None:
        kept = [row[0] for row in next(iter(fits.values()))[1] if abs(row[0] - args.gate) < 1e-9]
        if not kept:
            raise CommandError(f"--gate {args.gate} is not on the --gate-step {args.gate_step} grid")
        fits = {t: (kept[0], table) for t, (_, table) in fits.items()}
        rule += f"; gate kept at {kept[0]:g}"
    threshold = pick_detection_threshold(fits, budget) if budget is not None else next(iter(runs))
    if len(fits) > 1:
        print(f"HandSegNet threshold ({rule}; each with its own gate):")
        print("  threshold   gate  found  false per hand-free photo")
        for t, (g, table) in sorted(fits.items()):
            _, found, _, per_free = gated_row(g, table)
            print(f"  {t:9.2f} {g:6.2f} {found:6.3f} {per_free:26.3f}{'  <- chosen' if t == threshold else ''}")
    gate, table = fits[threshold]
    detections = runs[threshold]
    model = detections["hand_confidence"]
    if model is not None:
        hand_term = f"{model.hand_scale:.3f} x hand head logit + " if model.reads_hand_head else ""
        print(f"hand confidence: log-odds = {model.keypoint_scale:.3f} x mean keypoint score + "
              f"{model.peak_scale:.3f} x HandSegNet peak + {hand_term}{model.bias:.3f} ({model.samples} hands)")
    print(f"detection gate ({'hand confidence' if model is not None else 'mean keypoint score'}; {rule}; "
          f"HandSegNet threshold {threshold:.2f}{size_note}), {detections['teacher_hands']} teacher hands, "
          f"{detections['hand_free_photos']} hand-free photos:")
    print("  threshold  found  false (photos with hands)  false per hand-free photo")
    for t, found, false, per_free in table:
        mark = "  <- gate" if t == gate else "  <- fitted gate" if t == fitted[threshold] else ""
        if not mark and abs(t * 20 - round(t * 20)) > 1e-6:
            continue  # the table shows every 0.05 and the gate
        print(f"  {t:9.2f} {found:6.3f} {false:26.0f} {per_free:26.3f}{mark}")
    if args.write:
        path = os.path.join(args.weights, "posenet.pt")
        side_key = calibration_key(METADATA_KEY, flip_test, segmentation_hw)
        detection_key = calibration_key(DETECTION_CALIBRATION, flip_test, segmentation_hw)
        set_calibration(path, side_key, cal.to_entry())
        gates = ({HAND_CONFIDENCE: model.to_entry(), "min_hand_score": gate} if model is not None
                 else {"min_mean_keypoint_score": gate})
        set_calibration(path, detection_key, {
            **gates, "detection_threshold": threshold, "source": source, "rule": rule, "flip_test": flip_test,
            **({"segmentation_size": [segmentation_hw[1], segmentation_hw[0]]} if segmentation_hw else {})})
        print(f"written to {path} ({detection_key}, {side_key})")
    return 0
