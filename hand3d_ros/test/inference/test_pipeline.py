"""The pipeline end to end on random-weight networks (CPU), and its geometry."""
import numpy as np
import pytest
import torch

from hand3d_ros.core.crop import crop_uv
from hand3d_ros.core.hand_template import template_hand_xyz
from hand3d_ros.inference.backends.torch_backend import TorchBackend
from hand3d_ros.inference.model_set import random_model_set
from hand3d_ros.inference.pipeline import STAGES, CropBox, HandPosePipeline, PipelineConfig, weak_perspective_residual


@pytest.fixture(scope="module")
def model_set():
    return random_model_set("lite")


def _pipeline(model_set, **config):
    return HandPosePipeline(TorchBackend(model_set), model_set, PipelineConfig(**config))


def _frames(n, h=120, w=160):
    return (np.random.default_rng(0).random((n, h, w, 3)) * 255).astype(np.uint8)


def test_end_to_end_finite_and_inside_the_crop(model_set):
    pipe = _pipeline(model_set, detection_threshold=0.01, max_hands=2)
    result = pipe(_frames(1)[0], keep_mask=True)
    assert set(result.timings_ms) == set(STAGES)
    assert result.mask.shape == (120, 160) and result.mask.any()
    assert 1 <= len(result.hands) <= 2
    for hand in result.hands:
        assert hand.uv.shape == (21, 2) and hand.w_rel.shape == (21, 3) and hand.R.shape == (3, 3)
        for value in (hand.uv, hand.uv_score, hand.w_rel, hand.w_c, hand.R):
            assert np.all(np.isfinite(value))
        box = hand.crop_box
        assert np.all((hand.uv >= box[:2] - 1) & (hand.uv <= box[2:] + 1))
        np.testing.assert_allclose(hand.R @ hand.R.T, np.eye(3), atol=1e-5)
        assert 0.0 <= hand.p_right <= 1.0 and hand.hand_side in (0, 1)
        assert np.allclose(hand.w_rel[0], 0.0, atol=1e-5)  # wrist-relative


def test_batch_gives_one_result_per_frame(model_set):
    pipe = _pipeline(model_set, detection_threshold=0.01)
    results = pipe(_frames(3))
    assert len(results) == 3 and all(r.detected for r in results)
    assert [h.frame for r in results for h in r.hands] == list(range(3))


def test_no_hand_when_nothing_passes_the_threshold(model_set):
    result = _pipeline(model_set, detection_threshold=0.999999)(_frames(1)[0])
    assert result.hands == []


def test_fixed_side_and_boxes(model_set):
    pipe = _pipeline(model_set, handedness="left")
    result = pipe.pose_in_boxes(_frames(1)[0], [[20, 10, 100, 90]])
    assert not result.detected and "handsegnet" not in result.timings_ms
    (hand,) = result.hands
    assert hand.hand_side == 0 and hand.p_right == 0.0
    np.testing.assert_allclose(hand.crop_box, [20, 10, 100, 90], atol=1e-4)
    right = pipe.pose_in_boxes(_frames(1)[0], [[20, 10, 100, 90]], hand_side=["right"]).hands[0]
    assert right.hand_side == 1 and right.p_right == 1.0


def test_auto_handedness_adds_the_side_heads_and_the_lifts_evidence():
    model_set = random_model_set("lite", seed=3)
    head = model_set.networks["posenet"].side_head
    with torch.no_grad():  # a head that is sure of "right" whatever it sees
        head.fc_side1.weight.zero_()
        head.fc_side1.bias.copy_(torch.tensor([-5.0, 5.0]))
    calls = []

    class Counting(TorchBackend):
        def poseprior(self, maps, hand_side):
            calls.append(hand_side.shape[0])
            return super().poseprior(maps, hand_side)

    frame, box = _frames(1)[0], [[20, 10, 100, 90]]
    lifts_only = HandPosePipeline(Counting(model_set), model_set,
                                  PipelineConfig(handedness_temperature=1e6, flip_test=False))
    (hand,) = lifts_only.pose_in_boxes(frame, box).hands
    assert hand.hand_side == 1 and hand.p_right > 0.99 and calls == [2]  # both sides lifted; the head wins
    head_only = HandPosePipeline(Counting(model_set), model_set,
                                 PipelineConfig(handedness_residual_weight=0.0, flip_test=False))
    assert head_only.pose_in_boxes(frame, box).hands[0].p_right == pytest.approx(torch.sigmoid(torch.tensor(10.0)))
    # with the mirrored crop averaged in, a head that says "right" whatever it sees says nothing
    head_only.config = PipelineConfig(handedness_residual_weight=0.0, flip_test=True)
    assert head_only.pose_in_boxes(frame, box).hands[0].p_right == pytest.approx(0.5, abs=1e-6)
    model_set.networks["posenet"].side_head = None  # weights without a head (the paper's): the lifts decide
    calls.clear()
    (hand,) = head_only.pose_in_boxes(frame, box).hands
    assert calls == [2] and 0.0 <= hand.p_right <= 1.0


