"""The in-place upgrade of the releases before migrations: create what a database lacks of a
schema, add the nullable columns, indexes and unique keys its tables lack. Revision 0000a runs
it on databases those releases made (and on an adopted one); nothing else does."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateColumn


def upgrade_in_place(conn: Connection, metadata: sa.MetaData) -> list[str]:
    """Bring ``conn``'s database up to ``metadata`` by additions only; what was added.

    Old rows stay valid and old readers keep working, as only tables, nullable columns,
    indexes and unique keys are added. DDL takes no bound parameters; the names are the
    schema's own, quoted by the dialect.
    """
    present = set(sa.inspect(conn).get_table_names())
    added = []
    for table in metadata.sorted_tables:
        if table.name not in present:
            table.create(conn)
            added.append(table.name)
    added += add_missing_columns(conn, metadata)
    added += add_missing_indexes(conn, metadata)
    added += add_missing_unique_keys(conn, metadata)
    return added


def add_missing_columns(conn: Connection, metadata: sa.MetaData) -> list[str]:
    """Add the nullable columns of ``metadata`` the database's tables lack."""
    inspector = sa.inspect(conn)
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


def add_missing_indexes(conn: Connection, metadata: sa.MetaData) -> list[str]:
    """Create the indexes of ``metadata`` the database's tables lack (``create_all`` makes a
    new table's indexes, never an existing table's)."""
    inspector = sa.inspect(conn)
    present = {table: {index["name"] for index in indexes} for (_, table), indexes
               in inspector.get_multi_indexes(
                   filter_names=[t.name for t in metadata.sorted_tables]).items()}
    added = []
    for table in metadata.sorted_tables:
        for index in table.indexes:
            if index.name not in present.get(table.name, set()):
                index.create(conn)
                added.append(index.name)
    return added


def add_missing_unique_keys(conn: Connection, metadata: sa.MetaData) -> list[str]:
    """Create the named unique keys of ``metadata`` a table lacks (as unique indexes: what
    MySQL makes of a unique constraint anyway, and SQLite can add to an existing table).
    A key is present when any unique constraint or unique index covers the same columns."""
    inspector = sa.inspect(conn)
    added = []
    for table in metadata.sorted_tables:
        wanted = [c for c in table.constraints
                  if isinstance(c, sa.UniqueConstraint) and c.name and len(c.columns) > 1]
        if not wanted:
            continue
        have = {tuple(u["column_names"]) for u in inspector.get_unique_constraints(table.name)}
        have |= {tuple(i["column_names"]) for i in inspector.get_indexes(table.name)
                 if i.get("unique")}
        for constraint in wanted:
            columns = tuple(column.name for column in constraint.columns)
            if columns not in have:
                sa.Index(constraint.name, *constraint.columns, unique=True).create(conn)
                added.append(constraint.name)
    return added
