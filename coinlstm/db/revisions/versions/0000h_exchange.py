"""Exchanges other than Binance: ``coin_info.exchange``.

Revision ID: 0000h
Revises: 0000g
Create Date: 2026-12-01

Added with the default 'binance', which every existing coin gets (the only exchange before);
coin ids unchanged. Downgrade drops it, but is refused (before anything changes) while a coin
of another exchange is stored: the releases before would take it for Binance's.
"""

from __future__ import annotations

import sqlalchemy as sa

from coinlstm.db.revision_steps import adding_columns, count_rows

revision = "0000h"
down_revision = "0000g"
branch_labels = None
depends_on = None

upgrade, downgrade = adding_columns(lambda: {
    "coin_info": [sa.Column("exchange", sa.String(16), server_default="binance")]})


def refuse_downgrade(conn) -> str | None:
    """Why this downgrade would mislabel coins, or None."""
    if "exchange" not in {c["name"] for c in sa.inspect(conn).get_columns("coin_info")}:
        return None
    count = count_rows(conn, "coin_info", sa.column("exchange") != "binance")
    return f"coin_info holds {count} coins of other exchanges than binance" if count else None
