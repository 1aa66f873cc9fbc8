#!/usr/bin/env python3
"""Render a contact sheet of synthetic samples (uses the project's own renderer).

Each sample is shown twice: as rendered, and with its 21 keypoints and skeleton drawn
(filled dot = visible, ring = hidden) plus the hand mask outline.

    PYTHONPATH=hand3d_ros python tools/contact_sheet.py docs/images/render_samples.png

The PNG is palette-quantised to stay small.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="output PNG")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--count", type=int, default=8, help="samples (default 8)")
    parser.add_argument("--columns", type=int, default=4, help="samples per row (default 4)")
    parser.add_argument("--size", type=int, default=256, help="render size in pixels (default 256)")
    parser.add_argument("--tile", type=int, default=176, help="tile size on the sheet (default 176)")
    parser.add_argument("--asset-dir", default=None)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hand3d_ros"))
    import cv2
    import numpy as np
    from PIL import Image

    from hand3d_ros.core.keypoints import BONES, keypoint_color
    from hand3d_ros.data.render.scene import HandRenderer, RenderConfig

    renderer = HandRenderer(RenderConfig(height=args.size, width=args.size), args.asset_dir)
    scale = args.tile / args.size
    pairs = []
    for index in range(args.count):
        s = renderer.sample(args.seed, index)
        plain = cv2.resize(s["image"], (args.tile, args.tile), interpolation=cv2.INTER_AREA)
        over = plain.copy()
        mask = cv2.resize((s["mask"] > 0).astype(np.uint8), (args.tile, args.tile), interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(over, contours, -1, (255, 255, 255), 1, cv2.LINE_AA)
        uv = (s["uv"] + 0.5) * scale - 0.5
        pts = [tuple(int(round(c)) for c in p) for p in uv]
        for a, b in BONES:
            cv2.line(over, pts[a], pts[b], tuple(int(255 * c) for c in keypoint_color(b)), 1, cv2.LINE_AA)
        for k, p in enumerate(pts):
            colour = tuple(int(255 * c) for c in keypoint_color(k))
            cv2.circle(over, p, 2, colour, -1 if s["visible"][k] else 1, cv2.LINE_AA)
        side = "L" if int(s["hand_side"]) == 0 else "R"
        cv2.putText(over, f"{side} {int(s['visible'].sum())}/21", (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                    (255, 255, 255), 1, cv2.LINE_AA)
        pairs.append(np.concatenate([plain, over], axis=0))
    rows = []
    for r in range(0, len(pairs), args.columns):
        row = pairs[r:r + args.columns]
        row += [np.zeros_like(pairs[0])] * (args.columns - len(row))
        rows.append(np.concatenate(row, axis=1))
    sheet = np.concatenate(rows, axis=0)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(out, optimize=True)
    print(f"{out}: {sheet.shape[1]}x{sheet.shape[0]}, {out.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
