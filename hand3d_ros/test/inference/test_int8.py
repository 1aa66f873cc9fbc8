"""INT8 on the ONNX Runtime CPU backend: calibration on real photos stored in the weight
files (hand3d calibrate-int8), the quantized graphs, their cache and the guards.

Real ONNX Runtime, small random-weight lite networks, the committed real photos
(test/fixtures/real) as calibration frames.
"""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hand3d_ros import cli
from hand3d_ros.inference.backends.base import BackendUnavailable
from hand3d_ros.inference.model_set import load_model_set, random_model_set
from hand3d_ros.models.weights import read_weights, save_weights, set_calibration

pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")
from hand3d_ros.inference import int8  # noqa: E402
from hand3d_ros.inference.backends.onnxruntime_backend import OnnxRuntimeBackend, OrtSettings  # noqa: E402

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
SIZE = (160, 120)  # calibration frame size (W, H), the lite HandSegNet's input
CALIBRATION_FRAMES = 8
DETECTION = {"min_mean_keypoint_score": 0.25, "source": "test"}
ALL = ("handsegnet", "posenet", "poseprior")

# Agreement of INT8 with FP32 on held-out photos, measured with these random weights:
# HandSegNet logits mean |diff| 0.064 of their mean |logit|, max 0.17 of their max;
# PoseNet maps max 0.19 of their max; PosePrior w_c max 0.011 (of 4.1), R max 0.0044 (the
# pipeline's second pass around the keypoints, refine_passes, adds crops; 0.0022 without).
# Bounds: about 1.5 times that.
SEG_MEAN_REL, SEG_MAX_REL = 0.1, 0.25
MAPS_MAX_REL = 0.3
W_C_MAX_ABS, ROTATION_MAX_ABS = 0.016, 0.0066
#: FP32 ONNX vs PyTorch agree to 1e-4 (export.PARITY_TOLERANCE): INT8 must differ by more.
NOT_FP32 = 1e-3


#: What describe() adds on an x86 CPU without VNNI (int8.settings_for_cpu: unsigned weights).
CPU_NOTE = "; unsigned weights: this CPU has no VNNI" if int8.cpu_saturates_u8s8() else ""


