"""The revision chain from the first release's schema, on both databases: a database made by
any release (built here from the chain at that release's revision: without a version row, as
the releases before migrations left it, or stamped as the first release with migrations left
it) keeps every row on its way to head and ends at the code's schema; the way down keeps the
rows too, and is refused, changing nothing, where it would lose candles or mislabel coins."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from coinlstm import db
from coinlstm.db import migrations
from tests.helpers import run_cli

NEWEST = 1_700_000_000_000
HOUR_MS = 3_600_000
#: Every revision, oldest first.
CHAIN = [revision for revision, _, _ in migrations.history()]
#: The revisions the releases before migrations stopped at (0001: the last of them).
BEFORE_MIGRATIONS = CHAIN[:CHAIN.index("0001") + 1]

_CANDLE = dict(idCoin=301, openTime=NEWEST, open=Decimal("0.00062088"),
               high=Decimal("0.00062397"), low=Decimal("0.00061552"),
               close=Decimal("0.00061806"), volume=Decimal("402934.00000000"),
               closeTime=NEWEST + HOUR_MS - 1, quoteAssetVolume=Decimal("250.19536953"),
               numberOfTrader=796, takerBuyBaseAssetVolume=Decimal("187023.00000000"),
               takerBuyQuoteAssetVolume=Decimal("116.26184771"), ignore="0")
#: One row per table: the values the filler would not choose.
_ROWS = {
    "coin_info": dict(id=301, symbol="ADAETH", baseAsset="ADA", quoteAsset="ETH",
                      exchange="binance"),
    "candlestick_data": _CANDLE,
    "job_runs": dict(run_id="r1"),
    # At head too the newest open time in openTime_last: 0002's downgrade leaves it there.
    "historical_train": dict(id=7, id_coin=301, run_id="r1", n_test=48, interval="1h",
                             openTime_last=NEWEST, openTime_newest=NEWEST),
    "historical_price_predictions": dict(id=8, id_coin=301, run_id="r1", interval="1h"),
    "forecast_scores": dict(id=9, id_coin=301, interval="1h"),
    "track_records": dict(id_coin=301, interval="1h", window="24h"),
}


def _filler(column: sa.Column):
    """A value of the column's type for the columns a test does not care about."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return True
    if isinstance(kind, (sa.Double, sa.Float)):
        return 0.25
    if isinstance(kind, sa.Integer):
        return 3
    return "[0.5]"


def _present(conn) -> dict[str, list[str]]:
    """The columns of the tables in _ROWS the database has, coin_info first (foreign keys)."""
    inspector = sa.inspect(conn)
    tables = set(inspector.get_table_names())
    return {table.name: [c["name"] for c in inspector.get_columns(table.name)]
            for table in db.metadata.sorted_tables
            if table.name in _ROWS and table.name in tables}


def _fill(conn) -> dict[str, dict]:
    """A row in each of the tables the database has, in the columns it has; what went in."""
    written = {}
    for name, columns in _present(conn).items():
        table = db.metadata.tables[name]
        row = {column: _ROWS[name].get(column, _filler(table.c[column])) for column in columns}
        conn.execute(table.insert().values(**row))
        written[name] = row
    return written


def _read(conn, written: dict[str, dict]) -> dict[str, dict]:
    read = {}
    for name, row in written.items():
        table = db.metadata.tables[name]
        read[name] = dict(conn.execute(sa.select(*(table.c[c] for c in row))).one()._mapping)
    return read


def _build(url: str, revision: str, versioned: bool) -> dict[str, dict]:
    """A database at ``revision``, filled; without a version row unless ``versioned``."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        migrations.upgrade(conn, revision)
        if not versioned:
            conn.execute(sa.text("DROP TABLE alembic_version"))
        conn.commit()
        written = _fill(conn)
        conn.commit()
    engine.dispose()
    return written


def _at_code_schema(conn) -> bool:
    return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                            db.metadata) == []


def _at_head_keeping(url: str, written: dict[str, dict]) -> None:
    """The database is at head, at the code's schema, with ``written`` as upgraded."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.head_revision()
        assert _read(conn, written) == _upgraded(written)
        assert _at_code_schema(conn)
    engine.dispose()


def _upgraded(written: dict[str, dict]) -> dict[str, dict]:
    """What 0002 makes of coinlstm's training row: openTime_last the test window's start."""
    expected = {name: dict(row) for name, row in written.items()}
    train = expected.get("historical_train")
    if train and "openTime_newest" not in train:
        train["openTime_last"] = NEWEST - 48 * HOUR_MS
    return expected


