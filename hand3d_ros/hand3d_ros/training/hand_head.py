"""Fit PoseNet's hand head on the pipeline's own detections (``hand3d fit-hand-head``).

Notation: P detections, F features (what PoseNet's side head reads, the input of the hand
head: :meth:`~hand3d_ros.models.posenet.PoseNet.head_features`; 1361 for the lite table).

HandSegNet fires on more than hands: faces, lamps, wicker, skin-coloured wood. The mean
keypoint score and HandSegNet's peak (:mod:`hand3d_ros.core.hand_confidence`) tell many of
these apart, not all. The hand head is a small classifier on PoseNet's own features of the
crop, trained on exactly what the gate must sort: every hand the weights' pipeline poses
on labelled photos (no gate, the detection settings it will run with), the ones paired
with a teacher hand against the false ones (the hand-free photos give most of these);
predictions on teacher-ignore pixels are left out, as ``hand3d eval`` leaves them out.

The rest of PoseNet is fixed (its keypoints do not move; the head reads its features as
they are), so the head is fitted on features computed once: an MLP of the table's
``hand_head`` entries, trained with Adam on the binary cross-entropy of standardised
features; the standardisation is then folded into the first layer, so the stored head
reads the raw features. Training PoseNet further changes its features: fit the head
again afterwards (and then the hand confidence, ``hand3d calibrate-side``, which weighs
the head's logit against the other two cues).
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from hand3d_ros.models.layers import make_layers, run_layers
from hand3d_ros.models.weights import HAND_HEAD_PREFIX
from hand3d_ros.training.configs import HandHeadConfig

#: Key of the fit's record in the PoseNet weight file's ``training`` metadata.
TRAINING_KEY = "hand_head"


def collect_head_samples(pipeline, opened: Sequence, photos: Sequence, config=None, progress=None) -> dict:
    """Every hand ``pipeline`` poses on ``photos`` (no gate; ``config``: a
    :class:`~hand3d_ros.evaluation.real.RealEvalConfig`, its detection settings), with
    PoseNet's head features in the hand's final crop and whether it pairs with a teacher hand:
    ``{"features": (P, F) float32, "is_hand": (P,) bool, "hand_free": (P,) bool,
    "teacher_hands": int, "photos": int}``. Predictions on teacher-ignore pixels are left out.
    ``progress(done, total)`` is called after each photo when given."""
    from hand3d_ros.evaluation.real import RealEvalConfig, score_photos

    config = config or RealEvalConfig()
    posenet = pipeline.model_set.networks["posenet"]
    device = next(posenet.parameters()).device
    features, is_hand, hand_free, teacher_hands = [], [], [], 0
    for done, scored in enumerate(score_photos(pipeline, opened, photos, config, gated=False), 1):
        teacher_hands += len(scored.photo.hands)
        counted = scored.counted_predictions()
        if counted:
            boxes = np.stack([scored.result.hands[j].crop_box for j, _ in counted])
            patches = pipeline.crops_in_boxes(scored.image, boxes)
            with torch.inference_mode():
                features.append(posenet.head_features(patches.to(device)).float().cpu())
            is_hand.extend(paired for _, paired in counted)
            hand_free.extend([not scored.photo.hands] * len(counted))
        if progress is not None:
            progress(done, len(photos))
    if not features:
        raise ValueError(f"the pipeline posed no hand on the {len(photos)} photos: nothing to fit on")
    return {"features": torch.cat(features).numpy(),
            "is_hand": np.asarray(is_hand, bool), "hand_free": np.asarray(hand_free, bool),
            "teacher_hands": teacher_hands, "photos": len(photos)}


def fit_hand_head(features: np.ndarray, is_hand: np.ndarray, config: HandHeadConfig = HandHeadConfig(),
                  log=None) -> torch.nn.Module:
    """The hand head (``make_layers`` of ``config.table()``, eval mode) fitted on P
    detections' ``features`` (P, F) and labels ``is_hand`` (P,) bool; it reads raw features
    (the standardisation is folded into its first layer). Both classes are needed.
    ``log(epoch, loss)`` is called every tenth of the epochs when given."""
    is_hand = np.asarray(is_hand, bool)
    if len(is_hand) != len(features):
        raise ValueError(f"{len(features)} feature rows for {len(is_hand)} labels")
    if is_hand.all() or not is_hand.any():
        raise ValueError("fitting a hand head needs both real and false hands")
    raw = torch.as_tensor(np.asarray(features, np.float32))
    mean, spread = raw.mean(dim=0), raw.std(dim=0).clamp(min=1e-3)
    x, y = (raw - mean) / spread, torch.as_tensor(is_hand, dtype=torch.float32)
    report_every = max(1, config.epochs // 10)
    with torch.random.fork_rng():  # initial weights, batch order and dropout: from the seed alone
        torch.manual_seed(config.seed)
        head, _ = make_layers(config.table(), raw.shape[1], 1.0)
        head.train()
        optimiser = torch.optim.Adam(head.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
        for epoch in range(config.epochs):
            order = torch.randperm(len(x))
            total = 0.0
            for start in range(0, len(x), config.batch_size):
                batch = order[start:start + config.batch_size]
                loss = F.binary_cross_entropy_with_logits(run_layers(head, x[batch])[:, 0], y[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += float(loss.detach()) * len(batch)
            if log is not None and (epoch + 1) % report_every == 0:
                log(epoch + 1, total / len(x))
    head.eval()
    first = next(iter(head.values()))
    with torch.no_grad():  # w . (f - mean) / spread + b  ==  (w / spread) . f + (b - w . mean / spread)
        first.bias -= first.weight @ (mean / spread)
        first.weight /= spread
    return head


def with_hand_head(posenet, head: torch.nn.Module, config: HandHeadConfig):
    """A copy of ``posenet`` whose table has ``config``'s hand head, with ``head``'s weights
    (the rest of the network unchanged)."""
    from hand3d_ros.models.posenet import PoseNet

    table = {**posenet.config, "hand_head": config.table()}
    model = PoseNet(table)
    state = {k: v for k, v in posenet.state_dict().items() if not k.startswith(HAND_HEAD_PREFIX)}
    state.update({HAND_HEAD_PREFIX + k: v for k, v in head.state_dict().items()})
    model.load_state_dict(state)
    return model.eval()


def separation(logits: np.ndarray, is_hand: np.ndarray) -> float:
    """Area under the ROC curve of ``logits`` (P,) for ``is_hand`` (P,): the chance that a
    real hand scores above a false one (ties count half); NaN without both classes."""
    from scipy.stats import rankdata

    logits, is_hand = np.asarray(logits, np.float64), np.asarray(is_hand, bool)
    hands, false = int(is_hand.sum()), int((~is_hand).sum())
    if not hands or not false:
        return float("nan")
    ranks = rankdata(logits)  # ties get their average rank
    return float((ranks[is_hand].sum() - hands * (hands + 1) / 2) / (hands * false))


def head_logits(head: torch.nn.Module, features: np.ndarray) -> np.ndarray:
    """(P,) logits of a fitted ``head`` on raw ``features`` (P, F)."""
    with torch.inference_mode():
        return run_layers(head, torch.as_tensor(np.asarray(features, np.float32)))[:, 0].numpy()


def fit_record(samples: dict, config: HandHeadConfig, source: str, val: Optional[dict] = None) -> dict:
    """The plain-value record stored in the weight file's ``training`` metadata."""
    record = {"source": source, "detections": int(len(samples["is_hand"])),
              "hands": int(samples["is_hand"].sum()), "photos": int(samples["photos"]),
              **dataclasses.asdict(config)}
    if val is not None:
        record["val"] = val
    return record
