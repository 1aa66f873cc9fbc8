"""PCK curves as PNG: matplotlib when importable, else a plain OpenCV drawing."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Sequence, Tuple

import numpy as np

#: Canvas of the OpenCV fallback, pixels (width, height), and its plot margin.
CANVAS_WH = (640, 480)
MARGIN_PX = 60
#: Curve colours (BGR for OpenCV; reused as RGB/255 for matplotlib).
COLOURS_BGR = ((200, 80, 20), (30, 120, 230), (40, 160, 40), (30, 30, 200), (150, 60, 150))


def save_pck_plot(curves: Dict[str, Tuple[Sequence[float], Sequence[float]]], path, title: str,
                  xlabel: str) -> Path:
    """Draw PCK curves ``{label: (thresholds (T,), pck (T,) in [0, 1])}`` into ``path`` (PNG).

    Returns the written path. NaN values (nothing visible) are skipped.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _save_cv2(curves, path, title, xlabel)
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for i, (label, (t, v)) in enumerate(curves.items()):
        b, g, r = COLOURS_BGR[i % len(COLOURS_BGR)]
        ax.plot(t, [np.nan if x is None else x for x in v], label=label, color=(r / 255, g / 255, b / 255))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("PCK")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _save_cv2(curves, path: Path, title: str, xlabel: str) -> Path:
    import cv2

    width, height = CANVAS_WH
    m = MARGIN_PX
    img = np.full((height, width, 3), 255, np.uint8)
    all_t = np.concatenate([np.asarray(t, float) for t, _ in curves.values()]) if curves else np.array([0.0, 1.0])
    t_lo, t_hi = float(all_t.min()), float(all_t.max())
    t_hi = t_hi if t_hi > t_lo else t_lo + 1.0

    def to_px(t, v):
        x = m + (t - t_lo) / (t_hi - t_lo) * (width - 2 * m)
        y = height - m - v * (height - 2 * m)
        return int(round(x)), int(round(y))

    font = cv2.FONT_HERSHEY_SIMPLEX
    for k in range(6):  # grid and tick labels
        v = k / 5
        cv2.line(img, to_px(t_lo, v), to_px(t_hi, v), (225, 225, 225), 1)
        cv2.putText(img, f"{v:.1f}", (8, to_px(t_lo, v)[1] + 4), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        t = t_lo + k / 5 * (t_hi - t_lo)
        cv2.line(img, to_px(t, 0), to_px(t, 1), (225, 225, 225), 1)
        cv2.putText(img, f"{t:g}", (to_px(t, 0)[0] - 10, height - m + 18), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.rectangle(img, to_px(t_lo, 1), to_px(t_hi, 0), (0, 0, 0), 1)
    for i, (label, (t, v)) in enumerate(curves.items()):
        colour = COLOURS_BGR[i % len(COLOURS_BGR)]
        pts = [to_px(float(a), float(b)) for a, b in zip(t, v) if b is not None and np.isfinite(b)]
        if len(pts) >= 2:
            cv2.polylines(img, [np.asarray(pts, np.int32)], False, colour, 2, cv2.LINE_AA)
        cv2.putText(img, label, (width - m - 230, height - m - 15 - 18 * i), font, 0.45, colour, 1, cv2.LINE_AA)
    cv2.putText(img, title, (m, 30), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, xlabel, (width // 2 - 40, height - 12), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "PCK", (8, m - 20), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"cannot write {path}")
    return path
