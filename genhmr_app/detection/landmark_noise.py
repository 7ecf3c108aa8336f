"""How MediaPipe's landmark errors go together: the correlation of the errors of its 66 coordinates.

Why: the joint fit (refinement/joint_fit.py) weighs each landmark by its visibility as if every
landmark erred on its own. They do not. On renders of the training poses (the detector data) the
eleven face points move as one (correlation 0.88 between the nose's and an eye's y), the two
shoulders trade width (x errors −0.20), the two hips move up and down together (0.54), a wrist takes
its hand points with it (0.73), and a shoulder its hip on the same side (0.42). Counted as independent,
the face outvotes the body eleven to one and a shared error reads as eleven confirmations. Whitening
the fit's residuals by this correlation counts each shared error once. Twenty-fifth session, rendered
validation scenes (seed 10, 597; not the bench's), at half strength (JointFitSettings): MPJPE 72.08 →
71.62 mm (−0.45, −0.61 to −0.29). With a first estimate from another seed's validation renders, only
the face's block gave −0.22, only the body's −0.05, all of it −0.49; weighting each landmark by its
own error spread (the diagonal alone) 0.00.

Coordinates in the order (x0, y0, x1, y1, ...) of MediaPipe's 33 landmarks. Measured by
training/calibrate_landmark_noise.py; the numbers live in weights/detector/landmark_noise.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from genhmr_app.checkpoints import read_optional_json, save_json_atomically
from genhmr_app.paths import WEIGHTS_DIR

NOISE_FORMAT = "genhmr-landmark-noise/1"
NOISE_PATH = WEIGHTS_DIR / "detector" / "landmark_noise.json"
NUM_COORDINATES = 66  # 33 landmarks x (x, y)


class LandmarkNoiseError(ValueError):
    """A landmark-noise file that cannot be used (unreadable, wrong format, not a correlation matrix)."""


@dataclass(frozen=True)
class LandmarkNoise:
    correlation: np.ndarray  # (66, 66) symmetric, unit diagonal, positive definite
    source: str = ""
    metrics: dict = field(default_factory=dict)  # what the calibration measured

    def __post_init__(self) -> None:
        check_correlation(self.correlation, "landmark noise")

    def blended(self, strength: float) -> torch.Tensor:
        """(66, 66) float32: (1 − strength) · identity + strength · the measured correlation. Below 1 it
        shrinks towards independence what a finite sample estimated (and stays positive definite)."""
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"the correlation's strength must lie in [0, 1], not {strength}")
        eye = np.eye(NUM_COORDINATES)
        return torch.tensor((1 - strength) * eye + strength * self.correlation, dtype=torch.float32)

    def to_json(self) -> dict:
        return {"format": NOISE_FORMAT, "source": self.source, "metrics": self.metrics,
                "correlation": np.round(self.correlation, 6).tolist()}

    def save(self, path: Path = NOISE_PATH) -> None:
        save_json_atomically(path, self.to_json())

    @classmethod
    def from_json(cls, data: dict, origin: str = "landmark noise") -> LandmarkNoise:
        if not isinstance(data, dict) or data.get("format") != NOISE_FORMAT:
            raise LandmarkNoiseError(f"{origin}: not a {NOISE_FORMAT} file")
        try:
            matrix = np.asarray(data["correlation"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise LandmarkNoiseError(f"{origin}: no readable correlation matrix ({exc})") from exc
        check_correlation(matrix, origin)
        return cls(matrix, str(data.get("source", "")), dict(data.get("metrics") or {}))

    @classmethod
    def load(cls, path: Path = NOISE_PATH) -> LandmarkNoise | None:
        """The correlation in `path`, or None (with a warning) when there is none: the fit then counts
        every landmark as erring on its own."""
        data = read_optional_json(path, LandmarkNoiseError, "no landmark-noise correlation at %s: the fit counts "
                                  "every landmark's error as its own (run `python main.py calibrate-landmark-noise`)")
        return None if data is None else cls.from_json(data, str(path))


def check_correlation(matrix: np.ndarray, origin: str) -> None:
    """Raise LandmarkNoiseError unless `matrix` is a (66, 66) finite, symmetric, unit-diagonal, positive
    definite matrix (what the fit's whitening needs)."""
    if matrix.shape != (NUM_COORDINATES, NUM_COORDINATES):
        raise LandmarkNoiseError(f"{origin}: the correlation is {matrix.shape}, not 66 x 66 (33 landmarks' x and y)")
    if not np.isfinite(matrix).all():
        raise LandmarkNoiseError(f"{origin}: the correlation has NaN or infinite entries")
    if not np.allclose(matrix, matrix.T, atol=1e-3) or not np.allclose(np.diag(matrix), 1.0, atol=1e-3):
        raise LandmarkNoiseError(f"{origin}: not a correlation matrix (it must be symmetric with ones on the diagonal)")
    if np.linalg.eigvalsh((matrix + matrix.T) / 2).min() <= 0:
        raise LandmarkNoiseError(f"{origin}: the correlation is not positive definite")
