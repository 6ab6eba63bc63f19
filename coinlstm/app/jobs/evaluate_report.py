"""The report of ``coinlstm evaluate``: the printed tables, summary.json, cases.csv, skill.png,
coverage.png.

Only presentation: every figure comes from the cases (train/backtest_scores.py); nothing here
measures anything.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from coinlstm.app.jobs.evaluate_charts import NAIVE_LABEL, SKILL_LABEL, BoxPanel, save_box_panels
from coinlstm.app.jobs.reporting import write_json_atomically
from coinlstm.core.columns import band_score_columns
from coinlstm.core.tables import figure, format_table
from train.backtest_scores import CLEARLY_WORSE, DM_LEVEL, band_case_columns

#: Columns of cases.csv, in order.
CASE_COLUMNS: tuple[str, ...] = (
    "pair", "coin_id", "model", "network", "target", "fold", "repeat", "seed",
    "test_start", "test_end", "test_start_ms", "test_end_ms", "n_train", "n_val", "n_test",
    "rmse", "mae", "mape", "mase", "direction_accuracy", "naive_rmse", "naive_mae", "skill",
    "epochs_run", "train_seconds", "seconds_per_epoch", "shrinkage", "n_cal",
    "dm_statistic", "dm_p_better")

LEGEND = (
    "skill = 1 - RMSE / RMSE of the naive forecast \"next close = last close\" on the same "
    "test rows: > 0 beats it, 0 ties (naive is 0 by definition), < 0 is worse.",
    f"q25..q75: quartiles of skill over the cases; >0, =0, <{CLEARLY_WORSE:g}: share of "
    "cases with skill above 0, exactly 0 (the forecast was the last close, e.g. shrinkage "
    "a = 0), below that; MASE: MAE / mean |hourly close change| on the fold's "
    "training rows; MAPE in %; direction: share of test hours whose predicted move had the "
    "actual move's sign (an unmoved hour counts only for a 'no move' forecast); s/epoch: "
    "fit seconds / epochs run (a process's first fold includes compiling); sign p: two-sided "
    "sign test that the median skill is 0 (cases with skill != 0); DM better/worse: cases "
    f"whose Diebold-Mariano test of squared errors against naive over the test hours is "
    f"one-sided significant at {DM_LEVEL:g} in the model's favour / against it.",
    "case = one (pair, model, fold, repeat); naive is deterministic: one case per "
    "(pair, fold). Every figure is measured on this run.",
)


def legend(interval: str) -> tuple[str, ...]:
    """LEGEND in the words of ``interval``'s candles (LEGEND itself is the hourly one)."""
    if interval == "1h":
        return LEGEND
    return tuple(line.replace("hourly close change", f"{interval} close change")
                 .replace("test hours", f"test {interval} candles")
                 .replace("an unmoved hour", "an unmoved candle") for line in LEGEND)


BAND_LEGEND = (
    "bands: coverage = share of test closes inside the band (nominal: the level); width and "
    "Winkler (width + 2/alpha x the miss) in % of the last close, lower is better; interval "
    "skill = 1 - Winkler / Winkler of 'static' on the same (pair, fold); beats static: share "
    "of cases with interval skill > 0; worst pair: the pair whose median coverage is "
    "furthest from the level (docs/intervals.md).",
)

SCHEDULE_LEGEND = (
    "warm - full > 0: the warm-start forecasts (a full fit at the fold's start, then a warm "
    "fine-tune every hour or N hours) beat the from-scratch fit's on those hours; warm "
    "better/worse: share of paired cases; <-0.02: cases clearly worse than naive under each "
    "schedule (docs/backtest.md#schedule).",
)

CASES_FILE = "cases.csv"
SUMMARY_FILE = "summary.json"
PLOT_FILE = "skill.png"
COVERAGE_PLOT_FILE = "coverage.png"


def write_files(out: Path, report: dict, cases: list[dict], models: list[str],
                title: str, levels: Sequence[float] = (),
                extra_columns: Sequence[str] = ()) -> None:
    """cases.csv (``extra_columns`` last: a K-step run's skill_h1 .. skill_hK, then the swept
    options), summary.json, skill.png and coverage.png in ``out``."""
    write_cases(out / CASES_FILE, cases, levels, extra_columns)
    write_json_atomically(out / SUMMARY_FILE, report)
    draw_skill(out / PLOT_FILE, cases, models, title)
    if levels:
        draw_coverage(out / COVERAGE_PLOT_FILE, cases, models, levels)


