"""User settings, persisted as JSON in the platformdirs config folder.

Writes are atomic (temp file + rename) and the previous file is kept as `.bak`, so a crash while
saving never destroys the user's configuration.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from genhmr_app.paths import user_config_dir

log = logging.getLogger(__name__)


# The live One-Euro filter's strength (motion/live_smoothing.py). 0.4 since the filter predicts (sixteenth
# session): as calm as the former filter at 0.3, at rest and in motion, with less lag. 0.3 since the
# thirty-first, whose live decoding is calmer by itself: the lightest strength (of 0.4 / 0.3 / 0.2 / 0.1)
# that still cuts white rotation jitter by a third (0.60 / 0.65 / 0.70 / 0.75 of it left); on the 18
# rendered validation clips live over still 1.011 / 1.004 / 0.999 / 0.996x, joint acceleration in
# motion 22.7 / 23.8 / 24.7 / 25.6 and at rest 1.9 / 2.2 / 2.5 / 2.8 mm/frame² (five clips;
# scripts/analysis/live_jitter.py), against 30.9 and 4.8 for the old decoding at 0.4.
# 0.5 since the forty-first, whose filter also opens when the detected keypoints move (live_smoothing.py,
# EVIDENCE_GAIN_HZ): on the 18 validation clips, with the fortieth session's feedback generator, live over
# still 1.021x at 0.3 without the evidence, 1.011x at 0.5 with it (1.007x unsmoothed); white rotation
# jitter left 0.65 → 0.54; joint acceleration at rest 2.00 → 1.55 mm/frame² (4.14 unsmoothed), in motion
# 19.0 → 21.0 (23.3 unsmoothed): calmer when still, closer to the truth in motion. Gain and floor chosen
# from 30 / 100 / 300 Hz and 0 / 0.03 / 0.1 heights/s at strengths 0.3 / 0.4 / 0.5, recomputed offline
# on the recorded unfiltered live outputs (the filter never feeds back into tracking).
DEFAULT_LIVE_SMOOTHING = 0.5
DEFAULT_ITERATIONS = 5  # MaskGIT sampling iterations N
# Refinement steps P: 0 is none; P >= 1 runs the joint-space fit (refinement/joint_fit.py) after P - 1
# latent steps (refinement/refine.py). Tenth session: with the uncertainty-guided joint fit the latent
# steps no longer moved the validation scenes' error (bench cost table: P=1..10 within 2 mm), so P=1,
# the joint fit alone, keeps the whole pipeline well under 3x the detector's time.
DEFAULT_REFINE_STEPS = 1


@dataclass
class InferenceSettings:
    iterations: int = DEFAULT_ITERATIONS
    temperature: float = 1.0
    refine_steps: int = DEFAULT_REFINE_STEPS
    hypotheses: int = 1
    seed: int = 0
    live_smoothing: float = DEFAULT_LIVE_SMOOTHING  # One-Euro strength for live input (motion/live_smoothing.py)


@dataclass
class AppSettings:
    smpl_model_path: str = ""  # empty: search the default places (see genhmr_app.body.model)
    device: str = "auto"
    inference: InferenceSettings = field(default_factory=InferenceSettings)
    recent_files: list[str] = field(default_factory=list)

    def add_recent(self, path: str | Path, limit: int = 10) -> None:
        p = str(Path(path).resolve())
        self.recent_files = [p] + [r for r in self.recent_files if r != p][: limit - 1]


def settings_path() -> Path:
    return Path(os.environ.get("GENHMR_SETTINGS", user_config_dir() / "settings.json"))


def _from_dict(cls, data: dict):
    known = {f.name: f for f in fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in known:
            continue  # settings from a newer/older version: ignore unknown keys
        if key == "inference" and isinstance(value, dict):
            value = _from_dict(InferenceSettings, value)
        kwargs[key] = value
    return cls(**kwargs)


def load_settings(path: Path | None = None) -> AppSettings:
    path = path or settings_path()
    if not path.exists():
        return AppSettings()
    try:
        return _from_dict(AppSettings, json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        # Keep the unreadable file for the user instead of overwriting it on the next save.
        backup = path.with_suffix(".corrupt.json")
        try:
            path.replace(backup)
        except OSError:
            pass
        log.warning("settings file %s unreadable (%s); moved to %s, using defaults", path, exc, backup)
        return AppSettings()


def save_settings(settings: AppSettings, path: Path | None = None) -> Path:
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(settings), indent=2))
    if path.exists():
        shutil.copy2(path, path.with_suffix(".json.bak"))
    tmp.replace(path)  # atomic on POSIX and Windows
    return path
