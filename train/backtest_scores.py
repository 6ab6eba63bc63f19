"""The figures of a backtest: one case's errors beside naive, and the statistics over cases.

Pure (numpy, scipy): the evaluate command (coinlstm/app/commands/evaluate.py) computes the
cases in its workers and summarises them here, so a summary can be recomputed from cases.csv alone.

A case is one (pair, model, fold, repeat). Every model's case carries the naive figures of its
*own* test rows (the two targets may drop a different sample at a gap), and its skill is
against those.

Bands. A case also carries its prediction bands' coverage, width and Winkler score per level
(train/prediction_bands.py), and its interval skill = 1 - Winkler / Winkler of the ``static`` band
on the same (pair, fold) (None when ``static`` was not evaluated).

Steps. A case of a ``--horizon K`` > 1 model scores all K steps of its test samples, the naive
forecast being the last close for every step: its ``skill`` pools them, and each step h has
its own ``skill_hN`` (the per-step RMSE beside naive's, train/metrics.StepRmse) and keeps its
errors (:data:`STEP_ERRORS`) for a per-step test against naive. K = 1 cases have neither.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from coinlstm.core.columns import band_score_columns, level_label
from coinlstm.core.klines import ms_to_utc
from train.dataset import Dataset
from train.forecasters.naive_bands import STATIC
from train.metrics import StepRmse, skill, slice_metrics
from train.prediction_bands import ForecastBands, interval_skill
from train.schedule import base_model
from train.walkforward import Fold

#: "Clearly worse than naive" in the summary: skill below this.
CLEARLY_WORSE = -0.02
#: A case's key holding its test hours' first-step figures (open times, actual closes,
#: forecasts, naive forecasts): evaluate's hours.csv and the per-case Diebold-Mariano test.
HOURS = "hours"
#: One-sided level at which a case's Diebold-Mariano test (its ``dm_p_better``, set by
#: evaluate) counts as evidence that it beat, or lost to, the naive forecast.
DM_LEVEL = 0.05
#: A K-step case's key holding each step's errors, model's and naive's: K lists over the
#: test samples each (evaluate's per-step Diebold-Mariano tests; not a cases.csv column).
STEP_ERRORS = "step_errors"


def step_skill_column(step: int) -> str:
    """A K-step case's skill of step ``step`` (1-based): ``skill_h1`` .. ``skill_hK``."""
    return f"skill_h{step}"


def step_figures(actual: np.ndarray, predictions: np.ndarray, naive: np.ndarray,
                 steps: StepRmse | None) -> dict:
    """A K > 1 case's per-step skill columns and :data:`STEP_ERRORS` (nothing at K = 1)."""
    if steps is None:
        return {}
    skills = {step_skill_column(h): skill(model, baseline)
              for h, (model, baseline) in enumerate(zip(steps.model, steps.naive,
                                                        strict=True), 1)}
    errors = np.asarray(predictions, dtype=np.float64) - actual
    naive_errors = np.asarray(naive, dtype=np.float64)[:, None] - actual
    return {**skills, STEP_ERRORS: {"model": errors.T.tolist(),
                                    "naive": naive_errors.T.tolist()}}


