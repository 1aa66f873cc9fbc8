"""Pinhole camera models: ROS calibration YAML in and out, field-of-view guesses, rescaling.

The YAML is the format written by ``camera_calibration`` and read by
``camera_info_manager`` (``image_width``, ``image_height``, ``camera_name``,
``camera_matrix``, ``distortion_model``, ``distortion_coefficients``,
``rectification_matrix``, ``projection_matrix``; each matrix as ``{rows, cols, data}``).

Pixel convention (as OpenCV and ``sensor_msgs/CameraInfo``): ``(0, 0)`` is the centre of
the top-left pixel, so the image spans ``[-0.5, width - 0.5]`` horizontally.

Pure Python + numpy (+ PyYAML); no ROS imports. :meth:`CameraModel.camera_info_fields`
gives the fields of a ``sensor_msgs/CameraInfo`` as a plain dict.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Optional, Union
from urllib.parse import unquote, urlparse

import numpy as np

#: Distortion models of sensor_msgs/CameraInfo and their usual coefficient counts
#: (plumb_bob: k1 k2 p1 p2 k3; rational_polynomial: + k4 k5 k6; equidistant: k1..k4).
DISTORTION_COEFFICIENT_COUNTS = {"plumb_bob": (5,), "rational_polynomial": (8, 12, 14), "equidistant": (4,)}
DEFAULT_DISTORTION_MODEL = "plumb_bob"
#: Valid horizontal fields of view for :meth:`CameraModel.from_fov`, degrees (open interval).
HFOV_RANGE_DEG = (0.0, 180.0)


class CalibrationError(ValueError):
    """A calibration file or URL cannot be used; ``str(err)`` is the one-line reason."""


@dataclass(frozen=True, eq=False)
class CameraModel:
    """A calibrated pinhole camera, as ``sensor_msgs/CameraInfo`` holds it.

    Frame-independent: the optical frame's name belongs to the publisher, not here.
    """

    width: int
    """Image width, pixels (> 0)."""
    height: int
    """Image height, pixels (> 0)."""
    K: np.ndarray
    """(3, 3) float64 intrinsics of the raw image, pixels: [[fx, s, cx], [0, fy, cy], [0, 0, 1]]."""
    D: np.ndarray = field(default_factory=lambda: np.zeros(5))
    """(n,) float64 distortion coefficients of ``distortion_model`` (unitless); n = 0: none."""
    R: np.ndarray = field(default_factory=lambda: np.eye(3))
    """(3, 3) float64 rectification rotation (identity for a monocular camera)."""
    P: Optional[np.ndarray] = None
    """(3, 4) float64 projection of the rectified image, pixels; None: ``[K | 0]``."""
    distortion_model: str = DEFAULT_DISTORTION_MODEL
    camera_name: str = "camera"

    def __post_init__(self):
        set_ = object.__setattr__  # frozen dataclass: normalise the arrays once
        set_(self, "K", _matrix(self.K, (3, 3), "K"))
        set_(self, "D", np.asarray(self.D, dtype=np.float64).reshape(-1).copy())
        set_(self, "R", _matrix(self.R, (3, 3), "R"))
        P = np.hstack([self.K, np.zeros((3, 1))]) if self.P is None else self.P
        set_(self, "P", _matrix(P, (3, 4), "P"))
        for arr in (self.K, self.D, self.R, self.P):
            arr.setflags(write=False)
        if int(self.width) != self.width or int(self.height) != self.height or self.width <= 0 or self.height <= 0:
            raise CalibrationError(f"image size must be positive integers, got {self.width}x{self.height}")
        set_(self, "width", int(self.width))
        set_(self, "height", int(self.height))
        if not np.all(np.isfinite(self.K)) or self.K[0, 0] <= 0 or self.K[1, 1] <= 0:
            raise CalibrationError(f"camera matrix needs finite, positive focal lengths, got fx={self.K[0, 0]}, fy={self.K[1, 1]}")
        if not self.distortion_model:
            raise CalibrationError("distortion_model is empty")

    # ------------------------------------------------------------ constructors
    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float, camera_name: str = "camera") -> "CameraModel":
        """A distortion-free guess: square pixels, principal point at the image centre.

        ``fx = fy = (width / 2) / tan(hfov / 2)`` and ``(cx, cy) = ((width - 1) / 2,
        (height - 1) / 2)`` (the centre in the pixel-centre convention). ``hfov_deg`` is
        the horizontal field of view, degrees, in the open interval (0, 180).
        """
        lo, hi = HFOV_RANGE_DEG
        if not lo < hfov_deg < hi:
            raise CalibrationError(f"hfov_deg must be in ({lo}, {hi}), got {hfov_deg}")
        f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        K = [[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]]
        return cls(width=width, height=height, K=np.array(K), camera_name=camera_name)

    @classmethod
    def from_K(cls, K, width: int, height: int, camera_name: str = "camera") -> "CameraModel":
        """A distortion-free camera from its (3, 3) intrinsics ``K`` (pixels): R = I, P = [K | 0]."""
        return cls(width=width, height=height, K=np.asarray(K, dtype=np.float64), camera_name=camera_name)

    @classmethod
    def from_camera_info(cls, msg, camera_name: str = "camera") -> "CameraModel":
        """From a ``sensor_msgs/CameraInfo`` (read by field names only: width, height, k, d, r, p, distortion_model)."""
        return cls(
            width=int(msg.width), height=int(msg.height), K=np.asarray(msg.k, dtype=np.float64).reshape(3, 3),
            D=np.asarray(msg.d, dtype=np.float64), R=np.asarray(msg.r, dtype=np.float64).reshape(3, 3),
            P=np.asarray(msg.p, dtype=np.float64).reshape(3, 4),
            distortion_model=str(msg.distortion_model) or DEFAULT_DISTORTION_MODEL, camera_name=camera_name,
        )

    # ------------------------------------------------------------ properties
    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        return float(self.K[1, 2])

    @property
    def hfov_deg(self) -> float:
        """Horizontal field of view, degrees, for a principal point at the centre."""
        return math.degrees(2.0 * math.atan((self.width / 2.0) / self.fx))

    # ------------------------------------------------------------ operations
    def scaled(self, width: int, height: int) -> "CameraModel":
        """The same camera for the image resized to ``width`` x ``height`` pixels.

        Pixel centres map as ``u' = sx (u + 0.5) - 0.5`` (what ``cv2.resize`` does), so
        focal lengths scale by ``sx = width / self.width`` (``sy`` likewise) and the
        principal point by ``c' = s (c + 0.5) - 0.5``; K and P rows are scaled alike,
        D and R are unchanged (they act on normalised coordinates).
        """
        if width <= 0 or height <= 0:
            raise CalibrationError(f"cannot scale to {width}x{height}")
        sx, sy = width / self.width, height / self.height
        A = np.array([[sx, 0.0, 0.5 * (sx - 1.0)], [0.0, sy, 0.5 * (sy - 1.0)], [0.0, 0.0, 1.0]])
        return CameraModel(width=width, height=height, K=A @ self.K, D=self.D, R=self.R, P=A @ self.P,
                           distortion_model=self.distortion_model, camera_name=self.camera_name)

    def camera_info_fields(self) -> dict:
        """The fields of a ``sensor_msgs/CameraInfo`` (no header): width, height,
        distortion_model, d, k, r, p as plain Python numbers/lists (row-major)."""
        return {
            "width": self.width,
            "height": self.height,
            "distortion_model": self.distortion_model,
            "d": [float(v) for v in self.D],
            "k": [float(v) for v in self.K.reshape(-1)],
            "r": [float(v) for v in self.R.reshape(-1)],
            "p": [float(v) for v in self.P.reshape(-1)],
        }

    def allclose(self, other: "CameraModel", atol: float = 1e-9) -> bool:
        """Same size, model and name, and matrices equal to within ``atol``."""
        return (
            (self.width, self.height, self.distortion_model, self.camera_name)
            == (other.width, other.height, other.distortion_model, other.camera_name)
            and self.D.shape == other.D.shape
            and all(np.allclose(a, b, rtol=0.0, atol=atol) for a, b in
                    ((self.K, other.K), (self.D, other.D), (self.R, other.R), (self.P, other.P)))
        )

    def __eq__(self, other) -> bool:
        return isinstance(other, CameraModel) and self.allclose(other, atol=0.0)

    __hash__ = None


def _matrix(value, shape, name) -> np.ndarray:
    arr = np.array(value, dtype=np.float64)
    if arr.size != shape[0] * shape[1]:
        raise CalibrationError(f"{name} must have {shape[0]}x{shape[1]} values, got {arr.size}")
    return arr.reshape(shape)


# ---------------------------------------------------------------- YAML
def parse_calibration_yaml(text: str, source: str = "calibration") -> CameraModel:
    """A :class:`CameraModel` from the text of a ROS camera calibration YAML.

    Required: ``image_width``, ``image_height``, ``camera_matrix``. Optional (with
    defaults): ``camera_name`` ("camera"), ``distortion_model`` ("plumb_bob"),
    ``distortion_coefficients`` (zeros), ``rectification_matrix`` (identity),
    ``projection_matrix`` ([K | 0]). ``source`` names the file in error messages.
    Raises :class:`CalibrationError` (a ValueError) with one line for malformed input.
    """
    import yaml

    if text.lstrip().startswith("%YAML:1.0"):
        raise CalibrationError(f"{source}: OpenCV FileStorage YAML is not supported; use the ROS calibration format")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise CalibrationError(f"{source}: not valid YAML{line}") from None
    if not isinstance(doc, dict):
        raise CalibrationError(f"{source}: expected a mapping with image_width, image_height, camera_matrix, ...")
    missing = [k for k in ("image_width", "image_height", "camera_matrix") if k not in doc]
    if missing:
        raise CalibrationError(f"{source}: missing {', '.join(missing)}")
    width, height = doc["image_width"], doc["image_height"]
    for key, value in (("image_width", width), ("image_height", height)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise CalibrationError(f"{source}: {key} must be a positive integer, got {value!r}")

    K = _yaml_matrix(doc, "camera_matrix", (3, 3), source)
    model = str(doc.get("distortion_model") or DEFAULT_DISTORTION_MODEL)
    D = _yaml_matrix(doc, "distortion_coefficients", None, source) if doc.get("distortion_coefficients") is not None else None
    if D is None:
        D = np.zeros(DISTORTION_COEFFICIENT_COUNTS.get(model, (5,))[0])
    expected = DISTORTION_COEFFICIENT_COUNTS.get(model)
    if expected is not None and D.size not in expected and D.size != 0:
        raise CalibrationError(
            f"{source}: {model} needs {' or '.join(map(str, expected))} distortion coefficients, got {D.size}"
        )
    R = _yaml_matrix(doc, "rectification_matrix", (3, 3), source) if doc.get("rectification_matrix") is not None else np.eye(3)
    P = _yaml_matrix(doc, "projection_matrix", (3, 4), source) if doc.get("projection_matrix") is not None else None
    try:
        return CameraModel(width=width, height=height, K=K, D=D.reshape(-1), R=R, P=P, distortion_model=model,
                           camera_name=str(doc.get("camera_name") or "camera"))
    except CalibrationError as err:
        raise CalibrationError(f"{source}: {err}") from None


def _yaml_matrix(doc: dict, key: str, shape, source: str) -> np.ndarray:
    entry = doc[key]
    if not isinstance(entry, dict) or "data" not in entry:
        raise CalibrationError(f"{source}: {key} must be a mapping with rows, cols and data")
    data = entry["data"]
    if not isinstance(data, list):
        raise CalibrationError(f"{source}: {key}.data must be a list of numbers")
    # YAML 1.1 reads exponents without a dot (1e-05, as C++ emitters write them) as strings.
    data = [_number(v) for v in data]
    if any(v is None for v in data):
        raise CalibrationError(f"{source}: {key}.data must be a list of numbers")
    rows, cols = entry.get("rows"), entry.get("cols")
    smallest = 1 if shape is not None else 0  # an empty distortion vector means none
    if not isinstance(rows, int) or not isinstance(cols, int) or isinstance(rows, bool) or isinstance(cols, bool) \
            or rows < smallest or cols < smallest:
        raise CalibrationError(f"{source}: {key} needs positive integer rows and cols, got rows={rows!r} cols={cols!r}")
    if rows * cols != len(data):
        raise CalibrationError(f"{source}: {key} has rows={rows} cols={cols} but {len(data)} values")
    if shape is not None and (rows, cols) != shape:
        raise CalibrationError(f"{source}: {key} must be {shape[0]}x{shape[1]}, got {rows}x{cols}")
    arr = np.array(data, dtype=np.float64).reshape(rows, cols)
    if not np.all(np.isfinite(arr)):
        raise CalibrationError(f"{source}: {key} has non-finite values")
    return arr


def _number(value) -> Optional[float]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _yaml_float(value: float) -> str:
    """``value`` as a YAML 1.1 float that reads back bit-exact (``1e-17`` -> ``1.0e-17``)."""
    if not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    text = repr(float(value))
    if "e" in text:
        mantissa, exponent = text.split("e")
        mantissa = mantissa if "." in mantissa else mantissa + ".0"
        exponent = exponent if exponent[0] in "+-" else "+" + exponent
        text = f"{mantissa}e{exponent}"
    return text


def calibration_to_yaml(model: CameraModel) -> str:
    """The ROS calibration YAML text of ``model`` (floats written exactly: they read back equal)."""

    def matrix(name, arr):
        rows, cols = (1, arr.size) if arr.ndim == 1 else arr.shape
        values = ", ".join(_yaml_float(v) for v in arr.reshape(-1))
        return f"{name}:\n  rows: {rows}\n  cols: {cols}\n  data: [{values}]\n"

    return (
        f"image_width: {model.width}\nimage_height: {model.height}\ncamera_name: {_yaml_scalar(model.camera_name)}\n"
        + matrix("camera_matrix", model.K)
        + f"distortion_model: {_yaml_scalar(model.distortion_model)}\n"
        + matrix("distortion_coefficients", model.D)
        + matrix("rectification_matrix", model.R)
        + matrix("projection_matrix", model.P)
    )


def _yaml_scalar(text: str) -> str:
    import yaml

    return yaml.safe_dump(text, default_style=None).splitlines()[0] if text else "''"


def calibration_path(url: str) -> str:
    """The file path of a calibration URL: ``file:///abs/path.yaml`` or a plain path
    (``~`` expanded). Other schemes (``package://``, ``http://``) raise CalibrationError."""
    if "://" not in url:
        return os.path.expanduser(url)
    parsed = urlparse(url)
    if parsed.scheme != "file":
        raise CalibrationError(f"unsupported camera_info_url scheme '{parsed.scheme}://' (use file:// or a path)")
    if parsed.netloc not in ("", "localhost"):
        raise CalibrationError(f"camera_info_url names a host ('{parsed.netloc}'): use file:///absolute/path")
    return os.path.expanduser(unquote(parsed.path))


def load_calibration(url_or_path: Union[str, os.PathLike]) -> CameraModel:
    """Read a ROS calibration YAML from a path or ``file://`` URL; CalibrationError if unusable."""
    path = calibration_path(os.fspath(url_or_path))
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise CalibrationError(f"calibration file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CalibrationError(f"cannot read calibration file {path}: {err}") from None
    return parse_calibration_yaml(text, source=path)


def save_calibration(model: CameraModel, path: Union[str, os.PathLike]) -> None:
    """Write ``model`` as a ROS calibration YAML to ``path`` (a plain path or file:// URL)."""
    with open(calibration_path(os.fspath(path)), "w", encoding="utf-8") as f:
        f.write(calibration_to_yaml(model))
