"""Forward scoring on a real database (SQLite and MySQL): stored scores and track records
against figures this test computes from the candles and forecasts it wrote; what is not
scorable yet; idempotence; a rerun's newer forecast; the verdicts on synthetic forecasters;
the upgrade of an older database; ``coinlstm score``."""

from __future__ import annotations

import math
import random
import subprocess
import sys
import threading

import pytest
import sqlalchemy as sa

from coinlstm import db
from predict.forward_scores import score
from tests import synthetic_history
from tests.helpers import run_cli

HOUR = 3_600_000
START = 1_700_000_000_000 - 1_700_000_000_000 % HOUR


def _candle(coin: int, open_ms: int, close: float) -> dict:
    text = f"{close:.8f}"
    return dict(idCoin=coin, openTime=open_ms, open=text, high=text, low=text, close=text,
                volume="1.00000000", closeTime=open_ms + HOUR - 1, quoteAssetVolume="1.00000000",
                numberOfTrader=1, takerBuyBaseAssetVolume="0.50000000",
                takerBuyQuoteAssetVolume="0.50000000", ignore="0")


def _forecast(coin: int, next_ms: int, predicted: float, last: float, run: str,
              model: str = "lstm", bands: dict | None = None) -> dict:
    unbanded = dict.fromkeys(("lower_80", "upper_80", "lower_95", "upper_95"))
    return dict(id_coin=coin, time_create=1, price_predict="[]", price_actual="[]",
                price_preidct_last=predicted, price_actual_last=last, run_id=run,
                openTime_next=next_ms, model=model, target="return", interval="1h",
                **{**unbanded, **(bands or {})})


def _fill(engine, closes, predictions, bands=None):
    """Candles with ``closes``; a forecast for each candle after the first made from the one
    before (with ``bands[h]``'s columns when given); and one forecast for the candle after
    the last (not in yet)."""
    with db.transaction(engine) as conn:
        coin = db.ensure_coin(conn, "ADAETH", "ADA", "ETH", "TRADING")
        db.insert_candles(conn, [_candle(coin, START + h * HOUR, c) for h, c in
                                 enumerate(closes)])
        rows = [_forecast(coin, START + (h + 1) * HOUR, predictions[h], closes[h], f"r{h}",
                          bands=None if bands is None else bands[h])
                for h in range(len(closes))]
        conn.execute(db.historical_price_predictions.insert(), rows)
    return coin


def _scores(engine):
    with engine.connect() as conn:
        return conn.execute(sa.select(db.forecast_scores)
                            .order_by(db.forecast_scores.c.openTime_next)).all()


