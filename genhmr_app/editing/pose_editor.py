"""Editing one person's pose by hand, with the model's help (the annotator's tools, no Qt).

- refit: the user pins keypoints (drags a detected one, adds one the detector missed) and marks others
  wrong or hidden; a refit (PoseFit) runs from the current pose with the pins as constraints far
  stronger than the detector, so the mesh follows the hand. A drag continues one PoseFit from move to
  move (drag_refit, in the model process).
- resample: the user locks the tokens that are right; the masked transformer samples only the rest
  (sampling/maskgit.py with start tokens), at the chosen temperature, into several hypotheses, each
  refined against the same pins.
- rotate_joint: turn one joint about its parent's axes, within joint limits (editing/joint_limits.py).

Every operation takes an EditablePose and returns a new one (nothing is changed in place), so an undo
stack can keep them as they are; only a PoseFit keeps its own state between runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import roma
import torch

from genhmr_app.body.lod import preview_mesh
from genhmr_app.conditioning.camera import project
from genhmr_app.detection.detector import DetectedPerson
from genhmr_app.editing.joint_limits import clamp
from genhmr_app.pipeline import display
from genhmr_app.refinement.refine import RefinementSettings
from genhmr_app.sampling.maskgit import SamplingSettings, iterate
from genhmr_app.tokens.rotation6d import rotmat_to_6d, sixd_to_rotmat

PIN_WEIGHT = 5.0  # a pinned keypoint outweighs five fully visible detected ones (and its loss does not saturate)
EDIT_POSE_PRIOR = 0.02  # per joint (6D): joints stay near where they were unless a pin needs them
EDIT_ORIENT_PRIOR = 2.0  # the body's orientation and place resist an edit more: the limbs move first
EDIT_TRANSL_PRIOR = 20.0
DRAG_STEPS = 1  # refinement steps per mouse move while dragging (one fit continues from move to move)
SETTLE_STEPS = 60  # steps when the drag ends
EDIT_LR = 0.02  # smaller than the pipeline's: an edit starts close to where the user wants it


@dataclass(frozen=True)
class EditablePose:
    """One person's pose as an annotator edits it (camera frame, SMPL conventions)."""

    global_orient: np.ndarray  # (3,) axis-angle
    body_pose: np.ndarray  # (69,) axis-angle
    betas: np.ndarray  # (10,)
    transl: np.ndarray  # (3,) metres
    latents: np.ndarray  # (slots, D) the tokenizer latents body_pose decodes from
    tokens: np.ndarray  # (K,) the codes it came from (-1: none, e.g. after a hand rotation)
    token_confidence: np.ndarray  # (K,)

    def same_as(self, other: EditablePose) -> bool:
        return all(np.array_equal(getattr(self, f), getattr(other, f)) for f in
                   ("global_orient", "body_pose", "betas", "transl", "latents", "tokens"))


@dataclass(frozen=True)
class PoseDisplay:
    """Everything the views draw for a pose, computed off the UI thread."""

    vertices: np.ndarray  # (V, 3) display frame (y up)
    normals: np.ndarray  # (V, 3) unit vertex normals, display frame
    joints: np.ndarray  # (24, 3) camera frame
    keypoints_px: np.ndarray  # (33, 2) the detector's keypoints of this pose in the image
    preview: bool = False  # vertices of the reduced mesh (body/lod.py preview_mesh), not the full one


@dataclass(frozen=True)
class KeypointEdits:
    """The user's word on the detector's 33 keypoints."""

    pins: dict[int, tuple[float, float]] = field(default_factory=dict)  # index → where it really is, px
    ignored: frozenset[int] = frozenset()  # marked wrong or hidden: left out of the fit

    def pin(self, index: int, xy: tuple[float, float]) -> KeypointEdits:
        return KeypointEdits({**self.pins, index: (float(xy[0]), float(xy[1]))}, self.ignored - {index})

    def ignore(self, index: int) -> KeypointEdits:
        return KeypointEdits({k: v for k, v in self.pins.items() if k != index}, self.ignored | {index})


