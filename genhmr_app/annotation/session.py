"""One open annotation project: frames, edits with autosave, the review queue, pre-annotation.

The window calls this (no Qt here). Every change goes through `change_frame`, which replaces the
frame's record and saves at once (ProjectStore.save: atomic, backed up, conflict-checked). A save that
fails keeps the change in memory and reports why; the next change tries again.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from genhmr_app.annotation.project import (
    STATES,
    FrameAnnotation,
    OpenedProject,
    Project,
    ProjectError,
    ProjectSaveError,
    ProjectStore,
    now,
)

log = logging.getLogger(__name__)

PROJECT_SUFFIX = ".genhmr.json"


def default_project_file(media: Path) -> Path:
    media = Path(media)
    return media.parent / f"{media.name}{PROJECT_SUFFIX}"


class AnnotationSession:
    def __init__(self, project_file: Path, media: Path | None = None) -> None:
        """Open `project_file`, or create it for `media` when it does not exist yet."""
        self.store = ProjectStore(project_file)
        self.project_file = Path(project_file)
        if self.project_file.exists():
            self.opened = self.store.open()
        elif media is not None:
            project = Project.for_media(media)
            self.store.create(project)
            self.opened = OpenedProject(project, [], False, False)
        else:
            raise ProjectError(f"the project file {project_file} does not exist (give the media to create it)")
        self.project = self.opened.project
        self.notices = list(self.opened.notices)
        self.last_save_error: str | None = None
        self.unsaved = False
        self._lock = threading.RLock()  # the window's edits and the pre-annotation thread both change frames
        self.on_saving: Callable[[], None] | None = None  # told mid-autosave, its temporary file written (automation)
        self.store.acquire()

    @property
    def media(self) -> Path:
        return self.project.media_path(self.project_file)

    def relocate_media(self, new_media: Path) -> None:
        if not Path(new_media).exists():
            raise ProjectError(f"{new_media} does not exist")
        self.project.media = str(Path(new_media).resolve())
        self._save()

    def close(self) -> None:
        if self.unsaved:
            self._save()
        self.store.release()

    # -- frames ------------------------------------------------------------------------------
    def frame(self, index: int) -> FrameAnnotation:
        return self.project.frames[index]

    def change_frame(self, index: int, new: FrameAnnotation, edited: bool = True) -> str | None:
        """Replace frame `index` (the undo stack keeps the old one) and autosave. Returns the save
        error for the user, or None."""
        with self._lock:
            return self._change_frame(index, new, edited)

    def _change_frame(self, index: int, new: FrameAnnotation, edited: bool) -> str | None:
        new = copy.deepcopy(new)
        if edited:
            prov = dict(new.provenance)
            prov["edited_at"] = now()
            prov["edits"] = int(prov.get("edits", 0)) + 1
            new.provenance = prov
        self.project.frames[index] = new
        self.project.edits += 1
        return self._save()

    def set_state(self, index: int, state: str) -> str | None:
        if state not in STATES:
            raise ValueError(f"review state must be one of {STATES}")
        new = copy.deepcopy(self.frame(index))
        new.set_state(state)
        return self.change_frame(index, new, edited=False)

    def copy_previous_pose(self, index: int) -> FrameAnnotation | None:
        """The nearest earlier frame that was accepted or corrected, its pose, pins and locks copied
        onto this frame (not saved: the caller applies it as an edit)."""
        for j in range(index - 1, -1, -1):
            source = self.frame(j)
            if source.smpl is not None and source.state in ("accepted", "corrected"):
                new = copy.deepcopy(self.frame(index))
                new.smpl, new.tokens, new.token_confidence = (copy.deepcopy(source.smpl), copy.deepcopy(source.tokens),
                                                              copy.deepcopy(source.token_confidence))
                new.pins, new.locks = dict(source.pins), list(source.locks)
                new.provenance = {**new.provenance, "source": "copied", "copied_from": source.key}
                return new
        return None

    def queue(self, states: tuple[str, ...] = STATES, by_uncertainty: bool = False) -> list[int]:
        """Frame indices to review: those in `states`, least confident first if asked."""
        idx = [i for i, f in enumerate(self.project.frames) if f.state in states]
        if by_uncertainty:
            idx.sort(key=lambda i: (-self.project.frames[i].uncertainty, i))
        return idx

    def _save(self) -> str | None:
        try:
            self.store.save(self.project, on_writing=self.on_saving)
        except ProjectSaveError as exc:
            self.unsaved = True
            self.last_save_error = str(exc)
            log.warning("%s", exc)
            return self.last_save_error
        self.unsaved = False
        self.last_save_error = None
        return None

    # -- media and pre-annotation ------------------------------------------------------------
    def frame_rgb(self, index: int) -> np.ndarray:
        """The frame's picture (RGB); ProjectError when the media cannot be read."""
        media = self.media
        if not media.exists():
            raise ProjectError(f"the media are not at {media} any more; point to their new place")
        if self.project.kind == "images":
            from genhmr_app.image.loading import ImageLoadError, load_image

            try:
                return load_image(media / self.frame(index).key).rgb
            except (ImageLoadError, OSError) as exc:
                raise ProjectError(f"cannot read {self.frame(index).key}: {exc}") from exc
        import cv2

        cap = cv2.VideoCapture(str(media))
        try:
            cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, bgr = cap.read()
        finally:
            cap.release()
        if not ok or bgr is None:
            raise ProjectError(f"frame {index} of {media.name} cannot be read")
        return np.ascontiguousarray(bgr[..., ::-1])

    def preannotate(self, reconstructor, settings=None, should_stop: Callable[[], bool] | None = None,
                    on_frame: Callable[[int, int], None] | None = None, indices: list[int] | None = None) -> int:
        """Run the model on every frame that has no result yet (never on one a person touched).
        Saves after each frame; returns how many were filled."""
        from genhmr_app.pipeline.reconstructor import ReconstructionSettings

        settings = settings or ReconstructionSettings()
        todo = [i for i in (indices if indices is not None else range(len(self.project.frames)))
                if self.frame(i).smpl is None and self.frame(i).state == "unreviewed" and not self.frame(i).provenance]
        filled = 0
        for n, i in enumerate(todo):
            if should_stop is not None and should_stop():
                break
            try:
                rgb = self.frame_rgb(i)
            except ProjectError as exc:
                log.warning("%s", exc)
                continue
            recon = reconstructor.run(rgb, settings)
            with self._lock:
                current = self.frame(i)
                if current.smpl is not None or current.provenance:  # the user got there first
                    continue
                self.change_frame(i, frame_from_reconstruction(current, recon, reconstructor), edited=False)
            filled += 1
            if on_frame is not None:
                on_frame(n + 1, len(todo))
        return filled


