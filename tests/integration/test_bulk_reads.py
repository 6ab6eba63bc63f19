"""The scoring pass's bulk reads (coinlstm/db/bulk.py) on real databases (SQLite and
MySQL/MariaDB): the rows equal SQLAlchemy's own result of the same statement value for value
(Booleans as the driver's 0/1); the read sees what its transaction wrote and has not
committed; a driver error comes out wrapped as every other statement's, with the server's
number, and a killed connection counts as transient (what the retry logic reads); on MySQL
the rows come by a prepared statement (the binary protocol)."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.db.retry import error_number

METADATA = sa.MetaData()
PROBE = sa.Table(
    "bulk_probe", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("opened", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Double, nullable=True),
    sa.Column("name", sa.String(16), nullable=False),
    sa.Column("hit", sa.Boolean, nullable=True),
)
#: Doubles whose decimal text is long or whose magnitude is extreme: a protocol that lost a
#: bit of any of them would show here.
VALUES = [0.1, 1 / 3, math.pi, -2.5e-8, 123456789.12345679, 1e-300, 1.7976931348623157e308,
          0.0010130965661505782, -0.0, None]


@pytest.fixture
def engine(db_url):
    engine = sa.create_engine(db_url)
    METADATA.create_all(engine)
    with engine.begin() as conn:
        conn.execute(PROBE.insert(), [
            {"id": n, "opened": 1_700_000_000_000 + n * 3_600_000, "value": value,
             "name": f"pair{n}", "hit": None if n % 3 == 0 else bool(n % 2)}
            for n, value in enumerate(VALUES)])
    yield engine
    engine.dispose()


def _select(*where) -> sa.Select:
    return sa.select(PROBE).where(*where).order_by(PROBE.c.id)


def _driver_values(row) -> tuple:
    """SQLAlchemy's row as the driver gives it: a Boolean as 0/1."""
    return tuple(int(value) if isinstance(value, bool) else value for value in row)


def test_the_rows_equal_sqlalchemys_own_result(engine):
    query = _select(PROBE.c.id.in_([1, 2, 3, 5, 8, 9]), PROBE.c.opened > 0)
    with engine.connect() as conn:
        expected = [_driver_values(row) for row in conn.execute(query)]
        read = db.fetch_tuples(conn, query)
    assert read.names == ("id", "opened", "value", "name", "hit")
    assert list(read.rows) == expected
    for got, want in zip(read.rows, expected, strict=True):
        assert [type(value) for value in got] == [type(value) for value in want]
        assert math.copysign(1, got[2] or 1.0) == math.copysign(1, want[2] or 1.0)
    assert read.key("name", "id")(read.rows[0]) == ("pair1", 1)
    with engine.connect() as conn:
        assert list(db.fetch_tuples(conn, _select(PROBE.c.id > 100)).rows) == []


def test_the_read_sees_its_own_transactions_uncommitted_rows(engine):
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(PROBE.insert(), {"id": 50, "opened": 1, "value": 2.5, "name": "new",
                                      "hit": True})
        assert list(db.fetch_tuples(conn, _select(PROBE.c.id == 50)).rows) == [
            (50, 1, 2.5, "new", 1)]
        raise RuntimeError("roll back")
    with engine.connect() as conn:
        assert list(db.fetch_tuples(conn, _select(PROBE.c.id == 50)).rows) == []


def test_a_driver_error_comes_out_wrapped_with_the_servers_number(engine):
    missing = sa.Table("no_such_table", sa.MetaData(), sa.Column("id", sa.Integer))
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as raised:
        db.fetch_tuples(conn, sa.select(missing.c.id).where(missing.c.id > 0))
    if engine.dialect.name == "mysql":
        assert error_number(raised.value) == 1146  # table doesn't exist
    else:
        assert "no such table" in str(raised.value.orig)
    assert not db.is_transient(raised.value)


def test_on_mysql_the_read_is_a_prepared_statement_and_a_killed_connection_is_transient(
        engine):
    if engine.dialect.name != "mysql":
        pytest.skip("MySQL's protocols only")

    def executed(conn) -> int:
        return int(conn.execute(sa.text("SHOW SESSION STATUS LIKE 'Com_stmt_execute'"))
                   .one()[1])

    with engine.connect() as conn:
        before = executed(conn)
        db.fetch_tuples(conn, _select(PROBE.c.id > 0))
        assert executed(conn) == before + 1
        victim = conn.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one()
        with engine.connect() as killer:
            killer.execute(sa.text("KILL :victim"), {"victim": victim})
        with pytest.raises(sa.exc.DBAPIError) as raised:
            db.fetch_tuples(conn, _select(PROBE.c.id > 0))
    assert db.is_transient(raised.value), db.error_reason(raised.value)