def _weights(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, net in random_model_set("lite", seed=5).networks.items():
        save_weights(folder / f"{name}.pt", net)
    set_calibration(folder / "posenet.pt", "detection", DETECTION)
    return folder


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """(weights folder calibrated by the CLI with --write, cache folder, CLI stdout)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("int8")
    folder, cache = _weights(root / "weights"), root / "cache"
    rc = cli.main(["calibrate-int8", "--weights", str(folder), "--images", str(REAL), "--max-frames",
                   str(CALIBRATION_FRAMES), "--size", f"{SIZE[0]}x{SIZE[1]}", "--cache-dir", str(cache),
                   "--threads", "1", "--write"])
    assert rc == 0
    return folder, cache


@pytest.fixture(scope="module")
def held_out(calibrated):
    """What the pipeline feeds each network on photos not used for calibration."""
    frames, _ = int8.load_frames([REAL], 2 * CALIBRATION_FRAMES + 4, SIZE)
    return int8.capture_inputs(load_model_set(calibrated[0]), frames[CALIBRATION_FRAMES + 2:])


def test_calibration_is_stored_in_the_weight_files(calibrated):
    folder, _ = calibrated
    model_set = load_model_set(folder)  # the tensors still match their sha256
    posenet = read_weights(folder / "posenet.pt")
    assert posenet["calibration"]["detection"] == DETECTION  # other calibrations are kept
    for network in ALL:
        cal = model_set.metadata[network]["calibration"][int8.CALIBRATION_KEY]
        assert cal == int8.stored_calibration(model_set, network)
        assert cal["method"] == int8.DEFAULT_METHOD and cal["percentile"] == int8.DEFAULT_PERCENTILE
        assert cal["frames"] == CALIBRATION_FRAMES and cal["samples"] >= 1
        assert cal["source"] == f"real ({CALIBRATION_FRAMES})"
        assert cal["onnxruntime"] and cal["torch"] and cal["opset"] == 17
        assert cal["weights_sha256"] == model_set.metadata[network]["sha256"]
        assert len(cal["ranges"]) > 10
        for low, high in cal["ranges"].values():
            assert type(low) is float and type(high) is float and low <= high
    # the network inputs have real ranges: HandSegNet's image is rgb / 255 - 0.5
    low, high = int8.stored_calibration(model_set, "handsegnet")["ranges"]["image"]
    assert -0.5 <= low < -0.3 and 0.3 < high <= 0.5


def test_int8_backend_agrees_with_fp32(calibrated, held_out):
    folder, cache = calibrated
    model_set = load_model_set(folder)
    fp32 = OnnxRuntimeBackend(model_set, "cpu", cache_dir=str(cache), num_threads=1)
    quant = OnnxRuntimeBackend(model_set, "cpu", "int8", cache_dir=str(cache), num_threads=1,
                               settings=OrtSettings(int8_networks=ALL))
    assert quant.describe() == f"onnxruntime-cpu (int8 handsegnet+posenet+poseprior, 1 thread{CPU_NOTE})"
    assert set(quant.int8_paths) == set(ALL)
    for (images,) in held_out["handsegnet"]:
        want, got = fp32.handsegnet(images), quant.handsegnet(images)
        diff = (got - want).abs()
        assert NOT_FP32 < diff.max() < SEG_MAX_REL * want.abs().max()
        assert diff.mean() < SEG_MEAN_REL * want.abs().mean()
    for (crops,) in held_out["posenet"]:
        (want, *_), (got, *_) = fp32.posenet(crops), quant.posenet(crops)
        assert NOT_FP32 < (got - want).abs().max() < MAPS_MAX_REL * want.abs().max()
    for maps, side in held_out["poseprior"]:
        (want_w_c, want_r), (got_w_c, got_r) = fp32.poseprior(maps, side), quant.poseprior(maps, side)
        assert (got_w_c - want_w_c).abs().max() < W_C_MAX_ABS
        assert (got_r - want_r).abs().max() < ROTATION_MAX_ABS


def test_default_keeps_poseprior_fp32_and_says_so(calibrated):
    folder, cache = calibrated
    backend = OnnxRuntimeBackend(load_model_set(folder), "cpu", "int8", cache_dir=str(cache), num_threads=1)
    assert set(backend.int8_paths) == {"handsegnet", "posenet"}
    assert backend.describe() == ("onnxruntime-cpu (int8 handsegnet+posenet; "
                                  f"fp32 poseprior (int8_networks setting), 1 thread{CPU_NOTE})")


def test_quantized_graphs_are_cached(calibrated, tmp_path):
    folder, _ = calibrated
    model_set = load_model_set(folder)
    first = OnnxRuntimeBackend(model_set, "cpu", "int8", cache_dir=str(tmp_path), num_threads=1)
    assert first.int8_reused == {"handsegnet": False, "posenet": False}
    stamps = {n: os.stat(p).st_mtime_ns for n, p in first.int8_paths.items()}
    second = OnnxRuntimeBackend(model_set, "cpu", "int8", cache_dir=str(tmp_path), num_threads=1)
    assert second.int8_reused == {"handsegnet": True, "posenet": True}
    assert second.int8_paths == first.int8_paths
    assert {n: os.stat(p).st_mtime_ns for n, p in second.int8_paths.items()} == stamps
    for network, path in first.int8_paths.items():
        assert path.parent == tmp_path / "onnx" and "-int8-" in path.name
    # other ranges -> another file
    model_set.metadata["posenet"]["calibration"][int8.CALIBRATION_KEY] = dict(
        int8.stored_calibration(model_set, "posenet"),
        ranges={k: [lo * 2.0, hi * 2.0] for k, (lo, hi) in int8.stored_calibration(model_set, "posenet")["ranges"].items()})
    third = OnnxRuntimeBackend(model_set, "cpu", "int8", cache_dir=str(tmp_path), num_threads=1)
    assert third.int8_reused == {"handsegnet": True, "posenet": False}
    assert third.int8_paths["posenet"] != first.int8_paths["posenet"]


VNNI_CPU = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n"
AVX2_CPU = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n"


def test_quantization_follows_the_cpu():
    """x86 without VNNI: unsigned weights (U8U8 kernels, no saturating 16-bit sums);
    with VNNI, on Arm or where the CPU cannot be read: ONNX Runtime's U8S8 default."""
    assert int8.cpu_saturates_u8s8(AVX2_CPU, "x86_64")
    assert int8.cpu_saturates_u8s8(AVX2_CPU.replace("fma", "avx_vnni"), "x86_64") is False
    assert int8.cpu_saturates_u8s8(VNNI_CPU, "AMD64") is False
    assert int8.cpu_saturates_u8s8(AVX2_CPU, "aarch64") is False
    assert int8.cpu_saturates_u8s8("", "x86_64") is False  # no flags line: unknown
    assert int8.settings_for_cpu(True) == int8.QuantSettings(weight_type="QUInt8")
    assert int8.settings_for_cpu(False) == int8.QuantSettings()


def test_both_weight_types_quantize_cache_apart_and_agree(calibrated, held_out):
    """Each weight type has its graph in the cache; the one chosen for this CPU agrees with
    FP32 within the bounds, and on a CPU that saturates U8S8 sums it is the closer one."""
    import onnxruntime as ort

    folder, cache = calibrated
    model_set = load_model_set(folder)
    fp32 = OnnxRuntimeBackend(model_set, "cpu", cache_dir=str(cache), num_threads=1)
    graph, calibration = fp32.graphs["handsegnet"], int8.stored_calibration(model_set, "handsegnet")
    mean_diff, paths = {}, set()
    for unsigned in (False, True):
        path, _ = int8.quantize_graph(model_set, graph, calibration, int8.settings_for_cpu(unsigned))
        paths.add(path)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        diffs = []
        for (images,) in held_out["handsegnet"]:
            want = fp32.handsegnet(images)
            got = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: images.numpy()})[0])
            diffs.append((got - want).abs())
            if unsigned == int8.cpu_saturates_u8s8():
                assert NOT_FP32 < diffs[-1].max() < SEG_MAX_REL * want.abs().max()
                assert diffs[-1].mean() < SEG_MEAN_REL * want.abs().mean()
        mean_diff[unsigned] = float(torch.cat([d.flatten() for d in diffs]).mean())
    assert len(paths) == 2
    if int8.cpu_saturates_u8s8():
        assert mean_diff[True] < mean_diff[False]


