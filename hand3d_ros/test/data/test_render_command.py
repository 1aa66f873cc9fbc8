"""`hand3d render` through the CLI entry point (commands/render.py)."""
import numpy as np
import pytest

from hand3d_ros.cli import main
from hand3d_ros.data.render.assets import assets_available
from hand3d_ros.data.shards import ShardDataset

needs_asset = pytest.mark.skipif(not assets_available(), reason="WebXR hand meshes absent (tools/fetch_hand_assets.sh)")


@needs_asset
def test_tiny_render_via_cli(tmp_path, capsys):
    out = tmp_path / "ds"
    args = ["render", str(out), "--num", "3", "--size", "48", "--shard-size", "2", "--workers", "1",
            "--seed", "4", "--no-progress", "--sequences", "1", "--frames", "2"]
    assert main(args) == 0
    ds = ShardDataset(out)
    assert len(ds) == 3
    s = ds[2]
    assert s["image"].shape == (48, 48, 3) and s["uv"].shape == (21, 2) and s["depth"].shape == (48, 48)
    assert int(s["index"]) == 2 and int(s["seed"]) == 4
    assert ds.info["seed"] == 4 and ds.info["image_size"] == [48, 48] and ds.info["split"] == "train"
    seq = ShardDataset(out / "sequences")
    assert len(seq) == 2 and seq.shard_size == 2
    assert float(seq[1]["timestamp"]) == pytest.approx(1 / 30)
    # running again resumes (nothing to do) and gives the same data
    before = ds[0]["image"].tobytes()
    assert main(args) == 0
    assert ShardDataset(out)[0]["image"].tobytes() == before
    # --no-depth drops the field; val is another seed stream
    assert main(["render", str(tmp_path / "val"), "--num", "1", "--size", "48", "--workers", "1",
                 "--seed", "4", "--split", "val", "--no-depth", "--no-progress"]) == 0
    val = ShardDataset(tmp_path / "val")[0]
    assert "depth" not in val
    assert not np.array_equal(val["image"], ShardDataset(out)[0]["image"])


def test_missing_assets_is_one_readable_line(tmp_path, capsys):
    code = main(["render", str(tmp_path / "ds"), "--num", "1", "--asset-dir", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "fetch_hand_assets.sh" in err and "Traceback" not in err


def test_bad_arguments_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["render", str(tmp_path), "--num", "-1"])
    assert info.value.code == 2
    assert main(["render", str(tmp_path / "x"), "--num", "0", "--no-progress"]) == 1
