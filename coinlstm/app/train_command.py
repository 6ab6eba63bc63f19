"""``coinlstm train -id 173 -symbol ADAETH``: one pair's model, forecast and rows.

Exit codes: 0 done; 2 bad input (flags, an unknown id, an id and symbol that disagree, too
few candles, NaN in the data, a symbol that is not [A-Z0-9]{2,20}); 1 anything else (database
unreachable, ...). ``--result-json FILE`` is written on success and on failure: the market
job reads it (keys: coinlstm.app.pair_job.TrainResult.to_dict / failure_dict).

The market job reuses :func:`add_training_arguments` and :func:`training_argv` to pass the
training flags through to every pair's process.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path

from coinlstm.app.pair_job import TrainOptions, TrainResult, failure_dict, train_pair
from coinlstm.app.reporting import write_json_atomically
from coinlstm.core.config import SUPPORTED_BACKENDS, Settings
from coinlstm.core.errors import EXIT_FAILURE, CoinlstmError, one_line
from coinlstm.core.exchanges import add_exchange_argument
from train import formulations
from train.intervals import format_levels, parse_levels
from train.models import MODEL_NAMES
from train.withpairs import format_with, parse_with

#: When this process started running our code (the "seconds" of the result: whole run).
_PROCESS_START = time.perf_counter()


def _restart_clock() -> None:
    """A child forked from the fork server (coinlstm/app/executors) starts its run now."""
    global _PROCESS_START
    _PROCESS_START = time.perf_counter()


os.register_at_fork(after_in_child=_restart_clock)
_DEFAULTS = TrainOptions()

__all__ = ["PairTrainTask", "TrainOptions", "TrainResult", "add_arguments",
           "add_training_arguments", "options_from_args", "required_candles", "run",
           "training_argv"]


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The training flags (shared with ``coinlstm run``, which passes them through)."""
    group = parser.add_argument_group(
        "training (defaults: the reference network of SPEC.md on the return target)")
    group.add_argument("--model", choices=MODEL_NAMES, default=_DEFAULTS.model,
                       help="network, see train/models.py (default %(default)s: the "
                            "reference 2-layer LSTM)")
    group.add_argument("--target", choices=formulations.names(), default=_DEFAULTS.target,
                       help="what the model predicts: 'return' (default: the next log return "
                            "from scale-free inputs, anchored on the last close by a factor "
                            "fitted on validation), 'close' (the price level: the reference "
                            "model of SPEC.md) or 'window' (each window divided by its first "
                            "row, x / x0 - 1, predicting the window's return: the multi-coin "
                            "tutorial's set-up; needs --window 2 or more)")
    group.add_argument("--units", type=int, default=_DEFAULTS.units,
                       help="units (filters for cnn) per layer (default %(default)s)")
    group.add_argument("--dropout", type=float, default=_DEFAULTS.dropout, metavar="RATE",
                       help="Dropout(RATE) after each recurrent/conv layer, any model; "
                            "0 adds none (default %(default)s)")
    group.add_argument("--l1", type=float, default=_DEFAULTS.l1, metavar="F",
                       help="L1 penalty on every layer's kernel (default %(default)s: none)")
    group.add_argument("--l2", type=float, default=_DEFAULTS.l2, metavar="F",
                       help="L2 penalty on every layer's kernel (default %(default)s: none)")
    group.add_argument("--epochs", type=int, default=_DEFAULTS.epochs,
                       help="most epochs (default %(default)s; early stopping may end sooner)")
    group.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size,
                       help="default %(default)s")
    group.add_argument("--patience", type=int, default=_DEFAULTS.patience,
                       help="epochs without val_loss improvement before stopping "
                            "(default %(default)s)")
    group.add_argument("--window", type=int, default=_DEFAULTS.window,
                       help="past candles per sample (default %(default)s)")
    group.add_argument("--test-size", type=int, default=_DEFAULTS.test_size,
                       help="newest samples held out for the reported figures "
                            "(default %(default)s)")
    group.add_argument("--val-size", type=int, default=_DEFAULTS.val_size,
                       help="samples before the test slice watched by early stopping "
                            "(default %(default)s; shrunk for short series)")
    group.add_argument("--seed", type=int, default=_DEFAULTS.seed,
                       help="random seed (default %(default)s)")
    group.add_argument("--backend", choices=SUPPORTED_BACKENDS, default=None,
                       help="Keras backend (env KERAS_BACKEND; default jax)")
    group.add_argument("--history", type=int, default=None, metavar="N",
                       help="train on the newest N candles only (default: all)")
    group.add_argument("--horizon", type=int, default=_DEFAULTS.horizon, metavar="K",
                       help="forecast the next K closes (default %(default)s); the figures "
                            "run over all K steps, with each step's RMSE beside")
    group.add_argument("--with", dest="with_pairs", type=parse_with, default=None,
                       metavar="SYM,SYM",
                       help="other pairs in the database whose close and volume are extra "
                            "inputs, joined by open time (e.g. ETHBTC,BTCUSDT)")
    # No argparse choices: an unknown interval is TrainOptions.check()'s one-line BadInput,
    # the same message as crawl's and import's.
    group.add_argument("--interval", default=_DEFAULTS.interval,
                       help="candle interval trained on, e.g. 5m, 15m, 4h, 1d: reads that "
                            "interval's table (candlestick_data_5m, ...; 1h is "
                            "candlestick_data) and forecasts its next candle "
                            "(default %(default)s)")
    group.add_argument("--levels", type=parse_levels, default=_DEFAULTS.levels,
                       metavar="L,L",
                       help="levels of the prediction bands around every forecast "
                            f"(default {format_levels(_DEFAULTS.levels)}: 80 %% and 95 %%)")
    group.add_argument("--calibration-size", type=int, default=_DEFAULTS.calibration_size,
                       metavar="N",
                       help="samples before the test slice that only calibration reads (the "
                            "return target's shrinkage and the bands), unseen by early "
                            "stopping (default %(default)s; 0: calibrate on the validation "
                            "slice; falls back to it for short series)")
    warm = parser.add_argument_group(
        "warm start (train and run; docs/training.md#warm-start)")
    warm.add_argument("--refit-every", type=int, default=_DEFAULTS.refit_every,
                      metavar="HOURS",
                      help="a run fine-tunes the pair's saved model (same settings) and fits "
                           "from scratch at the latest after HOURS hours of data time since "
                           "the last full fit (default %(default)s; 0: always from scratch)")
    warm.add_argument("--cold", dest="refit_every", action="store_const", const=0,
                      help="fit from scratch: the same as --refit-every 0")
    warm.add_argument("--warm-epochs", type=int, default=_DEFAULTS.warm_epochs, metavar="N",
                      help="most epochs of a warm run's fine-tune (default %(default)s)")
    warm.add_argument("--warm-samples", type=int, default=_DEFAULTS.warm_samples,
                      metavar="N",
                      help="newest training samples a warm run fine-tunes on "
                           "(default %(default)s)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-id", "--id", dest="coin_id", type=int, required=True,
                        help="the coin's id in coin_info, given by the crawl or import "
                             "that first met the pair ('coinlstm pairs' lists them)")
    parser.add_argument("-symbol", "--symbol", dest="symbol", required=True,
                        help="the coin's symbol (e.g. ADAETH); must match the id")
    add_training_arguments(parser)
    add_exchange_argument(parser)
    parser.add_argument("--run-id", default=None,
                        help="the market job's run id: makes the row writes idempotent")
    parser.add_argument("--result-json", type=Path, default=None, metavar="FILE",
                        help="also write the outcome as JSON to FILE (on failure too)")


