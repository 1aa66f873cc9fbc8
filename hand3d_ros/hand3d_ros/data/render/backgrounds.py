"""Random backgrounds: procedural textures and, where the machine has some, photographs.

Every generator returns float32 sRGB ``(H, W, 3)`` in [0, 1]. OpenCV is imported
lazily. Photographs come from scikit-image's data folder (if scikit-image is
installed; the astronaut and camera/cameraman pictures are excluded because they show
hands), ``/usr/share/backgrounds``, ``/usr/share/wallpapers`` and any folder the
caller adds; each photo is assigned to the train or val split by a hash of its file
name, so the two splits never share a photo.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Photo file names containing one of these words are never used (they show hands).
EXCLUDED_PHOTO_WORDS = ("astronaut", "camera")
PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
SYSTEM_PHOTO_DIRS = ("/usr/share/backgrounds", "/usr/share/wallpapers")

#: Entries of a palette lookup table (colour steps of a scalar texture).
_PALETTE_LEVELS = 512

PROCEDURAL_KINDS = ("gradient", "noise", "stripes", "checker", "shapes", "marble", "bokeh", "tiles")


def _cv2():
    import cv2

    return cv2


def random_colour(rng: np.random.Generator, skin_like_probability: float = 0.1) -> np.ndarray:
    """A random sRGB colour ``(3,)``; sometimes skin-like (a hard negative for segmentation)."""
    if rng.random() < skin_like_probability:
        from .appearance import sample_skin_srgb

        return sample_skin_srgb(rng)[0]
    hsv_h = rng.uniform(0, 1)
    sat = rng.uniform(0, 1) ** 1.5
    val = rng.uniform(0.1, 1.0)
    i = int(hsv_h * 6) % 6
    f = hsv_h * 6 - int(hsv_h * 6)
    p, q, t = val * (1 - sat), val * (1 - f * sat), val * (1 - (1 - f) * sat)
    return np.array([(val, t, p), (q, val, p), (p, val, t), (p, q, val), (t, p, val), (val, p, q)][i])


def _coords(h, w, rng):
    """Pixel grid rotated by a random angle, normalised to about [-1, 1]."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x = (x - w / 2) / max(h, w) * 2
    y = (y - h / 2) / max(h, w) * 2
    a = rng.uniform(0, np.pi)
    return np.cos(a) * x + np.sin(a) * y, -np.sin(a) * x + np.cos(a) * y


def value_noise(rng: np.random.Generator, h: int, w: int, octaves: int = 4, base_cells: int = 3,
                persistence: float = 0.5) -> np.ndarray:
    """Perlin-like fractal value noise ``(H, W)`` float32 in [0, 1]."""
    cv2 = _cv2()
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = base_cells * 2 ** o
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= persistence
    out /= total
    lo, hi = out.min(), out.max()
    return (out - lo) / max(hi - lo, 1e-6)


def _palette(rng, t: np.ndarray, ncolours: int) -> np.ndarray:
    """Map a scalar field in [0, 1] to colours through a random piecewise-linear palette."""
    colours = np.stack([random_colour(rng) for _ in range(ncolours)]).astype(np.float32)
    stops = np.linspace(0, 1, ncolours)
    levels = np.linspace(0, 1, _PALETTE_LEVELS)
    table = np.stack([np.interp(levels, stops, colours[:, c]) for c in range(3)], axis=-1).astype(np.float32)
    index = np.clip(t * np.float32(_PALETTE_LEVELS - 1) + np.float32(0.5), 0, _PALETTE_LEVELS - 1).astype(np.int32)
    return np.take(table, index, axis=0)


def bg_gradient(rng, h, w):
    u, v = _coords(h, w, rng)
    t = u if rng.random() < 0.6 else np.sqrt(u ** 2 + v ** 2)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    return _palette(rng, t, int(rng.integers(2, 4)))


def bg_noise(rng, h, w):
    t = value_noise(rng, h, w, octaves=int(rng.integers(2, 6)), base_cells=int(rng.integers(2, 8)),
                    persistence=rng.uniform(0.35, 0.7))
    return _palette(rng, t, int(rng.integers(2, 5)))


def bg_stripes(rng, h, w):
    u, v = _coords(h, w, rng)
    freq = rng.uniform(3, 40)
    warp = value_noise(rng, h, w, 2, 2) * rng.uniform(0, 2)
    s = np.sin((u + warp * 0.3) * freq * np.pi)
    s = 0.5 + 0.5 * np.tanh(s * rng.uniform(1, 20))
    return _palette(rng, s, 2)


