"""The database: schema, engine and every query coinlstm runs.

One SQLAlchemy Core schema serves MySQL/MariaDB (production, what the dashboards read) and
the embedded SQLite default. Table and column names of SPEC.md are kept verbatim, including
the historical typo ``price_preidct_last``. All SQL is built by SQLAlchemy with bound
parameters; nothing here formats values into SQL text.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from decimal import Context, Decimal, InvalidOperation
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from coinlstm.config import DEFAULT_INTERVAL, INTERVAL_MS
from coinlstm.errors import BadInput, DatabaseUnavailable

#: Binance sends prices and volumes with at most 8 decimals; DECIMAL(38, 8) holds every one
#: exactly with 30 integer digits to spare.
PRICE_SCALE = 8
_QUANTUM = Decimal(1).scaleb(-PRICE_SCALE)
_WIDE = Context(prec=60)
#: Text that is already what SQLite stores (``format(to_exact_decimal(text), "f")``): a
#: crawl or an import binds 8 such values per candle, and recognising them here instead of
#: parsing and re-formatting a Decimal makes a 9-pair crawl into SQLite ~20% faster.
#: (At most 30 integer digits and exactly PRICE_SCALE decimals, no leading zero.)
_CANONICAL_TEXT = re.compile(r"-?(?:0|[1-9][0-9]{0,29})\.[0-9]{8}")


class ExactDecimal(sa.types.TypeDecorator):
    """A Binance decimal string stored without float rounding.

    MySQL stores it as DECIMAL(38, 8); SQLite has no exact decimal type, so there it is the
    canonical 8-decimal text. Both hand back a :class:`~decimal.Decimal` whose ``format(d,
    'f')`` is the string Binance sent.
    """

    impl = sa.Numeric(38, PRICE_SCALE, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(48))
        return dialect.type_descriptor(sa.Numeric(38, PRICE_SCALE, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "sqlite" and isinstance(value, str) and _CANONICAL_TEXT.fullmatch(
                value):
            return value
        exact = to_exact_decimal(value)
        return format(exact, "f") if dialect.name == "sqlite" else exact

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return to_exact_decimal(value)


def to_exact_decimal(value: object) -> Decimal:
    """Parse a Binance decimal (string or Decimal) into a Decimal with exactly 8 decimals.

    Raises ValueError for anything that is not a finite number with at most 8 decimals, so
    no value is ever silently rounded on its way into the database.
    """
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    if number.adjusted() >= 38 - PRICE_SCALE:
        raise ValueError(f"too large for DECIMAL(38, {PRICE_SCALE}): {value!r}")
    exact = number.quantize(_QUANTUM, context=_WIDE)
    if exact != number:
        raise ValueError(f"more than {PRICE_SCALE} decimals: {value!r}")
    return exact


metadata = sa.MetaData()
_TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}

coin_info = sa.Table(
    "coin_info",
    metadata,
    # SQLite only auto-numbers an INTEGER primary key; AUTOINCREMENT there (like InnoDB's
    # counter) never hands out an id again, so "-id 173" names one coin forever.
    sa.Column("id", sa.SmallInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("symbol", sa.String(20), nullable=False, unique=True),
    sa.Column("baseAsset", sa.String(16), nullable=False),
    sa.Column("quoteAsset", sa.String(16), nullable=False, index=True),
    # The exchange's status (TRADING, BREAK, ...); DELISTED when exchangeInfo no longer
    # lists the pair; NULL for pairs only imported from files and never seen on the exchange.
    sa.Column("status", sa.String(20), nullable=True),
    sa.Column("time_update", sa.Integer, nullable=True),
    sqlite_autoincrement=True,
    **_TABLE_ARGS,
)

_DECIMAL_COLUMNS = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quoteAssetVolume",
    "takerBuyBaseAssetVolume",
    "takerBuyQuoteAssetVolume",
)


def _candle_table(name: str) -> sa.Table:
    """A candle table: the columns and primary key of SPEC.md's candlestick_data.

    Every interval has its own table of this shape, so a series is (table, idCoin) and
    5-minute candles can never land among the hourly ones the dashboards read.
    """
    return sa.Table(
        name,
        metadata,
        sa.Column("idCoin", sa.SmallInteger, sa.ForeignKey("coin_info.id"), primary_key=True,
                  autoincrement=False),
        sa.Column("openTime", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("open", ExactDecimal, nullable=False),
        sa.Column("high", ExactDecimal, nullable=False),
        sa.Column("low", ExactDecimal, nullable=False),
        sa.Column("close", ExactDecimal, nullable=False),
        sa.Column("volume", ExactDecimal, nullable=False),
        sa.Column("closeTime", sa.BigInteger, nullable=False),
        sa.Column("quoteAssetVolume", ExactDecimal, nullable=False),
        sa.Column("numberOfTrader", sa.BigInteger, nullable=False),
        sa.Column("takerBuyBaseAssetVolume", ExactDecimal, nullable=False),
        sa.Column("takerBuyQuoteAssetVolume", ExactDecimal, nullable=False),
        # Binance's "unused field"; kept as the text it sent ("0").
        sa.Column("ignore", sa.String(40), nullable=False),
        **_TABLE_ARGS,
    )


def candle_table_name(interval: str) -> str:
    """``candlestick_data`` for 1h (the name the dashboards read), else ``candlestick_data_5m``
    and so on: one table per interval."""
    return "candlestick_data" if interval == DEFAULT_INTERVAL else f"candlestick_data_{interval}"


#: interval -> its candle table, for every interval of config.INTERVAL_MS.
CANDLE_TABLES: dict[str, sa.Table] = {
    interval: _candle_table(candle_table_name(interval)) for interval in INTERVAL_MS}
#: The hourly candles: the original system's table, name and columns unchanged.
candlestick_data = CANDLE_TABLES[DEFAULT_INTERVAL]


def candles_table(interval: str = DEFAULT_INTERVAL) -> sa.Table:
    """The table holding ``interval``'s candles; BadInput for an interval without one."""
    try:
        return CANDLE_TABLES[interval]
    except (KeyError, TypeError):
        raise BadInput(f"unknown interval {interval!r}; choose one of "
                       f"{', '.join(CANDLE_TABLES)}") from None


