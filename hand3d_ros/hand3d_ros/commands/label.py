"""`hand3d label`: label real photos and video frames with the MediaPipe Hands teacher.

    hand3d label INPUT... --out DIR [--source NAME --licence SPDX] [--every N] [--workers N]

INPUTs are image files, folders (searched recursively) and videos (every ``--every``-th
frame). The teacher (MediaPipe Hands 0.10.14) runs in its own venv (``make teacher``)
as ``--workers`` subprocesses, on each photo and its mirror; hands that the two views
do not agree on (place, handedness flipping with the mirror) or with low scores are
dropped, counted, and masked as "ignore". Output: shards in the format of
``hand3d render`` (fields ``hand3d_ros.data.label.LABEL_FIELDS``), ``files.json`` (the
input files by ``file_index``) and the teacher's replies in ``DIR/teacher-cache``.
Re-running the same command resumes.
"""
from __future__ import annotations

from hand3d_ros.cli import CommandError, positive_int


def _size(text: str) -> tuple:
    import argparse

    from hand3d_ros.cli import parse_wxh

    try:
        return parse_wxh(text, "--size", 16, 4096)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def configure(parser):
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders (recursive) or videos")
    parser.add_argument("--out", required=True, help="output shard folder (resumed if it exists)")
    parser.add_argument("--size", type=_size, default=(320, 240),
                        help="output image size WxH; photos are scaled to fit and padded (default 320x240)")
    parser.add_argument("--every", type=positive_int, default=10, help="take every N-th video frame (default 10)")
    parser.add_argument("--workers", type=positive_int, default=2, help="teacher subprocesses and shard writers (default 2)")
    parser.add_argument("--source", default=None, help="name of the inputs' source (default: the input folder's name)")
    parser.add_argument("--licence", default="unknown", help="SPDX licence id of the inputs (default: unknown)")
    parser.add_argument("--sources", default=None,
                        help="JSON or YAML mapping input folders to {name, licence} (overrides --source/--licence)")
    parser.add_argument("--negatives", action="store_true",
                        help="the inputs are hand-free photos: one sample per photo without a teacher hand")
    parser.add_argument("--mirrored-input", action="store_true",
                        help="the inputs are mirrored (a selfie/preview view): swap the anatomical sides")
    parser.add_argument("--hfov", type=float, default=60.0, help="horizontal field of view of the nominal K, degrees")
    parser.add_argument("--teacher-python", default=None,
                        help="python of the teacher venv (default $HAND3D_TEACHER_PYTHON or <repo>/.venv-teacher)")
    parser.add_argument("--max-side", type=positive_int, default=1280,
                        help="photos are scaled down to this longest side for the teacher (default 1280)")
    parser.add_argument("--min-hand-score", type=float, default=0.5, help="drop hands with a lower palm score (0-1)")
    parser.add_argument("--min-side-score", type=float, default=0.7,
                        help="drop hands whose handedness probability is lower (0.5-1)")
    parser.add_argument("--max-disagreement", type=float, default=0.1,
                        help="drop hands whose photo/mirror keypoints differ by more (median, hand sizes)")
    parser.add_argument("--no-grabcut", action="store_true", help="masks from the keypoint skeleton only")
    parser.add_argument("--rewrite", action="store_true",
                        help="delete DIR's shards and write them again with the current settings (keeps the "
                             "teacher's replies in DIR/teacher-cache: no teacher re-run)")
    parser.add_argument("--shard-size", type=positive_int, default=256, help="samples per shard (default 256)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _load_sources(path):
    import json
    from pathlib import Path

    text = Path(path).read_text()
    if str(path).endswith((".yaml", ".yml")):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "name" in v for v in data.values()):
        raise CommandError(f"{path}: expected a mapping FOLDER -> {{name, licence}}")
    base = Path(path).resolve().parent
    return {str((base / k).resolve()): v for k, v in data.items()}


def _sources(args):
    from pathlib import Path

    from hand3d_ros.data.label import Source

    mapping = _load_sources(args.sources) if args.sources else {}
    out = []
    for given in args.inputs:
        path = Path(given).resolve()
        root = path if path.is_dir() else path.parent
        match = [k for k in mapping if str(path) == k or str(path).startswith(k.rstrip("/") + "/")]
        if match:
            entry = mapping[max(match, key=len)]
            out.append(Source(str(entry["name"]), str(entry.get("licence", "unknown")), str(root)))
        else:
            out.append(Source(args.source or root.name, args.licence, str(root)))
    return out


