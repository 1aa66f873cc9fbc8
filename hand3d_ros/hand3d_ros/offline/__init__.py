"""Offline processing of recordings (rosbag2 in; pose bags and trajectory tables out), no ROS install needed."""