def test_scores_and_track_record_match_figures_computed_here(db_url):
    rng = random.Random(11)
    closes = [1.0]
    for _ in range(59):
        closes.append(round(closes[-1] * math.exp(rng.gauss(0, 0.01)), 8))
    closes[30] = closes[29]  # one candle that did not move
    predictions = [round(c * math.exp(rng.gauss(0, 0.005)), 8) for c in closes]
    engine = db.open_database(db_url)
    coin = _fill(engine, closes, predictions)

    summary = score(engine)
    assert (summary.scored, summary.series) == (59, 1)  # the 60th is for a candle not in yet
    rows = _scores(engine)
    assert [r.openTime_next for r in rows] == [START + h * HOUR for h in range(1, 60)]
    for row, h in zip(rows, range(1, 60), strict=True):
        predicted, last, actual = predictions[h - 1], closes[h - 1], closes[h]
        assert (row.forecast, row.naive, row.actual) == pytest.approx((predicted, last, actual))
        assert row.error == pytest.approx(predicted - actual)
        assert row.naive_error == pytest.approx(last - actual)
        assert row.openTime_last == START + (h - 1) * HOUR
        expected_hit = None if actual == last else (predicted - last) * (actual - last) > 0
        assert (None if row.direction_hit is None else bool(row.direction_hit)) == expected_hit
    assert rows[29].direction_hit is None

    errors = [predictions[h - 1] - closes[h] for h in range(1, 60)]
    naive = [closes[h - 1] - closes[h] for h in range(1, 60)]
    with engine.connect() as conn:
        records = {r.window: r for r in db.stored_track_records(conn, "1h", [coin])}
    assert set(records) == {"24h", "7d", "30d", "all"}
    assert records["24h"].scored == 24 and records["all"].scored == 59
    assert records["all"].as_of == START + 59 * HOUR
    rmse = math.sqrt(sum(e * e for e in errors) / 59)
    naive_rmse = math.sqrt(sum(n * n for n in naive) / 59)
    assert records["all"].rmse == pytest.approx(rmse, rel=1e-6)
    assert records["all"].naive_rmse == pytest.approx(naive_rmse, rel=1e-6)
    assert records["all"].skill == pytest.approx(1 - rmse / naive_rmse, rel=1e-6)
    assert records["all"].mae == pytest.approx(sum(map(abs, errors)) / 59, rel=1e-6)
    moved = [(p - lst) * (a - lst) > 0 for p, lst, a in zip(predictions, closes, closes[1:],
                                                             strict=False) if a != lst]
    assert records["all"].moved == 58
    assert records["all"].direction == pytest.approx(sum(moved) / len(moved))
    last24 = slice(59 - 24, 59)
    assert records["24h"].rmse == pytest.approx(
        math.sqrt(sum(e * e for e in errors[last24]) / 24), rel=1e-6)
    # The DM statistic with 59 losses: lags floor(4 (0.59)^(2/9)) = 3, written out here.
    d = [e * e - n * n for e, n in zip(errors, naive, strict=True)]
    mean = sum(d) / 59
    gammas = [sum((d[t] - mean) * (d[t - k] - mean) for t in range(k, 59)) / 59
              for k in range(4)]
    variance = (gammas[0] + sum(2 * (1 - k / 4) * gammas[k] for k in range(1, 4))) / 59
    z = mean / math.sqrt(variance)
    assert records["all"].dm_stat == pytest.approx(z, rel=1e-6)
    assert records["all"].dm_pvalue == pytest.approx(0.5 * (1 + math.erf(z / math.sqrt(2))),
                                                     rel=1e-6)
    assert records["all"].verdict != "edge"  # 59 scored: never an edge
    # (this one is worse than naive at the FDR level: p (worse), judged alone, <= 0.10)
    assert records["all"].verdict == "worse" and records["all"].dm_pvalue_worse <= 0.10

    # Re-scoring writes nothing; the next candle arriving makes the 60th forecast scorable.
    before = _fingerprint(engine)
    assert score(engine).scored == 0
    assert _fingerprint(engine) == before and len(_scores(engine)) == 59
    with db.transaction(engine) as conn:
        db.insert_candles(conn, [_candle(coin, START + 60 * HOUR, closes[-1] * 1.01)])
    assert score(engine).scored == 1 and len(_scores(engine)) == 60
    engine.dispose()


def _fingerprint(engine):
    with engine.connect() as conn:
        return {**db.table_fingerprint(conn),
                "scored": tuple(conn.execute(sa.select(db.forecast_scores.c.time_scored,
                                                       db.forecast_scores.c.id)).all())}


def _banded_history(seed=7, hours=60):
    """A random walk, forecasts around it, and bands of every width: an 80 % band on all
    forecasts but every fifth (none there), a 95 % band from hour 20 on; half-widths drawn
    at random so some closes land inside and some outside."""
    rng = random.Random(seed)
    closes = [1.0]
    for _ in range(hours - 1):
        closes.append(round(closes[-1] * math.exp(rng.gauss(0, 0.01)), 8))
    predictions = [round(c * math.exp(rng.gauss(0, 0.003)), 8) for c in closes]
    bands = []
    for h, predicted in enumerate(predictions):
        half80, half95 = rng.uniform(0.002, 0.02), rng.uniform(0.0, 0.008)
        band = {}
        if h % 5 != 4:
            band.update(lower_80=predicted * math.exp(-half80),
                        upper_80=predicted * math.exp(half80))
        if h >= 20:
            band.update(lower_95=predicted * math.exp(-half80 - half95),
                        upper_95=predicted * math.exp(half80 + half95))
        bands.append(band)
    return closes, predictions, bands


