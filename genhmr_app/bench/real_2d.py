"""The final 2D keypoints on real photos with annotated keypoints (the COCO and MPII images in
../shared/data/images/kp2d), against MediaPipe's own 2D landmarks on the same people.

The rendered test set measures 2D error with exact truth but on our own renders; these photos are
real, few (4 COCO + 5 MPII images, read by detection/people_count.load_annotated) and annotated by
people, so they are a check, not a benchmark.
As the app does for a photo, one person is reconstructed per image (MediaPipe's single pose); it is
matched to the annotated person whose limb keypoints are nearest its own, and scored on the 12 COCO
limb joints the annotation marks visible. MPII's hips sit higher and further in than COCO's and
MediaPipe's, which costs both sides alike.

The final keypoints are scored twice: as the body's joints (bone centres, what the mesh exports) and
as the fit saw them, placed where the detector puts its landmarks on that body (detection/placement.py).
People annotate joints where MediaPipe learnt to put them, on the limb's outline rather than at its
centre of rotation, so the placed keypoints are the ones in the annotators' convention.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import roma
import torch

from genhmr_app.conditioning.camera import project
from genhmr_app.detection.landmarks import mp33_to_coco17
from genhmr_app.detection.people_count import load_annotated
from genhmr_app.image.loading import load_image
from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor

LIMBS = list(range(5, 17))  # COCO: shoulders, elbows, wrists, hips, knees, ankles (left first)
LIMB_NAMES = [f"{side} {part}" for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
              for side in ("left", "right")]
MIN_VISIBLE = 6  # annotated people with fewer labelled limb joints are not scored
MATCH_SHARE = 0.5  # a match further than this share of the person's height is not the same person


def mean_error(points: np.ndarray, truth: np.ndarray) -> float:
    """Mean px distance of (12, 2) points to the (12, 3) annotation's labelled joints."""
    seen = truth[:, 2] > 0
    return float(np.linalg.norm(points[seen] - truth[seen, :2], axis=-1).mean())


def joint_shares(points: np.ndarray, truth: np.ndarray, height_px: float) -> np.ndarray:
    """(12,) distance of each point to its annotation as a share of the height; NaN where unlabelled."""
    return np.where(truth[:, 2] > 0, np.linalg.norm(points - truth[:, :2], axis=-1) / height_px, np.nan)


def placed_keypoints(recon: Reconstructor, reconstruction, person) -> np.ndarray:
    """(17, 2) px: the person's final keypoints where the detector puts them on that body (the points
    the joint fit matched to MediaPipe's), in COCO order."""
    best = person.best
    as_tensor = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=recon.device)  # noqa: E731
    orient = roma.rotvec_to_rotmat(as_tensor(best.global_orient))[None]
    pose = roma.rotvec_to_rotmat(as_tensor(best.body_pose).reshape(23, 3))[None]
    with torch.no_grad():
        points = recon.detector_like_keypoints(
            recon.sparse.mediapipe33(orient, pose, as_tensor(best.betas)[None], as_tensor(best.transl)[None]), orient)
        px = project(points, torch.tensor([reconstruction.focal_px], device=recon.device),
                     torch.tensor([[float(reconstruction.width), float(reconstruction.height)]], device=recon.device))
    return mp33_to_coco17(px[0].cpu().numpy())


def run_real_2d(recon: Reconstructor, settings: ReconstructionSettings, kp2d_dir: Path) -> dict:
    """Per image: the matched person's mean limb error (px and share of their height) for MediaPipe's
    own landmarks, for the final mesh's projected keypoints (its joints) and for the same keypoints
    placed as the detector places them (`placed_*`); and the means over the matches.
    Per joint (`joints`, shares of the height over the matches): those errors, and how far the placed
    keypoints sit from MediaPipe's own, the ones they were fitted to. A joint where that distance is
    large is one the fit did not follow: the pose prior held it elsewhere."""
    rows, per_joint = [], []  # per_joint: (3, 12) per matched person, see `joints`
    for image in load_annotated(kp2d_dir):
        candidates = [p[LIMBS] for p in image.people if (p[LIMBS, 2] > 0).sum() >= MIN_VISIBLE]
        if not candidates:
            continue
        r = recon.run(load_image(image.path).rgb, settings)
        if not r.people:
            rows.append({"image": image.path.name, "found": False})
            continue
        person = r.people[0]
        mp = person.detection.coco17()[LIMBS, :2]
        ours = person.keypoints2d_coco17[LIMBS]
        placed = placed_keypoints(recon, r, person)[LIMBS]
        truth = min(candidates, key=lambda p: mean_error(mp, p))
        h = max(float(np.ptp(truth[truth[:, 2] > 0, 1])), 1.0)  # the labelled limbs' height in px
        if mean_error(mp, truth) > MATCH_SHARE * h:
            rows.append({"image": image.path.name, "found": False})
            continue
        to_mediapipe = np.linalg.norm(placed - mp, axis=-1) / h
        rows.append({"image": image.path.name, "found": True, "joints": int((truth[:, 2] > 0).sum()), "height_px": h,
                     "mediapipe_px": mean_error(mp, truth), "ours_px": mean_error(ours, truth),
                     "placed_px": mean_error(placed, truth), "mediapipe_share": mean_error(mp, truth) / h,
                     "ours_share": mean_error(ours, truth) / h, "placed_share": mean_error(placed, truth) / h,
                     "ours_to_mediapipe_share": float(to_mediapipe.mean())})
        per_joint.append(np.stack([joint_shares(mp, truth, h), joint_shares(ours, truth, h),
                                   joint_shares(placed, truth, h), to_mediapipe]))
    found = [r for r in rows if r["found"]]
    summary = {k: float(np.mean([r[k] for r in found])) if found else float("nan")
               for k in ("mediapipe_px", "ours_px", "placed_px", "mediapipe_share", "ours_share", "placed_share",
                         "ours_to_mediapipe_share")}
    joints = {}
    if per_joint:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a joint unlabelled in every photo: NaN
            means = np.nanmean(np.stack(per_joint), axis=0)  # (4, 12)
        joints = {name: {"mediapipe_share": float(means[0, j]), "ours_share": float(means[1, j]),
                         "placed_share": float(means[2, j]), "ours_to_mediapipe_share": float(means[3, j])}
                  for j, name in enumerate(LIMB_NAMES)}
    return {"rows": rows, "matched": len(found), "joints": joints, **summary}


def joint_table(result: dict) -> list[str]:
    """Markdown lines for `run_real_2d`'s per-joint figures (none when nobody was matched)."""
    if not result.get("joints"):
        return []
    lines = ["", "Per joint, % of the person's height over the matched people; \"placed\": the final keypoints "
             "where the detector puts them on the body (what the fit matched to MediaPipe's); the last column is "
             "how far those sit from MediaPipe's own (large: the pose prior held the joint elsewhere):", "",
             "| joint | MediaPipe's own | GenHMR (a) final joints | GenHMR (a) placed | placed to MediaPipe's |",
             "|---|---|---|---|---|"]
    return lines + [f"| {name} | {100 * j['mediapipe_share']:.1f} | {100 * j['ours_share']:.1f} "
                    f"| {100 * j['placed_share']:.1f} | {100 * j['ours_to_mediapipe_share']:.1f} |"
                    for name, j in result["joints"].items()]


__all__ = ["joint_table", "run_real_2d"]
