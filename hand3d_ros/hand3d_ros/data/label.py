"""Label real photos and video frames with the teacher into shards (``hand3d label``).

Two phases, both resumable:

1. **Teacher** (:func:`run_teacher`): every photo and every ``every``-th video frame is
   sent to teacher worker subprocesses (MediaPipe Hands in its own venv,
   :mod:`hand3d_ros.teacher`), the photo and its mirror; each reply is appended to
   ``OUT/teacher-cache/replies.jsonl`` (video frames are kept there as PNG, scaled to
   the output size). A re-run skips what the cache holds.
2. **Shards** (:class:`LabelSource` + :func:`hand3d_ros.data.shards.write_shards`): one
   sample per kept teacher hand (format: ``REAL_FORMAT.md`` / :data:`LABEL_FIELDS`), the
   photo scaled to fit the output size, a pseudo mask of all its hands
   (:mod:`hand3d_ros.data.pseudo_mask`).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hand3d_ros.data.pseudo_mask import IGNORE, MaskConfig, pseudo_mask
from hand3d_ros.teacher.client import TeacherError
from hand3d_ros.teacher.merge import DROP_REASONS, MergeConfig, merge_views

#: Fields of a labelled sample (REAL_FORMAT.md).
LABEL_FIELDS = {
    "image": "uint8 (H, W, 3) RGB: the photo scaled to fit, centred, zero padding",
    "mask": "uint8 (H, W): 0 background, 1 left hand, 2 right hand, 255 ignore (uncertain band, "
            "low-confidence teacher hands, padding); all teacher hands of the photo",
    "valid": "uint8 (H, W): 1 photo pixel, 0 padding",
    "uv": "float32 (21, 2) this hand's keypoints, pixels of image (centres at integers); NaN for negatives",
    "visible": "bool (21,) keypoint inside the photo area (no occlusion info)",
    "kp_score": "float32 (21,) confidence from the teacher's photo/mirror agreement",
    "xyz": "float32 (21, 3) teacher world landmarks re-rooted at the wrist, metres, x right, y down, "
           "z away from the camera; NaN for negatives",
    "K": "float32 (3, 3) NOMINAL intrinsics of image (horizontal field of view hfov)",
    "hand_side": "uint8 anatomical side 0 left, 1 right; 255 for negatives",
    "side_score": "float32 teacher probability of that side",
    "hand_score": "float32 teacher palm detection score",
    "box": "float32 (4,) x0, y0, x1, y1 of the keypoints (pixels of image)",
    "num_hands": "uint8 teacher hands kept in this photo",
    "source": "int64 index into info['sources']",
    "file_index": "int64 index into files.json",
    "index": "int64 sample index",
}
CACHE_DIR = "teacher-cache"
REPLIES = "replies.jsonl"
FILES_JSON = "files.json"


@dataclass
class Source:
    """Where inputs come from: a name, its licence (SPDX id) and its root folder."""

    name: str
    licence: str
    root: str


@dataclass
class Item:
    """One input: an image file or a video (``kind``), with its source and path
    relative to the source root."""

    kind: str
    path: str
    source: int
    rel: str

    @property
    def key(self) -> str:
        return f"{self.source}:{self.rel}"


def discover(paths: list, sources: list, image_suffixes: tuple, video_suffixes: tuple) -> tuple:
    """``(items, problems)``: image/video files under ``paths`` (folders recursively, sorted).

    ``sources[i]`` belongs to ``paths[i]``. ``problems``: one line per path that is
    neither a file nor a folder, or a folder without images/videos.
    """
    items, problems = [], []
    for index, path in enumerate(paths):
        path = Path(path)
        if path.is_dir():
            # os.walk follows linked folders (a folder of links to data sets is common)
            found = sorted(Path(root_dir) / name for root_dir, _, names in os.walk(path, followlinks=True)
                           for name in names if Path(name).suffix.lower() in image_suffixes + video_suffixes
                           and (Path(root_dir) / name).is_file())
            if not found:
                problems.append(f"{path}: no images or videos")
            root = path
        elif path.is_file():
            found, root = [path], path.parent
        else:
            problems.append(f"{path}: no such file or folder")
            continue
        for f in found:
            kind = "video" if f.suffix.lower() in video_suffixes else "image"
            items.append(Item(kind, str(f.resolve()), index, str(f.relative_to(root))))
    return items, problems


# ----------------------------------------------------------------------------- phase 1: teacher

class ReplyCache:
    """Append-only JSON-lines cache of teacher replies (thread-safe; a torn last line is ignored)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "frames").mkdir(exist_ok=True)
        self.path = self.folder / REPLIES
        self.entries = {}
        if self.path.is_file():
            with open(self.path, "r", encoding="utf-8") as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # interrupted while writing this line
                    self.entries[entry["key"]] = entry
        self._lock = threading.Lock()
        self._file = open(self.path, "a", encoding="utf-8")
        if self._file.tell() and not self._ends_with_newline():
            self._file.write("\n")

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def frame_path(self, key: str) -> Path:
        return self.folder / "frames" / (hashlib.sha1(key.encode()).hexdigest()[:20] + ".png")

    def add(self, entry: dict) -> None:
        line = json.dumps(entry, separators=(",", ":"))
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()
            self.entries[entry["key"]] = entry

    def close(self) -> None:
        self._file.close()


