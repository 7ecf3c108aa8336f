"""What the app holds while it runs: the active body model, the detector and the device.

No Qt here; the UI calls these methods from its worker thread. One lock serialises detector use,
because a MediaPipe landmarker must not be fed from two threads at once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genhmr_app.detection import DetectionResult, PoseDetector
from genhmr_app.detection.landmarks import MP33_EDGES, MP33_LEFT, MP33_RIGHT
from genhmr_app.device import describe_device, resolve_device
from genhmr_app.image.loading import LoadedImage, load_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageAnalysis:
    image: LoadedImage
    detection: DetectionResult
    load_ms: float


class CoreSession:
    def __init__(self, body_model, body_model_warning: str | None, device_preference: str = "auto") -> None:
        self.body_model = body_model
        self.body_model_warning = body_model_warning
        self.device = resolve_device(device_preference)
        self._detector: PoseDetector | None = None
        self._lock = threading.Lock()
        self._rest_vertices: np.ndarray | None = None

    @classmethod
    def create(cls, smpl_model_path: str = "", device_preference: str = "auto") -> CoreSession:
        from genhmr_app.body.model import load_body_model_with_fallback

        device = resolve_device(device_preference)
        body, warning = load_body_model_with_fallback(Path(smpl_model_path) if smpl_model_path else None, device=device)
        return cls(body, warning, device_preference)

    @property
    def body_model_name(self) -> str:
        return self.body_model.info.name if self.body_model is not None else "none"

    @property
    def device_name(self) -> str:
        return describe_device(self.device)

    def detector(self) -> PoseDetector:
        if self._detector is None:
            self._detector = PoseDetector(mode="image")
        return self._detector

    def analyse_image_file(self, path: str | Path) -> ImageAnalysis:
        start = time.perf_counter()
        image = load_image(path)
        load_ms = (time.perf_counter() - start) * 1e3
        with self._lock:
            detection = self.detector().detect(image.rgb)
        return ImageAnalysis(image, detection, load_ms)

    def rest_vertices(self) -> np.ndarray:
        if self._rest_vertices is None:
            import torch

            with torch.no_grad():
                out = self.body_model.forward(torch.zeros(1, 3), torch.zeros(1, 69))
            self._rest_vertices = out.vertices[0].cpu().numpy()
        return self._rest_vertices

    @staticmethod
    def skeleton_33() -> tuple[list[tuple[int, int]], list[str]]:
        sides = ["left" if i in MP33_LEFT else "right" if i in MP33_RIGHT else "centre" for i in range(33)]
        return list(MP33_EDGES), sides

    def close(self) -> None:
        with self._lock:
            if self._detector is not None:
                self._detector.close()
                self._detector = None
