"""`python main.py animate VIDEO --out DIR [--smooth S] [--up y|z]`: a video becomes exported motion.

1. Every frame is reconstructed (the detector in VIDEO mode, tracking from frame to frame) and its
   result is saved at once as `DIR/frames/frame_NNNNNN.json` (the infer contract, written atomically):
   Ctrl+C keeps what is done and a second run resumes from there. A frame that cannot be decoded, or
   shows nobody, is recorded as empty and the video goes on.
2. Everyone in view (up to `max_people`, tracked by MediaPipe in VIDEO mode) is linked across frames
   into tracks with stable ids (motion/tracking.py: constant-velocity prediction, so two people who
   cross keep theirs). A gap longer than `max_gap_s` ends a track, so a person who leaves and comes
   back gets a new id; short gaps are bridged. One body shape per track: the median of its frames.
3. Each track is smoothed offline on the rotation manifold (see smoothing.py), placed in an upright
   world frame levelled on the ground its feet touch, and its feet are locked while in contact.
4. Exports per track: `person_<id>.bvh`, `person_<id>.glb`, `person_<id>_smpl.npz` (see
   export/motion.py), and `DIR/summary.json` with the frame rate, tracks, contacts and foot skate.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import roma
import torch

from genhmr_app.export.motion import MotionExportError, MotionSequence, export_track
from genhmr_app.motion.tracking import TrackerSettings, associate
from genhmr_app.motion.smoothing import smooth_positions, smooth_rotations
from genhmr_app.motion.world import ContactSettings, fit_ground, foot_contacts, foot_skate, lock_feet, to_world
from genhmr_app.pipeline.reconstructor import ReconstructionSettings

log = logging.getLogger(__name__)

# The default smoothing window: a Gaussian of 1/15 s, whatever the frame rate. The better the
# per-frame fits, the less smoothing pays. On the rendered walk (15 fps), with the ninth session's
# models (per-frame MPJPE 37.8 mm), sigma 1 frame lowered the acceleration error 54% and MPJPE to
# 36.8 mm; 1.5 frames (0.1 s, the default until then) 56% but MPJPE 40.3; 0.75 frames only 46%.
# Before them (55.9 mm per frame) 1.5 frames had lowered it to 53.6 and 2 frames raised it to 57.3.
SMOOTH_S = 1 / 15
MAX_UNREADABLE_RUN = 10  # more unreadable frames in a row than this: the file ends early


@dataclass(frozen=True)
class AnimateSettings:
    smooth: float | None = None  # Gaussian sigma in frames for rotations and root (0: off; None: SMOOTH_S of frames)
    up: str = "y"
    lock_feet: bool = True
    max_gap_s: float = 1.0  # a person missing for longer starts a new track (shorter: an occlusion)
    min_track_frames: int = 5
    max_people: int = 4  # people tracked at once


@dataclass
class PersonObservation:
    """One person's fit in one frame (camera frame, as the per-frame pipeline reports it)."""
    frame: int
    time_s: float
    global_orient: np.ndarray  # (3, 3)
    body_pose: np.ndarray  # (23, 3, 3)
    betas: np.ndarray  # (10,)
    transl: np.ndarray  # (3,)
    bbox: np.ndarray  # (4,) x0, y0, x1, y1 px: what the tracker matches on


@dataclass
class FrameObservations:
    frame: int
    time_s: float
    people: list[PersonObservation]  # empty: nobody found (or the frame could not be decoded)


@dataclass
class Track:
    id: int
    frames: np.ndarray  # (T,) video frame indices, consecutive (gaps bridged)
    observations: list[PersonObservation]  # one per frame; bridged frames repeat their neighbour


class AnimateError(Exception):
    """The video cannot be read at all, or the output folder cannot be written."""


# --- 1. frames -------------------------------------------------------------------------------------------

def _observations_from_json(data: dict, frame: int, time_s: float) -> FrameObservations:
    rot = lambda v, n: roma.rotvec_to_rotmat(torch.tensor(v, dtype=torch.float64).reshape(n, 3)).numpy()  # noqa: E731
    people = []
    for person in data.get("people") or []:
        smpl = person["smpl"]
        people.append(PersonObservation(frame, time_s, rot(smpl["global_orient"], 1)[0], rot(smpl["body_pose"], 23),
                                        np.asarray(smpl["betas"], np.float64), np.asarray(smpl["transl"], np.float64),
                                        np.asarray(person["bbox"], np.float64)))
    return FrameObservations(frame, time_s, people)


