"""What differs between the networks in training: model, batch preparation, loss.

A :class:`Task` turns a collated batch of samples (see :mod:`.datasets`) into network
inputs and targets (:meth:`Task.prepare`, augmented with a per-step generator) and
computes the loss (:meth:`Task.loss`). :func:`make_task` builds one per network name of
:data:`hand3d_ros.training.configs.NETWORKS`.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod

from typing import Optional

import torch
import torch.nn.functional as F

from hand3d_ros.core.crop import crop_images
from hand3d_ros.models import build_network
from hand3d_ros.models.tables import POSENET_MAP_STRIDE
from hand3d_ros.models.weights import IMAGE_PREPROCESSING
from hand3d_ros.training import losses, targets
from hand3d_ros.training.configs import Augment, LossWeights
from hand3d_ros.training.datasets import FIELDS

#: File name of each trainable network's final weights in a run folder.
WEIGHT_FILES = {"handsegnet": "handsegnet.pt", "posenet": "posenet.pt", "poseprior": "poseprior.pt",
                "poseprior-direct": "poseprior_direct.pt"}


def normalise_images(images_uint8: torch.Tensor) -> torch.Tensor:
    """``(N, H, W, 3)`` uint8 RGB -> ``(N, 3, H, W)`` float ``x / 255 - 0.5`` (the networks' input)."""
    x = images_uint8.permute(0, 3, 1, 2).float()
    return x * IMAGE_PREPROCESSING["scale"] + IMAGE_PREPROCESSING["offset"]


def direct_w_rel(model, maps: torch.Tensor, hand_side_one_hot: torch.Tensor) -> torch.Tensor:
    """Direct-regression baseline: PosePrior's canonical stream read as ``w_rel`` ``(N, 21, 3)``
    (maps ``(N, 21, M, M)``, hand side ``(N, 2)`` one-hot)."""
    return model.canonical(maps, hand_side_one_hot).reshape(maps.shape[0], -1, 3)


class Task(ABC):
    """Base: ``network`` name, ``fields`` to decode, ``model``; see the module docstring."""

    network = ""

    def __init__(self, config: str = "lite", augment: Augment = Augment(), loss: LossWeights = LossWeights(),
                 input_size=None, width=None):
        self.config_name = config
        self.input_size = input_size
        self.width = width
        self.augment = augment
        self.loss_weights = loss
        self.fields = FIELDS[self.network]
        self.model = self.build()

    def build(self):
        return build_network(self.network.replace("-direct", ""), self.config_name, width=self.width,
                             input_size=self.input_size)

    @property
    def weight_file(self) -> str:
        return WEIGHT_FILES[self.network]

    def to(self, device) -> torch.nn.Module:
        """Move the network (and any frozen helper network) to ``device``; returns the network."""
        self.model = self.model.to(device)
        return self.model

    @abstractmethod
    def prepare(self, batch: dict, generator: Optional[torch.Generator]) -> dict:
        """The network's inputs and targets from a collated batch (augmented with ``generator``)."""

    @abstractmethod
    def loss(self, prepared: dict) -> torch.Tensor:
        """The training loss (a scalar) of one prepared batch."""

    def batch_images(self, prepared: dict) -> int:
        return int(next(iter(prepared.values())).shape[0])


class HandSegNetTask(Task):
    """Frames resized to the network's input (as the pipeline does), cross-entropy on masks."""

    network = "handsegnet"

    def prepare(self, batch, generator):
        hw = tuple(self.model.config["input_size"])
        images = normalise_images(batch["image"])
        labels = targets.segmentation_labels(batch["mask"])[:, None].float()
        if tuple(images.shape[-2:]) != hw:
            images = F.interpolate(images, size=hw, mode="bilinear", align_corners=False, antialias=True)
            labels = F.interpolate(labels, size=hw, mode="nearest")
        aug = self.augment
        labels = labels[:, 0].long()
        if generator is not None:
            images = targets.contrast_jitter(images, *aug.contrast, generator=generator)
            images = targets.photometric_jitter(images, aug.channel_gain, aug.pixel_noise, aug.blur_prob,
                                                generator)
            if aug.hflip:
                flip = (torch.rand(images.shape[0], generator=generator) < 0.5).to(images.device)
                images = torch.where(flip[:, None, None, None], images.flip(-1), images)
                labels = torch.where(flip[:, None, None], labels.flip(-1), labels)
            images, labels = targets.mosaic_frames(images, labels, aug.mosaic, generator)
            images, labels = targets.zoom_frames(images, labels, aug.zoom, generator)
        return {"images": images.contiguous(), "labels": labels}

    def loss(self, prepared):
        return losses.segmentation_loss(self.model(prepared["images"]), prepared["labels"])


def _gt_patches(images: torch.Tensor, batch: dict, size: int, aug: Augment, generator: Optional[torch.Generator]):
    """Crops of ``size`` px around the batch's true keypoints, jittered by ``aug`` when
    ``generator`` is given: ``(crops, patches)`` with patches ``(N, 3, size, size)``."""
    noisy = generator is not None
    crops = targets.gt_crops(batch["uv"].float(), batch["visible"].bool(), tuple(images.shape[-2:]), size,
                             aug.crop_margin, aug.crop_center_noise if noisy else 0.0,
                             aug.crop_scale_noise if noisy else 0.0, generator)
    return crops, crop_images(images, crops.center, crops.scale, size)


class PoseNetTask(Task):
    """GT crops (jittered, rotated, flipped with the side label swapped), photometric
    augmentation, Gaussian targets on all stages, maps weighted by label confidence."""

    network = "posenet"

    def prepare(self, batch, generator):
        size = int(self.model.config["input_size"][0])
        codec = targets.heatmap_codec(size)
        uv, visible = batch["uv"].float(), batch["visible"].bool()
        side = batch["hand_side"].long()
        aug = self.augment
        noisy = generator is not None
        crops, patches = _gt_patches(normalise_images(batch["image"]), batch, size, aug, generator)
        uv_crop = crops.crop_uv(uv)
        if noisy:
            n = patches.shape[0]
            if aug.rotation_deg > 0:
                angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(aug.rotation_deg)
                angle = angle.to(patches.device)
                patches, uv_crop = targets.rotate_patches(patches, uv_crop, angle)
            if aug.hflip:  # a mirrored left hand is a right hand; keypoints keep anatomical order
                flip = (torch.rand(n, generator=generator) < 0.5).to(patches.device)
                patches = torch.where(flip[:, None, None, None], patches.flip(-1), patches)
                uv_crop = torch.where(flip[:, None, None], torch.stack(
                    (size - 1 - uv_crop[..., 0], uv_crop[..., 1]), -1), uv_crop)
                side = torch.where(flip, 1 - side, side)
            patches = targets.contrast_jitter(patches, *aug.contrast, generator=generator)
            patches = targets.photometric_jitter(patches, aug.channel_gain, aug.pixel_noise, aug.blur_prob,
                                                 generator)
            uv_crop = targets.noisy_map_keypoints(uv_crop, size, aug.keypoint_noise_px, generator=generator)
        weight = batch["kp_score"].float().clamp(0, 1) if "kp_score" in batch else None
        return {"crops": patches.contiguous(), "maps": targets.score_map_targets(uv_crop, visible, codec),
                "side": side, "keypoint_weight": weight}

    def batch_images(self, prepared: dict) -> int:
        return int(prepared["crops"].shape[0])

    def loss(self, prepared):
        maps, side_logits = self.model.forward_with_side(prepared["crops"])
        return losses.posenet_loss(maps, prepared["maps"], side_logits, prepared["side"], self.loss_weights,
                                   prepared.get("keypoint_weight"))


class PosePriorTask(Task):
    """Score maps made from (noisy, scaled, translated) GT keypoints; w_c and R targets.
    Never reads pixels (only uv, visible, xyz, hand side and the image size), unless
    ``maps_from`` names a PoseNet weight file: then the maps are that frozen PoseNet's
    on jittered crops of the images, the input PosePrior gets in the pipeline."""

    network = "poseprior"

    def __init__(self, config: str = "lite", augment: Augment = Augment(), loss: LossWeights = LossWeights(),
                 maps_from: str = "", input_size=None, width=None):
        super().__init__(config, augment, loss, input_size, width)
        self.posenet = None
        if maps_from:
            from hand3d_ros.models.weights import load_weights

            self.posenet, _ = load_weights(maps_from)
            cells = tuple(s // POSENET_MAP_STRIDE for s in self.posenet.config["input_size"])
            if cells != tuple(self.model.config["input_size"]):
                raise ValueError(f"{maps_from}: its maps are {cells[0]}x{cells[1]}, this PosePrior reads "
                                 f"{self.model.config['input_size'][0]}x{self.model.config['input_size'][1]}")
            for parameter in self.posenet.parameters():
                parameter.requires_grad_(False)
            self.fields = tuple(self.fields) + ("image",)

    def to(self, device) -> torch.nn.Module:
        if self.posenet is not None:
            self.posenet = self.posenet.to(device)
        return super().to(device)

    def _posenet_maps(self, batch, generator) -> torch.Tensor:
        """(N, K, M, M) the frozen PoseNet's final score maps on jittered GT crops."""
        size = int(self.posenet.config["input_size"][0])
        _, patches = _gt_patches(normalise_images(batch["image"]), batch, size, self.augment, generator)
        with torch.no_grad():
            return self.posenet(patches)[-1].float()

    def build(self):
        from hand3d_ros.core.hand_template import template_canonical
        from hand3d_ros.models.poseprior import init_mean_pose

        return init_mean_pose(build_network("poseprior", self.config_name), template_canonical())

    def prepare(self, batch, generator):
        out = targets.canonical_targets(batch["xyz"].float(), batch["hand_side"])
        out["maps"] = (self._gaussian_maps if self.posenet is None else self._posenet_maps)(batch, generator)
        out["side"] = targets.hand_side_one_hot(batch["hand_side"])
        return out

    def _gaussian_maps(self, batch, generator) -> torch.Tensor:
        """(N, K, M, M) Gaussians at the (noisy, scaled, translated) GT keypoints."""
        cells = int(self.model.config["input_size"][0])
        size = cells * 8
        codec = targets.heatmap_codec(size)
        uv, visible = batch["uv"].float(), batch["visible"].bool()
        image_hw = tuple(int(v) for v in batch["image_hw"][0])
        aug = self.augment
        noisy = generator is not None
        crops = targets.gt_crops(uv, visible, image_hw, size, aug.crop_margin,
                                 aug.crop_center_noise if noisy else 0.0, aug.crop_scale_noise if noisy else 0.0,
                                 generator)
        uv_crop = crops.crop_uv(uv)
        if noisy:
            uv_crop = targets.noisy_map_keypoints(uv_crop, size, aug.keypoint_noise_px, aug.map_scale,
                                                  aug.map_translate, generator)
        return targets.score_map_targets(uv_crop, visible, codec)

    def loss(self, prepared):
        out = self.model(prepared["maps"], prepared["side"])
        return losses.poseprior_loss(out.w_c, out.R, prepared["w_c"], prepared["R"])


class DirectPriorTask(PosePriorTask):
    """Direct-regression baseline: the canonical stream regresses w_rel (viewpoint stream unused)."""

    network = "poseprior-direct"

    def loss(self, prepared):
        return losses.direct_loss(direct_w_rel(self.model, prepared["maps"], prepared["side"]), prepared["w_rel"])


TASKS = {t.network: t for t in (HandSegNetTask, PoseNetTask, PosePriorTask, DirectPriorTask)}


def make_task(network: str, config: str = "lite", augment: Augment = Augment(),
              loss: LossWeights = LossWeights(), maps_from: str = "", input_size=None, width=None) -> Task:
    """The :class:`Task` of ``network`` (built with the current torch RNG state);
    ``maps_from``: see :class:`PosePriorTask` (PosePrior networks only); ``input_size``:
    ``(H, W)`` replacing the table's, ``width`` its channel multiplier (None: the
    table's; see ``models.build_network``)."""
    if network not in TASKS:
        raise ValueError(f"unknown network {network!r} (choose from {', '.join(TASKS)})")
    if not maps_from:
        return TASKS[network](config, augment, loss, input_size=input_size, width=width)
    if not issubclass(TASKS[network], PosePriorTask):
        raise ValueError(f"maps_from applies to poseprior only, not {network}")
    return TASKS[network](config, augment, loss, maps_from=maps_from, input_size=input_size, width=width)
