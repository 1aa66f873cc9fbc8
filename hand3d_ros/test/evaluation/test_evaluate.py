import json

import numpy as np
import pytest
import torch

from hand3d_ros.cli import main
from hand3d_ros.evaluation.evaluate import EvalConfig, evaluate, format_table
from hand3d_ros.evaluation.paper import PAPER_NUMBERS
from hand3d_ros.inference.model_set import random_model_set
from hand3d_ros.models import save_weights
from hand3d_ros.training.configs import get_config
from hand3d_ros.training.loops import train

torch.set_num_threads(1)
METRICS = ("segmentation", "2d_gt_crops", "2d_pipeline", "3d_lifting", "3d_lifting_direct", "3d_posenet_gt_crops")


@pytest.fixture(scope="module")
def weights(tiny_shards, tmp_path_factory):
    """Random lite networks plus a briefly trained direct baseline (real weight files)."""
    folder = tmp_path_factory.mktemp("weights")
    models = random_model_set("lite", seed=0)
    for name, net in models.networks.items():
        save_weights(folder / f"{name}.pt", net)
    train("poseprior-direct", tiny_shards, folder, "lite", get_config("poseprior-direct", "test"), num_workers=0,
          progress=False)
    return folder


def test_eval_command_writes_every_metric(weights, tiny_val, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert main(["eval", "--weights", str(weights), "--data", str(tiny_val), "--limit", "6", "--json", str(out),
                 "--plots", str(tmp_path / "plots"), "--no-progress", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "2D GT crops AUC 0-30 px" in printed and "0.724" in printed  # the paper's number beside ours
    results = json.loads(out.read_text())
    for key in METRICS:
        assert key in results, key
    assert results["paper"] == json.loads(json.dumps(PAPER_NUMBERS))
    assert results["segmentation"]["num_samples"] == 6
    for key in ("2d_gt_crops", "3d_lifting", "3d_lifting_direct", "3d_posenet_gt_crops"):
        summary = results[key]
        assert summary["num_samples"] == 6 and summary["num_visible"] > 0
        assert summary["epe_mean"] > 0 and 0 <= summary["auc"] <= 1
        assert len(summary["pck"]["thresholds"]) == len(summary["pck"]["values"])
    assert results["3d_lifting"]["unit"] == "mm" and results["3d_lifting"]["auc_range"] == [20.0, 50.0]
    assert results["2d_gt_crops"]["auc_range"] == [0.0, 30.0]
    assert 0 <= results["2d_pipeline"]["detected_fraction"] <= 1
    for name in ("pck_2d.png", "pck_3d.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 1000


def test_lifting_metric_is_zero_for_exact_poses(weights, tiny_val, monkeypatch):
    """With PosePrior replaced by the ground truth, the 3D errors vanish: checks the
    protocol (w_rel * GT bone + GT root, camera metres -> mm) end to end."""
    from hand3d_ros.inference.backends import torch_backend
    from hand3d_ros.training import targets
    from hand3d_ros.training.datasets import FIELDS, SampleDataset

    data = SampleDataset(tiny_val, FIELDS["all"])
    batch = [data[i] for i in range(4)]
    gt = targets.canonical_targets(torch.tensor(np.stack([b["xyz"] for b in batch])),
                                   torch.tensor([int(b["hand_side"]) for b in batch]))

    def exact(self, maps, hand_side):  # the pipeline also lifts both sides at once (2x batch)
        index = torch.arange(maps.shape[0]) % 4
        return gt["w_c"][index], gt["R"][index]

    monkeypatch.setattr(torch_backend.TorchBackend, "poseprior", exact)
    results = evaluate(weights, tiny_val, limit=4, config=EvalConfig(batch_size=4))
    assert results["3d_lifting"]["epe_mean"] < 1e-3
    assert results["3d_lifting"]["auc"] == 1.0


def test_table_shows_missing_values_as_dash():
    table = format_table({"segmentation": {"iou": None}, "2d_gt_crops": {"epe_median": 3.0, "auc": 0.5}})
    assert "HandSegNet IoU" in table and table.splitlines()[1].split()[-2:] == ["-", "-"]
    assert "5.00" in table and "0.724" in table


def test_eval_command_reports_missing_weights(tiny_val, tmp_path, capsys):
    assert main(["eval", "--weights", str(tmp_path), "--data", str(tiny_val)]) == 1
    assert "no handsegnet.pt" in capsys.readouterr().err
