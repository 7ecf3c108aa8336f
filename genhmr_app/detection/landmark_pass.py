"""A second look at a person: MediaPipe's landmark network run directly on a crop aligned to the body.

Why: in IMAGE mode MediaPipe crops the person where its person detector boxes them; its tracker instead
crops where the last frame's landmarks put them, and on a still that crop fits the body better: the
twenty-fifth session fed stills to the VIDEO-mode landmarker again (detection/tracking_looks.py) and the
annotated photos' keypoints came 7.06 → 5.91% of the height closer to the annotation. That route costs a
reset of the tracker and its own first look (about 90 ms a still). Here the same network (the
`pose_landmarks_detector.tflite` inside the bundled task file) runs once per pass on the crop the
tracker would take, with no reset and no detector: one forward (~17 ms, one thread).

The steps follow MediaPipe's pose graphs (pose_landmarks_to_roi, pose_landmark_by_roi,
refine_landmarks_from_heatmap, landmark_projection):
1. region: centre = the hips' auxiliary point, rotation so that the line to the body's scale point
   points up, side = 2 × their distance × 1.25 (a square);
2. the crop, 256 × 256, values in [0, 1], the image's edge pixels repeated outside it (on 200
   rendered validation scenes the filtered pass's visible landmarks came 0.27 px closer to the truth
   this way, 0.20 with zeros outside);
3. 39 landmarks in crop pixels, each x, y refined by the weighted mean of its heatmap's 7 × 7 window
   when that window's sigmoid peak ≥ 0.5;
4. back to image pixels through the region's rotation.
The first pass has no auxiliary points (the Tasks API reports only 33 landmarks), so its region comes
from the 33: the hips' midpoint, the direction to the shoulders' midpoint, and the largest distance
from the hips to a landmark (on 60 validation scenes the network's own region was 0.98 × that size,
median, quartiles 0.96-1.01; rotation within 0.3°).
"""

from __future__ import annotations

import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

LANDMARK_MODEL_NAME = "pose_landmarks_detector.tflite"
INPUT_SIDE = 256
HEATMAP_KERNEL = 7
HEATMAP_MIN_CONFIDENCE = 0.5
BORDER = cv2.BORDER_REPLICATE
REGION_SCALE = 1.25  # MediaPipe's RectTransformation scale for the pose's region


@dataclass(frozen=True)
class Region:
    """A square crop of the image, rotated: centre and side in pixels, rotation in radians."""

    center: np.ndarray  # (2,)
    side: float
    rotation: float

    def crop_to_image(self) -> np.ndarray:
        """(2, 3) affine map from crop coordinates (0..INPUT_SIDE) to image coordinates; both with pixel
        i spanning [i, i + 1), as the landmarks are."""
        c, s = np.cos(self.rotation), np.sin(self.rotation)
        k = self.side / INPUT_SIDE
        rot = np.array([[c, -s], [s, c]]) * k
        offset = self.center - rot @ np.array([INPUT_SIDE / 2, INPUT_SIDE / 2])
        return np.concatenate([rot, offset[:, None]], axis=1)

    def pixel_map(self) -> np.ndarray:
        """The same map between pixel indices (OpenCV's convention: a pixel's centre is its index)."""
        affine = self.crop_to_image()
        shifted = affine.copy()
        shifted[:, 2] += affine[:, :2] @ np.array([0.5, 0.5]) - 0.5
        return shifted


def region_from_points(hips: np.ndarray, scale_point: np.ndarray) -> Region:
    """MediaPipe's AlignmentPointsRects (target angle 90°) and RectTransformation (1.25, square)."""
    d = scale_point - hips
    rotation = np.pi / 2 - np.arctan2(-d[1], d[0])
    rotation = (rotation + np.pi) % (2 * np.pi) - np.pi
    return Region(hips.astype(np.float64), float(2 * np.linalg.norm(d) * REGION_SCALE), float(rotation))


def region_from_landmarks33(landmarks_px: np.ndarray) -> Region:
    """The first pass's region from the 33 landmarks the Tasks API reports (it gives no auxiliary points)."""
    hips = landmarks_px[[23, 24]].mean(axis=0).astype(np.float64)
    shoulders = landmarks_px[[11, 12]].mean(axis=0).astype(np.float64)
    up = shoulders - hips
    up /= max(np.linalg.norm(up), 1e-6)
    reach = float(np.linalg.norm(landmarks_px - hips, axis=1).max())
    return region_from_points(hips, hips + up * reach)


