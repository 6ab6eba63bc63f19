"""``evaluate --sweep``: parsing, the grid, and describe()'s statistics per value and point."""

from __future__ import annotations

import pandas as pd
import pytest

from coinlstm.app.jobs.evaluate_report import CASE_COLUMNS
from coinlstm.app.jobs.evaluate_sweep import (
    format_sweep,
    grid,
    parse_sweeps,
    point_columns,
    summarise_points,
    summarise_sweep,
)
from coinlstm.core.errors import BadInput


def test_sweeps_parse_as_their_flags_and_form_a_grid_in_the_order_given():
    sweeps = parse_sweeps(["bias-l1=0,0.1", "--layers=1,3", "model=gru,lstm"])
    assert sweeps == {"bias_l1": [0.0, 0.1], "layers": [1, 3], "model": ["gru", "lstm"]}
    points = grid(sweeps)
    assert len(points) == 8 and points[0] == (("bias_l1", 0.0), ("layers", 1),
                                               ("model", "gru"))
    assert points[-1] == (("bias_l1", 0.1), ("layers", 3), ("model", "lstm"))
    assert grid({}) == [()]
    for bad, words in ((["bias_l1=0", "bias-l1=1"], "given twice"),
                       (["bias_l1=0,0.0"], "a value is listed twice"),
                       (["model=rnn"], "--model: invalid choice 'rnn'"),
                       (["units=0"], "--units must be at least 1, got 0")):
        with pytest.raises(BadInput, match=words):
            parse_sweeps(bad)


def test_a_swept_option_that_is_a_case_column_gets_its_own_column():
    assert point_columns((("seed", 7), ("bias_l2", 0.1)), CASE_COLUMNS) == {
        "swept_seed": 7, "bias_l2": 0.1}


def test_statistics_per_value_pool_the_other_options_and_per_point_do_not():
    sweeps = {"bias_l1": [0.0, 0.1], "bias_l2": [0.0, 0.01]}
    skills = {(0.0, 0.0): [0.1, 0.2], (0.0, 0.01): [-0.1], (0.1, 0.0): [0.3],
              (0.1, 0.01): [0.0, 0.5, None]}
    cases = [{"model": "default", "bias_l1": l1, "bias_l2": l2, "skill": skill}
             for (l1, l2), values in skills.items() for skill in values]
    cases.append({"model": "naive", "skill": 0.0})  # no sweep value: in no row
    per_value = summarise_sweep(cases, sweeps, ["naive", "default"], CASE_COLUMNS)
    expected = pd.Series([0.1, 0.2, -0.1]).describe()
    first = per_value["bias_l1"][0]
    assert (first["value"], first["model"], first["count"]) == (0.0, "default", 3)
    for stat in ("mean", "std", "min", "25%", "50%", "75%", "max"):
        assert first[stat] == pytest.approx(expected[stat])
    assert [row["count"] for row in per_value["bias_l2"]] == [3, 3]
    per_point = summarise_points(cases, grid(sweeps), ["naive", "default"], CASE_COLUMNS)
    assert [(row["point"], row["count"]) for row in per_point] == [
        ({"bias_l1": 0.0, "bias_l2": 0.0}, 2), ({"bias_l1": 0.0, "bias_l2": 0.01}, 1),
        ({"bias_l1": 0.1, "bias_l2": 0.0}, 1), ({"bias_l1": 0.1, "bias_l2": 0.01}, 2)]
    assert per_point[1]["std"] is None and per_point[3]["mean"] == pytest.approx(0.25)
    text = format_sweep(per_value, per_point)
    assert "skill per value of bias_l2" in text and "bias_l1=0.1,bias_l2=0.01" in text
