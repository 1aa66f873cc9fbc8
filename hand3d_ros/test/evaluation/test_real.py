"""Real evaluation (hand3d eval --real): the pure matching/metrics, the split by source,
and the command on small real-teacher shard folders built here in the agreed format
(one sample per teacher hand, hand-free samples with num_hands 0)."""
import json

import numpy as np
import pytest
import torch

from hand3d_ros.cli import main
from hand3d_ros.core.hand_template import template_hand_xyz
from hand3d_ros.core.keypoints import BONES
from hand3d_ros.data.shards import write_shards
from hand3d_ros.evaluation.real import (
    PredictedHand, RealEvalConfig, TeacherHand, hand_size, ignored_predictions,
    keypoint_stats, match_hands, score_photo, summarise)
from hand3d_ros.evaluation.real_report import format_real_table
from hand3d_ros.evaluation.real_split import SplitError, load_split_table, split_indices, split_of
from hand3d_ros.inference.model_set import random_model_set
from hand3d_ros.inference.pipeline import PipelineConfig
from hand3d_ros.models import save_weights
from hand3d_ros.training.datasets import DataError, SampleDataset

torch.set_num_threads(1)
K21 = 21


# ------------------------------------------------------------------ real-teacher folders

def _hand_uv(rng, side, centre, focal, size_hw):
    """2D keypoints of the template hand, randomly turned, around ``centre`` (px)."""
    from hand3d_ros.core.canonical import axis_angle_to_matrix

    rot = axis_angle_to_matrix(rng.normal(0, 0.4, (1, 3))).numpy()[0]
    xyz = template_hand_xyz(side) @ rot.T
    xyz = xyz - xyz.mean(axis=0) + np.array([0.0, 0.0, 0.5])
    uv = xyz[:, :2] / xyz[:, 2:3] * focal + np.asarray(centre)
    return uv.astype(np.float32), xyz.astype(np.float32)


def _sample(image, mask, hand, num_hands, source, file_index, K):
    """One sample of the real-teacher format (``hand`` None: a hand-free photo)."""
    h, w = image.shape[:2]
    valid = np.ones((h, w), np.uint8)
    if hand is None:
        uv, xyz = np.full((K21, 2), np.nan, np.float32), np.full((K21, 3), np.nan, np.float32)
        visible, kp, side = np.zeros(K21, bool), np.zeros(K21, np.float32), 255
        box, scores = np.full(4, np.nan, np.float32), (0.0, 0.0)
    else:
        uv, xyz, side = hand
        visible = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
        kp, box, scores = np.full(K21, 0.9, np.float32), np.r_[uv.min(0), uv.max(0)].astype(np.float32), (0.95, 0.9)
    return {"image": image, "mask": mask, "valid": valid, "uv": uv, "visible": visible, "kp_score": kp,
            "xyz": xyz - (xyz[:1] if hand is not None else 0), "K": K, "hand_side": np.uint8(side),
            "side_score": np.float32(scores[0]), "hand_score": np.float32(scores[1]), "box": box,
            "num_hands": np.uint8(num_hands), "source": np.int64(source), "file_index": np.int64(file_index),
            "teacher_mirror_err": np.float32(0.05 if hand is not None else np.nan)}


class StickPhotos:
    """Photos of 0-2 stick hands (template hand, turned) with teacher-format samples;
    ``layout`` lists (hands per photo, source) and fixes the photo order."""

    def __init__(self, layout, size_hw=(120, 160), seed=0):
        self.layout, self.size_hw, self.seed = list(layout), size_hw, seed
        self.samples = [s for p in range(len(self.layout)) for s in self._photo(p)]

    def _photo(self, index):
        import cv2

        num_hands, source = self.layout[index]
        rng = np.random.default_rng([self.seed, index])
        h, w = self.size_hw
        focal = 0.5 * w
        K = np.array([[focal, 0, (w - 1) / 2], [0, focal, (h - 1) / 2], [0, 0, 1]], np.float32)
        image = np.empty((h, w, 3), np.uint8)
        image[:] = rng.integers(0, 120, 3)
        mask = np.zeros((h, w), np.uint8)
        hands = []
        for k in range(num_hands):
            side = int(rng.integers(0, 2))
            centre = ((k + 1) * w / (num_hands + 1), h / 2 + rng.uniform(-5, 5))
            uv, xyz = _hand_uv(rng, side, centre, focal, (h, w))
            for a, b in BONES:
                cv2.line(mask, tuple(int(round(v)) for v in uv[a]), tuple(int(round(v)) for v in uv[b]), side + 1, 4)
            hands.append((uv, xyz, side))
        image[mask > 0] = (220, 170, 140)
        if not hands:
            return [_sample(image, mask, None, 0, source, index, K)]
        return [_sample(image, mask, hand, num_hands, source, index, K) for hand in hands]

    def __call__(self, index):
        return dict(self.samples[index], index=np.int64(index))


