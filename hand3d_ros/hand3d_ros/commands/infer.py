"""`hand3d infer`: images, folders, videos or rosbag2 recordings in; results out (no ROS).

Each input image gives ``<name>.png`` (the 2D skeleton, crop box, mask outline and label
drawn over it) and ``<name>.json`` (every hand: 2D keypoints with scores, w_rel, metric
3D when intrinsics are known, palm pose, handedness). A video gives ``<name>.mp4`` and
``<name>.jsonl`` (one line per frame) and is tracked across frames; images are
independent. Intrinsics come from ``--calibration`` (a ROS calibration YAML) or a
horizontal field-of-view guess (``--hfov``).

A rosbag2 recording (a bag folder, or one ``.mcap`` / ``.db3`` file) gives a pose bag and a
trajectory table, every frame processed in stamp order with the node's tracking and
smoothing (``hand3d_ros.offline.bag_infer``).
"""
from hand3d_ros.cli import (FLIP_TEST_HELP, CommandError, detection_config, detection_options,
                            segmentation_option)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


def configure(parser):
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="image files, image folders, video files or rosbag2 bags (folder, .mcap, .db3)")
    parser.add_argument("--out", default="out/infer", help="output folder (default: out/infer)")
    parser.add_argument("--weights", default=None, help="folder with handsegnet.pt, posenet.pt, poseprior.pt "
                        "(default: the shipped weights)")
    parser.add_argument("--config", default="lite", choices=("lite", "paper"), help="network configuration")
    parser.add_argument("--allow-random-weights", action="store_true",
                        help="run with random weights when none are found (plumbing only)")
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime", "tensorrt"))
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--hand-side", default="auto", choices=("auto", "left", "right"),
                        help="handedness: estimate it, or force one side")
    parser.add_argument("--max-hands", type=int, default=2, help="most hands per image (1-8)")
    parser.add_argument("--threshold", type=float, default=-1.0,
                        help="HandSegNet hand probability threshold (0-1; default: the weights' calibrated one)")
    parser.add_argument("--flip-test", action="store_true", help=FLIP_TEST_HELP)
    detection_options(parser)
    segmentation_option(parser)
    parser.add_argument("--hfov", type=float, default=60.0, help="horizontal field of view for the intrinsics "
                        "guess, degrees (ignored with --calibration)")
    parser.add_argument("--calibration", default=None, help="camera calibration YAML (ROS camera_info format)")
    parser.add_argument("--bone-length", type=float, default=0.043,
                        help="hand-size prior: middle-finger MCP->PIP length, metres")
    bags = parser.add_argument_group("rosbag2 inputs (tracking, smoothing and the rest as the node's defaults)")
    bags.add_argument("--image-topic", default=None, help="sensor_msgs/Image or CompressedImage topic "
                      "(default: found by type)")
    bags.add_argument("--camera-info-topic", default=None, help="sensor_msgs/CameraInfo topic (default: found by "
                      "type; 'none': 2D and normalised 3D only)")
    bags.add_argument("--depth-topic", default=None, help="aligned depth image topic (default: the Image topic "
                      "with 'depth' in its name, if one; 'none': monocular)")
    bags.add_argument("--markers", action="store_true", help="also write RViz markers to the pose bag")


