"""Benchmark: report structure on a short real run, the pure helpers, Ctrl-C, the command."""
import importlib.util
import json

import numpy as np
import pytest
import torch

from hand3d_ros import cli
from hand3d_ros.inference import bench
from hand3d_ros.inference.pipeline import STAGES

HAVE_ORT = importlib.util.find_spec("onnxruntime") is not None
HAVE_MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None


def small_settings(tmp_path, **changes):
    fields = dict(configs=("lite",), variants=("torch",) + (("onnxruntime@1",) if HAVE_ORT else ()),
                  device="cpu", iterations=2, warmup=0, min_iterations=2, batches=(1, 2), frame_hw=(96, 128),
                  num_frames=3, cache_dir=str(tmp_path))
    fields.update(changes)
    return bench.BenchSettings(**fields)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    torch.set_num_threads(1)
    settings = small_settings(tmp_path_factory.mktemp("cache"), peer="mediapipe")
    lines = []
    result = bench.run_bench(settings, log=lines.append).as_dict()
    return result, lines


def _positive(stats):
    return stats["n"] > 0 and all(stats[k] > 0 for k in ("p50", "p90", "p99", "mean", "min", "max"))


def test_report_structure_and_positive_numbers(report):
    data, lines = report
    data = json.loads(json.dumps(data))  # JSON-ready
    assert set(data) >= {"machine", "versions", "settings", "results", "summary", "unavailable", "peer", "notes",
                         "interrupted"}
    assert data["machine"]["cores"] >= 1 and data["versions"]["torch"] == torch.__version__
    assert not data["interrupted"]
    variants = ["torch-cpu fp32"] + (["onnxruntime-cpu fp32 1t"] if HAVE_ORT else [])
    modes = [(r["variant"], r["mode"], r["batch"]) for r in data["results"]]
    for variant in variants:
        for batch in (1, 2):
            assert (variant, "detect", batch) in modes and (variant, "networks", batch) in modes
        assert (variant, "track", 1) in modes and (variant, "track_networks", 1) in modes
    for result in data["results"]:
        stages = result["stages_ms"]
        assert result["iterations"] == 2 and _positive(stages["total"]) and result["fps"] > 0
        if result["mode"] == "detect":
            assert all(_positive(stages[s]) for s in STAGES), result
            assert result["hands_per_frame"] == 1.0  # random weights: one forced hand per frame
        elif result["mode"] == "track":
            assert "handsegnet" not in stages and _positive(stages["posenet"]) and _positive(stages["poseprior"])
        elif result["mode"] == "networks":
            assert all(_positive(stages[n]) for n in ("handsegnet", "posenet", "poseprior"))
            assert stages["total"]["p50"] >= stages["posenet"]["p50"]
        else:
            assert set(stages) == {"posenet", "poseprior", "total"}
    for summary in data["summary"]:
        for key in ("batch1", "batch2"):
            assert summary[key]["overhead_ratio"] > 0 and summary[key]["fps"] > 0
            assert summary[key]["per_frame_p50_ms"] > 0
        assert summary["track"]["speedup_vs_detect"] > 0 and summary["track"]["networks_p50_ms"] > 0
    assert any("random weights" in note for note in data["notes"])
    assert len(lines) >= 5 and all(line.startswith("[") for line in lines)  # progress


@pytest.mark.skipif(HAVE_MEDIAPIPE, reason="mediapipe is installed here")
def test_missing_peer_says_how_to_install(tmp_path, monkeypatch):
    if HAVE_MEDIAPIPE:
        pytest.skip("mediapipe is importable here: the peer is never missing")
    monkeypatch.setenv("HAND3D_TEACHER_PYTHON", str(tmp_path / "no-teacher" / "python"))
    frames = np.zeros((2, 48, 64, 3), np.uint8)
    peer = bench.run_peer("mediapipe", frames, small_settings(tmp_path), progress=lambda *_: None)
    assert peer["available"] is False and "make teacher" in peer["install"]


def test_the_peer_runs_in_the_teacher_venv(report):
    from hand3d_ros.teacher.client import TeacherError, find_teacher_python

    try:
        find_teacher_python()
    except TeacherError as err:
        pytest.skip(str(err))
    peer = report[0]["peer"]
    assert peer["available"] is True and peer["version"] == "0.10.14", peer
    for mode in ("detect", "track"):
        assert peer[mode]["iterations"] >= 2 and _positive(peer[mode]["stages_ms"]["total"])
    assert "mediapipe" in bench.format_report(report[0]).split("peer ")[-1]


def test_format_report_lists_every_measurement(report):
    data, _ = report
    text = bench.format_report(data)
    assert text.count("\n") > len(data["results"])
    assert "overhead" in text and "p50/p90/p99" in text and data["machine"]["cpu"] in text


def test_ctrl_c_keeps_what_was_measured(tmp_path):
    seen = []

    def log(line):
        seen.append(line)
        if len(seen) == 3:  # during the third measurement
            raise KeyboardInterrupt

    data = bench.run_bench(small_settings(tmp_path, variants=("torch",)), log=log).as_dict()
    assert data["interrupted"]
    assert [r["mode"] for r in data["results"]] == ["detect", "networks"]
    assert "INTERRUPTED" in bench.format_report(data)


