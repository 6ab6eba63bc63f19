"""Where tasks run: one protocol (base.py), one small class per kind, a registry."""

from coinlstm.app.runtime.executors.base import (
    EXECUTORS,
    FAILED,
    OK,
    TIMEOUT,
    Executor,
    ExecutorConfig,
    Outcome,
    PairTask,
    Task,
    add_executor_arguments,
    check_timeout,
    make_executor,
    outcome_from_result,
)

__all__ = ["EXECUTORS", "FAILED", "OK", "TIMEOUT", "Executor", "ExecutorConfig", "Outcome",
           "PairTask", "Task", "add_executor_arguments", "check_timeout",
           "make_executor", "outcome_from_result"]
