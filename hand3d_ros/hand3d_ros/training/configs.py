"""Training configurations as data: optimiser schedules and augmentation settings.

A :class:`Schedule` says how long and how fast a network trains (Adam, piecewise
constant learning rate); an :class:`Augment` says how the batches are perturbed.
:data:`SCHEDULES` maps ``network -> schedule name -> TrainConfig``.

Schedules:

- ``paper``: DESIGN.md section 3. HandSegNet Adam, batch 8, 40k iterations, lr
  1e-5 / 1e-6 / 1e-7 at 20k / 30k; PoseNet Adam, batch 8, 30k iterations, lr
  1e-4 / 1e-5 / 1e-6 at 10k / 20k with crop-centre noise, keypoint noise and contrast
  0.5-1.0; PosePrior on score maps of (noisy) ground-truth keypoints plus random
  scaling and translation of the maps. The paper gives no PosePrior optimiser settings;
  we use Adam, batch 8, 30k iterations, lr 1e-5 / 1e-6 / 1e-7 at 10k / 20k (keypoint
  noise 2.5 px at a 256 crop, map scale 0.9-1.1, translation 5% of the crop: our choices).
- ``cpu-quick``: the lite networks trained from scratch on a 2-core CPU in well under
  two hours each (measured: see the training report). Learning rates are higher than
  the paper's: the paper's HandSegNet lr 1e-5 assumed an ImageNet/CPM-pretrained
  initialisation; from scratch Adam with 1e-5 barely moves in a few thousand steps, so
  HandSegNet and PoseNet use 1e-3 (the usual Adam default, stable for these small
  VGG-like nets with leaky ReLU) decayed 10x twice, as the paper's shape of schedule.
  PosePrior uses 1e-3 with a larger batch (it never sees pixels, so steps are cheap).
  Keypoint noise is off for PoseNet (noisy targets slow short runs down), and its
  score-map loss weights the cells under the Gaussians 11x (:class:`LossWeights`).
- ``cpu-long``: the same with 3x the steps (an overnight CPU run).
- ``real-finetune``: HandSegNet and PoseNet fine-tuned (``--init-from`` the render-trained
  weights) on teacher-labelled real photos mixed with renders (``--data REAL*3,RENDERS*1``):
  lower learning rates, mirrored crops with the side label swapped, in-plane rotation,
  colour casts, blur and noise; HandSegNet also zooms the frame (hands from a tenth to most
  of the image). From random weights the same data learns far slower on a CPU (DESIGN.md 8).
  PosePrior fine-tunes on the teacher's 3D (world landmarks, wrist-relative) of real hands
  beside the rendered poses.
- ``side-head``: PoseNet's side head alone (``--init-from`` trained weights; everything
  else frozen, batch norm statistics included) on the real-finetune crops and
  augmentation. A new head (another ``side_grid``/``side_reads``) starts from the
  initialisation. The keypoints stay exactly as they were.
- ``test``: a handful of steps for unit tests (no decay).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional, Tuple

from hand3d_ros.models.tables import NUM_HAND_LOGITS, fc

#: Networks ``hand3d train`` knows; ``poseprior-direct`` is the direct-regression
#: baseline (PosePrior's canonical stream regressing ``w_rel``; the paper's Table 2).
NETWORKS = ("handsegnet", "posenet", "poseprior", "poseprior-direct")


@dataclass(frozen=True)
class Schedule:
    """Optimiser schedule (Adam, piecewise constant learning rate)."""

    steps: int = field(default=1000, metadata={"help": "optimiser steps; >= 1"})
    batch_size: int = field(default=8, metadata={"help": "samples per step; >= 1"})
    lr: Tuple[float, ...] = field(default=(1e-4,), metadata={
        "help": "learning rate of each phase; len = len(boundaries) + 1; each > 0"})
    boundaries: Tuple[int, ...] = field(default=(), metadata={
        "help": "first step of phases 1, 2, ...; increasing, each in [1, steps)"})
    weight_decay: float = field(default=0.0, metadata={"help": "Adam L2 weight decay; >= 0"})
    checkpoint_every: int = field(default=250, metadata={"help": "steps between checkpoints; >= 1"})
    log_every: int = field(default=10, metadata={"help": "steps between log lines; >= 1"})
    val_every: int = field(default=500, metadata={"help": "steps between validation losses; >= 1"})
    val_batches: int = field(default=8, metadata={"help": "batches of the validation loss; >= 1"})

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("Schedule.steps and batch_size must be >= 1")
        if len(self.lr) != len(self.boundaries) + 1 or any(v <= 0 for v in self.lr):
            raise ValueError("Schedule.lr needs len(boundaries) + 1 positive values")
        if list(self.boundaries) != sorted(self.boundaries) or any(b < 1 for b in self.boundaries):
            raise ValueError("Schedule.boundaries must be increasing and >= 1")
        if min(self.checkpoint_every, self.log_every, self.val_every, self.val_batches) < 1:
            raise ValueError("Schedule.*_every and val_batches must be >= 1")

    def lr_at(self, step: int) -> float:
        """Learning rate of (0-based) ``step``."""
        phase = sum(1 for b in self.boundaries if step >= b)
        return float(self.lr[phase])


@dataclass(frozen=True)
class Augment:
    """Batch perturbations (all applied on batches, torch, deterministic per step)."""

    crop_center_noise: float = field(default=0.0, metadata={
        "help": "std of the crop-centre shift as a fraction of the crop window side; [0, 0.5]"})
    crop_scale_noise: float = field(default=0.0, metadata={
        "help": "std of log(crop side) jitter (0.1 = about 10%); [0, 0.5]"})
    crop_margin: float = field(default=1.25, metadata={
        "help": "GT crop side / larger side of the visible keypoints' box; [1, 3] (pipeline: 1.25)"})
    keypoint_noise_px: float = field(default=0.0, metadata={
        "help": "std of Gaussian noise on the keypoints used to build score maps, crop pixels "
                "at a 256 crop (scaled with the crop size); >= 0"})
    contrast: Tuple[float, float] = field(default=(1.0, 1.0), metadata={
        "help": "contrast factor range: x' = mean + c (x - mean), c ~ U(lo, hi); 0 < lo <= hi"})
    hflip: bool = field(default=False, metadata={
        "help": "random horizontal flips: HandSegNet (the mask is side-agnostic); PoseNet (a flipped "
                "left hand is a right hand: the side label swaps, the keypoints keep their anatomical "
                "order)"})
    zoom: Tuple[float, float] = field(default=(1.0, 1.0), metadata={
        "help": "HandSegNet: random zoom of the whole frame, log-uniform in (lo, hi) (> 1 zooms in: "
                "hands larger; < 1 zooms out: hands smaller, the border unlabelled), with a random "
                "shift that keeps the zoomed frame covering or inside the input; 0 < lo <= hi"})
    mosaic: float = field(default=0.0, metadata={
        "help": "HandSegNet: probability that a frame becomes a 2x2 mosaic of itself and three other "
                "frames of the batch, each at half size (hands half as large, among real surroundings "
                "instead of a zoom's empty border); [0, 1]"})
    rotation_deg: float = field(default=0.0, metadata={
        "help": "PoseNet: random in-plane rotation of the crop about its centre, U(-r, r) degrees; [0, 180]"})
    channel_gain: float = field(default=0.0, metadata={
        "help": "std of log(gain) per colour channel and image (white balance, skin and light colour); [0, 1]"})
    pixel_noise: float = field(default=0.0, metadata={
        "help": "largest std of Gaussian pixel noise (normalised units, 1 = full range); each image "
                "draws its std from U(0, this); [0, 0.5]"})
    blur_prob: float = field(default=0.0, metadata={
        "help": "probability that an image is blurred (3x3 or 5x5 box, motion and defocus stand-in); [0, 1]"})
    map_scale: Tuple[float, float] = field(default=(1.0, 1.0), metadata={
        "help": "PosePrior: random scaling of the score maps about the crop centre, U(lo, hi); > 0"})
    map_translate: float = field(default=0.0, metadata={
        "help": "PosePrior: std of the map translation, fraction of the crop side; [0, 0.5]"})

    def __post_init__(self):
        if not 0 <= self.crop_center_noise <= 0.5 or not 0 <= self.map_translate <= 0.5:
            raise ValueError("Augment.crop_center_noise and map_translate must be in [0, 0.5]")
        if not 0 <= self.crop_scale_noise <= 0.5:
            raise ValueError("Augment.crop_scale_noise must be in [0, 0.5]")
        if not 1.0 <= self.crop_margin <= 3.0:
            raise ValueError("Augment.crop_margin must be in [1, 3]")
        if self.keypoint_noise_px < 0:
            raise ValueError("Augment.keypoint_noise_px must be >= 0")
        if not 0 <= self.rotation_deg <= 180:
            raise ValueError("Augment.rotation_deg must be in [0, 180]")
        if not 0 <= self.mosaic <= 1:
            raise ValueError("Augment.mosaic must be in [0, 1]")
        if not 0 <= self.channel_gain <= 1 or not 0 <= self.pixel_noise <= 0.5 or not 0 <= self.blur_prob <= 1:
            raise ValueError("Augment.channel_gain must be in [0, 1], pixel_noise in [0, 0.5], blur_prob in [0, 1]")
        for name in ("contrast", "map_scale", "zoom"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"Augment.{name} needs 0 < lo <= hi, got {(lo, hi)}")


@dataclass(frozen=True)
class LossWeights:
    """Weights inside the training losses (see :mod:`hand3d_ros.training.losses`)."""

    map_foreground: float = field(default=0.0, metadata={
        "help": "PoseNet: each score-map cell's squared error is weighted 1 + w * target, so the "
                "cells under the Gaussians count up to 1 + w times more. The minimum is still the "
                "target (calibrated maps for PosePrior), but training leaves the all-zero plateau "
                "far sooner from scratch. 0: the paper's plain L2; >= 0"})
    side: float = field(default=5.0, metadata={
        "help": "PoseNet with a side head: weight of the hand-side cross-entropy (0.69 at chance) "
                "beside the score-map loss (tens to about a hundred); >= 0"})
    maps: float = field(default=1.0, metadata={
        "help": "PoseNet: weight of the score-map loss; 0 when only the side head learns (the "
                "logged loss is then the side's alone); >= 0"})

    def __post_init__(self):
        if self.map_foreground < 0 or self.side < 0 or self.maps < 0:
            raise ValueError("LossWeights must be >= 0")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run besides the data and the network table."""

    schedule: Schedule
    augment: Augment
    seed: int = field(default=0, metadata={"help": "seed of weights, data order and augmentation"})
    loss: LossWeights = field(default_factory=LossWeights, metadata={"help": "weights inside the losses"})
    maps_from: str = field(default="", metadata={
        "help": "PosePrior only: a PoseNet weight file; its score maps on jittered crops of the training "
                "images replace the Gaussians drawn at the true keypoints, so PosePrior learns to lift "
                "what the pipeline feeds it (blurred, doubled or misplaced peaks included). '' = Gaussians"})
    init_from: str = field(default="", metadata={
        "help": "a weight file of the same network to start from (fine-tuning) instead of the "
                "initialisation; '' = from scratch"})
    train_only: Tuple[str, ...] = field(default=(), metadata={
        "help": "names of the top-level modules that learn (e.g. ('side_head',)); every other "
                "parameter stays as initialised or loaded and every other batch norm keeps its "
                "statistics. With init_from, tensors of these modules that do not fit the file "
                "(a new head) start from the initialisation. () = the whole network learns"})

    def __post_init__(self):
        if isinstance(self.train_only, str) or not all(isinstance(n, str) and n for n in self.train_only):
            raise ValueError("TrainConfig.train_only must be a tuple of module names")

    def to_dict(self) -> dict:
        """Plain dict (JSON- and weight-file-friendly)."""
        return dataclasses.asdict(self)


