"""``coinlstm evaluate --sweep NAME=V1,V2,...``: a study of training options on the same folds.

Why: a question such as "does an L1 penalty on the biases help, and at what factor?" is a
backtest of every value on the same pairs, folds and seeds; one command runs it. Each
``--sweep`` names a training option of the typed configuration (train/config.py; ``bias_l1``,
``bias-l1`` or ``--bias-l1``) and its values, parsed and checked as the option's own flag
would; several ``--sweep`` form a grid (every combination). Each grid point is a
configuration of its own, run by every model with ``--repeats`` seeds.

A forecaster that a point does not change (naive: its figures read only the fold settings,
``Forecaster.reported_options``) runs once, its cases without sweep values. The cases of
cases.csv carry one column per swept option (the option's name, or ``swept_NAME`` where
cases.csv already has a column of that name, e.g. ``seed``). The summary gives, per option,
value and model, describe()-style statistics of skill (count, mean, std, min, quartiles,
max); one box plot per option shows skill by value (``sweep-NAME.png``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from coinlstm.app.jobs.evaluate_charts import NAIVE_LABEL, SKILL_LABEL, BoxPanel, save_box_panels
from coinlstm.core.errors import BadInput
from coinlstm.core.tables import figure, format_table
from train.config import field_named, parse_value

#: Options one evaluate run holds fixed for all its cases: its folds, bands and candles.
NOT_SWEPT = ("interval", "levels", "horizon", "with_pairs", "backend", "test_size")
#: The statistics of skill per swept value, in pandas' describe() order.
STATISTICS = ("count", "mean", "std", "min", "25%", "50%", "75%", "max")

Point = tuple[tuple[str, Any], ...]


def parse_sweeps(texts: Sequence[str] | None) -> dict[str, list[Any]]:
    """``["bias_l1=0,0.1"]`` -> ``{"bias_l1": [0.0, 0.1]}``; BadInput (one line) for an
    unknown option, one evaluate cannot vary, a value its flag refuses, or a repeat."""
    sweeps: dict[str, list[Any]] = {}
    for text in texts or ():
        name, sep, values = text.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise BadInput(f"--sweep {text!r}: expected NAME=V1,V2,... "
                           "(e.g. --sweep bias_l1=0,0.01)")
        each = field_named(name)
        if each.name in NOT_SWEPT:
            raise BadInput(f"--sweep {each.name}: one evaluate run holds it fixed for all "
                           "its cases; run once per value")
        if each.name in sweeps:
            raise BadInput(f"--sweep {each.name} is given twice; list its values once")
        parsed = [parse_value(each, part.strip()) for part in values.split(",")]
        if len(set(map(repr, parsed))) != len(parsed):
            raise BadInput(f"--sweep {each.name}: a value is listed twice")
        sweeps[each.name] = parsed
    return sweeps


def grid(sweeps: dict[str, list[Any]]) -> list[Point]:
    """Every combination of the swept values, in the order given; ``[()]`` with no sweep."""
    names = list(sweeps)
    return [tuple(zip(names, values, strict=True))
            for values in itertools.product(*(sweeps[name] for name in names))]


def label(point: Point) -> str:
    """``bias_l1=0.01,seed=3``: a point in a task's name and in the printed lines."""
    return ",".join(f"{name}={value}" for name, value in point)


def column(name: str, taken: Sequence[str]) -> str:
    """The cases.csv column of a swept option."""
    return f"swept_{name}" if name in taken else name


def point_columns(point: Point, taken: Sequence[str]) -> dict[str, Any]:
    return {column(name, taken): value for name, value in point}


def summarise_sweep(cases: list[dict], sweeps: dict[str, list[Any]], labels: list[str],
                    taken: Sequence[str]) -> dict[str, list[dict]]:
    """Per swept option: one row per (value, model) with describe()'s statistics of skill
    over its cases (with several options: over every value of the others)."""
    summary: dict[str, list[dict]] = {}
    for name, values in sweeps.items():
        key = column(name, taken)
        rows = [{"value": value, "model": model,
                 **_described([c for c in cases if c["model"] == model and key in c
                               and c[key] == value])}
                for value, model in itertools.product(values, labels)]
        summary[name] = [row for row in rows if row["count"]]
    return summary


def summarise_points(cases: list[dict], points: list[Point], labels: list[str],
                     taken: Sequence[str]) -> list[dict]:
    """One row per (grid point, model) with describe()'s statistics of skill: the grid's
    every combination (``summarise_sweep`` pools the other options' values)."""
    rows = []
    for point, model in itertools.product(points, labels):
        columns = point_columns(point, taken)
        chosen = [c for c in cases if c["model"] == model
                  and all(key in c and c[key] == value for key, value in columns.items())]
        rows.append({"point": dict(point), "model": model, **_described(chosen)})
    return [row for row in rows if row["count"]]


def _described(cases: list[dict]) -> dict[str, Any]:
    """pandas' describe() of the cases' skill (a case without skill is left out)."""
    import pandas as pd

    skills = pd.Series([c["skill"] for c in cases if c["skill"] is not None], dtype=float)
    if skills.empty:
        return {"count": 0}
    described = skills.describe()
    return {stat: _plain(described.get(stat)) for stat in STATISTICS}


def _plain(value: Any) -> float | int | None:
    """A JSON number (the std of one case is NaN: None)."""
    if value is None or value != value:
        return None
    return int(value) if float(value).is_integer() and abs(value) < 2 ** 53 else float(value)


def format_sweep(summary: dict[str, list[dict]], per_point: list[dict] | None = None) -> str:
    """The printed tables: skill per swept value and model (and per grid point, when
    several options form the grid)."""
    parts = []
    for name, rows in summary.items():
        parts += ["", f"skill per value of {name} (over pairs, folds and repeats):",
                  _table("value", [(str(row["value"]), row) for row in rows])]
    if per_point:
        parts += ["", "skill per grid point:",
                  _table("point", [(label(tuple(row["point"].items())), row)
                                   for row in per_point])]
    return "\n".join(parts)


def _table(first: str, rows: list[tuple[str, dict]]) -> str:
    header = (first, "model", *STATISTICS)
    return format_table([header, *((text, row["model"], str(row["count"]),
                                    *(figure(row[stat], ".4f" if stat == "std" else "+.4f")
                                      for stat in STATISTICS[1:]))
                                   for text, row in rows)])


def plot_path(out: Path, name: str) -> Path:
    return out / f"sweep-{name}.png"


def draw_sweep(out: Path, cases: list[dict], summary: dict[str, list[dict]],
               taken: Sequence[str], title: str) -> list[Path]:
    """One box plot of skill per swept option, a box per (value, model)."""
    paths = []
    for name, rows in summary.items():
        key = column(name, taken)
        models = list(dict.fromkeys(row["model"] for row in rows))
        boxes = [(str(row["value"]) if len(models) == 1 else f"{row['model']}\n{row['value']}",
                  [c["skill"] for c in cases if c["model"] == row["model"] and key in c
                   and c[key] == row["value"] and c["skill"] is not None])
                 for row in rows]
        path = plot_path(out, name)
        save_box_panels(path, [BoxPanel(boxes, 0.0, NAIVE_LABEL, SKILL_LABEL,
                                        f"{title}: skill by {name}", xlabel=name)],
                        (max(6, 1.1 * len(boxes) + 2), 5))
        paths.append(path)
    return paths


def same_for_every_point(reported: list[dict]) -> bool:
    """Whether a forecaster's reported options are the same at every grid point (then it
    runs once)."""
    return len({json.dumps(each, sort_keys=True, default=str) for each in reported}) == 1
