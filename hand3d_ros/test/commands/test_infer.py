"""`hand3d infer` on real files with the real pipeline (random weights: plumbing)."""
import json

import numpy as np
import pytest

from hand3d_ros import cli

cv2 = pytest.importorskip("cv2")
RANDOM = ["--allow-random-weights", "--backend", "torch", "--threshold", "0.01", "--max-hands", "1"]


def _image(seed, h=96, w=128):
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def test_images_and_folder_give_png_and_json(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"frame{i}.png"), _image(i))
    out = tmp_path / "out"
    assert cli.main(["infer", str(folder), "--out", str(out), *RANDOM]) == 0
    for i in range(2):
        record = json.loads((out / f"frame{i}.json").read_text())
        assert (record["width"], record["height"]) == (128, 96)
        hand = record["hands"][0]
        assert len(hand["keypoints_2d_px"]) == 21 and len(hand["keypoint_scores"]) == 21
        assert len(hand["keypoints_3d_normalized"]) == 21
        assert hand["handedness"] in ("left", "right", "unknown")
        drawn = cv2.imread(str(out / f"frame{i}.png"))
        assert drawn.shape == (96, 128, 3)
        assert not np.array_equal(drawn, cv2.imread(str(folder / f"frame{i}.png"))), "nothing drawn"


def test_video_gives_mp4_and_jsonl_with_tracked_ids(tmp_path):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (128, 96))
    base = _image(3)
    for i in range(4):
        writer.write(np.roll(base, 2 * i, axis=1))
    writer.release()
    out = tmp_path / "out"
    assert cli.main(["infer", str(video), "--out", str(out), *RANDOM]) == 0
    lines = [json.loads(line) for line in (out / "clip.jsonl").read_text().splitlines()]
    assert [line["frame"] for line in lines] == [0, 1, 2, 3]
    ids = {h["hand_id"] for line in lines for h in line["hands"]}
    assert len(ids) == 1, "the same hand should keep its id across frames"
    assert (out / "clip.mp4").stat().st_size > 0


def test_missing_input_and_missing_weights_fail_with_one_line(tmp_path, capsys):
    assert cli.main(["infer", str(tmp_path / "nope.png")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no such file" in err
    cv2.imwrite(str(tmp_path / "a.png"), _image(0))
    assert cli.main(["infer", str(tmp_path / "a.png"), "--weights", str(tmp_path / "noweights")]) == 1
    assert "handsegnet.pt" in capsys.readouterr().err
