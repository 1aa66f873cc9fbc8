"""GLB parsing (on a GLB built here and on the WebXR hand files) and rest-pose skinning."""
import json
import struct

import numpy as np
import pytest

from hand3d_ros.data.render.assets import assets_available, resolve_asset_dir
from hand3d_ros.data.render.gltf import GltfError, parse_glb, quaternion_xyzw_to_matrix
from hand3d_ros.data.render.skeleton import JOINT_NAMES, NUM_JOINTS

needs_asset = pytest.mark.skipif(not assets_available(), reason="WebXR hand meshes absent (tools/fetch_hand_assets.sh)")


def _make_glb(document: dict, binary: bytes) -> bytes:
    js = json.dumps(document).encode()
    js += b" " * (-len(js) % 4)
    binary += b"\0" * (-len(binary) % 4)
    body = struct.pack("<II", len(js), 0x4E4F534A) + js + struct.pack("<II", len(binary), 0x004E4942) + binary
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


def _tiny_glb():
    """Two nodes (parent rotated 90 deg about z, child translated), one MAT4 accessor
    stored column-major and an interleaved (strided) VEC3 accessor."""
    mat = np.arange(16, dtype=np.float32).reshape(4, 4)  # row-major M[r, c]
    mat_bytes = mat.T.astype("<f4").tobytes()  # glTF stores column-major
    positions = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype="<f4")
    # interleave positions with a dummy float each (stride 16 bytes)
    inter = np.concatenate([positions, np.full((3, 1), 7, "<f4")], axis=1).tobytes()
    binary = mat_bytes + inter
    q = [0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4)]  # xyzw, 90 deg about z
    document = {
        "asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}],
        "nodes": [{"name": "root", "rotation": q, "children": [1]},
                  {"name": "child", "translation": [1, 0, 0], "scale": [2, 2, 2]}],
        "buffers": [{"byteLength": len(binary)}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": 64},
                        {"buffer": 0, "byteOffset": 64, "byteLength": 48, "byteStride": 16}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": 1, "type": "MAT4"},
                      {"bufferView": 1, "componentType": 5126, "count": 3, "type": "VEC3"}],
    }
    return _make_glb(document, binary), mat, positions


def test_parse_constructed_glb():
    data, mat, positions = _tiny_glb()
    glb = parse_glb(data)
    assert [n.name for n in glb.nodes] == ["root", "child"]
    np.testing.assert_array_equal(glb.accessor(0)[0], mat)  # column-major storage undone
    np.testing.assert_array_equal(glb.accessor(1), positions)  # byteStride honoured
    world = glb.world_matrices()
    # child origin: parent rotation (90 deg about z) applied to (1, 0, 0) -> (0, 1, 0)
    np.testing.assert_allclose(world[1][:3, 3], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(world[1][:3, :3], 2 * quaternion_xyzw_to_matrix([0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4)]), atol=1e-12)
    assert glb.node_index("child") == 1


def test_quaternion_convention_is_xyzw():
    R = quaternion_xyzw_to_matrix([0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4)])
    np.testing.assert_allclose(R @ [1, 0, 0], [0, 1, 0], atol=1e-12)


def test_rejects_non_glb():
    with pytest.raises(GltfError):
        parse_glb(b"PK\x03\x04" + b"\0" * 40)
    with pytest.raises(GltfError):
        parse_glb(b"glTF")


@needs_asset
@pytest.mark.parametrize("side", ["left", "right"])
def test_webxr_hand_rest_pose_reproduces_bind_mesh(side):
    from hand3d_ros.data.render.skinning import load_rig, pose_hand

    rig = load_rig(resolve_asset_dir(), side)
    assert rig.rest_world.shape == (NUM_JOINTS, 4, 4)
    assert rig.faces.max() < len(rig.vertices)
    # inverse bind matrices are the inverses of the joints' rest transforms
    for j in range(NUM_JOINTS):
        np.testing.assert_allclose(rig.rest_world[j] @ rig.inverse_bind[j], np.eye(4), atol=1e-5)
    posed = pose_hand(rig)
    assert np.abs(posed.vertices - rig.vertices).max() < 1e-6
    assert np.abs(posed.normals - rig.normals).max() < 1e-5
    # joints are looked up by name: the tip joints carry no skin, every other one some
    counts = np.bincount(rig.vertex_part, minlength=NUM_JOINTS)
    tips = [i for i, n in enumerate(JOINT_NAMES) if n.endswith("tip")]
    assert (counts[tips] == 0).all() and (np.delete(counts, tips) > 0).all()


@needs_asset
def test_left_file_has_extra_nodes_but_same_joints():
    from hand3d_ros.data.render.gltf import load_glb
    from hand3d_ros.data.render.skinning import load_rig

    path = resolve_asset_dir()
    left = load_glb(path / "left.glb")
    right = load_glb(path / "right.glb")
    assert any(n.name.startswith("xr_standard_trigger") for n in left.nodes)
    assert len(left.nodes) != len(right.nodes)
    l_rig, r_rig = load_rig(path, "left"), load_rig(path, "right")
    # the hands are near mirror images in x: bone lengths agree to a few millimetres
    l_len = np.linalg.norm(np.diff(l_rig.rest_world[:, :3, 3], axis=0), axis=1)
    r_len = np.linalg.norm(np.diff(r_rig.rest_world[:, :3, 3], axis=0), axis=1)
    assert np.abs(l_len - r_len).max() < 0.01
