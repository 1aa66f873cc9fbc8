"""`hand3d label` end to end with the real teacher: shards that the readers take, sides,
masks, bad input counted with a clear line, resuming, negatives, a missing teacher."""
import json

import numpy as np
import pytest

from hand3d_ros.cli import main
from hand3d_ros.data.pseudo_mask import IGNORE
from hand3d_ros.data.shards import ShardDataset

cv2 = pytest.importorskip("cv2")

#: Renders of the conftest stream the teacher keeps (checked by the test), both sides.
KEPT = (0, 1, 3)


def bgr(rgb):
    return np.ascontiguousarray(rgb[:, :, ::-1])


@pytest.fixture()
def photo_folder(tmp_path, renders):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    cv2.imwrite(str(folder / "r0.png"), bgr(renders[0]["image"]))
    cv2.imwrite(str(folder / "sub" / "r1.png"), bgr(renders[1]["image"]))
    # a square crop: scaled to fit 320x240 (x1.2) and padded left and right
    cv2.imwrite(str(folder / "sub" / "r3_square.png"), bgr(renders[3]["image"][20:220, 60:260]))
    (folder / "bad.jpg").write_bytes(b"this is not a JPEG")
    cv2.imwrite(str(folder / "blank.png"), np.full((90, 120, 3), 128, np.uint8))
    (folder / "corrupt.mp4").write_bytes(b"\x00" * 2048)
    writer = cv2.VideoWriter(str(folder / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write MJPG video")
    for i in range(6):
        writer.write(bgr(renders[1]["image"]))
    writer.release()
    return folder


def label(args, teacher_python):
    return main(["label", *map(str, args), "--teacher-python", str(teacher_python), "--no-progress"])


def test_label_a_folder_round_trip_bad_input_and_resume(photo_folder, tmp_path, renders, teacher_python, capsys):
    out = tmp_path / "labelled"
    args = [photo_folder, "--out", out, "--workers", "2", "--every", "3", "--source", "renders",
            "--licence", "MIT", "--shard-size", "2"]
    assert label(args, teacher_python) == 0
    err = capsys.readouterr().err
    assert "bad.jpg" in err and "corrupt.mp4" in err  # a clear line each
    ds = ShardDataset(out)
    info = ds.info
    counts = info["counts"]
    assert counts["images_read"] == 6  # r0, r1, r3_square, blank, 2 video frames (0 and 3)
    assert counts["unreadable"] == 1 and counts["unreadable_videos"] == 1 and counts["video_frames"] == 2
    assert counts["images_without_hand"] >= 1  # blank.png
    assert counts["hands_kept"] == len(ds) == 5, counts
    assert info["kind"] == "real-teacher" and info["teacher"]["version"] == "0.10.14"
    assert info["sources"] == [{"name": "renders", "licence": "MIT", "root": str(photo_folder.resolve())}]
    files = json.loads((out / "files.json").read_text())
    by_name = {}
    for i in range(len(ds)):
        s = ds[i]
        assert s["image"].shape == (240, 320, 3) and s["mask"].shape == (240, 320) and s["valid"].shape == (240, 320)
        assert s["uv"].shape == (21, 2) and s["xyz"].shape == (21, 3) and s["kp_score"].shape == (21,)
        assert s["K"].shape == (3, 3) and s["box"].shape == (4,) and int(s["index"]) == i
        assert int(s["num_hands"]) == 1 and int(s["source"]) == 0
        assert set(np.unique(s["mask"])) <= {0, 1, 2, IGNORE}
        side = int(s["hand_side"])
        assert (s["mask"] == 1 + side).sum() > 200 and (s["mask"] == 2 - side).sum() == 0
        assert 0.5 <= float(s["side_score"]) <= 1 and 0 < float(s["hand_score"]) <= 1
        assert np.all((s["kp_score"] >= 0) & (s["kp_score"] <= 1)) and s["kp_score"].mean() > 0.3
        np.testing.assert_allclose(s["xyz"][0], 0, atol=1e-6)
        assert 0.05 < np.linalg.norm(s["xyz"][12]) < 0.3  # wrist to middle fingertip, metres
        by_name[files[int(s["file_index"])]] = s
    assert sorted(by_name) == ["clip.avi#frame=0", "clip.avi#frame=3", "r0.png", "sub/r1.png", "sub/r3_square.png"]
    for name, index in (("r0.png", 0), ("sub/r1.png", 1), ("clip.avi#frame=0", 1)):
        s, r = by_name[name], renders[index]
        assert int(s["hand_side"]) == int(r["hand_side"]), name
        assert np.median(np.linalg.norm(s["uv"] - r["uv"], axis=1)) < 0.15 * np.ptp(r["uv"], axis=0).max()
        assert s["valid"].all()
    sq = by_name["sub/r3_square.png"]  # 200x200 -> 240x240 at x = 40..279
    assert sq["valid"][:, :40].sum() == 0 and sq["valid"][:, 40:280].all() and sq["valid"][:, 280:].sum() == 0
    assert (sq["mask"][:, :40] == IGNORE).all()
    truth = (renders[3]["uv"] - [60, 20] + 0.5) * 1.2 - 0.5 + [40, 0]
    assert np.median(np.linalg.norm(sq["uv"] - truth, axis=1)) < 0.15 * np.ptp(truth, axis=0).max()
    assert int(sq["hand_side"]) == int(renders[3]["hand_side"])
    assert float(sq["K"][0, 2]) == pytest.approx(40 + 239 / 2)
    # the training reader takes it unchanged
    from hand3d_ros.training.datasets import FIELDS, SampleDataset

    sample = SampleDataset(str(out), FIELDS["all"])[0]
    assert sample["image"].shape == (240, 320, 3) and sample["uv"].shape == (21, 2)
    # the same command again resumes: nothing new asked of the teacher, the same shards
    replies = (out / "teacher-cache" / "replies.jsonl").read_text()
    before = ds[3]["mask"].tobytes()
    assert label(args, teacher_python) == 0
    assert (out / "teacher-cache" / "replies.jsonl").read_text() == replies
    assert ShardDataset(out)[3]["mask"].tobytes() == before
    # other settings: refused with a hint, then --rewrite re-makes the shards from the cached replies
    capsys.readouterr()
    assert label(args + ["--no-grabcut"], teacher_python) == 1
    assert "--rewrite" in capsys.readouterr().err
    assert label(args + ["--no-grabcut", "--rewrite"], teacher_python) == 0
    assert (out / "teacher-cache" / "replies.jsonl").read_text() == replies
    rewritten = ShardDataset(out)
    assert rewritten.info["mask"]["grabcut"] is False and len(rewritten) == 5
    assert rewritten[3]["mask"].tobytes() != before
    # another --every takes only its frames, reusing the cached ones (no new teacher work)
    every6 = [a if a != "3" else "6" for a in args]
    assert label(every6 + ["--rewrite"], teacher_python) == 0
    assert ShardDataset(out).info["counts"]["video_frames"] == 1 and len(ShardDataset(out)) == 4
    new_lines = (out / "teacher-cache" / "replies.jsonl").read_text()[len(replies):].splitlines()
    assert len(new_lines) == 2 and all(json.loads(line)["video"] for line in new_lines)  # clip, corrupt


def test_mirrored_input_swaps_the_sides(tmp_path, renders, teacher_python):
    folder = tmp_path / "selfie"
    folder.mkdir()
    cv2.imwrite(str(folder / "r0.png"), bgr(renders[0]["image"]))
    assert label([folder, "--out", tmp_path / "o", "--workers", "1", "--mirrored-input"], teacher_python) == 0
    ds = ShardDataset(tmp_path / "o")
    assert len(ds) == 1 and int(ds[0]["hand_side"]) == 1 - int(renders[0]["hand_side"])
    assert ds.info["mirrored_input"] is True


def test_negatives(tmp_path, teacher_python):
    folder = tmp_path / "rooms"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(folder / f"room{i}.jpg"), rng.integers(0, 255, (60, 80, 3)).astype(np.uint8))
    out = tmp_path / "neg"
    sources = tmp_path / "sources.json"  # folders (relative to this file) -> name, licence
    sources.write_text(json.dumps({"rooms": {"name": "my-rooms", "licence": "CC0-1.0"}}))
    assert label([folder, "--out", out, "--negatives", "--workers", "1", "--size", "64x48", "--sources", sources],
                 teacher_python) == 0
    ds = ShardDataset(out)
    assert len(ds) == 2 and ds.info["counts"]["samples"] == 2
    s = ds[1]
    assert s["image"].shape == (48, 64, 3) and int(s["hand_side"]) == 255 and np.isnan(s["uv"]).all()
    assert not s["visible"].any() and (s["mask"] == 0).all()
    assert ds.info["sources"] == [{"name": "my-rooms", "licence": "CC0-1.0", "root": str(folder.resolve())}]


def test_default_source_is_the_folder_name(tmp_path, teacher_python):
    folder = tmp_path / "kitchen"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((60, 80, 3), 50, np.uint8))
    assert label([folder, "--out", tmp_path / "o", "--negatives", "--workers", "1"], teacher_python) == 0
    assert ShardDataset(tmp_path / "o").info["sources"][0]["name"] == "kitchen"
    assert ShardDataset(tmp_path / "o").info["sources"][0]["licence"] == "unknown"


