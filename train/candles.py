"""The candles one pair's model reads, from the database: the pair's own and its --with pairs'.

Kept apart from the pipeline so that what is read (and refused) before any training starts is
in one short place: an unknown id, an id and symbol that disagree, a --with pair that is not
in the database or has no candles over the pair's span are BadInput, and nothing is written.
"""

from __future__ import annotations

from coinlstm import db
from coinlstm.core.errors import BadInput
from coinlstm.core.klines import DEFAULT_INTERVAL, ms_to_utc
from train.dataset import WithSeries


def load_candles(engine, coin_id: int, symbol: str, newest: int | None,
                 with_pairs: tuple[str, ...] | None, interval: str = DEFAULT_INTERVAL,
                 until: int | None = None
                 ) -> tuple[list[int], list[tuple[float, ...]], list[WithSeries]]:
    """(open times, feature rows) of the pair's ``interval`` candles, newest ``newest`` only,
    and each --with pair's candles of the same interval from the pair's first open time on
    (older ones could never join); with ``until`` only candles opened at or before it."""
    with engine.connect() as conn:
        coin = db.coin_by_id(conn, coin_id)
        if coin is None:
            raise BadInput(f"no coin with id {coin_id} in the database (coin_info)")
        if coin.symbol != symbol:
            raise BadInput(f"-id {coin_id} is {coin.symbol}, not {symbol}: pass the id and "
                           "symbol of the same coin")
        open_times, values = db.load_training_rows(conn, coin_id, newest=newest,
                                                   interval=interval, until=until)
        since = open_times[0] if open_times else None
        others: list[WithSeries] = []
        for other in with_pairs or ():
            row = db.coin_by_symbol(conn, other)
            if row is None:
                raise BadInput(f"--with {other}: no such pair in the database (coin_info); "
                               "crawl or import it first")
            other_times, other_values = db.load_training_rows(conn, int(row.id), since=since,
                                                              interval=interval, until=until)
            if not other_times:
                span = f" since {ms_to_utc(since)} UTC" if since is not None else ""
                raise BadInput(f"--with {other}: no candles in the database{span}; crawl or "
                               "import them first")
            others.append((other, other_times, other_values))
    return open_times, values, others
