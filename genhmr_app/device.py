"""Pick the torch device: CUDA when torch sees one, else CPU, overridable by the user."""

from __future__ import annotations

import torch


def resolve_device(preference: str = "auto") -> torch.device:
    """`auto` picks CUDA if available; an unavailable explicit choice falls back to CPU rather than failing."""
    pref = (preference or "auto").lower()
    if pref == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if pref.startswith("cuda") and not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device(pref)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    return "CPU"
