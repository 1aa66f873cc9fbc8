"""`hand3d infer BAG` end to end: bags written with rosbags from rendered frames in; the pose
bag and the trajectory table read back. Plumbing on random weights; the ground-truth check
on the shipped weights."""
import numpy as np
import pytest

from hand3d_ros import cli
from hand3d_ros.offline.trajectory import read_csv

pytest.importorskip("cv2")
RANDOM = ["--allow-random-weights", "--backend", "torch", "--threshold", "0.01", "--max-hands", "1"]
DEPTH_TOPIC = "/camera/aligned_depth_to_color/image_raw"


def _infer(bag, out, *extra):
    return cli.main(["infer", str(bag), "--out", str(out), *RANDOM, *extra])


def _check_outputs(out, name, stamps):
    """One HandPose3DArray per image with its stamp (in stamp order); the table equals the
    messages. Returns (messages by topic, table arrays)."""
    from hand3d_ros.offline.bags import stamp_ns

    from .conftest import read_bag

    topics = read_bag(out / f"{name}_hand3d")
    poses = topics["/hand_poses"]
    assert [log_ns for log_ns, _ in poses] == sorted(stamps)
    assert [stamp_ns(msg.header) for _, msg in poses] == sorted(stamps)
    table = read_csv(out / f"{name}_trajectories.csv")
    npz = np.load(out / f"{name}_trajectories.npz")
    hands = [(stamp_ns(msg.header), hand) for _, msg in poses for hand in msg.hands]
    assert len(hands) == len(table["stamp_ns"]) == len(npz["stamp_ns"]) > 0
    for key in ("keypoints_3d_m", "keypoints_2d_px", "keypoint_scores", "palm_position_m", "hand_id", "stamp_ns"):
        np.testing.assert_array_equal(npz[key], table[key])
    for row, (stamp, hand) in enumerate(hands):
        assert table["stamp_ns"][row] == stamp and table["hand_id"][row] == hand.hand_id
        assert table["side"][row] == ("left", "right", "unknown")[hand.handedness]
        np.testing.assert_array_equal(table["keypoints_3d_m"][row], [[p.x, p.y, p.z] for p in hand.keypoints_3d])
        np.testing.assert_allclose(table["keypoints_2d_px"][row], [[k.u, k.v] for k in hand.keypoints_2d], rtol=1e-6)
        np.testing.assert_allclose(table["keypoint_scores"][row], [k.score for k in hand.keypoints_2d], rtol=1e-6)
        q = hand.hand_pose.orientation
        np.testing.assert_allclose(table["palm_quaternion_xyzw"][row], [q.x, q.y, q.z, q.w])
        assert table["scale_source"][row] == ("none", "hand_size_prior", "depth")[hand.scale_source]
    return topics, table


@pytest.mark.parametrize("storage,compressed,camera_info,depth", [
    ("mcap", False, True, True),
    ("sqlite3", True, True, False),
    ("sqlite3", False, False, False),
    ("mcap", True, False, True),
])
def test_bag_in_pose_bag_and_table_out(tmp_path, rendered, bag_tools, capfd, storage, compressed, camera_info, depth):
    write_bag, _, _ = bag_tools
    # Logged out of stamp order: processing must follow the header stamps.
    folder, _, stamps = write_bag(tmp_path / "demo", rendered, storage=storage, compressed=compressed,
                                  camera_info=camera_info, depth=depth, log_order=[0, 2, 1, 3, 5, 4])
    out = tmp_path / "out"
    assert _infer(folder, out) == 0
    topics, table = _check_outputs(out, "demo", stamps)
    printed = capfd.readouterr()
    assert "6 frames read, 6 processed" in printed.out and "frames/s" in printed.out
    metric = table["scale_source"] != "none"
    if camera_info:  # random weights: some frames' keypoints are too poor to lift
        assert metric.any() and np.isfinite(table["keypoints_3d_m"][metric]).all()
        tf = topics["/tf"]
        assert [log_ns for log_ns, _ in tf] == sorted(table["stamp_ns"][metric].tolist())
        palm = tf[0][1].transforms[0]
        assert palm.header.frame_id == "camera_color_optical_frame" and palm.child_frame_id.startswith("hand_")
        np.testing.assert_allclose([palm.transform.translation.x, palm.transform.translation.y,
                                    palm.transform.translation.z], table["palm_position_m"][metric][0])
    else:
        assert not metric.any() and np.isnan(table["keypoints_3d_m"]).all()
        assert "/tf" not in topics
        assert printed.err.count("no camera_info: 2D and normalised 3D only") == 1
    assert "depth not used" not in printed.out