_PAPER_POSENET_AUG = Augment(crop_center_noise=0.05, keypoint_noise_px=2.5, contrast=(0.5, 1.0))
_CPU_POSENET_AUG = Augment(crop_center_noise=0.05, crop_scale_noise=0.1, contrast=(0.5, 1.0))
_PRIOR_AUG = Augment(crop_center_noise=0.05, keypoint_noise_px=2.5, map_scale=(0.9, 1.1), map_translate=0.05)
_SEG_AUG = Augment(contrast=(0.5, 1.0), hflip=True)
# Fine-tuning on teacher-labelled real photos (mixed with renders): the pixels of real
# cameras (colour casts, blur, noise), hands at every scale, both sides by mirroring.
_REAL_SEG_AUG = Augment(contrast=(0.6, 1.0), hflip=True, zoom=(0.6, 1.8), channel_gain=0.1, pixel_noise=0.03,
                        blur_prob=0.2)
# Crop jitter as the pipeline cuts real hands: its crops (mask windows, re-crops around its
# own keypoints) sit off the teacher's window by 0.075 / 0.084 of the side (std, u / v) and
# differ in log side by 0.17 (std; session 12, 400 test hands); the side head was right on
# 94 % of the crops near the teacher's and on 70 % of the others before training on these.
_REAL_POSENET_AUG = Augment(crop_center_noise=0.08, crop_scale_noise=0.17, contrast=(0.6, 1.0), hflip=True,
                            rotation_deg=30.0, channel_gain=0.1, pixel_noise=0.03, blur_prob=0.2)
