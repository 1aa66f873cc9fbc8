"""Frame sources: videos, cameras, image folders and in-memory (rendered) sequences.

Every source is an iterable of :class:`Frame` ``(rgb, stamp_s, extras)``:

- ``rgb``: (H, W, 3) uint8, RGB order;
- ``stamp_s``: seconds since the first frame of the stream (monotonic, also across loops);
- ``extras``: dict with what the source knows besides the image, e.g. ``"index"`` (frame
  index within the source), ``"K"`` ((3, 3) float64 pixels), ``"depth"`` ((H, W) float32
  metres, NaN = no data), ``"ground_truth"`` (dict of per-frame arrays).

``loop=True`` restarts at the end (stamps keep increasing); iteration ends otherwise.
``fps=None`` (or 0) keeps the source's own rate. OpenCV is imported lazily, only by the
sources that need it. :func:`open_source` picks the source from a string (a path, a
folder, an NPZ file or a camera index), as the replay camera node does.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator, NamedTuple, Optional, Union

import numpy as np

#: Rate used when a video or camera reports none (0 or NaN), frames per second.
DEFAULT_FPS = 30.0
#: Image file suffixes read by :class:`ImageFolderSource` (case-insensitive).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: Keys of the NPZ sequences written by the renderer that are not per-frame ground truth.
NPZ_NON_GROUND_TRUTH_KEYS = ("image", "K", "depth", "stamps", "timestamps", "fps")


class SourceError(ValueError):
    """A frame source cannot be opened or read; ``str(err)`` is the one-line reason."""


class Frame(NamedTuple):
    rgb: np.ndarray
    """(H, W, 3) uint8 RGB image."""
    stamp_s: float
    """Seconds since the first frame of the stream."""
    extras: dict
    """What else the source knows about this frame (index, K, depth, ground_truth)."""


def _check_fps(fps: Optional[float]) -> Optional[float]:
    if fps is None or fps == 0:
        return None
    if not np.isfinite(fps) or fps < 0:
        raise SourceError(f"fps must be positive (or 0 for the source's own rate), got {fps}")
    return float(fps)


class FrameSource:
    """Base class: ``fps``, ``frame_count`` (None: unknown/endless), ``size`` (W, H) or
    None before the first frame, ``K`` (3, 3) or None, ``has_depth``, ``description``."""

    fps: float = DEFAULT_FPS
    frame_count: Optional[int] = None
    size: Optional[tuple] = None
    K: Optional[np.ndarray] = None
    has_depth: bool = False
    loop: bool = False
    description: str = "frames"

    def __iter__(self) -> Iterator[Frame]:
        period = 1.0 / self.fps
        emitted = 0
        while True:
            produced = False
            for rgb, extras in self._pass():
                produced = True
                yield Frame(rgb, emitted * period, extras)
                emitted += 1
            if not self.loop or not produced:
                return

    def _pass(self) -> Iterator[tuple]:
        """One pass over the frames: yields (rgb, extras). Sources that keep the base
        class's ``__iter__`` implement it (a live camera overrides ``__iter__`` instead)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _pass() or __iter__()")

    def close(self) -> None:
        """Release devices or files (no-op for in-memory sources)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _CaptureSource(FrameSource):
    """Shared by videos and cameras: reads with ``cv2.VideoCapture``."""

    def _open_capture(self, target):
        import cv2  # lazily: only videos and cameras need OpenCV

        # OpenCV logs a warning per backend it tries; the SourceError says it in one line.
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            capture = cv2.VideoCapture(target)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not capture.isOpened():
            capture.release()
            return None
        return capture

    @staticmethod
    def _to_rgb(bgr: np.ndarray) -> np.ndarray:
        if bgr.ndim == 2:
            return np.repeat(bgr[..., None], 3, axis=2)
        return np.ascontiguousarray(bgr[..., 2::-1] if bgr.shape[2] >= 3 else np.repeat(bgr[..., :1], 3, axis=2))


class VideoSource(_CaptureSource):
    """A video file read with OpenCV (FFmpeg backend): MP4, AVI, MKV, ...

    ``fps`` None/0: the file's frame rate (``DEFAULT_FPS`` if it declares none).
    Raises :class:`SourceError` if the file does not exist or no frame can be decoded.
    """

    def __init__(self, path: Union[str, os.PathLike], fps: Optional[float] = None, loop: bool = False):
        import cv2

        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise SourceError(f"no such video file: {self.path}")
        capture = self._open_capture(self.path)
        if capture is None:
            raise SourceError(f"cannot open video {self.path} (unknown format or codec)")
        try:
            ok, first = capture.read()
            if not ok or first is None:
                raise SourceError(f"video {self.path} has no decodable frame")
            native = capture.get(cv2.CAP_PROP_FPS)
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            capture.release()
        self.native_fps = float(native) if native and np.isfinite(native) and native > 0 else None
        self.fps = _check_fps(fps) or self.native_fps or DEFAULT_FPS
        self.frame_count = count if count > 0 else None  # as the container declares it
        self.size = (int(first.shape[1]), int(first.shape[0]))
        self.loop = bool(loop)
        self.description = f"video {self.path}"
        self._capture = None

    def _pass(self):
        self._capture = self._open_capture(self.path)
        if self._capture is None:
            raise SourceError(f"cannot reopen video {self.path}")
        index = 0
        try:
            while True:
                ok, bgr = self._capture.read()
                if not ok or bgr is None:
                    return
                yield self._to_rgb(bgr), {"index": index}
                index += 1
        finally:
            self.close()

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class CameraSource(_CaptureSource):
    """A live camera by OpenCV index (``/dev/video<index>`` on Linux).

    ``fps``, ``width``, ``height``: requested from the driver (None: its defaults).
    Stamps are seconds on the monotonic clock since the first frame was read (the
    camera sets the pace; ``loop`` does not apply). Raises :class:`SourceError` if the
    camera cannot be opened or delivers no frame.
    """

    def __init__(self, index: int, fps: Optional[float] = None, width: Optional[int] = None,
                 height: Optional[int] = None):
        import cv2

        self.index = int(index)
        capture = self._open_capture(self.index)
        if capture is None:
            raise SourceError(f"cannot open camera {self.index}")
        if width:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, int(width))
        if height:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, int(height))
        requested = _check_fps(fps)
        if requested:
            capture.set(cv2.CAP_PROP_FPS, requested)
        ok, first = capture.read()
        if not ok or first is None:
            capture.release()
            raise SourceError(f"camera {self.index} opened but delivered no frame")
        native = capture.get(cv2.CAP_PROP_FPS)
        self.fps = requested or (float(native) if native and np.isfinite(native) and native > 0 else DEFAULT_FPS)
        self.size = (int(first.shape[1]), int(first.shape[0]))
        self.description = f"camera {self.index}"
        self._capture = capture
        self._first = first

    def __iter__(self):
        start = None
        index = 0
        while self._capture is not None:
            if self._first is not None:
                bgr, self._first = self._first, None
            else:
                ok, bgr = self._capture.read()
                if not ok or bgr is None:
                    return
            now = time.monotonic()
            start = now if start is None else start
            yield Frame(self._to_rgb(bgr), now - start, {"index": index})
            index += 1

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class ImageFolderSource(FrameSource):
    """The PNG/JPEG files of a folder in sorted name order, played at ``fps`` (> 0).

    All images must have the size of the first; a different one raises SourceError
    when it is reached.
    """

    def __init__(self, folder: Union[str, os.PathLike], fps: float = DEFAULT_FPS, loop: bool = False):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise SourceError(f"no such folder: {self.folder}")
        self.files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self.files:
            raise SourceError(f"folder {self.folder} has no {'/'.join(s[1:] for s in IMAGE_SUFFIXES)} images")
        self.fps = _check_fps(fps) or DEFAULT_FPS
        self.frame_count = len(self.files)
        first = self._read(self.files[0])
        self.size = (int(first.shape[1]), int(first.shape[0]))
        self.loop = bool(loop)
        self.description = f"{len(self.files)} images in {self.folder}"

    @staticmethod
    def _read(path: Path) -> np.ndarray:
        import cv2

        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SourceError(f"cannot read image {path}")
        return np.ascontiguousarray(bgr[..., ::-1])

    def _pass(self):
        for index, path in enumerate(self.files):
            rgb = self._read(path)
            if (rgb.shape[1], rgb.shape[0]) != self.size:
                raise SourceError(
                    f"image {path.name} is {rgb.shape[1]}x{rgb.shape[0]}, the folder's first is {self.size[0]}x{self.size[1]}"
                )
            yield rgb, {"index": index, "path": str(path)}


class ArraySource(FrameSource):
    """An in-memory sequence, e.g. rendered frames.

    frames: (T, H, W, 3) uint8 RGB. fps: playback rate (None/0: from ``stamps`` when
    given, else DEFAULT_FPS). depth: (T, H, W) float metres (NaN/<=0 = no data) or None.
    K: (3, 3) or (T, 3, 3) intrinsics, pixels, or None. ground_truth: dict of arrays;
    those with a leading dimension T are sliced per frame, others are passed whole.
    stamps: (T,) seconds, strictly increasing: with ``fps`` None/0 they are the frames'
    stamp offsets (relative to the first; a loop continues after one median period).
    """

    def __init__(self, frames, fps: Optional[float] = None, depth=None, ground_truth: Optional[dict] = None,
                 K=None, stamps=None, loop: bool = False, description: str = "array"):
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
            raise SourceError(f"{description}: frames must be (T, H, W, 3) with T >= 1, got {frames.shape}")
        if frames.dtype != np.uint8:
            raise SourceError(f"{description}: frames must be uint8 RGB, got {frames.dtype}")
        count, height, width = frames.shape[:3]
        self.frames = frames
        self.frame_count = int(count)
        self.size = (int(width), int(height))
        self.loop = bool(loop)
        self.description = description

        self.depth = None
        if depth is not None:
            depth = np.asarray(depth, dtype=np.float32)
            if depth.shape != (count, height, width):
                raise SourceError(f"{description}: depth must be {(count, height, width)}, got {depth.shape}")
            self.depth = depth
        self.has_depth = self.depth is not None

        self._K_per_frame = None
        if K is not None:
            K = np.asarray(K, dtype=np.float64)
            if K.shape == (3, 3):
                self.K = K
            elif K.shape == (count, 3, 3):
                self._K_per_frame, self.K = K, K[0]
            else:
                raise SourceError(f"{description}: K must be (3, 3) or ({count}, 3, 3), got {K.shape}")
            if not np.all(np.isfinite(K)) or np.any(K[..., 0, 0] <= 0) or np.any(K[..., 1, 1] <= 0):
                raise SourceError(f"{description}: K needs finite, positive focal lengths")

        self.stamps = None
        if stamps is not None:
            stamps = np.asarray(stamps, dtype=np.float64).reshape(-1)
            if stamps.shape != (count,) or not np.all(np.isfinite(stamps)):
                raise SourceError(f"{description}: stamps must be {count} finite values, got shape {stamps.shape}")
            if count > 1 and np.any(np.diff(stamps) <= 0):
                raise SourceError(f"{description}: stamps must be strictly increasing")
            self.stamps = stamps - stamps[0]
        requested = _check_fps(fps)
        if requested:
            self.fps, self._use_stamps = requested, False
        elif self.stamps is not None and count > 1:
            self.fps, self._use_stamps = 1.0 / float(np.median(np.diff(self.stamps))), True
        else:
            self.fps, self._use_stamps = DEFAULT_FPS, False

        self.ground_truth = {}
        for key, value in (ground_truth or {}).items():
            self.ground_truth[key] = np.asarray(value)

    @classmethod
    def from_npz(cls, path: Union[str, os.PathLike], fps: Optional[float] = None, loop: bool = False) -> "ArraySource":
        """A sequence saved as NPZ: ``image`` (T, H, W, 3) uint8 and ``K`` required;
        optional ``depth`` (T, H, W) metres, ``stamps`` or ``timestamps`` (T,) seconds,
        ``fps`` (scalar); every other array (``uv``, ``xyz``, ``visible``,
        ``hand_side``, ...) becomes per-frame ground truth."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise SourceError(f"no such NPZ file: {path}")
        try:
            with np.load(path, allow_pickle=False) as npz:
                data = {key: npz[key] for key in npz.files}
        except Exception as err:  # zipfile/pickle/format errors: one line for the user
            raise SourceError(f"cannot read NPZ {path}: {type(err).__name__}: {err}") from None
        missing = [key for key in ("image", "K") if key not in data]
        if missing:
            raise SourceError(f"NPZ {path} lacks {', '.join(missing)} (has: {', '.join(sorted(data)) or 'nothing'})")
        stamps = data.get("stamps", data.get("timestamps"))
        if not fps and "fps" in data and stamps is None:
            fps = float(data["fps"])
        ground_truth = {k: v for k, v in data.items() if k not in NPZ_NON_GROUND_TRUTH_KEYS}
        return cls(data["image"], fps=fps, depth=data.get("depth"), ground_truth=ground_truth, K=data["K"],
                   stamps=stamps, loop=loop, description=f"NPZ {path}")

    def __iter__(self):
        if not self._use_stamps:
            yield from super().__iter__()
            return
        span = float(self.stamps[-1]) + 1.0 / self.fps  # one loop: last stamp + one median period
        repeat = 0
        while True:
            for rgb, extras in self._pass():
                yield Frame(rgb, repeat * span + float(self.stamps[extras["index"]]), extras)
            repeat += 1
            if not self.loop:
                return

    def _pass(self):
        count = self.frame_count
        for index in range(count):
            extras = {"index": index}
            if self.K is not None:
                extras["K"] = self._K_per_frame[index] if self._K_per_frame is not None else self.K
            if self.depth is not None:
                extras["depth"] = self.depth[index]
            if self.ground_truth:
                extras["ground_truth"] = {
                    key: value[index] if value.ndim >= 1 and value.shape[0] == count else value
                    for key, value in self.ground_truth.items()
                }
            yield self.frames[index], extras


def open_source(spec: str, fps: Optional[float] = None, loop: bool = False) -> FrameSource:
    """The frame source named by ``spec``:

    - an integer (``"0"``): :class:`CameraSource` with that index;
    - a folder: :class:`ImageFolderSource` (``fps`` None/0: DEFAULT_FPS);
    - a ``.npz`` file: :class:`ArraySource.from_npz`;
    - any other file: :class:`VideoSource`.

    Raises :class:`SourceError` (one line) when it does not exist or cannot be read.
    """
    spec = str(spec).strip()
    if not spec:
        raise SourceError("no source given (a video, an image folder, an .npz sequence or a camera index)")
    if spec.isdigit():
        return CameraSource(int(spec), fps=fps)
    path = Path(os.path.expanduser(spec))
    if path.is_dir():
        return ImageFolderSource(path, fps=_check_fps(fps) or DEFAULT_FPS, loop=loop)
    if not path.exists():
        raise SourceError(f"no such file or folder: {spec}")
    if path.suffix.lower() == ".npz":
        return ArraySource.from_npz(path, fps=fps, loop=loop)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ArraySource(ImageFolderSource._read(path)[None], fps=fps, loop=loop, description=f"image {path}")
    return VideoSource(path, fps=fps, loop=loop)

