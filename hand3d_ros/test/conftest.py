"""Test-wide settings.

ROS tests talk over real DDS. Each test session picks its own ROS domain and keeps
discovery on this machine, so parallel runs (CI, developers) never hear each other.
"""
import os
import random

os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_LOCALHOST_ONLY", "1")  # the same, for Humble/Jazzy
