"""One training loop for every network: checkpoints, resume, progress, log, final weights.

Run folder layout::

    checkpoint-<network>.pt   latest state (model, optimiser, step, RNG), written atomically
    log-<network>.jsonl       one JSON object per logged step: step, loss, lr, images_per_s,
                              elapsed_s (and val_loss on validation steps)
    run-<network>.json        what the run is (network, config, schedule, data); a re-run
                              must match it to resume
    <network>.pt              final weights (hand3d_ros.models.save_weights) with metadata
                              (poseprior_direct.pt for the direct baseline)

The three networks of a pipeline may share one run folder, which then is a weights
folder for :func:`hand3d_ros.inference.load_model_set`.

Re-running the same command resumes from ``checkpoint.pt``; Ctrl-C (KeyboardInterrupt)
writes a checkpoint before leaving. A run that reaches ``time_limit_s`` also writes a
checkpoint and its weights (marked as stopped early) and can be resumed later.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from hand3d_ros.core.keypoints import KEYPOINT_NAMES
from hand3d_ros.models.weights import load_state_into, save_atomically, save_weights
from hand3d_ros.training.configs import TrainConfig
from hand3d_ros.training.datasets import MixedDataset, SampleDataset, make_loader, open_data, step_generator
from hand3d_ros.training.tasks import Task, make_task

#: Per-network file names in a run folder (several networks may share one folder).
CHECKPOINT = "checkpoint-{network}.pt"
LOG = "log-{network}.jsonl"
RUN_INFO = "run-{network}.json"
#: Stream ids of step_generator: training batches and validation batches never share noise.
TRAIN_STREAM, VAL_STREAM = 0, 1


class RunMismatch(ValueError):
    """The run folder holds a different run (one readable line)."""


@dataclass
class RunResult:
    """What :func:`train` did."""

    step: int              #: steps done in total
    finished: bool         #: the schedule's steps are all done
    interrupted: bool      #: stopped by Ctrl-C or the time limit
    weights: Optional[Path]  #: final weights file (None if interrupted by Ctrl-C)
    last_loss: float       #: mean training loss of the last logged interval
    images_per_s: float    #: mean training throughput of this session


#: TrainConfig fields added after runs already existed (path -> default in to_dict()).
_NEWER_FIELDS = {("train_only",): [], ("loss", "maps"): 1.0}


def _run_info(network: str, config: str, train_config: TrainConfig, data, input_size=None, width=None) -> dict:
    info = {"network": network, "config": config, "train": train_config.to_dict(), "data": data.describe()}
    info = json.loads(json.dumps(info))
    for *parents, key in _NEWER_FIELDS:  # left out at their default: runs written before still resume
        fields = info["train"]
        for parent in parents:
            fields = fields[parent]
        if fields[key] == _NEWER_FIELDS[(*parents, key)]:
            del fields[key]
    if input_size is not None:
        info["input_size"] = list(input_size)
    if width is not None:
        info["width"] = float(width)
    return info


def _check_resume(run_dir: Path, info: dict) -> None:
    path = run_dir / RUN_INFO.format(network=info["network"])
    if not path.is_file():
        return
    old = json.loads(path.read_text())
    for key in ("network", "config", "train", "data", "input_size", "width"):
        if old.get(key) != info.get(key):
            raise RunMismatch(f"{run_dir} holds a different run ({key} differs); use another --out or delete it")


def _trim_log(path: Path, step: int) -> None:
    """Drop log lines past ``step`` (written after the last checkpoint of a killed run)."""
    if not path.is_file():
        return
    keep = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in keep))


def resolve_training_device(device: str) -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; otherwise the named device (ValueError
    with one readable line when it is CUDA and this machine has none)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r} (auto, cpu, cuda or cuda:N)") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA GPU here (use --device cpu)")
    return resolved


def batch_to(batch: dict, device: torch.device) -> dict:
    """A collated batch with its tensors on ``device`` (other values as they are)."""
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def validation_loss(task: Task, data: SampleDataset, batch_size: int, batches: int, seed: int) -> float:
    """Mean loss over the first ``batches`` batches of ``data`` (fixed order and augmentation)."""
    model = task.model
    modes = [(module, module.training) for module in model.modules()]  # frozen parts stay in eval
    model.eval()
    total, count = 0.0, 0
    loader = make_loader(data, batch_size, seed, num_workers=0, shuffle=False)
    with torch.no_grad():
        for index, batch in enumerate(loader):
            if index >= batches or index * batch_size >= len(data):
                break
            prepared = task.prepare(batch_to(batch, next(model.parameters()).device),
                                    step_generator(seed, index, VAL_STREAM))
            total += float(task.loss(prepared))
            count += 1
    for module, training in modes:
        module.training = training
    return total / max(count, 1)


def trainable(model: nn.Module, train_only) -> list:
    """Freeze all but the top-level modules named in ``train_only`` (``()``: nothing frozen)
    and return the parameters that learn. Raises ``ValueError`` naming an unknown module."""
    if not train_only:
        return list(model.parameters())
    names = dict(model.named_children())
    unknown = [name for name in train_only if name not in names]
    if unknown:
        raise ValueError(f"train_only names no module of this {type(model).__name__}: {', '.join(unknown)} "
                         f"(modules: {', '.join(names)})")
    model.requires_grad_(False)
    for name in train_only:
        names[name].requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def train_mode(model: nn.Module, train_only) -> None:
    """Train mode for what learns; eval mode (batch norm statistics fixed) for what is frozen."""
    if not train_only:
        model.train()
        return
    model.eval()
    for name in train_only:
        getattr(model, name).train()


def train(network: str, data, run_dir, config: str = "lite", train_config: TrainConfig = None,
          val=None, num_workers: int = 1, time_limit_s: Optional[float] = None, progress: bool = True,
          stop_after: Optional[int] = None, input_size=None, width=None, device: str = "cpu") -> RunResult:
    """Train (or resume training) ``network`` on ``data`` into ``run_dir``.

    Args:
        network: a name in :data:`hand3d_ros.training.configs.NETWORKS`.
        data: a :class:`SampleDataset`, a :class:`MixedDataset` or their sources (a shard
            folder, ``KIND:ROOT``, ``SOURCE*WEIGHT``, a list or comma-separated several).
        run_dir: the run folder (created; resumed if it holds this run's checkpoint).
        config: network table name (``"lite"``, ``"paper"``).
        train_config: :class:`TrainConfig` (schedule, augmentation, seed).
        val: optional validation data (same kinds as ``data``).
        num_workers: DataLoader decode processes (0 = in this process).
        time_limit_s: stop (checkpoint + weights marked as early) after this wall time.
        progress: show a tqdm bar with loss and images/s.
        stop_after: leave after this global step as if interrupted (checkpoint written,
            no weights); for tests of resuming.
        input_size: ``(H, W)`` input size replacing the table's (HandSegNet is fully
            convolutional: fine-tuning at another frame size keeps its weights).
        width: channel multiplier replacing the table's (None: the table's); with
            ``init_from`` weights of a wider plain conv stack (HandSegNet), their channels
            with the largest batch-norm scales are kept (:mod:`hand3d_ros.models.narrow`).
        device: torch device of the networks and the batch augmentation (``"cpu"``,
            ``"cuda"``, ``"cuda:1"``; ``"auto"``: CUDA when available). Augmentation draws
            its random numbers on the CPU, so a run's batches are the same on any device;
            checkpoints and weights are stored as CPU tensors (a run resumes on another device).

    Returns:
        :class:`RunResult`. Raises :class:`RunMismatch` for a folder of another run.
    """
    if train_config is None:
        raise ValueError("train_config is required (see hand3d_ros.training.configs.get_config)")
    device = resolve_training_device(device)
    sched, seed = train_config.schedule, train_config.seed
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    task = make_task(network, config, train_config.augment, train_config.loss, maps_from=train_config.maps_from,
                     input_size=input_size, width=width)
    history = []
    if train_config.init_from:  # a checkpoint (resuming) overrides it below
        earlier = dict(load_state_into(task.model, train_config.init_from, fresh=train_config.train_only,
                                       narrow=width is not None).get("training") or {})
        history = list(earlier.pop("history", []))
        if earlier:
            history.append(earlier)
    if not isinstance(data, (SampleDataset, MixedDataset)):
        data = open_data(data, task.fields)
    if val is not None and not isinstance(val, (SampleDataset, MixedDataset)):
        val = open_data(val, task.fields)
    info = _run_info(network, config, train_config, data, input_size, width)
    _check_resume(run_dir, info)
    (run_dir / RUN_INFO.format(network=network)).write_text(json.dumps(info, indent=2) + "\n")

    model = task.to(device)
    optimiser = torch.optim.Adam(trainable(model, train_config.train_only), lr=sched.lr_at(0),
                                 weight_decay=sched.weight_decay)
    step, elapsed_before = 0, 0.0
    ckpt_path = run_dir / CHECKPOINT.format(network=network)
    log_path = run_dir / LOG.format(network=network)
    if ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        step, elapsed_before = int(state["step"]), float(state.get("elapsed_s", 0.0))
    _trim_log(log_path, step)

    def checkpoint(elapsed: float):
        weights = {name: t.detach().cpu() for name, t in model.state_dict().items()}  # resumable anywhere
        save_atomically({"model": weights, "optimizer": optimiser.state_dict(), "step": step,
                         "torch_rng": torch.get_rng_state(), "elapsed_s": elapsed, "run": info}, ckpt_path)

    train_mode(model, train_config.train_only)
    start = time.monotonic()
    interrupted, images_done, last_loss = False, 0, float("nan")
    bar = None
    if progress and step < sched.steps:
        from tqdm import tqdm

        bar = tqdm(total=sched.steps, initial=step, desc=network, unit="step", dynamic_ncols=True)
    log = open(log_path, "a")
    loader = make_loader(data, sched.batch_size, seed, start_batch=step, num_workers=num_workers)
    interval_loss, interval_n, interval_images, interval_t = 0.0, 0, 0, time.monotonic()
    try:
        batches = iter(loader)
        while step < sched.steps:
            batch = batch_to(next(batches), device)
            lr = sched.lr_at(step)
            for group in optimiser.param_groups:
                group["lr"] = lr
            prepared = task.prepare(batch, step_generator(seed, step, TRAIN_STREAM))
            loss = task.loss(prepared)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            step += 1
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(f"{network}: loss is {value} at step {step}; lower the learning rate")
            n = task.batch_images(prepared)
            images_done += n
            interval_loss, interval_n, interval_images = interval_loss + value, interval_n + 1, interval_images + n
            is_val = val is not None and (step % sched.val_every == 0 or step == sched.steps)
            if step % sched.log_every == 0 or step == sched.steps or is_val:
                now = time.monotonic()
                last_loss = interval_loss / interval_n
                record = {"step": step, "loss": last_loss, "lr": lr,
                          "images_per_s": interval_images / max(now - interval_t, 1e-9),
                          "elapsed_s": elapsed_before + now - start}
                if is_val:
                    record["val_loss"] = validation_loss(task, val, sched.batch_size, sched.val_batches, seed)
                log.write(json.dumps(record) + "\n")
                log.flush()
                if bar is not None:
                    bar.set_postfix(loss=f"{last_loss:.4g}", img_s=f"{record['images_per_s']:.1f}")
                interval_loss, interval_n, interval_images, interval_t = 0.0, 0, 0, time.monotonic()
            if bar is not None:
                bar.update(1)
            if step % sched.checkpoint_every == 0:
                checkpoint(elapsed_before + time.monotonic() - start)
            if stop_after is not None and step >= stop_after and step < sched.steps:
                checkpoint(elapsed_before + time.monotonic() - start)
                return RunResult(step, False, True, None, last_loss, images_done / max(time.monotonic() - start, 1e-9))
            if time_limit_s is not None and time.monotonic() - start >= time_limit_s:
                interrupted = True
                break
    except KeyboardInterrupt:
        checkpoint(elapsed_before + time.monotonic() - start)
        if bar is not None:
            bar.close()
        log.close()
        raise
    finally:
        if bar is not None:
            bar.close()
        log.close()
        del loader
    elapsed = elapsed_before + time.monotonic() - start
    checkpoint(elapsed)
    weights = run_dir / task.weight_file
    finished = step >= sched.steps
    metadata = {
        "training": json.loads(json.dumps({
            "network": network, "config": config, "steps_done": step, "steps_planned": sched.steps,
            "finished": finished, "schedule": train_config.to_dict(), "data": data.describe(),
            "val": val.describe() if val is not None else None, "train_seconds": round(elapsed, 1),
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "final_loss": last_loss, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "target": "w_rel (direct regression)" if network == "poseprior-direct" else "standard",
            # Earlier runs these weights continue from (``init_from``), oldest first.
            "history": history,
        })),
        "notes": [] if finished else [f"stopped early at step {step} of {sched.steps} (time limit)"],
    }
    if network != "handsegnet":
        metadata["keypoint_order"] = list(KEYPOINT_NAMES)
    save_weights(weights, model, metadata)
    return RunResult(step, finished, interrupted, weights, last_loss,
                     images_done / max(time.monotonic() - start, 1e-9))
