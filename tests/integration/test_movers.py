"""The movers ranking and the costs on a real dashboard over loopback: a hand-built market of
stored candles and banded forecasts, scored by the real scorer, served by ``coinlstm serve``;
the API's Spearman figures recomputed here with scipy from the numbers the test wrote, the
Roll spread and the value after it by hand, ``edge within the spread`` where a forecast
only leans against the bid-ask bounce, and placeholders (never a 500) for short data."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from coinlstm import db
from predict.forward_scores import score
from tests.helpers import Served

HOUR = 3_600_000
HOURS = 200
FIRST_OPEN = 1_735_000_000_000 - 1_735_000_000_000 % HOUR


def _candle(coin_id: int, open_ms: int, close: float) -> dict:
    text = f"{close:.8f}"
    return {"idCoin": coin_id, "openTime": open_ms, "open": text, "high": text, "low": text,
            "close": text, "volume": "1000", "closeTime": open_ms + HOUR - 1,
            "quoteAssetVolume": "1000", "numberOfTrader": 10,
            "takerBuyBaseAssetVolume": "500", "takerBuyQuoteAssetVolume": "500", "ignore": "0"}


def _pair(rng, kind: str, hours: int) -> dict:
    """Closes (rounded as stored), forecasts and 80 % band half-widths (fractions) of one
    pair. ``bounce``: a calm mid with a 1 % bid-ask bounce, forecast = the mid (beats the
    last close, earns nothing after the spread); ``signal``: sees 0.8 of the next return;
    ``calm``/``wild``: no skill, a band that follows a volatility regime known here."""
    regime = np.exp(np.cumsum(rng.normal(0, 0.15, hours + 1)))
    regime /= regime.mean()
    base = {"bounce": 0.001, "signal": 0.01, "calm": 0.003, "wild": 0.012}[kind]
    vol = base * regime
    mid = 10.0 * np.exp(np.cumsum(rng.normal(0, 1, hours + 1) * vol))
    spread = {"bounce": 0.01, "signal": 0.01}.get(kind, 0.0)
    closes = mid * np.exp(rng.choice([-1.0, 1.0], hours + 1) * spread / 2)
    closes = np.round(closes, 8)
    if kind == "bounce":
        forecasts = mid[:-1]
    elif kind == "signal":
        forecasts = closes[:-1] * np.exp(0.8 * np.diff(np.log(closes)))
    else:
        forecasts = closes[:-1] * np.exp(rng.normal(0, 0.05, hours) * vol[:-1])
    return {"kind": kind, "closes": closes[:hours], "next_close": closes[hours],
            "forecasts": forecasts, "half_width": 1.3 * vol[:-1]}


def _store(engine, market: str, pairs: dict[str, dict], hours: int) -> None:
    """Candles 0 .. hours-1 and a forecast for each of candles 1 .. hours (the last one not
    yet closed), banded; then the real scorer."""
    with db.transaction(engine) as conn:
        for symbol, pair in pairs.items():
            coin = db.ensure_coin(conn, symbol, symbol.removesuffix(market), market,
                                  "TRADING")
            db.insert_candles(conn, [_candle(coin, FIRST_OPEN + i * HOUR, float(close))
                                     for i, close in enumerate(pair["closes"])])
            rows = []
            for i, forecast in enumerate(pair["forecasts"]):
                last = float(pair["closes"][i])
                half = float(pair["half_width"][i]) * last
                rows.append({"id_coin": coin, "time_create": 0, "price_predict": "[]",
                             "price_actual": "[]", "price_preidct_last": float(forecast),
                             "price_actual_last": last, "run_id": f"r{i}",
                             "openTime_next": FIRST_OPEN + (i + 1) * HOUR, "model": "lstm",
                             "target": "return", "interval": "1h", "horizon": 1,
                             "lower_80": last - half, "upper_80": last + half,
                             "lower_95": last - 2 * half, "upper_95": last + 2 * half})
            conn.execute(db.historical_price_predictions.insert(), rows)
    score(engine, "1h", market)


@pytest.fixture
def market(db_url):
    rng = np.random.default_rng(20)
    pairs = {f"{kind.upper()}ETH": _pair(rng, kind, HOURS)
             for kind in ("bounce", "signal", "calm", "wild", "calm")[:4]}
    pairs["CALM2ETH"] = _pair(rng, "calm", HOURS)
    short = {f"S{index}BTC": _pair(rng, "calm", 30) for index in range(3)}
    engine = db.open_database(db_url)
    _store(engine, "ETH", pairs, HOURS)
    _store(engine, "BTC", short, 30)
    with db.transaction(engine) as conn:  # a market with a pair and no candle at all
        db.ensure_coin(conn, "EMPTYUSDT", "EMPTY", "USDT", "TRADING")
    engine.dispose()
    server = Served("--db", db_url)
    yield server, pairs
    server.stop()


def _naive(closes: np.ndarray, index: int) -> float | None:
    """RMS of the (up to) 24 log returns ending at close ``index``, in %; None under 12."""
    returns = np.diff(np.log(closes[max(0, index - 24):index + 1]))
    return None if len(returns) < 12 else float(np.sqrt(np.mean(returns**2)) * 100)


def _expected_hours(pairs: dict[str, dict]) -> list[tuple[float, float]]:
    """Per scored hour (oldest first), scipy's Spearman of the tool's and the naive ranking
    against the absolute returns, from the numbers the test wrote."""
    found = []
    for hour in range(HOURS - 1):  # forecast `hour` is for candle hour + 1, which is in
        sizes, naive, realised = [], [], []
        for pair in pairs.values():
            closes = pair["closes"]
            volatility = _naive(closes, hour)
            if volatility is None:
                continue
            sizes.append(pair["half_width"][hour] * 100)
            naive.append(volatility)
            realised.append(abs(closes[hour + 1] / closes[hour] - 1))
        if len(sizes) >= 3:
            found.append((spearmanr(sizes, realised).statistic,
                          spearmanr(naive, realised).statistic))
    return found


def test_movers_api_gives_the_spearman_figures_scipy_finds(market):
    server, pairs = market
    status, _, body = server.get("/api/movers?market=ETH&interval=1h")
    assert status == 200
    movers = json.loads(body)
    expected = _expected_hours(pairs)
    windows = {w["window"]: w for w in movers["score"]["windows"]}
    for name, hours in (("24h", 24), ("7d", 168), ("30d", len(expected))):
        window, chosen = windows[name], expected[-hours:]
        assert window["hours"] == hours and window["mean_pairs"] == 5
        tool = float(np.mean([h[0] for h in chosen]))
        naive = float(np.mean([h[1] for h in chosen]))
        assert window["spearman"] == pytest.approx(tool, rel=1e-5, abs=1e-9)
        assert window["naive_spearman"] == pytest.approx(naive, rel=1e-5, abs=1e-9)
        assert window["difference"] == pytest.approx(tool - naive, rel=1e-5, abs=1e-9)
        assert window["p_value"] is not None and window["verdict"] in (
            "beats naive", "no evidence", "naive better")
    assert windows["30d"]["spearman"] > 0.2  # the bands follow the volatility regimes
    # The pairs by the forecast size of their next move, largest first.
    sizes = [p["expected_move_pct"] for p in movers["pairs"]]
    assert sizes == sorted(sizes, reverse=True) and len(sizes) == len(pairs)
    for entry in movers["pairs"]:
        pair = pairs[entry["symbol"]]
        assert entry["expected_move_pct"] == pytest.approx(pair["half_width"][-1] * 100,
                                                           rel=1e-3)
        assert entry["naive_move_pct"] == pytest.approx(_naive(pair["closes"], HOURS - 1),
                                                        rel=1e-3)


def _roll(closes: np.ndarray) -> float | None:
    returns = np.diff(np.log(closes))
    covariance = np.cov(returns[1:], returns[:-1], bias=True)[0, 1]
    return 2 * math.sqrt(-covariance) if covariance < 0 else None


def test_spread_value_after_costs_and_edge_within_the_spread(market):
    server, pairs = market
    ranking = {p["symbol"]: p for p in json.loads(
        server.get("/api/markets/ETH/ranking?interval=1h")[2])}
    for symbol, pair in pairs.items():
        spread = _roll(pair["closes"])
        got = ranking[symbol]["spread_pct"]
        assert got is None if spread is None else got == pytest.approx(spread * 100, rel=1e-3)
    bounce = ranking["BOUNCEETH"]
    assert bounce["spread_pct"] == pytest.approx(1.0, rel=0.25)  # the bounce's 1 %
    assert bounce["record_verdict"] == "edge"  # the mid beats the last close ...
    assert bounce["verdict"] == "edge within the spread"  # ... and earns nothing after it
    signal = ranking["SIGNALETH"]
    assert (signal["record_verdict"], signal["verdict"]) == ("edge", "edge")
    assert signal["worth_trading"] and signal["value_after_costs_pct"] > 0

    costs = json.loads(server.get("/api/pairs/SIGNALETH/costs?interval=1h")[2])
    pair = pairs["SIGNALETH"]
    spread = _roll(pair["closes"])
    scored_last = pair["closes"][:-1]
    scored_forecast, actual = pair["forecasts"][:-1], pair["closes"][1:]
    predicted = scored_forecast / scored_last - 1
    traded = np.abs(predicted) > spread
    earned = np.sign(predicted[traded]) * (actual[traded] / scored_last[traded] - 1) - spread
    assert costs["spread_pct"] == pytest.approx(spread * 100, rel=1e-3)
    assert costs["traded_hours"] == int(traded.sum())
    assert costs["value_after_costs_pct"] == pytest.approx(earned.mean() * 100, rel=1e-3)
    assert costs["verdict"] == "edge"
    page = server.get("/pair/BOUNCEETH")[2]
    assert "edge within the spread" in page and "effective spread" in page
    market_page = server.get("/market/ETH")[2]
    assert 'id="movers-score"' in market_page and "edge within the spread" in market_page


def test_short_and_empty_markets_show_placeholders_never_a_500(market):
    server, _ = market
    movers = json.loads(server.get("/api/movers?market=BTC&interval=1h")[2])
    for window in movers["score"]["windows"]:  # 17 hours with a naive size: no test
        assert window["p_value"] is None and window["verdict"] == "no evidence"
        assert window["hours"] == 17
    status, _, body = server.get("/api/movers?market=USDT&interval=1h")
    empty = json.loads(body)
    assert status == 200 and empty["pairs"][0]["expected_move_pct"] is None
    assert [w["hours"] for w in empty["score"]["windows"]] == [0, 0, 0]
    for path in ("/market/BTC", "/market/USDT", "/pair/EMPTYUSDT",
                 "/api/pairs/EMPTYUSDT/costs", "/api/movers?market=BTC&interval=4h"):
        status, _, page = server.get(path)
        assert status == 200, path
    assert "no evidence: 0 hours scored" in server.get("/market/USDT")[2]
    assert server.get("/api/movers?market=NOSUCH")[0] == 404
    assert server.get("/api/movers?market=e")[0] == 422


def test_the_scoring_pass_adds_the_new_hour_and_a_second_pass_writes_nothing(market, db_url):
    server, pairs = market
    engine = db.open_database(db_url)
    with engine.connect() as conn:
        before = len(db.stored_movers_hours(conn, "binance", "ETH", "1h", 0))
    with db.transaction(engine) as conn:  # candle 200 closes: forecast 199 becomes scorable
        for symbol, pair in pairs.items():
            coin = db.coin_by_symbol(conn, symbol).id
            db.insert_candles(conn, [_candle(coin, FIRST_OPEN + HOURS * HOUR,
                                             float(pair["next_close"]))])
    assert score(engine, "1h", "ETH").scored == len(pairs)
    with engine.connect() as conn:
        hours = db.stored_movers_hours(conn, "binance", "ETH", "1h", 0)
        fingerprint = db.table_fingerprint(conn)
    assert len(hours) == before + 1 and hours[-1].openTime == FIRST_OPEN + HOURS * HOUR
    closes = {s: np.append(p["closes"], p["next_close"]) for s, p in pairs.items()}
    sizes = [pairs[s]["half_width"][HOURS - 1] for s in pairs]
    naive = [_naive(closes[s], HOURS - 1) for s in pairs]
    realised = [abs(closes[s][HOURS] / closes[s][HOURS - 1] - 1) for s in pairs]
    assert hours[-1].pairs == len(pairs)
    assert hours[-1].spearman == pytest.approx(spearmanr(sizes, realised).statistic)
    assert hours[-1].naive_spearman == pytest.approx(spearmanr(naive, realised).statistic)
    assert score(engine, "1h", "ETH").scored == 0
    with engine.connect() as conn:
        assert db.table_fingerprint(conn) == fingerprint
    engine.dispose()
    movers = json.loads(server.get("/api/movers?market=ETH")[2])
    assert movers["score"]["as_of"] == "2025-01-01 08:00"  # the new hour ends the windows
    assert movers["score"]["windows"][-1]["hours"] == before + 1