def options_from_args(args: argparse.Namespace) -> TrainOptions:
    return TrainOptions(**{f.name: getattr(args, f.name) for f in fields(TrainOptions)})


#: Options whose flag is not ``--`` + the field name with dashes.
_FLAGS = {"with_pairs": "--with"}
#: How a tuple option is written back as its flag's value.
_FORMATS = {"with_pairs": format_with, "levels": format_levels}


def training_argv(options: TrainOptions) -> list[str]:
    """The flags that make a child process train with ``options`` (defaults left out)."""
    argv: list[str] = []
    for option in fields(TrainOptions):
        value = getattr(options, option.name)
        if value is None or value == getattr(_DEFAULTS, option.name):
            continue
        flag = _FLAGS.get(option.name, f"--{option.name.replace('_', '-')}")
        # str() of a float is its repr: it parses back to the very same float.
        argv += [flag, _FORMATS[option.name](value) if isinstance(value, tuple) else str(value)]
    return argv


def required_candles(options: TrainOptions) -> int:
    """Fewest candles a pair needs to be trained with ``options`` (no gaps assumed)."""
    return options.required_candles()


def run(args: argparse.Namespace) -> int:
    from coinlstm.app.lifeline import exit_with_parent

    exit_with_parent()
    options = options_from_args(args)
    try:
        result = train_pair(args.settings, args.coin_id, args.symbol, options,
                            run_id=args.run_id)
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


@dataclass(frozen=True)
class PairTrainTask:
    """The market job's task (coinlstm.app.executors): train one pair, as ``coinlstm train``.

    Locally it is that very command in a fresh process; on Ray, the same train_pair call.
    """

    coin_id: int
    symbol: str
    options: TrainOptions
    run_id: str

    @property
    def name(self) -> str:
        return self.symbol

    def identity(self) -> dict:
        return {"coin_id": self.coin_id, "symbol": self.symbol}

    def argv(self, result_path: Path) -> list[str]:
        return [sys.executable, "-m", "coinlstm", "train", "-id", str(self.coin_id),
                "-symbol", self.symbol, *training_argv(self.options), "--run-id", self.run_id,
                "--result-json", str(result_path)]

    def run_here(self, settings: Settings) -> dict:
        try:
            return train_pair(settings, self.coin_id, self.symbol, self.options,
                              run_id=self.run_id).to_dict()
        except CoinlstmError as exc:  # bad input or an unusable database: an answer, no retry
            return {"symbol": self.symbol, "id_coin": self.coin_id, "status": "failed",
                    "exit_code": exc.exit_code, "error": str(exc)}


if __name__ == "__main__":  # pragma: no cover
    from coinlstm.app.cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
