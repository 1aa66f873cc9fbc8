"""``main()`` of every node: init, spin, clean shutdown, one-line errors."""
from __future__ import annotations

import sys
from typing import Callable, Optional

import rclpy


def run_node(program: str, make_node: Callable, args=None, before_destroy: Optional[Callable] = None) -> int:
    """Create the node with ``make_node()`` and spin it until Ctrl-C or shutdown.

    Every node spins on one ``SingleThreadedExecutor``: the callbacks are short (the
    hand3d node hands frames to its own worker thread, which keeps parameter services
    answering while the networks run). rclpy's ``MultiThreadedExecutor`` hands each
    callback to a pool thread and meanwhile loops in Python (rebuilding its wait set,
    polling its futures); with 30 Hz image + camera_info streams on a 2-core machine that
    loop starved the worker thread of the GIL and the cores (README, *Measured speed*).

    Returns the exit status: 0 after a clean shutdown, 1 with one line on stderr
    (``<program>: <reason>``) when the node cannot start (bad parameter, missing file,
    unavailable backend). ``before_destroy(node)`` runs before the node is destroyed
    (e.g. to flush files).
    """
    from rclpy.exceptions import ParameterException
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ValueError, OSError, RuntimeError, ParameterException) as err:
        sys.stderr.write(f"{program}: {' '.join(str(err).split())}\n")
        return 1
    finally:
        if node is not None:
            if before_destroy is not None:
                before_destroy(node)
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