def test_without_calibration_is_a_clear_error(tmp_path):
    folder = _weights(tmp_path / "plain")
    with pytest.raises(BackendUnavailable, match="none of handsegnet, posenet has an INT8 calibration.*"
                                                 "hand3d calibrate-int8"):
        OnnxRuntimeBackend(load_model_set(folder), "cpu", "int8", cache_dir=str(tmp_path / "cache"))


def test_a_network_without_calibration_runs_fp32(calibrated, tmp_path):
    folder = tmp_path / "partial"
    shutil.copytree(calibrated[0], folder)
    content = read_weights(folder / "posenet.pt")
    del content["calibration"][int8.CALIBRATION_KEY]
    torch.save(content, folder / "posenet.pt")
    backend = OnnxRuntimeBackend(load_model_set(folder), "cpu", "int8", cache_dir=str(calibrated[1]), num_threads=1)
    assert set(backend.int8_paths) == {"handsegnet"}
    assert "fp32 posenet (no int8 calibration), poseprior (int8_networks setting)" in backend.describe()
    # only the networks of int8_networks count: calibrated PosePrior alone is not enough
    with pytest.raises(BackendUnavailable, match="none of posenet has an INT8 calibration"):
        OnnxRuntimeBackend(load_model_set(folder), "cpu", "int8", cache_dir=str(calibrated[1]), num_threads=1,
                           settings=OrtSettings(int8_networks=("posenet",)))


@pytest.mark.parametrize("change, message", [
    (lambda cal: cal.update(graph_tensors_sha256="0" * 64), "tensors of another ONNX graph"),
    (lambda cal: cal["ranges"].update({"/renamed/Conv_output_0": [0.0, 1.0]}), "tensors of another ONNX graph"),
    (lambda cal: cal.update(weights_sha256="0" * 64), "made for other weights"),
    (lambda cal: cal.update(format_version=99), "format 99"),
])
def test_calibration_for_another_graph_is_refused(calibrated, tmp_path, change, message):
    folder = tmp_path / "other"
    shutil.copytree(calibrated[0], folder)
    cal = read_weights(folder / "handsegnet.pt")["calibration"][int8.CALIBRATION_KEY]
    change(cal)
    set_calibration(folder / "handsegnet.pt", int8.CALIBRATION_KEY, cal)
    with pytest.raises(BackendUnavailable, match=f"handsegnet int8 calibration.*{message}.*calibrate-int8"):
        OnnxRuntimeBackend(load_model_set(folder), "cpu", "int8", cache_dir=str(calibrated[1]), num_threads=1)


