"""Frame sources read real files written here: AVI/MP4 videos, PNG folders, NPZ sequences."""
import numpy as np
import pytest

from hand3d_ros.data.sources import (
    DEFAULT_FPS,
    ArraySource,
    CameraSource,
    ImageFolderSource,
    SourceError,
    VideoSource,
    open_source,
)

cv2 = pytest.importorskip("cv2")

WIDTH, HEIGHT = 64, 48
#: Flat RGB colours, one per frame: JPEG (MJPG) keeps flat colours within a few levels.
COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [40, 80, 160]], dtype=np.uint8)
JPEG_TOLERANCE = 12  # largest mean per-channel error accepted after lossy coding, levels


def _frames(n=len(COLOURS)):
    return np.stack([np.broadcast_to(COLOURS[i % len(COLOURS)], (HEIGHT, WIDTH, 3)) for i in range(n)])


def _write_video(path, fourcc, fps, frames):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (WIDTH, HEIGHT))
    if not writer.isOpened():
        return False
    for rgb in frames:
        writer.write(np.ascontiguousarray(rgb[..., ::-1]))  # OpenCV wants BGR
    writer.release()
    return True


def _close(rgb, colour):
    return np.abs(rgb.reshape(-1, 3).mean(axis=0) - colour).max() < JPEG_TOLERANCE


def test_video_avi_mjpg(tmp_path):
    path = tmp_path / "clip.avi"
    assert _write_video(path, "MJPG", 12.5, _frames())
    source = VideoSource(path)
    assert source.fps == pytest.approx(12.5) and source.native_fps == pytest.approx(12.5)
    assert source.size == (WIDTH, HEIGHT) and source.frame_count == len(COLOURS)
    frames = list(source)
    assert len(frames) == len(COLOURS)
    for i, (rgb, stamp, extras) in enumerate(frames):
        assert rgb.shape == (HEIGHT, WIDTH, 3) and rgb.dtype == np.uint8
        assert _close(rgb, COLOURS[i]), f"frame {i}: {rgb.reshape(-1, 3).mean(axis=0)} != {COLOURS[i]} (RGB order?)"
        assert stamp == pytest.approx(i / 12.5) and extras["index"] == i
    # Iterating again starts again; a given fps overrides the file's.
    assert len(list(VideoSource(path, fps=50.0))) == len(COLOURS)
    assert VideoSource(path, fps=50.0).fps == 50.0


def test_video_loops_with_increasing_stamps(tmp_path):
    path = tmp_path / "clip.avi"
    assert _write_video(path, "MJPG", 10.0, _frames(3))
    source = VideoSource(path, loop=True)
    frames = []
    for frame in source:
        frames.append(frame)
        if len(frames) == 8:
            break
    source.close()
    assert [f.extras["index"] for f in frames] == [0, 1, 2, 0, 1, 2, 0, 1]
    np.testing.assert_allclose([f.stamp_s for f in frames], np.arange(8) / 10.0)
    assert _close(frames[3].rgb, COLOURS[0]) and _close(frames[7].rgb, COLOURS[1])


def test_video_mp4(tmp_path):
    path = tmp_path / "clip.mp4"
    if not _write_video(path, "mp4v", 25.0, _frames()):
        pytest.skip("this OpenCV build cannot write MPEG-4 video")
    source = open_source(str(path))
    assert isinstance(source, VideoSource) and source.fps == pytest.approx(25.0)
    frames = list(source)
    assert len(frames) == len(COLOURS) and frames[0].rgb.shape == (HEIGHT, WIDTH, 3)
    assert _close(frames[2].rgb, COLOURS[2])


def test_video_errors(tmp_path):
    with pytest.raises(SourceError, match="no such video file"):
        VideoSource(tmp_path / "missing.avi")
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"this is not a video" * 10)
    with pytest.raises(SourceError, match="junk.avi"):
        VideoSource(junk)


def test_image_folder(tmp_path):
    frames = _frames(4)
    names = ["b_01.png", "a_10.jpg", "b_00.png", "a_02.png"]  # sorted: a_02, a_10, b_00, b_01
    for name, rgb in zip(names, frames):
        cv2.imwrite(str(tmp_path / name), np.ascontiguousarray(rgb[..., ::-1]))
    (tmp_path / "notes.txt").write_text("ignored")
    source = ImageFolderSource(tmp_path, fps=5.0)
    assert source.frame_count == 4 and source.size == (WIDTH, HEIGHT) and source.fps == 5.0
    got = list(source)
    order = [names.index(n) for n in sorted(names)]
    assert [f.extras["path"].rsplit("/", 1)[1] for f in got] == sorted(names)
    np.testing.assert_array_equal(got[0].rgb, frames[order[0]])  # PNG: lossless
    assert _close(got[1].rgb, COLOURS[order[1]])  # the JPEG
    np.testing.assert_allclose([f.stamp_s for f in got], [0.0, 0.2, 0.4, 0.6])

    looped = [f for _, f in zip(range(10), ImageFolderSource(tmp_path, fps=5.0, loop=True))]
    assert [f.extras["index"] for f in looped] == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    np.testing.assert_allclose([f.stamp_s for f in looped], np.arange(10) * 0.2)
    assert isinstance(open_source(str(tmp_path)), ImageFolderSource)


