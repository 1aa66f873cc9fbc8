"""Evaluate a weights folder on held-out samples (shards or a public-dataset reader).

Metrics (only visible keypoints count; DESIGN.md section 4):

- ``segmentation``: HandSegNet hand/background IoU at the image resolution (the
  probability map upsampled bilinearly, hand where > the pipeline's threshold):
  ``iou`` pooled over the set (sum of intersections / sum of unions) and
  ``iou_mean_per_image``.
- ``2d_gt_crops``: PoseNet on crops around the ground-truth keypoints (margin as the
  pipeline's), decoded with the pipeline's codec, EPE in image pixels, AUC 0-30 px.
- ``2d_pipeline``: the real :class:`HandPosePipeline` (HandSegNet crops); frames where
  it finds no hand are counted in ``detected_fraction`` and left out of the EPE.
- ``3d_lifting``: PosePrior on score maps made from the ground-truth 2D keypoints
  (optionally noisy), ground-truth hand side; ``xyz = w_rel * s_gt + xyz_gt[root]`` (the
  paper's protocol), EPE in mm, AUC 20-50 mm. ``3d_lifting_direct`` the same for the
  direct-regression baseline when its weights are given.
- ``3d_posenet_gt_crops``: PosePrior on PoseNet's maps of the GT crops (2D and 3D
  errors combined).

Summaries are those of :class:`hand3d_ros.core.metrics.EvalAccumulator`: ``epe_mean`` /
``epe_median`` are the mean over keypoints of the per-keypoint mean / median (the
paper's convention), ``auc`` the mean over keypoints of the per-keypoint PCK.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from hand3d_ros.core.crop import crop_images
from hand3d_ros.core.keypoints import ROOT
from hand3d_ros.core.metrics import EvalAccumulator
from hand3d_ros.evaluation.paper import PAPER_NUMBERS
from hand3d_ros.training import targets
from hand3d_ros.training.datasets import FIELDS, SampleDataset, make_loader, step_generator
from hand3d_ros.training.tasks import WEIGHT_FILES, direct_w_rel, normalise_images


@dataclass(frozen=True)
class EvalConfig:
    """Settings of :func:`evaluate`."""

    batch_size: int = field(default=8, metadata={"help": "samples per batch; >= 1"})
    crop_margin: float = field(default=1.25, metadata={
        "help": "GT crop side / larger side of the visible keypoints' box; [1, 3]"})
    lift_noise_px: float = field(default=0.0, metadata={
        "help": "std of noise on the GT 2D keypoints fed to PosePrior (px at a 256 crop); >= 0"})
    seed: int = field(default=0, metadata={"help": "seed of the lifting noise"})
    flip_test: bool = field(default=False, metadata={"help": "PoseNet on each crop and its mirror, averaged (PipelineConfig.flip_test)"})
    segmentation_hw: Optional[tuple] = field(default=None, metadata={
        "help": "(H, W) HandSegNet reads instead of its weights' size (ModelSet.with_segmentation_size); None: theirs"})


def _summary(acc: EvalAccumulator, **extra) -> dict:
    out = acc.summary()
    out.update(extra)
    return out


def evaluate(weights_dir, data, limit: Optional[int] = None, direct_weights=None,
             config: EvalConfig = EvalConfig(), progress: bool = False) -> dict:
    """Run every metric of the module docstring.

    Args:
        weights_dir: folder with handsegnet.pt, posenet.pt, poseprior.pt (and optionally
            poseprior_direct.pt, used when ``direct_weights`` is None).
        data: a :class:`SampleDataset` or its source (shard folder, ``KIND:ROOT[:SPLIT]``).
        limit: evaluate the first ``limit`` samples only.
        direct_weights: weight file of the direct-regression baseline (optional).
        config: :class:`EvalConfig`.
        progress: tqdm bar over batches.

    Returns:
        JSON-able dict: ``{metric key: summary, ..., "paper": PAPER_NUMBERS, "info": {...}}``.
    """
    from hand3d_ros.inference.backends.torch_backend import TorchBackend
    from hand3d_ros.inference.model_set import load_model_set
    from hand3d_ros.inference.pipeline import HandPosePipeline, PipelineConfig
    from hand3d_ros.models import load_weights

    started = time.monotonic()
    model_set = load_model_set(weights_dir).with_segmentation_size(config.segmentation_hw)
    pipe_config = PipelineConfig(flip_test=config.flip_test)
    backend = TorchBackend(model_set, "cpu")
    pipeline = HandPosePipeline(backend, model_set, pipe_config)
    codec = pipeline.codec
    crop_size = model_set.crop_size
    if direct_weights is None and (Path(weights_dir) / WEIGHT_FILES["poseprior-direct"]).is_file():
        direct_weights = Path(weights_dir) / WEIGHT_FILES["poseprior-direct"]
    direct = load_weights(direct_weights)[0].eval() if direct_weights else None

    if not isinstance(data, SampleDataset):
        data = SampleDataset(data, FIELDS["all"], limit=limit)
    elif limit is not None:
        data.count = min(data.count, int(limit))
    loader = make_loader(data, config.batch_size, seed=0, num_workers=0, shuffle=False)
    num_batches = (len(data) + config.batch_size - 1) // config.batch_size

    acc = {"2d_gt_crops": EvalAccumulator.for_2d(), "2d_pipeline": EvalAccumulator.for_2d(),
           "3d_lifting": EvalAccumulator.for_3d(), "3d_posenet_gt_crops": EvalAccumulator.for_3d()}
    if direct is not None:
        acc["3d_lifting_direct"] = EvalAccumulator.for_3d()
    inter = union = 0
    per_image_iou = []
    detected = 0
    side_head_right = side_head_total = pipeline_side_right = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=num_batches, desc="eval", unit="batch", dynamic_ncols=True)
    with torch.inference_mode():
        for index, batch in enumerate(loader):
            if index >= num_batches:
                break
            n_keep = min(config.batch_size, len(data) - index * config.batch_size)
            batch = {k: v[:n_keep] for k, v in batch.items()}
            rgb = batch["image"]
            images = normalise_images(rgb)
            hw = tuple(images.shape[-2:])
            uv, visible = batch["uv"].float(), batch["visible"].bool()
            xyz, side = batch["xyz"].float(), batch["hand_side"].long()

            # HandSegNet IoU (as the pipeline feeds it)
            seg_in = F.interpolate(images, size=model_set.seg_input_hw, mode="bilinear", align_corners=False,
                                   antialias=True)
            prob = torch.softmax(backend.handsegnet(seg_in), dim=1)[:, 1:2]
            prob = F.interpolate(prob, size=hw, mode="bilinear", align_corners=False)[:, 0]
            pred_mask = prob > pipeline.detection_threshold
            gt_mask = batch["mask"] > 0
            i = (pred_mask & gt_mask).sum(dim=(1, 2)).double()
            u = (pred_mask | gt_mask).sum(dim=(1, 2)).double()
            inter, union = inter + float(i.sum()), union + float(u.sum())
            per_image_iou.extend(torch.where(u > 0, i / u.clamp(min=1), torch.ones_like(u)).tolist())

            # PoseNet on GT crops
            crops = targets.gt_crops(uv, visible, hw, crop_size, config.crop_margin)
            maps, side_logits, _ = pipeline.posenet(crop_images(images, crops.center, crops.scale, crop_size))
            if side_logits is not None:
                side_head_right += int((side_logits.argmax(dim=1).cpu() == side).sum())
                side_head_total += len(side)
            uv_crop_pred, _ = codec.decode(maps)
            acc["2d_gt_crops"].add(crops.uncrop_uv(uv_crop_pred), uv, visible)

            # Full pipeline (HandSegNet crops)
            frames = pipeline.detect(rgb)
            for j, frame in enumerate(frames):
                if frame.hands:
                    detected += 1
                    pipeline_side_right += int(frame.hands[0].hand_side == int(side[j]))
                    acc["2d_pipeline"].add(frame.hands[0].uv[None], uv[j:j + 1].numpy(), visible[j:j + 1].numpy())

            # Lifting from GT 2D (score maps made as in training, no augmentation unless asked)
            gt = targets.canonical_targets(xyz, side)
            root, bone = xyz[:, ROOT:ROOT + 1], gt["bone"][:, None, None]
            uv_crop = crops.crop_uv(uv)
            if config.lift_noise_px > 0:
                uv_crop = targets.noisy_map_keypoints(uv_crop, crop_size, config.lift_noise_px,
                                                      generator=step_generator(config.seed, index))
            gt_maps = targets.score_map_targets(uv_crop, visible, codec)
            one_hot = targets.hand_side_one_hot(side)
            w_c, rot = backend.poseprior(gt_maps, one_hot)
            from hand3d_ros.core.canonical import from_canonical

            w_rel = from_canonical(w_c, rot, side)
            acc["3d_lifting"].add(w_rel * bone + root, xyz, visible)
            w_c2, rot2 = backend.poseprior(maps, one_hot)
            acc["3d_posenet_gt_crops"].add(from_canonical(w_c2, rot2, side) * bone + root, xyz, visible)
            if direct is not None:
                acc["3d_lifting_direct"].add(direct_w_rel(direct, gt_maps, one_hot) * bone + root, xyz, visible)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    n = len(data)
    results = {
        "segmentation": {"iou": inter / union if union else None,
                         "iou_mean_per_image": float(np.mean(per_image_iou)) if per_image_iou else None,
                         "num_samples": n, "threshold": pipeline.detection_threshold},
    }
    for key, a in acc.items():
        extra = {"detected_fraction": detected / n if n else None} if key == "2d_pipeline" else {}
        results[key] = _summary(a, **extra)
    results["handedness"] = {
        "gt_crops_accuracy": side_head_right / side_head_total if side_head_total else None,
        "pipeline_accuracy": pipeline_side_right / detected if detected else None,
        "method": "side head + lifts" if side_head_total else "lifts",
        "pipeline_handedness": pipe_config.handedness}
    results["paper"] = PAPER_NUMBERS
    results["info"] = {"weights": str(Path(weights_dir).resolve()), "data": data.describe(),
                       "direct_weights": str(direct_weights) if direct_weights else None,
                       "config": {"batch_size": config.batch_size, "crop_margin": config.crop_margin,
                                  "lift_noise_px": config.lift_noise_px},
                       "model_set": model_set.name, "seconds": round(time.monotonic() - started, 1)}
    return results


#: Rows of the printed table: (result key, metric, label, format).
TABLE_ROWS = (
    ("segmentation", "iou", "HandSegNet IoU", "{:.3f}"),
    ("2d_gt_crops", "epe_mean", "2D GT crops EPE mean (px)", "{:.2f}"),
    ("2d_gt_crops", "epe_median", "2D GT crops EPE median (px)", "{:.2f}"),
    ("2d_gt_crops", "auc", "2D GT crops AUC 0-30 px", "{:.3f}"),
    ("2d_pipeline", "epe_mean", "2D pipeline EPE mean (px)", "{:.2f}"),
    ("2d_pipeline", "epe_median", "2D pipeline EPE median (px)", "{:.2f}"),
    ("2d_pipeline", "auc", "2D pipeline AUC 0-30 px", "{:.3f}"),
    ("2d_pipeline", "detected_fraction", "2D pipeline frames with a hand", "{:.3f}"),
    ("3d_lifting", "epe_mean", "3D lifting EPE mean (mm)", "{:.1f}"),
    ("3d_lifting", "epe_median", "3D lifting EPE median (mm)", "{:.1f}"),
    ("3d_lifting", "auc", "3D lifting AUC 20-50 mm", "{:.3f}"),
    ("3d_lifting_direct", "epe_mean", "3D direct baseline EPE mean (mm)", "{:.1f}"),
    ("3d_lifting_direct", "epe_median", "3D direct baseline EPE median (mm)", "{:.1f}"),
    ("3d_lifting_direct", "auc", "3D direct baseline AUC 20-50 mm", "{:.3f}"),
    ("3d_posenet_gt_crops", "epe_median", "3D from PoseNet (GT crops) median (mm)", "{:.1f}"),
    ("3d_posenet_gt_crops", "auc", "3D from PoseNet (GT crops) AUC 20-50", "{:.3f}"),
    ("handedness", "gt_crops_accuracy", "Handedness, side head on GT crops", "{:.3f}"),
    ("handedness", "pipeline_accuracy", "Handedness, pipeline (auto)", "{:.3f}"),
)


def format_table(results: dict) -> str:
    """Plain-text table: metric, ours, the paper's (``-`` where not available)."""
    def fmt(value, pattern):
        return "-" if value is None else pattern.format(value)

    lines = [f"{'metric':<42} {'ours':>10} {'paper':>10}"]
    for key, metric, label, pattern in TABLE_ROWS:
        if key not in results:
            continue
        ours = results[key].get(metric)
        paper = PAPER_NUMBERS.get(key, {}).get(metric)
        lines.append(f"{label:<42} {fmt(ours, pattern):>10} {fmt(paper, pattern):>10}")
    return "\n".join(lines)


def write_plots(results: dict, folder) -> list:
    """PCK plots (PNG) of the 2D and 3D results into ``folder``; returns the paths."""
    from hand3d_ros.evaluation.plots import save_pck_plot

    paths = []
    groups = {"pck_2d.png": (("2d_gt_crops", "GT crops"), ("2d_pipeline", "HandSegNet crops")),
              "pck_3d.png": (("3d_lifting", "PosePrior (GT 2D)"), ("3d_lifting_direct", "direct (GT 2D)"),
                             ("3d_posenet_gt_crops", "PosePrior (PoseNet maps)"))}
    for name, entries in groups.items():
        curves = {label: (results[key]["pck"]["thresholds"], results[key]["pck"]["values"])
                  for key, label in entries if key in results}
        unit = "px" if name == "pck_2d.png" else "mm"
        paths.append(save_pck_plot(curves, Path(folder) / name, f"PCK {name[4:6].upper()}", f"threshold ({unit})"))
    return paths
