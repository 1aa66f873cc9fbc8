"""Names of settings shared by the command line and the modules behind it.

Torch-free, so that ``hand3d`` can build its parsers without loading a network library;
the modules that carry the settings out import the same names.
"""

#: The detection settings the commands expose (``PipelineConfig`` field names):
#: ``--extra-candidates``, ``--refine-passes``, ``--refine-max-overlap``.
DETECTION_SETTINGS = ("extra_candidates", "refine_passes", "refine_max_overlap")

#: Where ``hand3d calibrate-side`` cuts the hands it fits the hand side on: the pipeline's
#: own crops of the hands it finds, or windows around the teacher's keypoints.
SIDE_CROPS = ("pipeline", "teacher")

#: HandSegNet's output stride: the sides of a frame size it reads are multiples of it.
SEGMENTATION_STRIDE = 8
#: Range of each side of a HandSegNet input size a user may choose, pixels.
SEGMENTATION_SIDE_RANGE = (64, 1920)
