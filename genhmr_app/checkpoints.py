"""Save and open the project's own torch checkpoints and JSON weight files, with errors that say what
is wrong.

Every checkpoint is a dict with a "format" tag, a "config" and a "state_dict"; weights-only loading
means a tampered file cannot run code. A JSON weight file (the landmark placement, the landmark
noise) is written whole or not at all, and an optional one that is missing reads as None.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch


log = logging.getLogger(__name__)


def save_json_atomically(path: Path, data: dict, indent: int | None = None) -> None:
    """Write `data` to `path` through a temporary file, so a crash never leaves half a file in place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=indent))
    tmp.replace(path)


def read_optional_json(path: Path, error: type[Exception], missing_warning: str) -> dict | None:
    """The JSON in `path`; None, with `missing_warning` logged (%s: the path), when there is no file;
    `error` when it cannot be read."""
    path = Path(path)
    if not path.exists():
        log.warning(missing_warning, path)
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: cannot be read ({exc})") from exc


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
