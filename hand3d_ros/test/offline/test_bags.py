"""Bag reading helpers: topic selection, processing order, depth matching, the pose bag's types."""
import numpy as np
import pytest

from hand3d_ros import messages
from hand3d_ros.offline.bags import (
    BagError,
    PoseBagWriter,
    frame_order,
    make_message,
    output_typestore,
    read_messages,
    select_topics,
)

IMG, CMP, INFO = "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/CameraInfo"
REALSENSE = {
    "/camera/color/image_raw": IMG, "/camera/color/image_raw/compressed": CMP, "/camera/color/camera_info": INFO,
    "/camera/aligned_depth_to_color/image_raw": IMG, "/camera/aligned_depth_to_color/camera_info": INFO,
    "/tf": "tf2_msgs/msg/TFMessage",
}


def test_topics_found_by_type_in_a_typical_recording():
    topics = select_topics(REALSENSE)
    assert topics.image == "/camera/color/image_raw" and not topics.compressed  # raw wins over its twin
    assert topics.camera_info == "/camera/color/camera_info"  # the one next to the image
    assert topics.depth == "/camera/aligned_depth_to_color/image_raw"
    compressed = select_topics(REALSENSE, image="/camera/color/image_raw/compressed", depth="none")
    assert compressed.compressed and compressed.depth is None
    assert compressed.camera_info == "/camera/color/camera_info"


def test_ambiguous_and_missing_topics_name_the_candidates():
    two = {"/left/image_raw": IMG, "/right/image_raw": IMG}
    with pytest.raises(BagError, match=r"2 image topics.*/left/image_raw \(sensor_msgs/msg/Image\).*/right/image_raw"
                                       r".*--image-topic"):
        select_topics(two)
    assert select_topics(two, image="/right/image_raw").image == "/right/image_raw"
    with pytest.raises(BagError, match=r"no topic /nope; image topics in it: /left/image_raw.*/right/image_raw"):
        select_topics(two, image="/nope")
    with pytest.raises(BagError, match=r"no image topic .*topics in it: /imu \(sensor_msgs/msg/Imu\)"):
        select_topics({"/imu": "sensor_msgs/msg/Imu"})
    with pytest.raises(BagError, match=r"/camera/color/camera_info is a sensor_msgs/msg/CameraInfo topic, not"):
        select_topics(REALSENSE, image="/camera/color/camera_info")
    infos = {"/a/image": IMG, "/b/camera_info": INFO, "/c/camera_info": INFO}
    with pytest.raises(BagError, match=r"2 camera_info topics.*--camera-info-topic none"):
        select_topics(infos)
    assert select_topics(infos, camera_info="none").camera_info is None


def test_frames_go_in_stamp_order_with_the_nearest_depth():
    images = [30, 10, 20, 10]  # read order; two share a stamp: read order breaks the tie
    plan = frame_order(images, depth_stamps_ns=[9, 21, 200], depth_max_offset_ns=5)
    assert plan.order == [1, 3, 2, 0]
    assert plan.depth_of == {1: 0, 3: 0, 2: 1}  # 30 has no depth within 5 ns
    assert frame_order([5, 1]).depth_of == {}


def test_messages_fill_defaults_and_reject_unknown_fields():
    store = output_typestore()
    marker = make_message(store, "visualization_msgs/msg/Marker", {"ns": "x", "id": 3})
    assert marker.ns == "x" and marker.id == 3 and marker.points == [] and marker.header.frame_id == ""
    info = make_message(store, INFO, {"k": [1, 0, 2, 0, 1, 3, 0, 0, 1]})
    assert info.k.dtype == np.float64 and info.p.shape == (12,)
    with pytest.raises(KeyError, match="no field"):
        make_message(store, "geometry_msgs/msg/Point", {"w": 1.0})


def test_pose_bag_carries_our_definitions(tmp_path):
    from hand3d_ros.inference.estimator import HandState

    rng = np.random.default_rng(0)
    hand = HandState(hand_id=4, handedness=0, handedness_score=0.8, score=0.9, crop_box=np.arange(4.0),
                     uv=rng.random((21, 2)), uv_score=rng.random(21), w_rel=rng.random((21, 3)),
                     xyz=rng.random((21, 3)), scale_source=2, bone_length_m=0.04, reprojection_error_px=1.5,
                     palm_origin=np.array([0.1, 0.2, 0.5]), palm_rotation=np.eye(3), viewpoint=np.eye(3), hand_side=0)
    stamp = messages.stamp_from_ns(1_500_000_000_123)
    header = messages.header(stamp, "cam")
    with PoseBagWriter(tmp_path / "poses", {"/hand_poses": messages.HAND_POSE_ARRAY_TYPE}) as writer:
        writer.write("/hand_poses", messages.hand_pose_array([hand], header), 1_500_000_000_123)
    text = next((tmp_path / "poses").glob("*.mcap")).read_bytes()
    assert b"MSG: hand3d_msgs/Keypoint2D" in text and b"float32 reprojection_error" in text
    [(log_ns, msg)] = read_messages(tmp_path / "poses")["/hand_poses"]
    assert log_ns == 1_500_000_000_123 and (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1500, 123)
    [back] = msg.hands
    assert back.hand_id == 4 and back.scale_source == 2 and back.header.frame_id == "cam"
    np.testing.assert_allclose([[p.x, p.y, p.z] for p in back.keypoints_3d], hand.xyz)
    np.testing.assert_allclose([[k.u, k.v] for k in back.keypoints_2d], hand.uv, rtol=1e-6)
    np.testing.assert_allclose(back.crop_box, [0, 1, 2, 3])
    assert back.hand_pose.orientation.w == 1.0