# The side head learns from the teacher's handedness and from mirrored crops.
_REAL_POSENET_LOSS = LossWeights(map_foreground=10.0, side=10.0)
_SIDE_HEAD_LOSS = LossWeights(side=1.0, maps=0.0)
# From scratch on a CPU, plain L2 sat at the all-zero answer for 750 steps (median error
# 46 of 128 crop px); foreground weight 10 was at 35 px after 500 steps and kept falling.
_CPU_POSENET_LOSS = LossWeights(map_foreground=10.0)

SCHEDULES = {
    "handsegnet": {
        "paper": TrainConfig(Schedule(40000, 8, (1e-5, 1e-6, 1e-7), (20000, 30000), checkpoint_every=1000,
                                      val_every=2000), _SEG_AUG),
        "cpu-quick": TrainConfig(Schedule(3000, 8, (1e-3, 1e-4, 1e-5), (2000, 2700), checkpoint_every=200,
                                          val_every=500), _SEG_AUG),
        "cpu-long": TrainConfig(Schedule(9000, 8, (1e-3, 1e-4, 1e-5), (6000, 8000), checkpoint_every=250,
                                         val_every=1000), _SEG_AUG),
        "real-finetune": TrainConfig(Schedule(6000, 16, (3e-4, 1e-4, 3e-5), (3500, 5000), checkpoint_every=100,
                                              val_every=250), _REAL_SEG_AUG),
        "test": TrainConfig(Schedule(6, 2, (1e-3,), (), checkpoint_every=3, log_every=1, val_every=3,
                                     val_batches=1), _SEG_AUG),
    },
    "posenet": {
        "paper": TrainConfig(Schedule(30000, 8, (1e-4, 1e-5, 1e-6), (10000, 20000), checkpoint_every=1000,
                                      val_every=2000), _PAPER_POSENET_AUG),
        "cpu-quick": TrainConfig(Schedule(4000, 8, (1e-3, 1e-4, 1e-5), (2800, 3600), checkpoint_every=200,
                                          val_every=500), _CPU_POSENET_AUG, loss=_CPU_POSENET_LOSS),
        "cpu-long": TrainConfig(Schedule(12000, 8, (1e-3, 1e-4, 1e-5), (8000, 10500), checkpoint_every=250,
                                         val_every=1000), _CPU_POSENET_AUG, loss=_CPU_POSENET_LOSS),
        "real-finetune": TrainConfig(Schedule(6000, 32, (1e-4, 3e-5, 1e-5), (4000, 5200), checkpoint_every=100,
                                              val_every=250), _REAL_POSENET_AUG, loss=_REAL_POSENET_LOSS),
        "test": TrainConfig(Schedule(6, 2, (1e-3,), (), checkpoint_every=3, log_every=1, val_every=3,
                                     val_batches=1), _CPU_POSENET_AUG, loss=_CPU_POSENET_LOSS),
        "test-real": TrainConfig(Schedule(6, 2, (1e-3,), (), checkpoint_every=3, log_every=1, val_every=3,
                                          val_batches=1), _REAL_POSENET_AUG, loss=_REAL_POSENET_LOSS),
        "side-head": TrainConfig(Schedule(1500, 64, (1e-3, 3e-4), (1000,), checkpoint_every=100, val_every=250),
                                 _REAL_POSENET_AUG, loss=_SIDE_HEAD_LOSS, train_only=("side_head",)),
    },
    "poseprior": {
        "paper": TrainConfig(Schedule(30000, 8, (1e-5, 1e-6, 1e-7), (10000, 20000), checkpoint_every=1000,
                                      val_every=2000), _PRIOR_AUG),
        "cpu-quick": TrainConfig(Schedule(6000, 32, (1e-3, 1e-4, 1e-5), (4000, 5400), checkpoint_every=500,
                                          val_every=500), _PRIOR_AUG),
        "cpu-long": TrainConfig(Schedule(18000, 32, (1e-3, 1e-4, 1e-5), (12000, 16000), checkpoint_every=500,
                                         val_every=1000), _PRIOR_AUG),
        "real-finetune": TrainConfig(Schedule(3000, 32, (3e-4, 1e-4, 1e-5), (2000, 2700), checkpoint_every=250,
                                              val_every=500), _PRIOR_AUG),
        "test": TrainConfig(Schedule(6, 4, (1e-3,), (), checkpoint_every=3, log_every=1, val_every=3,
                                     val_batches=1), _PRIOR_AUG),
    },
}
SCHEDULES["poseprior-direct"] = SCHEDULES["poseprior"]


