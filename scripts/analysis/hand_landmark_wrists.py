"""Diagnostic: does MediaPipe's hand landmark network place the wrist better than its pose landmarker?

The twenty-fourth session's question (issue 9, target (a)). The bench's error budget shows the arms'
2D landmarks cost the most 3D (the fit given the true 2D of the arms alone: −5.8 mm on the seed-10
validation scenes, the wrists and hand points alone −2.75), and the `mediapipe==0.10.21` wheel also
carries MediaPipe's hand landmark network (Apache-2.0). As MediaPipe Holistic does, the hand's region
is taken from the pose's own hand landmarks (wrist, index and pinky knuckles): centred between the
wrist and the knuckles, turned so the wrist-to-knuckles direction points up, its side a multiple of
that distance; the network's wrist (its landmark 0) is mapped back to the image and compared with the
pose landmarker's wrist, both against the true body's wrist placed where the detector puts it.

Needs what the app does not: `ai-edge-litert` (the hand network runs outside the Tasks API, on a
region we choose) and the 0.10.21 wheel (downloaded from PyPI once, like `main.py build-detector`):

    .venv/bin/pip install ai-edge-litert==2.3.0
    .venv/bin/python scripts/analysis/hand_landmark_wrists.py --scenes 200
"""

from __future__ import annotations

import argparse
import tempfile
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import torch

from genhmr_app.bench.error_budget import detector_placed, placed_px
from genhmr_app.bench.run import IMAGE_WH
from genhmr_app.bench.validate import rendered_validation_scenes
from genhmr_app.body.sparse import SparseBody
from genhmr_app.detection.bundle import download_wheel
from genhmr_app.pipeline.reconstructor import Reconstructor
from genhmr_app.training.synthesis import Synthesizer

HAND_MODEL = "mediapipe/modules/hand_landmark/hand_landmark_full.tflite"
HAND_INPUT = 224
# (wrist, index knuckle, pinky knuckle) in MediaPipe-33, left then right.
HANDS = ((15, 19, 17), (16, 20, 18))


def hand_region(image: np.ndarray, wrist: np.ndarray, index: np.ndarray, pinky: np.ndarray, scale: float,
                shift: float) -> tuple[np.ndarray, np.ndarray]:
    """(the network's input crop (224, 224, 3) uint8, the 2x3 map from crop pixels to image pixels)."""
    towards = (index + pinky) / 2 - wrist
    length = float(np.linalg.norm(towards)) + 1e-6
    angle = np.arctan2(towards[0], -towards[1])  # turned so that wrist → knuckles points up in the crop
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * (scale * length / HAND_INPUT)
    to_image = np.concatenate([rot, (wrist + shift * towards - rot @ np.full(2, HAND_INPUT / 2))[:, None]], 1)
    crop = cv2.warpAffine(image, to_image, (HAND_INPUT, HAND_INPUT), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR)
    return crop, to_image


def main() -> None:
    from ai_edge_litert.interpreter import Interpreter  # not an app dependency: see the docstring

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=200)
    ap.add_argument("--seed", type=int, default=10)
    ap.add_argument("--wheel", type=Path, help="the mediapipe 0.10.21 wheel (default: download it)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))[0]
        model = Path(tmp) / "hand_landmark_full.tflite"
        model.write_bytes(zipfile.ZipFile(wheel).read(HAND_MODEL))
        net = Interpreter(model_path=str(model), num_threads=1)
    net.allocate_tensors()
    net_in = net.get_input_details()[0]["index"]
    net_out = {d["name"]: d["index"] for d in net.get_output_details()}

    recon = Reconstructor(device="cpu")
    own, placed_body = (SparseBody(recon.body), recon.sparse) if recon.placement is not None else (recon.sparse, None)
    synth = Synthesizer(own, recon.noise, detector_body=placed_body)
    regions = ((2.5, 0.5), (3.0, 0.6), (3.5, 0.7))  # (side / wrist-to-knuckles, centre along it)
    pose_err, hand_err, flags, ms = [], {r: [] for r in regions}, {r: [] for r in regions}, []
    for _, rendered, scene, detection in rendered_validation_scenes(recon, args.seed, args.scenes):
        landmarks = np.asarray(detection.people[0].landmarks_px, np.float64)
        truth = placed_px(detector_placed(synth, scene), scene.focal, IMAGE_WH)
        for wrist, index, pinky in HANDS:
            pose_err.append(np.linalg.norm(landmarks[wrist] - truth[wrist]))
            for region in regions:
                crop, to_image = hand_region(rendered.image, landmarks[wrist], landmarks[index], landmarks[pinky], *region)
                t0 = time.perf_counter()
                net.set_tensor(net_in, (crop.astype(np.float32) / 255.0)[None])
                net.invoke()
                ms.append(1000 * (time.perf_counter() - t0))
                points = net.get_tensor(net_out["Identity"]).reshape(21, 3)[:, :2]
                hand_err[region].append(np.linalg.norm(to_image[:, :2] @ points[0] + to_image[:, 2] - truth[wrist]))
                flags[region].append(float(net.get_tensor(net_out["Identity_1"]).ravel()[0]))
    pose_err = np.array(pose_err)
    print(f"{len(pose_err)} hands; hand network {np.median(ms):.1f} ms an invoke (median, one thread)")
    print(f"pose landmarker's wrist: mean {pose_err.mean():.2f} px, median {np.median(pose_err):.2f}")
    print("| region (side, centre) | hand wrist mean / median px | hands with flag > 0.5 | on those: pose / hand px |")
    print("|---|---|---|---|")
    for region in regions:
        err, flag = np.array(hand_err[region]), np.array(flags[region])
        sure = flag > 0.5
        print(f"| {region} | {err.mean():.2f} / {np.median(err):.2f} | {sure.mean():.0%} "
              f"| {pose_err[sure].mean():.2f} / {err[sure].mean():.2f} |")


if __name__ == "__main__":
    main()