def _expected_coverage(closes, bands, level, hours):
    """(share inside, count with a band, mean width %) of the forecasts for the candles
    ``hours`` (1-based), computed here from what the test wrote."""
    lower, upper = f"lower_{level}", f"upper_{level}"
    inside, widths = [], []
    for h in hours:
        band = bands[h - 1]
        if lower in band:
            inside.append(band[lower] <= closes[h] <= band[upper])
            widths.append((band[upper] - band[lower]) / closes[h - 1] * 100)
    if not inside:
        return None, 0, None
    return sum(inside) / len(inside), len(inside), sum(widths) / len(widths)


def test_band_coverage_matches_figures_computed_here(db_url):
    closes, predictions, bands = _banded_history()
    engine = db.open_database(db_url)
    coin = _fill(engine, closes, predictions, bands)
    with db.transaction(engine) as conn:  # a second forecaster of the pair with no bands
        conn.execute(db.historical_price_predictions.insert(), [
            _forecast(coin, START + (h + 1) * HOUR, closes[h], closes[h], f"plain{h}",
                      model="plain") for h in range(len(closes))])
    assert score(engine).scored == 2 * 59

    rows = [r for r in _scores(engine) if r.model == "lstm"]
    for row, h in zip(rows, range(1, 60), strict=True):
        band = bands[h - 1]
        for level in ("80", "95"):
            inside = getattr(row, f"inside_{level}")
            if f"lower_{level}" in band:
                assert bool(inside) == (band[f"lower_{level}"] <= closes[h]
                                        <= band[f"upper_{level}"]), (h, level)
                assert getattr(row, f"lower_{level}") == pytest.approx(band[f"lower_{level}"])
            else:
                assert inside is None and getattr(row, f"lower_{level}") is None, (h, level)
    for level in ("80", "95"):  # the bands were drawn so that both outcomes occur
        outcomes = {getattr(r, f"inside_{level}") for r in rows}
        assert {bool(v) for v in outcomes if v is not None} == {True, False}, level

    with engine.connect() as conn:
        records = {(r.model, r.window): r for r in db.stored_track_records(conn, "1h", [coin])}
    for window, hours in (("all", range(1, 60)), ("24h", range(36, 60))):
        record = records[("lstm", window)]
        for level in ("80", "95"):
            coverage, banded, width = _expected_coverage(closes, bands, level, hours)
            assert getattr(record, f"banded_{level}") == banded, (window, level)
            assert getattr(record, f"coverage_{level}") == pytest.approx(coverage), window
            assert getattr(record, f"width_{level}") == pytest.approx(width), window
    # Forecasts 0..58 are scored: no 80 % band at 4, 9, .., 54; 95 % bands from 20 on.
    assert records[("lstm", "all")].banded_80 == 59 - 11
    assert records[("lstm", "all")].banded_95 == 59 - 20
    for window in ("24h", "7d", "30d", "all"):  # no band at all: NULL coverage, not 0
        plain = records[("plain", window)]
        assert plain.scored > 0 and plain.banded_80 == 0 and plain.banded_95 == 0
        assert plain.coverage_80 is None and plain.coverage_95 is None
        assert plain.width_80 is None
    before = _fingerprint(engine)
    assert score(engine).scored == 0 and _fingerprint(engine) == before
    engine.dispose()