def reconstruct_video(video: Path, out_dir: Path, settings: ReconstructionSettings = ReconstructionSettings(),
                      progress: bool = True, should_stop: Callable[[], bool] | None = None,
                      reconstructor=None, on_frame: Callable[[int, int], None] | None = None,
                      ) -> tuple[list[FrameObservations], float, list[str]]:
    """Per-frame results (resumed from `out_dir/frames`), the video's frame rate, and warnings."""
    import cv2
    from tqdm import tqdm

    from genhmr_app.export.contract import reconstruction_to_dict
    from genhmr_app.export.safe_write import atomic_write_text

    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise AnimateError(f"cannot open the video {video}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    if fps <= 0 or not np.isfinite(fps):
        fps = 30.0
        log.warning("%s declares no frame rate; assuming 30 fps", video.name)
    frames_dir = out_dir / "frames"
    try:
        frames_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AnimateError(f"cannot write to the output folder {out_dir}: {exc.strerror or exc}") from exc
    own = reconstructor is None
    if own:
        from genhmr_app.pipeline.reconstructor import Reconstructor

        reconstructor = Reconstructor()
    observations: list[FrameObservations] = []
    warnings: list[str] = []
    times: list[float] = []
    bar = tqdm(total=count, desc=f"animate {video.name}", unit="frame", disable=not progress, file=sys.stderr)
    try:
        i = 0
        last_ms = -1
        previous_boxes: list[np.ndarray] = []
        unreadable: list[int] = []  # the current run of frames that could not be read
        while count <= 0 or i < count:
            if should_stop is not None and should_stop():
                warnings.append(f"stopped at frame {i}; run again to resume")
                break
            ok = cap.grab()
            if not ok:
                # A damaged frame fails alone (the demuxer moves on); a long run means the file ends early.
                if count > 0 and i < count and len(unreadable) < MAX_UNREADABLE_RUN:
                    unreadable.append(i)
                    observations.append(FrameObservations(i, i / fps, []))
                    i += 1
                    bar.update(1)
                    continue
                if unreadable:  # the run reached the end: those were not damaged frames but no frames
                    del observations[len(observations) - len(unreadable):]
                    i = unreadable[0]
                    unreadable.clear()
                if count > 0 and i < count:
                    warnings.append(f"the video ends early: {i} of {count} frames could be read")
                break
            if unreadable:
                warnings.append(f"frame(s) {unreadable[0]}–{unreadable[-1]} could not be read; left empty"
                                if len(unreadable) > 1 else f"frame {unreadable[0]} could not be read; left empty")
                unreadable.clear()
            ms = cap.get(cv2.CAP_PROP_POS_MSEC)
            time_s = ms / 1000 if ms and ms > 0 else i / fps
            times.append(time_s)
            path = frames_dir / f"frame_{i:06d}.json"
            data = None
            if path.exists():
                try:
                    data = json.loads(path.read_text())
                except (OSError, ValueError):
                    data = None  # half-written by a crash: do it again
            if data is None:
                ok, bgr = cap.retrieve()
                if not ok or bgr is None:
                    warnings.append(f"frame {i} could not be decoded; left empty")
                    observations.append(FrameObservations(i, time_s, []))
                    i += 1
                    bar.update(1)
                    continue
                rgb = np.ascontiguousarray(bgr[..., ::-1])
                if settings.max_people > 1:
                    # Follow everyone from the previous frame; search the whole image for newcomers
                    # twice a second (a full search costs several detector passes).
                    search = i % max(1, int(round(fps / 2))) == 0
                    recon = reconstructor.run_following(rgb, previous_boxes, settings, search)
                else:
                    # VIDEO-mode timestamps must grow; a variable frame rate gives uneven but growing ones.
                    stamp = max(int(round(time_s * 1000)), last_ms + 1)
                    last_ms = stamp
                    recon = reconstructor.run(rgb, settings, timestamp_ms=stamp)
                data = reconstruction_to_dict(recon, f"{video.name}#frame{i:06d}")
                atomic_write_text(path, json.dumps(data))
            observations.append(_observations_from_json(data, i, time_s))
            previous_boxes = [p.bbox for p in observations[-1].people]
            i += 1
            bar.update(1)
            if on_frame is not None:
                on_frame(i, count)
        if unreadable:
            warnings.append(f"frame(s) {unreadable[0]}–{unreadable[-1]} could not be read; left empty")
    finally:
        bar.close()
        cap.release()
        if own:
            reconstructor.close()
    if len(times) > 2:
        steps = np.diff(times)
        if steps.std() > 0.1 * max(steps.mean(), 1e-6):
            warnings.append(f"variable frame rate (frame intervals {steps.min() * 1000:.0f}–{steps.max() * 1000:.0f} ms); "
                            f"the exports use the mean rate")
        fps = 1.0 / float(np.median(steps)) if np.median(steps) > 0 else fps
    return observations, float(fps), warnings


# --- 2. tracks -------------------------------------------------------------------------------------------

def build_tracks(observations: list[FrameObservations], fps: float, settings: AnimateSettings = AnimateSettings()) -> list[Track]:
    """Everyone's per-frame fits → tracks with stable ids (see tracking.py). A person missing for up
    to max_gap_s (hidden behind someone, say) keeps their id, the gap filled by interpolation;
    missing for longer, they come back as a new track. Ids count from 0 by first appearance."""
    max_gap = max(1, int(round(settings.max_gap_s * fps)))
    boxes = [[p.bbox for p in f.people] for f in observations]
    tracks: list[Track] = []
    for members in associate(boxes, TrackerSettings(max_gap_frames=max_gap)):
        if len(members) < settings.min_track_frames:
            continue
        seq: list[PersonObservation] = []
        for frame, index in members:
            obs = observations[frame].people[index]
            if seq and obs.frame - seq[-1].frame > 1:
                seq.extend(_bridge(seq[-1], obs))
            seq.append(obs)
        tracks.append(Track(len(tracks), np.array([o.frame for o in seq]), seq))
    return tracks


def _bridge(before: PersonObservation, after: PersonObservation) -> list[PersonObservation]:
    """The frames between two sightings: rotations slerped, translation, shape and box interpolated."""
    n = after.frame - before.frame
    steps = torch.arange(1, n, dtype=torch.float64) / n
    rot = lambda a, b: roma.rotmat_slerp(torch.as_tensor(a), torch.as_tensor(b), steps).numpy()  # noqa: E731
    orient, pose = rot(before.global_orient, after.global_orient), rot(before.body_pose, after.body_pose)
    out = []
    for k, t in enumerate(steps.numpy()):
        mix = lambda a, b: (1 - t) * a + t * b  # noqa: E731
        out.append(PersonObservation(before.frame + k + 1, mix(before.time_s, after.time_s), orient[k], pose[k],
                                     mix(before.betas, after.betas), mix(before.transl, after.transl),
                                     mix(before.bbox, after.bbox)))
    return out


# --- 3. motion -------------------------------------------------------------------------------------------

def smoothing_sigma(settings: AnimateSettings, fps: float) -> float:
    """The Gaussian sigma in frames: the user's, or SMOOTH_S at this frame rate."""
    return float(settings.smooth) if settings.smooth is not None else SMOOTH_S * fps


@dataclass
class TrackMotion:
    sequence: MotionSequence  # world frame, smoothed, feet locked
    contacts: np.ndarray  # (T, 2)
    skate_before_m: float
    skate_after_m: float


def track_motion(track: Track, body, fps: float, settings: AnimateSettings = AnimateSettings(),
                 fixed: np.ndarray | None = None) -> TrackMotion:
    """Camera-frame per-frame fits → one smoothed world-frame motion with this track's one shape.
    `fixed` (T,) marks frames a user edited: smoothing leaves them as they are."""
    sigma = smoothing_sigma(settings, fps)
    obs = track.observations
    betas = np.median(np.stack([o.betas for o in obs]), axis=0)
    orient_c = np.stack([o.global_orient for o in obs])
    pose = np.stack([o.body_pose for o in obs])
    # The pelvis each frame's own fit put in the camera frame (SMPL rotates about the pelvis joint).
    rest = lambda b: body.rest_joints(torch.as_tensor(np.asarray(b), dtype=torch.float32)[None])[0, 0].double().cpu().numpy()  # noqa: E731
    pelvis_c = np.stack([rest(o.betas) + o.transl for o in obs])
    orient_w, pelvis_w = to_world(orient_c, pelvis_c)
    orient_w = smooth_rotations(orient_w, sigma, fixed)
    pose = smooth_rotations(pose, sigma, fixed)
    pelvis_w = smooth_positions(pelvis_w, sigma, fixed)
    j0 = rest(betas)

    def joints_of(orient: np.ndarray, pelvis: np.ndarray) -> np.ndarray:
        seq = MotionSequence(orient, pose, betas, pelvis - j0, fps)
        return seq.joint_positions(body)

    joints = joints_of(orient_w, pelvis_w)
    ground = fit_ground(joints)
    orient_w = ground[:3, :3] @ orient_w
    pelvis_w = pelvis_w @ ground[:3, :3].T + ground[:3, 3]
    joints = joints_of(orient_w, pelvis_w)
    contact_settings = ContactSettings()
    contacts = foot_contacts(joints, fps, contact_settings)
    before = foot_skate(joints, contacts)
    if settings.lock_feet and contacts.any():
        pelvis_w = pelvis_w + lock_feet(joints, contacts)
        joints = joints_of(orient_w, pelvis_w)
    after = foot_skate(joints, contacts)
    return TrackMotion(MotionSequence(orient_w, pose, betas, pelvis_w - j0, fps), contacts, before, after)


@dataclass
class SmoothingPreview:
    """One track's joints before and after smoothing, camera frame, for a before/after view."""
    frames: np.ndarray  # (T,) video frame indices
    raw: np.ndarray  # (T, 24, 3) per-frame fits (one shape per track)
    smoothed: np.ndarray  # (T, 24, 3)
    sigma: float

    def jitter(self, joints: np.ndarray) -> float:
        """Mean acceleration magnitude (m/frame²): what smoothing removes."""
        return float(np.linalg.norm(np.diff(joints, 2, axis=0), axis=-1).mean()) if len(joints) > 2 else 0.0

    @property
    def jitter_reduction(self) -> float:
        before = self.jitter(self.raw)
        return 1.0 - self.jitter(self.smoothed) / before if before > 0 else 0.0

    @property
    def mean_shift_m(self) -> float:
        """How far smoothing moves the joints on average: large values mean real motion is lost."""
        return float(np.linalg.norm(self.smoothed - self.raw, axis=-1).mean())


def preview_smoothing(track: Track, body, fps: float, sigma: float, fixed: np.ndarray | None = None) -> SmoothingPreview:
    """The track as exported would move, with and without smoothing of strength `sigma` (the same
    smoother as track_motion, before world placement and foot locking)."""
    obs = track.observations
    betas = np.median(np.stack([o.betas for o in obs]), axis=0)
    orient = np.stack([o.global_orient for o in obs])
    pose = np.stack([o.body_pose for o in obs])
    transl = np.stack([o.transl for o in obs])

    def joints(o: np.ndarray, p: np.ndarray, t: np.ndarray) -> np.ndarray:
        return MotionSequence(o, p, betas, t, fps).joint_positions(body)

    raw = joints(orient, pose, transl)
    smoothed = joints(smooth_rotations(orient, sigma, fixed), smooth_rotations(pose, sigma, fixed),
                      smooth_positions(transl, sigma, fixed))
    return SmoothingPreview(track.frames, raw, smoothed, sigma)


def tracks_from_frames(out_dir: Path, fps: float, settings: AnimateSettings = AnimateSettings()) -> list[Track]:
    """The tracks of an earlier (or cancelled) run, from its saved frames: no reconstruction."""
    paths = {int(p.stem.split("_")[1]): p for p in (out_dir / "frames").glob("frame_[0-9]*.json")}
    observations = []
    for i in range(max(paths) + 1 if paths else 0):
        try:
            data = json.loads(paths[i].read_text()) if i in paths else {}
        except (OSError, ValueError):
            data = {}  # half-written: the next export redoes it
        observations.append(_observations_from_json(data, i, i / fps))
    return build_tracks(observations, fps, settings)


# --- the command -----------------------------------------------------------------------------------------

def animate(video: Path, out_dir: Path, settings: AnimateSettings = AnimateSettings(),
            recon_settings: ReconstructionSettings = ReconstructionSettings(), progress: bool = True,
            should_stop: Callable[[], bool] | None = None, reconstructor=None,
            on_frame: Callable[[int, int], None] | None = None) -> dict:
    """The whole command as a function (the window's File ▸ Export Animation runs it in a worker).
    `should_stop()` is polled between frames: finished frames are kept and exported, and a second call
    resumes; `on_frame(done, total)` reports progress."""
    own = reconstructor is None
    if own:
        from genhmr_app.pipeline.reconstructor import Reconstructor

        reconstructor = Reconstructor()
    recon_settings = replace(recon_settings, max_people=settings.max_people)
    try:
        observations, fps, warnings = reconstruct_video(video, out_dir, recon_settings, progress, should_stop,
                                                        reconstructor, on_frame)
    finally:
        if own:
            reconstructor.close()
    body = reconstructor.body
    tracks = build_tracks(observations, fps, settings)
    summary = {"video": str(video), "fps": fps, "frames": len(observations),
               "frames_with_person": sum(bool(o.people) for o in observations), "settings": asdict(settings),
               "tracks": [], "warnings": warnings}
    for track in tracks:
        motion = track_motion(track, body, fps, settings)
        files = export_track(motion.sequence, body, out_dir, track.id, settings.up)
        summary["tracks"].append({
            "id": track.id, "first_frame": int(track.frames[0]), "last_frame": int(track.frames[-1]),
            "files": [f.name for f in files], "contact_frames": motion.contacts.sum(0).tolist(),
            "foot_skate_cm": {"before_lock": round(motion.skate_before_m * 100, 2),
                              "after_lock": round(motion.skate_after_m * 100, 2)}})
    if not tracks:
        summary["warnings"].append("nobody was tracked for long enough; nothing exported")
    from genhmr_app.export.safe_write import atomic_write_text

    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    d = AnimateSettings()
    ap = argparse.ArgumentParser(prog="main.py animate", description=__doc__.splitlines()[0])
    ap.add_argument("video", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--smooth", type=float, default=d.smooth,
                    help=f"smoothing strength: Gaussian sigma in frames (0: off; default {SMOOTH_S:.3g} s of frames)")
    ap.add_argument("--up", choices=["y", "z"], default=d.up, help="up axis of the exported files")
    ap.add_argument("--max-people", type=int, default=d.max_people, help="most people tracked at once")
    ap.add_argument("--no-foot-lock", action="store_true", help="do not lock the feet during contacts")
    ap.add_argument("--refine-steps", type=int, default=ReconstructionSettings.refine_steps)
    ap.add_argument("--iterations", type=int, default=ReconstructionSettings.iterations)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.video.is_file():
        print(f"error: {args.video} not found", file=sys.stderr)
        return 2
    settings = AnimateSettings(smooth=args.smooth, up=args.up, lock_feet=not args.no_foot_lock,
                                max_people=max(1, args.max_people))
    recon = ReconstructionSettings(iterations=args.iterations, refine_steps=args.refine_steps)
    try:
        summary = animate(args.video, args.out, settings, recon)
    except KeyboardInterrupt:
        print(f"\ncancelled: finished frames are kept in {args.out / 'frames'}; run the same command to resume",
              file=sys.stderr)
        return 130
    except (AnimateError, MotionExportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for w in summary["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    for t in summary["tracks"]:
        print(f"person {t['id']}: frames {t['first_frame']}–{t['last_frame']}, {', '.join(t['files'])}; foot skate "
              f"{t['foot_skate_cm']['before_lock']} → {t['foot_skate_cm']['after_lock']} cm")
    print(f"{len(summary['tracks'])} track(s), {summary['frames_with_person']}/{summary['frames']} frames with a "
          f"person, {summary['fps']:.2f} fps → {args.out}")
    return 0 if summary["tracks"] else 1