def get_config(network: str, schedule: str, seed: int = 0, maps_from: str = "", init_from: str = "",
               augment: Optional[dict] = None, **schedule_overrides) -> TrainConfig:
    """The :class:`TrainConfig` of ``network`` under ``schedule`` (a name in
    :data:`SCHEDULES`), with ``seed``, ``maps_from``, ``init_from`` (see
    :class:`TrainConfig`), any :class:`Augment` field replaced by ``augment`` (e.g.
    ``{"crop_scale_noise": 0.3}``) and any :class:`Schedule` field overridden (e.g.
    ``steps=100``, ``batch_size=4``; ``None`` values are ignored). Overriding ``steps``
    alone rescales the learning-rate boundaries in proportion."""
    if network not in SCHEDULES:
        raise ValueError(f"unknown network {network!r} (choose from {', '.join(NETWORKS)})")
    table = SCHEDULES[network]
    if schedule not in table:
        raise ValueError(f"unknown schedule {schedule!r} for {network} (choose from {', '.join(table)})")
    base = table[schedule]
    overrides = {k: v for k, v in schedule_overrides.items() if v is not None}
    if "steps" in overrides and "boundaries" not in overrides:  # keep the schedule's shape
        ratio = overrides["steps"] / base.schedule.steps
        overrides["boundaries"] = tuple(max(1, round(b * ratio)) for b in base.schedule.boundaries)
    sched = dataclasses.replace(base.schedule, **overrides) if overrides else base.schedule
    aug = dataclasses.replace(base.augment, **augment) if augment else base.augment
    return TrainConfig(sched, aug, seed, base.loss, maps_from=maps_from, init_from=init_from,
                       train_only=base.train_only)