def test_cli_without_write_reports_and_keeps_the_files(calibrated, tmp_path, capsys):
    folder = _weights(tmp_path / "weights")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    rc = cli.main(["calibrate-int8", "--weights", str(folder), "--images", str(REAL), "--max-frames", "3",
                   "--size", "160x120", "--cache-dir", str(calibrated[1]), "--threads", "1", "--method", "minmax",
                   "--networks", "handsegnet", "posenet"])
    out = capsys.readouterr().out
    assert rc == 0
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert "3 frames (160x120): real (3)" in out and "not written" in out
    assert "mask_iou" in out and "argmax_px_mean" in out and "method minmax," in out
    assert "poseprior" not in out


def test_cli_writes_only_the_networks_asked_for(calibrated, tmp_path):
    folder = _weights(tmp_path / "weights")
    rc = cli.main(["calibrate-int8", "--weights", str(folder), "--images", str(REAL), "--max-frames", "2",
                   "--size", "160x120", "--cache-dir", str(calibrated[1]), "--threads", "1", "--networks", "handsegnet",
                   "--write"])
    assert rc == 0
    model_set = load_model_set(folder)
    assert int8.stored_calibration(model_set, "handsegnet")["frames"] == 2
    assert int8.stored_calibration(model_set, "posenet") is None
    assert model_set.metadata["posenet"]["calibration"]["detection"] == DETECTION
    backend = OnnxRuntimeBackend(model_set, "cpu", "int8", cache_dir=str(calibrated[1]), num_threads=1)
    assert set(backend.int8_paths) == {"handsegnet"}


@pytest.mark.parametrize("args, message", [
    (["--images", "/no/such/folder"], "no such file or folder"),
    (["--images", str(REAL / "labels.json")], "not an image"),
    (["--images", str(REAL), "--size", "160by120"], "--size must be WxH"),
    (["--images", str(REAL), "--percentile", "30"], "--percentile must be in (50, 100]"),
    (["--images", str(REAL), "--weights", "/no/such/weights"], "no handsegnet.pt"),
])
def test_cli_bad_input_is_one_line_and_exit_1(calibrated, tmp_path, capsys, args, message):
    argv = ["calibrate-int8", "--weights", str(calibrated[0]), "--cache-dir", str(tmp_path)] + args
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_load_frames_mixes_shards_and_photos(tmp_path):
    from hand3d_ros.data.shards import write_shards

    class Frames:
        def __call__(self, index):
            return {"image": np.full((60, 100, 3), index * 40, np.uint8)}

    write_shards(Frames(), tmp_path / "shards", 5, shard_size=2, workers=1, progress=False)
    frames, source = int8.load_frames([tmp_path / "shards", REAL / "signdigits_IMG_1148.jpg"], 4, SIZE)
    assert frames.shape == (3, 120, 160, 3) and frames.dtype == np.uint8
    assert source == "shards (2), signdigits_IMG_1148.jpg (1)"
    assert frames[0].max() == 0 and frames[1].min() == 160  # samples 0 and 4: spread over the folder
    with pytest.raises(ValueError, match="max_frames >= 1"):
        int8.load_frames([REAL], 0)


