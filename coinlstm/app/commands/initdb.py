"""``coinlstm init-db``: create the schema, or print the MySQL DDL that sql/ keeps."""

from __future__ import annotations

import argparse

from coinlstm import db
from coinlstm.db import migrations


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--print-ddl", action="store_true",
                        help="print the MySQL DDL (as in sql/schema.mysql.sql) and exit")


def run(args: argparse.Namespace) -> int:
    if args.print_ddl:
        print(migrations.mysql_ddl(), end="")
        return 0
    engine = db.open_database(args.settings.db_url)
    with engine.connect() as conn:
        counts = db.table_fingerprint(conn)
    engine.dispose()
    print(f"schema ready in {db.describe_url(args.settings.db_url)}: "
          + ", ".join(f"{name} {n} rows" for name, n in counts.items()))
    return 0
