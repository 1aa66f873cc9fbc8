"""`hand3d train`: train HandSegNet, PoseNet, PosePrior (or the direct-regression baseline).

    hand3d train posenet --data SHARD_DIR [--val SHARD_DIR] --out RUN_DIR --config lite --schedule cpu-quick

Writes ``RUN_DIR/<network>.pt`` (a run folder holding all three networks is a weights
folder for ``load_model_set``), ``checkpoint.pt`` (every N steps and on Ctrl-C),
``log.jsonl`` (loss, lr, images/s, val loss) and ``run.json``. Re-running the same
command resumes. Schedules: ``hand3d_ros.training.configs``.
"""
from __future__ import annotations

from hand3d_ros.cli import non_negative_int, positive_int, unit_interval

NETWORK_CHOICES = ("handsegnet", "posenet", "poseprior", "poseprior-direct")
SCHEDULE_CHOICES = ("paper", "cpu-quick", "cpu-long", "real-finetune", "side-head", "test", "test-real")




def configure(parser):
    parser.add_argument("network", choices=NETWORK_CHOICES, help="network to train")
    parser.add_argument("--data", required=True, action="append",
                        help="training data: shard folder (hand3d render, hand3d label) or KIND:ROOT[:SPLIT] "
                             "(rhd, stb, freihand); a mixture as SOURCE*WEIGHT given several times or "
                             "comma-separated (each batch comes from one source, drawn by weight)")
    parser.add_argument("--val", default=None, action="append", help="validation data (same forms as --data)")
    parser.add_argument("--out", required=True, help="run folder (created; an existing run is resumed)")
    parser.add_argument("--config", choices=("lite", "paper"), default="lite", help="network size (default lite)")
    parser.add_argument("--schedule", choices=SCHEDULE_CHOICES, default="paper",
                        help="training schedule (default paper; cpu-quick for the lite nets on a CPU; side-head: "
                             "PoseNet's side head alone, --init-from trained weights)")
    parser.add_argument("--steps", type=positive_int, default=None,
                        help="override the schedule's steps (lr boundaries scale in proportion)")
    parser.add_argument("--batch-size", type=positive_int, default=None, help="override the schedule's batch size")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, data order, augmentation (default 0)")
    parser.add_argument("--maps-from", default="", metavar="POSENET_PT",
                        help="poseprior: train on this PoseNet's score maps of the training images instead "
                             "of Gaussians at the true keypoints (what the pipeline feeds PosePrior)")
    parser.add_argument("--init-from", default="", metavar="WEIGHTS_PT",
                        help="start from these weights of the same network (fine-tuning)")
    parser.add_argument("--input-size", default=None, metavar="WxH",
                        help="input size replacing the table's, e.g. 224x168 (HandSegNet: the frame size it "
                             "reads; it is fully convolutional, so --init-from weights of another size fit)")
    parser.add_argument("--width", type=unit_interval, default=None,
                        help="channel multiplier replacing the table's, in (0, 1] (HandSegNet: --init-from "
                             "weights of a wider one keep their channels with the largest batch-norm scales; "
                             "pays for a larger --input-size)")
    parser.add_argument("--crop-jitter", type=float, nargs=2, default=None, metavar=("CENTRE", "LOG_SIDE"),
                        help="PoseNet/PosePrior: replace the schedule's crop jitter: std of the crop-centre shift "
                             "(fraction of the window side) and of log(crop side); each in [0, 0.5] (real-finetune: "
                             "0.08 0.17, the spread of the pipeline's own crops)")
    parser.add_argument("--mosaic", type=float, default=None, metavar="P",
                        help="HandSegNet: probability that a training frame becomes a 2x2 mosaic of four "
                             "half-size frames (more distant hands); default the schedule's")
    parser.add_argument("--device", default="auto",
                        help="where the network trains: auto (CUDA when available), cpu, cuda or cuda:N; batches are "
                             "augmented there too, with the same random draws on any device (default auto)")
    parser.add_argument("--workers", type=non_negative_int, default=1,
                        help="DataLoader decode processes (default 1; 0 = in the main process)")
    parser.add_argument("--threads", type=non_negative_int, default=0,
                        help="torch threads of the training process (default 0: CPU cores - workers, >= 1)")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="stop after this many minutes (checkpoint + weights; re-run to continue)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _augment_overrides(args):
    """``--crop-jitter CENTRE LOG_SIDE`` and ``--mosaic P`` as :class:`Augment` fields
    (None: the schedule's own)."""
    fields = {}
    if args.crop_jitter is not None:
        fields.update(crop_center_noise=args.crop_jitter[0], crop_scale_noise=args.crop_jitter[1])
    if args.mosaic is not None:
        fields["mosaic"] = args.mosaic
    return fields or None


def run(args) -> int:
    import os

    import torch

    from hand3d_ros.cli import CommandError, parse_wxh
    from hand3d_ros.training.configs import get_config
    from hand3d_ros.training.datasets import DataError
    from hand3d_ros.training.loops import RunMismatch, train

    threads = args.threads or max(1, (os.cpu_count() or 1) - args.workers)
    torch.set_num_threads(threads)
    try:
        for path in (args.maps_from, args.init_from):
            if path and not os.path.isfile(path):
                raise CommandError(f"no such weight file: {path}")
        config = get_config(args.network, args.schedule, args.seed, maps_from=args.maps_from,
                            init_from=args.init_from, steps=args.steps, batch_size=args.batch_size,
                            augment=_augment_overrides(args))
        if config.train_only and not args.init_from:
            raise CommandError(f"--schedule {args.schedule} trains only {', '.join(config.train_only)}: "
                               "give the trained weights to start from with --init-from")
        input_size = parse_wxh(args.input_size, "--input-size", 8, multiple=8)[::-1] if args.input_size else None
        result = train(args.network, args.data, args.out, args.config, config, val=args.val,
                       num_workers=args.workers, input_size=input_size, width=args.width, device=args.device,
                       time_limit_s=args.time_limit * 60 if args.time_limit else None,
                       progress=not args.no_progress)
    except (DataError, RunMismatch, ValueError, FloatingPointError) as exc:
        raise CommandError(str(exc)) from None
    except KeyboardInterrupt:
        print(f"\nhand3d train: interrupted; checkpoint saved in {args.out} (re-run the same command to resume)")
        return 130
    state = "finished" if result.finished else "stopped early (re-run to continue)"
    print(f"hand3d train: {args.network} {state} at step {result.step}, loss {result.last_loss:.4g}, "
          f"{result.images_per_s:.1f} images/s; weights {result.weights}")
    return 0