def test_missing_teacher_is_one_line_naming_make_teacher(tmp_path, capsys):
    folder = tmp_path / "p"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((8, 8, 3), np.uint8))
    code = main(["label", str(folder), "--out", str(tmp_path / "o"), "--teacher-python", str(tmp_path / "nope"),
                 "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "make teacher" in err


def test_no_inputs_is_one_line(tmp_path, capsys):
    assert main(["label", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "no such file or folder" in err and "no images or videos" in err


def test_a_dying_teacher_is_replaced_and_an_input_that_kills_it_is_counted(tmp_path, teacher_python, capsys):
    """Real worker processes, killed from outside: the first kill costs a restart, an input
    whose worker dies twice gets an error reply and the run goes on."""
    from hand3d_ros.data import label as lab
    from hand3d_ros.teacher.client import TeacherProcess

    folder = tmp_path / "p"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(folder / name), np.full((40, 60, 3), 90, np.uint8))
    made = []

    def make_teacher(index):
        proc = TeacherProcess(teacher_python)
        made.append(proc)
        if len(made) <= kills:
            proc.proc.kill()
            proc.proc.wait()
        return proc

    items, _ = lab.discover([folder], [], (".png",), ())
    for kills, expect_error in ((1, False), (2, True)):
        cache = lab.ReplyCache(tmp_path / f"cache{kills}")
        made.clear()
        assert lab.run_teacher(items, cache, make_teacher, 1, 1, (64, 48), 640, progress=False) == 2
        errors = [bool(e["reply"].get("error")) for e in cache.entries.values()]
        assert errors == [expect_error, False]
        cache.close()
    assert "died twice" in capsys.readouterr().out


def test_two_hands_in_one_photo(tmp_path, renders, teacher_python):
    """A render beside its mirror: a left and a right hand in one photo give two samples with
    the same image and one mask holding both hands."""
    folder = tmp_path / "pair"
    folder.mkdir()
    image = renders[7]["image"]  # one the teacher finds at half size, in both views
    cv2.imwrite(str(folder / "pair.png"), bgr(np.concatenate([image, image[:, ::-1]], axis=1)))
    assert label([folder, "--out", tmp_path / "o", "--workers", "1"], teacher_python) == 0
    ds = ShardDataset(tmp_path / "o")
    assert len(ds) == 2
    a, b = ds[0], ds[1]
    assert int(a["num_hands"]) == int(b["num_hands"]) == 2
    assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["mask"], b["mask"])
    assert {int(a["hand_side"]), int(b["hand_side"])} == {0, 1}
    assert (a["mask"] == 1).sum() > 100 and (a["mask"] == 2).sum() > 100
    for s in (a, b):  # each hand's mask label is on its own side of the photo
        left_half = s["uv"][:, 0].mean() < 160
        truth = int(renders[7]["hand_side"])
        assert int(s["hand_side"]) == (truth if left_half else 1 - truth)
        half = s["mask"][:, :160] if left_half else s["mask"][:, 160:]
        assert (half == 1 + int(s["hand_side"])).sum() > 100
    # the photo (640x240) fits 320x240 at half size, padded above and below
    assert a["valid"][:60].sum() == 0 and a["valid"][60:180].all() and a["valid"][180:].sum() == 0
