"""Cache of built engines (TensorRT plans) and exported graphs: keys, files, rebuild decisions.

Pure Python (hashlib, json, os): no TensorRT, no GPU. A cached engine is only valid for
the ONNX graph it was built from, the TensorRT version that built it, the GPU model
(name and compute capability), the precision and the optimisation-profile shapes; all of
these go into the key (DESIGN.md section 5: an engine goes stale when TensorRT or the GPU
changes).

Layout under ``cache_dir`` (default :data:`DEFAULT_CACHE_DIR`, overridable with the
``HAND3D_CACHE_DIR`` environment variable or an explicit argument)::

    onnx/<network>-<config>-w<sha8>-<key16>.onnx     exported graphs (see export.py)
    engines/<name>-<precision>-<key16>.engine        serialised TensorRT engine
    engines/<name>-<precision>-<key16>.json          sidecar: the key, its digest, the
                                                     engine's sha256 and size
    engines/timing-<trt>-<gpu>.cache                 TensorRT timing cache (shared)

Every file is written atomically (temporary file in the same folder, fsync, rename), so a
crash or a concurrent builder never leaves a half-written engine under the final name.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Tuple, Union

#: Where exported graphs and engines live unless told otherwise.
DEFAULT_CACHE_DIR = "~/.cache/hand3d_ros"
#: Environment variable that overrides :data:`DEFAULT_CACHE_DIR`.
CACHE_DIR_ENV = "HAND3D_CACHE_DIR"
#: Version of the sidecar format and of the key's layout (bump to invalidate every engine).
KEY_FORMAT_VERSION = 1
#: Hex characters of the key digest used in file names.
NAME_DIGEST_CHARS = 16
#: Bytes read at a time when hashing files.
HASH_CHUNK_BYTES = 1 << 20

PathLike = Union[str, os.PathLike]
#: input name -> (min, opt, max) shapes of one optimisation profile.
ProfileShapes = Mapping[str, Tuple[Tuple[int, ...], Tuple[int, ...], Tuple[int, ...]]]


def resolve_cache_dir(cache_dir: Optional[PathLike] = None) -> Path:
    """The cache folder: ``cache_dir`` if given, else ``$HAND3D_CACHE_DIR``, else
    :data:`DEFAULT_CACHE_DIR`; ``~`` expanded, not created."""
    chosen = cache_dir if cache_dir else os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR
    return Path(os.path.expanduser(os.fspath(chosen)))


@dataclass(frozen=True)
class EngineKey:
    """Everything a serialised engine depends on.

    Attributes:
        name: what the engine runs (``"handsegnet"``, ``"posenet"``, ``"poseprior"``).
        onnx_sha256: hex sha256 of the ONNX file the engine is built from.
        tensorrt_version: e.g. ``"10.3.0"``.
        gpu_name: e.g. ``"NVIDIA GeForce RTX 4090"``.
        compute_capability: (major, minor), e.g. (8, 9).
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"``.
        profile_shapes: input name -> (min, opt, max) shape of the optimisation profile.
        options: other builder settings that change the engine (workspace limit, the
            calibration data's hash, ...): plain JSON values.
    """

    name: str
    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: Tuple[int, int]
    precision: str
    profile_shapes: ProfileShapes
    options: Mapping = field(default_factory=dict)

    def as_dict(self) -> dict:
        """Plain, JSON-ready form with a canonical ordering (lists, not tuples)."""
        raw = asdict(self)
        raw["compute_capability"] = [int(v) for v in self.compute_capability]
        raw["profile_shapes"] = {
            name: [[int(d) for d in shape] for shape in shapes]
            for name, shapes in sorted(self.profile_shapes.items())
        }
        raw["options"] = json.loads(json.dumps(dict(self.options), sort_keys=True))
        raw["key_format_version"] = KEY_FORMAT_VERSION
        return raw

    def digest(self) -> str:
        """Hex sha256 of the canonical JSON of :meth:`as_dict`."""
        text = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def safe_name(text: str) -> str:
    """``text`` reduced to ``[A-Za-z0-9._-]`` (other runs become one ``_``), for file names."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "unnamed"


def engine_path(key: EngineKey, cache_dir: Optional[PathLike] = None) -> Path:
    """``<cache>/engines/<name>-<precision>-<digest16>.engine``."""
    folder = resolve_cache_dir(cache_dir) / "engines"
    return folder / f"{safe_name(key.name)}-{safe_name(key.precision)}-{key.digest()[:NAME_DIGEST_CHARS]}.engine"


def sidecar_path(key: EngineKey, cache_dir: Optional[PathLike] = None) -> Path:
    """The JSON sidecar next to :func:`engine_path`."""
    return engine_path(key, cache_dir).with_suffix(".json")


def timing_cache_path(tensorrt_version: str, gpu_name: str, compute_capability: Tuple[int, int],
                      cache_dir: Optional[PathLike] = None) -> Path:
    """The TensorRT timing cache shared by every engine built with this TensorRT on this GPU."""
    tag = safe_name(f"{tensorrt_version}-{gpu_name}-sm{compute_capability[0]}{compute_capability[1]}")
    return resolve_cache_dir(cache_dir) / "engines" / f"timing-{tag}.cache"


def bytes_sha256(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: PathLike) -> str:
    """Hex sha256 of a file's bytes (read in chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give a new file: 0o666 minus the umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename).

    Parent folders are created. Readers see either the old file or the complete new one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, default_file_mode())  # mkstemp makes 0600 files; give the usual umask mode
        os.replace(temp, target)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
    return target


def atomic_write_json(path: PathLike, content: Mapping) -> Path:
    """:func:`atomic_write_bytes` of ``content`` as indented, key-sorted UTF-8 JSON."""
    return atomic_write_bytes(path, (json.dumps(content, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def read_sidecar(key: EngineKey, cache_dir: Optional[PathLike] = None) -> Optional[dict]:
    """The sidecar's content, or None when it is missing or not valid JSON."""
    try:
        with open(sidecar_path(key, cache_dir), "r", encoding="utf-8") as handle:
            content = json.load(handle)
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) else None


