"""The column type that keeps Binance's decimals exact on MySQL and SQLite alike."""

from __future__ import annotations

import sqlalchemy as sa

from coinlstm.core.decimals import CANONICAL_TEXT, PRICE_SCALE, to_exact_decimal


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
        if dialect.name == "sqlite" and isinstance(value, str) and CANONICAL_TEXT.fullmatch(
                value):
            return value
        exact = to_exact_decimal(value)
        return format(exact, "f") if dialect.name == "sqlite" else exact

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return to_exact_decimal(value)
