"""A recorded rosbag2 in; a pose bag and a trajectory table out (``hand3d infer BAG``).

Every image of the image topic is processed, in header-stamp order, by the same
:class:`~hand3d_ros.inference.estimator.HandEstimator` as the node (tracking and
smoothing included), with the camera_info nearest in stamp and the depth image nearest in
stamp (within ``depth_max_time_offset_s``). Nothing is dropped: the run is as slow as the
networks and gives the same result each time.

Outputs, for a bag named ``NAME`` in the output folder:

- ``NAME_hand3d/``: an MCAP rosbag2 with ``hand3d_msgs/HandPose3DArray`` on
  :attr:`BagInferConfig.poses_topic` (one per processed image, stamped and logged with
  the image's stamp), ``tf2_msgs/TFMessage`` on ``/tf`` (palm frames) and optionally
  ``visualization_msgs/MarkerArray``; the message definitions travel in the bag;
- ``NAME_trajectories.csv`` / ``.npz``: one row per hand per frame
  (:mod:`hand3d_ros.offline.trajectory`).

Bad input is counted, not fatal: undecodable messages, unsupported encodings and
oversized images are skipped with their reason; depth that cannot be used is ignored for
that frame (with its reason); a read error part-way (truncated file) ends the run with
what was read. Ctrl-C ends it too; in every case both outputs are closed properly.
"""
from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from hand3d_ros import messages
from hand3d_ros.offline.bags import (
    BagError,
    PoseBagWriter,
    frame_order,
    nearest_index,
    open_bag,
    select_topics,
    stamp_ns,
    topic_types,
)
from hand3d_ros.offline.trajectory import TrajectoryTable

NO_CAMERA_INFO = "no camera_info: 2D and normalised 3D only (keypoints_3d NaN, no TF, no markers)"


@dataclass
class BagInferConfig:
    """What ``hand3d infer`` reads from a bag and writes.

    Attributes:
        image_topic / camera_info_topic / depth_topic: topics to read (None: found by
            message type; ``"none"`` turns camera_info or depth off).
        depth_max_time_offset_s: largest stamp difference between an image and its depth
            image, seconds, [0, 1] (as the node's parameter).
        max_image_pixels: larger images are skipped, [1, 2**28].
        poses_topic / tf_topic / markers_topic: output topics.
        tf: write the palm frames on ``tf_topic``; keypoint_frames: also one frame per keypoint.
        markers: write RViz markers; marker_lifetime_s: their lifetime, seconds, [0, 60].
        frame_prefix: prefix of the TF frame names.
    """

    image_topic: Optional[str] = None
    camera_info_topic: Optional[str] = None
    depth_topic: Optional[str] = None
    depth_max_time_offset_s: float = 0.05
    max_image_pixels: int = 4096 * 4096
    poses_topic: str = "/hand_poses"
    tf_topic: str = "/tf"
    markers_topic: str = "/hand3d/markers"
    tf: bool = True
    keypoint_frames: bool = False
    markers: bool = False
    marker_lifetime_s: float = 0.5
    frame_prefix: str = ""

    @classmethod
    def from_node_params(cls, p: dict, **fields) -> "BagInferConfig":
        """The settings the node's parameters ``p`` also govern (depth offset, image size
        limit, TF frames, marker lifetime), plus ``fields``."""
        return cls(depth_max_time_offset_s=float(p["depth_max_time_offset_s"]),
                   max_image_pixels=int(p["max_image_pixels"]), tf=bool(p["publish_tf"]),
                   keypoint_frames=bool(p["publish_keypoint_frames"]), frame_prefix=str(p["frame_prefix"]),
                   marker_lifetime_s=float(p["marker_lifetime_s"]), **fields)


def node_parameters(overrides: dict) -> dict:
    """The node's parameter defaults with ``overrides`` (checked: ValueError names a
    value outside its range)."""
    from hand3d_ros.ros.params import PARAMS, validate, validate_all

    p = {param.name: param.default for param in PARAMS}
    p.update(overrides)
    reason = next((r for r in (validate(k, v, at_startup=True) for k, v in overrides.items()) if r), None)
    reason = reason or validate_all(p)
    if reason:
        raise ValueError(reason)
    return p