def write_real(folder, generator, sources=("repo/a", "repo/b"), teacher=None):
    info = {"kind": "real-teacher", "teacher": teacher or {"name": "test-labels", "version": "0"},
            "sources": [{"name": n, "licence": "CC0", "root": n} for n in sources], "size": [160, 120]}
    write_shards(generator, folder, len(generator.samples), shard_size=4, workers=1, info=info, progress=False)
    return folder


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    for name, net in random_model_set("lite", seed=0).networks.items():
        save_weights(folder / f"{name}.pt", net)
    return folder


#: photos: (hands, source): two one-hand photos, a two-hand photo, a hand-free photo in the
#: hand folder; sources 0 and 1.
LAYOUT = [(1, 0), (2, 0), (1, 1), (0, 1)]


@pytest.fixture(scope="module")
def real_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    hands = write_real(root / "hands", StickPhotos(LAYOUT))
    negatives = write_real(root / "negatives", StickPhotos([(0, 0), (0, 0), (0, 0)], seed=9), sources=("interiors",))
    return hands, negatives


# ------------------------------------------------------------------ pure metrics

def _teacher(uv, side, kp=None):
    kp = np.full(K21, 0.9) if kp is None else np.asarray(kp, float)
    return TeacherHand(uv=np.asarray(uv, float), counted=kp >= 0.5, side=side, kp_score=kp, mirror_err=0.04)


def _one_hand(seed=0, side=1, centre=(80.0, 60.0)):
    uv, _ = _hand_uv(np.random.default_rng(seed), side, centre, 80.0, (120, 160))
    return uv.astype(float)


def _pred(uv, side, margin=1.25):
    from hand3d_ros.evaluation.real import teacher_window

    return PredictedHand(uv=np.asarray(uv, float), box=teacher_window(uv, margin), side=side, lift_side=side, score=1)


def test_a_prediction_equal_to_the_labels_scores_perfectly():
    uv = _one_hand()
    hands, photo = score_photo([_teacher(uv, 1)], [_pred(uv, 1)], "s")
    results = summarise(hands, [photo])
    assert results["pipeline"]["pck"] == 1.0 and results["pipeline"]["median_error"] == 0.0
    assert results["pipeline"]["hands_found"] == 1.0 and results["pipeline"]["false_hands_per_photo"] == 0.0
    assert results["handedness"]["accuracy"] == 1.0
    assert results["noise_floor"]["teacher_mirror_err_median"] == pytest.approx(0.04)


def test_a_mirrored_hand_is_found_but_wrong_side_and_off():
    uv = _one_hand(side=1)
    centre_u = (uv[:, 0].min() + uv[:, 0].max()) / 2
    mirrored = uv.copy()
    mirrored[:, 0] = 2 * centre_u - uv[:, 0]  # the same window, thumb and little finger swapped
    hands, photo = score_photo([_teacher(uv, 1)], [_pred(mirrored, 0)], "s")
    results = summarise(hands, [photo])
    assert results["pipeline"]["hands_found"] == 1.0  # same window: matched
    assert results["handedness"]["accuracy"] == 0.0
    assert results["pipeline"]["pck"] < 0.6 and results["pipeline"]["median_error"] > 0.2


def test_3d_error_after_one_scale_and_no_rotation():
    from hand3d_ros.evaluation.real import scaled_3d_errors

    xyz = template_hand_xyz(1) + np.array([0.1, -0.2, 0.5])  # teacher: metres, anywhere
    w_rel = (xyz - xyz[0]) / 0.04  # ours: root-relative, other units
    assert np.max(scaled_3d_errors(w_rel, xyz)) < 1e-9
    turned = w_rel @ np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]]).T  # a quarter turn about the view axis
    assert np.median(scaled_3d_errors(turned, xyz)) > 0.03  # viewpoint errors count (metres)
    uv = _one_hand()
    teacher = _teacher(uv, 1)
    teacher.xyz = xyz
    pred = _pred(uv, 1)
    pred.w_rel = w_rel
    hands, photo = score_photo([teacher], [pred], "s")
    assert summarise(hands, [photo])["3d_scaled"]["median_error_mm"] == pytest.approx(0.0, abs=1e-6)


