"""`infer --cluster [ADDRESS]`: the batch's tasks as Ray tasks.

Ray (an optional extra: `pip install "genhmr-studio[cluster]"`) schedules the tasks over a local
cluster it starts on this machine, or over an existing one (ADDRESS or $RAY_ADDRESS). Each Ray worker
process loads the models once (a per-process TaskRunner) and returns its results to the driver, which
writes them atomically: a worker killed mid-task writes nothing, Ray re-runs its task on another
worker (`max_retries`), and no output is ever half-written or written twice.

On a cluster of several machines every node needs genhmr-studio installed (the models ship inside the
package) and must see the input paths (a shared filesystem); only the driver writes the outputs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from genhmr_app.pipeline.batch import BatchError, ItemResult, ResultSink, Task, TaskRunner
from genhmr_app.pipeline.reconstructor import ReconstructionSettings

log = logging.getLogger(__name__)

RAY_PIN = "ray==2.60.0"
INSTALL_HINT = f'install it with `pip install "genhmr-studio[cluster]"` (or `pip install {RAY_PIN}`)'
TASK_RETRIES = 3  # re-runs of a task whose worker process died
CONNECT_TIMEOUT_S = 15


def require_ray():
    try:
        import ray
    except ImportError:
        raise BatchError(f"--cluster needs Ray, which is not installed: {INSTALL_HINT}.") from None
    return ray


# One runner per Ray worker process: the models load on its first task and stay for the next ones.
_RUNNERS: dict[tuple, TaskRunner] = {}


def _run_task(task: Task, settings: ReconstructionSettings, device: str, save_vertices: bool) -> list[ItemResult]:
    key = (settings, device, save_vertices)
    if key not in _RUNNERS:
        _RUNNERS[key] = TaskRunner(settings, device, save_vertices)
    try:
        return _RUNNERS[key].run(task)
    except BatchError as exc:
        # Models that don't load on this node fail every item with the reason; the batch goes on.
        node = os.uname().nodename if hasattr(os, "uname") else "this node"
        return [ItemResult(item, error=f"worker on {node}: {exc}") for item in task.items]


def connect(address: str | None, workers: int):
    """Start a local cluster with `workers` CPUs, or join `address` / $RAY_ADDRESS."""
    ray = require_ray()
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs = dict(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
                  logging_level=logging.WARNING, configure_logging=False)
    try:
        if address:
            if address != "auto" and not _reachable(address):
                raise BatchError(f"no Ray cluster answers at {address}: start one with `ray start --head` "
                                 "on the head node, or leave the address out to run a local cluster.")
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=workers, **kwargs)
    except BatchError:
        raise
    except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError, ...
        raise BatchError(f"could not start or join the Ray cluster ({address or 'local'}): {exc}") from exc
    return ray


def _reachable(address: str) -> bool:
    """A quick TCP check of host:port (Ray itself retries for a minute before it gives up)."""
    import socket

    host, _, port = address.rpartition(":")
    if address.startswith("ray://"):
        host, _, port = address[len("ray://"):].rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_TIMEOUT_S):
            return True
    except (OSError, ValueError):
        return False


def run_on_ray(tasks: list[Task], settings: ReconstructionSettings, device: str, save_vertices: bool,
               sink: ResultSink, address: str | None, workers: int,
               on_start: Callable[[int], None] | None = None) -> int:
    """Runs every task; returns the number of CPUs the cluster offered. Keeps at most two tasks per
    CPU in flight, so a huge batch does not sit in Ray's object store all at once."""
    ray = connect(address, workers)
    try:
        cpus = max(1, int(ray.cluster_resources().get("CPU", workers)))
        if on_start:
            on_start(cpus)
        remote = ray.remote(num_cpus=1, max_retries=TASK_RETRIES)(_run_task)
        settings_ref = ray.put(settings)
        queue = list(reversed(tasks))
        in_flight: dict = {}
        while queue or in_flight:
            while queue and len(in_flight) < 2 * cpus:
                task = queue.pop()
                in_flight[remote.remote(task, settings_ref, device, save_vertices)] = task
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                task = in_flight.pop(ref)
                try:
                    sink.add(ray.get(ref))
                except Exception as exc:  # noqa: BLE001 - the task failed even after its retries
                    reason = f"task failed after {TASK_RETRIES} retries: {type(exc).__name__}: {exc}"
                    sink.add([ItemResult(item, error=reason) for item in task.items])
        return cpus
    finally:
        ray.shutdown()
