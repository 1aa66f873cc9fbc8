#!/usr/bin/env python3
"""Make docs/images/real_fixtures.png: ``hand3d infer`` with the shipped weights (the CPU
default, INT8) on six committed fixture photos, tiled 3 x 2.

    .venv/bin/python tools/make_fixture_picture.py docs/images/real_fixtures.png

Each tile is ``hand3d infer``'s own overlay (keypoints, mask outline, crop box, side and
hand confidence), letterboxed into 320 x 240. The PNG is palette-quantised to stay small.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "hand3d_ros" / "test" / "fixtures" / "real"
PHOTOS = ("subhih_test_26_pic00009.jpg", "subhih_test_3_pic00033.jpg", "subhih_test_5_pic00095.jpg",
          "subhih_test_2_pic00544.jpg", "signdigits_IMG_1148.jpg", "interiors_living_room_living_room_minimalist_40.jpg")
TILE_W, TILE_H, COLUMNS = 320, 240, 3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="output PNG")
    parser.add_argument("--backend", default="onnxruntime", help="hand3d infer --backend (default onnxruntime)")
    args = parser.parse_args(argv)
    import cv2
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [str(Path(sys.executable).parent / "hand3d"), "infer", *[str(FIXTURES / p) for p in PHOTOS],
               "--out", tmp, "--backend", args.backend]
        if subprocess.run(cmd).returncode != 0:
            print("make_fixture_picture: hand3d infer failed", file=sys.stderr)
            return 1
        tiles = []
        for photo in PHOTOS:
            image = cv2.imread(str(Path(tmp) / (Path(photo).stem + ".png")))
            scale = min(TILE_W / image.shape[1], TILE_H / image.shape[0])
            image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                               interpolation=cv2.INTER_AREA)
            tile = np.full((TILE_H, TILE_W, 3), 20, np.uint8)
            v, u = (TILE_H - image.shape[0]) // 2, (TILE_W - image.shape[1]) // 2
            tile[v:v + image.shape[0], u:u + image.shape[1]] = image
            tiles.append(tile)
    rows = [np.hstack(tiles[i:i + COLUMNS]) for i in range(0, len(tiles), COLUMNS)]
    sheet = np.vstack(rows)
    from PIL import Image

    Image.fromarray(sheet[..., ::-1]).quantize(colors=256).save(args.out, optimize=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
