#!/usr/bin/env python3
"""Render a moving hand into a rosbag2 recording, as a lab would record a demonstration.

Writes colour images (raw rgb8 or JPEG), camera_info and, optionally, aligned 32FC1 depth
on RealSense-style topics, and keeps the ground truth (3D keypoints, metres, camera frame)
next to it as ``<out>.truth.npz`` for checking ``hand3d infer`` on the bag:

    .venv/bin/python tools/make_demo_bag.py out/demo_bag --frames 60 --size 320x240 --depth
    .venv/bin/hand3d infer out/demo_bag --out out/lfd

Needs the hand meshes (``tools/fetch_hand_assets.sh``; ``make setup`` fetches them).
"""
import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("out", help="bag folder to create (must not exist)")
    parser.add_argument("--frames", type=int, default=60, help="frames (at 30 fps)")
    parser.add_argument("--size", default="320x240", help="image size WxH")
    parser.add_argument("--seed", type=int, default=7, help="sequence seed")
    parser.add_argument("--depth", action="store_true", help="also write aligned depth")
    parser.add_argument("--compressed", action="store_true", help="JPEG on <topic>/compressed instead of rgb8")
    parser.add_argument("--storage", default="mcap", choices=("mcap", "sqlite3"))
    args = parser.parse_args(argv)
    import numpy as np

    from hand3d_ros.data.render.scene import HandRenderer, RenderConfig
    from hand3d_ros.data.render.sequences import render_sequence
    from hand3d_ros.offline.recording import write_camera_bag

    width, height = (int(v) for v in args.size.lower().split("x"))
    renderer = HandRenderer(RenderConfig(height=height, width=width, split="test"))
    frames = render_sequence(renderer, seed=args.seed, num_frames=args.frames)
    folder, _, stamps = write_camera_bag(args.out, frames, storage=args.storage, compressed=args.compressed,
                                         depth=args.depth)
    np.savez_compressed(f"{folder}.truth.npz", stamp_ns=np.array(stamps), xyz=frames["xyz"], uv=frames["uv"],
                        visible=frames["visible"], hand_side=frames["hand_side"], K=frames["K"])
    print(f"{folder}: {args.frames} frames {width}x{height}; ground truth in {folder}.truth.npz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
