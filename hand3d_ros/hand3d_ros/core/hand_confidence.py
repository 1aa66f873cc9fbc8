"""Calibrated hand confidence: the probability that a detection is a real hand.

Notation: N detections. ``mean_keypoint_score`` (N,) is the mean of PoseNet's 21 score-map
peaks in the hand's crop; ``peak`` (N,) is HandSegNet's highest hand probability in the
hand's mask component (for a crop reused by the tracker: the peak of the detection that
started it); ``hand_logit`` (N,) is PoseNet's hand head's log-odds of a real hand in the
crop (weights with a hand head, ``hand3d fit-hand-head``).

Each cue alone separates hands from faces, arms and clutter only partly: a real hand far
away or seen edge-on has a weak mask peak but a clear keypoint pattern, a skin-coloured
object a strong peak but diffuse score maps. A :class:`HandConfidence` (fitted on
held-out photos with teacher hands and hand-free photos by ``hand3d calibrate-side``,
stored in the PoseNet weight file's ``calibration`` metadata) combines them by logistic
regression:

    log-odds(hand) = keypoint_scale * mean_keypoint_score + peak_scale * peak
                     + hand_scale * hand_logit + bias

(``hand_scale`` 0 without a hand head), so that a detection scored 0.9 is a hand about 9
times in 10 on data like the calibration set, and one threshold on that probability (the
node's ``min_hand_score``) trades hands found against false hands.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hand3d_ros.core.metadata_entry import MetadataEntry
from hand3d_ros.core.side_calibration import fit_logistic

#: Key of the model inside a detection calibration entry of the weight file.
METADATA_KEY = "hand_confidence"


@dataclass(frozen=True)
class HandConfidence(MetadataEntry):
    """Logistic model of P(hand) (see the module docstring)."""

    keypoint_scale: float
    peak_scale: float
    bias: float
    samples: int = 0           #: detections it was fitted on
    source: str = ""           #: what it was fitted on (data set, split)
    hand_scale: float = 0.0    #: weight of the hand head's logit (0: not read)

    @property
    def reads_hand_head(self) -> bool:
        return self.hand_scale != 0.0

    def logit(self, mean_keypoint_score, peak, hand_logit=None):
        """Log-odds of a real hand (arrays or tensors of equal shape). ``hand_logit`` is
        needed when the model reads the hand head (:attr:`reads_hand_head`)."""
        out = self.keypoint_scale * mean_keypoint_score + self.peak_scale * peak + self.bias
        if not self.reads_hand_head:
            return out
        if hand_logit is None:
            raise ValueError("this hand confidence reads PoseNet's hand head, and no hand logit was given "
                             "(weights without a hand head: refit with hand3d calibrate-side)")
        return out + self.hand_scale * hand_logit

    def probability(self, mean_keypoint_score, peak, hand_logit=None) -> np.ndarray:
        """P(real hand) in [0, 1], float64 arrays of the inputs' shape."""
        hand_logit = None if hand_logit is None else np.asarray(hand_logit, np.float64)
        logit = self.logit(np.asarray(mean_keypoint_score, np.float64), np.asarray(peak, np.float64), hand_logit)
        return 1.0 / (1.0 + np.exp(-np.clip(logit, -30.0, 30.0)))



def fit_hand_confidence(mean_keypoint_score, peak, is_hand, source: str = "", hand_logit=None) -> HandConfidence:
    """Fit a :class:`HandConfidence` on N detections (``is_hand`` (N,) bool: paired with a
    teacher hand; False: a false hand), on the hand head's logits too when ``hand_logit``
    (N,) is given. Both classes are needed."""
    is_hand = np.asarray(is_hand, bool)
    if is_hand.all() or not is_hand.any():
        raise ValueError("fitting a hand confidence needs both real and false hands")
    columns = [mean_keypoint_score, peak] + ([] if hand_logit is None else [hand_logit])
    w = fit_logistic(np.stack([np.asarray(c, np.float64) for c in columns], axis=1), is_hand)
    return HandConfidence(keypoint_scale=float(w[0]), peak_scale=float(w[1]), bias=float(w[-1]),
                          hand_scale=float(w[2]) if hand_logit is not None else 0.0,
                          samples=int(len(is_hand)), source=source)
