"""Tests for hand3d_ros.core.tracking."""
import numpy as np
import pytest

from hand3d_ros.core.tracking import (
    LEFT,
    RIGHT,
    UNKNOWN,
    Detection,
    HandTracker,
    TrackerConfig,
    box_containment,
    box_iou,
)

DT = 1.0 / 30.0
# A hand-shaped spread of 21 keypoints around the wrist (pixels, roughly 120 px tall).
_SHAPE = np.random.default_rng(123).uniform([-50, -120], [50, 0], size=(21, 2))
_SHAPE[0] = 0.0


def make_detection(wrist_uv, p_right=0.5, hand_score=0.9, score=0.9, rng=None, noise_px=0.0, xyz=None):
    uv = np.asarray(wrist_uv, dtype=float) + _SHAPE
    if rng is not None and noise_px:
        uv = uv + rng.normal(0, noise_px, size=uv.shape)
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    centre, side = (lo + hi) / 2, (hi - lo).max() * 1.25
    box = np.concatenate([centre - side / 2, centre + side / 2])
    return Detection(box=box, uv=uv, score=np.full(21, score), hand_score=hand_score, p_right=p_right, xyz=xyz)


def test_box_iou():
    assert box_iou([0, 0, 10, 10], [0, 0, 10, 10]) == pytest.approx(1.0)
    assert box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert box_iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0


