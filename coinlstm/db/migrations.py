"""Schema revisions (Alembic): where a database stands, and bringing it to head.

The revisions are package data (``coinlstm/db/revisions``), so an installed coinlstm carries
them. Every process that opens a database with ``create`` runs :func:`ensure_schema` under
the schema lock: a database behind head is upgraded there and then (what cron users had
before migrations: a new version just works on the next hour), one ahead of head or of
another application is refused in one line, and the original system's database is refused
until ``coinlstm db adopt`` has made it coinlstm's.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from functools import cache

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateIndex, CreateTable

from coinlstm.core.errors import BadInput
from coinlstm.db import tutorial
from coinlstm.db.locking import schema_lock
from coinlstm.db.schema import metadata
from coinlstm.db.tutorial import TUTORIAL_COLUMNS, is_unadopted_tutorial

SCRIPT_LOCATION = "coinlstm.db:revisions"
#: The first revision: the first release's schema.
BASELINE = "0000a"
#: The schema of the last release before migrations (the first to write a version row).
LAST_BEFORE_MIGRATIONS = "0001"
#: The tables whose presence marks a database as coinlstm's or the original system's.
_OWN_TABLES = ("coin_info", "candlestick_data", "historical_train",
               "historical_price_predictions")
logging.getLogger("alembic").setLevel(logging.WARNING)


def alembic_config(url: str, connection: Connection | None = None,
                   output: io.StringIO | None = None) -> Config:
    """Alembic's configuration without an ini file: the packaged scripts, the URL (for
    ``--sql``) and the caller's connection (for everything else)."""
    config = Config(output_buffer=output)
    config.set_main_option("script_location", SCRIPT_LOCATION)
    # ConfigParser interpolation: a URL's "%" (an escaped password) must be doubled.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


@cache
def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def head_revision() -> str:
    return scripts().get_current_head()