def test_pck_counts_only_confident_keypoints_in_hand_sizes():
    uv = _one_hand()
    size = hand_size(uv)
    pred = uv.copy()
    pred[:5, 0] += 0.5 * size  # five keypoints half a hand off ...
    kp = np.full(K21, 0.9)
    hands, photo = score_photo([_teacher(uv, 1)], [_pred(pred, 1)], "s")
    assert summarise(hands, [photo])["pipeline"]["pck"] == pytest.approx(16 / 21)
    kp[:5] = 0.2  # ... that the teacher is unsure of: they do not count
    hands, photo = score_photo([_teacher(uv, 1, kp)], [_pred(pred, 1)], "s")
    stats = summarise(hands, [photo])["pipeline"]
    assert stats["pck"] == 1.0 and stats["keypoints"] == 16
    pred[5, 1] += 0.19 * size  # 0.19 hand sizes: still within PCK@0.2; 0.21: not
    pred[6, 1] += 0.21 * size
    hands, photo = score_photo([_teacher(uv, 1, kp)], [_pred(pred, 1)], "s")
    assert summarise(hands, [photo])["pipeline"]["pck"] == pytest.approx(15 / 16)


def test_medians_are_over_hands_and_pooled():
    errors = [np.full(K21, 0.1), np.full(K21, 0.1), np.r_[np.full(11, 0.5), np.full(10, 0.1)]]
    stats = keypoint_stats(errors, [np.ones(K21, bool)] * 3, 0.2)
    assert stats["median_error"] == pytest.approx(0.1) and stats["median_error_pooled"] == pytest.approx(0.1)
    assert stats["pck"] == pytest.approx(52 / 63) and stats["pck_mean_over_hands"] == pytest.approx((2 + 10 / 21) / 3)
    errors[1] = np.full(K21, 0.5)
    assert keypoint_stats(errors, [np.ones(K21, bool)] * 3, 0.2)["median_error"] == pytest.approx(0.5)


def test_matching_pairs_by_window_overlap_with_a_gate():
    left, right = _one_hand(1, 0, (40.0, 60.0)), _one_hand(2, 1, (120.0, 60.0))
    teacher = [_teacher(left, 0), _teacher(right, 1)]
    # predictions in the other order, plus one on empty background
    far = _one_hand(3, 1, (400.0, 300.0))
    hands, photo = score_photo(teacher, [_pred(right, 1), _pred(far, 1), _pred(left, 0)], "s")
    assert [h.prediction for h in hands] == [2, 0]
    assert photo.false_hands == 1 and photo.predictions == 3
    assert match_hands(np.zeros((0, 4)), np.ones((2, 4)), 0.3) == []
    assert match_hands([[0, 0, 10, 10]], [[5, 0, 15, 10]], 0.34) == []  # below the gate: not a match
    # a hand-free photo: every prediction is false
    hands, photo = score_photo([], [_pred(left, 0)], "s")
    results = summarise(hands + [h for h in score_photo(teacher, [], "s")[0]],
                        [photo, score_photo(teacher, [], "s")[1]])
    assert results["hand_free"]["false_hands_per_photo"] == 1.0
    assert results["pipeline"]["hands_missed"] == 1.0 and results["pipeline"]["pck_all_hands"] == 0.0


def test_predictions_on_teacher_ignore_areas_are_not_false():
    mask = np.zeros((100, 100), np.uint8)
    mask[:, 50:] = 255  # e.g. a hand the teacher dropped as uncertain
    valid = np.ones_like(mask)
    got = ignored_predictions([[60, 10, 90, 40], [5, 5, 40, 40], [40, 0, 60, 20]], mask, valid, 0.25)
    assert got.tolist() == [True, False, True]
    _, photo = score_photo([], [_pred(_one_hand(), 1)] * 2, "s", ignored=np.array([True, False]))
    assert photo.false_hands == 1 and photo.ignored == 1


def test_noise_floor_from_the_agreement_score():
    from hand3d_ros.evaluation.real import mirror_disagreement

    d = np.linspace(0.0, 0.2, K21)  # photo/mirror distances, hand sizes
    sigma = 0.05
    assert mirror_disagreement(np.exp(-0.5 * (d / sigma) ** 2), sigma) == pytest.approx(0.1)
    assert mirror_disagreement(np.zeros(K21), sigma) > 0.5  # no agreement at all: large, finite


