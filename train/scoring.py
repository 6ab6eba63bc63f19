"""The figures of a backtest: one case's errors beside naive, and the statistics over cases.

Pure (numpy, scipy): the evaluate command (coinlstm/app/evaluate.py) computes the cases in its
workers and summarises them here, so a summary can be recomputed from cases.csv alone.

A case is one (pair, model, fold, repeat). Every model's case carries the naive figures of its
*own* test rows (the two targets may drop a different sample at a gap), and its skill is
against those.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from coinlstm.core.klines import ms_to_utc
from train.dataset import Dataset
from train.metrics import evaluate
from train.walkforward import Fold

#: "Clearly worse than naive" in the summary: skill below this.
CLEARLY_WORSE = -0.02


def case_record(symbol: str, coin_id: int, model: str, network: str, fold: Fold, repeat: int,
                dataset: Dataset, predictions: np.ndarray, seed: int | None = None,
                epochs_run: int | None = None, train_seconds: float | None = None,
                shrinkage: float | None = None) -> dict:
    """The figures of one (pair, model, fold, repeat), naive measured on the same test rows.

    ``network``: what the forecaster fitted (the zoo network, or its own name); ``predictions``
    (samples, K) in prices.
    """
    split = dataset.split
    metrics = evaluate(dataset.actual_closes(split.test), predictions,
                       dataset.last_closes(split.test))
    errors, naive = metrics.model, metrics.naive
    train_steps = np.abs(dataset.closes[split.train] - dataset.last_closes(split.train))
    step = float(np.mean(train_steps))
    times = dataset.open_times
    first, last_time = int(times[split.test[0]]), int(times[split.test[-1]])
    return {
        "pair": symbol, "coin_id": coin_id, "model": model,
        "network": network, "target": dataset.target,
        "fold": fold.index, "repeat": repeat, "seed": seed,
        "test_start": ms_to_utc(first), "test_end": ms_to_utc(last_time),
        "test_start_ms": first, "test_end_ms": last_time,
        "n_train": len(split.train), "n_val": len(split.val), "n_test": len(split.test),
        "rmse": errors.rmse, "mae": errors.mae, "mape": errors.mape,
        "mase": errors.mae / step if step > 0 else None,
        "direction_accuracy": errors.direction_accuracy,
        "naive_rmse": naive.rmse, "naive_mae": naive.mae,
        "skill": metrics.skill,
        "epochs_run": epochs_run, "train_seconds": train_seconds,
        "seconds_per_epoch": (train_seconds / epochs_run
                              if train_seconds is not None and epochs_run else None),
        "shrinkage": shrinkage,
    }


def median(values: Sequence[float | None]) -> float | None:
    """The median of the values present; None when there are none."""
    present = [v for v in values if v is not None]
    return float(np.median(present)) if present else None


def summarise(cases: list[dict], models: list[str]) -> dict[str, dict]:
    """Per model over all its cases: skill distribution, sign test, medians of the rest."""
    from scipy.stats import binomtest

    summary = {}
    for name in models:
        rows = [case for case in cases if case["model"] == name]
        skills = np.array([c["skill"] for c in rows if c["skill"] is not None], dtype=float)
        nonzero = skills[skills != 0]
        wins = int(np.sum(nonzero > 0))
        quartiles = (np.percentile(skills, [25, 50, 75]).tolist() if len(skills)
                     else [None, None, None])
        summary[name] = {
            "cases": len(rows),
            "cases_without_skill": len(rows) - len(skills),
            "median_skill": quartiles[1], "q25_skill": quartiles[0], "q75_skill": quartiles[2],
            "share_skill_above_0": float(np.mean(skills > 0)) if len(skills) else None,
            "share_skill_0": float(np.mean(skills == 0)) if len(skills) else None,
            "share_skill_below_-0.02": (float(np.mean(skills < CLEARLY_WORSE))
                                        if len(skills) else None),
            "median_mase": median([c["mase"] for c in rows]),
            "median_mape": median([c["mape"] for c in rows]),
            "median_direction_accuracy": median([c["direction_accuracy"] for c in rows]),
            "median_seconds_per_epoch": median([c["seconds_per_epoch"] for c in rows]),
            "sign_test_cases": len(nonzero), "sign_test_wins": wins,
            "sign_test_p": (float(binomtest(wins, len(nonzero), 0.5).pvalue)
                            if len(nonzero) else None),
        }
    return summary


def pair_medians(cases: list[dict], models: list[str]) -> dict[str, dict[str, float | None]]:
    """Median skill per pair and model, over folds and repeats."""
    pairs = list(dict.fromkeys(case["pair"] for case in cases))
    return {pair: {name: median([c["skill"] for c in cases
                                 if c["pair"] == pair and c["model"] == name])
                   for name in models} for pair in pairs}