def case_record(symbol: str, coin_id: int, model: str, network: str, fold: Fold, repeat: int,
                dataset: Dataset, predictions: np.ndarray, seed: int | None = None,
                epochs_run: int | None = None, train_seconds: float | None = None,
                shrinkage: float | None = None, bands: ForecastBands | None = None) -> dict:
    """The figures of one (pair, model, fold, repeat), naive measured on the same test rows.

    ``network``: what the forecaster fitted (the zoo network, or its own name); ``predictions``
    (samples, K) in prices; ``bands``: the forecast's prediction bands, scored per level.
    Under :data:`HOURS` the case keeps its test hours' first steps, so a test of the errors
    hour by hour (evaluate's Diebold-Mariano) needs no second run.
    """
    split = dataset.split
    actual = dataset.actual_closes(split.test)
    metrics = slice_metrics(actual, predictions, dataset.last_closes(split.test))
    errors, naive = metrics.model, metrics.naive
    train_steps = np.abs(dataset.closes[split.train] - dataset.last_closes(split.train))
    step = float(np.mean(train_steps))
    times = dataset.open_times
    first, last_time = int(times[split.test[0]]), int(times[split.test[-1]])
    band_figures = {}
    if bands is not None:
        for score in bands.scores(actual, dataset.last_closes(split.test)):
            coverage, width, winkler = band_score_columns(score.level)
            band_figures |= {coverage: score.coverage, width: score.width,
                             winkler: score.winkler}
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
        "n_cal": len(split.calibration) if split.separate_calibration else 0,
        **band_figures,
        **step_figures(actual, predictions, dataset.last_closes(split.test), metrics.steps),
        HOURS: {"open_time_ms": times[split.test].tolist(),
                "actual": actual[:, 0].tolist(),
                "forecast": np.asarray(predictions, dtype=np.float64)[:, 0].tolist(),
                "naive": dataset.last_closes(split.test).tolist()},
    }


def band_case_columns(levels: Sequence[float]) -> tuple[str, ...]:
    """A case's band columns: coverage_80, width_80, winkler_80, interval_skill_80, ..."""
    return tuple(name for level in levels
                 for name in (*band_score_columns(level), skill_column(level)))


def skill_column(level: float) -> str:
    return f"interval_skill_{level_label(level)}"


def add_interval_skill(cases: list[dict], levels: Sequence[float]) -> None:
    """Each case's interval skill per level against ``static`` on the same (pair, fold)."""
    for level in levels:
        winkler = band_score_columns(level)[2]
        static = {(c["pair"], c["fold"]): c.get(winkler) for c in cases
                  if c["model"] == STATIC}
        for case in cases:
            ours, theirs = case.get(winkler), static.get((case["pair"], case["fold"]))
            case[skill_column(level)] = (None if ours is None or theirs is None
                                         else interval_skill(ours, theirs))


def summarise_bands(cases: list[dict], models: list[str], levels: Sequence[float]
                    ) -> dict[str, dict[str, dict]]:
    """Per model and level: median coverage, width, Winkler score and interval skill over
    the cases, the share of cases whose Winkler score beats ``static``, and the pair whose
    median coverage is furthest from the level."""
    out: dict[str, dict[str, dict]] = {}
    for name in models:
        rows = [case for case in cases if case["model"] == name]
        out[name] = {}
        for level in levels:
            coverage, width, winkler = band_score_columns(level)
            skills = [c.get(skill_column(level)) for c in rows]
            present = [value for value in skills if value is not None]
            pairs = pair_medians(rows, [name], coverage)
            worst = max(pairs, key=lambda pair: abs(pairs[pair][name] - level)
                        if pairs[pair][name] is not None else -1.0, default=None)
            out[name][level_label(level)] = {
                "level": level,
                "cases": sum(c.get(coverage) is not None for c in rows),
                "median_coverage": median([c.get(coverage) for c in rows]),
                "median_width": median([c.get(width) for c in rows]),
                "median_winkler": median([c.get(winkler) for c in rows]),
                "median_interval_skill": median(skills),
                "share_beats_static": (float(np.mean(np.array(present) > 0))
                                       if present else None),
                "worst_pair": worst,
                "worst_pair_median_coverage": None if worst is None else pairs[worst][name],
            }
    return out


def median(values: Sequence[float | None]) -> float | None:
    """The median of the values present; None when there are none."""
    present = [v for v in values if v is not None]
    return float(np.median(present)) if present else None


def summarise(cases: list[dict], models: list[str]) -> dict[str, dict]:
    """Per model over all its cases: skill distribution, sign test, the cases whose own
    Diebold-Mariano test (``dm_p_better``, when evaluate set it) is significant either way,
    medians of the rest."""
    from scipy.stats import binomtest

    summary = {}
    for name in models:
        rows = [case for case in cases if case["model"] == name]
        skills = np.array([c["skill"] for c in rows if c["skill"] is not None], dtype=float)
        nonzero = skills[skills != 0]
        wins = int(np.sum(nonzero > 0))
        dm_p = [c["dm_p_better"] for c in rows if c.get("dm_p_better") is not None]
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
            "dm_better_cases": sum(p < DM_LEVEL for p in dm_p),
            "dm_worse_cases": sum(p > 1.0 - DM_LEVEL for p in dm_p),
        }
    return summary


