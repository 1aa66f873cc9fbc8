"""The node's parameter table: validation, YAML defaults and README in sync."""
from pathlib import Path

import pytest
import yaml

from hand3d_ros.ros.params import PARAMS, PARAMS_BY_NAME, markdown_table, validate, validate_all

PACKAGE = Path(__file__).resolve().parents[2]


def test_yaml_defaults_match_the_table():
    data = yaml.safe_load((PACKAGE / "config" / "hand3d.yaml").read_text())
    values = data["/**"]["ros__parameters"]
    assert set(values) == set(PARAMS_BY_NAME)
    for name, value in values.items():
        assert value == PARAMS_BY_NAME[name].default, name
        assert validate(name, value, at_startup=True) is None


def test_every_parameter_is_described_and_ranged():
    for p in PARAMS:
        assert len(p.description) > 15, p.name
        if isinstance(p.default, (int, float)) and not isinstance(p.default, bool):
            assert p.min is not None and p.max is not None and p.min <= p.default <= p.max, p.name


@pytest.mark.parametrize("name, value, fragment", [
    ("detection_threshold", 1.5, "<= 0.99"),
    ("detection_threshold", "x", "must be a float"),
    ("max_hands", 0, ">= 1"),
    ("max_hands", True, "must be a int"),
    ("handedness", "middle", "one of auto, left, right"),
    ("backend", "torch", "read-only"),
])
def test_invalid_values_are_rejected_with_a_reason(name, value, fragment):
    reason = validate(name, value)
    assert reason is not None and fragment in reason and name in reason


def test_valid_values_and_int_for_float():
    assert validate("detection_threshold", 0.3) is None
    assert validate("smoothing_beta", 1) is None  # an integer where a float is expected
    assert validate("use_sim_time", True) is None  # not ours
    assert validate("backend", "torch", at_startup=True) is None


def test_cross_parameter_check():
    values = {p.name: p.default for p in PARAMS}
    assert validate_all(values) is None
    values.update(crop_scale_min=6.0, crop_scale_max=5.0)
    assert "crop_scale_min" in validate_all(values)


@pytest.mark.parametrize("value, ok", [(-1.0, True), (0.01, True), (0.35, True), (0.0, False), (-0.5, False)])
def test_detection_threshold_is_the_weights_or_a_probability(value, ok):
    """-1 takes the weights' calibrated threshold; between it and 0.01 nothing is meaningful."""
    values = {p.name: p.default for p in PARAMS}
    values["detection_threshold"] = value
    reason = validate_all(values)
    assert (reason is None) == ok and (ok or "detection_threshold" in reason)


@pytest.mark.parametrize("value, ok", [(0.0, True), (1.0, True), (1.5, True), (0.5, False)])
def test_split_min_aspect_is_never_or_at_least_one(value, ok):
    values = {p.name: p.default for p in PARAMS}
    values["split_min_aspect"] = value
    reason = validate_all(values)
    assert (reason is None) == ok and (ok or "split_min_aspect" in reason)


@pytest.mark.parametrize("value, ok", [(0.0, True), (1.1, True), (1.6, True), (4.0, True), (0.5, False), (1.05, False)])
def test_zoom_out_factor_is_off_or_a_real_zoom(value, ok):
    """0 turns the zoom-out off; a factor near 1 would pose the same crop twice."""
    values = {p.name: p.default for p in PARAMS}
    values["zoom_out_factor"] = value
    reason = validate_all(values)
    assert (reason is None) == ok and (ok or "zoom_out_factor" in reason)


def test_readme_parameter_table_is_current():
    readme = (PACKAGE.parent / "README.md").read_text()
    assert markdown_table() in readme, "README's parameter table differs: regenerate it from params.markdown_table()"


@pytest.mark.parametrize("table_module", ["hand3d_node", "replay_camera", "recorder"])
def test_every_node_accepts_integers_for_float_parameters(ros_node, table_module):
    """``-p fps:=15`` (an INTEGER to rclpy) on the command line, in YAML/launch overrides
    and at run time sets a float parameter of every node; the value is a float."""
    pytest.importorskip("rclpy")
    import importlib

    import rclpy
    from rclpy.parameter import Parameter

    from hand3d_ros.ros.param_utils import declare_parameters

    specs = importlib.import_module(f"hand3d_ros.ros.{table_module}").PARAMS
    floats = [s for s in specs if isinstance(s.default, float) and any(
        s.min <= v <= s.max for v in range(int(s.min), int(s.max) + 1))]
    assert floats or table_module == "recorder"
    if not floats:  # the recorder's one float (summary_period_s) takes integers too
        floats = [s for s in specs if isinstance(s.default, float)]
    whole = {s.name: next(v for v in range(int(s.min), int(s.max) + 1) if s.min <= v <= s.max) for s in floats}
    half = len(floats) // 2
    cli = [a for s in floats[:half] for a in ("-p", f"{s.name}:={whole[s.name]}")]
    overrides = [Parameter(s.name, value=whole[s.name]) for s in floats[half:]]
    node = rclpy.create_node("int_for_float", context=ros_node.context, cli_args=["--ros-args", *cli],
                             parameter_overrides=overrides)
    try:
        values = declare_parameters(node, specs)
        for s in floats:
            assert values[s.name] == whole[s.name] and isinstance(values[s.name], float), s.name
            assert node.get_parameter(s.name).type_ == Parameter.Type.DOUBLE
        changeable = [s for s in floats if not s.read_only]
        if changeable and hasattr(node, "add_pre_set_parameters_callback"):  # rclpy >= Iron
            (result,) = node.set_parameters([Parameter(changeable[0].name, value=whole[changeable[0].name])])
            assert result.successful, result.reason
            assert isinstance(node.get_parameter(changeable[0].name).value, float)
    finally:
        node.destroy_node()
