"""``coinlstm db ACTION``: the schema's revisions (upgrade, downgrade, current, history, and
``--sql`` for a DBA), and adopting the original system's MySQL database (``adopt``)."""

from __future__ import annotations

import argparse
import sys

from coinlstm import db
from coinlstm.core.errors import EXIT_FAILURE, BadInput
from coinlstm.db import migrations
from crawl.verify import repair_stored_candles

ACTIONS = ("upgrade", "downgrade", "current", "history", "adopt")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS,
                        help="upgrade [REVISION] (default head), downgrade REVISION, current, "
                             "history, adopt (the original system's database)")
    parser.add_argument("revision", nargs="?", default=None,
                        help="target revision of upgrade (default head) or downgrade")
    parser.add_argument("--sql", action="store_true",
                        help="upgrade: print the DDL instead of running it (for a DBA)")
    parser.add_argument("--from", dest="start", default=None, metavar="REVISION",
                        help="upgrade --sql: the revision the database is at (default: read "
                             "from the database; none: an empty database)")
    parser.add_argument("--dry-run", action="store_true",
                        help="adopt: print what would change, change nothing")
    parser.add_argument("--resolve", choices=("lowest",), default=None,
                        help="adopt: of candles stored twice with different values keep the "
                             "lowest id (the repair from the exchange then fixes its values)")
    parser.add_argument("--no-repair", action="store_true",
                        help="adopt: do not re-fetch the stored candles from the exchange "
                             "(run `coinlstm crawl --verify` later)")


def run(args: argparse.Namespace) -> int:
    action = args.action
    if action == "history":
        for revision, down, message in migrations.history():
            print(f"{down or '<base>'} -> {revision}: {message}")
        return 0
    if action == "downgrade" and not args.revision:
        raise BadInput("downgrade needs the target REVISION (see `coinlstm db history`)")
    if args.sql:
        if action != "upgrade":
            raise BadInput("--sql goes with upgrade")
        start, unversioned = ((args.start, False) if args.start is not None
                              else _where_it_stands(args))
        print(migrations.upgrade_sql(args.settings.db_url,
                                     None if start in (None, "none") else start,
                                     args.revision or "head", unversioned), end="")
        return 0
    engine = db.open_database(args.settings.db_url, create=False)
    try:
        return _ACTIONS[action](engine, args)
    finally:
        engine.dispose()


def _where_it_stands(args: argparse.Namespace) -> tuple[str | None, bool]:
    engine = db.open_database(args.settings.db_url, create=False)
    try:
        with engine.connect() as conn:
            return migrations.sql_start(conn)
    finally:
        engine.dispose()


def _current(engine, args) -> int:
    with engine.connect() as conn:
        state = migrations.schema_state(conn)
    head = migrations.head_revision()
    where = {"versioned": f"revision {state.revision}"
                          + (" (head)" if state.revision == head else f", head is {head}"),
             "fresh": "empty (no coinlstm table); any command creates the schema",
             "legacy": "made by a coinlstm before migrations; the next command upgrades it",
             "tutorial": "the original system's database; run `coinlstm db adopt`",
             "foreign": f"not coinlstm's: {state.detail}"}[state.kind]
    print(f"{db.describe_url(args.settings.db_url)}: {where}")
    return 0


def _upgrade(engine, args) -> int:
    with db.transaction(engine) as conn, db.schema_lock(conn):
        before = migrations.current_revision(conn)
        migrations.upgrade(conn, args.revision or "head")
        after = migrations.current_revision(conn)
    print(f"schema revision {before or 'none'} -> {after}")
    return 0


def _downgrade(engine, args) -> int:
    with db.transaction(engine) as conn, db.schema_lock(conn):
        before = migrations.current_revision(conn)
        migrations.downgrade(conn, args.revision)
        after = migrations.current_revision(conn)
    print(f"schema revision {before or 'none'} -> {after or 'none'}")
    return 0


def _adopt(engine, args) -> int:
    done = migrations.adopt(engine, dry_run=args.dry_run, resolve=args.resolve)
    verb = "would" if args.dry_run else "did"
    for step in done.steps:
        print(f"{verb}: {step}")
    if done.differing:
        for rows in done.differing:
            print("differing duplicate candle: " + " | ".join(_describe(row) for row in rows))
        print(f"coinlstm db: error: {len(done.differing)} candles are stored twice with "
              "different values; nothing else changed: fix them, or rerun with "
              "--resolve lowest", file=sys.stderr)
        return EXIT_FAILURE
    if not done.steps:
        print("adopted already: nothing to change")
    if args.dry_run or args.no_repair:
        return 0

    return repair_stored_candles(engine, args.settings, since_ms=None)


def _describe(row: dict) -> str:
    values = ", ".join(f"{name} {row[name]}" for name in ("open", "high", "low", "close",
                                                         "volume", "closeTime",
                                                         "numberOfTrader"))
    return f"id {row['id']} (idCoin {row['idCoin']}, openTime {row['openTime']}: {values})"


_ACTIONS = {"current": _current, "upgrade": _upgrade, "downgrade": _downgrade,
            "adopt": _adopt}