def test_load_frames_takes_one_split_of_a_real_folder(tmp_path, monkeypatch):
    """``DIR:val`` calibrates on the val sources' photos only (a test person's photos never
    set the INT8 ranges); an unknown split word is a path, and a missing one says so."""
    from hand3d_ros.data.shards import write_shards
    from hand3d_ros.evaluation import real_split

    class Photos:  # photo i comes from source i % 2 and is filled with 10 * i
        def __call__(self, index):
            return {"image": np.full((60, 80, 3), 10 * index, np.uint8), "source": np.int64(index % 2)}

    info = {"kind": "real-teacher", "sources": [{"name": "people/a"}, {"name": "people/b"}]}
    write_shards(Photos(), tmp_path / "real", 6, shard_size=4, workers=1, info=info, progress=False)
    monkeypatch.setitem(real_split.REAL_SPLIT, "val", ["people/b"])
    frames, source = int8.load_frames([f"{tmp_path / 'real'}:val"], 8, SIZE)
    assert source == "real:val (3)"
    assert sorted(int(f.max()) for f in frames) == [10, 30, 50]
    frames, source = int8.load_frames([tmp_path / "real"], 8, SIZE)
    assert source == "real (6)"
    with pytest.raises(ValueError, match="no such file or folder"):
        int8.load_frames([f"{tmp_path / 'real'}:nope"], 8, SIZE)


def test_fit_frame_crops_to_the_aspect():
    wide = np.zeros((100, 400, 3), np.uint8)
    wide[:, 150:250] = 255  # the centre 100 columns survive a crop to 4:3 (133 px wide)
    out = int8.fit_frame(wide, (160, 120))
    assert out.shape == (120, 160, 3)
    assert out[:, 80].min() == 255 and out[:, 0].max() == 0


def test_bench_measures_int8(calibrated, tmp_path, capsys):
    import json

    frames = np.random.default_rng(0).integers(0, 255, (2, 120, 160, 3), dtype=np.uint8)
    np.savez(tmp_path / "seq.npz", image=frames)
    out = tmp_path / "bench.json"
    code = cli.main(["bench", "--weights", str(calibrated[0]), "--backends", "onnxruntime:int8@1", "--device", "cpu",
                     "--iterations", "2", "--warmup", "0", "--batch", "1", "--sequence", str(tmp_path / "seq.npz"),
                     "--cache-dir", str(calibrated[1]), "--json", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    data = json.loads(out.read_text())
    assert data["unavailable"] == []
    assert {r["variant"] for r in data["results"]} == {"onnxruntime-cpu int8 1t"}
    detect = next(r for r in data["results"] if r["mode"] == "detect")
    assert detect["backend"].startswith("onnxruntime-cpu (int8 handsegnet+posenet;")


def test_precision_auto_is_int8_with_a_calibration_and_fp32_without(calibrated, tmp_path):
    from hand3d_ros.inference.backends.select import create_backend

    folder, cache = calibrated
    lines = []
    backend = create_backend("onnxruntime", load_model_set(folder), device="cpu", precision="auto",
                             cache_dir=str(cache), log=lines.append)
    assert backend.precision == "int8" and lines == [f"backend {backend.describe()}"]
    plain, lines = _weights(tmp_path / "plain"), []
    backend = create_backend("auto", load_model_set(plain), device="cpu", precision="auto",
                             cache_dir=str(tmp_path / "cache"), log=lines.append)
    assert backend.name == "onnxruntime-cpu" and backend.precision == "fp32"
    assert len(lines) == 2 and "int8 not used" in lines[0] and "hand3d calibrate-int8" in lines[0]
    torch_backend = create_backend("torch", load_model_set(plain), device="cpu", precision="auto", log=lambda _: None)
    assert torch_backend.precision == "fp32"
    with pytest.raises(BackendUnavailable, match="unknown precision 'int4'"):
        create_backend("onnxruntime", load_model_set(plain), device="cpu", precision="int4")


def test_the_shipped_weights_run_int8_by_default(tmp_path):
    """The shipped weights carry an INT8 calibration that fits this export, so the node's
    default (backend auto, precision auto) runs HandSegNet and PoseNet in INT8 here."""
    from hand3d_ros.inference.backends.select import create_backend
    from hand3d_ros.inference.model_set import SHIPPED_WEIGHTS_DIR

    shipped = load_model_set(SHIPPED_WEIGHTS_DIR / "lite")
    for network in ("handsegnet", "posenet"):
        assert int8.stored_calibration(shipped, network) is not None, network
    backend = create_backend("auto", shipped, device="cpu", precision="auto", cache_dir=str(tmp_path),
                             log=lambda _: None)
    assert backend.precision == "int8" and "int8 handsegnet+posenet" in backend.describe()
