"""Helpers of the training tests: real candles into a real database, snapshots of outputs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from coinlstm import db
from crawl.klines import parse_kline, split_symbol
from tests.conftest import read_csv_rows

#: Tiny but real training: what every training test passes.
FAST = ["--epochs", "2", "--val-size", "240"]


def load_pair(db_url: str, csv_path: Path, rows: int, tail: bool = False,
              edit: Callable[[list[list[str]]], None] | None = None) -> tuple[int, list[list[str]]]:
    """Register the pair and insert ``rows`` of its real candles, as the importer does.

    ``edit`` may change the text rows first (a NaN, a gap). Returns the coin id and the rows.
    """
    fields = read_csv_rows(csv_path, limit=rows, tail=tail)
    if edit is not None:
        edit(fields)
    symbol = csv_path.stem
    base, quote = split_symbol(symbol)
    engine = db.open_database(db_url)
    try:
        with db.transaction(engine) as conn:
            coin_id = db.ensure_coin(conn, symbol, base, quote)
            db.insert_candles(conn, [parse_kline(coin_id, row) for row in fields])
    finally:
        engine.dispose()
    return coin_id, fields


def folder_snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden temporaries included) with its content hash."""
    if not folder.exists():
        return {}
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}
