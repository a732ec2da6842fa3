"""Executors: where plates (and the sweeps inside them) run.

* ``LocalExecutor``: plates run one after another in this process; ``ctx.map`` sweeps run in a pool of
  ``jobs`` worker processes (one torch thread each), or inline when ``jobs == 1``.
* ``RayExecutor``: each plate is a Ray task and so is each item of ``ctx.map``; on a local Ray by default
  or on a cluster at ``address``. Figures travel back as PNG bytes, so workers need no shared disk.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import DeepGeometryError


def _init_worker(threads: int, plate_files: Sequence[str] = ()) -> None:
    import torch

    torch.set_num_threads(max(1, threads))
    if plate_files:  # user plate modules must be importable where their sweep functions run
        from .runner import load_plate_file

        for f in plate_files:
            load_plate_file(f)


class LocalExecutor:
    name = "local"

    def __init__(self, jobs: int = 1, threads: int = 1, plate_files: Sequence[str] = ()):
        if jobs < 1:
            raise DeepGeometryError(f"--jobs must be >= 1, got {jobs}")
        self.jobs = int(jobs)
        self.threads = int(threads)
        self.plate_files = tuple(str(f) for f in plate_files)
        self._pool: cf.ProcessPoolExecutor | None = None

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        items = list(items)
        if self.jobs == 1 or len(items) <= 1:
            return [fn(x) for x in items]
        return list(self._get_pool().map(fn, items))

    def _get_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.jobs, mp_context=mp.get_context("spawn"),
                initializer=_init_worker, initargs=(self.threads, self.plate_files))
        return self._pool

    def run_plates(self, tasks: Sequence[Any], run_one: Callable[[Any], Any]):
        """Plates one by one in this process (``jobs == 1``, sweeps may use the pool), or whole plates
        spread over ``jobs`` worker processes (each plate's sweeps then run inline in its worker)."""
        tasks = list(tasks)
        if self.jobs == 1 or len(tasks) <= 1:
            for t in tasks:
                yield t, run_one(t)
            return
        from .runner import execute

        pool = self._get_pool()
        futures = {pool.submit(execute, t): t for t in tasks}
        for fut in cf.as_completed(futures):
            t = futures[fut]
            try:
                payload = fut.result()
            except Exception as e:  # noqa: BLE001 - a worker that died is a failed plate
                payload = {"error": f"worker process failed: {type(e).__name__}: {e}", "result": None,
                           "verdict": None, "seconds": 0.0, "figures": []}
            yield t, payload

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


def _ray():
    try:
        import ray
    except ImportError:  # pragma: no cover - depends on the install
        raise DeepGeometryError("--executor ray needs Ray: pip install 'deepgeometry[ray]'") from None
    return ray


class RayMap:
    """``ctx.map`` inside a Ray task: one Ray task per item."""

    def __init__(self, threads: int = 1):
        self.threads = threads

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        ray = _ray()
        threads = self.threads

        def call(x):
            _init_worker(threads)
            return fn(x)

        remote = ray.remote(num_cpus=1)(call)
        return ray.get([remote.remote(x) for x in items])


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, threads: int = 1):
        ray = _ray()
        self.threads = threads
        self._started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "ignore_reinit_error": True}
            if address:
                kwargs["address"] = address
            elif num_cpus:
                kwargs["num_cpus"] = num_cpus
            try:
                ray.init(**kwargs)
            except Exception as e:  # noqa: BLE001 - report any connection failure in one line
                raise DeepGeometryError(f"cannot start or reach Ray at {address or 'local'}: {e}") from None
            self._started = True
        import sys

        from .runner import USER_PLATE_MODULES

        for name in USER_PLATE_MODULES:  # workers cannot import users' plate files: send them by value
            ray.cloudpickle.register_pickle_by_value(sys.modules[name])

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        return RayMap(self.threads).map(fn, items)

    def run_plates(self, tasks: Sequence[Any], run_one: Callable[[Any], Any]):
        ray = _ray()
        remote = ray.remote(num_cpus=1)(run_one)
        refs = {remote.remote(t): t for t in tasks}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for r in done:
                yield refs[r], ray.get(r)

    def close(self) -> None:
        if self._started:
            _ray().shutdown()
            self._started = False