@pytest.mark.parametrize(("revision", "versioned"),
                         [(revision, False) for revision in BEFORE_MIGRATIONS]
                         + [("0001", True), ("0002", True)])
def test_a_database_of_any_release_goes_to_head_keeping_its_rows(db_url, revision, versioned):
    written = _build(db_url, revision, versioned)
    db.open_database(db_url).dispose()  # what the next command of the new release does
    _at_head_keeping(db_url, written)


def test_a_release_whose_changes_came_in_another_order_goes_to_head(db_url):
    """The exchange column reached some databases before the band columns (the order of a
    branch's merges): each revision adds only what is missing, so the chain still fits."""
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        migrations.upgrade(conn, "0000h")
        for table, columns in (("historical_train", ("n_cal", "price_bands", "coverage_80")),
                               ("historical_price_predictions", ("lower_80", "price_bands")),
                               ("job_runs", ("reason",))):
            for column in columns:
                conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        conn.execute(sa.text("DROP TABLE alembic_version"))
        conn.commit()
        written = _fill(conn)
        conn.commit()
    engine.dispose()
    db.open_database(db_url).dispose()
    _at_head_keeping(db_url, written)


def test_every_revision_goes_down_to_the_first_release_keeping_the_rows(db_url):
    """From head down to the first release's schema, one revision at a time: each time the
    rows stay in the columns that remain; then up again to the code's schema."""
    written = _build(db_url, "head", versioned=True)
    engine = sa.create_engine(db_url)
    for target in reversed(CHAIN[:-1]):  # in process: `coinlstm db downgrade` is tested below
        with engine.connect() as conn:
            migrations.downgrade(conn, target)
            conn.commit()
            assert migrations.current_revision(conn) == target
            present = _present(conn)
            left = {name: {c: v for c, v in row.items() if c in present.get(name, ())}
                    for name, row in written.items() if name in present}
            read = _read(conn, left)
        assert read == left, target
    with engine.connect() as conn:
        assert set(_present(conn)) == {"coin_info", "candlestick_data", "job_runs",
                                       "historical_train", "historical_price_predictions"}
    engine.dispose()
    up = run_cli("db", "upgrade", "--db", db_url)
    assert up.returncode == 0
    assert up.stdout.strip() == f"schema revision 0000a -> {migrations.head_revision()}"
    _at_head_keeping(db_url, left)


def test_a_downgrade_that_would_lose_candles_or_mislabel_coins_is_refused(db_url):
    engine = db.open_database(db_url)
    with engine.begin() as conn:
        coin = db.ensure_coin(conn, "ADA_ETH", "ADA", "ETH", "TRADING", exchange="poloniex")
        conn.execute(db.candles_table("5m").insert().values(**{**_CANDLE, "idCoin": coin}))
    engine.dispose()
    done = run_cli("db", "downgrade", "0000c", "--db", db_url)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith(
        "cannot downgrade to '0000c', the releases before would lose or mislabel rows "
        "(revision 0000h: coin_info holds 1 coins of other exchanges than binance; "
        "revision 0000d: candlestick_data_5m holds 1 candles); nothing changed")
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.head_revision()
        assert _at_code_schema(conn)
        assert conn.execute(sa.select(sa.func.count()).select_from(
            db.candles_table("5m"))).scalar_one() == 1
    engine.dispose()


def _apply(url: str, ddl: str) -> None:
    """Run printed DDL as a DBA would (statement by statement, comments dropped)."""
    text = "\n".join(line for line in ddl.splitlines() if not line.startswith("--"))
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in filter(str.strip, text.split(";")):
            conn.execute(sa.text(statement))
    engine.dispose()


@pytest.mark.mysql
def test_a_dba_applies_the_printed_ddl_to_a_database_of_a_release_before_migrations(
        mysql_url):
    """``db upgrade --sql`` finds the revision of a database without a version row from its
    tables, and its DDL, applied by hand, writes the version row and ends at head."""
    written = _build(mysql_url, "0000e", versioned=False)
    sql = run_cli("db", "upgrade", "--sql", "--db", mysql_url)
    assert sql.returncode == 0, sql.stderr
    assert "INSERT INTO alembic_version (version_num) VALUES ('0000e')" in sql.stdout
    assert "Running upgrade 0000e -> 0000f" in sql.stdout
    assert "Running upgrade 0000d" not in sql.stdout
    _apply(mysql_url, sql.stdout)
    current = run_cli("db", "current", "--db", mysql_url)
    assert current.stdout.strip().endswith(f"revision {migrations.head_revision()} (head)")
    _at_head_keeping(mysql_url, written)


