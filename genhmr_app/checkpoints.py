"""Save and open the project's own torch checkpoints, with errors that say what is wrong.

Every checkpoint is a dict with a "format" tag, a "config" and a "state_dict"; weights-only loading
means a tampered file cannot run code.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch


def save_checkpoint(path: Path, fmt: str, config: dict, state_dict: dict, card: dict | None = None, **extra) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"format": fmt, "config": config, "state_dict": state_dict, **extra}, tmp)
    tmp.replace(path)  # a crash mid-write never leaves a half-written checkpoint in place
    if card is not None:
        path.with_suffix(".json").write_text(json.dumps(card, indent=2))


def open_checkpoint(path: Path, fmt: str, what: str, error: type[Exception], train_hint: str,
                    device: str | torch.device = "cpu") -> dict:
    from genhmr_app.paths import WEIGHTS_DIR, repair_hint

    path = Path(path)
    # A shipped file (under the weights folder) is repaired by reinstalling; a user's own by retraining.
    shipped = path.resolve().is_relative_to(WEIGHTS_DIR.resolve())
    hint = repair_hint(path) if shipped else train_hint
    if not path.exists():
        raise error(f"{what} weights not found: {path}. {hint}")
    try:
        blob = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged file
        raise error(f"{what} weights {path} are corrupt or not a torch file ({exc}). {hint}") from None
    if not isinstance(blob, dict) or blob.get("format") != fmt:
        raise error(f"{path.name} is not a GenHMR {what.lower()} checkpoint.")
    return blob


def load_state(model: torch.nn.Module, blob: dict, path: Path, what: str, error: type[Exception]) -> None:
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as exc:
        raise error(f"{what} {Path(path).name} does not match its own config: {exc}") from None
