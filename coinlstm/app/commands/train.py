"""``coinlstm train -id 173 -symbol ADAETH``: one pair's model, forecast and rows.

Exit codes: 0 done; 2 bad input (flags, an unknown id, an id and symbol that disagree, too
few candles, NaN in the data, a symbol that is not [A-Z0-9]{2,20}); 1 anything else (database
unreachable, ...). ``--result-json FILE`` is written on success and on failure: the market
job reads it (keys: coinlstm.app.jobs.pair_job.TrainResult.to_dict / failure_dict).

The market job's task (:class:`PairTrainTask`, coinlstm/app/jobs/pair_task.py) runs this
command in each pair's process.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from coinlstm.app.jobs.pair_job import TrainOptions, TrainResult, failure_dict, train_pair
from coinlstm.app.jobs.pair_task import PairTrainTask, add_plot_argument, add_refit_argument
from coinlstm.app.jobs.reporting import write_json_atomically
from coinlstm.app.runtime.lifeline import exit_with_parent
from coinlstm.core.errors import EXIT_FAILURE, CoinlstmError, one_line
from coinlstm.core.exchanges import add_exchange_argument
from train import config
from train.config import TrainConfig

#: When this process started running our code (the "seconds" of the result: whole run).
_PROCESS_START = time.perf_counter()


def _restart_clock() -> None:
    """A child forked from the fork server (coinlstm/app/runtime/executors) starts its run now."""
    global _PROCESS_START
    _PROCESS_START = time.perf_counter()


os.register_at_fork(after_in_child=_restart_clock)

__all__ = ["PairTrainTask", "TrainOptions", "TrainResult", "add_arguments",
           "add_training_arguments", "options_from_args", "required_candles", "run",
           "training_argv"]


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The training flags (shared with ``coinlstm run`` and ``evaluate``), generated from the
    typed configuration (train/config.py)."""
    config.add_arguments(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-id", "--id", dest="coin_id", type=int, required=True,
                        help="the coin's id in coin_info, given by the crawl or import "
                             "that first met the pair ('coinlstm pairs' lists them)")
    parser.add_argument("-symbol", "--symbol", dest="symbol", required=True,
                        help="the coin's symbol (e.g. ADAETH); must match the id")
    add_training_arguments(parser)
    add_exchange_argument(parser)
    add_plot_argument(parser)
    add_refit_argument(parser)
    parser.add_argument("--run-id", default=None,
                        help="the market job's run id: makes the row writes idempotent")
    parser.add_argument("--result-json", type=Path, default=None, metavar="FILE",
                        help="also write the outcome as JSON to FILE (on failure too)")


def options_from_args(args: argparse.Namespace) -> TrainConfig:
    return config.from_args(args)


def training_argv(options: TrainConfig) -> list[str]:
    """The flags that make a child process train with ``options`` (defaults left out)."""
    return config.to_argv(options)


def required_candles(options: TrainConfig) -> int:
    """Fewest candles a pair needs to be trained with ``options`` (no gaps assumed)."""
    return options.required_candles()


def run(args: argparse.Namespace) -> int:
    exit_with_parent()
    options = options_from_args(args)
    try:
        result = train_pair(args.settings, args.coin_id, args.symbol, options,
                            run_id=args.run_id, plot=args.plot, refit=args.refit)
    except BaseException as exc:
        if args.result_json is not None:
            code = exc.exit_code if isinstance(exc, CoinlstmError) else EXIT_FAILURE
            write_json_atomically(args.result_json, failure_dict(
                args.symbol, args.coin_id, code, one_line(exc), _elapsed(),
                options.backend_name(args.settings), options.model))
        raise
    result.seconds = _elapsed()
    print(result.report, flush=True)
    if args.result_json is not None:
        write_json_atomically(args.result_json, result.to_dict())
    return 0


def _elapsed() -> float:
    return round(time.perf_counter() - _PROCESS_START, 3)
