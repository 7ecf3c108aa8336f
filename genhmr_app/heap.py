"""Python's cyclic garbage collector in a long-running window.

A full (generation-2) collection walks every object the process holds. Once torch, VTK, Qt and the
models are loaded that took 115-220 ms here, and during a live stream one came about every 45 s: the
window froze for ~200 ms (bench-app's memory run, timed with gc.callbacks). `gc.freeze()` moves the
objects alive now out of the collector's sight, so later collections walk only what was made since.
The models, the window and the caches built at start-up are not garbage; nothing of them needs
walking again.
"""

from __future__ import annotations

import gc


def settle(collect: bool = True) -> None:
    """Collect what is garbage now (`collect`: a pass over everything, so only at moments the user
    does not wait on) and exempt everything still alive from later collections."""
    if collect:
        gc.collect()
    gc.freeze()


__all__ = ["settle"]
