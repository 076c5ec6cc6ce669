"""Where sweep points run: in this process, in local worker processes, or as Ray tasks.

Each backend takes batches of points (``submit``) and hands back their rows as batches finish
(``next_done``); the driver alone writes ``results.csv``. Ray is an optional extra
(``pip install 'drlsim[ray]'``); a cluster is joined with ``--address`` or started locally.
"""

import concurrent.futures as cf
import multiprocessing
import os
import socket
import threading
import time

from drlsim.points import run_batch
from drlsim.sweepfile import Point, SweepSpec

WORKER_ENV = {"TQDM_DISABLE": "1"}
"""Set in every worker: a point's progress bar would only fill its log."""


def _init_worker(driver: int) -> None:
    os.environ.update(WORKER_ENV)
    threading.Thread(target=_exit_with, args=(driver,), daemon=True).start()


def _exit_with(driver: int) -> None:
    """Ends this worker within a second of the driver's death (a kill -9 gives the pool no chance to
    stop it): its point is lost, as the point of a killed sweep should be, and it cannot race a
    resumed sweep that starts the same point again."""
    while os.getppid() == driver:
        time.sleep(1.0)
    os._exit(1)


class Inline:
    """Runs each batch in this process when its rows are asked for (``--workers 1``)."""

    def __init__(self, spec: SweepSpec, out: str) -> None:
        self._spec, self._out, self._queue = spec, out, []

    @property
    def in_flight(self) -> int:
        """Batches submitted and not yet handed back."""
        return len(self._queue)

    def submit(self, tag: object, points: list[Point]) -> None:
        """Queues ``points``; ``tag`` comes back with their rows."""
        self._queue.append((tag, points))

    def next_done(self) -> tuple[object, list[dict]]:
        """Runs the oldest batch and returns ``(tag, rows)``."""
        tag, points = self._queue.pop(0)
        return tag, run_batch(self._spec, self._out, points)

    def close(self) -> None:
        """Nothing to release."""


class LocalProcesses:
    """Worker processes on this machine (spawned: each imports torch and the simulator once)."""

    def __init__(self, spec: SweepSpec, out: str, workers: int) -> None:
        self._spec, self._out, self._workers = spec, out, workers
        self._pool = self._new_pool()
        self._futures: dict[cf.Future, tuple[object, list[Point]]] = {}

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(self._workers, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_init_worker, initargs=(os.getpid(),))

    @property
    def in_flight(self) -> int:
        """Batches submitted and not yet handed back."""
        return len(self._futures)

    def submit(self, tag: object, points: list[Point]) -> None:
        """Starts ``points`` on a free worker (or queues them)."""
        self._futures[self._pool.submit(run_batch, self._spec, self._out, points)] = (tag, points)

    def next_done(self) -> tuple[object, list[dict]]:
        """Waits for a batch; a worker that died (killed, out of memory) fails the batches it took down."""
        done, _ = cf.wait(self._futures, return_when=cf.FIRST_COMPLETED)
        future = next(iter(done))
        tag, points = self._futures.pop(future)
        try:
            return tag, future.result()
        except cf.process.BrokenProcessPool:
            self._restart()
            return tag, [failed_row(p, "a worker process died while the point ran") for p in points]

    def _restart(self) -> None:
        pending = list(self._futures.values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool, self._futures = self._new_pool(), {}
        for tag, points in pending:
            self.submit(tag, points)

    def close(self) -> None:
        """Stops the workers (points still running are lost, as with a kill)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class RayTasks:
    """Ray tasks, one CPU each, at most ``workers`` in flight; on a local cluster of ``workers`` CPUs
    unless ``address`` names a running one."""

    def __init__(self, spec: SweepSpec, out: str, workers: int, address: str | None) -> None:
        ray = import_ray()
        ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
                 log_to_driver=False, runtime_env={"env_vars": WORKER_ENV})
        self._ray, self._spec, self._out = ray, spec, out
        self._task = ray.remote(num_cpus=1)(run_batch)
        self._refs: dict[object, tuple[object, list[Point]]] = {}

    @property
    def in_flight(self) -> int:
        """Batches submitted and not yet handed back."""
        return len(self._refs)

    def submit(self, tag: object, points: list[Point]) -> None:
        """Starts ``points`` as one Ray task."""
        self._refs[self._task.remote(self._spec, self._out, points)] = (tag, points)

    def next_done(self) -> tuple[object, list[dict]]:
        """Waits for a task; one whose worker died fails its points."""
        [ref], _ = self._ray.wait(list(self._refs), num_returns=1)
        tag, points = self._refs.pop(ref)
        try:
            return tag, self._ray.get(ref)
        except (self._ray.exceptions.WorkerCrashedError, self._ray.exceptions.NodeDiedError) as error:
            return tag, [failed_row(p, f"the Ray worker died: {type(error).__name__}") for p in points]

    def close(self) -> None:
        """Leaves the cluster (a local one stops)."""
        self._ray.shutdown()


def failed_row(point: Point, error: str) -> dict:
    """The row of a point that could not run."""
    return {"point": point.id, **dict(point.values), "seed": point.seed, "status": "error", "error": error}


def import_ray():
    """Ray, or a ValueError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ValueError("--backend ray needs Ray: pip install 'drlsim[ray]' (or pip install 'ray[default]')") from None
    return ray


def check_reachable(address: str, timeout_s: float = 3.0) -> None:
    """Raises ValueError unless something answers at ``address`` (``host:port``, ``ray://host:port``)."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--address must be host:port (or ray://host:port, or auto), got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise ValueError(f"--address {address}: no Ray cluster answers ({error.strerror or error})") from None


def check_backend(backend: str, address: str | None) -> None:
    """Refuses a backend that cannot start (Ray not installed, a cluster that does not answer) before
    anything is written."""
    if backend != "ray":
        if address:
            raise ValueError("--address needs --backend ray")
        return
    import_ray()
    if address:
        check_reachable(address)


def make_backend(spec: SweepSpec, out: str, backend: str, workers: int,
                 address: str | None) -> Inline | LocalProcesses | RayTasks:
    """The backend asked for on the command line (checked by :func:`check_backend`)."""
    if backend == "ray":
        return RayTasks(spec, out, workers, address)
    return Inline(spec, out) if workers == 1 else LocalProcesses(spec, out, workers)
