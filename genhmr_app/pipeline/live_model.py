"""The live stream's model stage as one call: detection in, display-ready person out.

`live_step(ctx, ...)` runs either in the model process (pipeline/model_process.py; its own GIL, so
the window's threads never wait on the model's many small tensor operations: a warm step that takes
20 ms alone took 45 ms in a thread of the window) or, while that process starts or when it cannot,
in the calling thread with a local ModelContext. Both keep their LiveTracker in `ctx.cache`, one per
stream: a new stream number starts a new track.

Only small things cross the process boundary: the detection in; the person (the preview mesh's
vertices, joints, keypoints, tokens) and its display data (normals, uncertainty, the small 2D
overlay) out. The reduced mesh's topology is the same on both sides (body/lod.py is
deterministic), so it is never sent: `attach_reduced` puts it back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from genhmr_app.conditioning.camera import focal_from_fov
from genhmr_app.detection import DetectionResult
from genhmr_app.pipeline import display
from genhmr_app.pipeline.live import LiveSettings, LiveTracker
from genhmr_app.pipeline.reconstructor import PersonReconstruction, ReconstructionSettings

# Live frames between refreshes of the token→joint influence (the uncertainty colours): it moves slowly
# with the pose, and a refresh (~5 ms) every 12 frames was 4% of the live model's time.
LIVE_INFLUENCE_FRAMES = 30
LIVE_OVERLAY_SIDE = 360  # the live 2D mesh overlay is drawn this big (and scaled up): ~6 ms instead of ~40
# The live overlay's triangulation: display.proxy_faces over the preview mesh (body/lod.py) at 4.5 cm
# cells, ~1,500 triangles, shaded by the preview mesh's smooth normals: shaded by their own, slivers
# seen edge-on drew as dark dashes (37-40 dash pixels on a 360 px body, 10-19 smooth; the stills'
# proxy re-indexed into this coarser preview mesh, as before: 72-80). 1.25 ms a frame.
LIVE_OVERLAY_CELL_M = 0.045


@dataclass
class LiveStepResult:
    person: PersonReconstruction | None  # `reduced` stripped (see attach_reduced)
    view: object | None  # pipeline.session.PersonView, `faces` stripped
    focal: float
    timing_ms: dict[str, float]
    note: str  # a restart and why, else ""
    preview: bool  # the vertices are the preview mesh's


class LiveViewBuilder:
    """Display data for live frames (what CoreSession._person_view does for stills, cheaper): the
    tracker already posed the mesh, so nothing is skinned again; the token→joint influence (14 ms)
    changes slowly with the pose and is refreshed every LIVE_INFLUENCE_FRAMES; the 2D overlay is
    drawn small, on a coarse triangulation of the preview mesh."""

    def __init__(self, body_model) -> None:
        self.body = body_model
        self._skin = body_model.smpl.lbs_weights.detach().cpu().numpy().astype(np.float32)
        self._overlay_faces: dict[int, np.ndarray] = {}
        self._influence: list | None = None  # [frames used, (K, 23) influence]

    def overlay_faces(self, reduced) -> np.ndarray:
        """display.proxy_faces (the stills' overlay triangulation) over the mesh the tracker posed: the
        preview mesh when `reduced` is given (indices into its vertices), else the full mesh."""
        key = 0 if reduced is None else len(reduced.vertex_ids)
        if key not in self._overlay_faces:
            ids = np.arange(len(self._skin)) if reduced is None else reduced.vertex_ids
            faces = self.body.faces if reduced is None else reduced.faces
            self._overlay_faces[key] = display.proxy_faces(self.body.mean_rest_vertices()[ids], faces, self._skin[ids],
                                                           cell_m=LIVE_OVERLAY_CELL_M)
        return self._overlay_faces[key]

    def view(self, tokenizer, person: PersonReconstruction, focal: float, width: int, height: int, overlays):
        from genhmr_app.pipeline.session import PersonView

        hyp, reduced = person.best, person.reduced
        faces = reduced.faces if reduced is not None else self.body.faces
        skin = self._skin if reduced is None else self._skin[reduced.vertex_ids]
        if self._influence is None or self._influence[0] >= LIVE_INFLUENCE_FRAMES or \
                self._influence[1].shape[0] != len(hyp.tokens):
            self._influence = [0, display.token_joint_influence(tokenizer, hyp.tokens[None])[0]]
        self._influence[0] += 1
        joint_u = display.joint_uncertainty(self._influence[1], hyp.token_confidence)[None]
        vertex_u = display.vertex_uncertainty(skin, joint_u[0])[None]
        normals = display.vertex_normals(display.to_display(person.vertices), faces)
        overlay = None
        if overlays.fill or overlays.wire:
            overlay = display.rasterize_mesh(person.vertices, self.overlay_faces(reduced), focal, width, height,
                                             fill=overlays.fill, wire=overlays.wire, max_side=LIVE_OVERLAY_SIDE,
                                             normals=display.to_camera(normals))
        return PersonView(person.vertices[None], person.joints[None], joint_u, vertex_u, normals, overlay, [0],
                          faces if reduced is not None else None)


def live_step(ctx, stream: int, detection: DetectionResult, settings: ReconstructionSettings, overlays,
              smoothing: float, t_s: float, hurry: bool = False, live: LiveSettings = LiveSettings()) -> LiveStepResult:
    """One live frame for stream number `stream` (a ModelContext `ctx`, in the model process or not);
    `hurry`: the model stage is behind detection (LiveTracker.step)."""
    import time

    views = ctx.cache.get("live_views")
    if views is None:
        views = ctx.cache["live_views"] = LiveViewBuilder(ctx.recon.body)
    state = ctx.cache.get("live")
    if state is None or state[0] != stream:
        state = ctx.cache["live"] = (stream, LiveTracker(ctx.recon, live))
    tracker = state[1]
    tracker.smoother.strength = smoothing
    w, h = detection.image_width, detection.image_height
    focal = settings.focal_px or focal_from_fov(h, settings.vertical_fov_deg)
    timing: dict[str, float] = {"sample": 0.0, "refine": 0.0, "display": 0.0}
    restarts = tracker.restarts
    person = tracker.step(detection.people[0] if detection.people else None, w, h, focal, settings, timing, t_s,
                          hurry=hurry)
    note = f"full decoding: {tracker.last_restart_reason}" if tracker.restarts != restarts else ""
    view = None
    if person is not None:
        t0 = time.perf_counter()
        view = views.view(ctx.recon.tokenizer, person, focal, w, h, overlays)
        timing["display"] = (time.perf_counter() - t0) * 1000
        view.faces = None
        view.vertices = None  # the person's own (1, V, 3): attach_reduced puts them back, 56 KB less to send
    preview = person is not None and person.reduced is not None
    if person is not None:
        person = replace(person, reduced=None)
    return LiveStepResult(person, view, focal, timing, note, preview)


def attach_reduced(result: LiveStepResult, body_model) -> LiveStepResult:
    """Puts the preview mesh (and the view's vertices, the person's) back on a result that crossed the
    process boundary."""
    if result.view is not None and result.view.vertices is None:
        result.view.vertices = result.person.vertices[None]
    if result.preview and result.person is not None:
        from genhmr_app.body.lod import preview_mesh

        mesh = preview_mesh(body_model)
        result.person = replace(result.person, reduced=mesh)
        result.view.faces = mesh.faces
    return result


def warm_live(ctx) -> None:
    """For the model process's start: the preview mesh and its posing, the overlay triangulation."""
    from genhmr_app.body.lod import preview_mesh

    ctx.recon.preview_body()
    views = ctx.cache["live_views"] = LiveViewBuilder(ctx.recon.body)
    views.overlay_faces(preview_mesh(ctx.recon.body))


def warm_process(ctx) -> None:
    """The model process's warm-up: what live frames and stills need before the first of each."""
    from genhmr_app.pipeline.still_model import warm_still

    warm_live(ctx)
    warm_still(ctx)


__all__ = ["LiveStepResult", "LiveViewBuilder", "attach_reduced", "live_step", "warm_live", "warm_process"]