def current_revision(conn: Connection) -> str | None:
    """The database's revision; None for a database not under migrations."""
    return MigrationContext.configure(conn).get_current_revision()


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands: ``kind`` is one of fresh (no coinlstm table), versioned,
    legacy (made by a coinlstm before migrations), tutorial (the original system's, not yet
    adopted) or foreign (another application's tables under these names)."""

    kind: str
    revision: str | None
    detail: str = ""


def schema_state(conn: Connection) -> SchemaState:
    revision = current_revision(conn)
    if revision is not None:
        return SchemaState("versioned", revision)
    inspector = sa.inspect(conn)
    present = set(inspector.get_table_names())
    if not present & set(_OWN_TABLES):
        return SchemaState("fresh", None)
    differences = foreign_differences(inspector, present)
    if differences:
        return SchemaState("foreign", None, "; ".join(differences))
    if is_unadopted_tutorial(inspector, present):
        return SchemaState("tutorial", None)
    return SchemaState("legacy", None)


def foreign_differences(inspector, present: set[str]) -> list[str]:
    """What the database's tables of coinlstm's names have that neither coinlstm nor the
    original system has, or lack of what both need: empty for either's database."""
    differences = []
    for name in _OWN_TABLES:
        if name not in present:
            continue
        have = {column["name"] for column in inspector.get_columns(name)}
        ours = {column.name for column in metadata.tables[name].columns}
        # A NOT NULL column with a default was added by a revision like a nullable one.
        required = {column.name for column in metadata.tables[name].columns
                    if not column.nullable and column.server_default is None}
        unknown = sorted(have - ours - TUTORIAL_COLUMNS[name])
        missing = sorted(required - have)
        if unknown or missing:
            differences.append(f"{name}" + (f" has {', '.join(unknown)}" if unknown else "")
                               + (" and" if unknown and missing else "")
                               + (f" lacks {', '.join(missing)}" if missing else ""))
    return differences


def ensure_schema(conn: Connection) -> None:
    """Bring the database to head, or refuse in one line (BadInput) when that is not ours
    to do: a revision this coinlstm does not know, another application's tables, the
    original system's database before ``coinlstm db adopt``. The caller holds the schema
    lock."""
    state = schema_state(conn)
    if state.kind == "versioned" and state.revision == head_revision():
        return
    if state.kind == "fresh":
        create_at_head(conn)
        return
    refuse_unless_upgradable(state)
    command.upgrade(alembic_config(str(conn.engine.url), conn), "head")


def create_at_head(conn: Connection) -> None:
    """A database with none of coinlstm's tables gets the code's schema in one pass and is
    stamped at head, instead of going up the whole chain: the chain builds the same tables
    (tests/integration/test_migrations.py compares the two) with several times the DDL, each
    statement of which costs a MySQL server a file operation. Revisions are for databases
    that hold rows."""
    metadata.create_all(conn)
    command.stamp(alembic_config(str(conn.engine.url), conn), "head")


def refuse_unless_upgradable(state: SchemaState) -> None:
    if state.kind == "foreign":
        raise BadInput(f"not a coinlstm database (nor the original system's): {state.detail}")
    if state.kind == "tutorial":
        raise BadInput("this is the original system's database, not yet coinlstm's: run "
                       "`coinlstm db adopt` (see `coinlstm db adopt --dry-run` first)")
    if state.kind == "versioned" and state.revision not in {
            script.revision for script in scripts().walk_revisions()}:
        raise BadInput(f"database schema at revision {state.revision}, unknown to this "
                       f"coinlstm (head {head_revision()}): upgrade coinlstm")


def upgrade(conn: Connection, target: str = "head") -> None:
    """``coinlstm db upgrade``: to ``target``, refusing what ensure_schema refuses."""
    refuse_unless_upgradable(schema_state(conn))
    command.upgrade(alembic_config(str(conn.engine.url), conn), target)


def downgrade(conn: Connection, target: str) -> None:
    """``coinlstm db downgrade``: to ``target``, never below the baseline (which would drop
    every table), nor past a revision whose ``refuse_downgrade(conn)`` names rows its
    downgrade would lose; refused before anything runs."""
    state = schema_state(conn)
    refuse_unless_upgradable(state)
    try:
        undone = list(scripts().iterate_revisions(state.revision or "base", target))
    except Exception as exc:  # alembic's many revision errors: the user's target
        raise BadInput(f"cannot downgrade to {target!r}: {exc}") from None
    if BASELINE in {script.revision for script in undone}:
        raise BadInput(f"cannot downgrade to {target!r}: {BASELINE} is the baseline and cannot "
                       "be downgraded")
    reasons = [f"revision {script.revision}: {reason}" for script in undone
               if (reason := getattr(script.module, "refuse_downgrade", _none)(conn))]
    if reasons:
        raise BadInput(f"cannot downgrade to {target!r}, the releases before would lose or "
                       f"mislabel rows ({'; '.join(reasons)}); nothing changed")
    command.downgrade(alembic_config(str(conn.engine.url), conn), target)


def _none(conn: Connection) -> None:
    return None


def stamp(conn: Connection, revision: str) -> None:
    command.stamp(alembic_config(str(conn.engine.url), conn), revision)


def upgrade_sql(url: str, start: str | None, target: str = "head",
                unversioned: bool = False) -> str:
    """The DDL from ``start`` (None: an empty database) to ``target``, for a DBA to apply;
    nothing connects. ``unversioned``: the database has no version row yet (a release before
    migrations made it at ``start``), so the DDL begins by writing it."""
    output = io.StringIO()
    if unversioned:
        command.stamp(alembic_config(url, output=output), start, sql=True)
    span = f"{start}:{target}" if start else target
    command.upgrade(alembic_config(url, output=output), span, sql=True)
    return output.getvalue()


def sql_start(conn: Connection) -> tuple[str | None, bool]:
    """Where ``coinlstm db upgrade --sql`` starts from for this database: its revision, and
    whether it lacks the version row (a release before migrations made it). Refuses what an
    upgrade refuses, and a database whose pre-migration schema matches no revision exactly
    (changes that came in another order): `coinlstm db upgrade` adds only what is missing,
    printed DDL cannot."""
    state = schema_state(conn)
    refuse_unless_upgradable(state)
    if state.kind != "legacy":
        return state.revision, False
    inspector = sa.inspect(conn)
    have = {table: {column["name"] for column in inspector.get_columns(table)}
            for table in inspector.get_table_names()}
    shapes = _revision_shapes()
    matched = None
    for index, (_, shape) in enumerate(shapes):
        if not all(columns <= have.get(table, set()) for table, columns in shape.items()):
            break
        matched = index
    base = shapes[matched or 0][1]
    beyond = [table if table not in base else f"{table}.{column}"
              for table, columns in shapes[-1][1].items() if table in have
              for column in sorted(columns & have[table] - base.get(table, frozenset()))]
    if matched is None or beyond:
        raise BadInput("this database, made by a coinlstm before migrations, matches no one "
                       "revision" + (f" (it has {', '.join(dict.fromkeys(beyond))} of later "
                                     "ones)" if beyond and matched is not None else "")
                       + ": run `coinlstm db upgrade`, which adds only what is missing, "
                       "instead of printed DDL")
    return shapes[matched][0], True


@cache
def _revision_shapes() -> tuple[tuple[str, dict[str, frozenset[str]]], ...]:
    """The tables and columns at each revision up to the last before migrations, built once
    by the revisions themselves in an in-memory SQLite database."""
    engine = sa.create_engine("sqlite://")
    shapes = []
    with engine.connect() as conn:
        for script in reversed(list(scripts().iterate_revisions(LAST_BEFORE_MIGRATIONS,
                                                                 "base"))):
            command.upgrade(alembic_config("sqlite://", conn), script.revision)
            inspector = sa.inspect(conn)
            shapes.append((script.revision, {
                table: frozenset(column["name"] for column in inspector.get_columns(table))
                for table in inspector.get_table_names() if table != "alembic_version"}))
    engine.dispose()
    return tuple(shapes)


def history() -> list[tuple[str, str | None, str]]:
    """(revision, down revision, first line of its message), oldest first."""
    entries = [(script.revision, script.down_revision, (script.doc or "").splitlines()[0])
               for script in scripts().walk_revisions()]
    return list(reversed(entries))


def adopt(engine: sa.Engine, dry_run: bool = False, resolve: str | None = None):
    """``coinlstm db adopt``: make the original system's database coinlstm's, keeping every
    row but identical duplicate candles. Returns the :class:`~coinlstm.db.tutorial.Adoption`;
    stops before any DDL when differing duplicates remain and ``resolve`` is not "lowest".
    Each step is skipped when done already, so a second run (or one after a failure) goes on
    where the first stopped. Under the schema lock, so no job opens the database meanwhile.
    """
    done = tutorial.Adoption()
    with engine.connect() as conn, schema_lock(conn):
        state = schema_state(conn)
        if state.kind == "foreign":
            raise BadInput(f"not the original system's database: {state.detail}")
        tutorial.check_adoptable(conn)
        if state.kind == "versioned":
            refuse_unless_upgradable(state)
        started = time.monotonic()
        keys = tutorial.duplicate_keys(conn)  # one scan; the steps below look at these only
        done.identical_removed = tutorial.remove_identical_duplicates(conn, keys, dry_run)
        conn.commit()
        if done.identical_removed:
            done.steps.append(f"remove {done.identical_removed} identical duplicate candles "
                              "(the lowest id of each kept)")
        done.differing = tutorial.differing_duplicates(conn, keys)
        if done.differing and resolve == "lowest":
            removed = 0 if dry_run else tutorial.keep_lowest_ids(conn, keys)
            conn.commit()
            done.steps.append(f"keep the lowest id of {len(done.differing)} differing duplicate "
                              f"candles ({removed or 'the others'} removed)")
            done.differing = []
        done.seconds["duplicates"] = time.monotonic() - started
        if done.differing:
            return done
        changes = tutorial.widening_changes(conn)
        done.steps += [f"ALTER TABLE {table} {', '.join(clauses)}"
                       for table, clauses in changes.items()]
        behind = state.kind != "versioned" or state.revision != head_revision()
        if behind:
            done.steps.append(f"add coinlstm's tables, columns and keys; schema revision "
                              f"{state.revision or 'none'} -> {head_revision()}")
        if not dry_run:
            started = time.monotonic()
            tutorial.apply_widening(conn, changes)
            done.seconds["alter"] = time.monotonic() - started
            if behind:
                command.upgrade(alembic_config(str(conn.engine.url), conn), "head")
                conn.commit()
            done.seconds["revisions"] = time.monotonic() - started - done.seconds["alter"]
    return done


def mysql_ddl() -> str:
    """The MySQL DDL of the schema, as kept in sql/schema.mysql.sql (a test compares them)."""
    dialect = mysql.dialect()
    parts = ["-- coinlstm schema for MySQL / MariaDB. Generated from coinlstm/db/schema.py by",
             "-- `coinlstm init-db --print-ddl`; tests/unit/test_schema.py keeps the two equal.",
             ""]
    for table in metadata.sorted_tables:
        parts.append(str(CreateTable(table).compile(dialect=dialect)).strip() + ";")
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            parts.append(str(CreateIndex(index).compile(dialect=dialect)).strip() + ";")
        parts.append("")
    # The revision these tables are, so coinlstm takes a database made from this file as
    # at head instead of upgrading it again (Alembic's own table, as Alembic makes it).
    version = sa.Table("alembic_version", sa.MetaData(),
                       sa.Column("version_num", sa.String(32), primary_key=True))
    insert = version.insert().values(version_num=head_revision())
    parts += [str(CreateTable(version).compile(dialect=dialect)).strip() + ";",
              str(insert.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
              + ";", ""]
    return "\n".join(parts)
