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

import cv2
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
# Person crops: the square around a person's labelled keypoints, this many times their extent (the
# keypoints stop short of the head's top and the feet), scaled up to at least CROP_MIN_SIDE px.
CROP_MARGIN = 1.6
CROP_MIN_SIDE = 384


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


def score_person(recon: Reconstructor, rgb: np.ndarray, settings: ReconstructionSettings,
                 candidates: list[np.ndarray]) -> tuple[dict, np.ndarray | None]:
    """Reconstruct the one person of `rgb` and score them against the nearest of the annotated `candidates`
    ((12, 3) limb keypoints each): the row's errors (`found` False when nobody, or nobody annotated, is
    there) and the per-joint shares (4, 12) for `joints` (None when not found)."""
    r = recon.run(rgb, settings)
    if not r.people:
        return {"found": False}, None
    person = r.people[0]
    mp = person.detection.coco17()[LIMBS, :2]
    ours = person.keypoints2d_coco17[LIMBS]
    placed = placed_keypoints(recon, r, person)[LIMBS]
    truth = min(candidates, key=lambda p: mean_error(mp, p))
    h = max(float(np.ptp(truth[truth[:, 2] > 0, 1])), 1.0)  # the labelled limbs' height in px
    if mean_error(mp, truth) > MATCH_SHARE * h:
        return {"found": False}, None
    to_mediapipe = np.linalg.norm(placed - mp, axis=-1) / h
    row = {"found": True, "joints": int((truth[:, 2] > 0).sum()), "height_px": h,
           "mediapipe_px": mean_error(mp, truth), "ours_px": mean_error(ours, truth),
           "placed_px": mean_error(placed, truth), "mediapipe_share": mean_error(mp, truth) / h,
           "ours_share": mean_error(ours, truth) / h, "placed_share": mean_error(placed, truth) / h,
           "ours_to_mediapipe_share": float(to_mediapipe.mean())}
    return row, np.stack([joint_shares(mp, truth, h), joint_shares(ours, truth, h),
                          joint_shares(placed, truth, h), to_mediapipe])


def means(rows: list[dict]) -> dict:
    """The found rows' mean errors (NaN when none was found)."""
    found = [r for r in rows if r["found"]]
    return {k: float(np.mean([r[k] for r in found])) if found else float("nan")
            for k in ("mediapipe_px", "ours_px", "placed_px", "mediapipe_share", "ours_share", "placed_share",
                      "ours_to_mediapipe_share")}


def person_crop(rgb: np.ndarray, person: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The square crop around one annotated person ((17, 3) keypoints, image px) and their limb keypoints
    (12, 3) in the crop's px. Outside the photo the crop is black."""
    labelled = person[person[:, 2] > 0, :2]
    centre = (labelled.min(0) + labelled.max(0)) / 2
    side = CROP_MARGIN * max(float(np.ptp(labelled[:, 0])), float(np.ptp(labelled[:, 1])), 1.0)
    corner = centre - side / 2
    scale = max(1.0, CROP_MIN_SIDE / side)  # small people are scaled up, as a person zooming in would
    size = int(round(side * scale))
    warp = np.array([[scale, 0, -corner[0] * scale], [0, scale, -corner[1] * scale]], np.float32)
    crop = cv2.warpAffine(rgb, warp, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    limbs = person[LIMBS].copy()
    limbs[:, :2] = (limbs[:, :2] - corner) * scale
    return crop, limbs


def run_person_crops(recon: Reconstructor, settings: ReconstructionSettings, kp2d_dir: Path) -> dict:
    """Every annotated person with enough labelled limb joints, each in their own crop (as COCO's keypoint
    evaluation hands a method the person's box): twice the people of the one-person-per-photo check
    (17 against 9 photos), so a setting's effect on real photos is less a matter of a few people. The
    reconstructed person must be the one the crop was made for (a neighbour in the crop is not scored).
    Rows (`person`: photo#index) and means as run_real_2d's."""
    rows = []
    for image in load_annotated(kp2d_dir):
        rgb = None
        for index, person in enumerate(image.people):
            if (person[LIMBS, 2] > 0).sum() < MIN_VISIBLE:
                continue
            rgb = load_image(image.path).rgb if rgb is None else rgb
            crop, limbs = person_crop(rgb, person)
            row, _ = score_person(recon, crop, settings, [limbs])
            rows.append({"person": f"{image.path.stem}#{index}", **row})
    return {"rows": rows, "matched": sum(r["found"] for r in rows), **means(rows)}


def run_real_2d(recon: Reconstructor, settings: ReconstructionSettings, kp2d_dir: Path) -> dict:
    """Per image: the matched person's mean limb error (px and share of their height) for MediaPipe's
    own landmarks, for the final mesh's projected keypoints (its joints) and for the same keypoints
    placed as the detector places them (`placed_*`); and the means over the matches.
    Per joint (`joints`, shares of the height over the matches): those errors, and how far the placed
    keypoints sit from MediaPipe's own, the ones they were fitted to. A joint where that distance is
    large is one the fit did not follow: the pose prior held it elsewhere."""
    rows, per_joint = [], []  # per_joint: (4, 12) per matched person, see `joints`
    for image in load_annotated(kp2d_dir):
        candidates = [p[LIMBS] for p in image.people if (p[LIMBS, 2] > 0).sum() >= MIN_VISIBLE]
        if not candidates:
            continue
        row, joints = score_person(recon, load_image(image.path).rgb, settings, candidates)
        rows.append({"image": image.path.name, **row})
        if joints is not None:
            per_joint.append(joints)
    summary = means(rows)
    joints = {}
    if per_joint:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a joint unlabelled in every photo: NaN
            shares = np.nanmean(np.stack(per_joint), axis=0)  # (4, 12)
        joints = {name: {"mediapipe_share": float(shares[0, j]), "ours_share": float(shares[1, j]),
                         "placed_share": float(shares[2, j]), "ours_to_mediapipe_share": float(shares[3, j])}
                  for j, name in enumerate(LIMB_NAMES)}
    return {"rows": rows, "matched": sum(r["found"] for r in rows), "joints": joints, **summary}


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