@dataclass
class BagInferReport:
    """Counters of one run.

    Attributes:
        frames_read: images on the image topic that were read.
        frames_processed: images run through the estimator; frames_posed: of those, with a hand.
        hands: hand rows written.
        skipped: reason -> images skipped for it; depth_ignored: reason -> frames run without
            depth; camera_info_ignored: reason -> camera_info messages not used.
        camera_info: whether camera_info was available (metric 3D).
        read_error: the error that ended reading early (truncated/corrupt), else None.
        interrupted: Ctrl-C ended the run.
        seconds: wall time of the processing pass (and of the estimator alone).
    """

    bag: str
    topics: object = None
    frames_read: int = 0
    frames_processed: int = 0
    frames_posed: int = 0
    hands: int = 0
    skipped: Counter = field(default_factory=Counter)
    depth_ignored: Counter = field(default_factory=Counter)
    camera_info_ignored: Counter = field(default_factory=Counter)
    camera_info: bool = False
    read_error: Optional[str] = None
    interrupted: bool = False
    seconds: float = 0.0
    estimator_seconds: float = 0.0
    outputs: dict = field(default_factory=dict)

    @property
    def frames_per_second(self) -> float:
        return self.frames_processed / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """Readable lines: counts, reasons, speed, outputs."""
        lines = [f"{self.bag}: {self.frames_read} frames read, {self.frames_processed} processed, "
                 f"{self.frames_posed} with hands ({self.hands} hand rows), {sum(self.skipped.values())} skipped; "
                 f"{self.frames_per_second:.2f} frames/s"
                 + (f" ({1e3 * self.estimator_seconds / self.frames_processed:.1f} ms/frame in the estimator)"
                    if self.frames_processed else "")]
        lines += [f"  skipped {n}: {reason}" for reason, n in sorted(self.skipped.items())]
        lines += [f"  depth not used for {n} frame(s): {reason}" for reason, n in sorted(self.depth_ignored.items())]
        lines += [f"  {n} camera_info message(s) not used: {reason}"
                  for reason, n in sorted(self.camera_info_ignored.items())]
        if self.read_error:
            lines.append(f"  reading stopped early: {self.read_error}")
        if self.interrupted:
            lines.append("  interrupted (Ctrl-C): outputs hold the frames processed so far")
        lines += [f"  {kind}: {path}" for kind, path in self.outputs.items()]
        return "\n".join(lines)


def _reason(err) -> str:
    """An error as a countable reason: numbers masked (not inside quotes, e.g. encoding
    names), so sizes do not split the counts."""
    parts = re.split(r"('[^']*')", str(err))
    return "".join(part if index % 2 else re.sub(r"\d+", "#", part) for index, part in enumerate(parts))


def output_paths(bag, out_dir) -> dict:
    name = Path(bag).name
    for suffix in (".mcap", ".db3"):
        name = name[: -len(suffix)] if name.lower().endswith(suffix) else name
    out_dir = Path(out_dir)
    return {"bag": out_dir / f"{name}_hand3d", "table": out_dir / f"{name}_trajectories"}


