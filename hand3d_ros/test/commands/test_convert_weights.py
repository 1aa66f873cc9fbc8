"""`hand3d convert-weights`: converts a pickle with the authors' names into loadable files."""
import pickle

import numpy as np
import pytest
import torch

from hand3d_ros.cli import main
from hand3d_ros.core.keypoints import KEYPOINT_NAMES, MIDDLE_MCP, WRIST
from hand3d_ros.models import PosePrior, load_weights
from hand3d_ros.models.convert_tf import tf_variable_shapes


def _pose_prior_pickle(path, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {name: (rng.standard_normal(shape) * 0.05).astype(np.float32)
              for name, shape in tf_variable_shapes().items()
              if name.split("/")[0] in ("PosePrior", "ViewpointNet")}
    arrays["global_step"] = np.array(1000)
    path.write_bytes(pickle.dumps(arrays, protocol=2))
    return arrays


def test_converts_a_pose_prior_pickle(tmp_path, capsys):
    arrays = _pose_prior_pickle(tmp_path / "posenet3d.pickle")
    assert main(["convert-weights", str(tmp_path / "posenet3d.pickle"), str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "poseprior.pt (poseprior)" in out and "ignored 1 variables" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["poseprior.pt"]
    model, meta = load_weights(tmp_path / "out" / "poseprior.pt")
    assert isinstance(model, PosePrior)
    assert meta["keypoint_order"] == list(KEYPOINT_NAMES)
    assert meta["training"]["pickle"] == "posenet3d.pickle"
    assert any("palm centre" in note for note in meta["notes"])
    # the viewpoint heads are copied as they are (ux, uy, uz: no keypoint axis)
    np.testing.assert_array_equal(model.viewpoint.heads.fc_vp_uy.weight.detach().numpy(),
                                  arrays["ViewpointNet/fc_vp_uy/weights"].T)
    with torch.no_grad():
        out = model(torch.rand(2, 21, 32, 32), torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert torch.allclose(out.w_rel[:, WRIST], torch.zeros(2, 3), atol=1e-5)  # re-rooted
    assert not torch.allclose(out.w_rel[:, MIDDLE_MCP], torch.zeros(2, 3), atol=1e-3)


def test_keep_palm_root_records_the_authors_order(tmp_path):
    _pose_prior_pickle(tmp_path / "p.pickle")
    assert main(["convert-weights", str(tmp_path / "p.pickle"), str(tmp_path / "o"), "--keep-palm-root"]) == 0
    _, meta = load_weights(tmp_path / "o" / "poseprior.pt")
    assert meta["keypoint_order"][0] == "palm_centre"


@pytest.mark.parametrize("kind", ["missing", "not a pickle", "no known variables", "partial"])
def test_bad_input_is_one_line(tmp_path, capsys, kind):
    path = tmp_path / "w.pickle"
    if kind == "not a pickle":
        path.write_text("hello")
    elif kind == "no known variables":
        path.write_bytes(pickle.dumps({"something/else": np.zeros(3)}))
    elif kind == "partial":
        path.write_bytes(pickle.dumps({"PosePrior/fc_xyz/biases": np.zeros(63, np.float32)}))
    assert main(["convert-weights", str(path), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hand3d convert-weights: ") and err.count("\n") == 1
    expected = {"missing": "no such file", "not a pickle": "not a weight pickle",
                "no known variables": "no variable of", "partial": "is missing"}[kind]
    assert expected in err
    assert not (tmp_path / "out").exists()