def rebuild_reason(key: EngineKey, cache_dir: Optional[PathLike] = None, force: bool = False) -> Optional[str]:
    """Why the engine for ``key`` must be (re)built, or None when the cached one is usable.

    Checks, in order: ``force``; the engine file exists; the sidecar exists and parses;
    the sidecar's key equals ``key`` (same digest and the same fields: a file-name
    collision or a hand-edited sidecar is caught); the engine's size and sha256 match
    the sidecar (a truncated or damaged engine is caught).
    """
    if force:
        return "rebuild forced"
    engine = engine_path(key, cache_dir)
    if not engine.is_file():
        return f"no cached engine {engine.name}"
    sidecar = read_sidecar(key, cache_dir)
    if sidecar is None:
        return f"no readable sidecar for {engine.name}"
    if sidecar.get("digest") != key.digest() or sidecar.get("key") != key.as_dict():
        return f"sidecar of {engine.name} describes another key"
    if sidecar.get("engine_bytes") != engine.stat().st_size:
        return f"{engine.name} has {engine.stat().st_size} bytes, the sidecar says {sidecar.get('engine_bytes')}"
    if sidecar.get("engine_sha256") != file_sha256(engine):
        return f"{engine.name} does not match its sha256 (damaged)"
    return None


def needs_rebuild(key: EngineKey, cache_dir: Optional[PathLike] = None, force: bool = False) -> bool:
    """True when the engine for ``key`` must be built (see :func:`rebuild_reason`)."""
    return rebuild_reason(key, cache_dir, force) is not None


def store_engine(key: EngineKey, data: bytes, cache_dir: Optional[PathLike] = None,
                 build_seconds: Optional[float] = None) -> Path:
    """Write the engine bytes, then its sidecar, both atomically; returns the engine's path.

    The sidecar is written last, so an interrupted store is seen as "no readable sidecar"
    (rebuild) rather than as a valid entry.
    """
    path = atomic_write_bytes(engine_path(key, cache_dir), bytes(data))
    atomic_write_json(sidecar_path(key, cache_dir), {
        "key": key.as_dict(),
        "digest": key.digest(),
        "engine_file": path.name,
        "engine_bytes": len(data),
        "engine_sha256": bytes_sha256(bytes(data)),
        "build_seconds": build_seconds,
        "created_unix": time.time(),
    })
    return path


def load_engine(key: EngineKey, cache_dir: Optional[PathLike] = None) -> bytes:
    """The cached engine's bytes; FileNotFoundError or ValueError (with the reason) when
    :func:`rebuild_reason` says it is not usable."""
    reason = rebuild_reason(key, cache_dir)
    if reason is not None:
        if reason.startswith("no cached engine"):
            raise FileNotFoundError(reason)
        raise ValueError(reason)
    return engine_path(key, cache_dir).read_bytes()
