"""Pieces shared by the trainers: one optimisation step, and a resumable training state."""

from __future__ import annotations

from pathlib import Path

import torch


class TrainingDiverged(RuntimeError):
    """A loss or gradient became NaN/inf: the step is not applied and the run stops."""


def optimisation_step(loss: torch.Tensor, model: torch.nn.Module, opt: torch.optim.Optimizer, sched,
                      max_grad_norm: float = 1.0, step: int | None = None) -> None:
    """One update; a non-finite loss or gradient raises TrainingDiverged before the weights change, so
    the model (and the last checkpoint on disk) stay the last good ones."""
    where = f" at step {step + 1}" if step is not None else ""
    if not torch.isfinite(loss):
        raise TrainingDiverged(f"the loss became {float(loss)}{where}; stopped, the last good checkpoint is kept")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    if not torch.isfinite(norm):
        opt.zero_grad(set_to_none=True)
        raise TrainingDiverged(f"the gradients became non-finite{where}; stopped, the last good checkpoint is kept")
    opt.step()
    sched.step()


def save_training_state(path: Path, model, opt, sched, gen: torch.Generator, step: int, **extra) -> None:
    """Everything a resumed run needs to continue exactly where this one stopped."""
    tmp = Path(path).with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                "gen": gen.get_state(), "torch_rng": torch.get_rng_state(), "step": step, **extra}, tmp)
    tmp.replace(path)


def restore_training_state(blob: dict, model, opt, sched, gen: torch.Generator) -> int:
    model.load_state_dict(blob["model"])
    opt.load_state_dict(blob["opt"])
    sched.load_state_dict(blob["sched"])
    gen.set_state(blob["gen"])
    torch.set_rng_state(blob["torch_rng"])
    return int(blob["step"])