def test_box_containment_is_the_share_of_the_first_box_inside_the_second():
    assert box_containment([2, 2, 4, 4], [0, 0, 10, 10]) == pytest.approx(1.0)
    assert box_containment([0, 0, 10, 10], [2, 2, 4, 4]) == pytest.approx(4 / 100)
    assert box_containment([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(0.5)
    assert box_containment([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0
    assert box_containment([3, 3, 3, 8], [0, 0, 10, 10]) == 0.0  # empty


def test_two_moving_hands_keep_their_ids():
    rng = np.random.default_rng(0)
    tracker = HandTracker(TrackerConfig(max_hands=2))
    ids_a, ids_b = set(), set()
    for frame in range(60):
        a = make_detection([150 + 3 * frame, 300 + 1 * frame], rng=rng, noise_px=1.0)
        b = make_detection([500 - 2 * frame, 320 - 1 * frame], rng=rng, noise_px=1.0)
        detections = [a, b] if rng.random() < 0.5 else [b, a]  # order carries no meaning
        tracks = tracker.update(detections, frame * DT)
        assert len(tracks) == 2
        for track in tracks:
            (ids_a if track.detection is a else ids_b).add(track.id)
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b


def test_fast_hand_is_followed_with_motion_prediction():
    # The hand speeds up to 220 px per frame (more than its box side, ~150 px).
    speeds = np.minimum(40 + 20 * np.arange(15), 220)
    path = 100 + np.concatenate([[0], np.cumsum(speeds)])
    ids = {}
    for predict in (True, False):
        tracker = HandTracker(TrackerConfig(max_hands=1, predict_motion=predict, max_missed_frames=0))
        ids[predict] = {tracker.update([make_detection([u, 300])], f * DT)[0].id for f, u in enumerate(path)}
    assert len(ids[True]) == 1
    assert len(ids[False]) > 1  # without prediction the track is lost


def test_disappearing_hand_is_dropped_and_a_new_one_gets_a_new_id():
    config = TrackerConfig(max_hands=2, max_missed_frames=3)
    tracker = HandTracker(config)
    frame = 0
    for frame in range(5):
        tracks = tracker.update([make_detection([150, 300]), make_detection([500, 300])], frame * DT)
    id_a = next(t.id for t in tracks if t.uv_raw[0, 0] < 300)
    id_b = next(t.id for t in tracks if t.uv_raw[0, 0] > 300)
    # Hand B leaves: it survives max_missed_frames misses, then it is gone.
    for miss in range(1, 6):
        frame += 1
        tracks = tracker.update([make_detection([150, 300])], frame * DT)
        assert [t.id for t in tracks] == [id_a]
        alive = {t.id: t for t in tracker.tracks}
        if miss <= 3:
            assert id_b in alive and alive[id_b].missed == miss and alive[id_b].detection is None
        else:
            assert id_b not in alive
    # A hand comes back at B's place: a new id, never a reused one.
    frame += 1
    tracks = tracker.update([make_detection([150, 300]), make_detection([500, 300])], frame * DT)
    new_id = next(t.id for t in tracks if t.uv_raw[0, 0] > 300)
    assert new_id not in (id_a, id_b) and new_id > max(id_a, id_b)


def test_reset_never_reuses_ids():
    tracker = HandTracker()
    first = tracker.update([make_detection([200, 300])], 0.0)[0].id
    tracker.reset()
    assert tracker.tracks == []
    second = tracker.update([make_detection([200, 300])], 0.1)[0].id
    assert second != first


def test_stamp_going_backwards_resets_tracks():
    tracker = HandTracker()
    first = tracker.update([make_detection([200, 300])], 5.0)[0].id
    tracker.update([make_detection([200, 300])], 5.1)
    again = tracker.update([make_detection([200, 300])], 0.0)[0]
    assert again.id != first and again.hits == 1


def test_max_hands_keeps_the_best_detections():
    tracker = HandTracker(TrackerConfig(max_hands=2))
    dets = [make_detection([100, 300], hand_score=0.5), make_detection([300, 300], hand_score=0.95),
            make_detection([500, 300], hand_score=0.8), make_detection([600, 100], hand_score=0.1)]
    tracks = tracker.update(dets, 0.0)
    assert [t.hand_score for t in tracks] == [0.95, 0.8]
    assert len(tracker.tracks) == 2


def test_new_hand_replaces_a_missing_track_at_capacity():
    tracker = HandTracker(TrackerConfig(max_hands=1, max_missed_frames=10))
    old = tracker.update([make_detection([100, 300])], 0.0)[0].id
    tracker.update([], DT)
    tracks = tracker.update([make_detection([600, 100])], 2 * DT)
    assert len(tracks) == 1 and tracks[0].id != old and len(tracker.tracks) == 1


def count_label_switches(labels):
    return sum(a != b for a, b in zip(labels, labels[1:]))


def test_handedness_noise_does_not_flicker():
    rng = np.random.default_rng(1)
    tracker = HandTracker(TrackerConfig(handedness_margin=0.15, handedness_time_constant_s=0.3))
    labels = []
    for frame in range(150):  # P(right) hovering around 0.5
        p = float(np.clip(0.5 + rng.normal(0, 0.15), 0, 1))
        labels.append(tracker.update([make_detection([300, 300], p_right=p)], frame * DT)[0].handedness)
    decided = [label for label in labels if label != UNKNOWN]
    assert count_label_switches(decided) == 0  # never left <-> right
    # The raw samples themselves would flip across 0.5 about half the frames.
    tracker = HandTracker()
    labels = []
    for frame in range(150):  # a right hand with noisy evidence, sometimes below 0.5
        p = float(np.clip(0.72 + rng.normal(0, 0.2), 0, 1))
        track = tracker.update([make_detection([300, 300], p_right=p)], frame * DT)[0]
        labels.append(track.handedness)
    assert labels[-1] == RIGHT
    assert count_label_switches(labels) <= 1  # at most UNKNOWN -> RIGHT once
    assert track.hand_side == RIGHT and 0.5 < track.handedness_score <= 1.0


def test_handedness_follows_a_real_change():
    tracker = HandTracker(TrackerConfig(handedness_time_constant_s=0.2))
    for frame in range(30):
        track = tracker.update([make_detection([300, 300], p_right=0.95)], frame * DT)[0]
    assert track.handedness == RIGHT
    for frame in range(30, 60):
        track = tracker.update([make_detection([300, 300], p_right=0.05)], frame * DT)[0]
    assert track.handedness == LEFT and track.hand_side == LEFT
    assert track.handedness_score > 0.8


def test_unknown_until_decided():
    tracker = HandTracker(TrackerConfig(handedness_unknown_margin=0.05))
    track = tracker.update([make_detection([300, 300], p_right=0.53)], 0.0)[0]
    assert track.handedness == UNKNOWN
    assert track.hand_side == RIGHT  # the likelier side for models that need one
    assert track.handedness_score == pytest.approx(0.53)


@pytest.mark.parametrize("p_right, unknown_margin, label", [
    (0.58, 0.05, RIGHT), (0.42, 0.05, LEFT), (0.58, 0.15, UNKNOWN), (0.7, 0.15, RIGHT), (0.51, 0.0, RIGHT),
    (0.5, 0.0, UNKNOWN)])
def test_a_new_hand_takes_the_likelier_side_outside_the_unknown_margin(p_right, unknown_margin, label):
    tracker = HandTracker(TrackerConfig(handedness_unknown_margin=unknown_margin))
    assert tracker.update([make_detection([300, 300], p_right=p_right)], 0.0)[0].handedness == label


def test_a_decided_side_changes_only_past_the_hysteresis():
    config = TrackerConfig(handedness_unknown_margin=0.05, handedness_margin=0.15, handedness_time_constant_s=0.0)
    tracker = HandTracker(config)
    labels = [tracker.update([make_detection([300, 300], p_right=p)], i * DT)[0].handedness
              for i, p in enumerate([0.6, 0.45, 0.36, 0.5, 0.34, 0.5, 0.66])]
    assert labels == [RIGHT, RIGHT, RIGHT, RIGHT, LEFT, LEFT, RIGHT]


def test_keypoints_are_smoothed():
    rng = np.random.default_rng(2)
    tracker = HandTracker(TrackerConfig(max_hands=1))
    raw_err, filtered_err = [], []
    xyz_true = np.tile([0.0, 0.0, 0.5], (21, 1))
    xyz_err = []
    for frame in range(120):
        xyz = xyz_true + rng.normal(0, 0.005, size=(21, 3))
        det = make_detection([300, 300], rng=rng, noise_px=2.0, xyz=xyz)
        track = tracker.update([det], frame * DT)[0]
        if frame >= 30:
            truth = np.array([300, 300]) + _SHAPE
            raw_err.append(np.mean((det.uv - truth) ** 2))
            filtered_err.append(np.mean((track.uv - truth) ** 2))
            xyz_err.append(np.mean((track.xyz - xyz_true) ** 2) / 0.005 ** 2)
    assert np.mean(filtered_err) < 0.3 * np.mean(raw_err)
    assert np.mean(xyz_err) < 0.3


def test_detections_below_min_hand_score_are_ignored():
    tracker = HandTracker(TrackerConfig(min_hand_score=0.5))
    assert tracker.update([make_detection([300, 300], hand_score=0.2)], 0.0) == []
    assert tracker.tracks == []


def test_propagated_crop():
    config = TrackerConfig(crop_margin=0.25, min_confident_keypoints=10, min_keypoint_score=0.3)
    tracker = HandTracker(config)
    track = tracker.update([make_detection([300, 300])], 0.0)[0]
    box = track.propagated_crop(config)
    lo, hi = track.uv_raw.min(axis=0), track.uv_raw.max(axis=0)
    assert np.all(box[:2] <= lo) and np.all(box[2:] >= hi)
    assert box[2] - box[0] == pytest.approx(box[3] - box[1])  # square
    assert box[2] - box[0] == pytest.approx((hi - lo).max() * 1.5)
    assert np.allclose((box[:2] + box[2:]) / 2, (lo + hi) / 2)
    [(crop_id, crop_box)] = tracker.propagated_crops()
    assert crop_id == track.id and np.allclose(crop_box, box)
    # Not enough confident keypoints: no crop.
    unsure = make_detection([300, 300], score=0.1)
    track = tracker.update([unsure], DT)[0]
    assert track.propagated_crop(config) is None


def test_redetect_cadence():
    config = TrackerConfig(redetect_every=5, max_missed_frames=2)
    tracker = HandTracker(config)
    assert tracker.needs_detection(3)  # no tracks yet
    decisions = []
    for frame in range(20):
        need = tracker.needs_detection(frame)
        decisions.append(need)
        tracker.update([make_detection([300 + frame, 300])], frame * DT)
    assert [f for f, need in enumerate(decisions) if need] == [0, 5, 10, 15]
    # A track that lost confidence forces detection on the next frame.
    tracker.update([make_detection([320, 300], score=0.1)], 20 * DT)
    assert tracker.needs_detection(21)
    # So does a track that missed a frame.
    tracker.update([make_detection([320, 300])], 21 * DT)
    assert not tracker.needs_detection(22)
    tracker.update([], 22 * DT)
    assert tracker.needs_detection(23)


def test_every_frame_when_redetect_every_is_one():
    tracker = HandTracker(TrackerConfig(redetect_every=1))
    tracker.update([make_detection([300, 300])], 0.0)
    assert all(tracker.needs_detection(f) for f in range(1, 10))


def test_config_validates():
    with pytest.raises(ValueError):
        TrackerConfig(max_hands=0)
    with pytest.raises(ValueError):
        TrackerConfig(handedness_margin=0.5)
    with pytest.raises(ValueError):
        TrackerConfig(handedness_unknown_margin=-0.1)
    with pytest.raises(ValueError):
        TrackerConfig(redetect_every=0)


def test_the_keypoint_gate_drops_diffuse_detections():
    from hand3d_ros.core.tracking import HandTracker, TrackerConfig

    sharp, diffuse = make_detection([100, 200], score=0.8), make_detection([400, 200], score=0.2)
    gated = HandTracker(TrackerConfig(min_hand_score=0.0, min_mean_keypoint_score=0.5))
    assert len(gated.update([sharp, diffuse], 0.0)) == 1
    for value in (0.0, -1.0):  # off, and "from the weights" used without an estimator: off
        tracker = HandTracker(TrackerConfig(min_hand_score=0.0, min_mean_keypoint_score=value))
        assert len(tracker.update([sharp, diffuse], 0.0)) == 2
