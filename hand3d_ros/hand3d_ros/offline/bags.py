"""rosbag2 recordings through the ``rosbags`` library (pure Python; no ROS install).

- :func:`open_bag`: a rosbag2 folder, or a single ``.mcap`` / ``.db3`` file, opened for
  reading (message types from the bag's own definitions, else ROS 2 Humble's);
- :func:`select_topics`: the image, camera_info and depth topics, given or found by
  message type (a clear :class:`BagError` listing the candidates when ambiguous);
- :func:`frame_order`: the order in which to process images (header stamp order) and
  the depth image matched to each;
- :func:`output_typestore` / :class:`PoseBagWriter`: a new MCAP bag with
  ``hand3d_msgs`` registered from its ``.msg`` files, so that the definition travels in
  the bag and readers without our package decode it.

Stamps are integer nanoseconds since the epoch (``*_ns``) throughout.
"""
from __future__ import annotations

import bisect
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
BAG_SUFFIXES = (".mcap", ".db3")
#: Topic names containing this are depth images (not colour) when topics are found by type.
DEPTH_NAME_HINT = "depth"
#: Message packages whose ``.msg`` files :func:`output_typestore` registers.
OWN_MESSAGE_PACKAGES = ("hand3d_msgs",)


class BagError(Exception):
    """The bag cannot be used; ``str(err)`` is one readable line."""


def is_bag(path: Path) -> bool:
    """A rosbag2 folder (with metadata.yaml) or a ``.mcap`` / ``.db3`` file."""
    path = Path(path)
    if path.is_dir():
        return (path / "metadata.yaml").is_file()
    return path.suffix.lower() in BAG_SUFFIXES


def open_bag(path):
    """An opened ``rosbags.highlevel.AnyReader`` on a rosbag2 folder or one storage file.

    Raises :class:`BagError` (one line) for a missing, empty, truncated or corrupt bag.
    Close it with ``reader.close()`` (or use it as a context manager after opening).
    """
    try:
        from rosbags.highlevel import AnyReader, AnyReaderError
        from rosbags.typesys import Stores, get_typestore
    except ImportError:
        raise BagError("reading bags needs the rosbags package (pip install rosbags; pinned in "
                       "requirements.txt)") from None

    path = Path(path)
    if not path.exists():
        raise BagError(f"no such bag: {path}")
    if path.is_file() and path.stat().st_size == 0:
        raise BagError(f"{path} is empty (0 bytes)")
    try:
        reader = AnyReader([path], default_typestore=get_typestore(Stores.ROS2_HUMBLE))
        reader.open()
    except (AnyReaderError, FileNotFoundError, OSError, ValueError, KeyError) as err:
        raise BagError(f"cannot open bag {path}: {err}") from None
    except Exception as err:  # the storage layers raise their own types (e.g. apsw, yaml) on corrupt files
        raise BagError(f"cannot open bag {path} (corrupt or truncated?): {type(err).__name__}: {err}") from None
    return reader


def topic_types(reader) -> Dict[str, str]:
    """topic -> message type of every connection in the bag."""
    return {c.topic: c.msgtype for c in reader.connections}


@dataclass(frozen=True)
class Topics:
    """The topics one run reads: ``image`` (raw or compressed, ``compressed`` tells which),
    ``camera_info`` and ``depth`` (None: not used)."""

    image: str
    compressed: bool
    camera_info: Optional[str]
    depth: Optional[str]


NONE_TOPIC = "none"  # --camera-info-topic none / --depth-topic none: do not use one


def _listing(topics: Dict[str, str], names: Sequence[str]) -> str:
    return ", ".join(f"{name} ({topics[name]})" for name in sorted(names)) or "none"


def _choose(kind: str, given: Optional[str], candidates: List[str], topics: Dict[str, str], wanted_types,
            option: str, required: bool) -> Optional[str]:
    if given == NONE_TOPIC:
        return None
    if given:
        if given not in topics:
            raise BagError(f"the bag has no topic {given}; {kind} topics in it: {_listing(topics, candidates)}")
        if topics[given] not in wanted_types:
            raise BagError(f"{given} is a {topics[given]} topic, not {' or '.join(wanted_types)}")
        return given
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        if required:
            raise BagError(f"the bag has no {kind} topic ({' or '.join(wanted_types)}); topics in it: "
                           f"{_listing(topics, list(topics))}")
        return None
    raise BagError(f"{len(candidates)} {kind} topics in the bag: {_listing(topics, candidates)}; choose one with "
                   f"{option}" + ("" if required else f" (or {option} {NONE_TOPIC})"))


