"""``coinlstm evaluate --horizon K``: each forecast step h = 1..K against the naive forecast.

Why: a K-step model's pooled skill hides where it stops being useful; a trader of the 16th
close needs step 16's record. Per case and step: the skill (``skill_hN``, train/backtest_scores.py)
and a Diebold-Mariano test of the step's squared errors against naive's (the last close for
every step). Step h's errors of consecutive test samples share h - 1 of their returns, so
the test's Newey-West variance (predict/track_record.py) takes at least h - 1 lags: with
the automatic bandwidth alone (4 lags on a week of hours) two equally good forecasts were
told apart at 5 % in 13 % of 168-hour blocks at h = 16; with ``max(auto, h - 1)`` lags in
7 % (docs/backtest.md). Files: ``steps.csv`` (one row per case and step) and ``steps.png``
(skill per step, one panel per model). K = 1 runs write neither.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from coinlstm.app.jobs.evaluate_charts import NAIVE_LABEL, BoxPanel, save_box_panels
from coinlstm.core.tables import figure, format_table
from predict.track_record import diebold_mariano, newey_west_lags
from train.backtest_scores import (
    CLEARLY_WORSE,
    DM_LEVEL,
    STEP_ERRORS,
    step_dm_column,
    step_skill_column,
    summarise_steps,
)

STEPS_FILE = "steps.csv"
STEPS_PLOT_FILE = "steps.png"
#: Columns of steps.csv: one row per case and forecast step h.
STEP_COLUMNS: tuple[str, ...] = ("pair", "model", "fold", "repeat", "h", "rmse", "naive_rmse",
                                 "skill", "dm_statistic", "dm_p_better")
STEPS_LEGEND = (
    "per step h: skill_hN = 1 - RMSE / naive RMSE of the h-th close over the case's test "
    "samples (naive: the last close for every step); the case table's skill pools all steps; "
    f"DM better/worse: cases whose step-h Diebold-Mariano test (Newey-West variance with at "
    f"least h - 1 lags: the steps of neighbouring samples overlap) is one-sided significant at "
    f"{DM_LEVEL:g} either way, of the cases with a test.",
)


def step_lags(samples: int, step: int) -> int:
    """The Newey-West lags of step ``step``'s test: the automatic bandwidth, and at least
    the ``step - 1`` samples whose errors share returns with each one."""
    return max(newey_west_lags(samples), step - 1)


def add_step_dm_tests(cases: list[dict]) -> None:
    """Each K-step case's per-step DM statistic and p (``dm_statistic_hN``,
    ``dm_p_better_hN``; None without a test) and RMSEs, from its step errors."""
    for case in cases:
        errors = case.get(STEP_ERRORS)
        if not errors:
            continue
        rows = []
        for h, (model, naive) in enumerate(zip(errors["model"], errors["naive"],
                                               strict=True), 1):
            test = diebold_mariano(model, naive, lags=step_lags(len(model), h))
            case[f"dm_statistic_h{h}"] = None if test is None else test.statistic
            case[step_dm_column(h)] = None if test is None else test.p_better
            rows.append({"h": h, "rmse": _rmse(model), "naive_rmse": _rmse(naive),
                         "skill": case.get(step_skill_column(h)),
                         "dm_statistic": case[f"dm_statistic_h{h}"],
                         "dm_p_better": case[step_dm_column(h)]})
        case["steps"] = rows


def steps_report(cases: list[dict], labels: list[str], horizon: int) -> dict | None:
    """K > 1: each case's per-step DM tests, then the per-step figures over the cases
    (train/backtest_scores.summarise_steps); K = 1: None, and nothing is added to the
    run's output."""
    if horizon == 1:
        return None
    add_step_dm_tests(cases)
    return summarise_steps(cases, labels, horizon)


def _rmse(errors: list[float]) -> float:
    return math.sqrt(float(np.mean(np.square(errors))))


def write_steps(path: Path, cases: list[dict]) -> None:
    """steps.csv (:data:`STEP_COLUMNS`), written under a temporary name and then renamed."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=STEP_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for case in cases:
            key = {name: case[name] for name in ("pair", "model", "fold", "repeat")}
            writer.writerows({**key, **row} for row in case.get("steps", ()))
    os.replace(temp, path)


def format_steps(per_step: dict[str, list[dict]], models: list[str]) -> str:
    """The per-step table: per model and step h, over its cases."""
    header = ("model", "h", "cases", "median skill", "q25", "q75", ">0",
              f"<{CLEARLY_WORSE:g}", "DM better/worse")
    rows = [(name, str(s["h"]), str(s["cases"]), figure(s["median_skill"], "+.4f"),
             figure(s["q25_skill"], "+.4f"), figure(s["q75_skill"], "+.4f"),
             figure(s["share_skill_above_0"], ".2f"), figure(s["share_skill_below_-0.02"], ".2f"),
             f"{s['dm_better_cases']}/{s['dm_worse_cases']} of {s['dm_tests']}")
            for name in models for s in per_step[name]]
    return "\n".join(["", "skill per forecast step (medians over cases):",
                      format_table([header, *rows]), *STEPS_LEGEND])


def draw_steps(path: Path, cases: list[dict], models: list[str], horizon: int,
               title: str) -> None:
    """Box plots of skill per step h, one panel per model whose forecasts ever left the
    last close (naive's skill is 0 at every step)."""
    data = {name: [[c[step_skill_column(h)] for c in cases if c["model"] == name
                    and c.get(step_skill_column(h)) is not None]
                   for h in range(1, horizon + 1)] for name in models}
    shown = [name for name in models if any(v != 0 for step in data[name] for v in step)]
    shown = shown or models[:1]
    panels = [BoxPanel([(str(h), values) for h, values in enumerate(data[name], 1) if values],
                       0.0, NAIVE_LABEL, "skill_h = 1 - RMSE_h / naive RMSE_h",
                       f"{name}: skill per step, {title}", legend_at="lower left",
                       xlabel="forecast step h")
              for name in shown]
    save_box_panels(path, panels, (max(6, 0.5 * horizon + 2), 4 * len(shown)), stacked=True)
