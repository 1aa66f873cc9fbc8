"""Camera models: the ROS calibration YAML, FOV guesses, rescaling, errors."""
import math

import numpy as np
import pytest

from hand3d_ros.core.camera_model import (
    CalibrationError,
    CameraModel,
    calibration_path,
    calibration_to_yaml,
    load_calibration,
    parse_calibration_yaml,
    save_calibration,
)

# As written by `ros2 run camera_calibration cameracalibrator` (ost.yaml).
OST_YAML = """\
image_width: 640
image_height: 480
camera_name: narrow_stereo
camera_matrix:
  rows: 3
  cols: 3
  data: [614.1699, 0, 329.9491, 0, 614.9002, 237.2788, 0, 0, 1]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [0.1115, -0.1089, 0.0012, 0.0021, 0]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]
projection_matrix:
  rows: 3
  cols: 4
  data: [624.7, 0, 331.2, 0, 0, 627.1, 236.9, 0, 0, 0, 1, 0]
"""


def test_parse_real_format():
    cam = parse_calibration_yaml(OST_YAML)
    assert (cam.width, cam.height, cam.camera_name, cam.distortion_model) == (640, 480, "narrow_stereo", "plumb_bob")
    np.testing.assert_array_equal(cam.K, [[614.1699, 0, 329.9491], [0, 614.9002, 237.2788], [0, 0, 1]])
    np.testing.assert_array_equal(cam.D, [0.1115, -0.1089, 0.0012, 0.0021, 0])
    np.testing.assert_array_equal(cam.R, np.eye(3))
    assert cam.P.shape == (3, 4) and cam.P[0, 0] == 624.7 and cam.P[1, 2] == 236.9
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (614.1699, 614.9002, 329.9491, 237.2788)
    assert not cam.K.flags.writeable


def test_write_and_read_back_exactly(tmp_path):
    cam = parse_calibration_yaml(OST_YAML)
    text = calibration_to_yaml(cam)
    assert parse_calibration_yaml(text) == cam
    # Odd values survive too (repr round-trips doubles exactly).
    odd = CameraModel.from_K([[1 / 3, 0.1, 2 / 7], [0, 5 / 9, 1e-17], [0, 0, 1]], 7, 5, camera_name="my cam: 1")
    assert "1.0e-17" in calibration_to_yaml(odd)  # YAML 1.1 would read 1e-17 as a string
    save_calibration(odd, tmp_path / "odd.yaml")
    back = load_calibration(tmp_path / "odd.yaml")
    assert back == odd and back.camera_name == "my cam: 1"
    assert back.distortion_model == "plumb_bob" and back.D.shape == (5,) and not back.D.any()
    np.testing.assert_array_equal(back.P[:, :3], back.K)


def test_file_url_and_plain_path(tmp_path):
    path = tmp_path / "dir with space" / "cam.yaml"
    path.parent.mkdir()
    path.write_text(OST_YAML)
    by_url = load_calibration("file://" + str(path).replace(" ", "%20"))
    assert by_url == load_calibration(str(path)) == parse_calibration_yaml(OST_YAML)
    assert calibration_path("file:///a/b.yaml") == "/a/b.yaml"
    with pytest.raises(CalibrationError, match="package://"):
        calibration_path("package://my_pkg/cam.yaml")


def test_from_fov():
    cam = CameraModel.from_fov(640, 480, 90.0)
    assert cam.fx == pytest.approx(320.0) and cam.fy == cam.fx
    assert (cam.cx, cam.cy) == (319.5, 239.5)
    assert cam.hfov_deg == pytest.approx(90.0)
    assert CameraModel.from_fov(100, 50, 60.0).fx == pytest.approx(50.0 / math.tan(math.radians(30.0)))
    for bad in (0.0, 180.0, -5.0):
        with pytest.raises(CalibrationError, match="hfov_deg"):
            CameraModel.from_fov(640, 480, bad)


def test_scaled_maps_pixel_centres_like_resize():
    cam = parse_calibration_yaml(OST_YAML)
    half = cam.scaled(320, 240)
    assert half.fx == pytest.approx(cam.fx / 2) and half.fy == pytest.approx(cam.fy / 2)
    # A 3D point projects to (u, v) in the full image and to s (u + 0.5) - 0.5 in the half one.
    xyz = np.array([0.1, -0.05, 0.8])
    u = cam.K @ xyz
    u = u[:2] / u[2]
    u_half = half.K @ xyz
    np.testing.assert_allclose(u_half[:2] / u_half[2], 0.5 * (u + 0.5) - 0.5, atol=1e-9)
    p = half.P @ np.append(xyz, 1.0)
    q = cam.P @ np.append(xyz, 1.0)
    np.testing.assert_allclose(p[:2] / p[2], 0.5 * (q[:2] / q[2] + 0.5) - 0.5, atol=1e-9)
    np.testing.assert_array_equal(half.D, cam.D)
    assert half.scaled(640, 480).allclose(cam, atol=1e-9)
    # Anisotropic scaling.
    wide = cam.scaled(1280, 480)
    assert wide.fx == pytest.approx(2 * cam.fx) and wide.fy == pytest.approx(cam.fy)