def test_flip_test_makes_posenet_mirror_equivariant(model_set):
    """A mirrored crop gives the mirrored maps and the swapped side (keypoints keep their
    anatomical order), which the random-weight network alone does not."""
    patches = torch.randn(3, 3, model_set.crop_size, model_set.crop_size, generator=torch.Generator().manual_seed(1))
    plain = _pipeline(model_set, flip_test=False)
    flip = _pipeline(model_set, flip_test=True)
    maps, side, _ = flip.posenet(patches)
    mirrored_maps, mirrored_side, _ = flip.posenet(patches.flip(-1))
    torch.testing.assert_close(mirrored_maps, maps.flip(-1), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(mirrored_side, side.flip(-1), atol=1e-5, rtol=1e-4)
    plain_maps, plain_side, _ = plain.posenet(patches)
    plain_mirrored_maps, plain_mirrored_side, _ = plain.posenet(patches.flip(-1))
    assert not torch.allclose(plain_mirrored_side, plain_side.flip(-1), atol=1e-3)
    torch.testing.assert_close(maps, (plain_maps + plain_mirrored_maps.flip(-1)) / 2)
    torch.testing.assert_close(side, (plain_side + plain_mirrored_side.flip(-1)) / 2)
    assert flip.posenet(patches[:0])[0].shape[0] == 0


@pytest.mark.parametrize("boxes", [
    [[20, 10, 100, 90]],                          # inside
    [[-30, -20, 40, 60], [600, 400, 700, 520]],   # over the top-left and bottom-right edges
    [[100, 50, 500, 450]],                        # a big window: cut from the 2x and 4x pooled frame
    [[700, 600, 760, 660]],                       # off the frame altogether
    [[0.3, 0.6, 37.9, 41.2], [250.5, 200.25, 251.5, 201.25]],  # fractional, and tiny
])
def test_tracking_crops_from_the_region_equal_crops_from_the_whole_frame(model_set, boxes):
    from hand3d_ros.inference.export import RecordingBackend

    frame = (np.random.default_rng(5).random((480, 640, 3)) * 255).astype(np.uint8)
    recording = RecordingBackend(TorchBackend(model_set))
    pipe = HandPosePipeline(recording, model_set, PipelineConfig(handedness="left", flip_test=True))
    pipe.pose_in_boxes(frame, boxes)
    (region_patches,) = recording.calls["posenet"][0]  # the crops, then their mirror images (flip_test)
    # the same windows cut from the whole normalised frame
    box = torch.tensor(boxes, dtype=torch.float32)
    side = torch.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
    config = pipe.config.crop_config(pipe.crop_size)
    scale = (pipe.crop_size / side).clamp(config.scale_min, config.scale_max)
    crops = CropBox(center=(box[:, :2] + box[:, 2:]) / 2, scale=scale, side=pipe.crop_size / scale,
                    fallback=torch.zeros(len(boxes), dtype=torch.bool), output_size=pipe.crop_size)
    whole = pipe._cut(pipe._normalise(torch.as_tensor(frame)[None]), torch.zeros(len(boxes), dtype=torch.long), crops)
    assert torch.allclose(region_patches, torch.cat([whole, whole.flip(-1)]), atol=1e-4)  # float32 rounding


def test_crops_from_the_pyramid_stay_aligned(model_set):
    """A crop that shrinks the image 3x is cut from a pooled copy; a dot still lands at crop_uv."""
    pipe = _pipeline(model_set)
    h, w = 480, 640
    yy, xx = np.mgrid[0:h, 0:w]
    dot = np.array([301.3, 222.7])
    image = np.exp(-((xx - dot[0]) ** 2 + (yy - dot[1]) ** 2) / (2 * 6.0 ** 2))
    images = torch.tensor(image, dtype=torch.float32)[None, None].repeat(1, 3, 1, 1)
    scale = torch.tensor([1.0 / 3.0])
    center = torch.tensor([[320.0, 240.0]])
    crops = CropBox(center=center, scale=scale, side=pipe.crop_size / scale, fallback=torch.zeros(1, dtype=torch.bool),
                    output_size=pipe.crop_size)
    patch = pipe._cut(images, torch.zeros(1, dtype=torch.long), crops)[0, 0].numpy()
    ys, xs = np.mgrid[0:patch.shape[0], 0:patch.shape[1]]
    weight = patch / patch.sum()
    found = np.array([(weight * xs).sum(), (weight * ys).sum()])
    expected = crop_uv(dot[None], center.numpy(), scale.numpy(), pipe.crop_size)[0]
    assert np.linalg.norm(found - expected) < 0.3


def test_weak_perspective_residual_prefers_the_true_side():
    xyz = template_hand_xyz(0)
    w_rel = torch.tensor((xyz - xyz[0]) / np.linalg.norm(xyz[10] - xyz[9]), dtype=torch.float32)[None]
    uv = 300.0 * w_rel[..., :2] + torch.tensor([160.0, 120.0])
    score = torch.ones(1, 21)
    assert weak_perspective_residual(w_rel, uv, score)[0] < 1e-4
    mirrored = w_rel * torch.tensor([-1.0, 1.0, 1.0])
    assert weak_perspective_residual(mirrored, uv, score)[0] > 0.1


def test_a_side_calibration_in_the_weights_replaces_the_raw_sum():
    from hand3d_ros.core.side_calibration import SideCalibration

    model_set = random_model_set("lite", seed=4)
    frame, box = _frames(1)[0], [[20, 10, 100, 90]]
    raw = _pipeline(model_set).pose_in_boxes(frame, box).hands[0]
    head_logit, residual_diff = raw.side_cues
    assert np.isfinite(head_logit) and np.isfinite(residual_diff)
    cal = SideCalibration(head_scale=0.0, residual_scale=0.0, bias=-3.0, head_only_scale=0.0, head_only_bias=2.0)
    model_set.metadata["posenet"]["calibration"] = {"side": cal.to_entry()}
    pipe = _pipeline(model_set)
    calibrated = pipe.pose_in_boxes(frame, box).hands[0]
    assert calibrated.p_right == pytest.approx(1 / (1 + np.exp(3.0)), rel=1e-4) and calibrated.hand_side == 0
    hinted = pipe.pose_in_boxes(frame, box, hand_side=["right"]).hands[0]  # the tracker's hint: head alone
    assert hinted.p_right == pytest.approx(1 / (1 + np.exp(-2.0)), rel=1e-4)


class _PaintedHandSegNet(TorchBackend):
    """The real random-weight networks, except that HandSegNet sees two palms touching
    side by side (a fixed mask), and PoseNet's and PosePrior's batch sizes are recorded."""

    def __init__(self, model_set):
        super().__init__(model_set)
        self.posenet_batches, self.poseprior_batches = [], []

    def handsegnet(self, images):
        n, _, h, w = images.shape
        vv, uu = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        palm = lambda cu: (uu - cu) ** 2 + (vv - h / 2) ** 2 <= (h / 4) ** 2  # noqa: E731
        neck = ((vv - h / 2).abs() <= h / 20) & ((uu - w / 2).abs() <= w / 8)
        hand = (palm(w / 2 - h / 4 - 2) | palm(w / 2 + h / 4 + 2) | neck).float() * 10 - 5
        return torch.stack([-hand, hand])[None].expand(n, -1, -1, -1)

    def posenet(self, crops):
        self.posenet_batches.append(crops.shape[0])
        return super().posenet(crops)

    def poseprior(self, maps, hand_side):
        self.poseprior_batches.append(maps.shape[0])
        return super().poseprior(maps, hand_side)


def test_a_component_of_two_touching_hands_is_also_posed_as_its_two_parts(model_set):
    backend = _PaintedHandSegNet(model_set)
    pipe = HandPosePipeline(backend, model_set, PipelineConfig(max_hands=2, flip_test=False))
    result = pipe(_frames(1, 240, 320)[0])
    assert backend.posenet_batches == [3]  # the whole and its two parts
    assert len(result.hands) in (1, 2)
    boxes = [hand.crop_box for hand in result.hands]
    if len(result.hands) == 2:  # the parts won: one left of the other
        assert max(b[0] + b[2] for b in boxes) - min(b[0] + b[2] for b in boxes) > 60
    backend.posenet_batches.clear()
    pipe.config = PipelineConfig(max_hands=2, flip_test=False, split_min_aspect=0.0)
    assert len(pipe(_frames(1, 240, 320)[0]).hands) == 1 and backend.posenet_batches == [1]


def _posed(box, keypoint_score: float, score: float, frame: int = 0):
    """A hand as detection chooses among them (before the lift): crop ``box``, every
    keypoint scored ``keypoint_score``."""
    from hand3d_ros.inference.pipeline import _Posed

    return _Posed(crop_box=np.array(box, dtype=float), uv=np.zeros((21, 2)), uv_score=np.full(21, keypoint_score),
                  score=score, peak=float("nan"), frame=frame, component=0, maps=torch.zeros(21, 4, 4),
                  head_logit=float("nan"))


def test_each_part_scored_above_its_whole_replaces_it():
    """Two touching hands: both parts replace the whole; a hand joined to an arm: the
    part holding the hand does; one hand: nothing does."""
    from hand3d_ros.inference.pipeline import _wholes_or_parts

    def hand(score, name):
        return _posed([name, 0, 1, 1.0], keypoint_score=0.5, score=score)

    def names(hands):
        return [h.crop_box[0] for h in hands]

    def by_score(hand):
        return hand.score

    wholes = [hand(0.5, 0), hand(0.4, 1)]
    assert names(_wholes_or_parts(wholes + [hand(0.6, 10), hand(0.7, 11)], 2, [1], by_score)) == [0, 10, 11]
    assert names(_wholes_or_parts(wholes + [hand(0.6, 10), hand(0.3, 11)], 2, [1], by_score)) == [0, 10]
    assert names(_wholes_or_parts(wholes + [hand(0.4, 10), hand(0.3, 11)], 2, [1], by_score)) == [0, 1]
    both_split = wholes + [hand(0.2, 10), hand(0.3, 11), hand(0.45, 20), hand(0.9, 21)]
    assert names(_wholes_or_parts(both_split, 2, [0, 1], by_score)) == [0, 20, 21]
    # The rule reads whichever confidence it is given: here the mean keypoint score.
    low_keypoints = [_posed([10, 0, 1, 1.0], keypoint_score=0.1, score=0.9),
                     _posed([11, 0, 1, 1.0], keypoint_score=0.2, score=0.9)]
    assert names(_wholes_or_parts(wholes + low_keypoints, 2, [1], lambda h: float(np.mean(h.uv_score)))) == [0, 1]


def test_split_choice_reads_the_hand_confidence_when_the_weights_carry_one(model_set):
    """The whole and its parts share the component's HandSegNet peak, so without a hand
    confidence (a detection's score is then that peak) the mean keypoint score decides."""
    from hand3d_ros.core.hand_confidence import HandConfidence

    pipe = _pipeline(model_set)
    sure_keypoints_low_score = _posed([0, 0, 1, 1.0], keypoint_score=0.8, score=0.1)
    pipe.hand_confidences = {False: None, True: None}
    assert pipe._split_confidence(sure_keypoints_low_score) == pytest.approx(0.8)
    confidence = HandConfidence(keypoint_scale=1.0, peak_scale=1.0, bias=0.0)
    pipe.hand_confidences = {False: confidence, True: confidence}
    assert pipe._split_confidence(sure_keypoints_low_score) == pytest.approx(0.1)


def test_each_flip_test_mode_takes_its_own_calibration():
    """Mirror averaging changes the keypoint scores and side logits, so the weights may carry
    a gate and side calibration per mode; a mode without its own falls back to the other."""
    from dataclasses import replace

    from hand3d_ros.core.tracking import TrackerConfig
    from hand3d_ros.inference.estimator import EstimatorConfig, HandEstimator

    model_set = random_model_set("lite", seed=5)
    side = dict(head_scale=1.0, residual_scale=2.0, bias=0.0)
    confidence = dict(keypoint_scale=20.0, peak_scale=10.0, bias=-20.0)
    calibration = {"detection": {"detection_threshold": 0.45, "min_hand_score": 0.22,
                                 "hand_confidence": dict(confidence, bias=-21.0)},
                   "detection_flip_test": {"detection_threshold": 0.4, "min_hand_score": 0.25,
                                           "hand_confidence": confidence},
                   "side": dict(side, bias=0.1), "side_flip_test": dict(side, bias=-0.2)}
    model_set.metadata.setdefault("posenet", {})["calibration"] = calibration
    pipe = HandPosePipeline(TorchBackend(model_set), model_set, PipelineConfig())
    assert pipe.detection_threshold == 0.45 and pipe.side_calibration.bias == 0.1
    assert pipe.hand_confidence.bias == -21.0
    pipe.config = PipelineConfig(flip_test=True)
    assert pipe.detection_threshold == 0.4 and pipe.side_calibration.bias == -0.2
    assert pipe.hand_confidence.bias == -20.0
    config = EstimatorConfig(pipeline=PipelineConfig(flip_test=True), tracker=TrackerConfig(min_hand_score=-1.0))
    estimator = HandEstimator(pipe, config)
    assert estimator.config.tracker.min_hand_score == 0.25
    assert estimator.config.tracker.min_mean_keypoint_score == 0.0  # folded into the confidence
    estimator.configure(replace(config, pipeline=PipelineConfig(flip_test=False)))
    assert estimator.config.tracker.min_hand_score == 0.22
    del calibration["detection_flip_test"], calibration["side_flip_test"]  # older weights: one fit
    pipe = HandPosePipeline(TorchBackend(model_set), model_set, PipelineConfig(flip_test=True))
    assert pipe.detection_threshold == 0.45 and pipe.side_calibration.bias == 0.1
    pipe.side_calibration = None  # the raw cues in both modes
    assert pipe.side_calibrations == {False: None, True: None}


def test_refinement_poses_each_hand_again_in_a_crop_around_its_keypoints(model_set):
    """refine_passes: the hands of a detection frame are posed again in the crop their own
    first-pass keypoints give (what pose_in_boxes does with that window), keeping their
    HandSegNet peak; with too few confident keypoints a hand keeps its mask crop."""
    from hand3d_ros.core.crop import crop_from_keypoints

    frame = _frames(1)[0]
    plain = dict(detection_threshold=0.01, max_hands=2, handedness="left")
    first = _pipeline(model_set, refine_passes=0, **plain)(frame).hands
    assert first
    pipe = _pipeline(model_set, refine_passes=1, refine_max_overlap=1.0, refine_min_keypoint_score=0.0,
                     refine_min_keypoints=3, **plain)
    refined = {h.component: h for h in pipe(frame).hands}
    assert sorted(refined) == sorted(h.component for h in first)
    for hand in first:
        window = crop_from_keypoints(torch.as_tensor(hand.uv[None]), torch.as_tensor(hand.uv_score[None]), 0.0,
                                     pipe.config.crop_config(pipe.crop_size), image_hw=frame.shape[:2],
                                     min_keypoints=3).to_box()[0].numpy()
        again = refined[hand.component]
        np.testing.assert_allclose(again.crop_box, window, atol=1e-3)
        assert not np.allclose(again.crop_box, hand.crop_box, atol=0.5)  # the mask's crop was another
        (direct,) = pipe.pose_in_boxes(frame, [window]).hands
        np.testing.assert_allclose(again.uv, direct.uv, atol=0.05)
        assert again.peak == hand.peak and np.isfinite(again.peak)
    strict = _pipeline(model_set, refine_passes=1, refine_max_overlap=1.0, refine_min_keypoint_score=1.0,
                       refine_min_keypoints=21, **plain)
    kept = strict(frame).hands
    assert [h.crop_box.tolist() for h in kept] == [h.crop_box.tolist() for h in first]


def test_refinement_skips_hands_whose_keypoint_crop_overlaps_their_crop(model_set):
    """refine_max_overlap: only hands whose keypoint crop overlaps the window PoseNet saw by
    at most that IoU are posed again; the others keep their first result exactly."""
    from hand3d_ros.core.crop import crop_from_keypoints
    from hand3d_ros.core.tracking import box_iou

    frame = _frames(1)[0]
    plain = dict(detection_threshold=0.01, max_hands=2, handedness="left", refine_min_keypoint_score=0.0,
                 refine_min_keypoints=3)
    first = {h.component: h for h in _pipeline(model_set, refine_passes=0, **plain)(frame).hands}
    pipe = _pipeline(model_set, refine_passes=1, **plain)
    overlap = {}
    for component, hand in first.items():
        window = crop_from_keypoints(torch.as_tensor(hand.uv[None]), torch.as_tensor(hand.uv_score[None]), 0.0,
                                     pipe.config.crop_config(pipe.crop_size), image_hw=frame.shape[:2],
                                     min_keypoints=3).to_box()[0].numpy()
        overlap[component] = box_iou(window, hand.crop_box)
    assert all(0.0 < iou < 1.0 for iou in overlap.values())
    for limit in sorted(v + d for v in overlap.values() for d in (-1e-4, 1e-4)):  # clear of float32 rounding
        hands = _pipeline(model_set, refine_passes=1, refine_max_overlap=limit, **plain)(frame).hands
        for hand in hands:
            redone = overlap[hand.component] <= limit
            assert np.allclose(hand.crop_box, first[hand.component].crop_box) != redone, (limit, hand.component)


def test_zoom_out_poses_low_scoring_hands_again_in_a_larger_window(model_set):
    """zoom_out_factor: a hand scoring below zoom_out_below_score is posed again in a
    window zoom_out_factor x its crop (same centre), re-cropped around those keypoints,
    and the better scored of the two results is kept (each what pose_in_boxes gives in
    that window with the hand's peak); no hand below the limit, or weights without a hand
    confidence (a detection's score is then its peak in both windows): nothing changes."""
    from hand3d_ros.core.crop import crop_from_keypoints
    from hand3d_ros.core.hand_confidence import HandConfidence

    frame = _frames(1)[0]
    plain = dict(detection_threshold=0.01, max_hands=2, handedness="left", refine_passes=0,
                 refine_max_overlap=1.0, refine_min_keypoint_score=0.0, refine_min_keypoints=3)
    # scores spread over (0, 1) with the mean keypoint score of the random network
    confidence = {flip: HandConfidence(keypoint_scale=40.0, peak_scale=0.0, bias=-4.0) for flip in (False, True)}

    def run(with_confidence=True, **zoom):
        pipe = _pipeline(model_set, **plain, **zoom)
        if with_confidence:
            pipe.hand_confidences = confidence
        return pipe, {h.component: h for h in pipe(frame).hands}

    pipe, first = run(zoom_out_factor=0.0)
    assert first and all(0.0 < h.score < 1.0 for h in first.values())
    for kept in (run(zoom_out_factor=2.0, zoom_out_below_score=0.0)[1],
                 run(False, zoom_out_factor=2.0, zoom_out_below_score=1.0)[1]):
        assert {c: h.crop_box.tolist() for c, h in kept.items()} == {c: h.crop_box.tolist() for c, h in first.items()}
    _, zoomed = run(zoom_out_factor=2.0, zoom_out_below_score=1.0)
    assert sorted(zoomed) == sorted(first)
    for component, hand in first.items():
        centre, side = (hand.crop_box[:2] + hand.crop_box[2:]) / 2, 2.0 * (hand.crop_box[2] - hand.crop_box[0])
        (wide,) = pipe.pose_in_boxes(frame, [np.concatenate([centre - side / 2, centre + side / 2])],
                                     peaks=[hand.peak]).hands
        window = crop_from_keypoints(torch.as_tensor(wide.uv[None]), torch.as_tensor(wide.uv_score[None]), 0.0,
                                     pipe.config.crop_config(pipe.crop_size), image_hw=frame.shape[:2],
                                     min_keypoints=3).to_box()[0].numpy()
        (again,) = pipe.pose_in_boxes(frame, [window], peaks=[hand.peak]).hands
        got = zoomed[component]
        assert got.score == pytest.approx(max(hand.score, again.score), abs=1e-3)
        if abs(again.score - hand.score) > 1e-3:
            expected = window if again.score > hand.score else hand.crop_box
            np.testing.assert_allclose(got.crop_box, expected, atol=1e-2)
        assert got.peak == hand.peak


class _ThreeBlobHandSegNet(_PaintedHandSegNet):
    """As :class:`_PaintedHandSegNet`, but HandSegNet sees three separate round blobs whose
    peaks fall from left to right."""

    PEAK_LOGITS = (6.0, 4.0, 2.0)

    def handsegnet(self, images):
        n, _, h, w = images.shape
        vv, uu = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        logit = torch.full((h, w), -8.0)
        for k, peak in enumerate(self.PEAK_LOGITS):
            blob = (uu - w * (k + 1) / 4) ** 2 + (vv - h / 2) ** 2 <= (h / 8) ** 2
            logit = torch.where(blob, torch.tensor(peak), logit)
        return torch.stack([-logit, logit])[None].expand(n, -1, -1, -1)


def test_extra_candidates_are_posed_and_the_best_scored_hands_kept(model_set):
    """extra_candidates: the components beyond max_hands are posed too, and the frame keeps
    the max_hands hands with the best score, whatever their HandSegNet peak."""
    from hand3d_ros.core.hand_confidence import HandConfidence

    backend = _ThreeBlobHandSegNet(model_set)
    frame = _frames(1, 240, 320)[0]
    centres_u = [320 * (k + 1) / 4 for k in range(3)]  # blobs by falling peak

    def run(max_hands, extra_candidates, refine_passes=0):
        pipe = HandPosePipeline(backend, model_set, PipelineConfig(
            refine_passes=refine_passes, refine_max_overlap=1.0, detection_threshold=0.5, max_hands=max_hands,
            extra_candidates=extra_candidates, zoom_out_factor=0.0))
        # a hand confidence that ranks the hands against their peaks (the lowest peak scores best)
        pipe.hand_confidences = {flip: HandConfidence(keypoint_scale=0.0, peak_scale=-20.0, bias=18.0)
                                 for flip in (False, True)}
        backend.posenet_batches.clear()
        backend.poseprior_batches.clear()
        hands = pipe(frame).hands
        blobs = [int(np.argmin([abs((h.crop_box[0] + h.crop_box[2]) / 2 - u) for u in centres_u])) for h in hands]
        return hands, blobs

    hands, blobs = run(3, 0)
    assert backend.posenet_batches == [3] and sorted(blobs) == [0, 1, 2]
    peaks = {blob: hand.peak for hand, blob in zip(hands, blobs)}
    assert peaks[0] > peaks[1] > peaks[2]
    assert blobs == [2, 1, 0]  # reported best score first

    assert run(1, 0)[1] == [0] and backend.posenet_batches == [1]  # the best peak only
    assert run(1, 1)[1] == [1] and backend.posenet_batches == [2]  # the better scored of two
    assert run(1, 2)[1] == [2] and backend.posenet_batches == [3]
    assert run(1, 6)[1] == [2] and backend.posenet_batches == [3]  # never more than the mask's components
    # PosePrior lifts the reported hand only (both sides: handedness auto), once, also
    # after it was re-cropped and posed again
    assert backend.poseprior_batches == [2]
    run(1, 2, refine_passes=2)
    assert backend.posenet_batches == [3, 1, 1] and backend.poseprior_batches == [2]
    assert run(2, 1)[1] == [2, 1]
    assert run(2, 0)[1] == [1, 0]


def test_a_hand_whose_crop_and_a_better_scored_ones_overlap_is_a_duplicate():
    from hand3d_ros.inference.pipeline import _without_duplicates

    def hand(box, score, frame=0):
        return _posed(box, 0.5, score, frame)

    whole = hand([0, 0, 100, 100], 0.9)
    fingers = hand([40, 0, 90, 50], 0.6)            # wholly inside the whole hand's crop
    beside = hand([80, 0, 180, 100], 0.7)           # a fifth of it inside: another hand
    other_frame = hand([40, 0, 90, 50], 0.6, frame=1)
    kept = _without_duplicates([fingers, whole, beside, other_frame], max_containment=0.8)
    assert kept == [whole, beside, other_frame]      # order kept
    # the better-scored hand stays, also when its crop is the one inside
    assert _without_duplicates([hand([0, 0, 100, 100], 0.5), fingers], 0.8) == [fingers]
    assert len(_without_duplicates([whole, beside], max_containment=0.2)) == 1
    assert len(_without_duplicates([whole, fingers], max_containment=1.0)) == 1  # wholly inside: still dropped