def test_scores_of_an_older_database_gain_their_bands_once(db_url):
    """A database scored before bands were: the new columns are added in place, the next
    scoring pass scores each banded forecast's band (once), and nothing after that."""
    closes, predictions, bands = _banded_history(seed=9, hours=30)
    engine = db.open_database(db_url)
    coin = _fill(engine, closes, predictions, bands)
    assert score(engine).scored == 29
    with engine.begin() as conn:  # back to the schema before band scores (and migrations)
        for statement in (
                "DROP TABLE alembic_version",
                "ALTER TABLE forecast_scores DROP COLUMN lower_80",
                "ALTER TABLE forecast_scores DROP COLUMN upper_80",
                "ALTER TABLE forecast_scores DROP COLUMN inside_80",
                "ALTER TABLE forecast_scores DROP COLUMN lower_95",
                "ALTER TABLE forecast_scores DROP COLUMN upper_95",
                "ALTER TABLE forecast_scores DROP COLUMN inside_95",
                "ALTER TABLE track_records DROP COLUMN coverage_80",
                "ALTER TABLE track_records DROP COLUMN banded_80",
                "ALTER TABLE track_records DROP COLUMN width_80"):
            conn.execute(sa.text(statement))
    engine.dispose()
    engine = db.open_database(db_url)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("forecast_scores")}
    assert {"inside_80", "lower_80", "upper_80", "inside_95"} <= columns
    with engine.connect() as conn:
        old = {r.window: r for r in db.stored_track_records(conn, "1h", [coin])}
    assert old["all"].coverage_80 is None and old["all"].banded_80 is None

    banded = sum(1 for band in bands[:29] if band)
    assert score(engine).scored == banded  # the banded forecasts, scored again with the band
    assert len(_scores(engine)) == 29
    with engine.connect() as conn:
        record = {r.window: r for r in db.stored_track_records(conn, "1h", [coin])}["all"]
    coverage, count, width = _expected_coverage(closes, bands, "80", range(1, 30))
    assert (record.banded_80, record.coverage_80) == (count, pytest.approx(coverage))
    assert record.width_80 == pytest.approx(width) and record.scored == 29
    before = _fingerprint(engine)
    assert score(engine).scored == 0 and _fingerprint(engine) == before
    engine.dispose()


def test_the_newest_forecast_for_a_candle_counts(db_url):
    closes = [1.0, 1.1, 1.2]
    engine = db.open_database(db_url)
    coin = _fill(engine, closes, [1.05, 1.15, 1.25])
    with db.transaction(engine) as conn:  # a rerun before scoring: two forecasts, one candle
        conn.execute(db.historical_price_predictions.insert().values(
            **_forecast(coin, START + HOUR, 1.09, 1.0, "rerun-1")))
    assert score(engine).scored == 2
    first = {r.openTime_next: r.forecast for r in _scores(engine)}
    assert first == {START + HOUR: pytest.approx(1.09), START + 2 * HOUR: pytest.approx(1.15)}
    with db.transaction(engine) as conn:  # a rerun after scoring replaces the score
        conn.execute(db.historical_price_predictions.insert().values(
            **_forecast(coin, START + 2 * HOUR, 1.19, 1.1, "rerun-2")))
    assert score(engine).scored == 1
    assert {r.openTime_next: r.forecast for r in _scores(engine)} == {
        START + HOUR: pytest.approx(1.09), START + 2 * HOUR: pytest.approx(1.19)}
    assert score(engine).scored == 0
    engine.dispose()


def test_verdicts_of_synthetic_forecasters(db_url):
    """30 days of hours: a forecaster that sees half the next return has an edge; one that
    wiggles a little around the last close of a random walk has no evidence; one that moves
    a lot at random is worse than naive."""
    engine = db.open_database(db_url)
    symbols = synthetic_history.build(engine, pairs=3, hours=30 * 24 + 1, seed=5)
    with engine.connect() as conn:
        records = {r.id_coin: r for r in db.stored_track_records(conn, "1h", windows=["30d"])}
        ids = {symbol: db.coin_by_symbol(conn, symbol).id for symbol in symbols}
    kinds = dict(zip(symbols, synthetic_history.KINDS, strict=True))
    verdicts = {kinds[symbol]: records[ids[symbol]].verdict for symbol in symbols}
    assert verdicts == {"signal": "edge", "noise": "no evidence", "bad": "worse"}
    assert records[ids[symbols[0]]].scored == 720
    engine.dispose()


