"""The labelling pipeline's own logic (data/label.py) without the teacher: input discovery,
letterboxing, the reply cache, and samples from recorded teacher replies."""
import json

import numpy as np
import pytest

from hand3d_ros.core.hand_template import template_hand_xyz
from hand3d_ros.data import label as lab
from hand3d_ros.data.pseudo_mask import IGNORE
from hand3d_ros.data.shards import ShardDataset, write_shards

cv2 = pytest.importorskip("cv2")


def test_fit_size_scales_to_fit_and_centres():
    assert lab.fit_size(640, 480, 320, 240) == (320, 240, 0, 0)
    assert lab.fit_size(200, 200, 320, 240) == (240, 240, 40, 0)
    assert lab.fit_size(640, 240, 320, 240) == (320, 120, 0, 60)


def test_discover_is_recursive_sorted_and_names_problems(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    for name in ("a/z.png", "a/deep/b.JPG", "a/clip.mp4", "a/notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    items, problems = lab.discover([tmp_path / "a", tmp_path / "a" / "z.png", tmp_path / "empty", tmp_path / "nope"],
                                   [], (".png", ".jpg"), (".mp4",))
    assert [(i.kind, i.rel, i.source) for i in items] == [
        ("video", "clip.mp4", 0), ("image", "deep/b.JPG", 0), ("image", "z.png", 0), ("image", "z.png", 1)]
    assert len(problems) == 2 and "no images or videos" in problems[0] and "no such file" in problems[1]


def test_discover_follows_linked_folders(tmp_path):
    (tmp_path / "data" / "person").mkdir(parents=True)
    (tmp_path / "data" / "person" / "a.jpg").write_bytes(b"x")
    (tmp_path / "sets").mkdir()
    (tmp_path / "sets" / "person").symlink_to(tmp_path / "data" / "person", target_is_directory=True)
    items, problems = lab.discover([tmp_path / "sets"], [], (".jpg",), ())
    assert [i.rel for i in items] == ["person/a.jpg"] and not problems


def test_reply_cache_survives_a_torn_last_line(tmp_path):
    cache = lab.ReplyCache(tmp_path)
    cache.add({"key": "0:a.png", "reply": {"error": None}})
    cache.close()
    with open(tmp_path / lab.REPLIES, "a") as f:
        f.write('{"key": "0:b.png", "rep')  # interrupted mid-line
    cache = lab.ReplyCache(tmp_path)
    assert list(cache.entries) == ["0:a.png"]
    cache.add({"key": "0:b.png", "reply": {}})
    cache.close()
    assert list(lab.ReplyCache(tmp_path).entries) == ["0:a.png", "0:b.png"]


def recorded_reply(width, height, center, size, label="Left"):
    """A teacher reply as the worker writes it: one hand, found in the photo and its mirror."""
    xyz = template_hand_xyz(1)
    uv = xyz[:, :2] - xyz[:, :2].mean(0)
    uv = uv / np.ptp(uv, axis=0).max() * size + center  # pixels
    lm = np.zeros((21, 3))
    lm[:, 0], lm[:, 1] = (uv[:, 0] + 0.5) / width, (uv[:, 1] + 0.5) / height
    mirrored = lm.copy()
    mirrored[:, 0] = 1 - mirrored[:, 0]
    world = (xyz - xyz.mean(0)).tolist()
    other = "Right" if label == "Left" else "Left"
    view = lambda marks, lab_: {"hands": [{"landmarks": marks.tolist(), "world": world, "label": lab_,
                                          "label_score": 0.97, "palm_score": 0.9}]}
    return {"error": None, "width": width, "height": height, "scale": 1.0,
            "views": [view(lm, label), view(mirrored, other)]}, uv


def test_samples_from_recorded_replies(tmp_path):
    """Phase 2 alone: a 400x200 photo with one hand (MediaPipe's "Left" = anatomical right),
    a photo without hand, an unreadable one; shards in the agreed format."""
    photo = np.full((200, 400, 3), 60, np.uint8)
    cv2.imwrite(str(tmp_path / "hand.png"), photo)
    cv2.imwrite(str(tmp_path / "empty.png"), photo)
    items, _ = lab.discover([tmp_path], [], (".png", ".jpg"), ())
    cache = lab.ReplyCache(tmp_path / "cache")
    reply, uv = recorded_reply(400, 200, (200.0, 100.0), 120.0)
    cache.add({"key": items[1].key, "reply": reply})
    cache.add({"key": items[0].key, "reply": {"error": None, "width": 400, "height": 200, "scale": 1.0,
                                              "views": [{"hands": []}, {"hands": []}]}})
    items.append(lab.Item("image", str(tmp_path / "bad.jpg"), 0, "bad.jpg"))
    cache.add({"key": items[2].key, "reply": {"error": "ValueError: not a readable image"}})
    logged = []
    settings = lab.LabelSettings(width=320, height=240)
    photos, samples, files, counts = lab.plan_samples(items, cache, settings, log=logged.append)
    assert counts["images_read"] == 2 and counts["unreadable"] == 1 and counts["images_without_hand"] == 1
    assert counts["hands_kept"] == 1 and counts["samples"] == 1 and files == ["hand.png"]
    assert len(logged) == 1 and "bad.jpg" in logged[0]
    write_shards(lab.LabelSource(photos, samples, settings), tmp_path / "out", len(samples), progress=False,
                 info={"kind": "real-teacher"})
    s = ShardDataset(tmp_path / "out")[0]
    # 400x200 -> 320x160 at y = 40..199
    np.testing.assert_allclose(s["uv"], (uv + 0.5) * 0.8 - 0.5 + [0, 40], atol=1e-3)
    assert int(s["hand_side"]) == 1 and float(s["side_score"]) == pytest.approx(0.97)
    assert s["valid"][:40].sum() == 0 and s["valid"][40:200].all() and s["valid"][200:].sum() == 0
    assert (s["mask"][:40] == IGNORE).all() and (s["mask"] == 2).sum() > 500 and not (s["mask"] == 1).any()
    assert s["visible"].all() and np.allclose(s["kp_score"], 1.0)
    np.testing.assert_allclose(s["box"], [*s["uv"].min(0), *s["uv"].max(0)])
    np.testing.assert_allclose(s["xyz"][0], 0, atol=1e-6)
    fx = 160 / np.tan(np.radians(30))
    np.testing.assert_allclose(s["K"], [[fx, 0, 159.5], [0, fx, 119.5], [0, 0, 1]], rtol=1e-5)
    assert int(s["num_hands"]) == 1 and int(s["file_index"]) == 0 and int(s["source"]) == 0
    # a selfie-mirrored camera: the other side
    photos, samples, _, _ = lab.plan_samples(items, cache, lab.LabelSettings(mirrored_input=True), log=logged.append)
    assert photos[0]["hands"][0].side == 0
    cache.close()
