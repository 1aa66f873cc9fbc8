"""One synthetic sample: a posed, shaded hand (with forearm) over a random background.

:class:`HandRenderer` turns ``(seed, index)`` into a sample dict (see
:data:`SAMPLE_FIELDS`); the sample depends only on ``(seed, split, index)`` and the
configuration. The steps are separate so that sequences can reuse them:
:meth:`HandRenderer.sample_hand` (shape, pose, appearance),
:meth:`HandRenderer.place_hand` (camera pose), :meth:`HandRenderer.sample_scene`
(camera, background, lights, clutter) and :meth:`HandRenderer.render` (pixels).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from hand3d_ros.core.keypoints import FINGERS

from . import articulation as art
from .appearance import (LightingConfig, SkinConfig, hand_vertex_albedo, linear_to_srgb_lut,
                         skin_detail_textures,
                         sample_lighting, sample_skin_srgb, shade, skin_features, srgb_to_linear)
from .assets import resolve_asset_dir
from .capsules import capsule_occlusion
from .backgrounds import BackgroundConfig, PhotoLibrary, random_colour, sample_background
from .camera import (CameraConfig, sample_forearm_rotation, sample_hand_centre, sample_intrinsics,
                     scale_intrinsics)
from .geometry import (PART_CLUTTER, PART_OCCLUDER, ForearmConfig, Mesh, box_mesh, concatenate,
                       disc_mesh, forearm_mesh, sphere_mesh)
from .postprocess import PostConfig, apply_camera_effects, to_uint8
from .raster import project, rasterize
from .shadows import ShadowConfig, shadow_visibility
from .skeleton import FINGER_JOINTS, JOINT_INDEX, KEYPOINT_JOINT, NUM_JOINTS, WRIST_JOINT
from .skinning import HAND_SIDES, forward_kinematics, load_rig, pose_hand
from .visibility import first_hits, keypoint_sample_pixels, keypoint_visibility

#: Bump when the generator's output for a given seed changes.
GENERATOR_VERSION = "webxr-raster-1"

#: Per-pixel object ids (the ``object`` field).
OBJECT_BACKGROUND, OBJECT_LEFT_HAND, OBJECT_RIGHT_HAND, OBJECT_ARM, OBJECT_OCCLUDER, OBJECT_CLUTTER = range(6)
NUM_OBJECTS = 6
#: ``hand_side`` values and mask labels: mask = 1 + hand_side.
HAND_SIDE_ID = {"left": 0, "right": 1}
#: Seed streams of the splits (disjoint by construction: the split id is part of the seed).
SPLIT_IDS = {"train": 0, "val": 1, "test": 2}

#: Fields of a single-hand sample (shapes for an H x W image).
SAMPLE_FIELDS = {
    "image": "uint8 (H, W, 3) RGB",
    "mask": "uint8 (H, W): 0 background (forearm, sleeve and objects included), 1 left hand, 2 right hand",
    "object": "uint8 (H, W): 0 background, 1 left hand, 2 right hand, 3 forearm/sleeve, 4 occluder, 5 clutter",
    "uv": "float32 (21, 2) pixel coordinates (pixel centres at integers), public keypoint order",
    "xyz": "float32 (21, 3) camera (optical) frame, metres",
    "visible": "bool (21,) inside the image and not hidden by another surface",
    "K": "float32 (3, 3) intrinsics",
    "hand_side": "uint8 0 left, 1 right",
    "depth": "float32 (H, W) metres along z, 0 = background (optional)",
    "seed": "int64 the generator seed",
    "index": "int64 the sample index",
    "pose_family": "uint8 index into articulation.POSE_FAMILIES",
    "hand_scale": "float32 uniform hand scale (1 = WebXR mesh)",
    "skin_tone": "float32 continuous Monk tone 0 (lightest) .. 9 (darkest)",
}


@dataclass
class RenderConfig:
    """Everything that shapes the generated data (all ranges are inclusive).

    Attributes:
        height, width: output image size (pixels).
        supersample: render at this factor and box-filter down (anti-aliasing, >= 1).
        with_depth: produce the ``depth`` field.
        split: "train", "val" or "test": selects the seed stream and the photo subset.
        left_probability: chance of a left hand (0 .. 1).
        hand_scale: range of the uniform hand scale (adult hands about 0.85 .. 1.15).
        finger_length_jitter: max relative change of each finger's length (0 .. 0.2).
        bone_length_jitter: max relative change of each single bone on top (0 .. 0.1).
        occluder_probability: chance of 1-2 objects in front of the hand (0 .. 1).
        occluder_size_m: range of an occluder's radius (metres).
        clutter_count: (min, max) objects behind the hand.
        clutter_size_m: range of their size (metres).
        min_hand_fraction: least fraction of the image the hand mask must cover;
            otherwise the scene is drawn again.
        min_keypoints_in_image: least keypoints inside the image, else drawn again.
        max_attempts: how often a scene is drawn again before giving up.
        max_pose_attempts: how often a pose whose fingers intersect (after
            ``articulation.resolve_collisions``) is drawn again.
        min_finger_axis_gap_m: closest allowed distance between the bone axes of two
            fingers (metres, see ``capsules.self_intersecting``).
        bone_radius_m: bone capsule radius for the ambient occlusion (metres, at scale 1).
        occlusion_strength: ambient occlusion multiplier (0 = off).
        shadow_probability: chance that the strongest light casts shadows (0 .. 1).
        shadow: shadow map settings.
        background_dirs: extra folders of background photos.
        system_photos: also use photos found on the machine (scikit-image, wallpapers).
    """

    height: int = 320
    width: int = 320
    supersample: int = 2
    with_depth: bool = True
    split: str = "train"
    left_probability: float = 0.5
    hand_scale: tuple = (0.85, 1.15)
    finger_length_jitter: float = 0.07
    bone_length_jitter: float = 0.03
    occluder_probability: float = 0.2
    occluder_size_m: tuple = (0.008, 0.035)
    clutter_count: tuple = (0, 4)
    clutter_size_m: tuple = (0.03, 0.15)
    min_hand_fraction: float = 0.004
    min_keypoints_in_image: int = 10
    max_attempts: int = 20
    max_pose_attempts: int = 3
    min_finger_axis_gap_m: float = 0.010
    bone_radius_m: float = 0.009
    occlusion_strength: float = 1.0
    shadow_probability: float = 0.8
    background_dirs: tuple = ()
    system_photos: bool = True
    pose: art.PoseSamplingConfig = field(default_factory=art.PoseSamplingConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    forearm: ForearmConfig = field(default_factory=ForearmConfig)
    skin: SkinConfig = field(default_factory=SkinConfig)
    lighting: LightingConfig = field(default_factory=LightingConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    post: PostConfig = field(default_factory=PostConfig)
    shadow: ShadowConfig = field(default_factory=ShadowConfig)

    def to_dict(self) -> dict:
        """JSON-friendly dict of the whole configuration."""
        def convert(x):
            if isinstance(x, dict):
                return {k: convert(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [convert(v) for v in x]
            if isinstance(x, np.ndarray):
                return x.tolist()
            return x
        return convert(dataclasses.asdict(self))


@dataclass
class HandInstance:
    """One hand of a scene: what it is, how it is posed and where it is.

    Attributes:
        side: "left" or "right".
        pose: joint angles; family: the pose family drawn.
        scale: uniform size factor; bone_scale: ``(25,)`` per-bone length factors.
        rotation: ``(3, 3)`` camera-from-wrist-frame rotation (wrist frame: -Z to the
            fingers, +Z to the elbow, +Y the back of the hand; before wrist flexion).
        centre: ``(3,)`` camera-frame position (metres) of the hand centre (midpoint of
            the wrist and the middle-finger MCP).
        albedo: ``(V, 3)`` linear skin albedo per vertex; skin_srgb, skin_tone: base colour.
        texture: index of the skin detail texture; texture_amplitude: its strength.
        forearm: forearm/sleeve :class:`Mesh` in the (unscaled) wrist frame.
    """

    side: str
    pose: art.HandPose
    family: str
    scale: float
    bone_scale: np.ndarray
    rotation: np.ndarray
    centre: np.ndarray
    albedo: np.ndarray
    skin_srgb: np.ndarray
    skin_tone: float
    forearm: Mesh
    texture: int = 0
    texture_amplitude: float = 0.0


@dataclass
class Scene:
    """Everything needed to render one image (camera frame, metres)."""

    K: np.ndarray
    height: int
    width: int
    hands: list
    background: np.ndarray
    lighting: object
    extras: Mesh | None = None
    extras_object: np.ndarray | None = None
    shadows: bool = True


@dataclass
class PosedInstance:
    """A hand instance posed in the camera frame."""

    vertices: np.ndarray
    normals: np.ndarray
    joints: np.ndarray
    forearm: Mesh

    @property
    def xyz(self) -> np.ndarray:
        """``(21, 3)`` keypoints in the camera frame (metres), public order."""
        return self.joints[KEYPOINT_JOINT]


def _interpolate(bary, values, corners):
    """Per-fragment ``(M, C)`` blend of per-vertex ``values (V, C)`` at ``corners (M, 3)``."""
    out = bary[:, 0:1] * np.take(values, corners[:, 0], axis=0)
    out += bary[:, 1:2] * np.take(values, corners[:, 1], axis=0)
    out += bary[:, 2:3] * np.take(values, corners[:, 2], axis=0)
    return out


def _box_down(img, factor: int):
    """Mean over ``factor x factor`` blocks of ``(H*f, W*f[, C])`` -> ``(H, W[, C])``."""
    if factor == 1:
        return img
    out = img[0::factor, 0::factor].astype(np.float32)
    for i in range(factor):
        for j in range(factor):
            if i or j:
                out = out + img[i::factor, j::factor]
    return out / np.float32(factor * factor)


def _box_count(flags, factor: int):
    """Number of True flags in each ``factor x factor`` block, ``(H, W)`` uint8."""
    out = np.zeros((flags.shape[0] // factor, flags.shape[1] // factor), np.uint8)
    for i in range(factor):
        for j in range(factor):
            out += flags[i::factor, j::factor]
    return out


def _random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))[None]
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


class HandRenderer:
    """Renders synthetic hand samples with the WebXR hand meshes.

    Args:
        config: :class:`RenderConfig` (defaults if None).
        asset_dir: folder with left.glb/right.glb (else ``$HAND3D_ASSET_DIR``, else
            ``<repo>/cache/assets/webxr-hand``); raises ``AssetMissingError`` if absent.
    """

    def __init__(self, config: RenderConfig | None = None, asset_dir=None):
        self.config = config or RenderConfig()
        if self.config.split not in SPLIT_IDS:
            raise ValueError(f"split must be one of {tuple(SPLIT_IDS)}, got {self.config.split!r}")
        path = resolve_asset_dir(asset_dir)
        self.rigs = {side: load_rig(path, side) for side in HAND_SIDES}
        self.rest_local = {side: rig.rest_local() for side, rig in self.rigs.items()}
        self.features = {side: skin_features(rig) for side, rig in self.rigs.items()}
        self.skin_textures = skin_detail_textures()
        self.photos = PhotoLibrary.for_split(self.config.split, self.config.background_dirs,
                                             self.config.system_photos)

    # ------------------------------------------------------------------ randomness
    def rng_for(self, seed: int, index: int, stream: int = 0) -> np.random.Generator:
        """The random generator of sample ``index`` (depends only on seed, split, index, stream)."""
        return np.random.default_rng(np.random.SeedSequence(
            [int(seed), SPLIT_IDS[self.config.split], int(index), int(stream)]))

    # ------------------------------------------------------------------ sampling
    def sample_bone_scale(self, rng) -> np.ndarray:
        """``(25,)`` per-bone length factors: one factor per finger plus small per-bone noise."""
        cfg = self.config
        scale = np.ones(NUM_JOINTS)
        for finger in FINGERS:
            f = 1 + rng.uniform(-cfg.finger_length_jitter, cfg.finger_length_jitter)
            for j in FINGER_JOINTS[finger][1:]:
                scale[j] = f * (1 + rng.uniform(-cfg.bone_length_jitter, cfg.bone_length_jitter))
        return scale

    def sample_hand(self, rng, side: str | None = None, family: str | None = None) -> HandInstance:
        """A hand with random side, size, pose and skin (placement left at identity)."""
        cfg = self.config
        if side is None:
            side = "left" if rng.random() < cfg.left_probability else "right"
        rig = self.rigs[side]
        bone_scale = self.sample_bone_scale(rng)
        for _ in range(cfg.max_pose_attempts):  # poses whose fingers pass through each other
            pose, drawn = art.sample_pose(rng, family, cfg.pose, rig, bone_scale)
            pose, ok = art.resolve_collisions(rig, pose, rng, bone_scale, cfg.min_finger_axis_gap_m,
                                              allowed_pairs=art.TOUCHING_FINGERS.get(drawn, ()))
            if ok:
                break
        family = drawn
        skin_srgb, tone = sample_skin_srgb(rng, cfg.skin)
        albedo = hand_vertex_albedo(self.features[side], skin_srgb, tone, rng, cfg.skin)
        sleeve = random_colour(rng, skin_like_probability=0.0)
        forearm = forearm_mesh(rng, srgb_to_linear(skin_srgb), srgb_to_linear(sleeve), cfg.forearm)
        return HandInstance(side=side, pose=pose, family=family, scale=rng.uniform(*cfg.hand_scale),
                            bone_scale=bone_scale, rotation=np.eye(3),
                            centre=np.array([0.0, 0.0, 0.5]), albedo=albedo, skin_srgb=skin_srgb,
                            skin_tone=tone, forearm=forearm, texture=int(rng.integers(len(self.skin_textures))),
                            texture_amplitude=float(rng.uniform(*cfg.skin.mottling)))

    def place_hand(self, rng, hand: HandInstance, K: np.ndarray) -> HandInstance:
        """Random orientation and position of ``hand`` in front of the camera ``K``."""
        cfg = self.config
        hand.rotation = sample_forearm_rotation(rng, cfg.camera)
        hand.centre = sample_hand_centre(rng, K, cfg.width, cfg.height, cfg.camera)
        return hand

    def pose_instance(self, hand: HandInstance) -> PosedInstance:
        """Skin the hand and place it and its forearm in the camera frame."""
        rig = self.rigs[hand.side]
        rest_wrist = rig.rest_world[WRIST_JOINT]
        root = np.eye(4)
        root[:3, :3] = hand.scale * hand.rotation @ rest_wrist[:3, :3].T
        posed = pose_hand(rig, art.local_rotations(hand.pose, rig.side_sign), hand.bone_scale,
                          root, self.rest_local[hand.side])
        joints = posed.joint_positions
        centre = 0.5 * (joints[WRIST_JOINT] + joints[JOINT_INDEX["middle-finger-phalanx-proximal"]])
        shift = hand.centre - centre
        wrist_frame = root @ rest_wrist
        wrist_frame[:3, 3] += shift
        return PosedInstance(vertices=posed.vertices + shift, normals=posed.normals,
                             joints=joints + shift, forearm=hand.forearm.transformed(wrist_frame))

    def hand_keypoints(self, hand: HandInstance) -> np.ndarray:
        """``(21, 3)`` camera-frame keypoints of a hand (forward kinematics only, no skinning)."""
        rig = self.rigs[hand.side]
        root = np.eye(4)
        root[:3, :3] = hand.scale * hand.rotation @ rig.rest_world[WRIST_JOINT][:3, :3].T
        world, _ = forward_kinematics(rig, art.local_rotations(hand.pose, rig.side_sign), hand.bone_scale,
                                      root, self.rest_local[hand.side])
        joints = world[:, :3, 3]
        centre = 0.5 * (joints[WRIST_JOINT] + joints[JOINT_INDEX["middle-finger-phalanx-proximal"]])
        return (joints + (hand.centre - centre))[KEYPOINT_JOINT]

    def sample_extras(self, rng, keypoints: list) -> tuple:
        """Occluders in front of the hands and clutter behind them (camera frame).

        Args:
            keypoints: ``(21, 3)`` camera-frame keypoints of each hand.

        Returns:
            ``(mesh or None, object id per vertex or None)``.
        """
        cfg = self.config
        meshes, objects = [], []
        all_xyz = np.concatenate(keypoints)
        if rng.random() < cfg.occluder_probability:
            for _ in range(int(rng.integers(1, 3))):
                anchor = all_xyz[rng.integers(len(all_xyz))]
                dist = np.linalg.norm(anchor)
                ray = anchor / dist
                centre = ray * (dist - rng.uniform(0.04, 0.2)) + rng.normal(0, 0.015, 3) * [1, 1, 0]
                normal = -ray + rng.normal(0, 0.15, 3)
                r = rng.uniform(*cfg.occluder_size_m)
                elongated = rng.random() < 0.4
                m = disc_mesh(centre, normal, r * (rng.uniform(2, 5) if elongated else 1.0),
                              r * rng.uniform(0.3, 1.0), int(rng.integers(3, 20)),
                              srgb_to_linear(random_colour(rng, 0.0)), PART_OCCLUDER,
                              rotation=rng.uniform(0, 2 * np.pi), jitter=rng.uniform(0, 0.3), rng=rng)
                meshes.append(m)
                objects.append(np.full(len(m.vertices), OBJECT_OCCLUDER))
        far = float(all_xyz[:, 2].max())
        for _ in range(int(rng.integers(cfg.clutter_count[0], cfg.clutter_count[1] + 1))):
            size = rng.uniform(*cfg.clutter_size_m)
            colour = srgb_to_linear(random_colour(rng, 0.15))
            if rng.random() < 0.5:
                m = sphere_mesh(size / 2, colour, PART_CLUTTER)
            else:
                m = box_mesh(size * rng.uniform(0.3, 1.0, 3), colour, PART_CLUTTER)
            depth = far + size + rng.uniform(0.03, 0.6)
            lateral = rng.uniform(-0.6, 0.6, 2) * depth
            pose = np.eye(4)
            pose[:3, :3] = _random_rotation(rng)
            pose[:3, 3] = [lateral[0], lateral[1], depth]
            m = m.transformed(pose)
            meshes.append(m)
            objects.append(np.full(len(m.vertices), OBJECT_CLUTTER))
        if not meshes:
            return None, None
        return concatenate(meshes), np.concatenate(objects)

    def sample_scene(self, rng, num_hands: int = 1, sides=None) -> Scene:
        """Camera, hand(s), background, lights and extra objects."""
        cfg = self.config
        K = sample_intrinsics(rng, cfg.width, cfg.height, cfg.camera)
        hands = []
        for h in range(num_hands):
            side = None if sides is None else sides[h]
            hand = self.sample_hand(rng, side)
            hands.append(self.place_hand(rng, hand, K))
        background = sample_background(rng, cfg.height, cfg.width, self.photos, cfg.background)
        lighting = sample_lighting(rng, srgb_to_linear(background[::8, ::8].reshape(-1, 3).mean(0)), cfg.lighting)
        extras, extras_object = self.sample_extras(rng, [self.hand_keypoints(h) for h in hands])
        return Scene(K=K, height=cfg.height, width=cfg.width, hands=hands, background=background,
                     lighting=lighting, extras=extras, extras_object=extras_object,
                     shadows=bool(rng.random() < cfg.shadow_probability))

    # ------------------------------------------------------------------ rendering
    def render(self, scene: Scene, with_depth: bool | None = None) -> dict:
        """Render a scene (no camera effects yet: see :meth:`finish_image`).

        Args:
            scene: what to draw.
            with_depth: override ``config.with_depth``.

        Returns:
            dict with ``image`` (float32 sRGB (H, W, 3) in [0, 1]), ``mask``,
            ``object``, ``depth`` (optional), ``K`` and,
            per hand (leading axis = hand, in ``scene.hands`` order), ``uv (N, 21, 2)``,
            ``xyz (N, 21, 3)``, ``visible (N, 21)``, ``hand_side (N,)``.
        """
        cfg = self.config
        with_depth = cfg.with_depth if with_depth is None else with_depth
        ss = max(1, int(cfg.supersample))
        H, W = scene.height, scene.width
        posed = [self.pose_instance(h) for h in scene.hands]
        # One combined mesh with per-vertex albedo, specular, part and object ids.
        verts, normals, faces, albedo, spec, part, obj = [], [], [], [], [], [], []
        offset = 0

        tex_uv, tex_amp = [], []

        def add(v, n, f, a, s, p, o, uv=None, amp=0.0):
            nonlocal offset
            tex_uv.append(np.zeros((len(v), 2), np.float32) if uv is None else uv)
            tex_amp.append(np.full(len(v), amp, np.float32))
            verts.append(v)
            normals.append(n)
            faces.append(np.asarray(f, np.int64) + offset)
            albedo.append(a)
            spec.append(np.broadcast_to(s, (len(v),)))
            part.append(np.broadcast_to(p, (len(v),)))
            obj.append(np.broadcast_to(o, (len(v),)))
            offset += len(v)

        for hand, p in zip(scene.hands, posed):
            rig = self.rigs[hand.side]
            ao = capsule_occlusion(p.vertices, p.normals, rig.vertex_part, p.joints,
                                   cfg.bone_radius_m * hand.scale, cfg.occlusion_strength)
            add(p.vertices, p.normals, rig.faces, hand.albedo * ao[:, None],
                1.0 + self.features[hand.side].nail, rig.vertex_part, 1 + HAND_SIDE_ID[hand.side],
                rig.uv, hand.texture_amplitude)
            fa = p.forearm
            add(fa.vertices, fa.normals, fa.faces, fa.colors, 0.6, fa.face_part[0], OBJECT_ARM)
        caster_faces = sum(len(f) for f in faces)  # hands and forearms cast shadows
        if scene.extras is not None:
            ex = scene.extras
            ex_part = np.full(len(ex.vertices), PART_CLUTTER)
            ex_part[scene.extras_object == OBJECT_OCCLUDER] = PART_OCCLUDER
            add(ex.vertices, ex.normals, ex.faces, ex.colors, 0.5, ex_part, scene.extras_object)
        verts, faces = np.concatenate(verts), np.concatenate(faces)
        normals = np.concatenate(normals).astype(np.float32)
        albedo = np.concatenate(albedo).astype(np.float32)
        spec = np.concatenate(spec).astype(np.float32)
        part, obj = np.concatenate(part).astype(np.int64), np.concatenate(obj).astype(np.uint8)

        Ks = scale_intrinsics(scene.K, ss)
        Hs, Ws = H * ss, W * ss
        frag = rasterize(verts, faces, Ks, Hs, Ws)
        corner = np.take(faces.ravel(), frag.face * 3 + np.argmax(frag.bary, axis=1))
        frag_obj = obj[corner]
        frag_part = part[corner]
        rows, cols = np.divmod(frag.pixel, Ws)
        # Work in the output-resolution box around all fragments.
        if frag.pixel.size:
            y0, y1 = int(rows.min()) // ss, int(rows.max()) // ss + 1
            x0, x1 = int(cols.min()) // ss, int(cols.max()) // ss + 1
        else:
            y0, y1, x0, x1 = 0, 1, 0, 1
        ch, cw = (y1 - y0) * ss, (x1 - x0) * ss
        local = (rows - y0 * ss) * cw + (cols - x0 * ss)
        slot = np.full(ch * cw, -1, np.int64)
        slot[local] = np.arange(frag.pixel.size)
        grid = slot.reshape(ch, cw)
        # Multisample anti-aliasing: coverage from every supersample, one shading sample
        # per output pixel (its centre-most covered supersample).
        c = ss // 2
        pick = grid[c::ss, c::ss].copy()
        for i in range(ss):
            for j in range(ss):
                if (i, j) != (c, c):
                    pick = np.where(pick >= 0, pick, grid[i::ss, j::ss])
        shaded = np.flatnonzero(pick.ravel() >= 0)
        sel = pick.ravel()[shaded]
        bary = frag.bary[sel]
        corners = np.take(faces, frag.face[sel], axis=0)
        n = _interpolate(bary, normals, corners)
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
        a = _interpolate(bary, albedo, corners)
        if scene.hands:  # skin mottling from the hand's UV map (one texture per image)
            tex = self.skin_textures[scene.hands[0].texture]
            uv = _interpolate(bary, np.concatenate(tex_uv), corners)
            amp = _interpolate(bary, np.concatenate(tex_amp)[:, None], corners)[:, 0]
            size = tex.shape[0]
            tu = np.clip((uv[:, 0] * size).astype(np.int64), 0, size - 1)
            tv = np.clip((uv[:, 1] * size).astype(np.int64), 0, size - 1)
            a *= (1.0 + amp * tex[tv, tu])[:, None]
        s = _interpolate(bary, spec[:, None], corners)[:, 0]
        rays = np.stack([(cols[sel] - Ks[0, 2]) / Ks[0, 0], (rows[sel] - Ks[1, 2]) / Ks[1, 1],
                         np.ones(sel.size)], 1).astype(np.float32)
        view = -rays / np.linalg.norm(rays, axis=1, keepdims=True)
        visibility = None
        if scene.shadows and len(scene.lighting.directions) and sel.size:
            points = rays * frag.depth[sel][:, None]
            centre = np.mean([h.centre for h in scene.hands], axis=0)
            strongest = int(np.argmax(scene.lighting.colours.sum(axis=1)))
            visibility = np.ones((sel.size, len(scene.lighting.directions)), np.float32)
            visibility[:, strongest] = shadow_visibility(verts, faces[:caster_faces], centre,
                                                         scene.lighting.directions[strongest], points, n, cfg.shadow)
        colour = linear_to_srgb_lut(shade(a, n, view, scene.lighting, s, visibility))
        alpha = _box_down((grid >= 0).astype(np.float32), ss)
        fg = np.zeros(((y1 - y0) * (x1 - x0), 3), np.float32)
        fg[shaded] = colour * alpha.ravel()[shaded, None]
        image = scene.background.astype(np.float32, copy=True)
        image[y0:y1, x0:x1] = fg.reshape(y1 - y0, x1 - x0, 3) + (1.0 - alpha)[..., None] * image[y0:y1, x0:x1]
        # Object ids and mask at output resolution: the id covering most supersamples.
        obj_s = np.zeros(ch * cw, np.uint8)
        obj_s[local] = frag_obj
        obj_grid = obj_s.reshape(ch, cw)
        present = np.flatnonzero(np.bincount(frag_obj, minlength=NUM_OBJECTS))
        counts = [ss * ss - _box_count(obj_grid != 0, ss)]  # background
        for o in present:
            counts.append(_box_count(obj_grid == o, ss))
        ids = np.concatenate([[OBJECT_BACKGROUND], present]).astype(np.uint8)
        obj_map = np.zeros((H, W), np.uint8)
        obj_map[y0:y1, x0:x1] = ids[np.argmax(np.stack(counts, -1), axis=-1)]
        mask = np.where((obj_map == OBJECT_LEFT_HAND) | (obj_map == OBJECT_RIGHT_HAND), obj_map, 0).astype(np.uint8)
        out = {"object": obj_map, "mask": mask, "K": scene.K.astype(np.float32)}
        if with_depth:
            d = np.zeros(ch * cw, np.float32)
            d[local] = frag.depth
            dsum = _box_down(d.reshape(ch, cw), ss)
            depth = np.zeros((H, W), np.float32)
            depth[y0:y1, x0:x1] = np.where(alpha >= 0.5, dsum / np.maximum(alpha, 1e-6), 0)
            out["depth"] = depth
        # Keypoints and visibility (first surface at the keypoint's supersample pixel).
        uvs, xyzs, vis, sides = [], [], [], []
        for hand, p in zip(scene.hands, posed):
            xyz = p.xyz
            uv = project(xyz, scene.K)
            inside, flat = keypoint_sample_pixels(uv, ss, H, W)
            hit = first_hits(flat, frag.pixel)
            hit_obj = np.where(hit >= 0, frag_obj[hit], OBJECT_BACKGROUND)
            hit_part = np.where(hit >= 0, frag_part[hit], -1)
            hand_object = 1 + HAND_SIDE_ID[hand.side]
            vis.append(keypoint_visibility(inside & (xyz[:, 2] > 0), hit_obj, hit_part, hand_object))
            uvs.append(uv.astype(np.float32))
            xyzs.append(xyz.astype(np.float32))
            sides.append(HAND_SIDE_ID[hand.side])
        out.update(uv=np.stack(uvs), xyz=np.stack(xyzs), visible=np.stack(vis),
                   hand_side=np.array(sides, np.uint8))
        out["image"] = image
        return out

    def finish_image(self, rendered: dict, rng) -> dict:
        """Apply random camera effects (``config.post``) to ``rendered["image"]`` and make
        it uint8 RGB ``(H, W, 3)``; ``rng=None`` only quantises."""
        image = rendered["image"]
        if rng is None:
            rendered["image"] = to_uint8(image)
        else:
            rendered["image"] = apply_camera_effects(rng, image, self.config.post)
        return rendered

    # ------------------------------------------------------------------ samples
    def acceptable(self, rendered: dict) -> bool:
        """The hand is in view enough: mask area and keypoints inside the image."""
        cfg = self.config
        H, W = rendered["mask"].shape
        if (rendered["mask"] > 0).mean() < cfg.min_hand_fraction:
            return False
        uv = rendered["uv"]
        inside = (uv[..., 0] >= 0) & (uv[..., 0] <= W - 1) & (uv[..., 1] >= 0) & (uv[..., 1] <= H - 1)
        return bool((inside.sum(-1) >= cfg.min_keypoints_in_image).all())

    def sample(self, seed: int, index: int) -> dict:
        """Sample ``index`` of the stream ``seed`` (single hand; fields: :data:`SAMPLE_FIELDS`)."""
        rng = self.rng_for(seed, index)
        for _ in range(self.config.max_attempts):
            scene = self.sample_scene(rng)
            out = self.render(scene)
            if self.acceptable(out):
                break
        self.finish_image(out, rng)
        hand = scene.hands[0]
        for key in ("uv", "xyz", "visible"):
            out[key] = out[key][0]
        out["hand_side"] = out["hand_side"][0]
        out["seed"] = np.int64(seed)
        out["index"] = np.int64(index)
        out["pose_family"] = np.uint8(art.POSE_FAMILIES.index(hand.family))
        out["hand_scale"] = np.float32(hand.scale)
        out["skin_tone"] = np.float32(hand.skin_tone)
        return out


def renderer_info(renderer: HandRenderer, seed: int, kind: str = "single") -> dict:
    """JSON-friendly description of a generator run (for shard manifests)."""
    cfg = renderer.config
    return {
        "generator": "hand3d_ros.data.render", "generator_version": GENERATOR_VERSION, "kind": kind,
        "seed": int(seed), "split": cfg.split, "image_size": [cfg.height, cfg.width],
        "keypoint_order": "public (hand3d_ros.core.keypoints)", "camera_frame": "optical (x right, y down, z forward)",
        "units": "metres, pixels", "fields": SAMPLE_FIELDS, "num_photos": len(renderer.photos),
        "config": cfg.to_dict(),
    }


class LazyRendererSource:
    """Base of the picklable ``index -> sample`` callables given to
    :func:`hand3d_ros.data.shards.write_shards`: the renderer is built lazily in each
    process (the meshes load in milliseconds) and never pickled."""

    def __init__(self, config: RenderConfig, seed: int, asset_dir=None):
        self.config = config
        self.seed = int(seed)
        self.asset_dir = str(resolve_asset_dir(asset_dir))  # fail early, with the fetch hint
        self._renderer = None

    @property
    def renderer(self) -> HandRenderer:
        if self._renderer is None:
            self._renderer = HandRenderer(self.config, self.asset_dir)
        return self._renderer

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_renderer"] = None
        return state


class SampleSource(LazyRendererSource):
    """Single samples: ``index -> sample``."""

    def __call__(self, index: int) -> dict:
        return self.renderer.sample(self.seed, index)

    def info(self) -> dict:
        return renderer_info(self.renderer, self.seed)