@dataclass
class PassResult:
    landmarks_px: np.ndarray  # (33, 2) float32 image pixels
    visibility: np.ndarray  # (33,)
    presence: np.ndarray  # (33,)
    auxiliary_px: np.ndarray  # (2, 2): hips centre, body scale point (for the next pass's region)
    confidence: np.ndarray  # (33,) each landmark's heatmap peak (refine_from_heatmap)
    pose_score: float  # the network's own "a pose is in this region" output


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))  # clipped: no overflow warning on far-off logits


def refine_from_heatmap(xy: np.ndarray, heatmap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's RefineLandmarksFromHeatmap: xy (39, 2) normalised to the crop, heatmap (h, w, 39).
    Also returns each landmark's heatmap peak (39,) in [0, 1] near where it was put (0 outside the
    heatmap): how sure the network is of the spot, which MediaPipe does not report."""
    h, w, _ = heatmap.shape
    out = xy.copy()
    peaks = np.zeros(xy.shape[0])
    half = (HEATMAP_KERNEL - 1) // 2
    for i in range(xy.shape[0]):
        col, row = int(xy[i, 0] * w), int(xy[i, 1] * h)
        if not (0 <= col < w and 0 <= row < h):
            continue
        r0, r1 = max(0, row - half), min(h, row + half + 1)
        c0, c1 = max(0, col - half), min(w, col + half + 1)
        conf = _sigmoid(heatmap[r0:r1, c0:c1, i].astype(np.float64))
        total = conf.sum()
        peaks[i] = conf.max()
        if peaks[i] >= HEATMAP_MIN_CONFIDENCE and total > 0:
            rows, cols = np.mgrid[r0:r1, c0:c1]
            out[i, 0] = (cols * conf).sum() / total / w
            out[i, 1] = (rows * conf).sum() / total / h
    return out, peaks


def _model_bytes(task_file: Path) -> bytes:
    with zipfile.ZipFile(task_file) as z:
        return z.read(LANDMARK_MODEL_NAME)


class LandmarkPass:
    """MediaPipe's pose landmark network on a region of an RGB image (uint8, H × W × 3)."""

    def __init__(self, task_file: Path | None = None, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        from genhmr_app.detection.detector import DEFAULT_TASK_PATH

        self._net = Interpreter(model_content=_model_bytes(task_file or DEFAULT_TASK_PATH), num_threads=threads)
        self._net.allocate_tensors()
        self._input = self._net.get_input_details()[0]["index"]
        by_shape = {tuple(d["shape"][1:]): d["index"] for d in self._net.get_output_details()}
        self._landmarks = by_shape[(195,)]
        self._flag = by_shape[(1,)]
        self._heatmap = by_shape[(64, 64, 39)]
        self._lock = threading.Lock()

    def forward(self, rgb: np.ndarray, region: Region, mirrored: bool = False
                ) -> tuple[np.ndarray, np.ndarray, float]:
        """The network's raw outputs on the region's crop: (39, 5) landmarks in crop pixels (x, y, z,
        visibility and presence logits), the (64, 64, 39) heatmap logits and the pose score. `mirrored`:
        the crop is flipped left to right first and the outputs are returned as the network gave them
        (scripts/analysis/flip_pass.py maps them back)."""
        crop = cv2.warpAffine(rgb, region.pixel_map(), (INPUT_SIDE, INPUT_SIDE), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=BORDER, borderValue=0)
        if mirrored:
            crop = crop[:, ::-1]
        x = (crop.astype(np.float32) / 255.0)[None]
        with self._lock:
            self._net.set_tensor(self._input, x)
            self._net.invoke()
            raw = self._net.get_tensor(self._landmarks).reshape(39, 5).copy()
            flag = float(self._net.get_tensor(self._flag).reshape(-1)[0])
            heatmap = self._net.get_tensor(self._heatmap)[0].copy()
        return raw, heatmap, flag

    def run(self, rgb: np.ndarray, region: Region) -> PassResult:
        raw, heatmap, flag = self.forward(rgb, region)
        affine = region.crop_to_image()
        xy, peaks = refine_from_heatmap(raw[:, :2] / INPUT_SIDE, heatmap)
        image_xy = (xy * INPUT_SIDE) @ affine[:, :2].T + affine[:, 2]
        return PassResult(image_xy[:33].astype(np.float32), _sigmoid(raw[:33, 3]).astype(np.float32),
                          _sigmoid(raw[:33, 4]).astype(np.float32), image_xy[33:35].astype(np.float64),
                          peaks[:33].astype(np.float32), flag)

    def close(self) -> None:
        with self._lock:
            self._net = None