def select_topics(topics: Dict[str, str], image: Optional[str] = None, camera_info: Optional[str] = None,
                  depth: Optional[str] = None) -> Topics:
    """The topics to read, from ``topics`` (name -> type; see :func:`topic_types`).

    Given names are checked; missing ones are found by type: colour images are
    ``Image``/``CompressedImage`` topics without "depth" in their name (a raw topic
    wins over its own ``/compressed`` twin), depth images ``Image`` topics with "depth"
    in their name, camera_info the ``CameraInfo`` topic (the one next to the image topic
    when there are several). :data:`NONE_TOPIC` turns camera_info or depth off.
    Raises :class:`BagError` naming the candidates when none or several fit.
    """
    image_types = (IMAGE_TYPE, COMPRESSED_TYPE)
    colour = [t for t, m in topics.items() if m in image_types and DEPTH_NAME_HINT not in t.lower()]
    raw_twins = [t for t in colour if topics[t] == COMPRESSED_TYPE and t.endswith("/compressed")
                 and t[: -len("/compressed")] in colour]
    colour = [t for t in colour if t not in raw_twins]
    image_topic = _choose("image", image, colour, topics, image_types, "--image-topic", required=True)
    infos = [t for t, m in topics.items() if m == CAMERA_INFO_TYPE]
    if camera_info is None and len(infos) > 1:
        namespace = image_topic.rsplit("/compressed", 1)[0].rsplit("/", 1)[0]
        near = [t for t in infos if t.rsplit("/", 1)[0] == namespace]
        infos = near if len(near) == 1 else infos
    info_topic = _choose("camera_info", camera_info, infos, topics, (CAMERA_INFO_TYPE,), "--camera-info-topic",
                         required=False)
    depths = [t for t, m in topics.items() if m == IMAGE_TYPE and DEPTH_NAME_HINT in t.lower() and t != image_topic]
    depth_topic = _choose("depth", depth, depths, topics, (IMAGE_TYPE,), "--depth-topic", required=False)
    if depth_topic is not None and depth_topic == image_topic:
        raise BagError(f"{depth_topic} cannot be both the image and the depth topic")
    return Topics(image=image_topic, compressed=topics[image_topic] == COMPRESSED_TYPE, camera_info=info_topic,
                  depth=depth_topic)


def stamp_ns(header) -> int:
    """A message header's stamp as integer nanoseconds."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


@dataclass
class FramePlan:
    """Which image to process when, and with which depth image.

    Attributes:
        order: indices of the images (in the bag's read order) sorted by header stamp
            (ties: read order).
        depth_of: image index -> depth index (read order among depth messages) whose stamp
            is nearest and within the allowed offset; images without one are absent.
    """

    order: List[int]
    depth_of: Dict[int, int] = field(default_factory=dict)


def frame_order(image_stamps_ns: Sequence[int], depth_stamps_ns: Sequence[int] = (),
                depth_max_offset_ns: int = 50_000_000) -> FramePlan:
    """Process images in stamp order; match each to the nearest depth stamp within
    ``depth_max_offset_ns`` (ties: the earlier depth message). Deterministic."""
    order = sorted(range(len(image_stamps_ns)), key=lambda i: (int(image_stamps_ns[i]), i))
    depth_of = {}
    if len(depth_stamps_ns):
        by_stamp = sorted(range(len(depth_stamps_ns)), key=lambda d: (int(depth_stamps_ns[d]), d))
        sorted_stamps = [int(depth_stamps_ns[d]) for d in by_stamp]
        for i, stamp in enumerate(image_stamps_ns):
            best = nearest_index(sorted_stamps, int(stamp))
            if abs(sorted_stamps[best] - int(stamp)) <= depth_max_offset_ns:
                depth_of[i] = by_stamp[best]
    return FramePlan(order=order, depth_of=depth_of)


def nearest_index(sorted_stamps_ns: Sequence[int], stamp: int) -> Optional[int]:
    """Index of the stamp in the sorted ``sorted_stamps_ns`` nearest to ``stamp`` (ties:
    the earlier); None when empty."""
    if not len(sorted_stamps_ns):
        return None
    at = bisect.bisect_left(sorted_stamps_ns, stamp)
    near = [j for j in (at - 1, at) if 0 <= j < len(sorted_stamps_ns)]
    return min(near, key=lambda j: (abs(sorted_stamps_ns[j] - stamp), j))


def read_messages(path) -> Dict[str, list]:
    """topic -> [(log time ns, message)] of a whole bag, decoded with the type definitions
    stored in the bag only (as any reader without our packages would), e.g. to read a pose
    bag back in Python. Loads everything: for small bags."""
    from rosbags.highlevel import AnyReader

    out: Dict[str, list] = {}
    with AnyReader([Path(path)]) as reader:  # no default typestore: the bag must carry its definitions
        for connection, log_ns, raw in reader.messages():
            out.setdefault(connection.topic, []).append((log_ns, reader.deserialize(raw, connection.msgtype)))
    return out


# ------------------------------------------------------------------ writing
def message_definition_dirs(package: str) -> List[Path]:
    """Where the ``.msg`` files of ``package`` may be: next to this source tree (a
    checkout), under each ``$AMENT_PREFIX_PATH`` entry, and under this Python's prefix."""
    import hand3d_ros

    here = Path(hand3d_ros.__file__).resolve().parents[2] / package / "msg"
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]
    return [here] + [Path(p) / "share" / package / "msg" for p in prefixes]


