"""Hand articulation: joint angles with anatomical limits, pose families, thumb IK.

A :class:`HandPose` holds angles in radians. Conventions (both hands): flexion is
positive toward the palm and is applied as a rotation of ``-flexion`` about the
joint's local X axis (bones point along local -Z, local +Y is on the back of the
hand). Abduction is positive toward the thumb side; as a rotation about local Y its
sign flips between left and right hands (``side_sign``: +1 right, -1 left).

Angles produced by :func:`sample_pose` are clipped to :data:`LIMITS`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hand3d_ros.core.keypoints import FINGERS

from .skeleton import FINGER_JOINTS, NUM_JOINTS, WRIST_JOINT

LONG_FINGERS = FINGERS[1:]
DEG = np.pi / 180.0


@dataclass
class HandPose:
    """Joint angles of one hand (radians).

    Attributes:
        mcp_flex, mcp_abd, pip_flex, dip_flex: ``(4,)`` index, middle, ring, little.
            Abduction is positive toward the thumb.
        cup: ``(4,)`` flexion at the metacarpal joints (palm arching, mostly ring/little).
        thumb_cmc: ``(3,)`` flexion, abduction (toward the palm normal), roll (pronation,
            about the bone axis) at the thumb base.
        thumb_mcp, thumb_ip: thumb flexion at the MCP and IP joints.
        wrist: ``(2,)`` wrist flexion (toward the palm) and radial deviation.
    """

    mcp_flex: np.ndarray = field(default_factory=lambda: np.zeros(4))
    mcp_abd: np.ndarray = field(default_factory=lambda: np.zeros(4))
    pip_flex: np.ndarray = field(default_factory=lambda: np.zeros(4))
    dip_flex: np.ndarray = field(default_factory=lambda: np.zeros(4))
    cup: np.ndarray = field(default_factory=lambda: np.zeros(4))
    thumb_cmc: np.ndarray = field(default_factory=lambda: np.zeros(3))
    thumb_mcp: float = 0.0
    thumb_ip: float = 0.0
    wrist: np.ndarray = field(default_factory=lambda: np.zeros(2))

    def to_vector(self) -> np.ndarray:
        """All angles as one ``(27,)`` vector (for interpolation)."""
        return np.concatenate([self.mcp_flex, self.mcp_abd, self.pip_flex, self.dip_flex,
                               self.cup, self.thumb_cmc, [self.thumb_mcp, self.thumb_ip],
                               self.wrist]).astype(np.float64)

    @classmethod
    def from_vector(cls, v) -> "HandPose":
        """Inverse of :meth:`to_vector`."""
        v = np.asarray(v, dtype=np.float64)
        return cls(mcp_flex=v[0:4].copy(), mcp_abd=v[4:8].copy(), pip_flex=v[8:12].copy(),
                   dip_flex=v[12:16].copy(), cup=v[16:20].copy(), thumb_cmc=v[20:23].copy(),
                   thumb_mcp=float(v[23]), thumb_ip=float(v[24]), wrist=v[25:27].copy())


POSE_VECTOR_SIZE = 27

#: Anatomical limits (degrees), (low, high) per entry of :meth:`HandPose.to_vector`.
LIMITS_DEG = np.array(
    [(-25, 90)] * 4          # MCP flexion (hyperextension to full flexion)
    + [(-12, 25), (-10, 10), (-15, 10), (-30, 12)]  # MCP abduction, toward the thumb
    + [(-5, 110)] * 4        # PIP flexion
    + [(-10, 85)] * 4        # DIP flexion
    + [(0, 4), (0, 4), (0, 10), (0, 18)]  # metacarpal cupping
    + [(-25, 60), (-25, 55), (-25, 45)]    # thumb CMC flexion, abduction, roll
    + [(-15, 65), (-20, 85)]  # thumb MCP, IP flexion
    + [(-55, 55), (-20, 30)],  # wrist flexion, radial deviation
    dtype=np.float64,
)
LIMITS = LIMITS_DEG * DEG

#: Spread direction per long finger when the hand spreads (index toward the thumb,
#: ring and little away from it), scaled by the spread amount.
SPREAD_DIRECTION = np.array([1.0, 0.1, -0.6, -1.2])
#: Ratio DIP flexion / PIP flexion in natural (tendon-coupled) finger motion.
DIP_PIP_RATIO = 2.0 / 3.0
#: Full-curl angles (degrees) for MCP, PIP and DIP of a long finger.
FULL_CURL_DEG = np.array([85.0, 105.0, 70.0])

POSE_FAMILIES = ("open", "relaxed", "fist", "point", "peace", "pinch", "ok", "grasp",
                 "thumbs_up", "claw", "count", "random")


def clip_pose(pose: HandPose) -> HandPose:
    """The pose with every angle clipped to :data:`LIMITS`."""
    v = np.clip(pose.to_vector(), LIMITS[:, 0], LIMITS[:, 1])
    return HandPose.from_vector(v)


def _rot_x(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _rot_y(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rot_z(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def joint_rotation(flexion: float, abduction: float = 0.0, roll: float = 0.0,
                   side_sign: float = 1.0) -> np.ndarray:
    """Local rotation ``(3, 3)`` of a joint: abduction about local Y (sign flipped by
    ``side_sign``), then flexion (``-flexion`` about local X), then roll about the bone."""
    return _rot_y(side_sign * abduction) @ _rot_x(-flexion) @ _rot_z(side_sign * roll)


def _batched_rotations(flex, abd, roll, side_sign):
    """``(N, 3, 3)`` = R_y(side * abd) @ R_x(-flex) @ R_z(side * roll) for angle arrays ``(N,)``."""
    cy, sy = np.cos(side_sign * abd), np.sin(side_sign * abd)
    cx, sx = np.cos(-flex), np.sin(-flex)
    cz, sz = np.cos(side_sign * roll), np.sin(side_sign * roll)
    one, zero = np.ones_like(cx), np.zeros_like(cx)
    ry = np.stack([np.stack([cy, zero, sy], -1), np.stack([zero, one, zero], -1), np.stack([-sy, zero, cy], -1)], -2)
    rx = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, cx, -sx], -1), np.stack([zero, sx, cx], -1)], -2)
    rz = np.stack([np.stack([cz, -sz, zero], -1), np.stack([sz, cz, zero], -1), np.stack([zero, zero, one], -1)], -2)
    return ry @ rx @ rz


def _joint_angles(pose: HandPose):
    """Per-joint (flexion, abduction, roll) arrays ``(25,)`` of a pose."""
    flex, abd, roll = np.zeros(NUM_JOINTS), np.zeros(NUM_JOINTS), np.zeros(NUM_JOINTS)
    flex[WRIST_JOINT], abd[WRIST_JOINT] = pose.wrist[0], pose.wrist[1]
    for i, finger in enumerate(LONG_FINGERS):
        meta, prox, inter, dist, _tip = FINGER_JOINTS[finger]
        flex[meta] = pose.cup[i]
        flex[prox], abd[prox] = pose.mcp_flex[i], pose.mcp_abd[i]
        flex[inter] = pose.pip_flex[i]
        flex[dist] = pose.dip_flex[i]
    meta, prox, dist, _tip = FINGER_JOINTS["thumb"]
    # Thumb base: "abduction" lifts the thumb out of the palm plane (about local X of
    # the metacarpal, like flexion but toward the palm normal), "flexion" sweeps it
    # across the palm (about local Y), roll pronates it to face the fingers.
    flex[meta], abd[meta], roll[meta] = pose.thumb_cmc[1], -pose.thumb_cmc[0], pose.thumb_cmc[2]
    flex[prox] = pose.thumb_mcp
    flex[dist] = pose.thumb_ip
    return flex, abd, roll


def local_rotations(pose: HandPose, side_sign: float) -> np.ndarray:
    """``(25, 3, 3)`` joint-local rotations for :func:`skinning.forward_kinematics`
    (each :func:`joint_rotation` of the joint's angles)."""
    return _batched_rotations(*_joint_angles(pose), side_sign)


# ----------------------------------------------------------------------------- sampling

def _curl_angles(rng, curl, noise_deg):
    """MCP, PIP, DIP flexion (radians) for curl amounts ``(4,)`` in [0, 1]."""
    curl = np.asarray(curl, dtype=np.float64)
    mcp = curl * FULL_CURL_DEG[0] + rng.normal(0, noise_deg, 4)
    pip = curl * FULL_CURL_DEG[1] + rng.normal(0, noise_deg, 4)
    dip = DIP_PIP_RATIO * pip + rng.normal(0, noise_deg * 0.5, 4)
    return mcp * DEG, pip * DEG, dip * DEG


@dataclass
class PoseSamplingConfig:
    """How poses are drawn.

    Attributes:
        family_weights: relative frequency of each family in :data:`POSE_FAMILIES`
            (missing families get weight 0).
        angle_noise_deg: standard deviation of the per-joint noise around a family's
            template (degrees, >= 0).
        wrist_flex_deg, wrist_deviation_deg: uniform ranges of the wrist angles.
        pinch_ik: solve a small IK so that pinch/ok thumbs touch the index tip (and
            fist thumbs lie over the fingers).
        thumb_over_fist_probability: chance that a folded thumb is placed over the
            fingers by the IK (else it stays beside them) (0 .. 1).
    """

    family_weights: dict = field(default_factory=lambda: {
        "open": 1.0, "relaxed": 1.5, "fist": 1.0, "point": 1.0, "peace": 0.6, "pinch": 1.2,
        "ok": 0.6, "grasp": 1.2, "thumbs_up": 0.5, "claw": 0.5, "count": 1.0, "random": 1.5,
    })
    angle_noise_deg: float = 6.0
    wrist_flex_deg: tuple = (-45.0, 45.0)
    wrist_deviation_deg: tuple = (-15.0, 25.0)
    pinch_ik: bool = True
    thumb_over_fist_probability: float = 0.6


def _thumb(rng, kind):
    """Thumb CMC (flex, abd, roll), MCP, IP in degrees for a thumb style."""
    if kind == "open":
        return [rng.uniform(-20, 5), rng.uniform(-10, 20), rng.uniform(-10, 10)], \
            rng.uniform(-10, 15), rng.uniform(-15, 15)
    if kind == "relaxed":
        return [rng.uniform(0, 25), rng.uniform(10, 35), rng.uniform(0, 25)], \
            rng.uniform(0, 30), rng.uniform(0, 35)
    if kind == "across":  # folded over the fingers (fist)
        return [rng.uniform(35, 55), rng.uniform(20, 45), rng.uniform(15, 35)], \
            rng.uniform(30, 60), rng.uniform(20, 60)
    if kind == "opposed":  # facing the fingers (grasp, pinch start)
        return [rng.uniform(20, 45), rng.uniform(30, 50), rng.uniform(20, 40)], \
            rng.uniform(5, 35), rng.uniform(5, 40)
    if kind == "up":  # thumbs up
        return [rng.uniform(-20, 0), rng.uniform(0, 20), rng.uniform(-10, 10)], \
            rng.uniform(-10, 5), rng.uniform(-15, 5)
    raise ValueError(kind)


def sample_pose(rng: np.random.Generator, family: str | None = None,
                config: PoseSamplingConfig | None = None, rig=None, bone_scale=None) -> tuple:
    """Draw a hand pose.

    Args:
        rng: random generator (the only source of randomness).
        family: one of :data:`POSE_FAMILIES`, or None to draw one by
            ``config.family_weights``.
        config: sampling ranges.
        rig: a :class:`skinning.HandRig`, needed for the thumb IK (skipped without it).
        bone_scale: ``(25,)`` bone length factors of the hand (for the IK).

    Returns:
        ``(pose, family)``: a clipped :class:`HandPose` and the family used.
    """
    config = config or PoseSamplingConfig()
    if family is None:
        weights = np.array([config.family_weights.get(f, 0.0) for f in POSE_FAMILIES])
        family = POSE_FAMILIES[rng.choice(len(POSE_FAMILIES), p=weights / weights.sum())]
    noise = config.angle_noise_deg
    spread = rng.uniform(-0.2, 1.0)
    abd_deg = spread * 12.0 * SPREAD_DIRECTION + rng.normal(0, 2.5, 4)
    cup_deg = rng.uniform(0, 1) * np.array([1, 1, 6, 12]) + rng.uniform(0, 3, 4)
    thumb_kind = "relaxed"
    pinch = False
    if family == "open":
        curl = rng.uniform(-0.1, 0.12, 4)
        thumb_kind = "open"
    elif family == "relaxed":
        base = rng.uniform(0.05, 0.4)
        curl = base + np.array([0, 0.05, 0.1, 0.15]) * rng.uniform(0.5, 2) + rng.normal(0, 0.05, 4)
        abd_deg *= 0.5
    elif family == "fist":
        curl = rng.uniform(0.8, 1.0, 4)
        thumb_kind = "across"
        abd_deg *= 0.2
    elif family == "point":
        curl = np.r_[rng.uniform(-0.05, 0.15), rng.uniform(0.75, 1.0, 3)]
        thumb_kind = "across" if rng.random() < 0.6 else "relaxed"
        abd_deg *= 0.3
    elif family == "peace":
        curl = np.r_[rng.uniform(-0.05, 0.12, 2), rng.uniform(0.8, 1.0, 2)]
        thumb_kind = "across"
        abd_deg = np.array([8.0, -6.0, -2.0, -4.0]) + rng.normal(0, 3, 4)
    elif family in ("pinch", "ok"):
        index_curl = rng.uniform(0.3, 0.6)
        others = rng.uniform(0.0, 0.2, 3) if family == "ok" else rng.uniform(0.0, 0.9) + rng.normal(0, 0.08, 3)
        curl = np.r_[index_curl, others]
        thumb_kind = "opposed"
        pinch = True
    elif family == "grasp":
        curl = rng.uniform(0.35, 0.7) + rng.normal(0, 0.06, 4)
        thumb_kind = "opposed"
        abd_deg *= 0.3
    elif family == "thumbs_up":
        curl = rng.uniform(0.85, 1.0, 4)
        thumb_kind = "up"
        abd_deg *= 0.2
    elif family == "claw":
        curl = rng.uniform(0.0, 0.3, 4)
    elif family == "count":
        extended = rng.random(4) < 0.5
        curl = np.where(extended, rng.uniform(-0.05, 0.1, 4), rng.uniform(0.75, 1.0, 4))
        thumb_kind = "open" if rng.random() < 0.5 else "across"
    elif family == "random":
        v = rng.uniform(LIMITS[:, 0], LIMITS[:, 1])
        pose = HandPose.from_vector(v)
        # keep neighbouring fingers from crossing: one spread for all, small noise
        pose.mcp_abd = (spread * 12.0 * SPREAD_DIRECTION + rng.normal(0, 3, 4)) * DEG
        pose.dip_flex = np.clip(DIP_PIP_RATIO * pose.pip_flex + rng.normal(0, 10, 4) * DEG,
                                LIMITS[12:16, 0], LIMITS[12:16, 1])
        pose.wrist = _sample_wrist(rng, config)
        return clip_pose(pose), family
    else:
        raise ValueError(f"unknown pose family {family!r} (choose from {POSE_FAMILIES})")
    curl = np.clip(curl, -0.15, 1.0)
    mcp, pip, dip = _curl_angles(rng, curl, noise)
    if family == "claw":
        pip = rng.uniform(70, 105, 4) * DEG
        dip = DIP_PIP_RATIO * pip + rng.normal(0, 5, 4) * DEG
    cmc, t_mcp, t_ip = _thumb(rng, thumb_kind)
    pose = HandPose(mcp_flex=mcp, mcp_abd=abd_deg * DEG, pip_flex=pip, dip_flex=dip,
                    cup=cup_deg * DEG, thumb_cmc=np.array(cmc) * DEG,
                    thumb_mcp=t_mcp * DEG, thumb_ip=t_ip * DEG, wrist=_sample_wrist(rng, config))
    pose = clip_pose(pose)
    if config.pinch_ik and rig is not None:
        if pinch:
            pose = solve_pinch(rig, pose, bone_scale=bone_scale)
        elif thumb_kind == "across" and rng.random() < config.thumb_over_fist_probability:
            # thumb folded over the middle phalanges of index and middle finger
            pose = solve_pinch(rig, pose, "middle", bone_scale=bone_scale, contact_gap_m=0.017,
                               target_joint_level=2, move_finger=False)
    return pose, family


def _sample_wrist(rng, config):
    return np.array([rng.uniform(*config.wrist_flex_deg), rng.uniform(*config.wrist_deviation_deg)]) * DEG


# ----------------------------------------------------------------------------- pinch IK

#: Finger pairs that touch on purpose in a family (thumb-index in pinches).
TOUCHING_FINGERS = {"pinch": ((0, 1),), "ok": ((0, 1),)}

#: Index into :meth:`HandPose.to_vector` of the thumb parameters the IK adjusts
#: (CMC flex, abd, roll, MCP, IP).
_THUMB_SLICE = slice(20, 25)


def _chain_tip(rest_local, wrist_world, joints, rots, bone_scale):
    """Tip position of a finger chain given the local rotations of its joints."""
    world = wrist_world
    for joint, rot in zip(joints, rots):
        m = rest_local[joint].copy()
        m[:3, :3] = m[:3, :3] @ rot
        m[:3, 3] *= bone_scale[joint]
        world = world @ m
    return world[:3, 3]


def _thumb_tip(rest_local, wrist_world, v, side_sign, bone_scale):
    """Thumb tip position (model frame) for pose vector ``v`` (only the thumb chain)."""
    flex, abd, roll, mcp, ip = v[_THUMB_SLICE]
    rots = (_rot_y(-side_sign * flex) @ _rot_x(-abd) @ _rot_z(side_sign * roll),
            joint_rotation(mcp, 0.0, 0.0, side_sign), joint_rotation(ip, 0.0, 0.0, side_sign), np.eye(3))
    return _chain_tip(rest_local, wrist_world, FINGER_JOINTS["thumb"], rots, bone_scale)


def _finger_tip(rest_local, wrist_world, v, i, side_sign, bone_scale, upto=4):
    """Position (model frame) of joint ``upto`` (4 = tip) of long finger ``i``."""
    rots = (joint_rotation(v[16 + i], 0.0, 0.0, side_sign), joint_rotation(v[i], v[4 + i], 0.0, side_sign),
            joint_rotation(v[8 + i], 0.0, 0.0, side_sign), joint_rotation(v[12 + i], 0.0, 0.0, side_sign),
            np.eye(3))
    return _chain_tip(rest_local, wrist_world, FINGER_JOINTS[LONG_FINGERS[i]][:upto + 1],
                      rots[:upto + 1], bone_scale)


def solve_pinch(rig, pose: HandPose, target_finger: str = "index", bone_scale=None,
                target_joint_level: int = 4, move_finger: bool = True, iterations: int = 12,
                contact_gap_m: float = 0.012, damping: float = 1e-5, tolerance_m: float = 1e-3) -> HandPose:
    """Bring the thumb tip to a joint of ``target_finger`` (a small IK).

    A damped Gauss-Newton (finite-difference Jacobian) on the five thumb angles and,
    with ``move_finger``, the target finger's MCP and PIP flexion (DIP follows PIP);
    angles are clipped to :data:`LIMITS` after every step. The thumb tip is brought to
    ``contact_gap_m`` from the target (tip joints sit inside the pads, so touching pads
    means joints about a finger thickness apart).

    Args:
        rig: the :class:`skinning.HandRig`.
        pose: the pose to start from (not modified).
        target_finger: a long finger name; target_joint_level: which of its joints
            (0 metacarpal .. 3 DIP, 4 tip).
        bone_scale: ``(25,)`` bone length factors the hand will be rendered with.
        iterations: Gauss-Newton steps at most; damping: Levenberg damping (m^2/rad^2);
        tolerance_m: stop when the gap is within this of ``contact_gap_m`` (metres).

    Returns:
        the adjusted pose.
    """
    from .skinning import forward_kinematics

    scale = np.ones(NUM_JOINTS) if bone_scale is None else np.asarray(bone_scale, np.float64)
    rest_local = rig.rest_local()
    world, _ = forward_kinematics(rig, local_rotations(pose, rig.side_sign), scale, rest_local=rest_local)
    wrist_world = world[WRIST_JOINT]
    fi = LONG_FINGERS.index(target_finger)
    params = list(range(20, 25)) + ([fi, 8 + fi] if move_finger else [])
    v = pose.to_vector()
    side = rig.side_sign

    def residual(vec):
        vec = vec.copy()
        vec[12 + fi] = DIP_PIP_RATIO * vec[8 + fi] if move_finger else vec[12 + fi]
        gap = _finger_tip(rest_local, wrist_world, vec, fi, side, scale, target_joint_level) \
            - _thumb_tip(rest_local, wrist_world, vec, side, scale)
        dist = np.linalg.norm(gap)
        return gap - gap / max(dist, 1e-9) * min(contact_gap_m, dist)

    eps = 1e-4
    for _ in range(iterations):
        r = residual(v)
        if np.linalg.norm(r) < tolerance_m:
            break
        jac = np.zeros((3, len(params)))
        for k, p in enumerate(params):
            dv = v.copy()
            dv[p] += eps
            jac[:, k] = (r - residual(dv)) / eps  # d(thumb - finger) / d(param)
        step = np.linalg.solve(jac.T @ jac + damping * np.eye(len(params)), jac.T @ r)
        v[params] = np.clip(v[params] + step, LIMITS[params, 0], LIMITS[params, 1])
    if move_finger:
        v[12 + fi] = np.clip(DIP_PIP_RATIO * v[8 + fi], LIMITS[12 + fi, 0], LIMITS[12 + fi, 1])
    return HandPose.from_vector(v)


def resolve_collisions(rig, pose: HandPose, rng: np.random.Generator, bone_scale=None,
                       min_axis_gap_m: float = 0.010, attempts: int = 25, allowed_pairs=()) -> tuple:
    """Change a pose until no two fingers pass through each other.

    The thumb, when involved, is redrawn: first folded alongside the index finger,
    then from a broad natural range (less and less palmar with every try); long fingers that collide are
    brought toward zero abduction and their curls toward each other.

    Args:
        allowed_pairs: finger index pairs ``(f1, f2)``, ``f1 < f2`` (0 thumb .. 4 little)
            allowed to touch (the thumb and index of a pinch).

    Returns:
        ``(pose, ok)``: the (clipped) pose and whether it is collision-free.
    """
    from .capsules import colliding_fingers
    from .skinning import forward_kinematics

    scale = np.ones(NUM_JOINTS) if bone_scale is None else np.asarray(bone_scale, np.float64)
    rest_local = rig.rest_local()
    v = pose.to_vector()
    for attempt in range(attempts + 1):
        world, _ = forward_kinematics(rig, local_rotations(HandPose.from_vector(v), rig.side_sign), scale,
                                      rest_local=rest_local)
        pairs = colliding_fingers(world[:, :3, 3], min_axis_gap_m) - set(allowed_pairs)
        if not pairs:
            return HandPose.from_vector(v), True
        if attempt == attempts:
            break
        if any(0 in p for p in pairs):
            if attempt < attempts // 3:  # first: thumb folded alongside the index finger
                v[20:25] = np.deg2rad([rng.uniform(20, 50), rng.uniform(-12, 8), rng.uniform(0, 25),
                                       rng.uniform(0, 35), rng.uniform(0, 35)])
            else:  # then anywhere in a broad natural range, less and less palmar
                palmar = 1.0 - attempt / attempts
                v[20:25] = np.deg2rad([rng.uniform(-15, 45), rng.uniform(-15, -15 + 50 * palmar),
                                       rng.uniform(0, 35), rng.uniform(-5, 45), rng.uniform(-10, 50)])
        for f1, f2 in pairs:
            for f in (f1, f2):
                if f > 0:
                    v[4 + f - 1] *= 0.6  # abduction toward neutral
            if f1 > 0 and f2 > 0:  # neighbours curled differently: bring the curls together
                i, j = f1 - 1, f2 - 1
                for base in (0, 8, 12):
                    mean = 0.5 * (v[base + i] + v[base + j])
                    v[base + i] = 0.7 * v[base + i] + 0.3 * mean
                    v[base + j] = 0.7 * v[base + j] + 0.3 * mean
        v = np.clip(v, LIMITS[:, 0], LIMITS[:, 1])
    return HandPose.from_vector(v), False


def interpolate_poses(a: HandPose, b: HandPose, t: float) -> HandPose:
    """Smoothstep blend of two poses, ``t`` in [0, 1]."""
    s = t * t * (3 - 2 * t)
    return HandPose.from_vector((1 - s) * a.to_vector() + s * b.to_vector())