def format_bands(bands: dict[str, dict[str, dict]], models: list[str]) -> str:
    """The prediction bands' table: per model and level, over its cases."""
    header = ("model", "level", "cases", "coverage", "worst pair (median)", "width %",
              "Winkler %", "interval skill", "beats static")
    rows = []
    for name in models:
        for figures in bands[name].values():
            worst = ("-" if figures["worst_pair"] is None else
                     f"{figures['worst_pair']} {figures['worst_pair_median_coverage']:.3f}")
            rows.append((name, f"{figures['level']:g}", str(figures["cases"]),
                         figure(figures["median_coverage"], ".3f"), worst,
                         figure(figures["median_width"], ".3f"),
                         figure(figures["median_winkler"], ".3f"),
                         figure(figures["median_interval_skill"], "+.3f"),
                         figure(figures["share_beats_static"], ".2f")))
    return "\n".join(["", "prediction bands (medians over cases):", format_table([header, *rows]),
                      *BAND_LEGEND])


def format_schedules(differences: dict[str, dict]) -> str:
    """The warm schedules against their full twins, case by case (nothing when none)."""
    if not differences:
        return ""
    header = ("model", "versus", "paired cases", "median warm - full", "q25", "q75",
              "warm better", "warm worse", f"full <{CLEARLY_WORSE:g}",
              f"warm <{CLEARLY_WORSE:g}")
    rows = [(label, d["versus"], str(d["cases"]), figure(d["median_difference"], "+.4f"),
             figure(d["q25_difference"], "+.4f"), figure(d["q75_difference"], "+.4f"),
             figure(d["share_warm_better"], ".2f"), figure(d["share_warm_worse"], ".2f"),
             str(d["full_below_-0.02"]), str(d["warm_below_-0.02"]))
            for label, d in differences.items()]
    return "\n".join(["", "warm vs full schedule (skill differences on the same pair, fold and "
                      "repeat: the same test hours):", format_table([header, *rows]),
                      *SCHEDULE_LEGEND])


def format_report(summary: dict[str, dict], per_pair: dict[str, dict], models: list[str],
                  failures: list[dict], interval: str = "1h") -> str:
    header = ("model", "cases", "median skill", "q25", "q75", ">0", "=0",
              f"<{CLEARLY_WORSE:g}", "MASE", "MAPE %", "direction", "s/epoch", "sign p",
              "DM better/worse")
    rows = []
    for name in models:
        s = summary[name]
        rows.append((name, str(s["cases"]), figure(s["median_skill"], "+.4f"),
                     figure(s["q25_skill"], "+.4f"), figure(s["q75_skill"], "+.4f"),
                     figure(s["share_skill_above_0"], ".2f"), figure(s["share_skill_0"], ".2f"),
                     figure(s["share_skill_below_-0.02"], ".2f"), figure(s["median_mase"], ".3f"),
                     figure(s["median_mape"], ".3f"), figure(s["median_direction_accuracy"], ".3f"),
                     figure(s["median_seconds_per_epoch"], ".3f"), figure(s["sign_test_p"], ".3g"),
                     f"{s['dm_better_cases']}/{s['dm_worse_cases']}"))
    pair_rows = [(pair, *(figure(medians[name], "+.4f") for name in models))
                 for pair, medians in per_pair.items()]
    parts = ["", format_table([header, *rows]), *legend(interval), "",
             "median skill per pair (over folds and repeats):",
             format_table([("pair", *models), *pair_rows])]
    parts += [f"failed: {f['symbol']} {f['model']} repeat {f['repeat']}: {f['reason']}"
              for f in failures]
    return "\n".join(parts)


def write_cases(path: Path, cases: list[dict], levels: Sequence[float] = (),
                extra_columns: Sequence[str] = ()) -> None:
    """One row per case: CASE_COLUMNS, then each level's band columns, then
    ``extra_columns``."""
    with path.open("w", newline="") as handle:
        # The test hours (train/backtest_scores.py, HOURS) go to hours.csv, not here.
        writer = csv.DictWriter(handle, fieldnames=(*CASE_COLUMNS, *band_case_columns(levels),
                                                    *extra_columns),
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(cases)


def draw_skill(path: Path, cases: list[dict], models: list[str], title: str) -> None:
    """Box plot of skill per model."""
    boxes = [(name, [c["skill"] for c in cases if c["model"] == name and c["skill"] is not None])
             for name in models]
    save_box_panels(path, [BoxPanel([box for box in boxes if box[1]], 0.0, NAIVE_LABEL,
                                    SKILL_LABEL, title)],
                    (max(6, 1.4 * len(models) + 2), 5), metadata={"Title": title})


def draw_coverage(path: Path, cases: list[dict], models: list[str],
                  levels: Sequence[float]) -> None:
    """Box plot of the cases' band coverage per model, one panel per level, the level drawn
    as the nominal line."""
    panels = []
    for level in levels:
        column = band_score_columns(level)[0]
        boxes = [(name, [c[column] for c in cases if c["model"] == name
                         and c.get(column) is not None]) for name in models]
        panels.append(BoxPanel([box for box in boxes if box[1]], level, f"nominal {level:g}",
                               "coverage (share of test closes inside the band)",
                               f"{level:.0%} bands: coverage per case"))
    save_box_panels(path, panels, ((max(6, 1.4 * len(models) + 2) * len(levels), 5)))
