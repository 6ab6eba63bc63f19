"""Schema revisions (Alembic) on both databases: a new database at head is exactly the
code's schema, the newest revision goes down and up again keeping its rows, the commands, and
a database at a revision this coinlstm does not know is refused untouched."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from coinlstm import db
from coinlstm.db import migrations
from tests.helpers import run_cli

NEWEST = 1_700_000_000_000
HOUR_MS = 3_600_000


def test_a_new_database_at_head_is_the_code_schema(db_url):
    engine = db.open_database(db_url)
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.head_revision() == "0005"
        diff = compare_metadata(MigrationContext.configure(
            conn, opts={"compare_type": True}), db.metadata)
    engine.dispose()
    assert diff == []


def _schema(conn) -> dict[str, dict]:
    """Every table's columns (type, nullability, default), keys, indexes and options, in no
    order: the chain appends the columns it adds, a one-pass build has the code's order."""
    inspector = sa.inspect(conn)

    def described(table: str) -> dict:
        columns = {c["name"]: (str(c["type"]), c["nullable"], c.get("default"),
                               c.get("autoincrement")) for c in inspector.get_columns(table)}
        indexes = sorted([(i["name"], tuple(i["column_names"]), bool(i["unique"]))
                          for i in inspector.get_indexes(table)], key=repr)
        uniques = sorted([(u["name"], tuple(u["column_names"]))
                          for u in inspector.get_unique_constraints(table)], key=repr)
        return {"columns": columns, "primary key": inspector.get_pk_constraint(table),
                "indexes": indexes, "uniques": uniques,
                "foreign keys": inspector.get_foreign_keys(table),
                "options": inspector.get_table_options(table)}

    return {table: described(table) for table in inspector.get_table_names()}


def test_a_new_database_is_built_in_one_pass_as_the_chain_builds_it(db_url):
    """What open_database does for an empty database (the code's schema, stamped at head)
    against the whole revision chain run on the same, emptied, database."""
    engine = db.open_database(db_url)
    with engine.connect() as conn:
        one_pass = _schema(conn)
    chain = _schema_of_the_chain(engine)
    assert len(one_pass) == len(db.metadata.tables) + 1  # and alembic_version
    assert one_pass == chain


def _schema_of_the_chain(engine) -> dict[str, dict]:
    """Empty ``engine``'s database (at head), run the whole chain on it, and read its schema
    (:func:`_schema`)."""
    with engine.begin() as conn:
        db.metadata.drop_all(conn)
        conn.execute(sa.text("DROP TABLE alembic_version"))
    with engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == []
        migrations.upgrade(conn, "head")
        conn.commit()
        assert migrations.current_revision(conn) == "0005"
        chain = _schema(conn)
    engine.dispose()
    return chain


@pytest.mark.parametrize("built", [1, 6, len(db.metadata.sorted_tables)])
def test_a_first_build_stopped_part_way_is_finished_by_the_next_process(db_url, built):
    """A process killed while it built a new database in one pass (on MySQL every CREATE
    commits on its own) left the first ``built`` tables at head and no version row: the next
    process to open the database ends at the schema the chain builds."""
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        for table in db.metadata.sorted_tables[:built]:
            table.create(conn)
    engine.dispose()
    engine = db.open_database(db_url)
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.head_revision()
        finished = _schema(conn)
    assert finished == _schema_of_the_chain(engine)


def _train_row(conn, **values) -> None:
    conn.execute(db.historical_train.insert().values(
        id_coin=301, time_create=1, price_test="[]", price_predict="[]", RMSE=0.5,
        max_error=0.5, **values))