def test_a_folder_without_mirror_errors_recovers_them_from_kp_score(tmp_path):
    from hand3d_ros.evaluation.real import RealFolder

    generator = StickPhotos([(2, 0), (0, 1)])
    for sample in generator.samples:
        del sample["teacher_mirror_err"]
        sample["kp_score"][:] = np.exp(-0.5 * (0.03 / 0.05) ** 2)  # views 0.03 hand sizes apart
    folder = write_real(tmp_path / "r", generator, teacher={"name": "t", "merge": {"agreement_sigma": 0.05}})
    photos = RealFolder(folder).photos(0, min_kp_score=0.5)
    assert [len(p.hands) for p in photos] == [2, 0] and [p.source for p in photos] == ["repo/a", "repo/b"]
    assert [h.mirror_err for h in photos[0].hands] == pytest.approx([0.03, 0.03])


def test_config_ranges():
    with pytest.raises(ValueError, match="pck_threshold"):
        RealEvalConfig(pck_threshold=0)
    with pytest.raises(ValueError, match="min_kp_score"):
        RealEvalConfig(min_kp_score=1.5)
    with pytest.raises(ValueError, match="refine_passes"):
        RealEvalConfig(refine_passes=4)
    with pytest.raises(ValueError, match="refine_max_overlap"):
        RealEvalConfig(refine_max_overlap=0.0)
    with pytest.raises(ValueError, match="zoom_out_factor"):
        RealEvalConfig(zoom_out_factor=1.0)
    with pytest.raises(ValueError, match="extra_candidates"):
        RealEvalConfig(extra_candidates=7)


# ------------------------------------------------------------------ split by source

def test_split_by_source_names_and_patterns(tmp_path):
    table = {"train": ["repo/*"], "val": ["repo/val"], "test": ["people/bob", "lab-*"]}
    with pytest.raises(SplitError, match="more than one split"):
        split_of("repo/val", table)
    table["train"] = ["repo/a"]
    assert split_of("repo/val", table) == "val" and split_of("lab-3", table) == "test"
    assert split_of("somewhere/new", table) == "train"  # unnamed sources train, never test
    names = ["repo/a", "lab-1", "repo/val"]
    assert split_indices([0, 1, 1, 2, 0, 1], names, "test", table).tolist() == [1, 2, 5]
    with pytest.raises(SplitError, match="unknown split"):
        split_indices([0], names, "holdout", table)
    path = tmp_path / "split.yaml"
    path.write_text("test: [repo/b]\nval: []\n")
    assert load_split_table(path) == {"train": [], "val": [], "test": ["repo/b"]}
    path.write_text("tset: [repo/b]\n")
    with pytest.raises(SplitError, match="unknown split"):
        load_split_table(path)


def test_training_reads_one_split_of_a_real_folder(real_dirs, monkeypatch):
    from hand3d_ros.evaluation import real_split

    hands, _ = real_dirs
    monkeypatch.setitem(real_split.REAL_SPLIT, "test", ["repo/b"])
    test = SampleDataset(f"{hands}:test", ("image", "uv", "hand_side"))
    train = SampleDataset(f"{hands}:train", ("image", "uv", "hand_side"))
    assert len(test) == 2 and len(train) == 3  # repo/b: a one-hand and a hand-free photo
    assert test.describe()["split"] == "test"
    assert np.isnan(test[1]["uv"]).all() and not np.isnan(test[0]["uv"]).any()
    with pytest.raises(DataError, match="no samples of split 'val'"):
        SampleDataset(f"{hands}:val")
    from hand3d_ros.training.datasets import open_data

    mixed = open_data(f"{hands}:test*2,{hands}:train", ("uv", "source"))  # hand3d train --data syntax
    assert len(mixed) == 5 and [int(mixed[i]["source"]) for i in range(5)] == [1, 1, 0, 0, 0]


# ------------------------------------------------------------------ the command

class RenderedTeacher:
    """Held-out renders (the renderer's test split) in the real-teacher format, their
    true keypoints standing in for the teacher's labels; sources alternate."""

    def __init__(self, seed, hw=(240, 320)):
        self.seed, self.hw, self.renderer = seed, hw, None

    def __call__(self, index):
        from hand3d_ros.data.render.assets import resolve_asset_dir
        from hand3d_ros.data.render.scene import HandRenderer, RenderConfig

        if self.renderer is None:
            config = RenderConfig(split="test", height=self.hw[0], width=self.hw[1], with_depth=False)
            self.renderer = HandRenderer(config, str(resolve_asset_dir(None)))
        s = self.renderer.sample(self.seed, index)
        uv, xyz = s["uv"].astype(np.float32), s["xyz"].astype(np.float32)
        out = _sample(s["image"], s["mask"].astype(np.uint8), (uv, xyz, int(s["hand_side"])), 1, index % 2, index,
                      s["K"].astype(np.float32))
        out["kp_score"][:] = 1.0
        del out["teacher_mirror_err"]  # a folder without it: the noise floor says "unknown"
        return dict(out, index=np.int64(index))


