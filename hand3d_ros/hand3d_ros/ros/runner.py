"""``main()`` of every node: init, spin, clean shutdown, one-line errors."""
from __future__ import annotations

import signal
import sys
from typing import Callable, Optional

import rclpy

#: The signals that stop a node cleanly (Ctrl-C in a terminal, ``ros2 launch``'s
#: escalation, ``kill``, ``docker stop``).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Python handlers for :data:`STOP_SIGNALS` that record the request and never raise.

    Installed *before* ``rclpy.init``: rclpy's own handlers shut the context down (which
    ends the executor's spin) and then call these. Python's default SIGINT handler would
    raise ``KeyboardInterrupt`` wherever the main thread happens to be, e.g. inside
    ``destroy_node`` after the spin has already ended, and a terminal's Ctrl-C followed
    by ``ros2 launch``'s own SIGINT delivers two; recording them instead makes every stop
    a clean exit 0 without a traceback.
    """

    def __init__(self) -> None:
        self.requested = False

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def install(self) -> "StopRequest":
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)
        return self

    @staticmethod
    def ignore_from_now_on() -> None:
        """Ignore further stop signals: the process is ending. (At exit Python resets
        handlers that are Python functions to the default, which would let a late Ctrl-C
        kill the interpreter's teardown, exit status -2; ignored signals stay ignored.)"""
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


def _one_line(program: str, err: BaseException) -> str:
    reason = " ".join(str(err).split()) or type(err).__name__
    known = (ValueError, OSError, RuntimeError, ImportError)
    return f"{program}: {reason if isinstance(err, known) else f'{type(err).__name__}: {reason}'}\n"


def run_node(program: str, make_node: Callable, args=None, before_destroy: Optional[Callable] = None) -> int:
    """Create the node with ``make_node()`` and spin it until Ctrl-C or shutdown; the
    ``main()`` of a node's process (it takes over SIGINT and SIGTERM for good).
    ``make_node()`` may also return a list of nodes: they share the process and the
    executor (see :mod:`hand3d_ros.ros.graph`).

    Every node spins on one ``SingleThreadedExecutor``: the callbacks are short (the
    hand3d node hands frames to its own worker thread, which keeps parameter services
    answering while the networks run). rclpy's ``MultiThreadedExecutor`` hands each
    callback to a pool thread and meanwhile loops in Python (rebuilding its wait set,
    polling its futures); with 30 Hz image + camera_info streams on a 2-core machine that
    loop starved the worker thread of the GIL and the cores (README, *Measured speed*).

    Returns the exit status: 0 after a clean shutdown (SIGINT or SIGTERM, however many,
    whenever they arrive: no traceback), 1 with one line on stderr (``<program>:
    <reason>``) when the node cannot start (bad parameter, missing file, unavailable
    backend: any exception from ``make_node``). ``before_destroy(node)`` runs before each
    node is destroyed (e.g. to flush files).
    """
    from rclpy.exceptions import ParameterException
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    stop = StopRequest().install()
    rclpy.init(args=args)
    nodes = []
    try:
        try:
            made = make_node()
            nodes = list(made) if isinstance(made, (list, tuple)) else [made]
        except Exception as err:  # noqa: BLE001 - any start-up failure is one line, not a traceback
            if stop.requested:  # stopped while starting: the failure is the stop's doing
                return 0
            sys.stderr.write(_one_line(program, err))
            return 1
        if stop.requested:
            return 0
        executor = SingleThreadedExecutor()
        for node in nodes:
            executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ValueError, OSError, RuntimeError, ParameterException) as err:
        if not stop.requested:
            sys.stderr.write(_one_line(program, err))
            return 1
    finally:
        for node in reversed(nodes):
            if before_destroy is not None:
                before_destroy(node)
            node.destroy_node()
        rclpy.try_shutdown()
        stop.ignore_from_now_on()
    return 0