def video_key(item: Item, every: int) -> str:
    """Cache key saying a video was read through taking every ``every``-th frame (frames
    themselves are keyed ``KEY#INDEX`` and reused by another ``every``)."""
    return f"{item.key}|every={every}"


def fit_size(width: int, height: int, out_w: int, out_h: int) -> tuple:
    """``(new_w, new_h, x0, y0)``: a width x height photo scaled to fit out_w x out_h, centred."""
    s = min(out_w / width, out_h / height)
    nw, nh = max(1, int(round(width * s))), max(1, int(round(height * s)))
    return nw, nh, (out_w - nw) // 2, (out_h - nh) // 2


def run_teacher(items: list, cache: ReplyCache, make_teacher, workers: int, every: int, out_size: tuple,
                max_side: int, progress: bool = True, log=print) -> int:
    """Phase 1: fill ``cache`` with a teacher reply per photo and per ``every``-th video frame;
    returns how many photos and frames were sent to the teacher (not in the cache yet).

    Args:
        make_teacher: ``index -> TeacherProcess``-like object (``label_path``,
            ``label_frame``, ``close``), called once per worker.
        out_size: (W, H) output size: cached video frames are scaled to fit it.
        max_side: video frames are scaled down to this longest side before the teacher.
    """
    import queue

    import cv2

    todo_images = [it for it in items if it.kind == "image" and it.key not in cache.entries]
    todo_videos = [it for it in items if it.kind == "video" and video_key(it, every) not in cache.entries]
    if not todo_images and not todo_videos:
        return 0
    asked = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo_images), unit="img", desc="teacher", dynamic_ncols=True)
    teachers = queue.Queue()
    started = []
    try:
        for i in range(workers):
            t = make_teacher(len(started))
            started.append(t)
            teachers.put(t)

        def ask(kind, payload):
            """The teacher's reply; a worker that dies is replaced, and an input that kills
            it twice gets an error reply (counted as unreadable) instead of stopping the run."""
            t = teachers.get()
            try:
                for attempt in range(2):
                    try:
                        return t.label_path(payload) if kind == "path" else t.label_frame(payload)
                    except TeacherError as exc:
                        t.close()
                        t = make_teacher(len(started))  # a TeacherError here stops the run
                        started.append(t)
                        if attempt:
                            log(f"[hand3d label] the teacher died twice on {payload if kind == 'path' else 'a frame'}: {exc}")
                            return {"error": "the teacher worker died on this input"}
            finally:
                teachers.put(t)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending = set()

            def drain(limit):
                nonlocal pending, asked
                while len(pending) > limit:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        entry = fut.result()  # a TeacherError stops the run (cache kept)
                        cache.add(entry)
                        asked += 1
                        if bar is not None:
                            bar.update(1)

            def image_job(it):
                reply = ask("path", it.path)
                return {"key": it.key, "reply": reply}

            for it in todo_images:
                pending.add(pool.submit(image_job, it))
                drain(4 * workers)
            for it in todo_videos:
                drain(0)
                frames, error = 0, None
                capture = cv2.VideoCapture(it.path)
                if not capture.isOpened():
                    error = "cannot open video (unknown format or codec)"
                else:
                    index = 0
                    while True:
                        ok, bgr = capture.read()
                        if not ok or bgr is None:
                            break
                        if index % every == 0:
                            key = f"{it.key}#{index}"
                            frames += 1
                            if key not in cache.entries:
                                pending.add(pool.submit(_frame_job, cache, key, bgr, out_size, max_side, ask))
                                if bar is not None:
                                    bar.total += 1
                                drain(4 * workers)
                        index += 1
                    capture.release()
                    if index == 0:
                        error = "no decodable frame"
                drain(0)
                if error:
                    log(f"[hand3d label] skipped {it.path}: {error}")
                cache.add({"key": video_key(it, every), "video": True, "frames": frames, "error": error})
            drain(0)
        return asked
    finally:
        if bar is not None:
            bar.close()
        for t in started:
            t.close()


