"""`hand3d render`: render a synthetic hand dataset into shards.

Writes ``--num`` single-hand samples as ``OUT_DIR/shard-*.npz`` (+ ``manifest.json``)
and, with ``--sequences K``, K moving-hand sequences of ``--frames`` frames into
``OUT_DIR/sequences/`` (one shard per sequence; ``--two-hands`` puts a left and a right
hand in every frame). Sample fields: ``hand3d_ros.data.render.scene.SAMPLE_FIELDS``.

Splits: ``--split val`` (or ``test``) draws every random choice from a different seed
stream than ``train`` (the split id is part of the per-sample seed), so no pose,
hand shape, skin, camera or background is shared with the train split for the same
``--seed``; background photos found on the machine are divided between the splits
by a hash of their file names.

Re-running the same command resumes: finished shards are kept.
"""
from __future__ import annotations

from hand3d_ros.cli import non_negative_int, positive_int




def configure(parser):
    parser.add_argument("out_dir", metavar="OUT_DIR", help="output folder (created; resumed if it exists)")
    parser.add_argument("--num", type=non_negative_int, default=1000, help="single-hand samples (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument("--size", type=positive_int, default=320, help="square image size in pixels (default 320)")
    parser.add_argument("--shard-size", type=positive_int, default=256, help="samples per shard (default 256)")
    parser.add_argument("--workers", type=positive_int, default=2, help="worker processes (default 2)")
    parser.add_argument("--split", choices=("train", "val", "test"), default="train",
                        help="seed stream and photo subset (default train)")
    parser.add_argument("--sequences", type=non_negative_int, default=0, help="also render K sequences")
    parser.add_argument("--frames", type=positive_int, default=30, help="frames per sequence (default 30)")
    parser.add_argument("--fps", type=float, default=30.0, help="sequence frame rate for timestamps (default 30)")
    parser.add_argument("--two-hands", action="store_true", help="sequences show a left and a right hand")
    parser.add_argument("--no-depth", action="store_true", help="do not store depth maps")
    parser.add_argument("--supersample", type=positive_int, default=2,
                        help="anti-aliasing factor (1 = off, default 2)")
    parser.add_argument("--asset-dir", default=None,
                        help="folder with left.glb/right.glb (default $HAND3D_ASSET_DIR or <repo>/cache/assets/webxr-hand)")
    parser.add_argument("--background-dir", action="append", default=[],
                        help="extra folder of background photos (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from pathlib import Path

    from hand3d_ros.cli import CommandError
    from hand3d_ros.data.render.assets import AssetMissingError
    from hand3d_ros.data.render.scene import RenderConfig, SampleSource
    from hand3d_ros.data.render.sequences import SequenceConfig, SequenceSource
    from hand3d_ros.data.shards import ShardError, write_shards

    if args.num == 0 and args.sequences == 0:
        raise CommandError("nothing to render: give --num N and/or --sequences K")
    for folder in args.background_dir:
        if not Path(folder).is_dir():
            raise CommandError(f"--background-dir {folder} is not a folder")
    config = RenderConfig(height=args.size, width=args.size, split=args.split, with_depth=not args.no_depth,
                          supersample=args.supersample, background_dirs=tuple(args.background_dir))
    out = Path(args.out_dir)
    try:
        if args.num:
            source = SampleSource(config, args.seed, args.asset_dir)
            write_shards(source, out, args.num, args.shard_size, args.workers, info=source.info(),
                         progress=not args.no_progress, description="samples")
        if args.sequences:
            seq = SequenceConfig(num_frames=args.frames, fps=args.fps)
            source = SequenceSource(config, args.seed, seq, args.two_hands, args.asset_dir)
            write_shards(source, out / "sequences", args.sequences * args.frames, args.frames, args.workers,
                         info=source.info(), progress=not args.no_progress, description="sequence frames")
    except (AssetMissingError, ShardError) as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot write {out}: {exc}") from None
    print(f"hand3d render: wrote {args.num} samples and {args.sequences} sequences to {out}")
    return 0
