"""The rigged hand: load a WebXR hand GLB by joint name, forward kinematics, skinning.

Conventions (measured on the WebXR files, see DESIGN.md section 7): metres, Y-up; at
rest the fingers point along -Y. Each joint's bone points along its local -Z, local +Y
is on the back of the hand. The model frame of a rig is the GLB's world frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .gltf import Glb, load_glb
from .skeleton import JOINT_CHILD, JOINT_INDEX, JOINT_PARENT, NUM_JOINTS

HAND_SIDES = ("left", "right")


@dataclass
class HandRig:
    """One hand mesh with its skeleton, in the model frame (metres).

    Attributes:
        side: "left" or "right".
        rest_world: ``(25, 4, 4)`` rest (bind) transform of each joint, JOINT_NAMES order.
        inverse_bind: ``(25, 4, 4)`` inverse bind matrices, same order.
        vertices: ``(V, 3)`` bind-pose positions; normals: ``(V, 3)`` unit normals.
        skin_joints: ``(V, 4)`` int joint indices (JOINT_NAMES order); skin_weights: ``(V, 4)``.
        faces: ``(F, 3)`` int32 vertex indices, counter-clockwise seen from outside.
        vertex_part: ``(V,)`` the joint each vertex is weighted most to.
        uv: ``(V, 2)`` texture coordinates (unused by the shader, kept for completeness).
    """

    side: str
    rest_world: np.ndarray
    inverse_bind: np.ndarray
    vertices: np.ndarray
    normals: np.ndarray
    skin_joints: np.ndarray
    skin_weights: np.ndarray
    faces: np.ndarray
    vertex_part: np.ndarray
    uv: np.ndarray

    @property
    def side_sign(self) -> float:
        """+1 for a right hand, -1 for a left one (abduction changes sign with it)."""
        return 1.0 if self.side == "right" else -1.0

    def rest_local(self) -> np.ndarray:
        """``(25, 4, 4)`` rest transform of each joint relative to its chain parent
        (the wrist's is its rest world transform). Computed once, then cached."""
        cached = self.__dict__.get("_rest_local")
        if cached is not None:
            return cached
        local = self.rest_world.copy()
        for j in range(NUM_JOINTS):
            p = JOINT_PARENT[j]
            if p >= 0:
                local[j] = np.linalg.inv(self.rest_world[p]) @ self.rest_world[j]
        local.flags.writeable = False
        self.__dict__["_rest_local"] = local
        return local


def rig_from_glb(glb: Glb, side: str) -> HandRig:
    """Build a :class:`HandRig` from a parsed WebXR hand GLB, looking joints up by name."""
    if side not in HAND_SIDES:
        raise ValueError(f"side must be one of {HAND_SIDES}, got {side!r}")
    world = glb.world_matrices()
    skin = glb.document["skins"][0]
    skin_nodes = skin["joints"]
    ibm_file = glb.accessor(skin["inverseBindMatrices"]).astype(np.float64)
    file_to_ours = np.empty(len(skin_nodes), dtype=np.int64)
    rest_world = np.zeros((NUM_JOINTS, 4, 4))
    inverse_bind = np.zeros((NUM_JOINTS, 4, 4))
    for k, node in enumerate(skin_nodes):
        name = glb.nodes[node].name
        if name not in JOINT_INDEX:
            raise ValueError(f"unexpected skin joint {name!r} in the {side} hand file")
        ours = JOINT_INDEX[name]
        file_to_ours[k] = ours
        rest_world[ours] = world[node]
        inverse_bind[ours] = ibm_file[k]
    mesh_nodes = [i for i, n in enumerate(glb.nodes) if n.mesh is not None and n.skin is not None]
    if not mesh_nodes:
        raise ValueError(f"no skinned mesh in the {side} hand file")
    mesh = glb.document["meshes"][glb.nodes[mesh_nodes[0]].mesh]
    prim = mesh["primitives"][0]
    attrs = prim["attributes"]
    vertices = glb.accessor(attrs["POSITION"]).astype(np.float64)
    normals = glb.accessor(attrs["NORMAL"]).astype(np.float64)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    skin_joints = file_to_ours[glb.accessor(attrs["JOINTS_0"]).astype(np.int64)]
    skin_weights = glb.accessor(attrs["WEIGHTS_0"]).astype(np.float64)
    skin_weights /= skin_weights.sum(axis=1, keepdims=True)
    faces = glb.accessor(prim["indices"]).astype(np.int32).reshape(-1, 3)
    uv = glb.accessor(attrs["TEXCOORD_0"]).astype(np.float32) if "TEXCOORD_0" in attrs \
        else np.zeros((len(vertices), 2), np.float32)
    vertex_part = skin_joints[np.arange(len(vertices)), skin_weights.argmax(axis=1)]
    return HandRig(side=side, rest_world=rest_world, inverse_bind=inverse_bind,
                   vertices=vertices, normals=normals, skin_joints=skin_joints,
                   skin_weights=skin_weights, faces=faces, vertex_part=vertex_part, uv=uv)


def load_rig(asset_dir: Path, side: str) -> HandRig:
    """Load ``<asset_dir>/<side>.glb`` as a :class:`HandRig`."""
    return rig_from_glb(load_glb(Path(asset_dir) / f"{side}.glb"), side)


@dataclass
class PosedHand:
    """A posed hand in some frame (metres).

    Attributes:
        joints_world: ``(25, 4, 4)`` joint frames (rotation may include the hand scale).
        skin_matrices: ``(25, 4, 4)`` matrices mapping bind-pose points to posed points.
        vertices: ``(V, 3)`` posed positions; normals: ``(V, 3)`` unit normals.
    """

    joints_world: np.ndarray
    skin_matrices: np.ndarray
    vertices: np.ndarray
    normals: np.ndarray

    @property
    def joint_positions(self) -> np.ndarray:
        """``(25, 3)`` joint positions."""
        return self.joints_world[:, :3, 3]


def forward_kinematics(rig: HandRig, local_rotations=None, bone_scale=None, root=None,
                       rest_local=None):
    """Joint frames and skinning matrices of a pose.

    Args:
        rig: the hand.
        local_rotations: ``(25, 3, 3)`` rotation of each joint in its own rest frame
            (identity = rest pose); the wrist's rotates the whole hand about the wrist.
        bone_scale: ``(25,)`` length factor of the offset from each joint's parent to it
            (1 = rest length); the skin of the parent bone is stretched to match.
        root: ``(4, 4)`` transform applied last (placement, may include a uniform scale).
        rest_local: precomputed :meth:`HandRig.rest_local` (optional, for speed).

    Returns:
        ``(joints_world (25, 4, 4), skin_matrices (25, 4, 4))``.
    """
    rot = np.broadcast_to(np.eye(3), (NUM_JOINTS, 3, 3)) if local_rotations is None \
        else np.asarray(local_rotations, dtype=np.float64)
    scale = np.ones(NUM_JOINTS) if bone_scale is None else np.asarray(bone_scale, dtype=np.float64)
    root = np.eye(4) if root is None else np.asarray(root, dtype=np.float64)
    local = rig.rest_local() if rest_local is None else rest_local
    world = np.empty((NUM_JOINTS, 4, 4))
    for j in range(NUM_JOINTS):  # JOINT_NAMES order lists every parent before its children
        m = local[j].copy()
        m[:3, :3] = m[:3, :3] @ rot[j]
        p = JOINT_PARENT[j]
        if p < 0:
            world[j] = root @ m
        else:
            m[:3, 3] *= scale[j]
            world[j] = world[p] @ m
    stretch = np.ones(NUM_JOINTS)
    has_child = JOINT_CHILD >= 0
    stretch[has_child] = scale[JOINT_CHILD[has_child]]
    along_bone = np.repeat(np.eye(4)[None], NUM_JOINTS, axis=0)
    along_bone[:, 2, 2] = stretch
    skin = world @ along_bone @ rig.inverse_bind
    return world, skin


def skin_vertices(rig: HandRig, skin_matrices: np.ndarray):
    """Linear blend skinning.

    Args:
        skin_matrices: ``(25, 4, 4)`` from :func:`forward_kinematics`.

    Returns:
        ``(vertices (V, 3), normals (V, 3))`` posed positions and unit normals.
    """
    blended = np.einsum("vk,vkij->vij", rig.skin_weights, skin_matrices[rig.skin_joints][:, :, :3, :])
    vertices = np.einsum("vij,vj->vi", blended[:, :, :3], rig.vertices) + blended[:, :, 3]
    normals = np.einsum("vij,vj->vi", blended[:, :, :3], rig.normals)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    return vertices, normals


def pose_hand(rig: HandRig, local_rotations=None, bone_scale=None, root=None,
              rest_local=None) -> PosedHand:
    """Forward kinematics and skinning in one call (arguments as :func:`forward_kinematics`)."""
    world, skin = forward_kinematics(rig, local_rotations, bone_scale, root, rest_local)
    vertices, normals = skin_vertices(rig, skin)
    return PosedHand(joints_world=world, skin_matrices=skin, vertices=vertices, normals=normals)