def test_shipped_weights_on_rendered_photos_give_real_numbers(tmp_path, weights):
    """The shipped lite weights pose held-out rendered hands far better than random
    weights do, measured through the real evaluation (the renderer's truth as teacher)."""
    from hand3d_ros.evaluation.real import evaluate_real
    from hand3d_ros.inference.model_set import SHIPPED_WEIGHTS_DIR

    generator = RenderedTeacher(seed=4343)
    generator.samples = range(12)
    folder = write_real(tmp_path / "renders", generator, sources=("render/even", "render/odd"))
    shipped = evaluate_real(SHIPPED_WEIGHTS_DIR / "lite", [folder], device="cpu")
    random = evaluate_real(weights, [folder], device="cpu")
    assert shipped["counts"]["teacher_hands"] == 12 and shipped["noise_floor"]["teacher_mirror_err_median"] is None
    # The shipped HandSegNet (fine-tuned on real photos) finds few rendered hands (2 of
    # these 12; README, Shipped weights: a known regression); PoseNet on the teacher's
    # crops and the 3D of the found hands are what this checks.
    assert shipped["pipeline"]["found"] >= 1
    assert shipped["teacher_crops"]["pck"] > 0.3 and shipped["pipeline"]["pck"] > 0.3
    assert shipped["teacher_crops"]["pck"] > random["teacher_crops"]["pck"] + 0.2
    assert shipped["teacher_crops"]["median_error"] < random["teacher_crops"]["median_error"] - 0.1
    # 3D after one scale: 68 mm median on 200 frames (a hand is about 190 mm long)
    assert shipped["3d_scaled"]["hands"] == shipped["pipeline"]["found"]
    assert 10 < shipped["3d_scaled"]["median_error_mm"] < 150


def test_calibration_data_are_scored_as_the_evaluation_scores(tmp_path, real_dirs):
    """``calibrate-side`` reads what ``hand3d eval`` measures: above the weights' own gate,
    the detections it collects pair with exactly the teacher hands the evaluation finds,
    and every teacher hand gives finite side cues."""
    from hand3d_ros.evaluation.real import evaluate_real
    from hand3d_ros.core.hand_confidence import HandConfidence
    from hand3d_ros.evaluation.side_fit import collect_detections, collect_side_cues
    from hand3d_ros.inference.model_set import SHIPPED_WEIGHTS_DIR
    from hand3d_ros.models import read_weights

    generator = RenderedTeacher(seed=4343)
    generator.samples = range(8)
    folders = [write_real(tmp_path / "renders", generator, sources=("render/even", "render/odd")), real_dirs[1]]
    weights = SHIPPED_WEIGHTS_DIR / "lite"
    entry = read_weights(weights / "posenet.pt")["calibration"]["detection"]
    detections = collect_detections(weights, folders)
    evaluated = evaluate_real(weights, folders[:1], folders[1:], device="cpu")
    confidence = HandConfidence.from_entry(entry["hand_confidence"])
    kept = confidence.probability(detections["kp_mean"], detections["peak"],
                                  detections["hand_logit"]) >= entry["min_hand_score"]
    assert detections["teacher_hands"] == 8 and detections["hand_free_photos"] == 3
    assert int(np.sum(kept & detections["paired"])) == evaluated["pipeline"]["found"] >= 1
    assert int(np.sum(kept & ~detections["paired"])) == evaluated["pipeline"]["false_hands"] + int(
        round(evaluated["hand_free"]["false_hands_per_photo"] * 3))
    # the side is fitted on the hands the pipeline finds (ungated: at least the gated ones),
    # or on windows around every teacher hand
    cues = collect_side_cues(weights, folders[:1])
    assert evaluated["pipeline"]["found"] <= len(cues["head"]) <= int(np.sum(detections["paired"]))
    teacher = collect_side_cues(weights, folders[:1], side_crops="teacher")
    assert len(teacher["head"]) == 8
    for got in (cues, teacher):
        assert np.all(np.isfinite(got["head"]) & np.isfinite(got["residual"]))
    with pytest.raises(ValueError, match="side_crops"):
        collect_side_cues(weights, folders[:1], side_crops="mask")


