#!/usr/bin/env python3
"""Measure the pseudo masks of `hand3d label` against the true masks of renders.

    python tools/measure_pseudo_masks.py [--num 200] [--seed 3] [--teacher-python PY]

Renders ``--num`` single-hand samples (320x240, no machine photos, split "test"), then
prints, for the skeleton-only masks and the GrabCut-refined ones:

- with the renders' TRUE keypoints (the mask method alone);
- with the TEACHER's keypoints (the hands it finds and keeps; needs the teacher venv),
  plus the teacher's detection/keep rate, side accuracy and 2D error on renders.

IoU: hand pixels vs the true hand mask over the pixels not marked ignore (255);
"ignored" = ignore pixels / true hand pixels; "hard IoU" counts the ignore band as hand.
Times are per hand on this machine (watch the load).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hand3d_ros"))

from hand3d_ros.data.pseudo_mask import IGNORE, MaskConfig, mask_iou, pseudo_mask  # noqa: E402


def renders(num: int, seed: int):
    from hand3d_ros.data.render.scene import HandRenderer, RenderConfig

    renderer = HandRenderer(RenderConfig(height=240, width=320, split="test", system_photos=False))
    return [renderer.sample(seed, i) for i in range(num)]


def score(samples, uvs, labels, config):
    ious, hard, ignored, times = [], [], [], []
    for s, uv, label in zip(samples, uvs, labels):
        if uv is None:
            continue
        t = time.perf_counter()
        m = pseudo_mask(s["image"], [(uv, label)], config)
        times.append(time.perf_counter() - t)
        truth = s["mask"]
        ious.append(mask_iou(m, truth))
        p, g = m > 0, truth > 0
        hard.append((p & g).sum() / max(1, (p | g).sum()))
        ignored.append((m == IGNORE).sum() / max(1, g.sum()))
    return (f"IoU mean {np.mean(ious):.3f} median {np.median(ious):.3f} p10 {np.percentile(ious, 10):.3f} | "
            f"hard IoU mean {np.mean(hard):.3f} | ignored/hand {np.mean(ignored):.2f} | "
            f"{1000 * np.mean(times):.1f} ms/hand | n={len(ious)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=200)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--teacher-python", default=os.environ.get("HAND3D_TEACHER_PYTHON"))
    args = parser.parse_args()
    samples = renders(args.num, args.seed)
    configs = {"skeleton": MaskConfig(grabcut=False), "grabcut": MaskConfig()}
    truth_uv = [s["uv"] for s in samples]
    truth_label = [1 + int(s["hand_side"]) for s in samples]
    print(f"{len(samples)} renders (seed {args.seed}, split test, 320x240)")
    for name, cfg in configs.items():
        print(f"true keypoints    {name:8s}: {score(samples, truth_uv, truth_label, cfg)}")
    if not args.teacher_python:
        print("teacher: skipped (no --teacher-python / HAND3D_TEACHER_PYTHON)")
        return 0
    from hand3d_ros.teacher.client import TeacherProcess, find_teacher_python
    from hand3d_ros.teacher.merge import merge_views

    uvs, labels, found, kept, side_ok, err = [], [], 0, 0, 0, []
    t0 = time.perf_counter()
    with TeacherProcess(find_teacher_python(args.teacher_python)) as teacher:
        for s in samples:
            hands = merge_views(teacher.label_frame(s["image"]))
            found += bool(hands)
            good = [h for h in hands if h.keep]
            if not good:
                uvs.append(None)
                labels.append(None)
                continue
            h = good[0]
            uv = h.uv_norm * [320, 240] - 0.5
            kept += 1
            side_ok += h.side == int(s["hand_side"])
            size = np.ptp(s["uv"], axis=0).max()
            err.append(np.median(np.linalg.norm(uv - s["uv"], axis=1)) / size)
            uvs.append(uv)
            labels.append(1 + h.side)
    teacher_ms = 1000 * (time.perf_counter() - t0) / len(samples)
    print(f"teacher: found a hand in {found}/{len(samples)}, kept {kept}; side accuracy of kept "
          f"{side_ok / max(1, kept):.3f}; median 2D error {np.median(err):.3f} hand sizes; "
          f"{teacher_ms:.0f} ms per photo (photo + mirror)")
    for name, cfg in configs.items():
        print(f"teacher keypoints {name:8s}: {score(samples, uvs, labels, cfg)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