def test_single_storage_files_markers_and_an_unsupported_encoding(tmp_path, rendered, bag_tools, capfd):
    write_bag, _, _ = bag_tools
    _, mcap, stamps = write_bag(tmp_path / "a", rendered, storage="mcap")
    out = tmp_path / "out"
    assert _infer(mcap, out, "--markers") == 0  # the .mcap file itself
    topics, _ = _check_outputs(out, "a", stamps)
    markers = topics["/hand3d/markers"][0][1].markers
    assert {m.ns for m in markers} == {"bones", "joints", "label"}
    _, db3, stamps = write_bag(tmp_path / "b", rendered, storage="sqlite3", encoding="bgr8")
    assert _infer(db3, out) == 0  # the .db3 file itself
    _check_outputs(out, "b", stamps)
    capfd.readouterr()
    folder, _, _ = write_bag(tmp_path / "c", rendered, encoding="bayer_rggb8")
    assert _infer(folder, out) == 0
    printed = capfd.readouterr().out
    assert "6 frames read, 0 processed" in printed and "skipped 6: unsupported image encoding 'bayer_rggb8'" in printed
    assert read_bag(out / "c_hand3d").get("/hand_poses") is None


def read_bag(path):
    from .conftest import read_bag as read

    return read(path)


def test_depth_of_nan_and_zeros_changes_nothing(tmp_path, rendered, bag_tools):
    write_bag, _, _ = bag_tools
    holes = np.zeros(rendered["image"].shape[1:3], np.float32)  # 0 = no data ...
    holes[::2] = np.nan  # ... and NaN = no data
    out = tmp_path / "out"
    folder, _, stamps = write_bag(tmp_path / "holes", rendered, depth=True, depth_values=holes)
    assert _infer(folder, out) == 0
    _, with_holes = _check_outputs(out, "holes", stamps)
    folder, _, _ = write_bag(tmp_path / "mono", rendered)
    assert _infer(folder, out) == 0
    _, mono = _check_outputs(out, "mono", stamps)
    assert "depth" not in set(with_holes["scale_source"])
    for key in ("keypoints_3d_m", "keypoints_2d_px", "scale_source", "palm_position_m"):
        np.testing.assert_array_equal(with_holes[key], mono[key])


def test_bad_bags_give_one_clear_line(tmp_path, rendered, bag_tools, capfd):
    write_bag, _, _ = bag_tools
    out = tmp_path / "out"
    folder, mcap, _ = write_bag(tmp_path / "two", rendered, extra_topics=[("/right/image_raw", "sensor_msgs/msg/Image")])
    assert _infer(folder, out) == 1
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert "2 image topics in the bag: /camera/color/image_raw" in err and "/right/image_raw" in err
    assert _infer(folder, out, "--image-topic", "/nope") == 1
    assert "the bag has no topic /nope" in capfd.readouterr().err
    # A bag whose image topic is empty: nothing processed, still valid outputs.
    assert _infer(folder, out, "--image-topic", "/right/image_raw") == 0
    assert "0 frames read" in capfd.readouterr().out
    empty = tmp_path / "empty.mcap"
    empty.write_bytes(b"")
    assert _infer(empty, out) == 1
    assert "is empty" in capfd.readouterr().err
    truncated = tmp_path / "cut.mcap"
    truncated.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    assert _infer(truncated, out) == 1
    assert "cannot open bag" in capfd.readouterr().err
    _, db3, _ = write_bag(tmp_path / "sq", rendered, storage="sqlite3")
    corrupt = tmp_path / "corrupt.db3"
    corrupt.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 8)
    assert _infer(corrupt, out) == 1
    assert "cannot open bag" in capfd.readouterr().err
    # A db3 cut part-way: what can be read is processed and kept, and the run says so.
    cut = tmp_path / "cut_db" / "cut.db3"
    cut.parent.mkdir()
    data = db3.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    status = _infer(cut, out)
    printed = capfd.readouterr()
    assert status == 1, printed
    assert "cannot open bag" in printed.err or "reading stopped early" in printed.out


def test_ctrl_c_keeps_what_was_written(tmp_path, rendered, bag_tools):
    write_bag, read, _ = bag_tools
    from hand3d_ros.offline.bag_infer import BagInferConfig, infer_bag, node_estimator

    folder, _, stamps = write_bag(tmp_path / "long", rendered)
    estimator, p = node_estimator({"allow_random_weights": True, "backend": "torch", "detection_threshold": 0.01,
                                   "max_hands": 1})

    def interrupt_after_two(done, total):
        if done == 2:
            raise KeyboardInterrupt

    report = infer_bag(folder, tmp_path / "out", estimator, BagInferConfig.from_node_params(p),
                       progress=interrupt_after_two)
    assert report.interrupted and report.frames_processed == 2
    assert "interrupted (Ctrl-C)" in report.summary()
    poses = read(tmp_path / "out" / "long_hand3d")["/hand_poses"]
    assert [log_ns for log_ns, _ in poses] == stamps[:2]
    table = np.load(tmp_path / "out" / "long_trajectories.npz")
    assert set(table["stamp_ns"].tolist()) <= set(stamps[:2])
    assert len(read_csv(tmp_path / "out" / "long_trajectories.csv")["stamp_ns"]) == len(table["stamp_ns"])