class PoseEditor:
    """Edits for one detected person, with a loaded Reconstructor's models."""

    def __init__(self, reconstructor, person: DetectedPerson, width: int, height: int, focal: float) -> None:
        self.recon = reconstructor
        self.person = person
        self.width, self.height, self.focal = width, height, focal
        self.device = reconstructor.device
        self._cond = None

    # -- conversions -----------------------------------------------------------------------
    def from_hypothesis(self, hyp) -> EditablePose:
        """A pipeline Hypothesis (or anything with its fields) → an EditablePose."""
        tokens = np.asarray(hyp.tokens, np.int64)
        with torch.no_grad():
            if tokens.size:
                latents = self.recon.tokenizer.latents(torch.as_tensor(tokens, device=self.device)[None])[0]
            else:  # the regressor has no tokens: start from the pose's own encoding
                latents = self.recon.tokenizer.encode_latents(_rotmats(hyp.body_pose, 23, self.device))[0]
        return EditablePose(np.asarray(hyp.global_orient, np.float64), np.asarray(hyp.body_pose, np.float64),
                            np.asarray(hyp.betas, np.float64), np.asarray(hyp.transl, np.float64),
                            latents.cpu().numpy(), tokens, np.asarray(hyp.token_confidence, np.float64))

    def keypoints_px(self, pose: EditablePose) -> np.ndarray:
        """(33, 2) where the detector's keypoints of this pose fall in the image (the dragged handles)."""
        with torch.no_grad():
            orient = _rotmats(pose.global_orient, 1, self.device)[:, 0]
            out = self.recon.sparse(orient, _rotmats(pose.body_pose, 23, self.device),
                                    _t(pose.betas, self.device)[None], _t(pose.transl, self.device)[None])
            points = self.recon.detector_like_keypoints(out.mediapipe33, orient)
            return project(points, *self._camera(1)).cpu().numpy()[0]

    # -- edits -----------------------------------------------------------------------------
    def refit(self, pose: EditablePose, edits: KeypointEdits, steps: int = SETTLE_STEPS,
              encode: bool = True) -> EditablePose:
        """Refinement from `pose` with the user's pins and ignored keypoints (see PoseFit)."""
        return PoseFit(self, pose).run(edits, steps, encode)

    def resample(self, pose: EditablePose, locked: set[int], edits: KeypointEdits, temperature: float = 1.0,
                 hypotheses: int = 3, iterations: int = 5, seed: int = 0, refine_steps: int = SETTLE_STEPS
                 ) -> list[EditablePose]:
        """New proposals for the unlocked tokens, the locked ones kept exactly; each refit to the pins
        from the current orientation, shape and position. Best 2D agreement first."""
        model = self.recon.generator
        if model.config.mode != "generate" or pose.tokens.size == 0 or (pose.tokens < 0).any():
            raise ValueError("re-sampling needs the generative model's tokens (not the regressor's or a hand "
                             "rotation's)")
        start = torch.as_tensor(pose.tokens, device=self.device).clone()
        free = torch.ones_like(start, dtype=torch.bool)
        free[sorted(locked)] = False
        start[free] = model.mask_id
        settings = SamplingSettings(iterations, temperature, hypotheses, seed)
        with torch.inference_mode():
            step = None
            for step in iterate(model, self._condition(), settings, start):
                pass
        tokens = step.tokens.clone()
        confidence = np.asarray(step.record.confidence, np.float64)
        proposals = []
        for s in range(hypotheses):
            with torch.no_grad():
                latents = self.recon.tokenizer.latents(tokens[s:s + 1])
                if step.output.latent_offset is not None:  # the generator's continuous detail
                    latents = latents + step.output.latent_offset[s:s + 1]
                body_pose = roma.rotmat_to_rotvec(self.recon.tokenizer.decode_latents(latents)[0]).reshape(-1)
            start_pose = replace(pose, body_pose=body_pose.double().cpu().numpy(), latents=latents[0].cpu().numpy(),
                                 tokens=tokens[s].cpu().numpy(), token_confidence=confidence[s])
            proposals.append(self.refit(start_pose, edits, refine_steps))
        return sorted(proposals, key=lambda p: self.error_px(p, edits))

    def rotate_joint(self, pose: EditablePose, joint: int, euler_deg) -> EditablePose:
        """Set body joint `joint`'s rotation (relative to its parent) to XYZ Euler angles, clamped to
        its limits (editing/joint_limits.py). The tokens are re-encoded to the nearest codes, so the
        edited pose can still be locked and re-sampled."""
        euler = np.radians(clamp(joint, euler_deg))
        rot = roma.euler_to_rotvec("XYZ", torch.as_tensor(euler, dtype=torch.float64)).numpy()
        body_pose = pose.body_pose.copy()
        body_pose[3 * joint:3 * joint + 3] = rot
        with torch.no_grad():
            mats = _rotmats(body_pose, 23, self.device)
            latents = self.recon.tokenizer.encode_latents(mats)[0].cpu().numpy()
            tokens = self.recon.tokenizer.encode(mats)[0].cpu().numpy() if pose.tokens.size else pose.tokens
        return replace(pose, body_pose=body_pose, latents=latents, tokens=tokens)

    def joint_euler_deg(self, pose: EditablePose, joint: int) -> np.ndarray:
        rotvec = torch.as_tensor(pose.body_pose[3 * joint:3 * joint + 3], dtype=torch.float64)
        return np.degrees(roma.rotvec_to_euler("XYZ", rotvec).numpy())

    def mesh(self, pose: EditablePose) -> tuple[np.ndarray, np.ndarray]:
        """Full-resolution (vertices (V, 3), joints (24, 3)), camera frame, for display."""
        with torch.no_grad():
            out = self.recon.body.forward(_rotmats(pose.global_orient, 1, self.device)[:, 0],
                                          _rotmats(pose.body_pose, 23, self.device), _t(pose.betas, self.device)[None],
                                          _t(pose.transl, self.device)[None])
        return out.vertices[0].cpu().numpy(), out.joints[0].cpu().numpy()

    def display(self, pose: EditablePose, preview: bool = False) -> PoseDisplay:
        """What the views draw. A drag asks for this a dozen times a second, so for a body without
        pose correctives (the embedded one) one sparse pass over every vertex gives the mesh, the
        joints and the keypoints together; it is exact there, and about 3x cheaper than the full
        model's pass plus a second one for the keypoints. `preview`: the reduced mesh of body/lod.py
        (while the mouse moves; the pose correctives of a real SMPL, millimetres, are left out)."""
        faces = self.recon.body.faces
        posed = self.recon.preview_body() if preview else _dense_body(self.recon)
        if posed is None:
            vertices, joints = self.mesh(pose)
            shown = display.to_display(vertices)
            return PoseDisplay(shown, display.vertex_normals(shown, faces), joints, self.keypoints_px(pose))
        if preview:
            faces = preview_mesh(self.recon.body).faces
        with torch.no_grad():
            orient = _rotmats(pose.global_orient, 1, self.device)[:, 0]
            out = posed(orient, _rotmats(pose.body_pose, 23, self.device), _t(pose.betas, self.device)[None],
                        _t(pose.transl, self.device)[None])
            points = self.recon.detector_like_keypoints(out.mediapipe33, orient)
            keypoints = project(points, *self._camera(1)).cpu().numpy()[0]
            vertices, joints = out.vertices[0].cpu().numpy(), out.joints[0].cpu().numpy()
        shown = display.to_display(vertices)
        return PoseDisplay(shown, display.vertex_normals(shown, faces), joints, keypoints, preview)

    def error_px(self, pose: EditablePose, edits: KeypointEdits) -> float:
        """Mean distance of the pose's keypoints to the pins, or to the detector's visible keypoints
        when nothing is pinned."""
        px = self.keypoints_px(pose)
        if edits.pins:
            idx = list(edits.pins)
            return float(np.linalg.norm(px[idx] - np.array([edits.pins[i] for i in idx]), axis=-1).mean())
        keep = np.array(self.person.visibility) >= RefinementSettings.min_visibility
        keep[list(edits.ignored)] = False
        return float(np.linalg.norm(px[keep] - self.person.landmarks_px[keep], axis=-1).mean()) if keep.any() else 0.0

    # -- helpers ---------------------------------------------------------------------------
    def _condition(self):
        if self._cond is None:
            self._cond = self.recon.encoder.encode(self.person, self.width, self.height, self.focal).to(self.device)
        return self._cond

    def _camera(self, s: int) -> tuple[torch.Tensor, torch.Tensor]:
        focal = torch.full((s,), float(self.focal), device=self.device)
        wh = torch.tensor([[float(self.width), float(self.height)]], device=self.device).expand(s, 2)
        return focal, wh

    def _crop_size(self) -> torch.Tensor:
        return self._condition().crop[:, 2]


