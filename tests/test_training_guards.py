"""Training stops cleanly on NaN (issue 9): the step is not applied, the message names the step."""

from __future__ import annotations

import pytest
import torch

from genhmr_app.training.loop import TrainingDiverged, optimisation_step


def _setup():
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, 10)
    return model, opt, sched


def test_nan_loss_stops_before_the_weights_change():
    model, opt, sched = _setup()
    before = [p.detach().clone() for p in model.parameters()]
    loss = model(torch.ones(2, 3)).sum() * float("nan")
    with pytest.raises(TrainingDiverged, match="at step 42"):
        optimisation_step(loss, model, opt, sched, step=41)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


class _InfGrad(torch.autograd.Function):
    """Identity forward, infinite gradient backward: a finite loss whose gradients blow up."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("inf")


def test_non_finite_gradients_stop_too():
    model, opt, sched = _setup()
    before = [p.detach().clone() for p in model.parameters()]
    loss = _InfGrad.apply(model(torch.ones(2, 3))).sum()
    assert torch.isfinite(loss)
    with pytest.raises(TrainingDiverged, match="gradients became non-finite"):
        optimisation_step(loss, model, opt, sched, step=0)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_a_finite_step_updates():
    model, opt, sched = _setup()
    before = model.weight.detach().clone()
    optimisation_step(model(torch.ones(2, 3)).sum(), model, opt, sched, step=0)
    assert not torch.equal(before, model.weight)
