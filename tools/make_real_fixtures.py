#!/usr/bin/env python3
"""Make the committed real-photo test fixtures: resize photos, label them with the teacher.

    tools/make_real_fixtures.py --out hand3d_ros/test/fixtures/real \\
        --photos 'subhih/test:Apache-2.0:ardamavi... ' ...

Each ``--photos NAME:LICENCE:URL:FILE...`` group names its source repository, licence
and address; files are scaled down to ``--max-side`` px (JPEG quality 90) and labelled by
the MediaPipe teacher (``make teacher``) with the same photo/mirror check as ``hand3d
label``. ``--negatives`` groups are hand-free photos (the teacher must find no hand).
Writes ``labels.json``: per photo its file, source, licence, size and the teacher's kept
hands (keypoints in the fixture's pixels, anatomical side, kp_score). Needs the main venv
(cv2) and the teacher venv.
"""
import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from hand3d_ros.teacher.client import TeacherProcess, find_teacher_python, teacher_version
from hand3d_ros.teacher.merge import merge_views


def _group(text):
    parts = text.split("::")
    if len(parts) < 4:
        raise argparse.ArgumentTypeError("expected NAME::LICENCE::URL::FILE[::FILE...]")
    return parts[0], parts[1], parts[2], parts[3:]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--photos", action="append", type=_group, default=[], help="NAME::LICENCE::URL::FILE...")
    parser.add_argument("--negatives", action="append", type=_group, default=[], help="same, hand-free photos")
    parser.add_argument("--max-side", type=int, default=320)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    python = find_teacher_python()
    entries = []
    with TeacherProcess(python) as teacher:
        for groups, negative in ((args.photos, False), (args.negatives, True)):
            for name, licence, url, files in groups:
                for path in files:
                    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
                    if bgr is None:
                        print(f"make_real_fixtures: cannot read {path}", file=sys.stderr)
                        return 1
                    scale = min(1.0, args.max_side / max(bgr.shape[:2]))
                    if scale < 1.0:
                        bgr = cv2.resize(bgr, (round(bgr.shape[1] * scale), round(bgr.shape[0] * scale)),
                                         interpolation=cv2.INTER_AREA)
                    stem = f"{name.replace('/', '_')}_{Path(path).stem}"[:60] + ".jpg"
                    cv2.imwrite(str(args.out / stem), bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
                    rgb = cv2.cvtColor(cv2.imread(str(args.out / stem)), cv2.COLOR_BGR2RGB)
                    height, width = rgb.shape[:2]
                    hands = [h for h in merge_views(teacher.label_frame(rgb)) if h.keep]
                    if negative and hands:
                        print(f"make_real_fixtures: the teacher finds a hand in negative {path}", file=sys.stderr)
                        return 1
                    entries.append({
                        "file": stem, "source": name, "licence": licence, "url": url, "original": Path(path).name,
                        "negative": negative, "width": width, "height": height,
                        "hands": [{"uv": np.round(h.uv_norm * [width, height] - 0.5, 2).tolist(),
                                   "side": int(h.side), "side_score": round(float(h.side_score), 3),
                                   "kp_score": np.round(h.kp_score, 3).tolist()} for h in hands]})
                    print(f"{stem}: {len(hands)} hand(s)")
    info = {"teacher": teacher_version(python), "keypoints": "pixels of the fixture (pixel centres at integers), "
            "public order; side 0 left, 1 right (anatomical)", "photos": entries}
    (args.out / "labels.json").write_text(json.dumps(info, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
