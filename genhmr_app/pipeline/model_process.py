"""The models in a child process, so that the window's own threads never wait on them for the GIL.

On a 2-core laptop the window's thread, the software GL and the model all want a core. Model code run
in a thread of the window's process holds the GIL between its many small tensor operations, and the
UI thread (and VTK's render, which holds the GIL while it draws) then wait on each other: a keypoint
drag's refit that takes 30 ms alone took 70-90 ms beside the window. A child process has its own GIL.

    proc = ModelProcess.start(tokenizer_path=..., generator_path=...)
    value = proc.call(some_module_level_function, *args)   # runs some_module_level_function(ctx, *args)

- The child builds its own Reconstructor from the same weight files (objects are never pickled: only
  the paths travel), with one torch thread, and keeps a `ModelContext` whose `cache` dict lets calls
  keep state between them (e.g. the person being edited).
- `call` blocks its caller (a worker thread, which waits without holding the GIL) and returns the
  function's value or raises `ModelProcessError` with the child's message. Calls are serialised.
- A child that dies (killed, out of memory) makes every later call raise `ModelProcessError`; callers
  fall back to their own thread.

No Qt here: the UI calls it from its worker threads.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0  # loading torch and the weights in a fresh process: seconds, more on a busy machine
STOP_TIMEOUT_S = 5.0


class ModelProcessError(RuntimeError):
    """The child could not do the call (its own exception, or it is gone)."""


@dataclass
class ModelContext:
    """What a function called in the child receives first."""

    recon: Any  # pipeline.reconstructor.Reconstructor
    cache: dict = field(default_factory=dict)


def _serve(conn, recon_kwargs: dict, threads: int, warm_up=None, nice: int = 0) -> None:
    """The child's loop: build the models once (and run `warm_up(ctx)`, if given, before saying it is
    ready), then run calls until told to stop or the parent goes. `nice`: how far below the window
    the child runs (see pipeline/live_stream.LIVE_MODEL_NICE)."""
    if nice > 0:
        import os

        try:
            os.nice(nice)
        except OSError:  # not allowed here: the child runs at the window's priority
            pass
    try:
        import torch

        torch.set_num_threads(threads)
        from genhmr_app.pipeline.reconstructor import Reconstructor

        ctx = ModelContext(Reconstructor(**recon_kwargs))
        if warm_up is not None:
            warm_up(ctx)
        from genhmr_app import heap

        heap.settle()  # the models stay: a 200 ms full collection mid-stream would delay a frame
        conn.send(("ready", None))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which decides
        conn.send(("error", f"the model process could not load the models: {type(exc).__name__}: {exc}"))
        return
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if message is None:
            return
        func, args, kwargs = message
        try:
            reply = ("ok", func(ctx, *args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller
            log.debug("%s", traceback.format_exc())
            reply = ("error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return


class ModelProcess:
    def __init__(self, process, conn) -> None:
        self._process = process
        self._conn = conn
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._failure: str | None = None
        self._closing = False

    @classmethod
    def start(cls, tokenizer_path: Path | None = None, generator_path: Path | None = None,
              threads: int = 1, wait: bool = False, warm_up=None, nice: int = 0) -> ModelProcess:
        """Start the child (spawned: a fork of a process with Qt and MediaPipe threads is unsafe).
        With `wait=False` it loads in the background; `ready` says when calls will be served.
        `warm_up`: a module-level function run in the child as `warm_up(ctx)` once the models are
        loaded, before it is ready (what the first call would otherwise pay for)."""
        kwargs = {"device": "auto"}
        if tokenizer_path is not None:
            kwargs["tokenizer_path"] = Path(tokenizer_path)
        if generator_path is not None:
            kwargs["generator_path"] = Path(generator_path)
        context = mp.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child, kwargs, threads, warm_up, nice), daemon=True,
                                  name="genhmr-model")
        process.start()
        child.close()
        proc = cls(process, parent)
        waiter = threading.Thread(target=proc._await_ready, daemon=True, name="genhmr-model-start")
        waiter.start()
        if wait:
            waiter.join(START_TIMEOUT_S)
        return proc

    def _await_ready(self) -> None:
        with self._lock:
            try:
                if not self._conn.poll(START_TIMEOUT_S):
                    self._failure = f"the model process did not start within {START_TIMEOUT_S:.0f} s"
                else:
                    status, value = self._conn.recv()
                    if status != "ready":
                        self._failure = value
            except (EOFError, OSError) as exc:
                self._failure = f"the model process ended while loading ({exc or 'no message'})"
            if self._failure is None:
                self._ready.set()
            elif not self._closing:  # a window closed while its model process loaded is no news
                log.warning("%s", self._failure)

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self._failure is None and self._process.is_alive()

    @property
    def failure(self) -> str | None:
        return self._failure

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> bool:
        self._ready.wait(timeout_s)
        return self.ready

    def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `func(ctx, *args, **kwargs)` in the child and return its value. `func` must be a
        module-level function (it travels by name)."""
        return self.call_overlapped(None, func, *args, **kwargs)

    def call_overlapped(self, meanwhile: Callable[[], Any] | None, func: Callable[..., Any], *args: Any,
                        **kwargs: Any) -> Any:
        """`call`, running `meanwhile()` in the calling thread while the child works (the caller
        would otherwise only wait). An exception from `meanwhile` is the caller's: it propagates once
        the child's reply has been read, so the pipe stays in step."""
        if not self.ready:
            raise ModelProcessError(self._failure or "the model process is not ready")
        own_error = None
        with self._lock:
            try:
                self._conn.send((func, args, kwargs))
                if meanwhile is not None:
                    try:
                        meanwhile()
                    except Exception as exc:  # noqa: BLE001 - re-raised below, after the reply
                        own_error = exc
                status, value = self._conn.recv()
            except (EOFError, OSError, BrokenPipeError) as exc:
                self._failure = f"the model process ended unexpectedly (exit code {self._process.exitcode})"
                self._ready.clear()
                raise ModelProcessError(self._failure) from exc
        if own_error is not None:
            raise own_error
        if status != "ok":
            raise ModelProcessError(value)
        return value

    def close(self) -> None:
        self._closing = True
        # A call in flight gets a moment to finish (a pipe must not carry two messages at once); after
        # that the child is stopped anyway: it must never keep the window from closing.
        if self._lock.acquire(timeout=1.0):
            try:
                if self._process.is_alive():
                    self._conn.send(None)
            except (EOFError, OSError):
                pass
            finally:
                self._lock.release()
            self._process.join(STOP_TIMEOUT_S)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(STOP_TIMEOUT_S)
        self._conn.close()
        self._ready.clear()
        self._failure = self._failure or "the model process was closed"


@dataclass
class ModelBackend:
    """Where a model call runs: in the model process once it is ready, else (before it has loaded,
    without one, or after it failed) on this process's own context. One object for both, so a caller
    does not carry the process and the fallback around separately."""

    process: ModelProcess | None
    local: ModelContext

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """`func(ctx, *args)` in the process when it is ready, else here."""
        if self.process is not None and self.process.ready:
            try:
                return self.process.call(func, *args)
            except ModelProcessError as exc:
                log.warning("the model process failed (%s); continuing in this process", exc)
        return func(self.local, *args)