#: Candle columns in Binance kline order (the order of the REST API and of the dumps).
CANDLE_COLUMNS: tuple[str, ...] = tuple(c.name for c in candlestick_data.columns)
#: The 10 numeric kline columns the reference model reads (SPEC.md), in kline order.
FEATURE_COLUMNS: tuple[str, ...] = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quoteAssetVolume",
    "numberOfTrader",
    "takerBuyBaseAssetVolume",
    "takerBuyQuoteAssetVolume",
    "ignore",
)

job_runs = sa.Table(
    "job_runs",
    metadata,
    # One row per run of the market job: who runs it, and the key that makes a retried
    # pair's writes idempotent (historical_* rows are unique per run_id and coin).
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("market", sa.String(16), nullable=False),
    sa.Column("executor", sa.String(16), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("time_start", sa.Integer, nullable=False, index=True),
    sa.Column("time_end", sa.Integer, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("pairs_ok", sa.Integer, nullable=True),
    sa.Column("pairs_failed", sa.Integer, nullable=True),
    **_TABLE_ARGS,
)

#: Metric columns added to historical_train beyond SPEC.md (model and naive side by side).
METRIC_COLUMNS: tuple[str, ...] = (
    "MAE",
    "MAPE",
    "direction_accuracy",
    "naive_RMSE",
    "naive_max_error",
    "naive_MAE",
    "naive_MAPE",
    "naive_direction_accuracy",
    "skill",
)

historical_train = sa.Table(
    "historical_train",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id_coin", sa.SmallInteger, nullable=False, index=True),
    sa.Column("time_create", sa.Integer, nullable=False, index=True),
    sa.Column("price_test", sa.Text, nullable=False),
    sa.Column("price_predict", sa.Text, nullable=False),
    sa.Column("RMSE", sa.Double, nullable=False),
    sa.Column("max_error", sa.Double, nullable=False),
    sa.Column("openTime_last", sa.BigInteger, nullable=False),
    *(sa.Column(name, sa.Double, nullable=True) for name in METRIC_COLUMNS),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("model", sa.String(32), nullable=True),
    sa.Column("backend", sa.String(16), nullable=True),
    sa.Column("settings", sa.Text, nullable=True),
    sa.Column("n_train", sa.Integer, nullable=True),
    sa.Column("n_val", sa.Integer, nullable=True),
    sa.Column("n_test", sa.Integer, nullable=True),
    sa.Column("epochs_run", sa.Integer, nullable=True),
    sa.Column("train_seconds", sa.Double, nullable=True),
    # "return" (default) or "close" (the reference); for "return", the factor a that anchors
    # the forecast on the last close (0: no edge), its validation t statistic, and a > 0.
    sa.Column("target", sa.String(16), nullable=True),
    sa.Column("shrinkage", sa.Double, nullable=True),
    sa.Column("shrinkage_t", sa.Double, nullable=True),
    sa.Column("edge", sa.Boolean, nullable=True),
    # --horizon K: closes forecast per sample; with K > 1, price_test and price_predict hold
    # a JSON array of K-arrays (one per test sample) instead of a flat array.
    sa.Column("horizon", sa.Integer, nullable=True),
    # The candle interval the model was trained on ("1h", "5m", ...); NULL in rows written
    # before intervals existed, which were all 1h. (INTERVAL is a reserved word in MySQL:
    # a hand-written query names it `interval`, in backticks.)
    sa.Column("interval", sa.String(8), nullable=True),
    sa.UniqueConstraint("run_id", "id_coin", name="uq_historical_train_run_coin"),
    **_TABLE_ARGS,
)

historical_price_predictions = sa.Table(
    "historical_price_predictions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id_coin", sa.SmallInteger, nullable=False, index=True),
    sa.Column("time_create", sa.Integer, nullable=False, index=True),
    sa.Column("price_predict", sa.Text, nullable=False),
    sa.Column("price_actual", sa.Text, nullable=False),
    sa.Column("price_preidct_last", sa.Double, nullable=False),
    sa.Column("price_predict_previous", sa.Double, nullable=True),
    sa.Column("price_actual_last", sa.Double, nullable=False),
    sa.Column("price_actual_previous", sa.Double, nullable=True),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("openTime_next", sa.BigInteger, nullable=True),
    sa.Column("model", sa.String(32), nullable=True),
    sa.Column("skill", sa.Double, nullable=True),
    sa.Column("target", sa.String(16), nullable=True),
    sa.Column("edge", sa.Boolean, nullable=True),
    # --horizon K: the K forecast closes after the newest candle as a JSON array (NULL for
    # K = 1); price_preidct_last stays the first of them, so one-step readers keep working.
    sa.Column("horizon", sa.Integer, nullable=True),
    sa.Column("price_predict_horizon", sa.Text, nullable=True),
    # The interval of the forecast candle (openTime_next is one interval after the newest).
    sa.Column("interval", sa.String(8), nullable=True),
    sa.UniqueConstraint("run_id", "id_coin", name="uq_historical_pred_run_coin"),
    **_TABLE_ARGS,
)


# --------------------------------------------------------------------------- engine


def describe_url(url: str) -> str:
    """The URL as it may be printed: never with its password."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<malformed database URL>"


def create_engine(url: str) -> Engine:
    """An engine that survives a MySQL restart between runs (pre-ping) and fails fast.

    A malformed URL or a missing driver is the user's input: BadInput. The connection itself is
    not opened here; :func:`connect` does that and maps failures to DatabaseUnavailable.
    """
    try:
        parsed = sa.engine.make_url(url)
    except ArgumentError:
        raise BadInput(f"malformed database URL {url!r}") from None
    kwargs: dict = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 60}
    elif parsed.get_backend_name() == "mysql":
        kwargs["pool_recycle"] = 3600
        if parsed.get_driver_name() == "mysqlconnector":
            kwargs["connect_args"] = {"connection_timeout": 10}
    try:
        engine = sa.create_engine(url, **kwargs)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        raise BadInput(f"unusable database URL {describe_url(url)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the market job's children write while others read; foreign keys are off by
    # default in SQLite and on in InnoDB: make both behave alike.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


@contextmanager
def _schema_lock(conn: Connection):
    """One process at a time checks and creates the schema. DDL commits at once on MySQL and
    runs outside a transaction with pysqlite, so neither database serialises it by itself:
    MySQL gets a named server lock per database, a SQLite file an ``flock`` on a file beside
    it (both released by the kernel or server if the holder dies)."""
    if conn.dialect.name == "sqlite":
        database = conn.engine.url.database
        if not database or database == ":memory:":
            yield
            return
        import fcntl

        with open(f"{database}.schema.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    if conn.dialect.name != "mysql":
        yield
        return
    name = f"coinlstm.schema.{conn.engine.url.database}"[:64]
    conn.execute(sa.text("SELECT GET_LOCK(:name, :timeout)"), {"name": name, "timeout": 60})
    try:
        yield
    finally:
        conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": name})


def open_database(url: str, create: bool = True) -> Engine:
    """Connect once (so an unreachable server fails here, clearly) and ensure the schema."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            if create:
                with _schema_lock(conn):
                    metadata.create_all(conn, checkfirst=True)
                    add_missing_columns(conn)
            else:
                conn.execute(sa.text("SELECT 1"))
    except DBAPIError as exc:
        engine.dispose()
        reason = str(exc.orig).splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        raise DatabaseUnavailable(f"cannot use database {describe_url(url)}: {reason}") from None
    return engine


def add_missing_columns(conn: Connection) -> list[str]:
    """Upgrade a database made by an older version: add the nullable columns it lacks.

    Only additions of nullable columns happen here (what each release so far has needed), so
    old rows stay valid and old readers keep working. DDL takes no bound parameters; the
    names are this module's own, quoted by the dialect.
    """
    from sqlalchemy.schema import CreateColumn

    inspector = sa.inspect(conn)
    # One catalogue query for all tables (there is a candle table per interval), not one each.
    names = [table.name for table in metadata.sorted_tables]
    columns = inspector.get_multi_columns(filter_names=names)
    added = []
    for table in metadata.sorted_tables:
        present = {column["name"] for column in columns.get((None, table.name), ())}
        for column in table.columns:
            if column.name in present or not column.nullable:
                continue
            definition = CreateColumn(column).compile(dialect=conn.dialect)
            quoted = conn.dialect.identifier_preparer.quote_identifier(table.name)
            conn.execute(sa.text(f"ALTER TABLE {quoted} ADD COLUMN {definition}"))
            added.append(f"{table.name}.{column.name}")
    return added


@contextmanager
def transaction(engine: Engine):
    """One transaction; database errors become a one-line DatabaseUnavailable."""
    try:
        with engine.begin() as conn:
            yield conn
    except DBAPIError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        raise DatabaseUnavailable(f"database error on {describe_url(str(engine.url))}: "
                                  f"{reason}") from None


def mysql_ddl() -> str:
    """The MySQL DDL of the schema, as kept in sql/schema.mysql.sql (a test compares them)."""
    from sqlalchemy.schema import CreateIndex, CreateTable

    dialect = mysql.dialect()
    parts = ["-- coinlstm schema for MySQL / MariaDB. Generated from coinlstm/db.py by",
             "-- `coinlstm init-db --print-ddl`; tests/test_schema.py keeps the two equal.",
             ""]
    for table in metadata.sorted_tables:
        parts.append(str(CreateTable(table).compile(dialect=dialect)).strip() + ";")
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            parts.append(str(CreateIndex(index).compile(dialect=dialect)).strip() + ";")
        parts.append("")
    return "\n".join(parts)


# --------------------------------------------------------------------------- coins


def coin_by_id(conn: Connection, coin_id: int) -> sa.Row | None:
    return conn.execute(sa.select(coin_info).where(coin_info.c.id == coin_id)).first()


def coin_by_symbol(conn: Connection, symbol: str) -> sa.Row | None:
    return conn.execute(sa.select(coin_info).where(coin_info.c.symbol == symbol)).first()


def coins_of_market(conn: Connection, quote_asset: str, status: str | None = None) -> list[sa.Row]:
    query = sa.select(coin_info).where(coin_info.c.quoteAsset == quote_asset)
    if status is not None:
        query = query.where(coin_info.c.status == status)
    return list(conn.execute(query.order_by(coin_info.c.id)))


def ensure_coin(conn: Connection, symbol: str, base_asset: str, quote_asset: str,
                status: str | None = None) -> int:
    """The coin's id, registering it first if it is new. Ids are never reused or changed.

    ``status`` None leaves an existing coin's status as it is (an import knows nothing of
    the exchange's status); a value updates it.
    """
    row = coin_by_symbol(conn, symbol)
    now = int(time.time())
    if row is None:
        result = conn.execute(coin_info.insert().values(
            symbol=symbol, baseAsset=base_asset, quoteAsset=quote_asset, status=status,
            time_update=now))
        return int(result.inserted_primary_key[0])
    if status is not None and row.status != status:
        conn.execute(coin_info.update().where(coin_info.c.id == row.id)
                     .values(status=status, time_update=now))
    return int(row.id)


def mark_missing_coins(conn: Connection, quote_asset: str, listed_symbols: Iterable[str],
                       status: str = "DELISTED") -> list[str]:
    """Mark the market's coins the exchange no longer lists; their candles stay."""
    listed = set(listed_symbols)
    marked = []
    for row in coins_of_market(conn, quote_asset):
        if row.symbol not in listed and row.status not in (None, status):
            conn.execute(coin_info.update().where(coin_info.c.id == row.id)
                         .values(status=status, time_update=int(time.time())))
            marked.append(row.symbol)
    return marked


# --------------------------------------------------------------------------- candles


def insert_candles(conn: Connection, rows: Sequence[dict], *,
                   interval: str = DEFAULT_INTERVAL) -> int:
    """Insert candle rows (dicts keyed by CANDLE_COLUMNS) into ``interval``'s table, skipping
    ones already stored.

    Returns how many rows were new. Batched (one multi-row statement per batch), so a page of
    1000 klines or a month of a dump is a handful of round trips. Idempotent: a candle that
    exists already is left exactly as it is.
    """
    table = candles_table(interval)
    if not rows:
        return 0
    coin_ids = {row["idCoin"] for row in rows}
    before = _count_candles(conn, coin_ids, table)
    if conn.dialect.name == "mysql":
        statement = mysql.insert(table)
        statement = statement.on_duplicate_key_update(idCoin=statement.inserted.idCoin)
    elif conn.dialect.name == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing()
    else:  # pragma: no cover - other dialects are not supported
        raise BadInput(f"unsupported database dialect {conn.dialect.name}")
    conn.execute(statement, list(rows))
    return _count_candles(conn, coin_ids, table) - before


def _count_candles(conn: Connection, coin_ids: Iterable[int], table: sa.Table) -> int:
    query = sa.select(sa.func.count()).select_from(table).where(
        table.c.idCoin.in_(sorted(coin_ids)))
    return int(conn.execute(query).scalar_one())


def count_candles(conn: Connection, coin_id: int, *, interval: str = DEFAULT_INTERVAL) -> int:
    return _count_candles(conn, [coin_id], candles_table(interval))


def newest_open_time(conn: Connection, coin_id: int, *,
                     interval: str = DEFAULT_INTERVAL) -> int | None:
    """Open time of the coin's newest stored candle of ``interval`` (None: it has none):
    where the crawl of that series resumes."""
    table = candles_table(interval)
    query = sa.select(sa.func.max(table.c.openTime)).where(table.c.idCoin == coin_id)
    value = conn.execute(query).scalar()
    return None if value is None else int(value)


def candle_counts_by_coin(conn: Connection, *, interval: str = DEFAULT_INTERVAL
                          ) -> dict[int, int]:
    """Candles of ``interval`` stored per coin id (coins without any are absent)."""
    table = candles_table(interval)
    query = sa.select(table.c.idCoin, sa.func.count()).group_by(table.c.idCoin)
    return {int(coin): int(n) for coin, n in conn.execute(query)}


def candle_text_rows(conn: Connection, coin_id: int, *,
                     interval: str = DEFAULT_INTERVAL) -> list[tuple]:
    """All of a coin's candles of ``interval`` as the 12 Binance fields, text exactly as
    Binance sent it."""
    table = candles_table(interval)
    columns = [table.c[name] for name in CANDLE_COLUMNS[1:]]
    query = sa.select(*columns).where(table.c.idCoin == coin_id).order_by(table.c.openTime)
    return [tuple(_as_text(value) for value in row) for row in conn.execute(query)]


def _as_text(value: object) -> str:
    return format(value, "f") if isinstance(value, Decimal) else str(value)


# --------------------------------------------------------------------------- results


def to_json_array(values: Iterable[float]) -> str:
    """Arrays in the historical_* text columns: a JSON array of plain floats."""
    return json.dumps([float(v) for v in values])


def to_json_rows(rows: Iterable[Iterable[float]]) -> str:
    """A multi-step forecast's samples: a JSON array of arrays of plain floats."""
    return json.dumps([[float(v) for v in row] for row in rows])


def write_training_result(conn: Connection, train_row: dict, prediction_row: dict) -> bool:
    """Insert one training run's two rows, together, in the caller's transaction.

    With a ``run_id`` the write is idempotent per (run_id, id_coin): a retried task of the
    same job run finds its rows there and writes nothing (returns False).
    """
    run_id = train_row.get("run_id")
    if run_id is not None:
        exists = conn.execute(sa.select(historical_train.c.id).where(
            historical_train.c.run_id == run_id,
            historical_train.c.id_coin == train_row["id_coin"])).first()
        if exists is not None:
            return False
    conn.execute(historical_train.insert().values(**train_row))
    conn.execute(historical_price_predictions.insert().values(**prediction_row))
    return True


def recent_skills(conn: Connection, coin_id: int, runs: int = 24, model: str | None = None,
                  target: str | None = None, interval: str | None = None) -> list[float]:
    """The pair's skill on its test slice over its most recent training runs, newest first
    (only runs of ``model``, ``target`` and ``interval`` when given: a track record of one
    forecaster; a 5-minute model's skill says nothing about the hourly one's). Rows without
    an interval predate intervals and count as 1h."""
    query = (sa.select(historical_train.c.skill)
             .where(historical_train.c.id_coin == coin_id, historical_train.c.skill.is_not(None))
             .order_by(historical_train.c.id.desc()).limit(runs))
    if model is not None:
        query = query.where(historical_train.c.model == model)
    if target is not None:
        query = query.where(historical_train.c.target == target)
    if interval is not None:
        column = historical_train.c.interval
        query = query.where(sa.or_(column == interval, column.is_(None))
                            if interval == DEFAULT_INTERVAL else column == interval)
    return [float(v) for (v,) in conn.execute(query)]


def table_fingerprint(conn: Connection) -> dict[str, int]:
    """Row counts of every table: what a test compares to prove 'the database is unchanged'."""
    return {table.name: int(conn.execute(sa.select(sa.func.count()).select_from(table))
                            .scalar_one()) for table in metadata.sorted_tables}



# --------------------------------------------------------------------------- training input
# (added for train/pipeline.py)


def load_training_rows(conn: Connection, coin_id: int, newest: int | None = None,
                       since: int | None = None, *, interval: str = DEFAULT_INTERVAL
                       ) -> tuple[list[int], list[tuple[float, ...]]]:
    """Open times and the 10 feature values of a coin's candles of ``interval``, oldest first.

    Only the feature columns are read, and with ``newest`` only that many of the most recent
    candles, with ``since`` only candles opened at or after it (ms): the per-pair process
    reads no more than it trains on (``since``: a --with pair's candles from the pair's first).

    ``ignore`` is stored as the text Binance sent; a database CAST turns any non-number in it
    ("NaN", "abc") silently into 0.0 on both MySQL and SQLite. Here such a value becomes NaN,
    so the training data check refuses it instead of training on an invented zero.
    """
    table = candles_table(interval)
    text_columns = {name for name in FEATURE_COLUMNS if isinstance(table.c[name].type, sa.String)}
    selected = [table.c[name] if name in text_columns
                else sa.cast(table.c[name], sa.Double).label(name)
                for name in FEATURE_COLUMNS]
    query = sa.select(table.c.openTime, *selected).where(table.c.idCoin == coin_id)
    if since is not None:
        query = query.where(table.c.openTime >= since)
    if newest is not None:
        query = query.order_by(table.c.openTime.desc()).limit(newest)
    else:
        query = query.order_by(table.c.openTime)
    rows = conn.execute(query).all()
    if newest is not None:
        rows.reverse()
    open_times = [int(row[0]) for row in rows]
    values = [tuple(_float_or_nan(v) for v in row[1:]) for row in rows]
    return open_times, values


def _float_or_nan(value: object) -> float:
    if value is None:
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


# --------------------------------------------------------------------------- bulk candle import
# (added for crawl/vision.py: loading whole dumps fast)

#: One batch of klines in, as ONE bound JSON parameter that MySQL/MariaDB unpacks server-side.
#: The pure-Python mysql-connector spends ~7 µs escaping each bound value (its C extension
#: is not always loadable), so a 13-column executemany costs ~100 µs a candle; this is ~3.5x
#: faster. Strings go to DECIMAL exactly (no float on the way); ERROR ON ERROR refuses any
#: value the column cannot hold instead of storing a NULL or a zero.
_JSON_TABLE_INSERT = """
INSERT INTO {table} (`idCoin`, `openTime`, `open`, `high`, `low`, `close`, `volume`,
    `closeTime`, `quoteAssetVolume`, `numberOfTrader`, `takerBuyBaseAssetVolume`,
    `takerBuyQuoteAssetVolume`, `ignore`)
SELECT :coin_id, k.* FROM JSON_TABLE(:klines, '$[*]' COLUMNS (
    `openTime` BIGINT PATH '$[0]' ERROR ON ERROR,
    `open` DECIMAL(38, 8) PATH '$[1]' ERROR ON ERROR,
    `high` DECIMAL(38, 8) PATH '$[2]' ERROR ON ERROR,
    `low` DECIMAL(38, 8) PATH '$[3]' ERROR ON ERROR,
    `close` DECIMAL(38, 8) PATH '$[4]' ERROR ON ERROR,
    `volume` DECIMAL(38, 8) PATH '$[5]' ERROR ON ERROR,
    `closeTime` BIGINT PATH '$[6]' ERROR ON ERROR,
    `quoteAssetVolume` DECIMAL(38, 8) PATH '$[7]' ERROR ON ERROR,
    `numberOfTrader` BIGINT PATH '$[8]' ERROR ON ERROR,
    `takerBuyBaseAssetVolume` DECIMAL(38, 8) PATH '$[9]' ERROR ON ERROR,
    `takerBuyQuoteAssetVolume` DECIMAL(38, 8) PATH '$[10]' ERROR ON ERROR,
    `ignore` VARCHAR(40) PATH '$[11]' ERROR ON ERROR
)) AS k
ON DUPLICATE KEY UPDATE `idCoin` = {table}.`idCoin`
"""
#: The statement per candle table. Only the table name is put into the text, and only names
#: of this module's own tables (CANDLE_TABLES), quoted for MySQL; every value stays bound.
_JSON_TABLE_INSERTS: dict[str, sa.TextClause] = {
    interval: sa.text(_JSON_TABLE_INSERT.format(table=f"`{table.name}`"))
    for interval, table in CANDLE_TABLES.items()}


def supports_json_table(conn: Connection) -> bool:
    """MariaDB 10.6+ and MySQL 8.0.4+ have JSON_TABLE; SQLite and older servers do not."""
    if conn.dialect.name != "mysql":
        return False
    version = tuple(conn.dialect.server_version_info or ())
    return version >= ((10, 6) if getattr(conn.dialect, "is_mariadb", False) else (8, 0, 4))


def insert_klines(conn: Connection, coin_id: int, klines: Sequence[Sequence], *,
                  interval: str = DEFAULT_INTERVAL) -> int:
    """Insert one coin's validated klines into ``interval``'s table, skipping candles already
    stored; rows added.

    A kline is the 12 Binance fields with the times and the trade count as int (ms) and the
    decimals as their exact text, as :mod:`crawl.vision` prepares them. Same result as
    :func:`insert_candles` (which SQLite and servers without JSON_TABLE use), only faster.
    """
    table = candles_table(interval)
    if not klines:
        return 0
    if not supports_json_table(conn):
        rows = [{"idCoin": coin_id, **dict(zip(CANDLE_COLUMNS[1:], kline, strict=True))}
                for kline in klines]
        return insert_candles(conn, rows, interval=interval)
    before = _count_candles(conn, [coin_id], table)
    conn.execute(_JSON_TABLE_INSERTS[interval],
                 {"coin_id": coin_id, "klines": json.dumps(list(klines))})
    return _count_candles(conn, [coin_id], table) - before


def stored_open_times(conn: Connection, coin_id: int, first: int, last: int, *,
                      interval: str = DEFAULT_INTERVAL) -> set[int]:
    """Open times of the coin's candles of ``interval`` stored between first and last (ms,
    inclusive).

    Lets a re-import skip what is there instead of sending it to be ignored row by row.
    """
    table = candles_table(interval)
    query = sa.select(table.c.openTime).where(
        table.c.idCoin == coin_id, table.c.openTime.between(first, last))
    return {int(value) for (value,) in conn.execute(query)}