def infer_bag(bag, out_dir, estimator, config: Optional[BagInferConfig] = None,
              progress: Optional[Callable[[int, int], None]] = None, log: Callable[[str], None] = print
              ) -> BagInferReport:
    """Run ``estimator`` on every image of ``bag``; write the pose bag and the table into ``out_dir``.

    ``estimator``: a :class:`~hand3d_ros.inference.estimator.HandEstimator`, or a function
    returning one (called once the bag has been checked, so a bad bag fails fast).

    ``progress(done, total)`` is called after each image; ``log`` gets one-off notices.
    Raises :class:`BagError` (one line) when the bag cannot be opened or has no usable
    image topic, or the output bag already exists; otherwise returns the report (a
    KeyboardInterrupt ends the run early with ``report.interrupted``).
    """
    from hand3d_ros.core.camera_model import CalibrationError, CameraModel
    from hand3d_ros.ros.image_conversions import ImageLimits

    config = config or BagInferConfig()
    paths = output_paths(bag, out_dir)
    if paths["bag"].exists():
        raise BagError(f"{paths['bag']} exists already; remove it or choose another --out")
    reader = open_bag(bag)
    report = BagInferReport(bag=str(bag))
    try:
        topics = select_topics(topic_types(reader), config.image_topic, config.camera_info_topic, config.depth_topic)
        report.topics = topics
        wanted = {t for t in (topics.image, topics.camera_info, topics.depth) if t}
        connections = [c for c in reader.connections if c.topic in wanted]
        index = _index(reader, connections, topics, report)
        report.frames_read = len(index.image_stamps)
        cameras = []
        for stamp, info in index.camera_infos:
            try:
                cameras.append((stamp, CameraModel.from_camera_info(info)))
            except CalibrationError as err:
                report.camera_info_ignored[_reason(err)] += 1
        report.camera_info = bool(cameras)
        if not cameras:
            log(NO_CAMERA_INFO if topics.camera_info is None
                else f"no usable camera_info on {topics.camera_info}: " + NO_CAMERA_INFO.split(": ", 1)[1])
        if not hasattr(estimator, "process"):
            estimator = estimator()
        estimator.reset()
        plan = frame_order(index.image_stamps, index.depth_stamps, int(config.depth_max_time_offset_s * 1e9))
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        out_topics = {config.poses_topic: messages.HAND_POSE_ARRAY_TYPE}
        if config.tf:
            out_topics[config.tf_topic] = messages.TF_MESSAGE_TYPE
        if config.markers:
            out_topics[config.markers_topic] = messages.MARKER_ARRAY_TYPE
        frame = _FrameWriter(reader, estimator, config, cameras, ImageLimits(max_pixels=int(config.max_image_pixels)),
                             report)
        start = time.perf_counter()
        with PoseBagWriter(paths["bag"], out_topics) as writer, TrajectoryTable(paths["table"]) as table:
            report.outputs = {"pose bag": str(paths["bag"]), "table (CSV)": str(table.csv_path),
                              "table (NPZ)": str(table.npz_path)}
            frame.writer, frame.table = writer, table
            try:
                _process_in_order(reader, connections, topics, index, plan, frame, progress)
            except KeyboardInterrupt:
                report.interrupted = True
        report.seconds = time.perf_counter() - start
    finally:
        reader.close()
    return report


@dataclass
class _Index:
    image_stamps: list = field(default_factory=list)  # header stamp (ns) of each image, read order
    image_bad: dict = field(default_factory=dict)  # image index -> reason it cannot be decoded
    depth_stamps: list = field(default_factory=list)
    camera_infos: list = field(default_factory=list)  # (stamp_ns, message), sorted by stamp
    messages_read: int = 0


def _index(reader, connections, topics, report) -> _Index:
    """First pass: the stamps of every image and depth image, and the camera_infos."""
    index = _Index()
    try:
        for connection, log_time, raw in reader.messages(connections=connections):
            index.messages_read += 1
            try:
                msg = reader.deserialize(raw, connection.msgtype)
                stamp = stamp_ns(msg.header)
            except Exception as err:  # a message the type system cannot decode
                msg, stamp = None, int(log_time)
                if connection.topic == topics.image:
                    index.image_bad[len(index.image_stamps)] = f"undecodable message: {_reason(err)}"
            if connection.topic == topics.image:
                index.image_stamps.append(stamp)
            elif connection.topic == topics.depth:
                index.depth_stamps.append(stamp if msg is not None else -1)
            elif msg is not None:
                index.camera_infos.append((stamp, msg))
    except KeyboardInterrupt:
        raise
    except Exception as err:  # truncated or corrupt storage: keep what was read
        report.read_error = f"{type(err).__name__}: {err}"
    index.camera_infos.sort(key=lambda item: item[0])
    return index


def _messages(reader, connections, limit: int):
    """(connection, raw) of the first ``limit`` messages; ends quietly at a read error
    (the first pass has recorded it)."""
    if limit <= 0:
        return
    count = 0
    try:
        for connection, _, raw in reader.messages(connections=connections):
            yield connection, raw
            count += 1
            if count >= limit:
                return
    except Exception:  # noqa: BLE001 - truncated or corrupt storage, as in the first pass
        return


def _process_in_order(reader, connections, topics, index, plan, frame, progress) -> None:
    """Second pass: stream the images (and their depth) and process them in ``plan.order``,
    holding only those that arrive before their turn."""
    depth_users = Counter(plan.depth_of.values())
    pending_images, pending_depth = {}, {}
    image_count = depth_count = done = 0
    total = len(plan.order)

    def step(i, depth):
        nonlocal done
        frame.process(done, *pending_images.pop(i), depth)
        done += 1
        if progress:
            progress(done, total)

    for connection, raw in _messages(reader, connections, index.messages_read):
        if connection.topic == topics.image:
            pending_images[image_count] = (raw, connection.msgtype, index.image_bad.get(image_count),
                                           index.image_stamps[image_count])
            image_count += 1
        elif connection.topic == topics.depth:
            if depth_users.get(depth_count):
                pending_depth[depth_count] = (raw, connection.msgtype)
            depth_count += 1
        else:
            continue
        while done < total:
            i = plan.order[done]
            d = plan.depth_of.get(i)
            if i not in pending_images or (d is not None and d not in pending_depth):
                break
            step(i, pending_depth.get(d) if d is not None else None)
            if d is not None:
                depth_users[d] -= 1
                if not depth_users[d]:
                    del pending_depth[d]
    for i in plan.order[done:]:  # reading ended early: the rest without the depth that never came
        if i in pending_images:
            step(i, None)


