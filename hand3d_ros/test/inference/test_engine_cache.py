"""Engine cache: keys, file names, rebuild decisions and atomic writes (no TensorRT needed)."""
import dataclasses
import json
import os

import pytest

from hand3d_ros.inference import engine_cache as ec

SHAPES = {"image": ((1, 3, 120, 160), (1, 3, 120, 160), (8, 3, 120, 160))}


def make_key(**changes) -> ec.EngineKey:
    fields = dict(name="handsegnet", onnx_sha256="ab" * 32, tensorrt_version="10.3.0",
                  gpu_name="NVIDIA GeForce RTX 4090", compute_capability=(8, 9), precision="fp16",
                  profile_shapes=SHAPES, options={"workspace_bytes": 1 << 30})
    fields.update(changes)
    return ec.EngineKey(**fields)


def test_digest_is_stable_and_json_ready():
    key = make_key()
    assert key.digest() == make_key().digest()
    assert len(key.digest()) == 64
    # tuples vs lists and dict order do not change the key
    same = make_key(profile_shapes={"image": [[1, 3, 120, 160], [1, 3, 120, 160], [8, 3, 120, 160]]},
                    compute_capability=[8, 9])
    assert same.digest() == key.digest()
    assert json.loads(json.dumps(key.as_dict()))["profile_shapes"]["image"][2] == [8, 3, 120, 160]


@pytest.mark.parametrize("change", [
    {"onnx_sha256": "cd" * 32},
    {"tensorrt_version": "10.4.0"},
    {"gpu_name": "NVIDIA A100"},
    {"compute_capability": (8, 0)},
    {"precision": "int8"},
    {"profile_shapes": {"image": ((1, 3, 120, 160), (2, 3, 120, 160), (8, 3, 120, 160))}},
    {"options": {"workspace_bytes": 1 << 29}},
    {"name": "posenet"},
])
def test_every_field_changes_the_key(change):
    assert make_key(**change).digest() != make_key().digest()
    assert ec.engine_path(make_key(**change), "/c") != ec.engine_path(make_key(), "/c")


def test_cache_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv(ec.CACHE_DIR_ENV, raising=False)
    assert ec.resolve_cache_dir() == ec.Path(os.path.expanduser(ec.DEFAULT_CACHE_DIR))
    monkeypatch.setenv(ec.CACHE_DIR_ENV, str(tmp_path / "env"))
    assert ec.resolve_cache_dir() == tmp_path / "env"
    assert ec.resolve_cache_dir(tmp_path / "arg") == tmp_path / "arg"  # explicit wins


def test_file_names_are_safe_and_keyed(tmp_path):
    key = make_key(name="pose net/../x")
    path = ec.engine_path(key, tmp_path)
    assert path.parent == tmp_path / "engines"
    assert "/" not in path.name and path.name.endswith(".engine")
    assert key.digest()[:ec.NAME_DIGEST_CHARS] in path.name
    assert ec.sidecar_path(key, tmp_path) == path.with_suffix(".json")
    timing = ec.timing_cache_path("10.3.0", "NVIDIA GeForce RTX 4090", (8, 9), tmp_path)
    assert timing.name == "timing-10.3.0-NVIDIA_GeForce_RTX_4090-sm89.cache"


def test_rebuild_decisions(tmp_path):
    key = make_key()
    assert ec.needs_rebuild(key, tmp_path)
    assert ec.rebuild_reason(key, tmp_path).startswith("no cached engine")
    data = os.urandom(4096)
    path = ec.store_engine(key, data, tmp_path, build_seconds=1.5)
    assert not ec.needs_rebuild(key, tmp_path)
    assert ec.load_engine(key, tmp_path) == data
    assert ec.rebuild_reason(key, tmp_path, force=True) == "rebuild forced"
    # another TensorRT or GPU: another file, so a rebuild
    assert ec.needs_rebuild(dataclasses.replace(key, tensorrt_version="10.4.0"), tmp_path)
    assert ec.needs_rebuild(dataclasses.replace(key, gpu_name="Orin"), tmp_path)
    sidecar = json.loads(ec.sidecar_path(key, tmp_path).read_text())
    assert sidecar["digest"] == key.digest() and sidecar["engine_bytes"] == 4096
    assert sidecar["key"]["tensorrt_version"] == "10.3.0" and sidecar["build_seconds"] == 1.5
    assert path.name == sidecar["engine_file"]


def test_damaged_engine_or_sidecar_forces_a_rebuild(tmp_path):
    key = make_key()
    data = bytes(range(256)) * 8
    path = ec.store_engine(key, data, tmp_path)
    path.write_bytes(data[:-1] + b"\x00")  # same size, other content
    assert "sha256" in ec.rebuild_reason(key, tmp_path)
    with pytest.raises(ValueError, match="sha256"):
        ec.load_engine(key, tmp_path)
    path.write_bytes(data[:100])  # truncated
    assert "bytes" in ec.rebuild_reason(key, tmp_path)

    ec.store_engine(key, data, tmp_path)
    side = ec.sidecar_path(key, tmp_path)
    content = json.loads(side.read_text())
    content["key"]["precision"] = "fp32"  # hand-edited: no longer describes this key
    side.write_text(json.dumps(content))
    assert "another key" in ec.rebuild_reason(key, tmp_path)
    side.write_text("{not json")
    assert "sidecar" in ec.rebuild_reason(key, tmp_path)
    side.unlink()
    assert "sidecar" in ec.rebuild_reason(key, tmp_path)
    with pytest.raises(FileNotFoundError):
        ec.load_engine(make_key(precision="int8"), tmp_path)


def test_atomic_write_leaves_no_partial_files(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    ec.atomic_write_bytes(target, b"old")
    assert target.read_bytes() == b"old"
    assert target.stat().st_mode & 0o777 == ec.default_file_mode()  # not mkstemp's 0600


    # a failing write (data that cannot be written) keeps the old file and no temp file
    with pytest.raises(TypeError):
        ec.atomic_write_bytes(target, object())
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.bin"]
    ec.atomic_write_json(tmp_path / "a.json", {"b": 1, "a": [1, 2]})
    assert json.loads((tmp_path / "a.json").read_text()) == {"a": [1, 2], "b": 1}


def test_hashes(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"hand3d" * 1000)
    assert ec.file_sha256(path) == ec.bytes_sha256(b"hand3d" * 1000)
    assert ec.safe_name("a b/c:d") == "a_b_c_d"
    assert ec.safe_name("///") == "unnamed"
