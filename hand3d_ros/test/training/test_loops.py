import json

import pytest
import torch

from hand3d_ros.inference.model_set import load_model_set
from hand3d_ros.models import build_posenet, read_weights, save_weights
from hand3d_ros.training.configs import get_config
from hand3d_ros.training.loops import RunMismatch, train, trainable

torch.set_num_threads(1)


def _state(path):
    return read_weights(path)["state_dict"]


def test_resume_matches_an_uninterrupted_run(tiny_shards, tmp_path):
    config = get_config("posenet", "test", seed=5)
    full = train("posenet", tiny_shards, tmp_path / "full", "lite", config, num_workers=0, progress=False)
    assert full.finished and full.step == 6
    part = train("posenet", tiny_shards, tmp_path / "part", "lite", config, num_workers=0, progress=False,
                 stop_after=4)
    assert part.step == 4 and part.weights is None and (tmp_path / "part" / "checkpoint-posenet.pt").is_file()
    rest = train("posenet", tiny_shards, tmp_path / "part", "lite", config, num_workers=1, progress=False)
    assert rest.step == 6 and rest.finished
    a, b = _state(full.weights), _state(rest.weights)
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(line)["step"] for line in (tmp_path / "part" / "log-posenet.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    other = train("posenet", tiny_shards, tmp_path / "other", "lite", get_config("posenet", "test", seed=6),
                  num_workers=0, progress=False)
    assert not torch.equal(_state(other.weights)["stages.0.conv5_2.weight"], a["stages.0.conv5_2.weight"])


def test_dropout_network_resumes_exactly(tiny_shards, tmp_path):
    config = get_config("poseprior", "test", seed=1)
    full = train("poseprior", tiny_shards, tmp_path / "full", "lite", config, num_workers=0, progress=False)
    train("poseprior", tiny_shards, tmp_path / "part", "lite", config, num_workers=0, progress=False, stop_after=3)
    rest = train("poseprior", tiny_shards, tmp_path / "part", "lite", config, num_workers=0, progress=False)
    a, b = _state(full.weights), _state(rest.weights)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_run_folder_is_a_weights_folder(tiny_shards, tiny_val, tmp_path):
    run = tmp_path / "run"
    for network in ("handsegnet", "posenet", "poseprior", "poseprior-direct"):
        result = train(network, tiny_shards, run, "lite", get_config(network, "test"), val=tiny_val,
                       num_workers=0, progress=False)
        assert result.finished
        log = [json.loads(line) for line in (run / f"log-{network}.jsonl").read_text().splitlines()]
        assert {"step", "loss", "lr", "images_per_s"} <= set(log[0]) and any("val_loss" in r for r in log)
    models = load_model_set(run)
    assert set(models.networks) == {"handsegnet", "posenet", "poseprior"}
    meta = models.metadata["posenet"]["training"]
    assert meta["steps_done"] == 6 and meta["finished"] and meta["data"]["count"] == 16
    assert meta["data"]["manifest_info"]["generator"] == "stick-hands" and meta["schedule"]["seed"] == 0
    assert read_weights(run / "poseprior_direct.pt")["training"]["target"].startswith("w_rel")
    with pytest.raises(RunMismatch):
        train("posenet", tiny_shards, run, "lite", get_config("posenet", "test", seed=9), num_workers=0,
              progress=False)


def test_time_limit_stops_early_with_weights(tiny_shards, tmp_path):
    config = get_config("poseprior", "test", steps=1000)
    result = train("poseprior", tiny_shards, tmp_path, "lite", config, num_workers=0, progress=False,
                   time_limit_s=0.0)
    assert result.step == 1 and not result.finished and result.interrupted
    assert "stopped early" in read_weights(result.weights)["notes"][0]


def test_poseprior_on_posenet_maps_fine_tuned(tiny_shards, tmp_path):
    """``maps_from``: PosePrior trains on a frozen PoseNet's maps of the images (the
    PoseNet's weights stay as they were); ``init_from`` starts from earlier weights."""
    posenet = train("posenet", tiny_shards, tmp_path / "pn", "lite", get_config("posenet", "test"), num_workers=0,
                    progress=False).weights
    prior = train("poseprior", tiny_shards, tmp_path / "pp", "lite", get_config("poseprior", "test"), num_workers=0,
                  progress=False).weights
    before = _state(posenet)
    config = get_config("poseprior", "test", maps_from=str(posenet), init_from=str(prior), steps=2)
    tuned = train("poseprior", tiny_shards, tmp_path / "tuned", "lite", config, num_workers=0, progress=False)
    assert tuned.finished
    assert all(torch.equal(before[k], v) for k, v in _state(posenet).items())
    start, end = _state(prior), _state(tuned.weights)
    assert any(not torch.equal(start[k], end[k]) for k in start if start[k].dtype.is_floating_point)
    schedule = read_weights(tuned.weights)["training"]["schedule"]
    assert schedule["maps_from"] == str(posenet) and schedule["init_from"] == str(prior)
    # the run starts from the given weights, not from a new initialisation
    still = train("poseprior", tiny_shards, tmp_path / "still", "lite",
                  get_config("poseprior", "test", init_from=str(prior), steps=1, lr=(1e-12,)), num_workers=0,
                  progress=False)
    weights = _state(still.weights)
    assert all(torch.allclose(start[k].float(), weights[k].float(), atol=1e-6) for k in start
               if start[k].dtype.is_floating_point and "running" not in k)
    with pytest.raises(ValueError, match="poseprior only"):
        train("posenet", tiny_shards, tmp_path / "bad", "lite", get_config("posenet", "test", maps_from=str(posenet)),
              num_workers=0, progress=False)


def test_side_head_schedule_trains_only_the_head(tiny_shards, tmp_path):
    """``side-head``: from weights with another head (the global-mean table), the new
    grid head starts fresh and learns; every other tensor, batch norm statistics
    included, is the file's; the log holds the side loss alone (about ln 2 at chance)."""
    table = {k: v for k, v in build_posenet("lite").config.items() if k not in ("network", "variant")}
    old = build_posenet(dict(table, side_reads="encoding", side_grid=1))
    old.stages[0].conv5_1.norm.running_mean.fill_(0.25)  # statistics a frozen batch norm must keep
    save_weights(tmp_path / "old.pt", old, {})
    config = get_config("posenet", "side-head", init_from=str(tmp_path / "old.pt"), steps=3, batch_size=4)
    assert config.train_only == ("side_head",) and config.loss.maps == 0
    result = train("posenet", tiny_shards, tmp_path / "run", "lite", config, num_workers=0, progress=False)
    before, after = old.state_dict(), _state(result.weights)
    body = [k for k in after if not k.startswith("side_head.")]
    assert body and all(torch.equal(before[k], after[k]) for k in body)
    assert after["side_head.fc_side0.weight"].shape != before["side_head.fc_side0.weight"].shape
    log = [json.loads(line)["loss"] for line in (tmp_path / "run" / "log-posenet.jsonl").read_text().splitlines()]
    assert all(0.1 < value < 5.0 for value in log)  # cross-entropy, not the maps' tens
    # a second round from those weights: the head fits now and continues
    again = train("posenet", tiny_shards, tmp_path / "again", "lite",
                  get_config("posenet", "side-head", init_from=str(result.weights), steps=1, lr=(1e-12, 1e-12)),
                  num_workers=0, progress=False)
    assert torch.allclose(_state(again.weights)["side_head.fc_side0.weight"], after["side_head.fc_side0.weight"],
                          atol=1e-6)
    with pytest.raises(ValueError, match="names no module"):
        trainable(build_posenet("lite"), ("side_heads",))