class _FrameWriter:
    """Decodes one image (+ depth), runs the estimator, writes messages and table rows."""

    def __init__(self, reader, estimator, config: BagInferConfig, cameras, limits, report: BagInferReport):
        self.reader, self.estimator, self.config, self.limits, self.report = reader, estimator, config, limits, report
        self.camera_stamps = [stamp for stamp, _ in cameras]
        self.cameras = [model for _, model in cameras]
        self.writer = self.table = None
        self._live_hand_ids: set = set()

    def _intrinsics(self, stamp: int, shape):
        at = nearest_index(self.camera_stamps, stamp)
        if at is None:
            return None
        model = self.cameras[at]
        if (model.width, model.height) != (shape[1], shape[0]):
            model = model.scaled(shape[1], shape[0])
        return model.K

    def _depth(self, depth, shape):
        from hand3d_ros.ros.image_conversions import ImageError, depth_to_metres

        if depth is None:
            return None
        raw, msgtype = depth
        try:
            metres = depth_to_metres(self.deserialize(raw, msgtype), self.limits)
        except ImageError as err:
            self.report.depth_ignored[_reason(err)] += 1
            return None
        except Exception as err:
            self.report.depth_ignored[f"undecodable message: {_reason(err)}"] += 1
            return None
        if metres.shape != shape[:2]:
            self.report.depth_ignored[_reason(f"depth of {metres.shape[1]}x{metres.shape[0]} is not aligned to "
                                              f"the {shape[1]}x{shape[0]} image")] += 1
            return None
        return metres

    def deserialize(self, raw, msgtype):
        return self.reader.deserialize(raw, msgtype)

    def process(self, frame_index: int, raw, msgtype, bad: Optional[str], stamp: int, depth):
        from hand3d_ros.ros.image_conversions import ImageError, compressed_to_rgb, image_to_rgb

        report = self.report
        if bad:
            report.skipped[bad] += 1
            return
        try:
            msg = self.deserialize(raw, msgtype)
            rgb = compressed_to_rgb(msg, self.limits) if msgtype.endswith("CompressedImage") \
                else image_to_rgb(msg, self.limits)
        except ImageError as err:
            report.skipped[_reason(err)] += 1
            return
        if not rgb.flags.writeable:  # a view of the read-only message buffer: torch wants its own
            rgb = rgb.copy()
        depth_m = self._depth(depth, rgb.shape)
        start = time.perf_counter()
        out = self.estimator.process(rgb, stamp * 1e-9, K=self._intrinsics(stamp, rgb.shape), depth_m=depth_m)
        report.estimator_seconds += time.perf_counter() - start
        self._write(out.hands, stamp, str(msg.header.frame_id), frame_index)
        report.frames_processed += 1
        report.frames_posed += bool(out.hands)
        report.hands += len(out.hands)

    def _write(self, hands, stamp: int, frame_id: str, frame_index: int) -> None:
        config, writer = self.config, self.writer
        stamp_msg = messages.stamp_from_ns(stamp)
        header = messages.header(stamp_msg, frame_id)
        writer.write(config.poses_topic, messages.hand_pose_array(hands, header), stamp)
        if config.tf:
            names = messages.hand_frame_names(hands, config.frame_prefix)
            transforms = [t for h, name in zip(hands, names)
                          for t in messages.hand_transforms(h, stamp_msg, frame_id, name, config.keypoint_frames)]
            if transforms:
                writer.write(config.tf_topic, messages.tf_message(transforms), stamp)
        if config.markers:
            live = {int(h.hand_id) for h in hands}
            markers = [m for h in hands for m in messages.hand_markers(h, header, config.marker_lifetime_s)]
            markers += [m for gone in sorted(self._live_hand_ids - live) for m in messages.delete_markers(gone, header)]
            self._live_hand_ids = live
            if markers:
                writer.write(config.markers_topic, messages.marker_array(markers), stamp)
        self.table.add(hands, stamp, frame_index)