def own_message_types(packages: Sequence[str] = OWN_MESSAGE_PACKAGES) -> dict:
    """``rosbags`` type definitions of our message packages, parsed from their ``.msg`` files."""
    from rosbags.typesys import get_types_from_msg

    types = {}
    for package in packages:
        folder = next((d for d in message_definition_dirs(package) if any(d.glob("*.msg"))), None)
        if folder is None:
            raise BagError(f"cannot find the {package} message definitions (.msg files) in "
                           f"{', '.join(str(d) for d in message_definition_dirs(package))}")
        for path in sorted(folder.glob("*.msg")):
            types.update(get_types_from_msg(path.read_text(), f"{package}/msg/{path.stem}"))
    return types


def output_typestore():
    """ROS 2 Humble's message types plus ours (``hand3d_msgs``)."""
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    store.register(own_message_types())
    return store


_DTYPES = {"bool": np.bool_, "byte": np.uint8, "char": np.uint8, "int8": np.int8, "uint8": np.uint8,
           "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32, "int64": np.int64,
           "uint64": np.uint64, "float32": np.float32, "float64": np.float64}


def _default(store, desc):
    """The default value of one field description of the rosbags type system."""
    from rosbags.typesys.base import Nodetype

    kind, spec = desc
    if kind == Nodetype.NAME:
        return make_message(store, spec, {})
    if kind == Nodetype.BASE:
        name = spec[0]
        return "" if name == "string" else False if name == "bool" else 0.0 if name.startswith("float") else 0
    (inner_kind, inner), length = spec
    if inner_kind == Nodetype.BASE and inner[0] in _DTYPES:
        return np.zeros(length if kind == Nodetype.ARRAY else 0, dtype=_DTYPES[inner[0]])
    return [_default(store, (inner_kind, inner)) for _ in range(length if kind == Nodetype.ARRAY else 0)]


def _coerce(store, desc, value):
    from rosbags.typesys.base import Nodetype

    kind, spec = desc
    if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        (inner_kind, inner), _ = spec
        if inner_kind == Nodetype.BASE and inner[0] in _DTYPES:
            return np.asarray(value, dtype=_DTYPES[inner[0]])
    return value


def make_message(store, type_name: str, fields: dict):
    """A ``rosbags`` message of ``type_name`` from ``fields``; fields not given take
    their defaults (zeros, empty), numeric arrays become numpy arrays of their type."""
    _, fielddefs = store.fielddefs[type_name]
    known = {name for name, _ in fielddefs}
    unknown = set(fields) - known
    if unknown:
        raise KeyError(f"{type_name} has no field(s) {', '.join(sorted(unknown))}")
    values = {name: _coerce(store, desc, fields[name]) if name in fields else _default(store, desc)
              for name, desc in fielddefs}
    return store.types[type_name](**values)


class PoseBagWriter:
    """A new MCAP rosbag2 folder with poses (and TF, markers) for the images of a bag.

    Use as a context manager; leaving it (also by Ctrl-C or an error) closes the bag
    properly, so that everything written so far stays readable.
    """

    def __init__(self, path, topics: Dict[str, str], store=None):
        """``topics``: output topic -> message type (e.g. ``{"/hand_poses":
        messages.HAND_POSE_ARRAY_TYPE}``)."""
        from rosbags.rosbag2 import StoragePlugin, Writer, WriterError

        self.path = Path(path)
        self.store = store if store is not None else output_typestore()
        try:
            self._writer = Writer(self.path, version=Writer.VERSION_LATEST, storage_plugin=StoragePlugin.MCAP)
        except WriterError as err:
            raise BagError(str(err)) from None
        self._topics = dict(topics)
        self._connections = {}
        self.counts = {topic: 0 for topic in topics}

    def __enter__(self):
        self._writer.open()
        for topic, msgtype in self._topics.items():
            self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=self.store)
        return self

    def build(self, tree):
        """A :class:`hand3d_ros.messages.Msg` tree as a ``rosbags`` message."""
        from hand3d_ros.messages import build

        return build(tree, lambda type_name, fields: make_message(self.store, type_name, fields))

    def write(self, topic: str, tree, stamp: int) -> None:
        """Write one message (a :class:`~hand3d_ros.messages.Msg` tree) with log time ``stamp`` (ns)."""
        connection = self._connections[topic]
        data = self.store.serialize_cdr(self.build(tree), connection.msgtype)
        self._writer.write(connection, int(stamp), data)
        self.counts[topic] += 1

    def __exit__(self, *exc):
        self._writer.close()
        return False