class PoseFit:
    """A refit that can be continued: a drag's mouse moves each run a few steps of one PoseFit.

    The joint rotations themselves are optimised (not the token latents): the decoder mixes every
    latent into every joint, so a hand pulled through the latents drags the spine and the other
    limbs along; a joint rotation only moves what hangs below it. A prior keeps each joint near
    where the run started and the body's orientation and place resist more still, so the limb leading
    to a pin bends first. The detector's other keypoints keep pulling (robustly).

    The pose and the optimiser's moments carry over from run to run. A fresh Adam's first step moves
    every parameter by the learning rate in the sign of its gradient, however small: restarted at each
    mouse move, the whole body jittered and the dragged limb followed slowly."""

    def __init__(self, editor: PoseEditor, pose: EditablePose) -> None:
        dev = self.device = editor.device
        self.editor, self.pose = editor, pose
        self.pose6 = rotmat_to_6d(_rotmats(pose.body_pose, 23, dev)).clone().requires_grad_(True)
        self.orient6 = rotmat_to_6d(_rotmats(pose.global_orient, 1, dev)).clone().requires_grad_(True)
        self.transl = _t(pose.transl, dev)[None].clone().requires_grad_(True)
        self.betas = _t(pose.betas, dev)[None]
        self.optimizer = torch.optim.Adam([self.pose6, self.orient6, self.transl], lr=EDIT_LR)

    def run(self, edits: KeypointEdits, steps: int, encode: bool = True) -> EditablePose:
        """`steps` more steps towards the pins; `encode`: also the tokenizer latents of the result
        (a drag leaves them for the release: one network pass saved per move)."""
        editor, dev = self.editor, self.device
        target = np.array(editor.person.landmarks_px, np.float32)
        visibility = np.array(editor.person.visibility, np.float32)
        pinned = np.zeros(len(target), bool)
        for i, xy in edits.pins.items():
            target[i], pinned[i] = xy, True
        visibility[list(edits.ignored)] = 0.0
        weights = torch.as_tensor(np.where(pinned, PIN_WEIGHT, np.where(visibility >= RefinementSettings.min_visibility,
                                                                         visibility, 0.0)), dtype=torch.float32, device=dev)
        pinned_t = torch.as_tensor(pinned, device=dev)
        target_t = _t(target, dev)
        # The prior holds the pose near where this run starts (not where the drag started: the user
        # may pull a limb far).
        pose6_0, orient6_0, transl_0 = (x.detach().clone() for x in (self.pose6, self.orient6, self.transl))
        focal, wh = editor._camera(1)
        scale = float(editor._crop_size()[0])
        sigma = RefinementSettings.robust_sigma
        recon = editor.recon
        for _ in range(steps):
            orient = sixd_to_rotmat(self.orient6)[:, 0]
            out = recon.sparse(orient, sixd_to_rotmat(self.pose6), self.betas, self.transl)
            px = project(recon.detector_like_keypoints(out.mediapipe33, orient), focal, wh)[0]
            r = (px - target_t).norm(dim=-1) / scale
            per_point = torch.where(pinned_t, r.pow(2) / sigma ** 2, r.pow(2) / (r.pow(2) + sigma ** 2))
            data = (per_point * weights).sum() / weights.sum().clamp_min(1e-6)
            prior = (EDIT_POSE_PRIOR * (self.pose6 - pose6_0).pow(2).sum()
                     + EDIT_ORIENT_PRIOR * (self.orient6 - orient6_0).pow(2).sum()
                     + EDIT_TRANSL_PRIOR * (self.transl - transl_0).pow(2).sum())
            self.optimizer.zero_grad(set_to_none=True)
            (data + prior).backward()
            self.optimizer.step()
        pose = self.pose
        with torch.no_grad():
            body_pose = sixd_to_rotmat(self.pose6)
            latents = recon.tokenizer.encode_latents(body_pose)[0].cpu().numpy() if encode else pose.latents
            self.pose = EditablePose(
                roma.rotmat_to_rotvec(sixd_to_rotmat(self.orient6)[0, 0]).double().cpu().numpy(),
                roma.rotmat_to_rotvec(body_pose[0]).reshape(-1).double().cpu().numpy(),
                pose.betas, self.transl[0].double().cpu().numpy(), latents, pose.tokens,
                pose.token_confidence)
        return self.pose