def test_calibrate_side_picks_the_detection_threshold_and_writes_it(tmp_path, real_dirs, capsys):
    """With a false-hand budget and candidate HandSegNet thresholds, ``calibrate-side``
    runs the pipeline once per threshold, prints each with its gate, and stores the
    chosen one beside the gate, where the pipeline reads it."""
    import shutil

    from hand3d_ros.inference.model_set import SHIPPED_WEIGHTS_DIR, load_model_set
    from hand3d_ros.inference.pipeline import resolve_detection_threshold
    from hand3d_ros.models import read_weights

    generator = RenderedTeacher(seed=4343)
    generator.samples = range(24)  # the side fit wants 20 hands
    hands = write_real(tmp_path / "renders", generator, sources=("render/even", "render/odd"))
    weights = tmp_path / "weights"
    shutil.copytree(SHIPPED_WEIGHTS_DIR / "lite", weights)
    # the shipped HandSegNet finds few renders: the side is fitted on the teacher's windows
    base = ["calibrate-side", "--weights", str(weights), "--real", str(hands), "--split", "train",
            "--side-crops", "teacher"]
    assert main(base + ["--detection-thresholds", "0.4"]) != 0  # a choice needs a false-hand budget
    assert "--max-false-per-hand-free" in capsys.readouterr().err
    assert main(base + ["--negatives", str(real_dirs[1]), "--max-false-per-hand-free", "0.5",
                        "--budget-confidence", "0", "--detection-thresholds", "0.3", "0.6", "--write"]) == 0
    printed = capsys.readouterr().out
    assert "<- chosen" in printed and "HandSegNet threshold 0." in printed
    detection = read_weights(weights / "posenet.pt")["calibration"]["detection"]
    assert detection["detection_threshold"] in (0.3, 0.6)
    # a gate on the hand confidence fitted here, or on the mean keypoint score where these
    # few photos gave only one kind of hand (then no confidence model can be fitted)
    gate = detection.get("min_hand_score", detection.get("min_mean_keypoint_score"))
    assert 0.0 <= gate < 1.0 and ("hand_confidence" in detection) == ("min_hand_score" in detection)
    assert resolve_detection_threshold(-1.0, load_model_set(weights).metadata) == detection["detection_threshold"]
    # --gate keeps a chosen gate (the fit is still printed); off the grid: one readable line
    assert main(base + ["--negatives", str(real_dirs[1]), "--max-false-per-hand-free", "0.5", "--gate", "0.375"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "hand3d calibrate-side: --gate 0.375 is not on the --gate-step 0.01 grid"]
    assert main(base + ["--negatives", str(real_dirs[1]), "--max-false-per-hand-free", "0.5", "--gate", "0.37",
                        "--write"]) == 0
    printed = capsys.readouterr().out
    assert "gate kept at 0.37" in printed and "0.37" in next(line for line in printed.splitlines() if "<- gate" in line)
    detection = read_weights(weights / "posenet.pt")["calibration"]["detection"]
    assert detection.get("min_hand_score", detection.get("min_mean_keypoint_score")) == 0.37
    assert detection["rule"].endswith("gate kept at 0.37")
    # fitted at another HandSegNet size: stored beside the weights' own size's fit, used at that size only
    assert main(base + ["--negatives", str(real_dirs[1]), "--max-false-per-hand-free", "0.5", "--gate", "0.42",
                        "--detection-thresholds", "0.55", "--segmentation-size", "384x288", "--write"]) == 0
    assert "HandSegNet reads 384x288" in capsys.readouterr().out
    calibration = read_weights(weights / "posenet.pt")["calibration"]
    assert calibration["detection"] == detection  # untouched
    sized = calibration["detection@384x288"]
    assert sized["detection_threshold"] == 0.55 and sized["segmentation_size"] == [384, 288]
    assert sized.get("min_hand_score", sized.get("min_mean_keypoint_score")) == 0.42
    assert "side@384x288" in calibration
    model_set = load_model_set(weights)
    assert resolve_detection_threshold(-1.0, model_set.metadata, False, (288, 384)) == 0.55
    assert resolve_detection_threshold(-1.0, model_set.metadata, False, (336, 448)) == detection["detection_threshold"]


def test_eval_real_command_runs_the_pipeline_once_per_photo(weights, real_dirs, tmp_path, capsys):
    hands, negatives = real_dirs
    out, sheet = tmp_path / "real.json", tmp_path / "sheet.png"
    assert main(["eval", "--weights", str(weights), "--real", str(hands), "--negatives", str(negatives),
                 "--json", str(out), "--sheet", str(sheet), "--no-progress", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "PCK@0.2 pipeline, found hands" in printed and "repo/a" in printed and "interiors" in printed
    results = json.loads(out.read_text())["real"]
    # 4 photos in the hand folder (one hand-free), 3 hand-free negatives; 4 teacher hands
    assert results["counts"] == {"photos": 7, "photos_with_hands": 3, "hand_free_photos": 4, "teacher_hands": 4,
                                 "counted_keypoints": sum(r["counted"] for r in results["hands"])}
    pipeline = results["pipeline"]
    assert pipeline["found"] + pipeline["missed"] == 4
    assert pipeline["predictions"] <= 2 * 3  # max_hands 2 per photo
    assert results["hand_free"]["photos"] == 4
    assert 0 <= results["hand_free"]["false_hands_per_photo"] <= 2
    crops = results["teacher_crops"]  # PoseNet on every teacher hand, detected or not
    assert crops["hands"] == 4 and 0 <= crops["pck"] <= 1 and crops["median_error"] > 0
    assert results["noise_floor"]["teacher_mirror_err_median"] == pytest.approx(0.05)
    assert results["3d_scaled"]["hands"] == pipeline["found"]
    assert set(results["per_source"]) == {"repo/a", "repo/b", "interiors"}
    assert results["per_source"]["repo/a"]["counts"]["teacher_hands"] == 3
    assert results["per_source"]["interiors"]["counts"]["hand_free_photos"] == 3
    assert results["settings"]["match_min_iou"] == 0.3 and results["settings"]["min_kp_score"] == 0.5
    defaults = PipelineConfig()
    assert results["settings"]["refine_passes"] == defaults.refine_passes  # the pipeline's defaults
    assert results["settings"]["refine_max_overlap"] == defaults.refine_max_overlap
    assert results["settings"]["extra_candidates"] == defaults.extra_candidates
    assert results["settings"]["zoom_out_factor"] == defaults.zoom_out_factor
    assert sheet.stat().st_size > 1000
    assert main(["eval", "--weights", str(weights), "--real", str(hands), "--json", str(out), "--no-progress",
                 "--threads", "1", "--refine-passes", "2", "--refine-max-overlap", "0.4", "--extra-candidates", "2",
                 "--zoom-out-factor", "0"]) == 0
    settings = json.loads(out.read_text())["real"]["settings"]
    assert settings["refine_passes"] == 2 and settings["refine_max_overlap"] == 0.4
    assert settings["extra_candidates"] == 2 and settings["zoom_out_factor"] == 0.0
    for option, value in (("--refine-max-overlap", "0"), ("--zoom-out-factor", "1.0")):
        with pytest.raises(SystemExit):  # argparse: one line, exit 2
            main(["eval", "--weights", str(weights), "--real", str(hands), option, value])


def test_eval_real_picks_the_backend_and_precision(weights, real_dirs, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    hands, _ = real_dirs
    out, cache = tmp_path / "ort.json", tmp_path / "cache"
    common = ["eval", "--weights", str(weights), "--real", str(hands), "--backend", "onnxruntime", "--device", "cpu",
              "--cache-dir", str(cache), "--no-progress", "--threads", "1"]
    assert main(common + ["--json", str(out)]) == 0
    assert json.loads(out.read_text())["real"]["settings"]["backend"].startswith("onnxruntime-cpu (fp32")
    assert "backend: onnxruntime-cpu (fp32" in capsys.readouterr().out
    assert main(common + ["--precision", "int8"]) == 1  # these weights hold no INT8 calibration
    err = capsys.readouterr().err
    assert "hand3d calibrate-int8" in err and err.count("\n") == 1


def test_eval_real_and_rendered_data_in_one_run(weights, real_dirs, tiny_val, tmp_path):
    hands, _ = real_dirs
    out = tmp_path / "both.json"
    assert main(["eval", "--weights", str(weights), "--real", str(hands), "--data", str(tiny_val), "--limit", "2",
                 "--json", str(out), "--no-progress"]) == 0
    results = json.loads(out.read_text())
    assert results["real"]["counts"]["photos"] == 2 and results["2d_gt_crops"]["num_samples"] == 2


def test_eval_detects_a_real_folder_given_as_data_and_splits_it(weights, real_dirs, tmp_path, capsys):
    hands, _ = real_dirs
    table = tmp_path / "split.yaml"
    table.write_text("test: [repo/b]\n")
    out = tmp_path / "real.json"
    assert main(["eval", "--weights", str(weights), "--data", f"{hands}:test", "--split-table", str(table),
                 "--json", str(out), "--no-progress"]) == 0
    results = json.loads(out.read_text())["real"]
    assert results["settings"]["split"] == "test"
    assert results["counts"]["photos"] == 2 and results["counts"]["teacher_hands"] == 1
    assert "(split test)" in capsys.readouterr().out


def test_eval_real_bad_input_is_one_line(weights, real_dirs, tiny_val, tmp_path, capsys, monkeypatch):
    from hand3d_ros.evaluation import real_split

    hands, negatives = real_dirs
    monkeypatch.setitem(real_split.REAL_SPLIT, "test", ["elsewhere/*"])
    assert main(["eval", "--weights", str(weights), "--real", str(tiny_val)]) == 1
    assert "not a real-teacher folder" in capsys.readouterr().err
    assert main(["eval", "--weights", str(weights), "--real", str(negatives), "--no-progress"]) == 1
    assert "no teacher hands" in capsys.readouterr().err
    assert main(["eval", "--weights", str(weights), "--real", str(hands), "--split", "test", "--no-progress"]) == 1
    assert "split 'test': its sources are named in" in capsys.readouterr().err
    assert main(["eval", "--weights", str(weights), "--negatives", str(negatives), "--data", str(tmp_path)]) == 1


def test_table_shows_the_teacher_reference_and_dashes():
    uv = _one_hand()
    results = summarise(*[[x] if not isinstance(x, list) else x for x in score_photo([_teacher(uv, 1)], [], "s")])
    table = format_real_table(results)
    line = next(l for l in table.splitlines() if l.startswith("hands found"))
    assert line.split()[-2:] == ["0.000", "1.000"]
    line = next(l for l in table.splitlines() if l.startswith("PCK@0.2 pipeline, found hands"))
    assert line.split()[-2:] == ["-", "1.000"]


def test_fit_hand_head_writes_a_head_the_pipeline_and_calibration_read(tmp_path, real_dirs, capsys):
    """``fit-hand-head`` sorts the weights' own detections on labelled photos (paired or
    false), stores the head in the PoseNet file (calibrations kept), the pipeline reports
    its logit per hand, and ``calibrate-side`` then fits a hand confidence that reads it.
    Photos without a detection to sort are one readable line."""
    import shutil

    from hand3d_ros.inference.model_set import SHIPPED_WEIGHTS_DIR, load_model_set
    from hand3d_ros.models import read_weights
    from hand3d_ros.training.configs import HandHeadConfig

    generator = RenderedTeacher(seed=4343)
    generator.samples = range(24)
    hands = write_real(tmp_path / "renders", generator, sources=("render/even", "render/odd"))
    weights = tmp_path / "weights"
    shutil.copytree(SHIPPED_WEIGHTS_DIR / "lite", weights)
    before = read_weights(weights / "posenet.pt")
    base = ["fit-hand-head", "--weights", str(weights), "--split", "train", "--detection-threshold", "0.2",
            "--epochs", "20", "--hidden", "8", "--no-progress"]
    assert main(base + ["--real", str(real_dirs[1])]) == 1  # hand-free photos without a detection
    assert capsys.readouterr().err.strip().splitlines() == [
        "hand3d fit-hand-head: the pipeline posed no hand on the 3 photos: nothing to fit on"]
    assert main(base + ["--real", str(hands), "--negatives", str(real_dirs[1]), "--write"]) == 0
    printed = capsys.readouterr().out
    assert "paired with a teacher hand" in printed and "separation" in printed
    after = read_weights(weights / "posenet.pt")
    assert [tuple(entry) for entry in after["config"]["hand_head"]] == HandHeadConfig(hidden=8).table()
    assert after["calibration"] == before["calibration"] and after["training"]["hand_head"]["hidden"] == 8
    for name, tensor in before["state_dict"].items():  # the rest of PoseNet as it was
        if not name.startswith("hand_head."):
            assert torch.equal(after["state_dict"][name], tensor)
    assert load_model_set(weights).networks["posenet"].has_hand_head
    assert main(["calibrate-side", "--weights", str(weights), "--real", str(hands), "--negatives", str(real_dirs[1]),
                 "--split", "train", "--side-crops", "teacher", "--detection-thresholds", "0.2",
                 "--max-false-per-hand-free", "0.5", "--budget-confidence", "0", "--write"]) == 0
    assert "x hand head logit" in capsys.readouterr().out
    confidence = read_weights(weights / "posenet.pt")["calibration"]["detection"]["hand_confidence"]
    assert confidence["hand_scale"] != 0.0
