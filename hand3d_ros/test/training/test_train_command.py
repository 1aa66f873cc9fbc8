from hand3d_ros.cli import main
from hand3d_ros.models import read_weights


def test_train_command_runs_and_resumes(tiny_shards, tmp_path, capsys):
    args = ["train", "poseprior", "--data", str(tiny_shards), "--out", str(tmp_path), "--schedule", "test",
            "--workers", "0", "--threads", "1", "--no-progress"]
    assert main(args) == 0
    assert "finished at step 6" in capsys.readouterr().out
    assert main(args + ["--steps", "8"]) == 1  # another schedule: refuses to mix runs
    assert "different run" in capsys.readouterr().err
    assert main(args) == 0  # same command: already done, resumes at 6
    assert read_weights(tmp_path / "poseprior.pt")["training"]["steps_done"] == 6


def test_train_command_reports_bad_data(tmp_path, capsys):
    assert main(["train", "posenet", "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    assert "neither a shard folder" in capsys.readouterr().err


def test_side_head_schedule_needs_weights_to_start_from(tiny_shards, tmp_path, capsys):
    args = ["train", "posenet", "--data", str(tiny_shards), "--out", str(tmp_path), "--config", "lite",
            "--schedule", "side-head", "--workers", "0", "--no-progress"]
    assert main(args) == 1
    assert "--init-from" in capsys.readouterr().err
    assert not (tmp_path / "posenet.pt").exists()


def test_crop_jitter_reaches_the_weights_metadata(tiny_shards, tmp_path, capsys):
    args = ["train", "posenet", "--data", str(tiny_shards), "--out", str(tmp_path), "--schedule", "test",
            "--workers", "0", "--threads", "1", "--no-progress", "--crop-jitter", "0.12", "0.3"]
    assert main(args) == 0
    augment = read_weights(tmp_path / "posenet.pt")["training"]["schedule"]["augment"]
    assert (augment["crop_center_noise"], augment["crop_scale_noise"]) == (0.12, 0.3)
    capsys.readouterr()
    bad = [a if a != str(tmp_path) else str(tmp_path / "bad") for a in args[:-2]] + ["0.6", "0.3"]
    assert main(bad) == 1  # out of range: one readable line, nothing trained
    assert capsys.readouterr().err.strip().splitlines() == [
        "hand3d train: Augment.crop_center_noise and map_translate must be in [0, 0.5]"]
    assert not (tmp_path / "bad" / "posenet.pt").exists()


def test_mosaic_reaches_the_weights_metadata(tiny_shards, tmp_path, capsys):
    args = ["train", "handsegnet", "--data", str(tiny_shards), "--out", str(tmp_path / "run"), "--schedule", "test",
            "--workers", "0", "--threads", "1", "--no-progress", "--mosaic", "0.4"]
    assert main(args) == 0
    assert read_weights(tmp_path / "run" / "handsegnet.pt")["training"]["schedule"]["augment"]["mosaic"] == 0.4
    capsys.readouterr()
    assert main(args[:5] + [str(tmp_path / "bad")] + args[6:-1] + ["2"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == ["hand3d train: Augment.mosaic must be in [0, 1]"]
    assert not (tmp_path / "bad" / "handsegnet.pt").exists()


def test_device_is_checked_and_recorded(tiny_shards, tmp_path, capsys):
    import torch

    base = ["train", "handsegnet", "--data", str(tiny_shards), "--schedule", "test", "--workers", "0",
            "--threads", "1", "--no-progress"]
    assert main(base + ["--out", str(tmp_path / "cpu"), "--device", "cpu"]) == 0
    assert read_weights(tmp_path / "cpu" / "handsegnet.pt")["training"]["device"] == "cpu"
    capsys.readouterr()
    assert main(base + ["--out", str(tmp_path / "bad"), "--device", "tpu"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "hand3d train: unknown device 'tpu' (auto, cpu, cuda or cuda:N)"]
    if not torch.cuda.is_available():
        assert main(base + ["--out", str(tmp_path / "gpu"), "--device", "cuda"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "torch sees no CUDA GPU here" in err[0]
    assert not (tmp_path / "bad" / "handsegnet.pt").exists()


def test_width_narrows_handsegnet_and_refuses_posenet(tiny_shards, tmp_path, capsys):
    base = ["--data", str(tiny_shards), "--schedule", "test", "--workers", "0", "--threads", "1", "--no-progress"]
    for network in ("handsegnet", "posenet"):
        assert main(["train", network, "--out", str(tmp_path / network)] + base) == 0
    assert main(["train", "handsegnet", "--out", str(tmp_path / "thin"), "--width", "0.5", "--input-size", "96x64",
                 "--init-from", str(tmp_path / "handsegnet" / "handsegnet.pt")] + base) == 0
    assert read_weights(tmp_path / "thin" / "handsegnet.pt")["config"]["width"] == 0.5
    capsys.readouterr()
    assert main(["train", "posenet", "--out", str(tmp_path / "thin_pn"), "--width", "0.5",
                 "--init-from", str(tmp_path / "posenet" / "posenet.pt")] + base) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot narrow width 1.0 to 0.5" in err[0] and "plain conv stacks" in err[0]
