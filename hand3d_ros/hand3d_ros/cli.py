"""The ``hand3d`` command: one entry point, one subcommand per job.

Each subcommand lives in ``hand3d_ros.commands.<name>`` as two functions:
``configure(parser)`` adds its arguments (cheap: no heavy imports) and
``run(args) -> int`` does the work (imports torch, cv2, ... only then). The table
below is the only list of subcommands.

Exit codes: 0 success, 1 the job failed (one readable line on stderr), 2 bad usage.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from hand3d_ros.options import DETECTION_SETTINGS, ZOOM_OUT_FACTOR_RANGE, is_zoom_out_factor

#: name -> one-line help. The module ``hand3d_ros.commands.<name with - as _>``
#: implements it.
COMMANDS = {
    "render": "render a synthetic hand dataset (shards with images, masks, 2D/3D keypoints)",
    "train": "train HandSegNet, PoseNet or PosePrior",
    "eval": "evaluate weights with the paper's metrics on a held-out set",
    "calibrate-side": "fit the hand-side calibration of a weights folder on labelled real photos",
    "fit-hand-head": "fit PoseNet's hand head (real hand or false detection) on a weights folder's own detections",
    "calibrate-int8": "calibrate INT8 activation ranges of a weights folder on real frames (onnxruntime CPU)",
    "export": "export the networks to ONNX (named I/O, dynamic batch, parity check)",
    "bench": "measure per-stage latency of every available backend",
    "label": "label real photos and video frames with the MediaPipe teacher (shards with keypoints, side, mask)",
    "infer": "run the pipeline on images, folders or videos without ROS",
    "demo": "play a rendered camera stream through the ROS graph and record what a robot sees",
    "convert-weights": "convert the authors' TensorFlow weight pickle to this project's format",
}


#: Help of the ``--flip-test`` option of the commands that run the pipeline.
FLIP_TEST_HELP = ("also PoseNet on each crop's mirror image, averaged in (the pipeline's flip_test): "
                  "more accurate, slower")
EXTRA_CANDIDATES_HELP = ("mask components posed beyond the most hands, the best kept (the pipeline's "
                         "extra_candidates, 0-6; default: its default)")
REFINE_PASSES_HELP = ("PoseNet again in a crop around each detected hand's own keypoints, N times (the pipeline's "
                      "refine_passes, 0-3; default: its default)")
REFINE_MAX_OVERLAP_HELP = ("refine only hands whose keypoint crop overlaps the crop PoseNet saw by at most this "
                           "IoU (the pipeline's refine_max_overlap, (0, 1]; 1: every hand; default: its default)")
ZOOM_OUT_FACTOR_HELP = ("pose each low-scoring detected hand again in a window this many times its crop and keep "
                        "the better scored (the pipeline's zoom_out_factor; 0: off, else %g-%g; default: its default)"
                        % ZOOM_OUT_FACTOR_RANGE)


def unit_interval(text: str) -> float:
    """A float in (0, 1] (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


def zoom_factor(text: str) -> float:
    """A ``zoom_out_factor``: 0 or a float in :data:`~hand3d_ros.options.ZOOM_OUT_FACTOR_RANGE` (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not is_zoom_out_factor(value):
        raise argparse.ArgumentTypeError("expected 0 (off) or a number in [%g, %g], got %r"
                                         % (*ZOOM_OUT_FACTOR_RANGE, text))
    return value


def detection_options(parser) -> None:
    """``--extra-candidates N``, ``--refine-passes N``, ``--refine-max-overlap IOU`` and
    ``--zoom-out-factor F`` (None: the pipeline's defaults)."""
    parser.add_argument("--extra-candidates", type=int, default=None, choices=range(7), metavar="N",
                        help=EXTRA_CANDIDATES_HELP)
    parser.add_argument("--refine-passes", type=int, default=None, choices=range(4), metavar="N",
                        help=REFINE_PASSES_HELP)
    parser.add_argument("--refine-max-overlap", type=unit_interval, default=None, metavar="IOU",
                        help=REFINE_MAX_OVERLAP_HELP)
    parser.add_argument("--zoom-out-factor", type=zoom_factor, default=None, metavar="F",
                        help=ZOOM_OUT_FACTOR_HELP)


def detection_config(args) -> dict:
    """The :data:`~hand3d_ros.options.DETECTION_SETTINGS` given on the command line."""
    given = {name: getattr(args, name) for name in DETECTION_SETTINGS}
    return {name: value for name, value in given.items() if value is not None}


SEGMENTATION_SIZE_HELP = ("frame size HandSegNet reads, WxH (multiples of 8; default: the weights' own, 320x240 for "
                          "the shipped ones): larger finds smaller (farther) hands at a cost that grows with the "
                          "pixels (README: accuracy against speed)")


def segmentation_option(parser) -> None:
    """``--segmentation-size WxH``: ``args.segmentation_size`` = (H, W) or None."""
    parser.add_argument("--segmentation-size", type=segmentation_size, default=None, metavar="WxH",
                        help=SEGMENTATION_SIZE_HELP)


def segmentation_size(text: str) -> tuple:
    """argparse type: ``"WxH"`` -> (H, W), each side a multiple of HandSegNet's stride."""
    from hand3d_ros.options import SEGMENTATION_SIDE_RANGE, SEGMENTATION_STRIDE

    try:
        width, height = parse_wxh(text, "--segmentation-size", SEGMENTATION_SIDE_RANGE[0], SEGMENTATION_SIDE_RANGE[1],
                                  multiple=SEGMENTATION_STRIDE)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return height, width


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def parse_wxh(text: str, option: str, minimum: int = 16, maximum: int = None, multiple: int = 1) -> tuple:
    """``"WxH"`` (pixels) -> ``(width, height)``; ``ValueError`` with one line naming
    ``option`` when it is not two integers or a side is below ``minimum``, above
    ``maximum`` (None: no limit) or not a multiple of ``multiple``."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"{option} must be WxH, e.g. 320x240, got {text!r}")
    width, height = (int(p) for p in parts)
    for side in (width, height):
        if side < minimum or (maximum is not None and side > maximum) or side % multiple:
            limits = f">= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
            limits += f" and a multiple of {multiple}" if multiple > 1 else ""
            raise ValueError(f"{option} {text}: both sides must be {limits}")
    return width, height


class CommandError(Exception):
    """A failure to report as one line and exit status 1 (no traceback)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one readable line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _module(name: str):
    return importlib.import_module(f"hand3d_ros.commands.{name.replace('-', '_')}")


def build_parser() -> argparse.ArgumentParser:
    """The full parser (imports every command's light ``configure`` module)."""
    parser = _Parser(prog="hand3d", description="3D hand pose from a single RGB camera.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_text in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        _module(name).configure(cmd)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        sys.stderr.write(
            f"hand3d: unknown command '{argv[0]}' (choose from: {', '.join(COMMANDS)})\n"
        )
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(_module(args.command).run(args) or 0)
    except CommandError as exc:
        sys.stderr.write(f"hand3d {args.command}: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write(f"hand3d {args.command}: interrupted\n")
        return 130


if __name__ == "__main__":
    # Under ``python -m`` this module is ``__main__``: run the imported ``hand3d_ros.cli``
    # so that its CommandError is the one the commands raise.
    from hand3d_ros.cli import main as _main

    sys.exit(_main())
