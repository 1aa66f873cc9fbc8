#!/usr/bin/env python3
"""Lay out the real-photo sources of the model card as folders ready for ``hand3d label``.

    .venv/bin/python tools/prepare_real_sources.py --raw RAW --out data/raw_sel

``RAW`` holds one checkout per repository, named ``owner+name`` (the repositories of the
README's model card). For each shard folder of the training recipe this makes
``OUT/<shard>/<source folder>/`` with hard links (copies across file systems) to the photos
the recipe uses, chosen by a fixed rule (all, or evenly spaced over the sorted file names),
and ``OUT/<shard>.sources.yaml`` naming each source folder and its licence for ``hand3d
label --sources``. It prints one ``hand3d label`` command per shard. The choice is
deterministic, so a rebuilt data set is the same data set: the split by source
(``hand3d_ros/evaluation/real_split.py``) then holds out the same people and places.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hand3d_ros"))
from hand3d_ros.data.sources import IMAGE_SUFFIXES  # noqa: E402  (what hand3d label reads)

#: Roboflow exports keep several augmented copies of one photo, ``NAME_jpg.rf.HASH.jpg``.
ROBOFLOW_COPY = re.compile(r"^(?P<base>.+?)_(jpe?g|png)\.rf\.[0-9a-f]+\.(jpe?g|png)$", re.IGNORECASE)

#: shard folder -> list of (source name, licence, repository, glob patterns, take, rule).
#: ``take`` None = every photo; else that many, evenly spaced over the sorted paths.
#: rule "one_per_original": Roboflow copies collapsed to the first of each original photo.
CLASSROOM_PEOPLE = ("aries", "cbnw", "edwin", "hendrik", "meisy", "novi", "silfany", "thomas", "tongam", "viany")
RECIPE = {
    "roboflow_hands": [("roboflow_hands", "CC-BY-4.0", "ragadag621+hand-tracking-project-using-YOLOv5",
                        ["HandDetect/hands.v2i.yolov8-obb/*/images/*"], None, "all")],
    "subhih_train": [("subhih/train", "Apache-2.0", "SubhiH+HandsDataset", ["images/train/*"], None, "all")],
    "subhih_test": [("subhih/test", "Apache-2.0", "SubhiH+HandsDataset", ["images/test/*"], None, "all")],
    "classroom": [(f"classroom/{p}", "unknown", "anthoniusadi+Hand-dataset", [f"hand/{p}/*"], None, "all")
                  for p in CLASSROOM_PEOPLE],
    "signdigits": [("signdigits", "Apache-2.0", "ardamavi+Sign-Language-Digits-Dataset", ["Dataset/*/*"], 700, "all")],
    "torioux": [("torioux", "MIT", "bregydoc+torioux-hands", ["lessDataset_bregy/*"], 600, "all")],
    "hand_gestures": [("hand_gestures", "CC-BY-4.0", "dwivedi1997+Hand-Gesture-YOLOv8", ["*/images/*"], None,
                       "one_per_original")],
    "asl_letters": [("asl_letters", "public-domain", "Beastojenisto+AmericanSignLanguageDetectorYOLOv8",
                     ["American-Sign-Language-Letters-1/*/images/*"], None, "one_per_original")],
    "drone_gestures": [("drone_gestures", "MIT", "emrecandir9+custom-gesture-dataset", ["dataset/photos/*/*/*"],
                        650, "all")],
    "linto": [("linto", "unknown", "linto-ai+multi-hand-gesture-dataset", ["train/*", "test/*"], None, "all")],
    "neg_train": [("neg_train", "MIT", "GalkaKG+indoor-scene-segmentation",
                   ["data/pinterest/kitchen/*/*", "data/pinterest/bedroom/*/*"], 600, "all")],
    "neg_val": [("neg_val", "MIT", "GalkaKG+indoor-scene-segmentation", ["data/pinterest/bathroom/*/*"], 200, "all")],
    "neg_test": [("neg_test", "MIT", "GalkaKG+indoor-scene-segmentation", ["data/pinterest/living_room/*/*"], 300,
                  "all")],
}
NEGATIVES = {"neg_train", "neg_val", "neg_test"}


def select(repo_root: Path, patterns, take, rule):
    """The photos of one source: sorted paths under ``repo_root`` matching ``patterns``."""
    paths = sorted({p for pattern in patterns for p in repo_root.glob(pattern)
                    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES})
    if rule == "one_per_original":
        seen, kept = set(), []
        for p in paths:
            match = ROBOFLOW_COPY.match(p.name)
            base = match.group("base") if match else p.stem
            if base not in seen:
                seen.add(base)
                kept.append(p)
        paths = kept
    if take is not None and len(paths) > take:
        step = len(paths) / take
        paths = [paths[int(i * step)] for i in range(take)]
    return paths


def link(src: Path, dst: Path):
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", required=True, type=Path, help="folder of owner+name repository checkouts")
    parser.add_argument("--out", required=True, type=Path, help="folder for the selections")
    parser.add_argument("--labelled", default="data/real", help="shard root printed in the label commands")
    parser.add_argument("--only", nargs="*", default=None, help="shard folders to prepare (default: all)")
    args = parser.parse_args(argv)
    shards = args.only or list(RECIPE)
    unknown = sorted(set(shards) - set(RECIPE))
    if unknown:
        print(f"prepare_real_sources: unknown shard folder(s) {unknown}; known: {list(RECIPE)}", file=sys.stderr)
        return 2
    for shard in shards:
        lines, folders = [], []
        for name, licence, repo, patterns, take, rule in RECIPE[shard]:
            root = args.raw / repo
            if not root.is_dir():
                print(f"prepare_real_sources: {root} is missing (fetch {repo.replace('+', '/')})", file=sys.stderr)
                return 2
            photos = select(root, patterns, take, rule)
            folder = args.out / shard / name.replace("/", "__")
            for i, p in enumerate(photos):
                link(p, folder / f"{i:05d}_{p.name}")
            lines.append(f"{shard}/{folder.name}: {{name: {name}, licence: {licence}}}")
            folders.append(str(folder))
            print(f"# {shard}: {name} ({repo}, {licence}): {len(photos)} photos", file=sys.stderr)
        (args.out / f"{shard}.sources.yaml").write_text("\n".join(lines) + "\n")
        neg = " --negatives" if shard in NEGATIVES else ""
        print(f"hand3d label {' '.join(folders)} --out {args.labelled}/{shard} "
              f"--sources {args.out / shard}.sources.yaml{neg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
