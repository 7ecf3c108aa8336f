"""A track in a world frame: camera → world, a ground plane from foot contacts, feet locked on contact.

The reconstruction lives in the camera frame (OpenCV: y down, z forward). The world frame turns it
upright (Y up, metres) and then levels it on a ground plane fitted to the feet while they are in
contact, so the ground is y = 0 even when the camera looked down at the person. A foot is in contact
when it is near the ground and nearly still; during each contact the root translation is corrected so
the stance foot stays where it landed (the classic cure for foot skate), without jumps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genhmr_app.body.keypoints import J

CAMERA_TO_WORLD = np.diag([1.0, -1.0, -1.0])  # OpenCV camera → Y up, the camera looking along -Z
FOOT_JOINTS = (J["l_ankle"], J["r_ankle"], J["l_foot"], J["r_foot"])
FEET = ((J["l_ankle"], J["l_foot"]), (J["r_ankle"], J["r_foot"]))


@dataclass(frozen=True)
class ContactSettings:
    max_height: float = 0.05  # metres above the foot's usual lowest height
    lower_by: float = 0.03  # the planted foot is the lower one by at least this much (or both are down)
    max_speed: float = 1.0  # metres per second: a foot moving faster is swinging, whatever its height
    min_frames: int = 3


def to_world(global_orient_cam: np.ndarray, pelvis_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 3, 3), (T, 3) in the camera frame → upright world frame."""
    return CAMERA_TO_WORLD @ global_orient_cam, pelvis_cam @ CAMERA_TO_WORLD.T


def fit_ground(joints: np.ndarray) -> np.ndarray:
    """(T, 24, 3) world joints → a rotation (3, 3) and height that level the ground: returns (4, 4).

    The lowest foot point of each frame that is nearly still is a ground sample; a plane fitted to
    them by least squares (y = a x + b z + c) gives the ground's tilt; the transform rotates its
    normal onto +Y and moves it to y = 0."""
    feet = joints[:, list(FOOT_JOINTS)]  # (T, 4, 3)
    low = feet[np.arange(len(feet)), feet[..., 1].argmin(1)]  # (T, 3)
    speed = np.r_[np.linalg.norm(np.diff(low, axis=0), axis=-1), np.inf]
    still = speed < np.quantile(speed[np.isfinite(speed)], 0.5) if len(low) > 3 else np.ones(len(low), bool)
    pts = low[still] if still.sum() >= 3 else low
    transform = np.eye(4)
    if len(pts) >= 3 and np.ptp(pts[:, [0, 2]], axis=0).min() > 0.2:
        a, b, c = np.linalg.lstsq(np.c_[pts[:, 0], pts[:, 2], np.ones(len(pts))], pts[:, 1], rcond=None)[0]
        normal = np.array([-a, 1.0, -b]) / np.linalg.norm([-a, 1.0, -b])
        transform[:3, :3] = _rotation_between(normal, np.array([0.0, 1.0, 0.0]))
    # Height: the ground sits at the low percentile of the (levelled) foot points.
    levelled = pts @ transform[:3, :3].T
    transform[1, 3] = -np.percentile(levelled[:, 1], 10)
    return transform


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    v, c = np.cross(a, b), float(np.dot(a, b))
    if np.linalg.norm(v) < 1e-9:
        return np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def foot_contacts(joints: np.ndarray, fps: float, settings: ContactSettings = ContactSettings()) -> np.ndarray:
    """(T, 24, 3) world joints on a level ground → (T, 2) bool contacts for the left and right foot.

    Reconstructed feet jitter, so speed alone misses most contacts; height is the steadier cue. A foot
    is down when it is clearly the lower of the two, or when both are near the ground, and it is not
    moving like a swinging foot. Runs shorter than `min_frames` are dropped."""
    t = len(joints)
    height, speed = np.zeros((t, 2)), np.zeros((t, 2))
    for side, (ankle, toe) in enumerate(FEET):
        point = joints[:, [ankle, toe]]  # both the ankle and the toes
        height[:, side] = point[..., 1].min(1)
        speed[:, side] = np.linalg.norm(np.gradient(point.mean(1), axis=0), axis=-1) * fps
    height = height - np.percentile(height, 10, axis=0)  # each foot's own lowest, whatever its joint offset
    contact = np.zeros((t, 2), bool)
    for side in range(2):
        mine, other = height[:, side], height[:, 1 - side]
        lower = mine < other - settings.lower_by
        both_down = (np.abs(mine - other) <= settings.lower_by) & (mine < settings.max_height)
        c = (lower | both_down) & (mine < 2 * settings.max_height) & (speed[:, side] < settings.max_speed)
        contact[:, side] = _drop_short_runs(c, settings.min_frames)
    return contact


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(int), 0]))
    return list(zip(edges[::2], edges[1::2]))


def _drop_short_runs(mask: np.ndarray, min_len: int) -> np.ndarray:
    out = np.zeros_like(mask)
    for a, b in _runs(mask):
        if b - a >= min_len:
            out[a:b] = True
    return out


def lock_feet(joints: np.ndarray, contacts: np.ndarray) -> np.ndarray:
    """(T, 3) horizontal root corrections that keep the stance foot where it was planted.

    One foot is locked at a time: the one that has been down the longest. When it lifts, the other
    foot (if down) is anchored where it is at that moment, so the correction never jumps; between
    contacts the correction is held. Heights are left to the ground plane."""
    t = len(joints)
    feet = np.stack([joints[:, [ankle, toe]].mean(1) for ankle, toe in FEET], axis=1)  # (T, 2, 3)
    correction = np.zeros((t, 3))
    since: dict[int, int] = {}
    locked, anchor = None, None
    previous = np.zeros(3)
    for i in range(t):
        for side in range(2):
            if contacts[i, side]:
                since.setdefault(side, i)
            else:
                since.pop(side, None)
        if locked not in since:
            locked = min(since, key=since.get) if since else None
            anchor = feet[i, locked] + previous if locked is not None else None
        current = anchor - feet[i, locked] if locked is not None else previous.copy()
        current[1] = 0.0
        correction[i] = previous = current
    return correction


def foot_skate(joints: np.ndarray, contacts: np.ndarray) -> float:
    """Mean horizontal distance (m) of a contact foot from where its contact began, over contact frames."""
    dist = []
    for side, (ankle, toe) in enumerate(FEET):
        foot = joints[:, [ankle, toe]].mean(1)
        for a, b in _runs(contacts[:, side]):
            d = foot[a:b] - foot[a]
            dist.append(np.linalg.norm(d[:, [0, 2]], axis=-1))
    return float(np.concatenate(dist).mean()) if dist else 0.0
