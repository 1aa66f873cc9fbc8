"""`hand3d calibrate-side`: make a weights folder's ``handedness_score`` mean what it says.

    hand3d calibrate-side --weights DIR --real LABELLED_DIR... [--split val] [--write]

Fits a logistic calibration of the hand side on teacher-labelled real photos
(``hand3d_ros.evaluation.side_fit``) and, with ``--write``, stores it in
``DIR/posenet.pt`` (``calibration`` metadata); the pipeline then uses it.
"""
from __future__ import annotations

from hand3d_ros.cli import positive_int


def configure(parser):
    parser.add_argument("--weights", required=True, help="weights folder (its posenet.pt gets the calibration)")
    parser.add_argument("--real", required=True, nargs="+", metavar="DIR", help="hand3d label folders")
    parser.add_argument("--split", choices=("train", "val", "test"), default="val",
                        help="sources of this split only (default val)")
    parser.add_argument("--limit", type=positive_int, default=None, help="first N photos of each folder")
    parser.add_argument("--write", action="store_true", help="store the calibration in WEIGHTS/posenet.pt")


def run(args) -> int:
    import os

    from hand3d_ros.cli import CommandError
    from hand3d_ros.core.side_calibration import METADATA_KEY
    from hand3d_ros.evaluation.side_fit import collect_side_cues, fit_and_report
    from hand3d_ros.models.weights import WeightsError, set_calibration

    try:
        cues = collect_side_cues(args.weights, args.real, args.split, args.limit)
    except (ValueError, WeightsError, FileNotFoundError) as exc:
        raise CommandError(str(exc)) from None
    if len(cues["head"]) < 20 or cues["is_right"].all() or not cues["is_right"].any():
        raise CommandError(f"{len(cues['head'])} hands with side cues (both sides needed, at least 20): "
                           "more labelled photos, or weights with a side head")
    source = ", ".join(os.path.basename(os.path.normpath(r)) for r in args.real) + f" ({args.split})"
    cal, report = fit_and_report(cues, source)
    print(f"{report['hands']} hands; side accuracy: raw {report['accuracy_raw']:.3f}, "
          f"head alone {report['accuracy_head']:.3f}, calibrated {report['accuracy_calibrated']:.3f}")
    print("confidence bin      hands  mean conf  accuracy   (raw -> calibrated)")
    for name in ("reliability_raw", "reliability_calibrated"):
        for lo, hi, n, conf, acc in report[name]:
            print(f"  {name[12:]:>10} {lo:.1f}-{hi:.1f} {n:7d} {conf:10.3f} {acc:9.3f}")
    print(f"calibration: head {cal.head_scale:.3f}, residual {cal.residual_scale:.3f}, bias {cal.bias:.3f}; "
          f"head only {cal.head_only_scale:.3f}, bias {cal.head_only_bias:.3f}")
    if args.write:
        set_calibration(os.path.join(args.weights, "posenet.pt"), METADATA_KEY, cal.to_metadata()[METADATA_KEY])
        print(f"written to {os.path.join(args.weights, 'posenet.pt')}")
    return 0