def schedule_differences(cases: list[dict], labels: list[str]) -> dict[str, dict]:
    """Per warm-schedule label (``default@warm``) evaluated beside its model's full schedule
    (``default``): the skill difference warm - full over the cases of the same pair, fold and
    repeat (the same test hours), its median and quartiles, the share of cases each schedule
    won, and how many of each fell below CLEARLY_WORSE."""
    out = {}
    for label in labels:
        base = base_model(label)
        if base == label or base not in labels:
            continue
        full = {(c["pair"], c["fold"], c["repeat"]): c["skill"] for c in cases
                if c["model"] == base and c["skill"] is not None}
        pairs = [(full[key], c["skill"]) for c in cases if c["model"] == label
                 and c["skill"] is not None
                 and (key := (c["pair"], c["fold"], c["repeat"])) in full]
        diffs = np.array([warm - old for old, warm in pairs], dtype=float)
        quartiles = (np.percentile(diffs, [25, 50, 75]).tolist() if len(diffs)
                     else [None, None, None])
        out[label] = {
            "versus": base, "cases": len(diffs),
            "median_difference": quartiles[1], "q25_difference": quartiles[0],
            "q75_difference": quartiles[2],
            "share_warm_better": float(np.mean(diffs > 0)) if len(diffs) else None,
            "share_warm_worse": float(np.mean(diffs < 0)) if len(diffs) else None,
            "full_below_-0.02": sum(old < CLEARLY_WORSE for old, _ in pairs),
            "warm_below_-0.02": sum(warm < CLEARLY_WORSE for _, warm in pairs),
        }
    return out


def pair_medians(cases: list[dict], models: list[str], figure: str = "skill"
                 ) -> dict[str, dict[str, float | None]]:
    """Median ``figure`` (skill by default) per pair and model, over folds and repeats."""
    pairs = list(dict.fromkeys(case["pair"] for case in cases))
    return {pair: {name: median([c.get(figure) for c in cases
                                 if c["pair"] == pair and c["model"] == name])
                   for name in models} for pair in pairs}


def step_dm_column(step: int) -> str:
    """A K-step case's one-sided p that step ``step`` beat naive (evaluate sets it)."""
    return f"dm_p_better_h{step}"


def summarise_steps(cases: list[dict], models: list[str], horizon: int
                    ) -> dict[str, list[dict]]:
    """Per model, per step h = 1..K: its cases' median and quartiles of skill_hN, the share
    above 0 and below CLEARLY_WORSE, and the cases whose step-h Diebold-Mariano test against
    naive (``dm_p_better_hN``) is significant at DM_LEVEL either way."""
    out: dict[str, list[dict]] = {}
    for name in models:
        rows = [case for case in cases if case["model"] == name]
        out[name] = []
        for h in range(1, horizon + 1):
            skills = np.array([c[step_skill_column(h)] for c in rows
                               if c.get(step_skill_column(h)) is not None], dtype=float)
            dm_p = [c[step_dm_column(h)] for c in rows if c.get(step_dm_column(h)) is not None]
            quartiles = (np.percentile(skills, [25, 50, 75]).tolist() if len(skills)
                         else [None, None, None])
            out[name].append({
                "h": h, "cases": len(skills), "median_skill": quartiles[1],
                "q25_skill": quartiles[0], "q75_skill": quartiles[2],
                "share_skill_above_0": float(np.mean(skills > 0)) if len(skills) else None,
                "share_skill_below_-0.02": (float(np.mean(skills < CLEARLY_WORSE))
                                            if len(skills) else None),
                "dm_tests": len(dm_p),
                "dm_better_cases": sum(p < DM_LEVEL for p in dm_p),
                "dm_worse_cases": sum(p > 1.0 - DM_LEVEL for p in dm_p)})
    return out
