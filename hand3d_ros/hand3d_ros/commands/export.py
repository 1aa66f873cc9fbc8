"""`hand3d export`: not available yet."""
from hand3d_ros.cli import CommandError


def configure(parser):
    pass


def run(args):
    raise CommandError("not implemented yet in this version")