def _frame_job(cache, key, bgr, out_size, max_side, ask):
    import cv2

    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    nw, nh, _, _ = fit_size(w, h, *out_size)
    small = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_AREA)
    path = cache.frame_path(key)
    if not cv2.imwrite(str(path) + ".tmp.png", small):
        raise OSError(f"cannot write {path}")
    os.replace(str(path) + ".tmp.png", path)
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return {"key": key, "reply": ask("frame", rgb), "frame": path.name}


# ----------------------------------------------------------------------------- phase 2: samples

@dataclass
class LabelSettings:
    """What shapes the samples (stored in the manifest)."""

    width: int = 320
    height: int = 240
    hfov_deg: float = 60.0
    negatives: bool = False
    mirrored_input: bool = False
    every: int = 10
    merge: MergeConfig = field(default_factory=MergeConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)


def plan_samples(items: list, cache: ReplyCache, settings: LabelSettings, log=print) -> tuple:
    """Phase 2 plan: ``(photos, samples, files, counts)``.

    ``photos``: one dict per usable photo (image file or cached frame path, its hands);
    ``samples``: ``(photo index, hand index or -1 for a negative)``; ``files``: the
    relative names (``file_index``); ``counts``: what happened (JSON-friendly).
    """
    counts = Counter()
    dropped = Counter()
    photos, samples, files = [], [], []

    def add_photo(path, reply, item, name):
        counts["images_read"] += 1
        hands = merge_views(reply, settings.merge)
        if settings.mirrored_input:  # a selfie view: the anatomical side is the other one
            for h in hands:
                h.side = 1 - h.side
        kept = [h for h in hands if h.keep]
        for h in hands:
            if not h.keep:
                dropped[h.reason] += 1
        if not hands:
            counts["images_without_hand"] += 1
        elif not kept:
            counts["images_only_dropped_hands"] += 1
        if settings.negatives:
            if hands:
                counts["negatives_with_teacher_hand"] += 1
                return
            photo_samples = [-1]
        else:
            photo_samples = [i for i, h in enumerate(hands) if h.keep]
        if not photo_samples:
            return
        counts["hands_kept"] += len(kept)
        photos.append({"path": path, "width": int(reply["width"]), "height": int(reply["height"]),
                       "hands": hands, "source": item.source, "file_index": len(files)})
        files.append(name)
        for h in photo_samples:
            samples.append((len(photos) - 1, h))

    for it in items:
        entry = cache.entries.get(it.key if it.kind == "image" else video_key(it, settings.every))
        if entry is None:
            raise RuntimeError(f"no teacher reply for {it.path} (phase 1 incomplete)")
        if it.kind == "image":
            reply = entry["reply"]
            if reply.get("error"):
                counts["unreadable"] += 1
                log(f"[hand3d label] unreadable image {it.path}: {reply['error']}")
                continue
            add_photo(it.path, reply, it, it.rel)
        else:
            counts["videos"] += 1
            if entry.get("error"):
                counts["unreadable_videos"] += 1
                continue
            prefix = f"{it.key}#"
            frames = sorted((int(k[len(prefix):]), e) for k, e in cache.entries.items()
                            if k.startswith(prefix) and int(k[len(prefix):]) % settings.every == 0)
            for frame, e in frames:
                counts["video_frames"] += 1
                add_photo(str(cache.folder / "frames" / e["frame"]), e["reply"], it, f"{it.rel}#frame={frame}")
    counts["hands_dropped"] = sum(dropped.values())
    out = {k: int(counts[k]) for k in ("images_read", "unreadable", "images_without_hand",
                                        "images_only_dropped_hands", "hands_kept", "hands_dropped", "videos",
                                        "unreadable_videos", "video_frames", "negatives_with_teacher_hand")}
    out["hands_dropped_by_reason"] = {r: int(dropped[r]) for r in DROP_REASONS}
    out["samples"] = len(samples)
    return photos, samples, files, out


