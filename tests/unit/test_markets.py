"""``--market``: one market, a list or ALL (coinlstm.core.klines.parse_markets, through
coinlstm.app.jobs.pair_selection.job_markets), and the run summary grouped by market."""

from __future__ import annotations

import pytest

from coinlstm.app.commands.run import format_summary, market_groups
from coinlstm.app.jobs.pair_selection import job_markets
from coinlstm.core.errors import BadInput
from coinlstm.core.klines import Markets


def test_one_market_a_list_or_all():
    assert job_markets("eth") == Markets(("ETH",)) and job_markets("eth").single == "ETH"
    several = job_markets("ETH, btc,USDT")
    assert several == Markets(("ETH", "BTC", "USDT"))
    assert (several.single, several.label) == (None, "ETH,BTC,USDT")
    every = job_markets("all")
    assert (every.every, every.names, every.label, every.single) == (True, (), "ALL", None)


@pytest.mark.parametrize(("text", "says"), [
    ("ALL,ETH", "ALL already holds every market"),
    ("ETH,ALL", "ALL already holds every market"),
    ("ETH,BTC,eth", "ETH named twice"),
    ("ETH,,BTC", "an empty market in the list"),
    ("ETH,B-C", "invalid market 'B-C'"),
    ("", "an empty market"),
])
def test_bad_market_lists_are_one_line(text, says):
    with pytest.raises(BadInput) as caught:
        job_markets(text)
    assert says in str(caught.value) and "\n" not in str(caught.value)


def _pair(symbol: str, market: str, status: str = "ok", verdict: str = "no evidence") -> dict:
    return {"symbol": symbol, "market": market, "status": status, "seconds": 1.0,
            "reason": None if status == "ok" else "boom",
            "result": {"verdict": verdict} if status == "ok" else {}}


def test_the_summary_has_one_table_and_edge_count_per_market():
    pairs = [_pair("ADAETH", "ETH", verdict="edge"), _pair("XRPETH", "ETH"),
             _pair("ETHBTC", "BTC", status="failed"), _pair("BTCUSDT", "USDT")]
    groups = market_groups(pairs, ["BTC", "ETH", "USDT"])
    assert list(groups) == ["BTC", "ETH", "USDT"]
    assert groups["ETH"] == {"totals": {"ok": 2, "failed": 0, "pairs": 2},
                             "edges": {"edge": 1, "pairs": 2, "fdr": 0.10}}
    assert groups["BTC"]["totals"] == {"ok": 0, "failed": 1, "pairs": 1}
    report = {"pairs": pairs, "markets": groups, "wall_seconds": 2.0, "run_id": "ALL-1",
              "totals": {"ok": 3, "failed": 1, "pairs": 4}, "status": "partial"}
    lines = format_summary(report).split("\n")
    heads = [i for i, line in enumerate(lines) if line.startswith("market ")]
    assert [lines[i] for i in heads] == ["market BTC: pairs ok 0, failed 1",
                                         "market ETH: pairs ok 2, failed 0",
                                         "market USDT: pairs ok 1, failed 0"]
    eth = lines[heads[1]:heads[2]]
    assert any(line.startswith("ADAETH") for line in eth)
    assert not any(line.startswith("BTCUSDT") for line in eth)
    assert eth[-1] == "1 of 2 pairs show an edge at FDR 10 %"
    assert "ETHBTC failed: boom" in lines[heads[0]:heads[1]]
    assert "0 of 0 pairs show an edge at FDR 10 %" in lines[heads[0]:heads[1]]
