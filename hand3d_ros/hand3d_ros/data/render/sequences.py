"""Short sequences of a moving hand (or two): smooth pose, rotation and position changes.

Each sequence keeps its camera, background, lights, skin and clutter, and moves the
hand(s) through 2-4 keyframes (sometimes changing gesture) with smoothstep
interpolation of joint angles, wrist rotation (geodesic) and position. Keyframe poses
are collision-free; poses in between are not checked. Frames carry
the single-sample fields (see ``scene.SAMPLE_FIELDS``) plus ``timestamp`` (seconds)
and ``frame``/``sequence`` indices. Camera noise and JPEG are drawn per frame.

Single-hand frames have ``uv (21, 2)``, ``xyz (21, 3)``, ``visible (21,)`` and a scalar
``hand_side``; two-hand frames have a leading hand axis: ``uv (2, 21, 2)``,
``xyz (2, 21, 3)``, ``visible (2, 21)``, ``hand_side (2,)`` = (0 left, 1 right), and
``mask`` holds 1 for the left and 2 for the right hand.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from . import articulation as art
from .scene import HandRenderer, LazyRendererSource, RenderConfig, Scene, renderer_info
from .appearance import hand_vertex_albedo, srgb_to_linear
from .geometry import PART_FOREARM, Mesh


@dataclass
class SequenceConfig:
    """Motion of a sequence.

    Attributes:
        num_frames: frames per sequence (>= 2); fps: frame rate (timestamps = frame / fps).
        keyframes: (min, max) keyframes including the first (>= 2).
        rotation_deg: max rotation of the hand between keyframes (degrees).
        translation_m: max move of the hand centre between keyframes (metres).
        gesture_change_probability: chance that a keyframe draws a new pose family
            (else the previous family with new noise) (0 .. 1).
        two_hand_gap_m: range of the lateral distance between two hands' centres (metres).
    """

    num_frames: int = 30
    fps: float = 30.0
    keyframes: tuple = (2, 4)
    rotation_deg: float = 35.0
    translation_m: float = 0.06
    gesture_change_probability: float = 0.5
    two_hand_gap_m: tuple = (0.16, 0.28)


def _log_rotation(R):
    cos = np.clip((np.trace(R) - 1) / 2, -1, 1)
    angle = np.arccos(cos)
    if angle < 1e-9:
        return np.zeros(3)
    axis = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    norm = np.linalg.norm(axis)
    if norm < 1e-9:  # angle ~ pi
        w, v = np.linalg.eigh((R + np.eye(3)) / 2)
        axis = v[:, -1]
        norm = 1.0
    return axis / norm * angle


def _exp_rotation(w):
    angle = np.linalg.norm(w)
    if angle < 1e-12:
        return np.eye(3)
    k = w / angle
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K


def slerp_rotation(Ra, Rb, t: float):
    """Geodesic interpolation between rotations ``(3, 3)``, ``t`` in [0, 1]."""
    return Ra @ _exp_rotation(t * _log_rotation(Ra.T @ Rb))


@dataclass
class HandTrack:
    """Keyframes of one hand: times (frames), poses, rotations, centres."""

    times: np.ndarray
    poses: list
    rotations: list
    centres: list

    def at(self, t: float):
        """Interpolated ``(pose, rotation, centre)`` at frame ``t``."""
        k = int(np.clip(np.searchsorted(self.times, t, side="right") - 1, 0, len(self.times) - 2))
        span = self.times[k + 1] - self.times[k]
        u = float(np.clip((t - self.times[k]) / span, 0, 1))
        s = u * u * (3 - 2 * u)
        pose = art.interpolate_poses(self.poses[k], self.poses[k + 1], u)
        rot = slerp_rotation(self.rotations[k], self.rotations[k + 1], s)
        centre = (1 - s) * self.centres[k] + s * self.centres[k + 1]
        return pose, rot, centre


def plan_sequence(renderer: HandRenderer, rng: np.random.Generator, config: SequenceConfig,
                  two_hands: bool = False) -> tuple:
    """The static scene and one :class:`HandTrack` per hand."""
    sides = ["left", "right"] if two_hands else None
    scene = renderer.sample_scene(rng, num_hands=2 if two_hands else 1, sides=sides)
    cfg = renderer.config
    if two_hands:  # put the second hand beside the first, in view
        a, b = scene.hands
        gap = rng.uniform(*config.two_hand_gap_m)
        for sign in (1.0, -1.0):
            centre = a.centre + np.array([sign * gap, rng.normal(0, 0.03), rng.normal(0, 0.04)])
            u = scene.K @ centre
            if 0.1 * cfg.width < u[0] / u[2] < 0.9 * cfg.width:
                break
        b.centre = centre
        # one person: the second hand gets the first one's skin (and bare forearm colour)
        b.skin_srgb, b.skin_tone = a.skin_srgb, a.skin_tone
        b.albedo = hand_vertex_albedo(renderer.features[b.side], a.skin_srgb, a.skin_tone, rng, cfg.skin)
        colours = b.forearm.colors.copy()
        skin_vertices = np.zeros(len(colours), bool)
        skin_vertices[b.forearm.faces[b.forearm.face_part == PART_FOREARM].ravel()] = True
        colours[skin_vertices] = srgb_to_linear(a.skin_srgb)
        b.forearm = Mesh(b.forearm.vertices, b.forearm.normals, b.forearm.faces, colours, b.forearm.face_part)
    tracks = []
    nkey = int(rng.integers(config.keyframes[0], config.keyframes[1] + 1))
    times = np.linspace(0, config.num_frames - 1, nkey)
    for hand in scene.hands:
        rig = renderer.rigs[hand.side]
        poses, rots, centres = [hand.pose], [hand.rotation], [hand.centre]
        family = hand.family
        for _ in range(nkey - 1):
            if rng.random() < config.gesture_change_probability:
                family = None
            pose, fam = art.sample_pose(rng, family, cfg.pose, rig, hand.bone_scale)
            pose, _ = art.resolve_collisions(rig, pose, rng, hand.bone_scale, cfg.min_finger_axis_gap_m,
                                             allowed_pairs=art.TOUCHING_FINGERS.get(fam, ()))
            family = fam
            axis = rng.normal(size=3)
            delta = _exp_rotation(axis / np.linalg.norm(axis) * np.deg2rad(rng.uniform(0, config.rotation_deg)))
            poses.append(pose)
            rots.append(delta @ rots[-1])
            centres.append(centres[-1] + rng.uniform(-1, 1, 3) * config.translation_m)
        tracks.append(HandTrack(times=times, poses=poses, rotations=rots, centres=centres))
    return scene, tracks


def frame_scene(scene: Scene, tracks: list, t: float) -> Scene:
    """A copy of ``scene`` with every hand moved to frame ``t`` of its track."""
    frame = copy.copy(scene)
    frame.hands = []
    for hand, track in zip(scene.hands, tracks):
        pose, rot, centre = track.at(t)
        moved = copy.copy(hand)
        moved.pose, moved.rotation, moved.centre = pose, rot, centre
        frame.hands.append(moved)
    return frame


def _finish_frame(renderer, out, rng, two_hands, seed, sequence_index, t, fps):
    renderer.finish_image(out, rng)
    if not two_hands:
        for key in ("uv", "xyz", "visible"):
            out[key] = out[key][0]
        out["hand_side"] = out["hand_side"][0]
    out["timestamp"] = np.float64(t / fps)
    out["frame"] = np.int64(t)
    out["sequence"] = np.int64(sequence_index)
    out["seed"] = np.int64(seed)
    return out


def render_sequence(renderer: HandRenderer, seed: int, sequence_index: int = 0, num_frames: int = 30,
                    two_hands: bool = False, config: SequenceConfig | None = None) -> dict:
    """Render a whole sequence.

    Returns:
        dict of per-frame fields stacked on a leading time axis ``(T, ...)`` (see the
        module docstring), with ``timestamp (T,)`` seconds.
    """
    config = config or SequenceConfig()
    config = SequenceConfig(**{**config.__dict__, "num_frames": num_frames})
    frames = [sequence_frame(renderer, seed, sequence_index, t, two_hands, config) for t in range(num_frames)]
    return {k: np.stack([f[k] for f in frames]) for k in frames[0]}


_PLAN_CACHE = {}


def sequence_frame(renderer: HandRenderer, seed: int, sequence_index: int, t: int,
                   two_hands: bool = False, config: SequenceConfig | None = None) -> dict:
    """Frame ``t`` of sequence ``sequence_index`` (depends only on seed, split, index, t)."""
    config = config or SequenceConfig()
    key = (int(seed), int(sequence_index), bool(two_hands), repr(config), repr(renderer.config))
    cached = _PLAN_CACHE.get(key)
    if cached is None or cached[0] is not renderer:
        _PLAN_CACHE.clear()  # sequences are rendered frame after frame: keep one plan
        rng = renderer.rng_for(seed, sequence_index, stream=1 + int(two_hands))
        _PLAN_CACHE[key] = cached = (renderer, plan_sequence(renderer, rng, config, two_hands))
    scene, tracks = cached[1]
    out = renderer.render(frame_scene(scene, tracks, float(t)))
    post_rng = np.random.default_rng(np.random.SeedSequence(
        [int(seed), int(sequence_index), int(t), 7 + int(two_hands)]))
    return _finish_frame(renderer, out, post_rng, two_hands, seed, sequence_index, t, config.fps)


class SequenceSource(LazyRendererSource):
    """Picklable ``index -> frame`` callable for ``write_shards``: index =
    ``sequence * num_frames + frame`` (use ``shard_size = num_frames`` to get one
    sequence per shard)."""

    def __init__(self, config: RenderConfig, seed: int, sequence: SequenceConfig | None = None,
                 two_hands: bool = False, asset_dir=None):
        super().__init__(config, seed, asset_dir)
        self.sequence = sequence or SequenceConfig()
        self.two_hands = bool(two_hands)

    def __call__(self, index: int) -> dict:
        k, t = divmod(int(index), self.sequence.num_frames)
        return sequence_frame(self.renderer, self.seed, k, t, self.two_hands, self.sequence)

    def info(self) -> dict:
        info = renderer_info(self.renderer, self.seed, kind="two_hand_sequences" if self.two_hands else "sequences")
        info["sequence"] = dict(self.sequence.__dict__)
        return info


__all__ = ["SequenceConfig", "SequenceSource", "plan_sequence", "render_sequence",
           "sequence_frame", "slerp_rotation"]