@dataclass(frozen=True)
class HandHeadConfig:
    """Settings of PoseNet's hand head and of its fit (``hand3d fit-hand-head``,
    :mod:`hand3d_ros.training.hand_head`), each with its range."""

    hidden: int = field(default=64, metadata={"help": "units of the hidden layer; [4, 1024]"})
    keep_prob: float = field(default=0.7, metadata={"help": "dropout keep probability of the hidden layer; (0, 1]"})
    epochs: int = field(default=300, metadata={"help": "passes over the detections; [1, 10000]"})
    batch_size: int = field(default=256, metadata={"help": "detections per step; [8, 65536]"})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam step size; (0, 1)"})
    weight_decay: float = field(default=1e-3, metadata={"help": "Adam L2 penalty; [0, 1)"})
    seed: int = field(default=0, metadata={"help": "seed of the initial weights and the batch order"})

    def __post_init__(self):
        checks = [
            (4 <= self.hidden <= 1024, "hidden must be in [4, 1024]"),
            (0.0 < self.keep_prob <= 1.0, "keep_prob must be in (0, 1]"),
            (1 <= self.epochs <= 10000, "epochs must be in [1, 10000]"),
            (8 <= self.batch_size <= 65536, "batch_size must be in [8, 65536]"),
            (0.0 < self.learning_rate < 1.0, "learning_rate must be in (0, 1)"),
            (0.0 <= self.weight_decay < 1.0, "weight_decay must be in [0, 1)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def table(self) -> list:
        """The ``hand_head`` table entries: one hidden leaky fc, one linear logit."""
        return [fc("fc_hand0", self.hidden, keep=self.keep_prob), fc("fc_hand1", NUM_HAND_LOGITS, act="linear")]
