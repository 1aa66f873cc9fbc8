import cv2
import numpy as np

from hand3d_ros.evaluation import plots


def test_cv2_fallback_draws_the_curves(tmp_path):
    t = np.linspace(0, 30, 31)
    path = plots._save_cv2({"a": (t, t / 30), "b": (t, [None] * 31)}, tmp_path / "p.png", "PCK", "px")
    img = cv2.imread(str(path))
    assert img.shape == (plots.CANVAS_WH[1], plots.CANVAS_WH[0], 3)
    colour = np.array(plots.COLOURS_BGR[0])
    assert (np.abs(img.astype(int) - colour).sum(axis=-1) < 30).sum() > 200  # the diagonal curve is drawn


def test_save_pck_plot_writes_a_png(tmp_path):
    path = plots.save_pck_plot({"x": ([0, 1], [0.2, 0.9])}, tmp_path / "sub" / "q.png", "t", "mm")
    assert path.is_file() and cv2.imread(str(path)) is not None
