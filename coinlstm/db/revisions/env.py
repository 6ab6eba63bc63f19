"""Alembic's environment for coinlstm's schema revisions (run by coinlstm.db.migrations).

Online: the caller hands its open connection in ``config.attributes["connection"]`` (so the
revisions run inside its schema lock). Offline (``coinlstm db upgrade --sql``): the DDL is
printed for the dialect of the configured URL, nothing connects.
"""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes.get("connection")

if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True,
                      dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()
else:
    context.configure(connection=connection, transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()
