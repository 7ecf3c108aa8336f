"""Frozen TorchScript graphs of a small module, one per input signature, for CPU inference.

At inference the app runs small networks and kinematics at batch 1 to a few dozen, where PyTorch's
per-operation overhead is most of the cost. Tracing and freezing removes it, but a trace fixes its
input sizes, so one graph is kept per signature (a caller's key: a batch size, or the inputs' shapes).
Anything that must carry gradients is the caller's to run eagerly; if tracing ever fails the module
runs eagerly from then on, because the eager maths is the same, only slower.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Hashable

import torch
from torch import nn

log = logging.getLogger(__name__)


class FrozenGraphs:
    """`run(key, *args)` = `module(*args)`, through the frozen graph traced for `key` when there is one."""

    def __init__(self, module: nn.Module, max_graphs: int = 8) -> None:
        self.module = module
        self.max_graphs = max_graphs  # beyond this many signatures, new ones run eagerly
        self.graphs: dict[Hashable, torch.jit.ScriptModule] = {}
        self.failed = False
        self._lock = threading.Lock()  # the live worker and the UI's jobs may share a model

    def graph(self, key: Hashable, args: tuple[torch.Tensor, ...]) -> torch.jit.ScriptModule | None:
        """The graph for `key`, traced now with `args` if new; None: run eagerly."""
        with self._lock:
            if key not in self.graphs:
                if self.failed or len(self.graphs) >= self.max_graphs:
                    return None
                try:
                    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
                        warnings.simplefilter("ignore")  # the tracer's notes on shapes it fixes
                        traced = torch.jit.trace(self.module.eval(), args, check_trace=False)
                        graph = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
                        graph(*args)  # the first call optimises the graph further: pay it now
                except Exception as exc:  # noqa: BLE001 - an optimisation only
                    log.info("%s not traced (%s); running it eagerly", type(self.module).__name__, exc)
                    self.failed = True
                    return None
                self.graphs[key] = graph
            return self.graphs[key]

    def run(self, key: Hashable, *args: torch.Tensor):
        graph = self.graph(key, args)
        return self.module(*args) if graph is None else graph(*args)

    def __call__(self, *args: torch.Tensor):
        """`module(*args)`: through the graph for the arguments' shapes and dtypes when they are on the CPU
        and nothing asks for gradients; eagerly otherwise (autograd, another device, or inside a trace
        of a bigger graph, which takes this module's maths in whole)."""
        if torch.is_grad_enabled() or torch.jit.is_tracing() \
                or any(a.requires_grad or a.device.type != "cpu" for a in args):
            return self.module(*args)
        return self.run(tuple((a.shape, a.dtype) for a in args), *args)


__all__ = ["FrozenGraphs"]
