"""Joint and keypoint conventions shared by every body model the app loads.

A keypoint is an affine combination of the 24 SMPL joints plus a weighted sum of a few mesh vertices
(`KeypointMap`). That one form covers "this joint", "this surface vertex" and "a point part-way along
the hand", so the same forward code serves the embedded Anny model, the real SMPL and any other
SMPL-format mesh.

Choices that differ from the datasets' own definitions (documented because detectors disagree):
- COCO and MediaPipe hips are the SMPL hip joints, which sit inside the pelvis; detectors tend to
  place hips a little higher and wider (MediaPipe about 1.2x wider).
- Shoulders, elbows, wrists, knees and ankles are the SMPL joints (bone centres, not surface points).
- MediaPipe's eye corners and mouth corners are surface vertices picked geometrically near the eyes
  and nose; MediaPipe's pinky / index / thumb are the knuckles (pinky_1, index_1, thumb_2 in
  BlazePose), approximated from the hand's vertices or as points ahead of the SMPL hand joint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "l_hip", "r_hip", "spine1", "l_knee", "r_knee", "spine2", "l_ankle", "r_ankle",
    "spine3", "l_foot", "r_foot", "neck", "l_collar", "r_collar", "head", "l_shoulder",
    "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist", "l_hand", "r_hand",
)  # fmt: skip
NUM_JOINTS = len(SMPL_JOINT_NAMES)
J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}

SMPL_PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

# Joint i's mirror image (left <-> right); centre-line joints map to themselves.
def _mirror_name(name: str) -> str:
    side = {"l_": "r_", "r_": "l_"}.get(name[:2])
    return side + name[2:] if side else name


SMPL_MIRROR: tuple[int, ...] = tuple(J[_mirror_name(n)] for n in SMPL_JOINT_NAMES)

COCO17_NAMES: tuple[str, ...] = (
    "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
    "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
)  # fmt: skip

MEDIAPIPE33_NAMES: tuple[str, ...] = (
    "nose", "l_eye_inner", "l_eye", "l_eye_outer", "r_eye_inner", "r_eye", "r_eye_outer",
    "l_ear", "r_ear", "mouth_left", "mouth_right", "l_shoulder", "r_shoulder", "l_elbow",
    "r_elbow", "l_wrist", "r_wrist", "l_pinky", "r_pinky", "l_index", "r_index", "l_thumb",
    "r_thumb", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle", "l_heel", "r_heel",
    "l_foot_index", "r_foot_index",
)  # fmt: skip

# The order smplx's VertexJointSelector expects for its five face points.
FACE_VERTEX_NAMES: tuple[str, ...] = ("nose", "reye", "leye", "rear", "lear")

# Real SMPL (6,890 vertices): the ids smplx itself uses for SMPL/SMPL-H (smplx.vertex_ids 'smplh').
SMPL_VERTEX_IDS: dict[str, int] = {
    "nose": 332, "reye": 6260, "leye": 2800, "rear": 4071, "lear": 583,
    "lthumb": 2746, "lindex": 2319, "lpinky": 2673, "rthumb": 6191, "rindex": 5782, "rpinky": 6133,
    "LBigToe": 3216, "LHeel": 3387, "RBigToe": 6617, "RHeel": 6787,
}  # fmt: skip
SMPL_NUM_VERTICES = 6890

# The joint-only keypoints, identical for every model.
_JOINT_KEYPOINTS: dict[str, str] = {
    "l_shoulder": "l_shoulder", "r_shoulder": "r_shoulder", "l_elbow": "l_elbow", "r_elbow": "r_elbow",
    "l_wrist": "l_wrist", "r_wrist": "r_wrist", "l_hip": "l_hip", "r_hip": "r_hip",
    "l_knee": "l_knee", "r_knee": "r_knee", "l_ankle": "l_ankle", "r_ankle": "r_ankle",
}  # fmt: skip

# A term of a keypoint: ("j", joint index, weight) or ("v", vertex index, weight).
Term = tuple[str, int, float]
KeypointSpec = Mapping[str, Sequence[Term]]


@dataclass(frozen=True)
class KeypointMap:
    """keypoints = joint_weights @ joints + sum_s vertex_weights[:, s] * vertices[vertex_ids[:, s]]."""

    names: tuple[str, ...]
    joint_weights: torch.Tensor  # (K, 24)
    vertex_ids: torch.Tensor  # (K, S) long; unused slots point at vertex 0 with weight 0
    vertex_weights: torch.Tensor  # (K, S)

    @classmethod
    def from_spec(cls, names: Sequence[str], spec: KeypointSpec, dtype: torch.dtype = torch.float32) -> KeypointMap:
        missing = [n for n in names if n not in spec]
        if missing:
            raise ValueError(f"keypoints without a definition: {missing}")
        slots = max(1, max(sum(1 for t in spec[n] if t[0] == "v") for n in names))
        jw = np.zeros((len(names), NUM_JOINTS))
        vid = np.zeros((len(names), slots), dtype=np.int64)
        vw = np.zeros((len(names), slots))
        for k, name in enumerate(names):
            s = 0
            for kind, index, weight in spec[name]:
                if kind == "j":
                    jw[k, index] += weight
                elif kind == "v":
                    vid[k, s], vw[k, s] = index, weight
                    s += 1
                else:
                    raise ValueError(f"unknown term kind {kind!r} in keypoint {name!r}")
        return cls.from_arrays(names, jw, vid, vw, dtype)

    @classmethod
    def from_arrays(
        cls, names: Sequence[str], joint_weights, vertex_ids, vertex_weights, dtype: torch.dtype = torch.float32
    ) -> KeypointMap:
        jw = torch.as_tensor(np.asarray(joint_weights), dtype=dtype)
        vid = torch.as_tensor(np.asarray(vertex_ids, dtype=np.int64))
        vw = torch.as_tensor(np.asarray(vertex_weights), dtype=dtype)
        k = len(names)
        if jw.shape != (k, NUM_JOINTS) or vid.ndim != 2 or vid.shape[0] != k or vw.shape != vid.shape:
            raise ValueError(
                f"keypoint arrays have shapes {tuple(jw.shape)}, {tuple(vid.shape)}, {tuple(vw.shape)}; "
                f"expected ({k}, {NUM_JOINTS}), ({k}, S), ({k}, S)"
            )
        # Weights must sum to one, or the keypoints would not follow the body's translation.
        total = jw.sum(1) + vw.sum(1)
        if not torch.allclose(total, torch.ones_like(total), atol=1e-4):
            raise ValueError("keypoint weights do not sum to one")
        return cls(tuple(names), jw, vid, vw)

    def to(self, device: torch.device | str) -> KeypointMap:
        return KeypointMap(
            self.names, self.joint_weights.to(device), self.vertex_ids.to(device), self.vertex_weights.to(device)
        )

    def max_vertex_id(self) -> int:
        return int(self.vertex_ids.max())

    def apply(self, joints: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
        """joints (B, 24, 3), vertices (B, V, 3) -> (B, K, 3)."""
        k, s = self.vertex_ids.shape
        out = torch.einsum("kj,bjc->bkc", self.joint_weights, joints)
        picked = vertices[:, self.vertex_ids.reshape(-1)].reshape(vertices.shape[0], k, s, 3)
        return out + torch.einsum("ks,bksc->bkc", self.vertex_weights, picked)


def _nearest(vertices: np.ndarray, target: np.ndarray, candidates: np.ndarray | None = None) -> int:
    idx = np.arange(len(vertices)) if candidates is None or len(candidates) == 0 else candidates
    return int(idx[np.argmin(np.linalg.norm(vertices[idx] - target, axis=1))])


def guess_face_vertex_ids(v_template: np.ndarray, joints: np.ndarray) -> dict[str, int]:
    """Face points for an SMPL-format mesh of unknown topology, from the rest mesh (Y up, facing +Z).

    The offsets are typical adult head proportions relative to the SMPL head joint; the result is
    only as good as that guess, which is why known topologies use fixed ids instead.
    """
    head, neck = joints[J["head"]], joints[J["neck"]]
    band = np.flatnonzero((v_template[:, 1] > neck[1]) & (np.abs(v_template[:, 0]) < 0.025))
    nose = _nearest(v_template, head + [0.0, 0.02, 0.15], band) if len(band) else _nearest(v_template, head)
    if len(band):
        # The nose tip is the most forward point of the face's midline band.
        near = band[np.abs(v_template[band, 1] - v_template[nose, 1]) < 0.05]
        nose = int(near[np.argmax(v_template[near, 2])]) if len(near) else nose
    n = v_template[nose]
    return {
        "nose": nose,
        "leye": _nearest(v_template, n + [0.032, 0.035, -0.02]),
        "reye": _nearest(v_template, n + [-0.032, 0.035, -0.02]),
        "lear": _nearest(v_template, [head[0] + 0.075, n[1] + 0.02, head[2] - 0.0]),
        "rear": _nearest(v_template, [head[0] - 0.075, n[1] + 0.02, head[2] - 0.0]),
    }


def derive_face_details(v_template: np.ndarray, face_ids: Mapping[str, int]) -> dict[str, int]:
    """Eye corners and mouth corners as surface vertices near where faces usually have them.

    Scaled by the distance between the eyes so that it works for any head size; this is the
    approximation MediaPipe's landmarks 1, 3, 4, 6, 9 and 10 get on every model.
    """
    le, re, nose = (v_template[face_ids[k]] for k in ("leye", "reye", "nose"))
    d = float(np.linalg.norm(le - re)) or 0.06
    lateral = (le - re) / d  # towards the body's left (+X)
    up = np.array([0.0, 1.0, 0.0])
    fwd = np.cross(lateral, up)  # +Z when the face looks along +Z
    # Only the front of the head: keeps the snap away from ears and the inside of the mouth.
    centre = (le + re) / 2
    front = np.flatnonzero(((v_template - centre) @ fwd > -0.3 * d) & (np.linalg.norm(v_template - centre, axis=1) < 2.5 * d))

    def snap(p: np.ndarray) -> int:
        return _nearest(v_template, p, front)

    return {
        "l_eye_inner": snap(le - 0.2 * d * lateral - 0.08 * d * up - 0.05 * d * fwd),
        "l_eye_outer": snap(le + 0.2 * d * lateral - 0.08 * d * up - 0.2 * d * fwd),
        "r_eye_inner": snap(re + 0.2 * d * lateral - 0.08 * d * up - 0.05 * d * fwd),
        "r_eye_outer": snap(re - 0.2 * d * lateral - 0.08 * d * up - 0.2 * d * fwd),
        "mouth_left": snap(nose - 0.7 * d * up + 0.36 * d * lateral - 0.4 * d * fwd),
        "mouth_right": snap(nose - 0.7 * d * up - 0.36 * d * lateral - 0.4 * d * fwd),
    }


def _face_spec(face_ids: Mapping[str, int]) -> dict[str, list[Term]]:
    return {
        "nose": [("v", face_ids["nose"], 1.0)],
        "l_eye": [("v", face_ids["leye"], 1.0)],
        "r_eye": [("v", face_ids["reye"], 1.0)],
        "l_ear": [("v", face_ids["lear"], 1.0)],
        "r_ear": [("v", face_ids["rear"], 1.0)],
    }


def coco17_spec(face_ids: Mapping[str, int]) -> dict[str, list[Term]]:
    spec: dict[str, list[Term]] = _face_spec(face_ids)
    spec.update({k: [("j", J[j], 1.0)] for k, j in _JOINT_KEYPOINTS.items()})
    return spec


def mediapipe33_spec(
    face_ids: Mapping[str, int],
    face_details: Mapping[str, int],
    hands: Mapping[str, Sequence[Term]],
    feet: Mapping[str, Sequence[Term]],
) -> dict[str, list[Term]]:
    """hands: l/r_pinky, l/r_index, l/r_thumb; feet: l/r_heel, l/r_foot_index."""
    spec = coco17_spec(face_ids)
    spec.update({k: [("v", v, 1.0)] for k, v in face_details.items()})
    spec.update({k: list(v) for k, v in hands.items()})
    spec.update({k: list(v) for k, v in feet.items()})
    return spec


def _smpl_hand_terms() -> dict[str, list[Term]]:
    # SMPL's hand joint sits near the middle knuckle; a third of the way to a fingertip lands near
    # that finger's knuckle, which is where BlazePose puts pinky_1 / index_1 / thumb_2.
    ids = SMPL_VERTEX_IDS
    out: dict[str, list[Term]] = {}
    for side, hand, wrist in (("l", J["l_hand"], J["l_wrist"]), ("r", J["r_hand"], J["r_wrist"])):
        out[f"{side}_pinky"] = [("j", hand, 0.7), ("v", ids[f"{side}pinky"], 0.3)]
        out[f"{side}_index"] = [("j", hand, 0.7), ("v", ids[f"{side}index"], 0.3)]
        out[f"{side}_thumb"] = [("j", wrist, 0.45), ("j", hand, 0.25), ("v", ids[f"{side}thumb"], 0.3)]
    return out


def _generic_hand_terms() -> dict[str, list[Term]]:
    # No finger vertices are known for an unfamiliar mesh: extrapolate a little past the hand joint
    # along the wrist -> hand direction (an affine combination, so it still follows the pose).
    out: dict[str, list[Term]] = {}
    for side, hand, wrist in (("l", J["l_hand"], J["l_wrist"]), ("r", J["r_hand"], J["r_wrist"])):
        out[f"{side}_pinky"] = [("j", hand, 1.1), ("j", wrist, -0.1)]
        out[f"{side}_index"] = [("j", hand, 1.1), ("j", wrist, -0.1)]
        out[f"{side}_thumb"] = [("j", hand, 0.5), ("j", wrist, 0.5)]
    return out


def _generic_feet(v_template: np.ndarray, joints: np.ndarray) -> dict[str, list[Term]]:
    out: dict[str, list[Term]] = {}
    for side in ("l", "r"):
        ankle, foot = joints[J[f"{side}_ankle"]], joints[J[f"{side}_foot"]]
        floor = float(v_template[:, 1].min())
        heel = np.array([ankle[0], floor, ankle[2] - 0.04])
        toe = foot + (foot - ankle) * np.array([0.0, 0.0, 0.8])
        toe[1] = floor
        out[f"{side}_heel"] = [("v", _nearest(v_template, heel), 1.0)]
        out[f"{side}_foot_index"] = [("v", _nearest(v_template, toe), 1.0)]
    return out


def smpl_keypoint_maps(v_template: np.ndarray, joints: np.ndarray) -> tuple[dict[str, int], KeypointMap, KeypointMap]:
    """Face ids and keypoint maps for an SMPL-format pickle: fixed ids for SMPL's own 6,890-vertex
    topology, geometric guesses for anything else."""
    if len(v_template) == SMPL_NUM_VERTICES:
        face = {k: SMPL_VERTEX_IDS[k] for k in FACE_VERTEX_NAMES}
        hands = _smpl_hand_terms()
        ids = SMPL_VERTEX_IDS
        feet: dict[str, list[Term]] = {
            "l_heel": [("v", ids["LHeel"], 1.0)],
            "r_heel": [("v", ids["RHeel"], 1.0)],
            "l_foot_index": [("v", ids["LBigToe"], 1.0)],
            "r_foot_index": [("v", ids["RBigToe"], 1.0)],
        }
    else:
        face = guess_face_vertex_ids(v_template, joints)
        hands = _generic_hand_terms()
        feet = _generic_feet(v_template, joints)
    details = derive_face_details(v_template, face)
    coco = KeypointMap.from_spec(COCO17_NAMES, coco17_spec(face))
    mp = KeypointMap.from_spec(MEDIAPIPE33_NAMES, mediapipe33_spec(face, details, hands, feet))
    return face, coco, mp