def test_older_database_is_upgraded(sqlite_url):
    engine = db.open_database(sqlite_url)
    with engine.begin() as conn:  # a release before migrations: no version row either
        conn.execute(sa.text("DROP TABLE alembic_version"))
        conn.execute(sa.text("DROP TABLE forecast_scores"))
        conn.execute(sa.text("DROP TABLE track_records"))
        conn.execute(sa.text("DROP INDEX ix_historical_pred_coin_interval_next"))
        conn.execute(sa.text("ALTER TABLE job_runs DROP COLUMN failures"))
    engine.dispose()
    engine = db.open_database(sqlite_url)
    inspector = sa.inspect(engine)
    assert {"forecast_scores", "track_records"} <= set(inspector.get_table_names())
    assert "ix_historical_pred_coin_interval_next" in {
        i["name"] for i in inspector.get_indexes("historical_price_predictions")}
    assert "failures" in {c["name"] for c in inspector.get_columns("job_runs")}
    engine.dispose()


def test_score_command(sqlite_url):
    engine = db.open_database(sqlite_url)
    _fill(engine, [1.0, 1.1, 1.2], [1.05, 1.15, 1.25])
    engine.dispose()
    done = run_cli("score", "--market", "ETH", "--db", sqlite_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("scored 2 new 1h forecasts")
    again = run_cli("score", "--db", sqlite_url)
    assert again.stdout.startswith("scored 0 new"), again.stdout
    for bad in (["--market", "eth/"], ["--interval", "7x"]):
        refused = run_cli("score", "--db", sqlite_url, *bad)
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1


def test_verdicts_are_judged_per_market_with_adjusted_pvalues(db_url):
    """Each market's pairs are judged together: every stored window's adjusted DM p-values
    are Benjamini-Hochberg over that market's raw ones (recomputed here), never mixed with
    another market's, and the stored verdict is the rule on the adjusted ones."""
    from predict.track_record import benjamini_hochberg, verdict

    engine = db.open_database(db_url)
    markets = {"ETH": synthetic_history.build(engine, pairs=6, hours=200, seed=7),
               "BTC": synthetic_history.build(engine, pairs=3, hours=200, market="BTC",
                                              seed=8)}
    with engine.connect() as conn:
        for market, symbols in markets.items():
            ids = {db.coin_by_symbol(conn, symbol).id for symbol in symbols}
            rows = [row for row in db.stored_track_records(conn, "1h", sorted(ids))]
            for window in db.TRACK_RECORD_WINDOWS:
                mine = [row for row in rows if row.window == window]
                assert len(mine) == len(symbols)
                assert [row.dm_pvalue_adjusted for row in mine] == pytest.approx(
                    benjamini_hochberg([row.dm_pvalue for row in mine]), rel=1e-12)
                assert [row.dm_pvalue_worse_adjusted for row in mine] == pytest.approx(
                    benjamini_hochberg([row.dm_pvalue_worse for row in mine]), rel=1e-12)
                assert [row.verdict for row in mine] == [
                    verdict(row.scored, row.skill, row.dm_pvalue_adjusted,
                            row.dm_pvalue_worse_adjusted) for row in mine]
            # Six pairs judged together: the adjustment is not the identity.
            assert any(row.dm_pvalue_adjusted > row.dm_pvalue for row in rows) \
                or market == "BTC"
    assert {r.verdict for r in _records_of(engine, markets["ETH"], "7d")} >= {"edge", "worse"}
    # The market page's query serves a raw p-value with its adjusted one.
    stored = {(r.id_coin, r.window): r for r in _records_of(engine, markets["ETH"], "30d")}
    with engine.connect() as conn:
        served = db.market_track_records(conn, "1h", "ETH", "binance", ["30d"],
                                         ["verdict", "dm_pvalue"])
    assert len(served) == 6
    for row in served:
        assert (row.verdict, row.dm_pvalue, row.dm_pvalue_adjusted) == tuple(
            getattr(stored[row.id_coin, "30d"], name)
            for name in ("verdict", "dm_pvalue", "dm_pvalue_adjusted"))
    engine.dispose()


def _records_of(engine, symbols, window):
    with engine.connect() as conn:
        ids = [db.coin_by_symbol(conn, symbol).id for symbol in symbols]
        return db.stored_track_records(conn, "1h", ids, [window])


def _mark(engine, market: str = ""):
    with engine.connect() as conn:
        mark = conn.execute(sa.select(db.scoring_marks.c.forecast_id).where(
            db.scoring_marks.c.market == market)).scalar_one_or_none()
        pending = [v for (v,) in conn.execute(sa.select(db.scoring_pending.c.id_prediction)
                                              .where(db.scoring_pending.c.market == market)
                                              .order_by(db.scoring_pending.c.id_prediction))]
    return mark, pending


def test_a_pass_reads_the_forecasts_after_its_mark_and_those_waiting_for_their_candle(db_url):
    """Each scope (interval, market) keeps the newest forecast it settled and the ones still
    waiting for their candle: the next pass reads only those and the newer ones, so a
    forecast it settled is not read again (shown here by deleting its score behind the
    scorer's back), while a waiting one is scored once its candle comes, and a new forecast
    for an old candle (a backfill) is read too."""
    closes = [1.0, 1.1, 1.2, 1.3]
    engine = db.open_database(db_url)
    coin = _fill(engine, closes, [1.05, 1.15, 1.25, 1.35])
    with engine.connect() as conn:
        ids = {int(r.openTime_next): int(r.id) for r in conn.execute(
            sa.select(db.historical_price_predictions.c.id,
                      db.historical_price_predictions.c.openTime_next))}
    assert score(engine, market="ETH").scored == 3
    waiting = ids[START + 4 * HOUR]
    assert _mark(engine, "ETH") == (waiting, [waiting]) and _mark(engine) == (None, [])
    with db.transaction(engine) as conn:
        conn.execute(db.forecast_scores.delete().where(
            db.forecast_scores.c.openTime_next == START + HOUR))
        db.insert_candles(conn, [_candle(coin, START + 4 * HOUR, 1.4)])
        conn.execute(db.historical_price_predictions.insert().values(
            **_forecast(coin, START + 2 * HOUR, 1.18, 1.1, "late", model="other")))
    assert score(engine, market="ETH").scored == 2  # the waiting one and the late one
    late = max(ids.values()) + 1
    assert _mark(engine, "ETH") == (late, [])
    assert {r.openTime_next for r in _scores(engine)} == {
        START + h * HOUR for h in (2, 2, 3, 4)}
    assert score(engine).scored == 1  # another scope's first pass reads every forecast
    assert _mark(engine) == (late, []) and score(engine, market="ETH").scored == 0
    engine.dispose()


@pytest.mark.mysql
def test_a_pass_waits_for_a_forecast_still_being_written(mysql_url):
    """MySQL hands out a forecast's id when it is inserted, not when it commits: a job
    still writing one (id N) while another's (N + 1) is committed must not leave N below
    the mark unread. The pass's locking read waits for the writer, then scores both."""
    engine = db.open_database(mysql_url)
    coin = _fill(engine, [1.0, 1.1], [1.05, 1.15])
    assert score(engine, market="ETH").scored == 1
    passes = []
    scorer = threading.Thread(target=lambda: passes.append(score(engine, market="ETH")))
    with engine.connect() as writer:  # closed (rolled back) whatever happens
        writing = writer.begin()
        writer.execute(db.historical_price_predictions.insert().values(
            **_forecast(coin, START + HOUR, 1.08, 1.0, "slow", model="slow")))
        with db.transaction(engine) as conn:
            conn.execute(db.historical_price_predictions.insert().values(
                **_forecast(coin, START + HOUR, 1.09, 1.0, "quick", model="quick")))
        scorer.start()
        scorer.join(timeout=3)
        waited = scorer.is_alive()
        writing.commit()
    scorer.join(timeout=60)
    assert waited  # the pass waited for the writer
    assert passes[0].scored == 2
    assert {(r.model, r.openTime_next) for r in _scores(engine)} >= {
        ("slow", START + HOUR), ("quick", START + HOUR)}
    engine.dispose()


def _next_candles(engine, market: str | None = None) -> list[int]:
    """The candle after synthetic_history's newest for every pair (of ``market``): each
    pair's pending forecast becomes scorable. Returns the pairs' coin ids."""
    rng = random.Random(5)
    query = sa.select(db.coin_info.c.id)
    if market is not None:
        query = query.where(db.coin_info.c.quoteAsset == market)
    with db.transaction(engine) as conn:
        coins = [int(v) for (v,) in conn.execute(query)]
        db.insert_candles(conn, [synthetic_history.candle(
            coin, synthetic_history.END_OPEN_MS + HOUR, 1.0, 1.0, rng) for coin in coins])
    return coins


#: ``coinlstm score --db URL`` in a fresh interpreter, then how many scipy modules it loaded.
SCORE_AND_COUNT_SCIPY = """
import atexit, sys
atexit.register(lambda: print("scipy modules:",
                              sum(name.split(".")[0] == "scipy" for name in sys.modules)))
from coinlstm.app.cli import main
sys.exit(main(["score", "--db", sys.argv[1]]))
"""


def test_the_scoring_pass_imports_no_scipy(sqlite_url):
    """The hourly job's driver scores every pair before it trains any, and stays alive for
    the whole job: scipy.stats would about double its memory. A pass that scores a new hour
    of 6 pairs (their Diebold-Mariano tests, costs and the movers' hourly ranks over 200
    hours) loads no scipy module."""
    engine = db.open_database(sqlite_url)
    synthetic_history.build(engine, pairs=6, hours=200)
    _next_candles(engine)
    engine.dispose()
    done = subprocess.run([sys.executable, "-c", SCORE_AND_COUNT_SCIPY, sqlite_url],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("scored 6 new 1h forecasts"), done.stdout
    assert "scipy modules: 0" in done.stdout.splitlines()


def test_a_pass_seeks_its_series_on_sqlite(sqlite_url):
    """Every statement of an hourly pass that names series by (coin, model, target) reads
    or deletes their rows by a seek in the table's key, never by a walk through the whole
    table (SQLite checks a list of tuples against every row): a pass sends such statements
    per part of 25 series, and a table holds a year of every pair's scores."""
    engine = db.open_database(sqlite_url)
    synthetic_history.build(engine, 30, 48, market="ETH")
    _next_candles(engine)
    sent: list[tuple[str, tuple]] = []

    def record(conn, cursor, statement, parameters, *args):
        if "IN (VALUES" in statement:
            sent.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert score(engine, market="ETH").scored == 30
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    tables = {"forecast_scores", "track_records", "pair_costs"}
    with engine.connect() as conn:
        plans = [[row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                                         parameters)]
                 for statement, parameters in sent]
    named = [plan for plan in plans if any(table in step for step in plan for table in tables)]
    assert len(named) >= 3  # the scores read, the costs and the track records rewritten
    for plan in named:
        assert not any(step.startswith(f"SCAN {table}") for step in plan for table in tables), plan
    engine.dispose()


def _statements_of_an_hour(engine, market: str) -> list[str]:
    """The statements of the scoring pass of ``market`` after the next candle of each of
    its pairs came (the pass that scores each pair's pending forecast)."""
    statements: list[str] = []
    coins = _next_candles(engine, market)

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert score(engine, market=market).scored == len(coins)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return statements


def test_a_pass_reads_and_writes_its_series_in_statements_that_do_not_grow_with_them(db_url):
    """The costs and the track records of the series a pass scored are read (their last 30
    days of scores and candles, once for both) and written for all of them together: on
    MySQL every statement is a round trip, and the pass runs every hour for every pair of
    the market. A pass over 9 pairs sends exactly the statements one over 3 does."""
    engine = db.open_database(db_url)
    synthetic_history.build(engine, 3, 48, market="ETH")
    synthetic_history.build(engine, 9, 48, market="BTC", seed=2)
    few, many = _statements_of_an_hour(engine, "ETH"), _statements_of_an_hour(engine, "BTC")
    assert len(many) == len(few)
    for table in ("forecast_scores", "track_records", "pair_costs", "candlestick_data"):
        assert sum(table in s for s in many) == sum(table in s for s in few) > 0, table
    engine.dispose()
