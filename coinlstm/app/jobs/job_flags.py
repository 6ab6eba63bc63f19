"""The flags and checks of the commands that run a job over a market's pairs, one process per
pair (``run`` and ``backfill``): written once, so both commands take and refuse them alike.

Each check raises BadInput (one line, exit 2) before anything starts; the commands call them
in the order they list the flags, with their own checks in between.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from coinlstm.app.jobs.pair_selection import job_markets, pair_symbols
from coinlstm.app.runtime.executors import add_executor_arguments, check_timeout
from coinlstm.core.errors import BadInput
from coinlstm.core.exchanges import exchange
from coinlstm.core.klines import Markets
from train import config
from train.config import TrainConfig
from train.warmstart import DEFAULT_JOB_REFITS, JOB_REFITS


def add_job_arguments(group, participle: str, timeout: float | None) -> None:
    """--workers (pairs ``participle`` at once), the executor's flags (a pair's ``timeout``
    by default), --report and --no-progress."""
    group.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help=f"pairs {participle} at once (default: the number of cores, "
                            "%(default)s)")
    add_executor_arguments(group, "pair", timeout=timeout)
    group.add_argument("--report", type=Path, default=None, metavar="FILE",
                       help="also write the summary as JSON to FILE")
    group.add_argument("--no-progress", action="store_true", help="no progress bars")


def job_pairs(args: argparse.Namespace) -> tuple[Markets, list[str] | None]:
    """--market and --only, checked, and --interval checked against the exchange: the markets
    asked and the pairs named (None: every pair)."""
    markets = job_markets(args.market)
    only = pair_symbols(args.settings, args.only)
    exchange(args.settings.exchange).check_interval(args.interval)
    return markets, only


def check_workers(workers: int) -> None:
    if workers < 1:
        raise BadInput(f"--workers must be at least 1, got {workers}")


def job_options(args: argparse.Namespace) -> TrainConfig:
    """--timeout and the training flags, checked: the options every pair runs with (a bad
    training flag fails here, not once per pair)."""
    check_timeout(args.timeout)
    options = config.from_args(args)
    options.check()
    return options


def add_refits_argument(parser) -> None:
    """``run --refits`` and ``backfill --refits``: the market job's rule for due refits."""
    parser.add_argument("--refits", choices=JOB_REFITS, default=DEFAULT_JOB_REFITS,
                        help="the pairs whose refit is due this hour: forecast from a warm "
                             "fine-tune first, and are refitted once every pair's forecast "
                             "is written, the new model serving from the next hour (after, "
                             "the default: publish first), or forecast from the refit "
                             "(inline)")
