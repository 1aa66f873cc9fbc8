"""Fixtures for tests over real rclpy/DDS: an rclpy context, a node, and peer processes."""
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="ROS 2 Python packages (rclpy) are not installed")

PEERS = Path(__file__).parent / "peers"


@pytest.fixture
def ros_node():
    """A fresh rclpy context with one node; torn down after the test."""
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    node = rclpy.create_node("hand3d_test", context=context)
    yield node
    node.destroy_node()
    rclpy.shutdown(context=context)


@pytest.fixture
def start_peer():
    """Start ``peers/<script>`` in its own process; all are terminated after the test."""
    procs = []

    def start(script, *args):
        proc = subprocess.Popen(
            [sys.executable, str(PEERS / script), *map(str, args)],
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def hand3d_node_process(*ros_args):
    """The hand3d node (``peers/node.py``, as ``ros2 run``) in its own process with
    ``ros_args`` after ``--ros-args``; stopped with Ctrl-C (SIGINT) on exit."""
    proc = subprocess.Popen([sys.executable, str(PEERS / "node.py"), "--ros-args", *ros_args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def node_process_factory():
    """:func:`hand3d_node_process` (for module-scoped node fixtures)."""
    return hand3d_node_process


def spin_until(node, predicate, timeout_s=20.0, action=None, period_s=0.1):
    """Spin ``node`` until ``predicate()`` is true, calling ``action()`` every period.

    Returns whether the predicate became true within the timeout.
    """
    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    try:
        deadline = time.monotonic() + timeout_s
        next_action = 0.0
        while time.monotonic() < deadline:
            if predicate():
                return True
            if action is not None and time.monotonic() >= next_action:
                action()
                next_action = time.monotonic() + period_s
            executor.spin_once(timeout_sec=period_s / 2)
        return predicate()
    finally:
        executor.remove_node(node)


@pytest.fixture
def spin():
    return spin_until


@pytest.fixture
def set_parameters():
    return set_node_parameters


def set_node_parameters(node, target: str, **values):
    """Set parameters of the node ``target`` (its full name) through its set_parameters
    service; returns the list of SetParametersResult."""
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    client = node.create_client(SetParameters, f"{target}/set_parameters")
    assert client.wait_for_service(timeout_sec=20)
    params = []
    for name, value in values.items():
        pv = ParameterValue()
        if isinstance(value, bool):
            pv.type, pv.bool_value = ParameterType.PARAMETER_BOOL, value
        elif isinstance(value, float):
            pv.type, pv.double_value = ParameterType.PARAMETER_DOUBLE, value
        elif isinstance(value, int):
            pv.type, pv.integer_value = ParameterType.PARAMETER_INTEGER, value
        else:
            pv.type, pv.string_value = ParameterType.PARAMETER_STRING, value
        params.append(Parameter(name=name, value=pv))
    future = client.call_async(SetParameters.Request(parameters=params))
    assert spin_until(node, future.done, timeout_s=20)
    return future.result().results


def random_fill(msg, rng: np.random.Generator):
    """Set every field of ``msg`` (recursively) to a random non-default value.

    Floats are drawn so that they survive float32 storage exactly; strings are
    random ASCII; unbounded sequences get 1-3 elements.
    """
    from rosidl_parser import definition as d

    for name, slot in zip(msg.get_fields_and_field_types(), msg.SLOT_TYPES):
        current = getattr(msg, name)
        setattr(msg, name, _random_value(slot, current, type(msg), name, rng, d))
    return msg


def _random_value(slot, current, owner, name, rng, d):
    if isinstance(slot, d.BasicType):
        t = slot.typename
        if t in ("float", "double"):
            return float(np.float32(rng.uniform(-1e3, 1e3)))
        if t == "boolean":
            return not bool(current)
        if t in ("octet", "uint8", "char"):
            return int(rng.integers(1, 255))
        if t.startswith("uint"):
            return int(rng.integers(1, 2**15))
        return int(rng.integers(-(2**15), 2**15))
    if isinstance(slot, (d.UnboundedString, d.BoundedString)):
        return "".join(chr(c) for c in rng.integers(97, 123, size=8))
    if isinstance(slot, d.NamespacedType):
        return random_fill(type(current)(), rng)
    if isinstance(slot, (d.Array, d.UnboundedSequence, d.BoundedSequence)):
        size = slot.size if isinstance(slot, d.Array) else int(rng.integers(1, 4))
        inner = slot.value_type
        if isinstance(inner, d.NamespacedType):
            module = __import__(".".join(inner.namespaces), fromlist=[inner.name])
            cls = getattr(module, inner.name)
            return [random_fill(cls(), rng) for _ in range(size)]
        values = [_random_value(inner, 0, owner, name, rng, d) for _ in range(size)]
        if isinstance(inner, d.BasicType) and inner.typename in ("float", "double"):
            return np.array(values, dtype=np.float32 if inner.typename == "float" else np.float64)
        return values
    raise TypeError(f"cannot fill field {owner.__name__}.{name} of type {slot}")


def field_differences(a, b, prefix=""):
    """Names of the fields (dotted paths) whose values differ between two messages."""
    diffs = []
    for name in a.get_fields_and_field_types():
        va, vb = getattr(a, name), getattr(b, name)
        path = f"{prefix}{name}"
        if hasattr(va, "get_fields_and_field_types"):
            diffs += field_differences(va, vb, path + ".")
        elif isinstance(va, (list, tuple)) and va and hasattr(va[0], "get_fields_and_field_types"):
            if len(va) != len(vb):
                diffs.append(path)
            else:
                for i, (ea, eb) in enumerate(zip(va, vb)):
                    diffs += field_differences(ea, eb, f"{path}[{i}].")
        elif not np.array_equal(np.asarray(va), np.asarray(vb)):
            diffs.append(path)
    return diffs


@pytest.fixture
def msg_tools():
    """``random_fill`` and ``field_differences`` for the tests."""
    return random_fill, field_differences
