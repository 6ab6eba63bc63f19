"""The request parameters every route shares, checked once as FastAPI dependencies: the
exchange (``?exchange=``, else the server's), the interval, a market, a pair's symbol in its
exchange's form. A bad one is a 422 with one line before the route runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi import Path as PathParam
from starlette.exceptions import HTTPException

from coinlstm.app.web.site import Site
from coinlstm.core.errors import BadInput
from coinlstm.core.exchanges import DEFAULT_EXCHANGE, EXCHANGES
from coinlstm.core.exchanges import exchange as exchange_named
from coinlstm.core.klines import DEFAULT_INTERVAL, INTERVAL_MS, MARKET_PATTERN

#: The path and query checks: the market rule of coinlstm.core.klines; a symbol has the
#: characters of some exchange's form here, and is then checked by its exchange's own rule
#: (coinlstm.core.exchanges: ADAETH, BTC_USDT, KRW-ETH, bitcoin-usd).
MARKET = f"^{MARKET_PATTERN.pattern}$"
SYMBOL = r"^[A-Za-z0-9_-]{2,20}$"
EXCHANGE_NAME = r"^[A-Za-z]{2,16}$"
SERIES_NAME = r"^[a-z0-9_-]{0,32}$"
MAX_DAYS = 90
MAX_RUNS = 500


def current_site(request: Request) -> Site:
    """The dashboard the request is served by (``app.state.site``)."""
    return request.app.state.site


def asked_exchange(request: Request, exchange: str | None = Query(
        None, pattern=EXCHANGE_NAME, examples=[DEFAULT_EXCHANGE],
        description=f"one of {', '.join(EXCHANGES)}; default the server's "
                    f"(serve --exchange, else {DEFAULT_EXCHANGE})")) -> str:
    """The exchange asked, else the server's default; 422 for one we do not know."""
    if exchange is None:
        return current_site(request).default_exchange
    try:
        return exchange_named(exchange).name
    except BadInput as exc:
        raise HTTPException(422, str(exc)) from None


def checked_interval(interval: str = Query(DEFAULT_INTERVAL, examples=["1h"])) -> str:
    if interval not in INTERVAL_MS:
        raise HTTPException(422, f"invalid interval {interval[:20]!r}: choose one of "
                                 f"{', '.join(INTERVAL_MS)}")
    return interval


def market_path(market: str = PathParam(pattern=MARKET, examples=["ETH"])) -> str:
    return market


def checked_pair(symbol: Annotated[str, PathParam(pattern=SYMBOL, examples=["ADAETH"])],
                 exchange: Annotated[str, Depends(asked_exchange)]) -> tuple[str, str]:
    """(symbol, exchange): the symbol checked by its exchange's form (422 otherwise:
    ``ADA_ETH`` is no Binance symbol)."""
    try:
        return EXCHANGES[exchange].check_symbol(symbol), exchange
    except BadInput as exc:
        raise HTTPException(422, str(exc)) from None


SiteDep = Annotated[Site, Depends(current_site)]
Exchange = Annotated[str, Depends(asked_exchange)]
Interval = Annotated[str, Depends(checked_interval)]
Market = Annotated[str, Depends(market_path)]
Pair = Annotated[tuple[str, str], Depends(checked_pair)]
Days = Annotated[int, Query(ge=1, le=MAX_DAYS)]
Limit = Annotated[int, Query(ge=1, le=MAX_RUNS)]
