"""Keypoint visibility: first surface at the keypoint's pixel must be its own segment."""
import numpy as np

from hand3d_ros.core import keypoints as kp
from hand3d_ros.data.render.raster import project, rasterize
from hand3d_ros.data.render.skeleton import FINGER_JOINTS, JOINT_INDEX, KEYPOINT_JOINT, OWN_SEGMENTS, WRIST_JOINT
from hand3d_ros.data.render.visibility import first_hits, keypoint_sample_pixels, keypoint_visibility

K = np.array([[100.0, 0, 31.5], [0, 100.0, 31.5], [0, 0, 1]])
SIZE = 64


def _quad(cx, cy, z, half):
    v = np.array([[cx - half, cy - half, z], [cx + half, cy - half, z], [cx + half, cy + half, z],
                  [cx - half, cy + half, z]])
    return v, np.array([[0, 2, 1], [0, 3, 2]])  # faces the camera (-z)


def _scene(finger_z):
    """A palm quad (middle metacarpal skin) at 0.40 m and an index-intermediate quad
    (a finger segment) at ``finger_z`` over the same pixels."""
    palm_v, palm_f = _quad(0.0, 0.0, 0.40, 0.05)
    fing_v, fing_f = _quad(0.0, 0.0, finger_z, 0.015)
    verts = np.concatenate([palm_v, fing_v])
    faces = np.concatenate([palm_f, fing_f + 4])
    part = np.array([FINGER_JOINTS["middle"][0]] * 4 + [FINGER_JOINTS["index"][2]] * 4)
    frag = rasterize(verts, faces, K, SIZE, SIZE)
    corner = faces[frag.face, np.argmax(frag.bary, 1)]
    return frag, part[corner]


def _visibility(frag, frag_part, xyz):
    uv = project(xyz, K)
    inside, flat = keypoint_sample_pixels(uv, 1, SIZE, SIZE)
    hit = first_hits(flat, frag.pixel)
    hit_part = np.where(hit >= 0, frag_part[hit], -1)
    hit_obj = np.where(hit >= 0, 1, 0)
    return keypoint_visibility(inside, hit_obj, hit_part, hand_object=1)


def test_finger_behind_the_palm_is_hidden_and_in_front_is_visible():
    xyz = np.tile([[0.3, 0.3, 0.5]], (kp.NUM_KEYPOINTS, 1))  # everyone off to the side
    xyz[kp.INDEX_PIP] = [0.001, 0.002, 0.47]  # behind the palm, under the finger quad
    xyz[kp.INDEX_DIP] = [0.001, 0.002, 0.47]
    xyz[kp.WRIST] = [0.03, 0.03, 0.42]  # just under the palm skin
    frag, frag_part = _scene(finger_z=0.45)  # finger behind the palm
    vis = _visibility(frag, frag_part, xyz)
    assert not vis[kp.INDEX_PIP] and not vis[kp.INDEX_DIP]
    assert vis[kp.WRIST]  # palm skin is the wrist keypoint's own segment
    assert not vis[kp.THUMB_TIP]  # projects on the background / off the hand
    frag, frag_part = _scene(finger_z=0.35)  # finger in front of the palm
    vis = _visibility(frag, frag_part, xyz)
    # the intermediate phalanx is the PIP's (arriving bone) and the DIP's (leaving) segment
    assert vis[kp.INDEX_PIP] and vis[kp.INDEX_DIP]
    assert vis[kp.WRIST]  # the finger covers other pixels than the wrist's

def test_outside_the_image_is_invisible_even_on_its_own_segment():
    inside, flat = keypoint_sample_pixels(np.array([[-3.0, 10.0], [70.0, 10.0], [10.0, 10.0]] + [[5, 5]] * 18), 1, SIZE, SIZE)
    assert list(inside[:3]) == [False, False, True]
    part = np.array([JOINT_INDEX["wrist"]] * kp.NUM_KEYPOINTS)
    vis = keypoint_visibility(inside, np.ones(kp.NUM_KEYPOINTS), part, 1)
    assert not vis[0] and not vis[1]


def test_other_objects_never_own_a_keypoint():
    own_part = np.array([sorted(OWN_SEGMENTS[k])[0] for k in range(kp.NUM_KEYPOINTS)])
    inside = np.ones(kp.NUM_KEYPOINTS, bool)
    assert keypoint_visibility(inside, np.ones(kp.NUM_KEYPOINTS), own_part, 1).all()
    assert not keypoint_visibility(inside, np.full(kp.NUM_KEYPOINTS, 2), own_part, 1).any()  # other hand
    assert not keypoint_visibility(inside, np.ones(kp.NUM_KEYPOINTS), np.full(kp.NUM_KEYPOINTS, 27), 1).any()


def test_own_segments_are_the_bones_at_each_joint():
    assert OWN_SEGMENTS[kp.INDEX_PIP] == {JOINT_INDEX["index-finger-phalanx-proximal"],
                                          JOINT_INDEX["index-finger-phalanx-intermediate"]}
    assert OWN_SEGMENTS[kp.THUMB_TIP] == {JOINT_INDEX["thumb-phalanx-distal"], JOINT_INDEX["thumb-tip"]}
    assert WRIST_JOINT in OWN_SEGMENTS[kp.WRIST]
    names = {kp.KEYPOINT_NAMES[k]: n for k, n in enumerate(KEYPOINT_JOINT)}
    assert names["thumb_cmc"] == JOINT_INDEX["thumb-metacarpal"]
    assert names["thumb_ip"] == JOINT_INDEX["thumb-phalanx-distal"]
    assert names["little_mcp"] == JOINT_INDEX["pinky-finger-phalanx-proximal"]
    assert names["middle_dip"] == JOINT_INDEX["middle-finger-phalanx-distal"]
