"""Skin tones, skin detail, lights and shading (linear RGB in [0, 1]).

Skin albedo is drawn from the Monk Skin Tone scale (10 published sRGB swatches,
light to dark), interpolated in linear RGB with a small hue/saturation jitter. Per
vertex the skin is varied the way real hands are: lighter, pinker palms (more so on
darker skin), redder knuckles and finger tips, a light nail tint.

Shading: hemispheric ambient (sky/ground colours taken from the background) plus 0-2
directional lights with wrapped Lambertian diffuse (a cheap stand-in for skin's
subsurface scattering) and Blinn-Phong specular.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .skeleton import FINGER_JOINTS, JOINT_CHILD, WRIST_JOINT

#: Monk Skin Tone scale, sRGB 0-255, tone 1 (lightest) .. tone 10 (darkest).
MONK_SKIN_TONES_SRGB = np.array([
    (0xF6, 0xED, 0xE4), (0xF3, 0xE7, 0xDB), (0xF7, 0xEA, 0xD0), (0xEA, 0xDA, 0xBA),
    (0xD7, 0xBD, 0x96), (0xA0, 0x7E, 0x56), (0x82, 0x5C, 0x43), (0x60, 0x41, 0x34),
    (0x3A, 0x31, 0x2A), (0x29, 0x24, 0x20),
], dtype=np.float64) / 255.0


def srgb_to_linear(c):
    """sRGB [0, 1] -> linear RGB (any shape)."""
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c):
    """Linear RGB -> sRGB [0, 1] (clipped; any shape, keeps float32 inputs float32)."""
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)


#: Samples of the linear -> sRGB lookup table used by :func:`linear_to_srgb_lut`.
_SRGB_LUT_SIZE = 4096
_SRGB_LUT = None


def linear_to_srgb_lut(c) -> np.ndarray:
    """Fast float32 :func:`linear_to_srgb` through a 4096-entry table (error < 1/500)."""
    global _SRGB_LUT
    if _SRGB_LUT is None:
        _SRGB_LUT = linear_to_srgb(np.linspace(0, 1, _SRGB_LUT_SIZE)).astype(np.float32)
    idx = np.clip(np.asarray(c, np.float32) * np.float32(_SRGB_LUT_SIZE - 1) + np.float32(0.5),
                  0, _SRGB_LUT_SIZE - 1).astype(np.int32)
    return _SRGB_LUT[idx]


@dataclass
class SkinConfig:
    """Skin albedo sampling.

    Attributes:
        tone_range: continuous Monk tone range to draw from (0 = tone 1 .. 9 = tone 10).
        hue_jitter: max shift of the red/blue balance (fraction, 0 .. 0.2).
        brightness_jitter: max relative brightness change (0 .. 0.3).
        palm_lightening: how much lighter palms are, at the darkest tone (0 .. 1).
        redness: max extra redness at knuckles and finger tips (0 .. 0.3).
        nail_tint: how much nails move toward a pale pink (0 .. 1).
        mottling: range of the skin texture amplitude (relative albedo change).
    """

    tone_range: tuple = (0.0, 9.0)
    hue_jitter: float = 0.06
    brightness_jitter: float = 0.12
    palm_lightening: float = 0.45
    redness: float = 0.12
    nail_tint: float = 0.45
    mottling: tuple = (0.03, 0.12)


def sample_skin_srgb(rng: np.random.Generator, config: SkinConfig | None = None) -> tuple:
    """Base skin colour: ``(srgb (3,), tone)`` with ``tone`` in ``config.tone_range``."""
    config = config or SkinConfig()
    tone = rng.uniform(*config.tone_range)
    lo = int(np.clip(np.floor(tone), 0, 8))
    t = tone - lo
    lin = (1 - t) * srgb_to_linear(MONK_SKIN_TONES_SRGB[lo]) + t * srgb_to_linear(MONK_SKIN_TONES_SRGB[lo + 1])
    # The Monk swatches are very desaturated at the light end; real skin is pinker/warmer.
    warm = np.array([1.0, 0.86, 0.74]) ** rng.uniform(0.5, 1.5)
    lin = lin * warm
    hue = rng.uniform(-config.hue_jitter, config.hue_jitter)
    lin = lin * np.array([1 + hue, 1.0, 1 - hue]) * (1 + rng.uniform(-config.brightness_jitter,
                                                                     config.brightness_jitter))
    return linear_to_srgb(lin), tone


@dataclass
class SkinFeatures:
    """Per-vertex weights (each ``(V,)`` in [0, 1]) for skin detail on one rig."""

    palm: np.ndarray
    nail: np.ndarray
    knuckle: np.ndarray
    tip: np.ndarray


def skin_features(rig) -> SkinFeatures:
    """Palm side, nail, knuckle and finger-tip weights of each vertex of a rig,
    from bind-pose geometry in each vertex's dominant joint frame (bone along -Z,
    back of the hand +Y)."""
    verts_h = np.c_[rig.vertices, np.ones(len(rig.vertices))]
    part = rig.vertex_part
    local = np.einsum("vij,vj->vi", rig.inverse_bind[part], verts_h)[:, :3]
    inv_rot = rig.inverse_bind[part][:, :3, :3]
    local_n = np.einsum("vij,vj->vi", inv_rot, rig.normals)
    local_n /= np.linalg.norm(local_n, axis=1, keepdims=True)
    wrist_n = rig.normals @ rig.rest_world[WRIST_JOINT][:3, :3]  # world -> wrist frame
    palm = np.clip(-wrist_n[:, 1] * 1.6, 0, 1)
    bone_len = np.linalg.norm(rig.rest_world[np.maximum(JOINT_CHILD[part], 0), :3, 3]
                              - rig.rest_world[part, :3, 3], axis=1)
    along = np.clip(-local[:, 2] / np.maximum(bone_len, 1e-6), 0, 1.5)
    distal = np.isin(part, [FINGER_JOINTS[f][-2] for f in FINGER_JOINTS])
    nail = distal * np.clip((local_n[:, 1] - 0.55) * 4, 0, 1) * np.clip((along - 0.25) * 5, 0, 1)
    tip = distal * np.clip((along - 0.5) * 2, 0, 1)
    joint_region = np.clip(1 - np.abs(local[:, 2]) / 0.012, 0, 1)
    knuckle = joint_region * np.clip(local_n[:, 1], 0, 1) * (part != WRIST_JOINT)
    return SkinFeatures(palm=palm, nail=nail, knuckle=knuckle, tip=tip)


def hand_vertex_albedo(features: SkinFeatures, skin_srgb, tone: float, rng: np.random.Generator,
                       config: SkinConfig | None = None) -> np.ndarray:
    """Per-vertex linear albedo ``(V, 3)`` of a hand with base colour ``skin_srgb``."""
    config = config or SkinConfig()
    base = srgb_to_linear(skin_srgb)
    darkness = np.clip(tone / 9.0, 0, 1)
    palm_target = srgb_to_linear(np.array([0.93, 0.74, 0.66]))
    palm_amount = features.palm[:, None] * config.palm_lightening * darkness ** 1.5 * rng.uniform(0.5, 1.0)
    albedo = base[None] * (1 - palm_amount) + palm_target[None] * palm_amount
    red = np.array([1.0, 0.82, 0.82])
    redness = (np.maximum(features.knuckle, features.tip)[:, None]
               * config.redness * rng.uniform(0.3, 1.0))
    albedo = albedo * (1 - redness + redness * red[None])
    nail_colour = srgb_to_linear(np.array([0.95, 0.80, 0.78])) * (0.55 + 0.45 * base.mean() / 0.6)
    nail = features.nail[:, None] * config.nail_tint * rng.uniform(0.5, 1.0)
    albedo = albedo * (1 - nail) + np.minimum(nail_colour, 1.0)[None] * nail
    return np.clip(albedo, 0.0, 1.0)


def skin_detail_textures(count: int = 4, size: int = 128, seed: int = 20171022) -> np.ndarray:
    """``(count, size, size)`` float32 mottling textures in [-1, 1] for the hand's UV map.

    Blotches (low-frequency value noise) plus fine grain; drawn from a fixed seed so
    every process makes the same ones. Applied as ``albedo * (1 + amplitude * t)``.
    """
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        t = np.zeros((size, size), np.float32)
        for cells, weight in ((4, 0.35), (10, 0.35), (32, 0.2), (size // 2, 0.1)):
            grid = rng.standard_normal((cells, cells)).astype(np.float32)
            t += weight * cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
        out.append(np.clip(t / (3 * t.std()), -1, 1))
    return np.stack(out)


@dataclass
class Lighting:
    """Lights in the camera frame (linear RGB).

    Attributes:
        sky, ground: ``(3,)`` hemispheric ambient colours (up / down facing normals).
        up: ``(3,)`` unit "up" direction in the camera frame.
        directions: ``(L, 3)`` unit vectors from the surface toward each light.
        colours: ``(L, 3)`` light intensities.
        wrap: wrapped-diffuse amount (0 = Lambert).
        specular: ``(3,)`` specular colour/strength; shininess: Blinn-Phong exponent.
    """

    sky: np.ndarray
    ground: np.ndarray
    up: np.ndarray
    directions: np.ndarray
    colours: np.ndarray
    wrap: float = 0.3
    specular: np.ndarray = field(default_factory=lambda: np.full(3, 0.1))
    shininess: float = 20.0


@dataclass
class LightingConfig:
    """Random lighting.

    Attributes:
        num_lights: (min, max) directional lights.
        ambient: range of the ambient intensity.
        light: range of each directional light's intensity.
        background_tint: how much the lights take the background's colour (0 .. 1).
        specular: range of the specular strength; shininess: range of the exponent.
        wrap: range of the wrapped-diffuse amount.
        front_bias: how strongly lights come from the camera side (0 = uniform sphere).
    """

    num_lights: tuple = (0, 2)
    ambient: tuple = (0.25, 0.65)
    light: tuple = (0.35, 1.0)
    background_tint: float = 0.3
    specular: tuple = (0.0, 0.25)
    shininess: tuple = (8.0, 40.0)
    wrap: tuple = (0.1, 0.5)
    front_bias: float = 0.6


def sample_lighting(rng: np.random.Generator, background_mean_linear, config: LightingConfig | None = None) -> Lighting:
    """Lights whose colour roughly matches the background's mean colour ``(3,)`` (linear)."""
    config = config or LightingConfig()
    bg = np.asarray(background_mean_linear, dtype=np.float64)
    bg_tint = bg / max(bg.max(), 1e-3)
    def tinted(amount):
        white = np.ones(3) + rng.normal(0, 0.04, 3)
        return np.clip((1 - amount) * white + amount * bg_tint, 0.05, 1.5)
    ambient = rng.uniform(*config.ambient)
    up = np.array([0.0, -1.0, 0.0]) + rng.normal(0, 0.3, 3)
    up /= np.linalg.norm(up)
    sky = ambient * tinted(config.background_tint * rng.uniform(0.5, 1.0))
    ground = sky * rng.uniform(0.35, 0.8)
    n = int(rng.integers(config.num_lights[0], config.num_lights[1] + 1))
    directions, colours = [], []
    for _ in range(n):
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        d[2] = -abs(d[2]) if rng.random() < config.front_bias else d[2]  # toward the camera side
        directions.append(d / np.linalg.norm(d))
        colours.append(rng.uniform(*config.light) * tinted(config.background_tint * rng.uniform(0, 1)))
    if n == 0:  # ambient only: lift it so the hand is not flat dark
        sky = sky * 1.4
        ground = ground * 1.4
    spec = rng.uniform(*config.specular) * np.ones(3)
    return Lighting(sky=sky, ground=ground, up=up,
                    directions=np.array(directions).reshape(-1, 3),
                    colours=np.array(colours).reshape(-1, 3), wrap=rng.uniform(*config.wrap),
                    specular=spec, shininess=rng.uniform(*config.shininess))


