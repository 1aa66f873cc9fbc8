"""The shipped weights on real photographs: the committed fixtures (test/fixtures/real,
photos of repositories whose licences allow it, none used in training) with the MediaPipe
teacher's keypoints. Bounds come from the measurement recorded beside each constant."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from hand3d_ros.evaluation.real import (PredictedHand, RealEvalConfig, TeacherHand, score_photo,
                                        summarise)
from hand3d_ros.inference.estimator import HandEstimator, image_estimator_config
from hand3d_ros.inference.model_set import SHIPPED_WEIGHTS_DIR
from hand3d_ros.inference.pipeline import PipelineConfig, load_pipeline

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "real"
#: Measured with the shipped weights (lite, session 19: session 16's mosaic HandSegNet,
#: session 14's PoseNet with a hand head; threshold 0.30, hand confidence gate 0.11,
#: refine_passes 1 with refine_max_overlap 0.7, zoom_out_factor 1.6 below score 0.5,
#: split_min_aspect 1.2 with split_max_valley 0.8 (each part scoring above its whole
#: replaces it), extra_candidates 0, flip_test off,
#: handedness_unknown_margin 0.05) on these fixtures, on an x86 CPU without VNNI (the
#: default's INT8 then has unsigned weights): PyTorch fp32 finds 17 of 17 hands, PCK@0.2
#: 0.93, side right on 17 of 17, no false hand on the 5 hand-free photos; the node's
#: default (ONNX Runtime, HandSegNet and PoseNet in INT8) finds 16 of 17, PCK@0.2 0.98, side
#: right on 16 of 16, one false hand in the 5 living rooms. (On the 1268 hands of the
#: held-out test split the same weights find 95.2 % against session 18's 93.6 %; these 17
#: are a smoke test.) Session 18's settings found the same, session 17's 16 and 15 of 17,
#: session 14's weights 14 and 14 (13 with INT8 on the no-VNNI CPU), session 12's 14 and
#: 14, session 11's 16 and 16, session 10's 15 and 14, session 9's 14 and 14, session 8's
#: 13 and 13, session 7's 13 and 14, session 6's 14 and 13, session 5's 13 and 14, the
#: render-only ones 7. The bounds
#: allow one hand fewer than the fewer of the two measured (15 of 17).
MIN_HANDS_FOUND = 0.88
MIN_PCK_FOUND = 0.9
#: Published side right on the found hands (16 of 16 and 17 of 17 measured; 14 of 15 allowed).
MIN_SIDE_RIGHT = 0.9
#: Hand-free photos (living rooms): false hands per photo (1 of 5 allowed; INT8 measured 1).
MAX_FALSE_PER_HAND_FREE = 0.2


@pytest.fixture(scope="module", params=[("torch", "fp32"), ("auto", "auto")], ids=["torch-fp32", "default"])
def scored(request):
    backend, precision = request.param
    labels = json.loads((FIXTURES / "labels.json").read_text())
    pipeline = load_pipeline(weights_dir=SHIPPED_WEIGHTS_DIR / "lite", backend=backend, device="cpu",
                             precision=precision, log=lambda *_: None)
    config = RealEvalConfig()
    estimator = HandEstimator(pipeline, image_estimator_config(PipelineConfig(
        detection_threshold=config.detection_threshold, max_hands=config.max_hands)))
    hands, photos = [], []
    for index, entry in enumerate(labels["photos"]):
        rgb = cv2.cvtColor(cv2.imread(str(FIXTURES / entry["file"])), cv2.COLOR_BGR2RGB)
        assert rgb.shape[:2] == (entry["height"], entry["width"])
        estimator.reset()
        result = estimator.process(rgb, 0.0)
        predictions = [PredictedHand(uv=h.uv, box=h.crop_box, side=int(h.handedness), lift_side=int(h.hand_side),
                                     score=float(h.score)) for h in result.hands]
        teacher = [TeacherHand(uv=np.asarray(h["uv"]), counted=np.asarray(h["kp_score"]) >= config.min_kp_score,
                               side=h["side"], kp_score=np.asarray(h["kp_score"])) for h in entry["hands"]]
        photo_hands, photo = score_photo(teacher, predictions, entry["source"], config, photo=index)
        hands.extend(photo_hands)
        photos.append(photo)
    return summarise(hands, photos, config)


def test_the_fixtures_are_what_the_card_says():
    labels = json.loads((FIXTURES / "labels.json").read_text())
    photos = labels["photos"]
    assert len(photos) <= 30 and all((FIXTURES / p["file"]).is_file() for p in photos)
    assert {p["licence"] for p in photos} <= {"Apache-2.0", "MIT"}
    assert sum(len(p["hands"]) for p in photos) >= 15 and sum(p["negative"] for p in photos) >= 4


def test_shipped_weights_find_real_hands_and_place_their_keypoints(scored):
    pipeline = scored["pipeline"]
    assert pipeline["hands_found"] >= MIN_HANDS_FOUND, pipeline
    assert pipeline["pck"] >= MIN_PCK_FOUND, pipeline


def test_shipped_weights_tell_the_hand_side(scored):
    assert scored["handedness"]["accuracy"] >= MIN_SIDE_RIGHT, scored["handedness"]


def test_shipped_weights_see_no_hands_in_living_rooms(scored):
    assert scored["hand_free"]["false_hands_per_photo"] <= MAX_FALSE_PER_HAND_FREE, scored["hand_free"]
