"""A small reader for binary glTF 2.0 files (``.glb``): numpy only.

It reads what a skinned mesh needs: the JSON and BIN chunks, accessors and
buffer views, the node tree with TRS transforms (quaternions stored ``x, y, z, w``),
skins (joint nodes and column-major inverse bind matrices) and one mesh primitive's
attributes. Sparse accessors, external buffers and morph targets are not supported
(the WebXR hand files use none of them).
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_GLB_MAGIC = b"glTF"
_CHUNK_JSON = 0x4E4F534A
_CHUNK_BIN = 0x004E4942

#: glTF componentType -> numpy dtype (little-endian).
_COMPONENT_DTYPES = {
    5120: np.int8,
    5121: np.uint8,
    5122: np.int16,
    5123: np.uint16,
    5125: np.uint32,
    5126: np.float32,
}
#: glTF accessor type -> number of components.
_TYPE_SIZES = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}


class GltfError(ValueError):
    """The file is not a glTF binary this reader understands."""


@dataclass
class GltfNode:
    """One node: its name, children and local transform (4x4, float64)."""

    name: str
    children: list
    local: np.ndarray
    mesh: int | None = None
    skin: int | None = None


@dataclass
class Glb:
    """A parsed ``.glb``: the JSON document, the binary chunk and the nodes."""

    document: dict
    binary: bytes
    nodes: list = field(default_factory=list)

    def accessor(self, index: int) -> np.ndarray:
        """Accessor ``index`` as an array of shape ``(count, components)``
        (``(count,)`` for scalars, ``(count, 4, 4)`` for MAT4, column-major as stored,
        i.e. already transposed into row-major ``M[row, col]``)."""
        acc = self.document["accessors"][index]
        if "sparse" in acc:
            raise GltfError("sparse accessors are not supported")
        dtype = np.dtype(_COMPONENT_DTYPES[acc["componentType"]]).newbyteorder("<")
        ncomp = _TYPE_SIZES[acc["type"]]
        count = acc["count"]
        view = self.document["bufferViews"][acc["bufferView"]]
        if view.get("buffer", 0) != 0:
            raise GltfError("only the GLB's own binary buffer is supported")
        start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        elem_size = dtype.itemsize * ncomp
        stride = view.get("byteStride", elem_size)
        raw = np.frombuffer(self.binary, dtype=np.uint8, count=stride * (count - 1) + elem_size,
                            offset=start)
        if stride == elem_size:
            out = raw.view(dtype).reshape(count, ncomp)
        else:
            rows = np.lib.stride_tricks.as_strided(raw, shape=(count, elem_size), strides=(stride, 1))
            out = np.ascontiguousarray(rows).view(dtype).reshape(count, ncomp)
        out = out.astype(dtype.newbyteorder("="), copy=True)
        if acc.get("normalized", False) and np.issubdtype(out.dtype, np.integer):
            out = out.astype(np.float32) / np.iinfo(out.dtype).max
        if acc["type"] == "SCALAR":
            return out[:, 0]
        if acc["type"] == "MAT4":
            return out.reshape(count, 4, 4).transpose(0, 2, 1)  # column-major storage
        return out

    def node_index(self, name: str) -> int:
        """Index of the node called ``name`` (raises ``KeyError`` if absent)."""
        for i, node in enumerate(self.nodes):
            if node.name == name:
                return i
        raise KeyError(f"no node named {name!r}")

    def world_matrices(self) -> np.ndarray:
        """World transform of every node, shape ``(num_nodes, 4, 4)`` float64."""
        world = np.repeat(np.eye(4)[None], len(self.nodes), axis=0)
        roots = self.document["scenes"][self.document.get("scene", 0)]["nodes"]
        stack = [(r, np.eye(4)) for r in roots]
        while stack:
            index, parent = stack.pop()
            world[index] = parent @ self.nodes[index].local
            stack.extend((c, world[index]) for c in self.nodes[index].children)
        return world


def quaternion_xyzw_to_matrix(q) -> np.ndarray:
    """Rotation matrix ``(3, 3)`` of a unit quaternion given as ``(x, y, z, w)``."""
    x, y, z, w = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def node_local_matrix(node: dict) -> np.ndarray:
    """Local 4x4 transform of a glTF node dict (``matrix`` or T * R * S)."""
    if "matrix" in node:
        return np.asarray(node["matrix"], dtype=np.float64).reshape(4, 4).T
    m = np.eye(4)
    m[:3, :3] = quaternion_xyzw_to_matrix(node.get("rotation", (0, 0, 0, 1)))
    m[:3, :3] *= np.asarray(node.get("scale", (1, 1, 1)), dtype=np.float64)[None, :]
    m[:3, 3] = node.get("translation", (0, 0, 0))
    return m


def parse_glb(data: bytes) -> Glb:
    """Parse the bytes of a ``.glb`` file."""
    if len(data) < 20:
        raise GltfError("file too short for a GLB header")
    magic, version, length = struct.unpack_from("<4sII", data, 0)
    if magic != _GLB_MAGIC:
        raise GltfError("not a GLB file (bad magic)")
    if version != 2:
        raise GltfError(f"unsupported glTF version {version}")
    if length > len(data):
        raise GltfError("GLB truncated")
    offset, document, binary = 12, None, b""
    while offset + 8 <= length:
        chunk_len, chunk_type = struct.unpack_from("<II", data, offset)
        chunk = data[offset + 8: offset + 8 + chunk_len]
        if chunk_type == _CHUNK_JSON and document is None:
            document = json.loads(chunk.decode("utf-8"))
        elif chunk_type == _CHUNK_BIN and not binary:
            binary = bytes(chunk)
        offset += 8 + chunk_len
    if document is None:
        raise GltfError("GLB without a JSON chunk")
    nodes = [
        GltfNode(
            name=n.get("name", f"node{i}"),
            children=list(n.get("children", [])),
            local=node_local_matrix(n),
            mesh=n.get("mesh"),
            skin=n.get("skin"),
        )
        for i, n in enumerate(document.get("nodes", []))
    ]
    return Glb(document=document, binary=binary, nodes=nodes)


def load_glb(path) -> Glb:
    """Read and parse a ``.glb`` file."""
    return parse_glb(Path(path).read_bytes())
