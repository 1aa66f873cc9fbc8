import json

import pytest
import torch

from hand3d_ros.inference.model_set import load_model_set
from hand3d_ros.models import read_weights
from hand3d_ros.training.configs import get_config
from hand3d_ros.training.loops import RunMismatch, train

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