def drag_refit(ctx, person: DetectedPerson, camera: tuple[int, int, float], pose: EditablePose,
               edits: KeypointEdits, steps: int = DRAG_STEPS, encode: bool = False, drag: int | None = None,
               preview: bool = False) -> tuple[EditablePose, PoseDisplay]:
    """A refit in the model process (pipeline/model_process.py, or any context with `recon` and a
    `cache` dict): a drag move's few warm-started steps (or the release's full settle) and what the
    views draw. The editor for the person is kept between moves (it caches the conditioning the
    refit's scale comes from). `drag`: the drag's number; its moves continue one PoseFit, from the
    newest pose computed here rather than the (possibly older) `pose` the window last drew.
    `preview`: the views get the reduced mesh (a move), not the full one (the release)."""
    key = (hash(np.asarray(person.landmarks_px).tobytes()), camera)
    editor = ctx.cache.get("editor")
    if editor is None or ctx.cache.get("editor_key") != key:
        editor = PoseEditor(ctx.recon, person, *camera)
        ctx.cache.update(editor=editor, editor_key=key, drag=None)
    fit = ctx.cache.get("drag")
    if drag is None or fit is None or fit[0] != drag:
        fit = (drag, PoseFit(editor, pose))
        ctx.cache["drag"] = fit if drag is not None else None
    refit = fit[1].run(edits, steps, encode=encode)
    return refit, editor.display(refit, preview=preview)


def warm_drag_preview(ctx) -> None:
    """For the model process's start (pipeline/model_process.py `warm_up`): the drag preview's mesh
    and body, so the first drag does not wait for them (about 0.6 s)."""
    ctx.recon.preview_body()


def _dense_body(recon):
    """A SparseBody over every vertex, kept on the Reconstructor; None when the body has pose
    correctives (only the full model is exact then)."""
    if recon.body.has_pose_correctives:
        return None
    dense = getattr(recon, "_dense_body", None)
    if dense is None:
        dense = recon._dense_body = recon.keypoint_body(all_vertices=True)
    return dense


def _t(a, device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float32, device=device)


def _rotmats(rotvec, n: int, device) -> torch.Tensor:
    """Axis-angle (n*3,) → (1, n, 3, 3)."""
    return roma.rotvec_to_rotmat(_t(rotvec, device).reshape(1, n, 3))