def test_unavailable_variant_is_reported_not_fatal(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tensorrt", None)
    data = bench.run_bench(small_settings(tmp_path, variants=("tensorrt:fp16",)), log=lambda _: None).as_dict()
    assert data["results"] == []
    (entry,) = data["unavailable"]
    assert entry["variant"] == "tensorrt fp16" and entry["reason"] and "\n" not in entry["reason"]
    assert "TensorRT is not installed" in entry["reason"] or "no CUDA GPU" in entry["reason"]


def test_percentiles_and_summaries():
    stats = bench.percentiles([1.0, 2.0, 3.0, 4.0, 100.0])
    assert stats["p50"] == 3.0 and stats["min"] == 1.0 and stats["max"] == 100.0 and stats["n"] == 5
    assert stats["p50"] <= stats["p90"] <= stats["p99"] <= stats["max"]
    assert bench.percentiles([])["n"] == 0 and bench.percentiles([])["p50"] is None
    summary = bench.summarize([{"a": 1.0, "total": 2.0}, {"a": 3.0, "b": 1.0, "total": 4.0}])
    assert list(summary) == ["a", "total", "b"] and summary["a"]["p50"] == 2.0 and summary["b"]["n"] == 1


def test_parse_variant():
    assert bench.parse_variant("torch") == bench.Variant("torch", "fp32", 0, "cpu")
    assert bench.parse_variant("torch:bf16") == bench.Variant("torch", "bf16", 0, "cpu")
    assert bench.parse_variant("onnxruntime@1", "cpu") == bench.Variant("onnxruntime", "fp32", 1, "cpu")
    assert bench.parse_variant("tensorrt") == bench.Variant("tensorrt", "fp16", 0, "cuda")
    assert bench.parse_variant("onnxruntime:fp32@4").label == "onnxruntime-cpu fp32 4t"
    assert bench.parse_variant("tensorrt:int8").label == "tensorrt int8"
    for bad in ("openvino", "torch:fp8", "torch@0", "torch@x"):
        with pytest.raises(ValueError):
            bench.parse_variant(bad)


def test_default_variants():
    cpu, skipped = bench.default_variants("cpu", cores=2, flags={"avx2"})
    assert [v.label for v in cpu] == ["torch-cpu fp32", "onnxruntime-cpu fp32", "onnxruntime-cpu fp32 1t",
                                      "onnxruntime-cpu int8"]
    assert "bf16" in skipped[0]["variant"] and "native bf16" in skipped[0]["reason"]
    amx, skipped = bench.default_variants("cpu", cores=1, flags={"amx_bf16"})
    assert [v.label for v in amx] == ["torch-cpu fp32", "onnxruntime-cpu fp32", "onnxruntime-cpu int8",
                                      "torch-cpu bf16"] and not skipped
    gpu, _ = bench.default_variants("cuda", cores=8, flags=set())
    assert "tensorrt fp16" in [v.label for v in gpu]


def test_tracking_box():
    assert bench.tracking_box(100, 200) == [80.0, 30.0, 120.0, 70.0]
    uv = np.array([[10.0, 20.0], [30.0, 60.0]])
    box = bench.tracking_box(100, 200, uv, margin=1.0)
    assert box == [0.0, 20.0, 40.0, 60.0]  # square around the keypoints
    assert bench.tracking_box(100, 200, np.full((2, 2), np.nan)) == [80.0, 30.0, 120.0, 70.0]


def test_load_sequence(tmp_path):
    frames = np.zeros((3, 16, 20, 3), np.uint8)
    np.savez(tmp_path / "seq.npz", image=frames, uv=np.ones((3, 21, 2)), K=np.eye(3))
    got, uv = bench.load_sequence(str(tmp_path / "seq.npz"))
    assert got.shape == (3, 16, 20, 3) and uv.shape == (3, 21, 2)
    np.savez(tmp_path / "single.npz", rgb=frames[0])
    assert bench.load_sequence(str(tmp_path / "single.npz"))[0].shape == (1, 16, 20, 3)
    np.savez(tmp_path / "none.npz", depth=np.zeros((3, 4)))
    with pytest.raises(ValueError, match="no 'image' array"):
        bench.load_sequence(str(tmp_path / "none.npz"))
    np.savez(tmp_path / "float.npz", image=frames.astype(np.float32))
    with pytest.raises(ValueError, match="uint8"):
        bench.load_sequence(str(tmp_path / "float.npz"))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="cannot read"):
        bench.load_sequence(str(tmp_path / "bad.npz"))
    with pytest.raises(ValueError, match="no such"):
        bench.load_sequence(str(tmp_path / "missing.npz"))


def test_bench_command_writes_json(tmp_path, capsys):
    frames = np.random.default_rng(0).integers(0, 255, (2, 96, 128, 3), dtype=np.uint8)
    np.savez(tmp_path / "seq.npz", image=frames)
    out = tmp_path / "bench.json"
    code = cli.main(["bench", "--backends", "torch", "--iterations", "2", "--warmup", "0", "--batch", "1",
                     "--sequence", str(tmp_path / "seq.npz"), "--cache-dir", str(tmp_path), "--json", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    data = json.loads(out.read_text())
    assert data["settings"]["sequence"] == str(tmp_path / "seq.npz")
    assert [r["mode"] for r in data["results"]] == ["detect", "networks", "track", "track_networks"]
    assert "summary (p50)" in printed.out and "[1]" in printed.err


def test_bench_command_rejects_bad_arguments(capsys):
    assert cli.main(["bench", "--backends", "openvino"]) == 1
    assert "unknown backend 'openvino'" in capsys.readouterr().err
    assert cli.main(["bench", "--frame-size", "big"]) == 1
    assert "--frame-size" in capsys.readouterr().err
    assert cli.main(["bench", "--iterations", "0"]) == 1
