"""Declaring a node's parameters from a :mod:`hand3d_ros.ros.params` table."""
from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from hand3d_ros.ros.params import Param, validate


def descriptor(spec: Param) -> ParameterDescriptor:
    """The ROS descriptor of one table entry: description (with the choices), range,
    read-only flag and dynamic typing."""
    text = spec.description + (f" One of: {', '.join(spec.choices)}." if spec.choices else "")
    desc = ParameterDescriptor(description=text, read_only=spec.read_only, dynamic_typing=spec.dynamic_typing)
    if spec.min is not None and _is_float(spec):
        desc.floating_point_range = [FloatingPointRange(from_value=float(spec.min), to_value=float(spec.max), step=0.0)]
    elif spec.min is not None and isinstance(spec.default, int) and not isinstance(spec.default, bool):
        desc.integer_range = [IntegerRange(from_value=int(spec.min), to_value=int(spec.max), step=1)]
    return desc


def _is_float(spec: Param) -> bool:
    return isinstance(spec.default, float)


def _as_double(param):
    """``param`` as a DOUBLE parameter when it holds an integer (else unchanged)."""
    from rclpy.parameter import Parameter

    if param.type_ == Parameter.Type.INTEGER:
        return Parameter(param.name, Parameter.Type.DOUBLE, float(param.value))
    return param


def accept_integers_for_floats(node, specs) -> None:
    """Let ``-p fps:=15``, ``fps: 15`` in YAML and ``ros2 param set ... fps 15`` set a
    float parameter: rclpy rejects an INTEGER for a parameter declared DOUBLE
    ("expecting type 'DOUBLE'").

    Start-up values: the node's overrides (command line, YAML, launch) are converted
    before the parameters are declared. Run-time changes: a pre-set callback converts
    them (rclpy >= Iron; on Humble ``ros2 param set`` needs ``15.0``).
    """
    floats = {spec.name for spec in specs if _is_float(spec)}
    overrides = getattr(node, "_parameter_overrides", None)  # rclpy keeps them here (Humble .. Kilted)
    if isinstance(overrides, dict):
        for name in floats & set(overrides):
            overrides[name] = _as_double(overrides[name])
    if hasattr(node, "add_pre_set_parameters_callback"):
        node.add_pre_set_parameters_callback(
            lambda params: [_as_double(p) if p.name in floats else p for p in params])


def declare_parameters(node, specs) -> dict:
    """Declare every parameter of ``specs`` on ``node`` and return name -> value.

    Start-up values (command line, YAML) are checked against the table; a bad one raises
    ValueError with one line naming the parameter. Integers are accepted for float
    parameters (:func:`accept_integers_for_floats`).
    """
    table = {spec.name: spec for spec in specs}
    accept_integers_for_floats(node, specs)
    values = {}
    for spec in specs:
        node.declare_parameter(spec.name, spec.default, descriptor(spec))
        values[spec.name] = node.get_parameter(spec.name).value
        reason = validate(spec.name, values[spec.name], at_startup=True, table=table)
        if reason:
            raise ValueError(f"invalid parameter: {reason}")
    return values