def test_image_folder_errors(tmp_path):
    with pytest.raises(SourceError, match="has no png/jpg/jpeg images"):
        ImageFolderSource(tmp_path)
    cv2.imwrite(str(tmp_path / "0.png"), np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "1.png"), np.zeros((HEIGHT + 2, WIDTH, 3), np.uint8))
    source = ImageFolderSource(tmp_path)
    with pytest.raises(SourceError, match=f"1.png is {WIDTH}x{HEIGHT + 2}"):
        list(source)
    with pytest.raises(SourceError, match="fps must be positive"):
        ImageFolderSource(tmp_path, fps=-1.0)


def test_array_source_extras_and_stamps():
    frames = _frames(3)
    depth = np.full((3, HEIGHT, WIDTH), 0.5, np.float32)
    K = np.array([[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]])
    uv = np.arange(3 * 21 * 2, dtype=np.float32).reshape(3, 21, 2)
    source = ArraySource(frames, depth=depth, K=K, ground_truth={"uv": uv, "names": np.array(["a", "b"])},
                         stamps=[10.0, 10.1, 10.2])
    assert source.fps == pytest.approx(10.0) and source.has_depth and source.frame_count == 3
    got = list(source)
    np.testing.assert_allclose([f.stamp_s for f in got], [0.0, 0.1, 0.2])
    np.testing.assert_array_equal(got[1].rgb, frames[1])
    np.testing.assert_array_equal(got[2].extras["K"], K)
    np.testing.assert_array_equal(got[2].extras["depth"], depth[2])
    np.testing.assert_array_equal(got[1].extras["ground_truth"]["uv"], uv[1])
    assert list(got[1].extras["ground_truth"]["names"]) == ["a", "b"]  # not per-frame: whole

    looped = [f for _, f in zip(range(7), ArraySource(frames, stamps=[0.0, 0.1, 0.2], loop=True))]
    np.testing.assert_allclose([f.stamp_s for f in looped], [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    fixed = list(ArraySource(frames, fps=4.0, stamps=[0.0, 0.1, 0.2]))  # a given rate wins
    np.testing.assert_allclose([f.stamp_s for f in fixed], [0.0, 0.25, 0.5])
    assert ArraySource(frames).fps == DEFAULT_FPS


def test_array_source_errors():
    with pytest.raises(SourceError, match=r"frames must be \(T, H, W, 3\)"):
        ArraySource(np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    with pytest.raises(SourceError, match="uint8"):
        ArraySource(np.zeros((2, HEIGHT, WIDTH, 3), np.float32))
    with pytest.raises(SourceError, match="depth must be"):
        ArraySource(_frames(2), depth=np.zeros((2, 4, 4)))
    with pytest.raises(SourceError, match="strictly increasing"):
        ArraySource(_frames(2), stamps=[1.0, 1.0])
    with pytest.raises(SourceError, match="K must be"):
        ArraySource(_frames(2), K=np.eye(4))


def test_npz_sequence(tmp_path):
    frames = _frames(4)
    K = np.array([[60.0, 0, 31.5], [0, 60.0, 23.5], [0, 0, 1]])
    depth = np.random.default_rng(0).uniform(0.3, 1.0, (4, HEIGHT, WIDTH)).astype(np.float32)
    xyz = np.zeros((4, 21, 3), np.float32)
    path = tmp_path / "seq.npz"
    np.savez(path, image=frames, K=K, depth=depth, timestamps=np.arange(4) / 20.0, xyz=xyz,
             hand_side=np.array([0, 1, 1, 0]))
    source = open_source(str(path), loop=False)
    assert isinstance(source, ArraySource) and source.fps == pytest.approx(20.0) and source.has_depth
    got = list(source)
    assert len(got) == 4
    np.testing.assert_array_equal(got[3].rgb, frames[3])
    np.testing.assert_array_equal(got[3].extras["depth"], depth[3])
    np.testing.assert_array_equal(source.K, K)
    assert got[2].extras["ground_truth"]["hand_side"] == 1 and got[2].extras["ground_truth"]["xyz"].shape == (21, 3)

    minimal = tmp_path / "minimal.npz"
    np.savez(minimal, image=frames[:2], K=K)
    assert open_source(str(minimal), fps=7.0).fps == 7.0 and not open_source(str(minimal)).has_depth
    lacking = tmp_path / "lacking.npz"
    np.savez(lacking, image=frames)
    with pytest.raises(SourceError, match="lacks K"):
        open_source(str(lacking))
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK not really")
    with pytest.raises(SourceError, match="cannot read NPZ"):
        open_source(str(broken))


def test_open_source_dispatch(tmp_path):
    with pytest.raises(SourceError, match="no such file or folder: /no/such/video.mp4"):
        open_source("/no/such/video.mp4")
    with pytest.raises(SourceError, match="no source given"):
        open_source("  ")
    single = tmp_path / "still.png"
    cv2.imwrite(str(single), np.ascontiguousarray(_frames(1)[0][..., ::-1]))
    still = open_source(str(single), fps=2.0, loop=True)
    first_three = [f for _, f in zip(range(3), still)]
    assert [f.stamp_s for f in first_three] == [0.0, 0.5, 1.0]
    np.testing.assert_array_equal(first_three[2].rgb, _frames(1)[0])


def test_camera_that_does_not_exist():
    # Index 98 is no device on any test machine: the error is one line naming it.
    with pytest.raises(SourceError, match="camera 98"):
        CameraSource(98)