def bg_checker(rng, h, w):
    u, v = _coords(h, w, rng)
    n = rng.uniform(3, 20)
    c = ((np.floor(u * n) + np.floor(v * n)) % 2).astype(np.float32)
    img = _palette(rng, c, 2)
    if rng.random() < 0.5:  # perspective-ish shading
        img *= (0.6 + 0.4 * (v - v.min()) / max(float(np.ptp(v)), 1e-6))[..., None]
    return img


def bg_shapes(rng, h, w):
    cv2 = _cv2()
    img = np.ascontiguousarray(np.broadcast_to(random_colour(rng), (h, w, 3)).astype(np.float32))
    if rng.random() < 0.5:
        img = bg_noise(rng, h, w) * 0.5 + img * 0.5
    for _ in range(int(rng.integers(5, 40))):
        colour = tuple(float(x) for x in random_colour(rng, 0.15))
        kind = rng.integers(0, 4)
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        size = int(rng.integers(3, max(h, w) // 3))
        if kind == 0:
            cv2.circle(img, (cx, cy), size, colour, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.ellipse(img, (cx, cy), (size, max(2, size // int(rng.integers(1, 6)))),
                        float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
        elif kind == 2:
            pts = (np.array([cx, cy]) + rng.normal(0, size, (int(rng.integers(3, 7)), 2))).astype(np.int32)
            cv2.fillPoly(img, [pts], colour, cv2.LINE_AA)
        else:
            p2 = (cx + int(rng.normal(0, size * 2)), cy + int(rng.normal(0, size * 2)))
            cv2.line(img, (cx, cy), p2, colour, int(rng.integers(1, 12)), cv2.LINE_AA)
    return img


def bg_marble(rng, h, w):
    u, v = _coords(h, w, rng)
    n = value_noise(rng, h, w, 5, 3)
    t = 0.5 + 0.5 * np.sin(u * rng.uniform(2, 12) + n * rng.uniform(3, 12))
    return _palette(rng, t.astype(np.float32), int(rng.integers(2, 4)))


def bg_bokeh(rng, h, w):
    """Out-of-focus scene: big soft blobs of colour."""
    cv2 = _cv2()
    img = bg_gradient(rng, h, w)
    for _ in range(int(rng.integers(5, 30))):
        colour = tuple(float(x) for x in random_colour(rng, 0.15))
        cv2.circle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))),
                   int(rng.integers(max(h, w) // 30, max(h, w) // 5)), colour, -1, cv2.LINE_AA)
    sigma = rng.uniform(2, 12) * max(h, w) / 320
    return cv2.GaussianBlur(img, (0, 0), sigma)


def bg_tiles(rng, h, w):
    """Bricks / tiles / planks: a grid with grout lines and per-tile colour jitter."""
    cv2 = _cv2()
    base = random_colour(rng)
    rows = int(rng.integers(3, 16))
    cols = int(rng.integers(2, 10))
    tile = np.clip(base[None, None] * (1 + rng.normal(0, 0.08, (rows, cols, 1))), 0, 1).astype(np.float32)
    img = cv2.resize(tile, (w, h), interpolation=cv2.INTER_NEAREST)
    if rng.random() < 0.5:  # offset every other row (bricks)
        rh = h / rows
        for r in range(1, rows, 2):
            y0, y1 = int(r * rh), int((r + 1) * rh)
            img[y0:y1] = np.roll(img[y0:y1], int(w / cols / 2), axis=1)
    grout = random_colour(rng)
    thick = max(1, int(rng.integers(1, 4) * max(h, w) / 320))
    for r in range(1, rows):
        cv2.line(img, (0, int(r * h / rows)), (w, int(r * h / rows)), tuple(float(x) for x in grout), thick)
    for c in range(1, cols):
        cv2.line(img, (int(c * w / cols), 0), (int(c * w / cols), h), tuple(float(x) for x in grout), thick)
    img *= (0.85 + 0.3 * value_noise(rng, h, w, 4, 6))[..., None]
    return np.clip(img, 0, 1)


_PROCEDURAL = {
    "gradient": bg_gradient, "noise": bg_noise, "stripes": bg_stripes, "checker": bg_checker,
    "shapes": bg_shapes, "marble": bg_marble, "bokeh": bg_bokeh, "tiles": bg_tiles,
}


#: Kinds without sharp detail, rendered at half resolution for speed.
_SMOOTH_KINDS = ("gradient", "noise", "marble", "bokeh", "stripes")


def procedural_background(rng: np.random.Generator, h: int, w: int, kind: str | None = None) -> np.ndarray:
    """One procedural background ``(H, W, 3)`` float32 sRGB; ``kind`` from
    :data:`PROCEDURAL_KINDS` or random."""
    kind = kind or PROCEDURAL_KINDS[rng.integers(len(PROCEDURAL_KINDS))]
    if kind in _SMOOTH_KINDS:  # smooth textures: compute at half resolution, upsample
        cv2 = _cv2()
        img = _PROCEDURAL[kind](rng, (h + 1) // 2, (w + 1) // 2)
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        img = _PROCEDURAL[kind](rng, h, w)
    return np.clip(img, 0, 1).astype(np.float32)


def _split_of(path: Path, val_fraction: float) -> str:
    digest = hashlib.sha256(path.name.encode("utf-8")).digest()
    return "val" if digest[0] / 256.0 < val_fraction else "train"


def find_photos(extra_dirs=(), include_system: bool = True) -> list:
    """Photo files usable as backgrounds, sorted (deterministic)."""
    dirs = [Path(d) for d in extra_dirs]
    if include_system:
        dirs += [Path(d) for d in SYSTEM_PHOTO_DIRS]
        try:
            import importlib.util

            spec = importlib.util.find_spec("skimage")
            if spec is not None and spec.submodule_search_locations:
                dirs.append(Path(list(spec.submodule_search_locations)[0]) / "data")
        except (ImportError, ValueError):
            pass
    photos = []
    for d in dirs:
        if not d.is_dir():
            continue
        for root, _, files in os.walk(d):
            for name in files:
                low = name.lower()
                if low.endswith(PHOTO_EXTENSIONS) and not any(w in low for w in EXCLUDED_PHOTO_WORDS):
                    photos.append(Path(root) / name)
    return sorted(set(photos))


@dataclass
class PhotoLibrary:
    """Photos for one split, decoded lazily and cached (at most ``max_side`` pixels)."""

    paths: list
    max_side: int = 800
    _cache: dict = field(default_factory=dict)

    @classmethod
    def for_split(cls, split: str, extra_dirs=(), include_system: bool = True,
                  val_fraction: float = 0.2) -> "PhotoLibrary":
        paths = [p for p in find_photos(extra_dirs, include_system) if _split_of(p, val_fraction) == split]
        return cls(paths=paths)

    def __len__(self):
        return len(self.paths)

    def _load(self, index: int):
        if index not in self._cache:
            cv2 = _cv2()
            img = cv2.imread(str(self.paths[index]), cv2.IMREAD_COLOR)
            if img is None or min(img.shape[:2]) < 32:
                self._cache[index] = None
            else:
                s = self.max_side / max(img.shape[:2])
                if s < 1:
                    img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
                self._cache[index] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        return self._cache[index]

    def sample(self, rng: np.random.Generator, h: int, w: int):
        """A random crop ``(H, W, 3)`` float32 sRGB of a random photo, or None."""
        if not self.paths:
            return None
        cv2 = _cv2()
        img = self._load(int(rng.integers(len(self.paths))))
        if img is None:
            return None
        ih, iw = img.shape[:2]
        scale = max(h / ih, w / iw) * rng.uniform(1.0, 2.5)
        ch, cw = min(ih, int(np.ceil(h / scale))), min(iw, int(np.ceil(w / scale)))
        y0, x0 = int(rng.integers(0, ih - ch + 1)), int(rng.integers(0, iw - cw + 1))
        crop = cv2.resize(img[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return np.ascontiguousarray(crop, dtype=np.float32) / 255.0


@dataclass
class BackgroundConfig:
    """Background mix.

    Attributes:
        photo_probability: chance of a photograph when photos exist (0 .. 1).
        blend_probability: chance of blending two procedural textures (0 .. 1).
        blur_probability: chance of a defocus blur (0 .. 1); blur_sigma_px: its range
            at 320 px image width (scaled with the width).
        colour_jitter: max per-channel gain change (0 .. 0.5).
    """

    photo_probability: float = 0.5
    blend_probability: float = 0.3
    blur_probability: float = 0.3
    blur_sigma_px: tuple = (0.5, 4.0)
    colour_jitter: float = 0.15


def sample_background(rng: np.random.Generator, h: int, w: int, photos: PhotoLibrary | None = None,
                      config: BackgroundConfig | None = None) -> np.ndarray:
    """A random background ``(H, W, 3)`` float32 sRGB in [0, 1]."""
    config = config or BackgroundConfig()
    img = None
    if photos is not None and len(photos) and rng.random() < config.photo_probability:
        img = photos.sample(rng, h, w)
    if img is None:
        img = procedural_background(rng, h, w)
        if rng.random() < config.blend_probability:
            a = rng.uniform(0.2, 0.6)
            img = (1 - a) * img + a * procedural_background(rng, h, w)
    if rng.random() < config.blur_probability:
        cv2 = _cv2()
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(*config.blur_sigma_px) * w / 320)
    gain = 1 + rng.uniform(-config.colour_jitter, config.colour_jitter, 3)
    return np.clip(img * gain.astype(np.float32), 0, 1).astype(np.float32)