def read_rgb(path: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file (OSError when unreadable)."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise OSError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class LabelSource:
    """Picklable ``index -> sample`` for :func:`write_shards` (fields :data:`LABEL_FIELDS`)."""

    def __init__(self, photos: list, samples: list, settings: LabelSettings):
        self.photos = photos
        self.samples = samples
        self.settings = settings
        self._last = None

    def __len__(self) -> int:
        return len(self.samples)

    def photo(self, photo_index: int) -> dict:
        """Scaled image, valid map, every hand's uv in it, and the pseudo mask (cached for the last photo)."""
        import cv2

        if self._last is not None and self._last[0] == photo_index:
            return self._last[1]
        s = self.settings
        p = self.photos[photo_index]
        rgb = read_rgb(p["path"])
        nw, nh, x0, y0 = fit_size(p["width"], p["height"], s.width, s.height)
        image = np.zeros((s.height, s.width, 3), np.uint8)
        if rgb.shape[1] != nw or rgb.shape[0] != nh:
            rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
        image[y0:y0 + nh, x0:x0 + nw] = rgb
        valid = np.zeros((s.height, s.width), np.uint8)
        valid[y0:y0 + nh, x0:x0 + nw] = 1
        uvs = [(h.uv_norm * [nw, nh] + [x0 - 0.5, y0 - 0.5]).astype(np.float32) for h in p["hands"]]
        labels = [1 + h.side if h.keep else IGNORE for h in p["hands"]]
        mask = pseudo_mask(image, list(zip(uvs, labels)), s.mask, valid)
        fx = 0.5 * nw / math.tan(math.radians(s.hfov_deg) / 2)
        K = np.array([[fx, 0, x0 + (nw - 1) / 2], [0, fx, y0 + (nh - 1) / 2], [0, 0, 1]], np.float32)
        box = (x0 - 0.5, y0 - 0.5, x0 + nw - 0.5, y0 + nh - 0.5)
        result = {"image": image, "valid": valid, "mask": mask, "uvs": uvs, "K": K, "area": box}
        self._last = (photo_index, result)
        return result

    def __call__(self, index: int) -> dict:
        photo_index, hand_index = self.samples[index]
        p = self.photos[photo_index]
        view = self.photo(photo_index)
        kept = sum(1 for h in p["hands"] if h.keep)
        sample = {"image": view["image"], "mask": view["mask"], "valid": view["valid"], "K": view["K"],
                  "num_hands": np.uint8(kept), "source": np.int64(p["source"]),
                  "file_index": np.int64(p["file_index"]), "index": np.int64(index)}
        if hand_index < 0:
            sample.update(uv=np.full((21, 2), np.nan, np.float32), visible=np.zeros(21, bool),
                          kp_score=np.zeros(21, np.float32), xyz=np.full((21, 3), np.nan, np.float32),
                          hand_side=np.uint8(255), side_score=np.float32(0), hand_score=np.float32(0),
                          box=np.full(4, np.nan, np.float32))
            return sample
        h = p["hands"][hand_index]
        uv = view["uvs"][hand_index]
        ax0, ay0, ax1, ay1 = view["area"]
        visible = (uv[:, 0] >= ax0) & (uv[:, 0] <= ax1) & (uv[:, 1] >= ay0) & (uv[:, 1] <= ay1)
        xyz = h.xyz.astype(np.float32) if h.xyz is not None else np.full((21, 3), np.nan, np.float32)
        sample.update(uv=uv, visible=visible, kp_score=h.kp_score.astype(np.float32), xyz=xyz,
                      hand_side=np.uint8(h.side), side_score=np.float32(h.side_score),
                      hand_score=np.float32(h.hand_score),
                      box=np.array([*uv.min(0), *uv.max(0)], np.float32))
        return sample


__all__ = ["LABEL_FIELDS", "Source", "Item", "discover", "ReplyCache", "run_teacher", "LabelSettings",
           "plan_samples", "LabelSource", "fit_size", "read_rgb"]
