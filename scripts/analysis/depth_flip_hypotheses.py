"""Diagnostic: would discrete limb depth-flip hypotheses help, and can anything the pipeline sees pick them?

The twentieth session's question (issue 9, targets (a) and "hypotheses ranked ... choose well"). A limb
segment seen in 2D has two 3D solutions: its child joint on the same camera ray, in front of or behind
the parent at the same bone length. For each validation scene (`main.py validate`'s cached seed-10
scenes, never the bench's), the shipped pipeline runs as usual; then for each of 8 segments (upper arms,
forearms, thighs, shins) whose other solution moves the child by more than 5 cm in depth, the segment
is flipped in the pose the joint fit starts from (its descendants keep their global rotations) and the
joint fit runs again from there, with the uncertainty prior measured around the flipped pose.

Printed: the shipped MPJPE; the best single flip per scene (an oracle, "best possible"); and choices
made without the truth: by the generator's token log-likelihood of the refitted pose (all levels, first
level), by the joint fit's objective, and by a logistic selector over those plus the flip's depth change,
MediaPipe's image-z and world-z agreement, the landmarks' visibility and the limb type, cross-validated
over scenes. Reads Reconstructor internals through a wrapper, so it is a script, not a bench row.

    .venv/bin/python scripts/analysis/depth_flip_hypotheses.py --first 0 --last 600 --out /tmp/flips.pkl
    .venv/bin/python scripts/analysis/depth_flip_hypotheses.py --report /tmp/flips.pkl
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np
import roma
import torch

SEGMENTS = ((16, 18), (18, 20), (17, 19), (19, 21), (1, 4), (4, 7), (2, 5), (5, 8))  # SMPL joints, parent → child
SEGMENT_KIND = {(16, 18): 0, (17, 19): 0, (18, 20): 1, (19, 21): 1, (1, 4): 2, (2, 5): 2, (4, 7): 3, (5, 8): 3}
MEDIAPIPE_OF_JOINT = {16: 11, 17: 12, 18: 13, 19: 14, 20: 15, 21: 16, 1: 23, 2: 24, 4: 25, 5: 26, 7: 27, 8: 28}
MIN_DEPTH_CHANGE_M = 0.05


def flipped_rotations(local: np.ndarray, joints: np.ndarray, parents: np.ndarray, a: int, b: int) -> np.ndarray | None:
    """local (24, 3, 3) rotations, joints (24, 3) camera frame → the rotations with segment a→b on its other
    perspective solution (same ray through b, same length), b's descendants keeping their global
    rotations; None when the ray has no other solution or it moves b by less than 5 cm in depth."""
    world = np.zeros_like(local)
    for j in range(len(local)):
        world[j] = local[j] if parents[j] < 0 else world[parents[j]] @ local[j]
    start, end = joints[a], joints[b]
    length, ray = np.linalg.norm(end - start), end / np.linalg.norm(end)
    along = ray @ start
    if along ** 2 - start @ start + length ** 2 < 0:
        return None
    other = (2 * along - np.linalg.norm(end)) * ray  # the second root of |s ray - start| = length
    if abs(other[2] - end[2]) < MIN_DEPTH_CHANGE_M:
        return None
    d, d_new = (end - start) / length, (other - start) / np.linalg.norm(other - start)
    axis = np.cross(d, d_new)
    turn = roma.rotvec_to_rotmat(torch.tensor(axis / (np.linalg.norm(axis) + 1e-12) * np.arctan2(np.linalg.norm(axis), d @ d_new)))
    world_a = turn.numpy() @ world[a]
    out = local.copy()
    out[a] = world[parents[a]].T @ world_a
    out[b] = world_a.T @ world[b]
    return out


def run(first: int, last: int, out: Path) -> None:
    import genhmr_app.pipeline.reconstructor as reconstructor_module
    from genhmr_app.bench.run import LIMBS
    from genhmr_app.bench.validate import validation_scenes
    from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor
    from genhmr_app.refinement.joint_fit import fit_joints
    from genhmr_app.refinement.uncertainty import joint_prior_weights

    torch.set_num_threads(1)
    recon = Reconstructor(device="cpu")
    pairs = validation_scenes(recon, 10, 600)
    seen: dict = {}
    shipped_fit = reconstructor_module.fit_joints

    def fit_spy(*args, **kwargs):  # the joint fit's inputs: the pose it starts from, the camera, the keypoints
        seen.update(fit_args=args)
        return shipped_fit(*args, **kwargs)

    shipped_package = recon._refine_and_package

    def package_spy(*args, committed=None, **kwargs):  # the token distributions the sampler committed
        seen.update(cond=args[1], out=args[2], committed=committed)
        return shipped_package(*args, committed=committed, **kwargs)

    reconstructor_module.fit_joints, recon._refine_and_package = fit_spy, package_spy

    def mpjpe(kp: np.ndarray, scene) -> float:
        pred, true = kp[LIMBS], scene.joints_coco[LIMBS]
        return float(np.linalg.norm((pred - kp[[11, 12]].mean(0)) - (true - scene.joints_coco[[11, 12]].mean(0)),
                                    axis=-1).mean()) * 1000

    def log_likelihood(pose, committed, offset) -> tuple[float, float]:
        latents = recon.tokenizer.encode_latents(pose) - (offset if offset is not None else 0)
        indices = []
        for q in recon.tokenizer.quantizers:
            idx = q.nearest(latents)
            latents = latents - q.lookup(idx)
            indices.append(idx)
        lp = torch.log(committed.clamp_min(1e-12)).gather(-1, torch.cat(indices, 1)[..., None])[..., 0]
        return float(lp.sum()), float(lp[:, :recon.tokenizer.config.slots].sum())

    rows = []
    with torch.no_grad():
        for i in range(first, min(last, len(pairs))):
            scene, detection = pairs[i]
            result = recon.reconstruct_detection(detection, ReconstructionSettings())
            if not result.people:
                continue
            args = seen["fit_args"]
            pose, orient, betas, transl = (t[:1] for t in args[1:5])
            cond, committed = seen["cond"], seen["committed"][:1]
            offset = seen["out"].latent_offset[:1] if seen["out"].latent_offset is not None else None
            person = detection.people[0]
            target = torch.as_tensor(person.landmarks_px, dtype=torch.float32)[None]
            vis = torch.as_tensor(person.visibility, dtype=torch.float32)[None]

            def refit(start):
                prior = joint_prior_weights(recon.decoder, committed, start, recon.uncertainty, seed=0, latent_offset=offset)
                fit = fit_joints(recon.sparse, start, orient, betas, transl, target, vis, cond.crop[:1, 2], cond.focal[:1],
                                 cond.image_wh[:1], recon.joint_fit, keypoint_fn=recon.detector_like_keypoints,
                                 pose_prior=prior)
                body = recon.body.forward(fit.global_orient, fit.body_pose, betas, fit.transl)
                return fit, mpjpe(body.keypoints_coco17[0].numpy(), scene)

            joints = recon.body.forward(orient, pose, betas, transl).joints[0].double().numpy()
            local = torch.cat([orient[:, None], pose], 1)[0].double().numpy()
            fit0, _ = refit(pose)  # the shipped fit again: same start, same prior
            row = {"scene": i, "mpjpe": mpjpe(result.people[0].keypoints3d_coco17, scene),
                   "objective": float(fit0.objective[0]), "ll": log_likelihood(fit0.body_pose, committed, offset),
                   "box_height": person.box_height, "flips": []}
            for a, b in SEGMENTS:
                flipped = flipped_rotations(local, joints, recon.body.parents, a, b)
                if flipped is None:
                    continue
                fit, error = refit(torch.tensor(flipped[1:], dtype=torch.float32)[None])
                ma, mb = MEDIAPIPE_OF_JOINT[a], MEDIAPIPE_OF_JOINT[b]
                row["flips"].append({
                    "segment": (a, b), "mpjpe": error, "objective": float(fit.objective[0]),
                    "ll": log_likelihood(fit.body_pose, committed, offset),
                    "depth_change": float(flipped_depth_change(joints, a, b)),
                    "mediapipe_z": float(person.landmarks_z[mb] - person.landmarks_z[ma]) / person.box_height,
                    "world_z": float(person.world_landmarks[mb, 2] - person.world_landmarks[ma, 2]),
                    "visibility": (float(person.visibility[ma]), float(person.visibility[mb]))})
            rows.append(row)
            if i % 20 == 0:
                print(f"scene {i}", flush=True)
    out.write_bytes(pickle.dumps(rows))


def flipped_depth_change(joints: np.ndarray, a: int, b: int) -> float:
    """How far (m, camera z) the flip moves the child joint."""
    start, end = joints[a], joints[b]
    ray = end / np.linalg.norm(end)
    return float((2 * (ray @ start) - np.linalg.norm(end)) * ray[2] - end[2])


def _logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 3000) -> np.ndarray:
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-x @ w))
        w -= 0.1 * (x.T @ (p - y) / len(y) + l2 * w)
    return w


def report(paths: list[Path]) -> None:
    rows = [r for p in paths for r in pickle.loads(p.read_bytes())]
    shipped = np.array([r["mpjpe"] for r in rows])
    print(f"scenes {len(rows)}; shipped MPJPE {shipped.mean():.2f} mm")
    best = np.array([min([r["mpjpe"]] + [f["mpjpe"] for f in r["flips"]]) for r in rows])
    candidates = [(r, f) for r in rows for f in r["flips"]]
    helps = np.array([f["mpjpe"] < r["mpjpe"] for r, f in candidates])
    print(f"flip candidates {len(candidates)} ({len(candidates) / len(rows):.1f} a scene), {helps.mean():.1%} lower the MPJPE; "
          f"best single flip per scene (best possible): {best.mean():.2f} mm")

    def choose(score, threshold) -> float:
        out = []
        for r in rows:
            top = max(r["flips"], key=lambda f: score(r, f), default=None)
            out.append(top["mpjpe"] if top is not None and score(r, top) > threshold else r["mpjpe"])
        return float(np.mean(out))

    for name, level in (("log-likelihood, all levels", 0), ("log-likelihood, first level", 1)):
        gain = np.array([f["ll"][level] - r["ll"][level] for r, f in candidates])
        print(f"{name}: mean change {gain[helps].mean():+.2f} where the flip helps, {gain[~helps].mean():+.2f} where not; "
              + ", ".join(f"flip if > {t}: {choose(lambda r, f: f['ll'][level] - r['ll'][level], t):.2f}" for t in (0, 2, 4, 8)))
    print("joint-fit objective: " + ", ".join(
        f"flip if lower by > {t}: {choose(lambda r, f: r['objective'] - f['objective'], t):.2f}" for t in (0, 5e-4, 1e-3, 2e-3)))

    features, labels, scene_of, errors = [], [], [], []
    for s, r in enumerate(rows):
        for f in r["flips"]:
            sign = np.sign(f["depth_change"])
            features.append([f["ll"][1] - r["ll"][1], f["ll"][0] - r["ll"][0], 1000 * (f["objective"] - r["objective"]),
                             abs(f["depth_change"]), f["mediapipe_z"] * sign, f["world_z"] * sign, *f["visibility"],
                             *np.eye(4)[SEGMENT_KIND[tuple(f["segment"])]]])
            labels.append(f["mpjpe"] < r["mpjpe"])
            scene_of.append(s)
            errors.append(f["mpjpe"])
    x, y, scene_of, errors = np.array(features), np.array(labels, float), np.array(scene_of), np.array(errors)
    x = np.c_[(x - x.mean(0)) / (x.std(0) + 1e-9), np.ones(len(x))]
    rng = np.random.default_rng(0)
    for threshold in (0.5, 0.6, 0.7):
        means = []
        for _ in range(5):  # 2-fold over scenes, five random splits
            fold = rng.integers(0, 2, len(rows))
            out = shipped.copy()
            for k in (0, 1):
                w = _logistic(x[fold[scene_of] != k], y[fold[scene_of] != k])
                p = 1 / (1 + np.exp(-x @ w))
                for s in np.where(fold == k)[0]:
                    c = np.where(scene_of == s)[0]
                    if len(c) and p[c].max() > threshold:
                        out[s] = errors[c[p[c].argmax()]]
            means.append(out.mean())
        print(f"logistic selector (cross-validated), flip if p > {threshold}: {np.mean(means):.2f} "
              f"({min(means):.2f} to {max(means):.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--last", type=int, default=600)
    ap.add_argument("--out", type=Path, default=Path("depth_flips.pkl"))
    ap.add_argument("--report", type=Path, nargs="+", help="print the figures from these runs instead")
    args = ap.parse_args()
    if args.report:
        report(args.report)
    else:
        run(args.first, args.last, args.out)


if __name__ == "__main__":
    main()