def test_the_newest_revision_goes_down_and_up_keeping_its_rows(db_url):
    engine = db.open_database(db_url)
    with engine.begin() as conn:
        _train_row(conn, run_id="r1", n_test=48, interval="1h", openTime_newest=NEWEST,
                   openTime_last=NEWEST - 48 * HOUR_MS)
        _train_row(conn, run_id="r2", n_test=10, interval="5m", openTime_newest=NEWEST,
                   openTime_last=NEWEST - 10 * 300_000)
        _train_row(conn, openTime_last=NEWEST - 48 * HOUR_MS)  # the original system's row
    engine.dispose()
    down = run_cli("db", "downgrade", "0001", "--db", db_url)
    assert down.returncode == 0 and down.stdout.strip() == "schema revision 0005 -> 0001"
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        assert "openTime_newest" not in {c["name"] for c in
                                         sa.inspect(conn).get_columns("historical_train")}
        # What the releases before 0002 wrote there: the newest candle's open time.
        assert conn.execute(sa.text("SELECT openTime_last FROM historical_train ORDER BY id")
                            ).scalars().all() == [NEWEST, NEWEST, NEWEST - 48 * HOUR_MS]
    engine.dispose()
    sql = run_cli("db", "upgrade", "--sql", "--db", db_url)
    assert sql.returncode == 0, sql.stderr
    assert "ALTER TABLE historical_train ADD" in sql.stdout
    assert "CREATE TABLE candlestick_data" not in sql.stdout  # 0003's and 0005's tables only
    assert sql.stdout.count("CREATE TABLE") == 5 and "CREATE TABLE movers_hours" in sql.stdout
    assert "CREATE TABLE track_record_sums" in sql.stdout
    assert "INSERT INTO track_record_sums" in sql.stdout  # 0005's fill, printed too
    assert "UPDATE alembic_version SET version_num='0005'" in sql.stdout
    current = run_cli("db", "current", "--db", db_url)
    assert current.stdout.strip().endswith("revision 0001, head is 0005")
    up = run_cli("db", "upgrade", "--db", db_url)
    assert up.returncode == 0 and up.stdout.strip() == "schema revision 0001 -> 0005"
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(db.historical_train.c.openTime_last,
                                      db.historical_train.c.openTime_newest)
                            .order_by(db.historical_train.c.id)).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [
        (NEWEST - 48 * HOUR_MS, NEWEST), (NEWEST - 10 * 300_000, NEWEST),
        (NEWEST - 48 * HOUR_MS, None)]
    baseline = run_cli("db", "downgrade", "base", "--db", db_url)
    assert baseline.returncode != 0
    assert baseline.stderr.strip().splitlines()[-1].endswith(
        "cannot downgrade to 'base': 0000a is the baseline and cannot be downgraded")


def _one_row_then_down_to(db_url: str, revision: str, table: sa.Table, row: dict) -> None:
    """``row`` stored in ``table`` of a database at head, then ``coinlstm db downgrade
    revision``, which must say it went from head to there."""
    engine = db.open_database(db_url)
    with engine.begin() as conn:
        conn.execute(table.insert().values(**row))
    engine.dispose()
    down = run_cli("db", "downgrade", revision, "--db", db_url)
    assert down.returncode == 0 and down.stdout.strip() == f"schema revision 0005 -> {revision}"


def test_the_market_evidence_revision_goes_down_and_up(db_url):
    _one_row_then_down_to(db_url, "0002", db.track_records, dict(
        id_coin=301, model="lstm", target="return", interval="1h", window="30d", scored=200,
        moved=100, dm_pvalue=0.01, dm_pvalue_adjusted=0.04, verdict="edge", as_of=NEWEST))
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        assert not {"movers_hours", "pair_costs"} & set(inspector.get_table_names())
        assert "dm_pvalue_adjusted" not in {c["name"] for c in
                                            inspector.get_columns("track_records")}
        assert conn.execute(sa.text("SELECT dm_pvalue FROM track_records")).scalars().all() \
            == [0.01]
    engine.dispose()
    up = run_cli("db", "upgrade", "--db", db_url)
    assert up.returncode == 0 and up.stdout.strip() == "schema revision 0002 -> 0005"
    engine = db.open_database(db_url)
    with engine.connect() as conn:
        row = conn.execute(sa.select(db.track_records)).one()
        diff = compare_metadata(MigrationContext.configure(
            conn, opts={"compare_type": True}), db.metadata)
    engine.dispose()
    assert (row.dm_pvalue, row.dm_pvalue_adjusted) == (0.01, None) and diff == []