def test_camera_info_fields():
    fields = parse_calibration_yaml(OST_YAML).camera_info_fields()
    assert fields["width"] == 640 and fields["height"] == 480 and fields["distortion_model"] == "plumb_bob"
    assert len(fields["k"]) == 9 and len(fields["r"]) == 9 and len(fields["p"]) == 12 and len(fields["d"]) == 5
    assert fields["k"][2] == 329.9491 and all(isinstance(v, float) for v in fields["p"])

    class Info:  # the same field names as sensor_msgs/CameraInfo
        pass

    info = Info()
    for key, value in fields.items():
        setattr(info, key, value)
    assert CameraModel.from_camera_info(info, camera_name="narrow_stereo") == parse_calibration_yaml(OST_YAML)


def test_exponents_without_a_dot_are_numbers():
    # C++ YAML emitters write 1e-05; PyYAML alone would read it as a string.
    cam = parse_calibration_yaml(OST_YAML.replace("0.0012", "1e-05"))
    assert cam.D[2] == 1e-05


def test_optional_entries_default():
    minimal = "image_width: 4\nimage_height: 3\ncamera_matrix: {rows: 3, cols: 3, data: [2, 0, 1.5, 0, 2, 1, 0, 0, 1]}\n"
    cam = parse_calibration_yaml(minimal)
    assert cam.camera_name == "camera" and cam.distortion_model == "plumb_bob"
    np.testing.assert_array_equal(cam.D, np.zeros(5))
    np.testing.assert_array_equal(cam.R, np.eye(3))
    np.testing.assert_array_equal(cam.P, [[2, 0, 1.5, 0], [0, 2, 1, 0], [0, 0, 1, 0]])
    empty_d = minimal + "distortion_coefficients: {rows: 1, cols: 0, data: []}\n"
    assert parse_calibration_yaml(empty_d).D.shape == (0,)
    fisheye = minimal + "distortion_model: equidistant\ndistortion_coefficients: {rows: 1, cols: 4, data: [0.1, 0, 0, 0]}\n"
    assert parse_calibration_yaml(fisheye).D.shape == (4,)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("image_width: [\n", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping"),
        (OST_YAML.replace("image_height: 480\n", ""), "missing image_height"),
        (OST_YAML.replace("image_width: 640", "image_width: -640"), "image_width must be a positive integer"),
        (OST_YAML.replace("image_width: 640", "image_width: 64.5"), "image_width must be a positive integer"),
        (OST_YAML.replace("data: [614.1699, 0, 329.9491, 0, 614.9002, 237.2788, 0, 0, 1]",
                          "data: [614.1699, 0, 329.9491, 0, 614.9002, 237.2788, 0, 0]"),
         "camera_matrix has rows=3 cols=3 but 8 values"),
        (OST_YAML.replace("614.9002", "'abc'"), "camera_matrix.data must be a list of numbers"),
        (OST_YAML.replace("614.1699", "-614.1699"), "positive focal lengths"),
        (OST_YAML.replace("614.1699", ".nan"), "camera_matrix has non-finite values"),
        (OST_YAML.replace("  cols: 4\n", "  cols: 3\n").replace("0, 627.1, 236.9, 0, 0, 0, 1, 0]", "627.1, 236.9, 0, 0, 1]"),
         "projection_matrix must be 3x4, got 3x3"),
        (OST_YAML.replace("cols: 5\n  data: [0.1115, -0.1089, 0.0012, 0.0021, 0]", "cols: 3\n  data: [0.1, 0, 0]"),
         "plumb_bob needs 5 distortion coefficients, got 3"),
        (OST_YAML.replace("camera_matrix:\n  rows: 3\n  cols: 3\n  data:", "camera_matrix:\n  data:"),
         "camera_matrix needs positive integer rows and cols"),
        ("%YAML:1.0\n---\nimage_width: 640\n", "OpenCV FileStorage"),
    ],
)
def test_malformed_files_give_one_line_errors(text, reason, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CalibrationError) as info:
        load_calibration(path)
    message = str(info.value)
    assert reason in message and str(path) in message and "\n" not in message
    assert isinstance(info.value, ValueError)


def test_missing_file():
    with pytest.raises(CalibrationError, match="calibration file not found: /no/such/cam.yaml"):
        load_calibration("file:///no/such/cam.yaml")