def frame_from_reconstruction(frame: FrameAnnotation, recon, reconstructor=None) -> FrameAnnotation:
    """The model's result for a frame's most prominent person (or a record that nobody was found)."""
    new = copy.deepcopy(frame)
    model = getattr(getattr(reconstructor, "generator", None), "config", None)
    new.provenance = {"source": "model", "model": getattr(model, "mode", "unknown"), "at": now(),
                      "settings": {"iterations": recon.settings.iterations, "temperature": recon.settings.temperature,
                                   "refine_steps": recon.settings.refine_steps, "seed": recon.settings.seed}}
    if not recon.people:
        new.provenance["people"] = 0
        return new
    person = recon.people[0]
    best = person.best
    new.smpl = {k: np.asarray(getattr(best, k), float).round(6).tolist()
                for k in ("global_orient", "body_pose", "betas", "transl")}
    new.tokens = [int(t) for t in best.tokens]
    new.token_confidence = [round(float(c), 5) for c in best.token_confidence]
    det = person.detection
    new.detection = {"keypoints_px": np.asarray(det.landmarks_px, float).round(2).tolist(),
                     "visibility": np.asarray(det.visibility, float).round(4).tolist(),
                     # the rest of what the detector said: the model's conditioning needs it to re-sample
                     "keypoints_z": np.asarray(det.landmarks_z, float).round(3).tolist(),
                     "presence": np.asarray(det.presence, float).round(4).tolist(),
                     "world_landmarks": np.asarray(det.world_landmarks, float).round(4).tolist(),
                     "score": round(float(det.score), 4),
                     "bbox": [round(float(v), 1) for v in det.bbox], "width": recon.width, "height": recon.height,
                     "focal_px": round(float(recon.focal_px), 3)}
    new.model_result = {"smpl": copy.deepcopy(new.smpl), "tokens": list(new.tokens),
                        "token_confidence": list(new.token_confidence)}
    new.provenance["people"] = len(recon.people)
    return new


def detected_person(frame: FrameAnnotation):
    """The detector's person as stored in the frame (for the pose editor), or None."""
    from genhmr_app.detection.detector import DetectedPerson

    d = frame.detection
    if not d:
        return None
    n = len(d["keypoints_px"])
    return DetectedPerson(np.asarray(d["keypoints_px"], np.float32),
                          np.asarray(d.get("keypoints_z", [0.0] * n), np.float32),
                          np.asarray(d["visibility"], np.float32), np.asarray(d.get("presence", d["visibility"]), np.float32),
                          np.asarray(d.get("world_landmarks", [[0.0] * 3] * n), np.float32), tuple(d["bbox"]),
                          float(d.get("score", 1.0)))


def pose_from_frame(editor, frame: FrameAnnotation):
    """The frame's stored result as the editor's EditablePose."""
    from types import SimpleNamespace

    smpl = frame.smpl
    k = len(frame.tokens or [])
    return editor.from_hypothesis(SimpleNamespace(
        global_orient=smpl["global_orient"], body_pose=smpl["body_pose"], betas=smpl["betas"], transl=smpl["transl"],
        tokens=np.asarray(frame.tokens or [], np.int64), token_confidence=np.asarray(frame.token_confidence or [0.0] * k)))


def frame_with_pose(frame: FrameAnnotation, pose, edits, locks: list[int] | None = None) -> FrameAnnotation:
    """A copy of `frame` holding `pose` (full precision, so undo restores it exactly) and the edits;
    its review state becomes "corrected"."""
    new = copy.deepcopy(frame)
    new.smpl = {"global_orient": pose.global_orient.tolist(), "body_pose": pose.body_pose.tolist(),
                "betas": pose.betas.tolist(), "transl": pose.transl.tolist()}
    new.tokens = [int(t) for t in pose.tokens]
    new.token_confidence = [float(c) for c in pose.token_confidence]
    new.pins = {str(i): [float(x), float(y)] for i, (x, y) in edits.pins.items()}
    new.ignored = sorted(int(i) for i in edits.ignored)
    if locks is not None:
        new.locks = sorted(int(i) for i in locks)
    if new.state != "corrected":
        new.set_state("corrected")
    return new