def shade(albedo: np.ndarray, normals: np.ndarray, view_dirs: np.ndarray, lighting: Lighting,
          specular_scale=None, light_visibility=None) -> np.ndarray:
    """Shaded linear colour ``(M, 3)``.

    Args:
        albedo: ``(M, 3)`` linear albedo.
        normals: ``(M, 3)`` unit normals (camera frame).
        view_dirs: ``(M, 3)`` unit vectors from the surface toward the camera.
        lighting: the lights.
        specular_scale: optional ``(M,)`` per-fragment specular multiplier.
        light_visibility: optional ``(M, L)`` fraction of each light reaching each
            fragment (shadows); missing columns mean fully lit.
    """
    f32 = np.float32
    hemi = f32(0.5) + f32(0.5) * (normals @ lighting.up.astype(f32))
    light = hemi[:, None] * lighting.sky.astype(f32)[None] + (1 - hemi[:, None]) * lighting.ground.astype(f32)[None]
    spec = np.zeros_like(light)
    w = f32(lighting.wrap)
    for k, (d, c) in enumerate(zip(lighting.directions.astype(f32), lighting.colours.astype(f32))):
        ndl = normals @ d
        diffuse = np.maximum((ndl + w) / (1 + w), 0)
        vis = None
        if light_visibility is not None and k < light_visibility.shape[1]:
            vis = light_visibility[:, k].astype(f32)
            diffuse = diffuse * vis
        light += diffuse[:, None] * c[None]
        if lighting.specular.max() > 0:
            h = view_dirs + d[None]
            h /= np.maximum(np.linalg.norm(h, axis=1, keepdims=True), f32(1e-9))
            s = np.maximum((normals * h).sum(axis=1), 0) ** f32(lighting.shininess) * (ndl > 0)
            if vis is not None:
                s = s * vis
            spec += s[:, None] * c[None]
    strength = lighting.specular.astype(f32)[None]
    if specular_scale is not None:
        strength = strength * specular_scale[:, None]
    return albedo * light + spec * strength