def test_the_forecast_source_revision_goes_down_and_up(db_url):
    """0004 down (0005 with it) drops the source columns and keeps the forecasts; up marks
    them live."""
    _one_row_then_down_to(db_url, "0003", db.historical_price_predictions, dict(
        id_coin=301, time_create=1, price_predict="[]", price_actual="[]",
        price_preidct_last=1.0, price_actual_last=1.0, source="backfill"))
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        assert "source" not in {c["name"] for c in
                                inspector.get_columns("historical_price_predictions")}
        assert "scored_live" not in {c["name"] for c in inspector.get_columns("track_records")}
        assert conn.execute(sa.text("SELECT COUNT(*) FROM historical_price_predictions")
                            ).scalar() == 1
    engine.dispose()
    up = run_cli("db", "upgrade", "--db", db_url)
    assert up.returncode == 0 and up.stdout.strip() == "schema revision 0003 -> 0005"
    engine = db.open_database(db_url)
    with engine.connect() as conn:
        sources = conn.execute(sa.select(db.historical_price_predictions.c.source)
                               ).scalars().all()
        diff = compare_metadata(MigrationContext.configure(
            conn, opts={"compare_type": True}), db.metadata)
    engine.dispose()
    assert sources == ["live"] and diff == []


def test_history_and_the_ddl_of_a_new_database(db_url):
    history = run_cli("db", "history", "--db", db_url).stdout.splitlines()
    assert history[0] == "<base> -> 0000a: Baseline: the schema of coinlstm's first release."
    assert [line.split(":")[0] for line in history] == [
        "<base> -> 0000a", "0000a -> 0000b", "0000b -> 0000c", "0000c -> 0000d",
        "0000d -> 0000e", "0000e -> 0000f", "0000f -> 0000g", "0000g -> 0000h",
        "0000h -> 0000i", "0000i -> 0001", "0001 -> 0002", "0002 -> 0003", "0003 -> 0004",
        "0004 -> 0005"]
    assert history[10].startswith("0001 -> 0002: historical_train.openTime")
    assert history[11].startswith("0002 -> 0003: Market-scale evidence")
    assert history[12].startswith("0003 -> 0004: Forecast source")
    assert history[13].startswith("0004 -> 0005: Running sums")
    sql = run_cli("db", "upgrade", "--sql", "--from", "none", "--db", db_url)
    assert sql.returncode == 0, sql.stderr
    assert sql.stdout.count("CREATE TABLE candlestick_data") == 14  # 1h and 13 intervals more
    assert "INSERT INTO alembic_version (version_num) VALUES ('0000a')" in sql.stdout
    assert f"version_num='{migrations.head_revision()}' WHERE" in sql.stdout  # ends at head
    # --sql connects nowhere: the database is still empty.
    engine = sa.create_engine(db_url)
    assert sa.inspect(engine).get_table_names() == []
    engine.dispose()


def test_a_revision_unknown_to_this_coinlstm_is_refused_untouched(db_url):
    engine = db.open_database(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    for args in (("init-db",), ("db", "upgrade")):
        done = run_cli(*args, "--db", db_url)
        assert done.returncode == 2
        assert done.stderr.strip().splitlines()[-1].endswith(
            "database schema at revision 0099, unknown to this coinlstm (head 0005): "
            "upgrade coinlstm")
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0099"
    engine.dispose()


def test_adopt_refuses_coinlstms_own_database_unchanged(db_url):
    db.open_database(db_url).dispose()
    done = run_cli("db", "adopt", "--db", db_url)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith(
        "this is sqlite" if db_url.startswith("sqlite") else
        "this database is coinlstm's own (candles without an id): nothing to adopt")
    current = run_cli("db", "current", "--db", db_url)
    assert current.stdout.strip().endswith("revision 0005 (head)")
