"""``coinlstm resample``: coarser candles in the database from finer ones, checked against
an independent computation (pandas' resample over the same file), idempotent, and bad
input refused with nothing written."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from coinlstm import db
from tests.helpers import fingerprint, read_csv_rows, write_sample

pytestmark = pytest.mark.slow

COLUMNS = ["open_time", "open", "high", "low", "close", "volume", "close_time", "quote",
           "trades", "taker_base", "taker_quote", "ignore"]


def _expected(rows: list[list[str]], rule: str, per_period: int) -> list[tuple]:
    """The complete periods' candles, by pandas from the file's text."""
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for name in ("open", "high", "low", "close", "volume", "quote", "taker_base",
                 "taker_quote"):
        frame[name] = frame[name].map(Decimal)
    frame[["open_time", "close_time", "trades"]] = frame[
        ["open_time", "close_time", "trades"]].astype("int64")
    frame.index = pd.to_datetime(frame["open_time"], unit="ms")
    grouped = frame.resample(rule)
    table = grouped.agg({"open_time": "count", "open": "first", "high": "max", "low": "min",
                         "close": "last", "volume": "sum", "close_time": "last",
                         "quote": "sum", "trades": "sum", "taker_base": "sum",
                         "taker_quote": "sum"})
    table = table[table["open_time"] == per_period]
    return [(int(start.value // 1_000_000), *(row[name] for name in COLUMNS[1:11]))
            for start, row in table.iterrows()]


def _stored(url: str, symbol: str, interval: str) -> list[tuple]:
    engine = db.open_database(url)
    try:
        with engine.connect() as conn:
            coin = db.coin_by_symbol(conn, symbol)
            rows = db.candle_text_rows(conn, coin.id, interval=interval)
    finally:
        engine.dispose()
    return [(int(r[0]), *(Decimal(v) for v in r[1:6]), int(r[6]), Decimal(r[7]), int(r[8]),
             Decimal(r[9]), Decimal(r[10])) for r in rows]


def test_resample_builds_complete_periods_once(synthetic_candles, db_url, tmp_path, cli):
    # 1,300 hours holding two gaps (2 and 3 hours missing), starting at 00:00 UTC
    source = write_sample(synthetic_candles / "SYNTH1ETH.csv", tmp_path / "files", 1300)
    imported = cli("import", str(source.parent), "--db", db_url, "--no-progress")
    assert imported.returncode == 0, imported.stderr
    rows = read_csv_rows(source)
    for interval, rule, per_period in (("4h", "4h", 4), ("1d", "1D", 24)):
        done = cli("resample", "--db", db_url, "--to", interval)
        assert done.returncode == 0, done.stderr
        expected = _expected(rows, rule, per_period)
        assert f"SYNTH1ETH +{len(expected)})" in done.stdout
        assert _stored(db_url, "SYNTH1ETH", interval) == expected
        before = fingerprint(db_url)
        again = cli("resample", "--db", db_url, "--to", interval)
        assert again.returncode == 0 and "SYNTH1ETH +0)" in again.stdout
        assert fingerprint(db_url) == before
    assert len(_expected(rows, "1D", 24)) < len(rows) // 24  # the gaps' days are left out

    before = fingerprint(db_url)
    for flags, words in ((["--to", "30m"], "cannot be built from 1h"),
                         (["--to", "1w"], "UTC day grid"),
                         (["--to", "1d", "--only", "FOOETH"], "not pairs of market ETH"),
                         (["--to", "1d", "--market", "BTC"], "no binance pair of market BTC"),
                         (["--to", "8h", "--exchange", "bithumb", "--market", "KRW"],
                          "bithumb has no '8h' candles")):
        done = cli("resample", "--db", db_url, *flags)
        assert done.returncode == 2, done.stdout + done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and words in done.stderr
        assert done.stdout == ""
    assert fingerprint(db_url) == before
