"""The executor for a Ray cluster: one Ray task per task ("many models" pattern).

Each task runs its :meth:`Task.run_here` (the same work as its local process) in a worker
process that exits after the task (``max_calls=1``), so Keras memory is returned as with the
subprocess executor. A task lost with its worker or node is retried by Ray on another node
(``max_retries``); a task that fails on bad input is an answer, not a crash, and is not
retried. The market job's writes are idempotent per (run id, pair), so a retried pair that had
already written its rows writes nothing the second time.

Ray is an optional extra: ``pip install -e '.[ray]'``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from coinlstm.app.runtime.executors import base
from coinlstm.app.runtime.peak_memory import peak_rss_mb
from coinlstm.core.config import Settings
from coinlstm.core.errors import BadInput

#: How often Ray reruns a task whose worker or node died (system failures only).
TASK_RETRIES = 3


def _import_ray():
    try:
        import ray
    except ImportError:
        raise BadInput("--executor ray needs Ray: pip install -e '.[ray]'") from None
    return ray


def run_in_worker(settings: Settings, task: base.Task) -> dict:
    """Body of the Ray task: the task's result dict, failures included, plus its peak memory."""
    started = time.monotonic()
    result = task.run_here(settings)
    result["seconds"] = result.get("seconds") or time.monotonic() - started
    result["peak_rss_mb"] = peak_rss_mb()
    return result


class RayExecutor(base.ConfiguredExecutor):
    """At most ``workers`` tasks in flight; results stream back as tasks finish."""

    name = "ray"

    def __init__(self, config: base.ExecutorConfig) -> None:
        super().__init__(config)
        self.ray = _import_ray()
        self.address = config.ray_address

    def warm_up(self) -> None:
        """Nothing to warm: Ray starts (or joins) its cluster on the first run."""

    def close(self) -> None:
        """Nothing held between runs: the cluster outlives the job (or ends with it)."""

    def _connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():
            return
        if self.address:
            ray.init(address=self.address, log_to_driver=False)
        else:
            ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)

    def run(self, tasks: Iterable[base.Task], more: bool = False) -> Iterator[base.Outcome]:
        ray = self.ray
        self._connect()
        remote = ray.remote(max_calls=1, max_retries=TASK_RETRIES, retry_exceptions=False,
                            num_cpus=1)(run_in_worker)
        # Every node reads the same database URL and writes to the same artifact folder
        # (settings.artifacts): on a real cluster that folder must be shared (README).
        settings = self.settings
        queue = list(tasks)
        in_flight: dict = {}
        try:
            while queue or in_flight:
                while queue and len(in_flight) < self.workers:
                    task = queue.pop(0)
                    why = self.gate_closed()
                    if why is not None:
                        yield base.Outcome(task, base.FAILED, 0.0, why)
                        continue
                    ref = remote.remote(settings, task)
                    in_flight[ref] = (task, time.monotonic())
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
                for ref in ready:
                    task, started = in_flight.pop(ref)
                    yield self._outcome(ref, task, started)
                if self.timeout is None:
                    continue
                now = time.monotonic()
                for ref, (task, started) in list(in_flight.items()):
                    if now - started > self.timeout:
                        ray.cancel(ref, force=True)
                        del in_flight[ref]
                        yield base.Outcome(task, base.TIMEOUT, now - started,
                                      f"timed out after {self.timeout:g} s; Ray worker killed")
        finally:
            for ref in in_flight:
                ray.cancel(ref, force=True)

    def _outcome(self, ref, task: base.Task, started: float) -> base.Outcome:
        seconds = time.monotonic() - started
        try:
            result = self.ray.get(ref)
        except Exception as exc:  # the task crashed or its retries ran out
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:300]
            return base.Outcome(task, base.FAILED, seconds, f"Ray task failed: {reason}")
        peak = result.pop("peak_rss_mb", None)
        return base.outcome_from_result(task, result, seconds, None,
                                   peak_rss_mb=None if peak is None else round(peak, 1))
