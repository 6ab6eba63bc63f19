"""A task's outcome holds its decoded result with shared strings (executors/base.py): the
driver of a market job keeps every pair's result until its report is written."""

from __future__ import annotations

import json
import tracemalloc
from dataclasses import dataclass

from coinlstm.app.runtime.executors import outcome_from_result
from coinlstm.app.runtime.executors.base import FAILED, OK, PairTask


@dataclass(frozen=True)
class Pair(PairTask):
    coin_id: int
    symbol: str


#: The shape of a pair's result file: about fifty keys, short and long strings, a nested dict.
RESULT = {"symbol": "SYN0001ETH", "id_coin": 1, "status": "ok", "error": None,
          "fit": "warm", "model": "lstm", "target": "return", "verdict": "no evidence",
          "fit_reason": "11 h of data since the last full fit, refit in 23 h",
          "bands": {level: {"lower": 0.1, "upper": 0.2, "coverage": 0.8, "width": 1.5,
                            "winkler": 2.1} for level in ("80", "95")},
          **{f"figure_number_{n}": n / 7 for n in range(40)}}


def _decoded(count: int) -> list[dict]:
    """``count`` results as a driver reads them: each decoded from its own file's text."""
    text = json.dumps(RESULT)
    return [json.loads(text) for _ in range(count)]


def test_outcomes_share_their_keys_and_short_strings_and_keep_every_value():
    first, second = (outcome_from_result(Pair(1, "SYN0001ETH"), result, 0.3, None)
                     for result in _decoded(2))
    assert first.status == second.status == OK
    assert first.result == second.result == RESULT
    for key_a, key_b in zip(first.result, second.result, strict=True):
        assert key_a is key_b
    assert first.result["verdict"] is second.result["verdict"]
    assert first.result["bands"]["80"]["winkler"] == 2.1
    assert next(iter(first.result["bands"]["95"])) is next(iter(second.result["bands"]["95"]))


def test_a_market_of_outcomes_holds_about_half_of_its_decoded_results():
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        decoded = _decoded(500)
        decoded_size = tracemalloc.get_traced_memory()[0] - start
        outcomes = [outcome_from_result(Pair(n, f"SYN{n:04d}ETH"), result, 0.3, None)
                    for n, result in enumerate(decoded)]
        del decoded  # what the driver keeps is the outcomes
        held = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert len(outcomes) == 500
    assert held < 0.6 * decoded_size, (held, decoded_size)


def test_a_failed_result_keeps_its_error_line():
    outcome = outcome_from_result(Pair(2, "X"), {"status": "failed", "error": "no candles"},
                                  1.0, "ignored")
    assert (outcome.status, outcome.reason) == (FAILED, "no candles")
