"""Subcommands of the ``hand3d`` command (see ``hand3d_ros.cli``)."""
