"""`hand3d convert-weights PICKLE OUTDIR`: the authors' TF weights -> this project's files.

Writes ``OUTDIR/<network>.pt`` for every network in the pickle (``handsegnet``,
``posenet``, ``poseprior``). The authors' keypoint 0 is the palm centre, not the
wrist: see :mod:`hand3d_ros.models.convert_tf`.
"""
from hand3d_ros.cli import CommandError


def configure(parser):
    parser.add_argument("pickle", help="the authors' weight pickle, e.g. posenet3d-rhd-stb-slr-finetuned.pickle")
    parser.add_argument("outdir", help="folder for the converted <network>.pt files")
    parser.add_argument("--keep-palm-root", action="store_true",
                        help="keep PosePrior's output rooted at the palm centre (authors' keypoint 0) "
                             "instead of re-rooting it at the estimated wrist")


def run(args) -> int:
    import os

    from hand3d_ros.models.convert_tf import (
        file_sha256, load_tf_pickle, unmatched_tf_names, write_converted,
    )

    try:
        tf_dict = load_tf_pickle(args.pickle)
        written = write_converted(tf_dict, args.outdir, source=os.path.basename(args.pickle),
                                  rebase_root_to_wrist=not args.keep_palm_root,
                                  source_sha256=file_sha256(args.pickle))
    except ValueError as exc:  # includes WeightsError
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"{args.outdir}: cannot write ({exc.strerror or exc})") from None
    for network, path in written:
        print(f"wrote {path} ({network})")
    ignored = unmatched_tf_names(tf_dict)
    if ignored:
        print(f"ignored {len(ignored)} variables the networks do not use, e.g. {ignored[0]}")
    if any(network == "posenet" for network, _ in written):
        print("note: PoseNet map 0 is the palm centre in the authors' weights, not the wrist")
    return 0