def test_printed_ddl_is_refused_for_a_database_matching_no_one_revision(db_url):
    """Exchange column before band columns: no revision's DDL fits it; `db upgrade` does."""
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        migrations.upgrade(conn, "0000h")
        conn.execute(sa.text("ALTER TABLE job_runs DROP COLUMN reason"))
        conn.execute(sa.text("DROP TABLE alembic_version"))
        conn.commit()
    engine.dispose()
    sql = run_cli("db", "upgrade", "--sql", "--db", db_url)
    assert sql.returncode == 2 and sql.stdout == ""
    assert sql.stderr.strip().splitlines()[-1].endswith(
        "this database, made by a coinlstm before migrations, matches no one revision (it "
        "has coin_info.exchange of later ones): run `coinlstm db upgrade`, which adds only "
        "what is missing, instead of printed DDL")
    assert run_cli("db", "upgrade", "--db", db_url).returncode == 0


def _score_row(index: int, error: float, naive_error: float, hit: bool | None) -> dict:
    return dict(id=index, id_prediction=100 + index, id_coin=301, model="lstm",
                target="return", interval="1h", openTime_next=NEWEST + index * HOUR_MS,
                openTime_last=NEWEST + (index - 1) * HOUR_MS, forecast=1.0, naive=2.0,
                actual=1.0 - error, error=error, naive_error=naive_error, direction_hit=hit,
                time_scored=1, lower_80=1.0, upper_80=1.5, inside_80=index != 2,
                source="backfill" if index == 1 else "live")


def test_0005_fills_the_running_sums_from_the_stored_scores_and_drops_them_going_down(db_url):
    """Three scores at 0004 (stored out of candle order); at 0005 their series' sums, as
    computed here; down at 0004 the sums are gone and the scores kept."""
    engine = sa.create_engine(db_url)
    scores = [_score_row(3, 0.5, -1.0, True), _score_row(1, -0.25, 0.5, None),
              _score_row(2, 2.0, 1.0, False)]
    with engine.connect() as conn:
        migrations.upgrade(conn, "0004")
        conn.commit()
        conn.execute(db.coin_info.insert().values(**_ROWS["coin_info"]))
        present = set(_present(conn)["forecast_scores"])
        conn.execute(sa.table("forecast_scores", *(sa.column(c) for c in present)).insert(),
                     [{c: v for c, v in row.items() if c in present} for row in scores])
        conn.commit()
        migrations.upgrade(conn, "0005")
        conn.commit()
        sums = dict(conn.execute(sa.select(db.track_record_sums)).one()._mapping)
    d = [(-0.25)**2 - 0.5**2, 2.0**2 - 1.0**2, 0.5**2 - 1.0]  # candle order: 1, 2, 3
    assert {name: sums[name] for name in (
        "newest", "scored", "scored_live", "scored_backfill", "hits", "moved", "sq_error",
        "abs_naive", "d_sum", "d_sq", "lag_1", "lag_2", "lag_3", "head_1", "head_3",
        "head_4", "tail_1", "tail_3", "tail_4", "banded_80", "inside_80", "widths_80",
        "width_sum_80", "banded_95", "width_sum_95")} == pytest.approx({
            "newest": NEWEST + 3 * HOUR_MS, "scored": 3, "scored_live": 2,
            "scored_backfill": 1, "hits": 1, "moved": 2,
            "sq_error": 0.25**2 + 4.0 + 0.25, "abs_naive": 2.5, "d_sum": sum(d),
            "d_sq": sum(v * v for v in d), "lag_1": d[1] * d[0] + d[2] * d[1],
            "lag_2": d[2] * d[0], "lag_3": 0.0, "head_1": d[0], "head_3": d[2],
            "head_4": None, "tail_1": d[2], "tail_3": d[0], "tail_4": None, "banded_80": 3,
            "inside_80": 2, "widths_80": 3, "width_sum_80": 3 * 0.5 / 2.0 * 100,
            "banded_95": 0, "width_sum_95": 0.0})
    with engine.connect() as conn:
        migrations.downgrade(conn, "0004")
        conn.commit()
        assert "track_record_sums" not in sa.inspect(conn).get_table_names()
        assert conn.execute(sa.select(sa.func.count()).select_from(
            sa.table("forecast_scores"))).scalar_one() == 3
    engine.dispose()
