"""The market job's task: one pair trained as ``coinlstm train`` trains it.

The driver that builds these tasks (``coinlstm run``) never trains: it imports the pair job
(coinlstm/app/jobs/pair_job.py, which brings h5py, the compiled steps and predict's writers)
only where a task runs in this process (a Ray worker), as coinlstm.core.lazy_imports lists.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from coinlstm.app.runtime.executors.base import PairTask
from coinlstm.core.config import Settings
from coinlstm.core.errors import CoinlstmError
from predict.plots import DEFAULT_PLOT, PLOT_WHEN
from train import config
from train.config import TrainConfig
from train.warmstart import INLINE, ONLY, REFIT_RUNS


@dataclass(frozen=True)
class PairTrainTask(PairTask):
    """The market job's task (coinlstm.app.runtime.executors): train one pair, as
    ``coinlstm train``.

    Locally it is that very command in a fresh or forked process; on Ray, the same
    train_pair call in a worker.
    """

    coin_id: int
    symbol: str
    options: TrainConfig
    run_id: str
    #: When the pair's PNG is redrawn (``--plot``, predict/plots.py).
    plot: str = DEFAULT_PLOT
    #: What a due refit does (``--refit``, train/warmstart.py ``REFIT_RUNS``).
    refit: str = INLINE

    @property
    def name(self) -> str:
        """The symbol; a deferred refit's ``SYMBOL.refit`` (its log and result files are
        beside the pair's forecast run's, in the same run)."""
        return f"{self.symbol}.refit" if self.refit == ONLY else self.symbol

    def argv(self, result_path: Path) -> list[str]:
        plot = [] if self.plot == DEFAULT_PLOT else ["--plot", self.plot]
        refit = [] if self.refit == INLINE else ["--refit", self.refit]
        return [sys.executable, "-m", "coinlstm", "train", "-id", str(self.coin_id),
                "-symbol", self.symbol, *config.to_argv(self.options), *plot, *refit,
                "--run-id", self.run_id, "--result-json", str(result_path)]

    def run_here(self, settings: Settings) -> dict:
        from coinlstm.app.jobs.pair_job import train_pair

        try:
            return train_pair(settings, self.coin_id, self.symbol, self.options,
                              run_id=self.run_id, plot=self.plot, refit=self.refit).to_dict()
        except CoinlstmError as exc:  # bad input or an unusable database: an answer, no retry
            return {"symbol": self.symbol, "id_coin": self.coin_id, "status": "failed",
                    "exit_code": exc.exit_code, "error": str(exc)}


def add_plot_argument(parser: argparse.ArgumentParser) -> None:
    """``--plot``, of ``train`` and ``run``: when a pair's run redraws its PNG."""
    parser.add_argument("--plot", choices=PLOT_WHEN, default=DEFAULT_PLOT,
                        help="when a pair's PNG (plots/SYMBOL.png) is redrawn: at a full fit "
                             "and when the pair has none (full, the default), every run "
                             "(every; about a third of a warm pair's CPU), or never")


def add_refit_argument(parser: argparse.ArgumentParser) -> None:
    """``train --refit``: what this pair's run does with a refit that is due."""
    parser.add_argument("--refit", choices=REFIT_RUNS, default=INLINE,
                        help="a refit that is due: is this run's fit (inline, the default), "
                             "is left for a later run while this one fine-tunes and "
                             "forecasts (defer; the result says refit_deferred), or is this "
                             "run, which saves the model and writes no forecast (only). The "
                             "market job uses defer and only (run --refits after)")

