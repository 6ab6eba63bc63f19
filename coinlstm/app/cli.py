"""The ``coinlstm`` command: one entry point, one subcommand per job.

Each subcommand lives in its own module, which exposes ``add_arguments(parser)`` and
``run(args) -> int``. Only the chosen subcommand's module is imported, so ``coinlstm
crawl`` never pays for Keras and ``coinlstm train`` never pays for the crawler. Errors
become one line on stderr and an exit code (see coinlstm.core.errors).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Sequence

from coinlstm.app.runtime.executors.seed import seeded
from coinlstm.core import config
from coinlstm.core.errors import EXIT_BAD_INPUT, EXIT_FAILURE, CoinlstmError, one_line

#: name -> (module, one-line help). The module has add_arguments(parser) and run(args).
COMMANDS: dict[str, tuple[str, str]] = {
    "init-db": ("coinlstm.app.commands.initdb",
                "create the tables (MySQL or the embedded SQLite default)"),
    "db": ("coinlstm.app.commands.db",
           "schema revisions (upgrade, current, history, --sql); adopt the original system's DB"),
    "crawl": ("crawl.crawler", "fetch new candles of a quote market from an exchange "
                        "(binance, poloniex, bithumb, coingecko)"),
    "import": ("crawl.vision", "load candle files: Binance kline dumps (data.binance.vision "
                         "zips, CSVs) or another exchange's candles in the same files"),
    "resample": ("crawl.resample",
                 "build a coarser interval's candles (4h, 1d) from finer ones in the database"),
    "replay-server": ("crawl.replay", "serve kline files as an exchange's REST API (binance, "
                                        "poloniex, bithumb, coingecko)"),
    "train": ("coinlstm.app.commands.train",
              "train one pair's model, predict its next close, store rows"),
    "run": ("coinlstm.app.commands.run",
            "the hourly job: crawl, then train every pair of a market"),
    "backfill": ("coinlstm.app.commands.backfill",
                 "replay the hourly job over the last --days days of stored candles"),
    "evaluate": ("coinlstm.app.commands.evaluate",
                 "walk-forward backtest of models against the naive forecast"),
    "score": ("coinlstm.app.commands.score",
              "score stored forecasts against the closes that came; update track records"),
    "pairs": ("coinlstm.app.commands.pairs",
              "list the pairs in the database: ids (for train -id), symbols, candles"),
    "serve": ("coinlstm.app.commands.serve", "the read-only dashboard and JSON API (loopback)"),
}

#: The commands whose tasks run in processes forked from a fork server: their process plants
#: the server's seed as it starts, before it imports the command (executors/seed.py).
SEEDED_COMMANDS = ("run", "backfill", "evaluate")

log = logging.getLogger("coinlstm")


class OneLineParser(argparse.ArgumentParser):
    """argparse with the project's error rule: one line on stderr, exit 2 (bad input).

    Plain argparse prints its whole usage block before the error, which buries the one line
    that says what was wrong (and the market job reads a child's stderr line by line).
    """

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def _top_parser() -> argparse.ArgumentParser:
    lines = [f"  {name:<14} {help_}" for name, (_, help_) in COMMANDS.items()]
    return argparse.ArgumentParser(
        prog="coinlstm",
        description="Per-pair LSTM forecasts for a quote market of Binance, Poloniex, "
                    "Bithumb or CoinGecko, stored in MySQL or SQLite.",
        epilog="commands:\n" + "\n".join(lines) + "\n\n'coinlstm COMMAND --help' for its flags.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="coinlstm COMMAND [options]",
    )


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags every command understands (settings come from config; flags win over env)."""
    group = parser.add_argument_group("common")
    group.add_argument("--db", metavar="URL", default=None,
                       help=f"database URL (env {config.ENV_DB_URL}; default: SQLite file "
                            "data/coinlstm.sqlite)")
    group.add_argument("--exchange-url", "--binance-url", dest="binance_url", metavar="URL",
                       default=None,
                       help=f"the exchange's REST base URL, e.g. a replay server (env "
                            f"{config.ENV_EXCHANGE_URL}, for Binance also "
                            f"{config.ENV_BINANCE_URL}; default: the exchange's real API, "
                            f"{config.BINANCE_URL} for Binance)")
    group.add_argument("--artifacts", metavar="DIR", default=None,
                       help=f"folder holding models/, weights/, plots/ (env "
                            f"{config.ENV_ARTIFACTS}; default: the project folder)")
    group.add_argument("--db-retry-seconds", type=float, default=None, metavar="S",
                       help=f"how long a database that is down, restarting or deadlocked is "
                            f"waited for before a step fails (env "
                            f"{config.ENV_DB_RETRY_SECONDS}; default "
                            f"{config.DEFAULT_DB_RETRY_SECONDS:g} for run and the pairs it "
                            "starts, 0 for the other commands)")
    group.add_argument("-v", "--verbose", action="store_true", help="debug logging, tracebacks")


def build_parser(command: str) -> argparse.ArgumentParser:
    module_name, help_ = COMMANDS[command]
    module = importlib.import_module(module_name)
    parser = OneLineParser(prog=f"coinlstm {command}", description=help_)
    module.add_arguments(parser)
    add_common_arguments(parser)
    parser.set_defaults(_run=module.run)
    return parser


#: The project's own loggers: their INFO lines are its progress output.
PROJECT_LOGGERS = ("coinlstm", "crawl", "train", "predict")


def _configure_logging(verbose: bool) -> None:
    """-v: everything at DEBUG. Otherwise the project's own loggers at INFO and every
    library's at WARNING: a library's INFO lines (JAX's "Resetting cache" on a new shape's
    first fit, mysql.connector's auth plugin on every connect) are noise, not news, and would
    break the "one line per error" rule on stderr."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        for name in PROJECT_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)


def _run(command: str, rest: list[str]) -> int:
    parser = build_parser(command)
    args = parser.parse_args(rest)
    args.settings = config.load(db_url=args.db, binance_url=args.binance_url,
                                artifacts=args.artifacts, backend=getattr(args, "backend", None),
                                db_retry_seconds=args.db_retry_seconds,
                                exchange=getattr(args, "exchange", None),
                                fork_server=False if getattr(args, "fresh_processes", False)
                                else None)
    return int(args._run(args) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        _top_parser().print_help()
        return 0 if argv else EXIT_BAD_INPUT
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"coinlstm: error: unknown command {command!r}; choose one of "
              f"{', '.join(COMMANDS)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    verbose = "-v" in rest or "--verbose" in rest
    _configure_logging(verbose)
    try:
        with seeded(command in SEEDED_COMMANDS):
            return _run(command, rest)
    except CoinlstmError as exc:
        if verbose:
            traceback.print_exc()
        print(f"coinlstm {command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"coinlstm {command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the one place that turns any other failure into one line
        if verbose:
            traceback.print_exc()
        print(f"coinlstm {command}: error: {one_line(exc)} (run with -v for the traceback)",
              file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