def run(args) -> int:
    import json
    import sys
    import time
    from dataclasses import asdict
    from pathlib import Path

    from hand3d_ros.commands.infer import VIDEO_SUFFIXES
    from hand3d_ros.data import label as lab
    from hand3d_ros.data.pseudo_mask import MaskConfig
    from hand3d_ros.data.shards import ShardError, write_shards
    from hand3d_ros.data.sources import IMAGE_SUFFIXES
    from hand3d_ros.teacher import client
    from hand3d_ros.teacher.merge import MergeConfig
    from hand3d_ros.teacher.worker import TEACHER_NAME

    def log(text):
        sys.stderr.write(text + "\n")

    try:
        merge = MergeConfig(min_hand_score=args.min_hand_score, min_side_score=args.min_side_score,
                            max_disagreement=args.max_disagreement)
        mask = MaskConfig(grabcut=not args.no_grabcut)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if not 1.0 <= args.hfov <= 179.0:
        raise CommandError(f"--hfov must be in [1, 179] degrees, got {args.hfov}")
    sources = _sources(args)
    items, problems = lab.discover(args.inputs, sources, IMAGE_SUFFIXES, VIDEO_SUFFIXES)
    for line in problems:
        log(f"[hand3d label] {line}")
    if not items:
        raise CommandError("no images or videos to label")
    out = Path(args.out)
    settings = lab.LabelSettings(width=args.size[0], height=args.size[1], hfov_deg=args.hfov,
                                 negatives=args.negatives, mirrored_input=args.mirrored_input, every=args.every,
                                 merge=merge, mask=mask)
    try:
        python = client.find_teacher_python(args.teacher_python)
        version = client.teacher_version(python)
        cache = lab.ReplyCache(out / lab.CACHE_DIR)
    except client.TeacherError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot write {out}: {exc}") from None
    teacher_settings = dict(client.DEFAULT_SETTINGS, max_side=args.max_side)

    def make_teacher(i):
        return client.TeacherProcess(python, out / lab.CACHE_DIR / f"teacher-{i}.log", **teacher_settings)

    started = time.monotonic()
    try:
        asked = lab.run_teacher(items, cache, make_teacher, args.workers, args.every, args.size,
                                args.max_side, progress=not args.no_progress, log=log)
        teacher_s = time.monotonic() - started
        photos, samples, files, counts = lab.plan_samples(items, cache, settings, log=log)
    except client.TeacherError as exc:
        raise CommandError(f"{exc} (finished photos are kept: re-run to resume)") from None
    except OSError as exc:
        raise CommandError(f"cannot write {out / lab.CACHE_DIR}: {exc}") from None
    finally:
        cache.close()
    (out / lab.FILES_JSON).write_text(json.dumps(files, indent=0) + "\n")
    summary = ", ".join(f"{k} {v}" for k, v in counts.items() if isinstance(v, int) and v)
    if not samples:
        raise CommandError(f"no samples: {summary}")
    info = {
        "kind": "real-teacher", "fields": lab.LABEL_FIELDS,
        "teacher": {"name": TEACHER_NAME, "version": version.get("version"), "settings": teacher_settings,
                    "views": "photo and its horizontal mirror", "merge": merge.to_dict()},
        "sources": [asdict(s) for s in sources], "size": list(args.size), "counts": counts,
        "mask": mask.to_dict(), "hfov_deg_nominal": args.hfov, "negatives": args.negatives, "every": args.every,
        "mirrored_input": args.mirrored_input,
        "files": lab.FILES_JSON, "keypoint_order": "public (= MediaPipe)",
    }
    if args.rewrite:
        from hand3d_ros.data.shards import MANIFEST_NAME

        for old in [out / MANIFEST_NAME, *out.glob("shard-*.npz")]:
            old.unlink()
    started = time.monotonic()
    try:
        manifest = write_shards(lab.LabelSource(photos, samples, settings), out, len(samples), args.shard_size,
                                args.workers, info=info, progress=not args.no_progress, description="samples")
    except ShardError as exc:
        raise CommandError(f"{exc} (or add --rewrite: new shards from the cached teacher replies)") from None
    except OSError as exc:
        raise CommandError(f"cannot write {out}: {exc}") from None
    shards_s = time.monotonic() - started
    print(f"hand3d label: {len(samples)} samples in {out} ({summary})")
    rate = f", {asked / teacher_s:.1f}/s" if asked and teacher_s > 0 else ""
    print(f"hand3d label: teacher {asked} new photos/frames in {teacher_s:.0f} s{rate}; "
          f"shards {manifest['count']} samples in {shards_s:.0f} s ({args.workers} workers)")
    return 0
