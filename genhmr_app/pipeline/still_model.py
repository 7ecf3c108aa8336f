"""The still path's model work as one call: a detection in, the reconstruction and what the views
draw out. The window's still requests (a photo, a paused video frame, a slider release) run it in the
model process (pipeline/model_process.py) when that is up, so the window's threads never wait on the
model for the GIL: in a thread of the window, a slider release's compute took ~210 ms against ~105 ms
alone. Without the process it runs in the caller's thread (CoreSession.process).

The per-iteration confidence does not stream out of the process; the finished reconstruction carries
every iteration's record, and the plot shows them when the result arrives (the sampling takes ~30 ms).
"""

from __future__ import annotations

import time

import numpy as np

from genhmr_app.pipeline import display


class StillViewData:
    """What display data for stills needs from the body model, worked out once: skinning weights and
    the overlay's coarse triangulation (display.proxy_faces)."""

    def __init__(self, body_model) -> None:
        self.body = body_model
        self.skin = body_model.smpl.lbs_weights.detach().cpu().numpy().astype(np.float32)
        self._overlay_faces: np.ndarray | None = None

    def overlay_faces(self) -> np.ndarray:
        if self._overlay_faces is None:
            self._overlay_faces = display.proxy_faces(self.body.mean_rest_vertices(), self.body.faces, self.skin)
        return self._overlay_faces


def person_view(recon, data: StillViewData, reconstruction, person, overlays):
    """Display-ready data for one person of a still (pipeline.session.PersonView): every hypothesis
    posed on the full mesh, the per-joint and per-vertex uncertainty from token confidence, the 2D
    overlay of the best hypothesis and its normals."""
    import torch

    from genhmr_app.pipeline.session import PersonView

    hyps = person.hypotheses
    with torch.no_grad():
        out = recon.body.forward(np.stack([h.global_orient for h in hyps]), np.stack([h.body_pose for h in hyps]),
                                 np.stack([h.betas for h in hyps]), np.stack([h.transl for h in hyps]))
    vertices = out.vertices.cpu().numpy()
    joints = out.joints.cpu().numpy()
    influence = display.token_joint_influence(recon.tokenizer, np.stack([h.tokens for h in hyps]))
    joint_u = np.stack([display.joint_uncertainty(infl, h.token_confidence) for infl, h in zip(influence, hyps)])
    vertex_u = np.stack([display.vertex_uncertainty(data.skin, u) for u in joint_u])
    overlay = None
    if overlays.fill or overlays.wire:
        overlay = display.rasterize_mesh(vertices[0], data.overlay_faces(), reconstruction.focal_px,
                                         reconstruction.width, reconstruction.height, fill=overlays.fill,
                                         wire=overlays.wire)
    normals = display.vertex_normals(display.to_display(vertices[0]), data.body.faces)
    rows = display.sample_rows(person.iterations[-1].codes, [h.tokens for h in hyps]) if person.iterations else []
    return PersonView(vertices, joints, joint_u, vertex_u, normals, overlay, rows)


def still_step(ctx, detection, settings, overlays) -> tuple[object, list, float]:
    """(Reconstruction, [PersonView per person], display ms) for a ModelContext `ctx`."""
    data = ctx.cache.get("still_views")
    if data is None:
        data = ctx.cache["still_views"] = StillViewData(ctx.recon.body)
    reconstruction = ctx.recon.reconstruct_detection(detection, settings)
    t0 = time.perf_counter()
    views = [person_view(ctx.recon, data, reconstruction, person, overlays) for person in reconstruction.people]
    return reconstruction, views, (time.perf_counter() - t0) * 1000


def warm_still(ctx) -> None:
    """For the model process's start: the overlay triangulation (~0.2 s) before the first still."""
    data = ctx.cache["still_views"] = StillViewData(ctx.recon.body)
    data.overlay_faces()


__all__ = ["StillViewData", "person_view", "still_step", "warm_still"]