def run(args) -> int:
    from pathlib import Path

    if not 1 <= args.max_hands <= 8:
        raise CommandError(f"--max-hands must be in [1, 8], got {args.max_hands}")
    from hand3d_ros.inference.pipeline import is_detection_threshold

    if not is_detection_threshold(args.threshold):
        raise CommandError(f"--threshold must be in (0, 1) (or -1: the weights' own), got {args.threshold}")
    from hand3d_ros.offline.bags import is_bag

    paths = [Path(p) for p in args.inputs]
    bags = [p for p in paths if is_bag(p)]
    status = 0
    for bag in bags:
        status = max(status, _bag(bag, args))
    if len(bags) == len(paths):
        return status
    jobs = _expand_inputs([p for p in paths if p not in bags])
    estimator = _estimator(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    calibration = _calibration(args.calibration)
    total = 0
    for path in jobs:
        if path.suffix.lower() in VIDEO_SUFFIXES:
            total += _video(path, out, estimator, calibration, args.hfov)
        else:
            total += _image(path, out, estimator, calibration, args.hfov)
    print(f"hand3d infer: {len(jobs)} input(s), {total} hand(s) found; results in {out}/")
    return status


def _bag(path, args) -> int:
    """One rosbag2 recording: pose bag + trajectory table (see hand3d_ros.offline.bag_infer)."""
    from tqdm import tqdm

    from hand3d_ros.inference.estimator import build_estimator
    from hand3d_ros.offline.bag_infer import BagInferConfig, infer_bag, node_parameters
    from hand3d_ros.offline.bags import BagError

    overrides = {"weights_dir": args.weights or "", "model_config": args.config, "backend": args.backend,
                 "device": args.device, "allow_random_weights": args.allow_random_weights,
                 "handedness": args.hand_side, "max_hands": args.max_hands, "detection_threshold": args.threshold,
                 "reference_bone_length": args.bone_length, "flip_test": args.flip_test, **detection_config(args)}
    if args.segmentation_size:
        overrides["segmentation_height"], overrides["segmentation_width"] = args.segmentation_size
    try:
        p = node_parameters(overrides)
        config = BagInferConfig.from_node_params(p, image_topic=args.image_topic, markers=args.markers,
                                                 camera_info_topic=args.camera_info_topic, depth_topic=args.depth_topic)
        with tqdm(desc=path.name, unit="frame", dynamic_ncols=True, delay=0.5) as bar:
            def progress(done, total):
                bar.total = total
                bar.update(done - bar.n)

            report = infer_bag(path, args.out, lambda: build_estimator(p, log=_log), config, progress=progress,
                               log=_log)
    except (BagError, FileNotFoundError, ValueError, RuntimeError) as err:
        raise CommandError(str(err)) from None
    print(report.summary())
    if report.interrupted:
        return 130
    return 1 if report.read_error else 0


def _expand_inputs(paths):
    from hand3d_ros.data.sources import IMAGE_SUFFIXES

    jobs = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
            if not found:
                raise CommandError(f"no images or videos in {path}")
            jobs += found
        elif path.is_file():
            jobs.append(path)
        else:
            raise CommandError(f"no such file or folder: {path}")
    return jobs


def _estimator(args):
    from dataclasses import replace

    from hand3d_ros.inference.estimator import HandEstimator, image_estimator_config
    from hand3d_ros.inference.pipeline import PipelineConfig, load_pipeline
    from hand3d_ros.core.metric3d import MetricConfig

    pipeline_config = PipelineConfig(detection_threshold=args.threshold, max_hands=args.max_hands,
                                     handedness=args.hand_side, flip_test=args.flip_test,
                                     **detection_config(args))
    try:
        pipeline = load_pipeline(weights_dir=args.weights, config=args.config,
                                 allow_random_weights=args.allow_random_weights, backend=args.backend,
                                 device=args.device, pipeline_config=replace(pipeline_config),
                                 segmentation_hw=args.segmentation_size, log=_log)
        metric = MetricConfig(bone_length_m=args.bone_length)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        raise CommandError(str(err)) from None
    return HandEstimator(pipeline, image_estimator_config(pipeline_config, metric))


def _log(text):
    import sys

    sys.stderr.write(f"[hand3d infer] {text}\n")


def _calibration(path):
    if not path:
        return None
    from hand3d_ros.core.camera_model import CalibrationError, load_calibration

    try:
        return load_calibration(path)
    except (CalibrationError, OSError) as err:
        raise CommandError(str(err)) from None


def _intrinsics(calibration, width, height, hfov):
    from hand3d_ros.core.camera_model import CameraModel

    model = calibration.scaled(width, height) if calibration is not None else CameraModel.from_fov(width, height, hfov)
    return model.K


def hand_to_dict(hand) -> dict:
    """One :class:`~hand3d_ros.inference.estimator.HandState` as JSON-ready values (NaN -> None)."""
    import math

    import numpy as np

    from hand3d_ros.core.metric3d import ScaleSource

    def clean(value):
        if isinstance(value, np.ndarray):
            return clean(value.tolist())
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, (float, np.floating)):
            return None if not math.isfinite(float(value)) else round(float(value), 6)
        if isinstance(value, np.integer):
            return int(value)
        return value

    return {
        "hand_id": int(hand.hand_id), "handedness": ["left", "right", "unknown"][int(hand.handedness)],
        "handedness_score": clean(hand.handedness_score), "score": clean(hand.score),
        "crop_box": clean(hand.crop_box), "keypoints_2d_px": clean(hand.uv), "keypoint_scores": clean(hand.uv_score),
        "keypoints_3d_normalized": clean(hand.w_rel), "keypoints_3d_m": clean(hand.xyz),
        "scale_source": ScaleSource(int(hand.scale_source)).name.lower(),
        "reference_bone_length_m": clean(hand.bone_length_m), "reprojection_error_px": clean(hand.reprojection_error_px),
        "palm_origin_m": clean(hand.palm_origin), "palm_rotation": clean(hand.palm_rotation),
        "viewpoint_rotation": clean(hand.viewpoint),
    }


def _image(path, out, estimator, calibration, hfov) -> int:
    import json

    import cv2

    from hand3d_ros.visualize import draw_overlay

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise CommandError(f"cannot read image {path}")
    rgb = bgr[..., ::-1].copy()
    estimator.reset()  # independent images: no tracking across them
    height, width = rgb.shape[:2]
    result = estimator.process(rgb, 0.0, K=_intrinsics(calibration, width, height, hfov), keep_mask=True)
    drawn = draw_overlay(rgb, result.hands, result.mask)
    cv2.imwrite(str(out / f"{path.stem}.png"), drawn[..., ::-1])
    record = {"image": str(path), "width": width, "height": height, "timings_ms": result.timings_ms,
              "hands": [hand_to_dict(h) for h in result.hands]}
    (out / f"{path.stem}.json").write_text(json.dumps(record, indent=1))
    return len(result.hands)


def _video(path, out, estimator, calibration, hfov) -> int:
    import json

    import cv2

    from hand3d_ros.data.sources import SourceError, VideoSource
    from hand3d_ros.visualize import draw_overlay

    try:
        source = VideoSource(path)
    except SourceError as err:
        raise CommandError(str(err)) from None
    estimator.reset()
    writer, hands_found = None, 0
    with source, open(out / f"{path.stem}.jsonl", "w") as lines:
        for index, frame in enumerate(source):
            height, width = frame.rgb.shape[:2]
            result = estimator.process(frame.rgb, frame.stamp_s, K=_intrinsics(calibration, width, height, hfov),
                                       keep_mask=True)
            if writer is None:
                writer = cv2.VideoWriter(str(out / f"{path.stem}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"),
                                         source.fps, (width, height))
            writer.write(draw_overlay(frame.rgb, result.hands, result.mask)[..., ::-1])
            lines.write(json.dumps({"frame": index, "stamp_s": frame.stamp_s, "detected": result.detected,
                                    "hands": [hand_to_dict(h) for h in result.hands]}) + "\n")
            hands_found += len(result.hands)
            print(f"\r{path.name}: frame {index + 1}", end="", flush=True)
    print()
    if writer is not None:
        writer.release()
    return hands_found
