"""Names of settings shared by the command line and the modules behind it.

Torch-free, so that ``hand3d`` can build its parsers without loading a network library;
the modules that carry the settings out import the same names.
"""

#: The detection settings the commands expose (``PipelineConfig`` field names):
#: ``--extra-candidates``, ``--refine-passes``, ``--refine-max-overlap``, ``--zoom-out-factor``.
DETECTION_SETTINGS = ("extra_candidates", "refine_passes", "refine_max_overlap", "zoom_out_factor")

#: ``zoom_out_factor`` (``PipelineConfig``): 0 turns it off, else a factor in this range (a
#: factor near 1 would pose the same crop twice).
ZOOM_OUT_FACTOR_RANGE = (1.1, 4.0)


def is_zoom_out_factor(value: float) -> bool:
    """Whether ``value`` is a ``zoom_out_factor``: 0 or within :data:`ZOOM_OUT_FACTOR_RANGE`."""
    lo, hi = ZOOM_OUT_FACTOR_RANGE
    return value == 0.0 or lo <= value <= hi


#: Where ``hand3d calibrate-side`` cuts the hands it fits the hand side on: the pipeline's
#: own crops of the hands it finds, or windows around the teacher's keypoints.
SIDE_CROPS = ("pipeline", "teacher")

#: HandSegNet's output stride: the sides of a frame size it reads are multiples of it.
SEGMENTATION_STRIDE = 8
#: Range of each side of a HandSegNet input size a user may choose, pixels.
SEGMENTATION_SIDE_RANGE = (64, 1920)


def check_segmentation_hw(hw) -> None:
    """Raise ValueError unless ``hw`` = (H, W) is an input size HandSegNet can read: both
    sides multiples of :data:`SEGMENTATION_STRIDE` within :data:`SEGMENTATION_SIDE_RANGE`."""
    lo, hi = SEGMENTATION_SIDE_RANGE
    try:
        height, width = (int(v) for v in hw)
    except (TypeError, ValueError):
        raise ValueError(f"segmentation size must be (height, width), got {hw!r}") from None
    if any(not lo <= v <= hi or v % SEGMENTATION_STRIDE for v in (height, width)):
        raise ValueError(f"segmentation size {width}x{height}: each side must be a multiple of "
                         f"{SEGMENTATION_STRIDE} in [{lo}, {hi}]")
