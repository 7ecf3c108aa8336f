"""The JSON contract of `main.py infer` (and the app's Save Result).

Camera frame: OpenCV axes (x right, y down, z forward), metres. SMPL parameters are axis-angle in the
camera frame: posing the body model with them and `transl` gives camera-frame vertices directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from genhmr_app.export.safe_write import safe_write
from genhmr_app.pipeline.reconstructor import Reconstruction

CONTRACT_VERSION = 1


def _r(a, nd: int = 5):
    return np.round(np.asarray(a, dtype=np.float64), nd).tolist()


def reconstruction_to_dict(recon: Reconstruction, image_name: str, vertices_npz: list[str | None] | None = None) -> dict:
    people = []
    for i, p in enumerate(recon.people):
        best = p.best
        entry = {
            "bbox": _r(p.detection.bbox, 1),
            "keypoints3d_coco17": _r(p.keypoints3d_coco17),
            "keypoints2d_coco17": _r(p.keypoints2d_coco17, 2),
            "smpl": {
                "global_orient": _r(best.global_orient),
                "body_pose": _r(best.body_pose),
                "betas": _r(best.betas),
                "transl": _r(best.transl),
            },
            "detection_score": round(float(p.detection.score), 4),
            "error_2d_px": {"before_refinement": round(best.error_2d_before_px, 2), "after_refinement": round(best.error_2d_px, 2)},
            "hypotheses": [{"log_likelihood": round(h.log_likelihood, 3), "error_2d_px": round(h.error_2d_px, 2)}
                           for h in p.hypotheses],
            "token_confidence": _r(best.token_confidence, 4),
        }
        if p.fallback:
            entry["warning"] = p.fallback
        if vertices_npz and vertices_npz[i]:
            entry["vertices_npz"] = vertices_npz[i]
        people.append(entry)
    return {
        "version": CONTRACT_VERSION,
        "image": image_name,
        "width": recon.width,
        "height": recon.height,
        "camera": {"focal_px": round(recon.focal_px, 3), "principal_point": [recon.width / 2, recon.height / 2],
                   "axes": "opencv (x right, y down, z forward), metres"},
        "settings": {"iterations": recon.settings.iterations, "temperature": recon.settings.temperature,
                     "refine_steps": recon.settings.refine_steps, "hypotheses": recon.settings.hypotheses,
                     "seed": recon.settings.seed},
        "people": people,
        "timing_ms": {k: round(v, 2) for k, v in recon.timing_ms.items() if k in ("detect", "sample", "refine", "total")},
    }


def write_json(data: dict, path: Path) -> Path | None:
    return safe_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1)))


def write_vertices_npz(vertices: np.ndarray, path: Path) -> Path | None:
    def writer(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.savez_compressed(fh, vertices=np.asarray(vertices, dtype=np.float32))
    return safe_write(path, writer)


def write_smpl_npz(recon_person, path: Path) -> Path | None:
    best = recon_person.best

    def writer(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.savez(fh, global_orient=best.global_orient.astype(np.float32), body_pose=best.body_pose.astype(np.float32),
                     betas=best.betas.astype(np.float32), transl=best.transl.astype(np.float32))
    return safe_write(path, writer)
