"""Declaring a node's parameters from a :mod:`hand3d_ros.ros.params` table."""
from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from hand3d_ros.ros.params import Param, validate


def descriptor(spec: Param) -> ParameterDescriptor:
    """The ROS descriptor of one table entry: description (with the choices), range,
    read-only flag and dynamic typing."""
    text = spec.description + (f" One of: {', '.join(spec.choices)}." if spec.choices else "")
    desc = ParameterDescriptor(description=text, read_only=spec.read_only, dynamic_typing=spec.dynamic_typing)
    if spec.min is not None and isinstance(spec.default, float):
        desc.floating_point_range = [FloatingPointRange(from_value=float(spec.min), to_value=float(spec.max), step=0.0)]
    elif spec.min is not None and isinstance(spec.default, int) and not isinstance(spec.default, bool):
        desc.integer_range = [IntegerRange(from_value=int(spec.min), to_value=int(spec.max), step=1)]
    return desc


def declare_parameters(node, specs) -> dict:
    """Declare every parameter of ``specs`` on ``node`` and return name -> value.

    Start-up values (command line, YAML) are checked against the table; a bad one raises
    ValueError with one line naming the parameter.
    """
    table = {spec.name: spec for spec in specs}
    values = {}
    for spec in specs:
        node.declare_parameter(spec.name, spec.default, descriptor(spec))
        values[spec.name] = node.get_parameter(spec.name).value
        reason = validate(spec.name, values[spec.name], at_startup=True, table=table)
        if reason:
            raise ValueError(f"invalid parameter: {reason}")
    return values
